"""SyncDatabricksSubmitRunOperator and SyncDatabricksRecordRunOperator against the local workspace
and the local Sync API: submitting from a spec and from a prediction, input errors, waiting,
deferral, kills, retries, recording runs with late, rolled and S3 log delivery."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from sync_provider.core.databricks import idempotency_token_for
from sync_provider.core.databricks.models import RUN_ID_TAG
from sync_provider.operators.databricks import (
    STATE_KEY,
    SyncDatabricksRecordRunOperator,
    SyncDatabricksSubmitRunOperator,
)
from sync_provider.testing.databricks import LocalDatabricks
from sync_provider.triggers.databricks import SyncDatabricksRunTrigger
from tests.airflow.databricks_fixtures import (
    DBFS,
    FAST,
    SPEC,
    TASK,
    FakeStateStore,
    FakeTI,
    dbx,
    dbx_s3,
    fast_hook_retries,
    make_context,
    moto_s3,
    project,
)
from tests.core.databricks_fixtures import finish, make_dbx

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "dbx_s3", "fast_hook_retries", "moto_s3", "project"]


def submit_op(**kwargs: Any) -> SyncDatabricksSubmitRunOperator:
    values: dict[str, Any] = {
        "task_id": "submit",
        "task": TASK,
        "new_cluster": SPEC,
        "project_id": "proj-1",
        "project_location": DBFS,
        "databricks_retry_delay": 0.01,
        **FAST,
    }
    values.update(kwargs)
    return SyncDatabricksSubmitRunOperator(**values)


def record_op(run_id: Any, **kwargs: Any) -> SyncDatabricksRecordRunOperator:
    values: dict[str, Any] = {
        "task_id": "record",
        "run_id": run_id,
        "log_poll_interval": 0.05,
        "max_log_poll_interval": 0.1,
        "log_timeout": 15,
        "databricks_retry_delay": 0.01,
    }
    values.update(kwargs)
    return SyncDatabricksRecordRunOperator(**values)


def run_trigger(trigger: SyncDatabricksRunTrigger) -> dict[str, Any]:
    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    payload: dict[str, Any] = asyncio.run(asyncio.wait_for(first(), 30))
    return payload


def cluster_of(dbx: LocalDatabricks, cluster_id: str) -> dict[str, Any]:
    cluster: dict[str, Any] = dbx.client().call(
        "GET", "2.0/clusters/get", {"cluster_id": cluster_id}, idempotent=True
    )
    return cluster


# -- submitting -------------------------------------------------------------------------------------


def test_submit_from_a_spec_and_wait(dbx: LocalDatabricks) -> None:
    ti = FakeTI()
    store = FakeStateStore()
    op = submit_op(
        new_cluster=json.dumps(SPEC),  # a templated JSON string is parsed
        task=json.dumps({**TASK, "libraries": [{"pypi": {"package": "pandas"}}]}),
        wait_for_completion=True,
        deferrable=False,
        run_settings={"timeout_seconds": 3600},
    )
    run_id = op.execute(make_context(ti, store))

    assert dbx.submit_count() == 1
    assert dbx.active_runs() == []
    assert ti.xcoms["cluster_id"] and ti.xcoms["run_page_url"].endswith(f"/run/{run_id}")
    assert ti.xcoms["sync_databricks_run"] == {"run_id": run_id, "url": ti.xcoms["run_page_url"]}
    cluster = cluster_of(dbx, ti.xcoms["cluster_id"])
    tags = dict(cluster["custom_tags"])
    assert len(tags.pop("sync:code-hash")) == 64  # the code fingerprint of the submitted task
    assert tags == {"sync:project-id": "proj-1", RUN_ID_TAG: ti.xcoms["sync_run_id"]}
    assert cluster["cluster_log_conf"] == {
        "dbfs": {"destination": f"{DBFS}/proj-1/{ti.xcoms['sync_run_id']}"}
    }
    assert cluster["num_workers"] == 2  # sent as a number, not normalised into "2"
    assert store.get(STATE_KEY) == {
        "run_id": run_id,
        "idempotency_token": idempotency_token_for("dag", "submit", "manual__1", -1),
        "try_number": 1,
        "done": True,
    }
    (request,) = dbx.requests("jobs/runs/submit")
    assert request.status == 200
    run = dbx.client().call("GET", "2.1/jobs/runs/get", {"run_id": run_id}, idempotent=True)
    assert run["run_name"] == "adhoc_airflow.submit" and run["timeout_seconds"] == 3600
    assert run["tasks"][0]["libraries"] == [{"pypi": {"package": "pandas"}}]


def test_submit_without_waiting_returns_at_once(dbx: LocalDatabricks) -> None:
    ti = FakeTI()
    run_id = submit_op(run_name="nightly").execute(make_context(ti))
    assert dbx.active_runs() == [run_id]
    assert set(ti.xcoms) == {"cluster_id", "run_page_url", "sync_run_id", "sync_databricks_run"}
    dbx.cancel_all()


def test_no_xcoms_without_xcom_push(dbx: LocalDatabricks) -> None:
    ti = FakeTI()
    submit_op(do_xcom_push=False, wait_for_completion=True, deferrable=False).execute(make_context(ti))
    assert ti.xcoms == {}


@pytest.fixture
def prediction(dbx: LocalDatabricks, project: str, sync_client: Any) -> str:
    """A successful aws-databricks prediction of a run of SPEC in ``project``."""
    from sync_provider.core.backoff import Backoff
    from sync_provider.core.predictions import wait_for_prediction

    run_id = submit_op(project_id=project, wait_for_completion=True, deferrable=False).execute(make_context())
    prediction_id = record_op(run_id).execute(make_context(FakeTI(task_id="record")))
    poll = Backoff(initial=0.05, maximum=0.2)
    wait_for_prediction(prediction_id, client=sync_client, timeout_s=30, poll=poll).unwrap()
    return prediction_id


def test_submit_from_a_prediction(
    dbx: LocalDatabricks, project: str, prediction: str, sync_server: Any
) -> None:
    ti = FakeTI(task_id="again")
    base = {**SPEC, "custom_tags": {"team": "data"}}
    run_id = submit_op(
        task_id="again",
        new_cluster=base,
        prediction_id=prediction,
        preference="performance",
        project_id=project,
        wait_for_completion=True,
        deferrable=False,
    ).execute(make_context(ti))

    record = next(p for p in sync_server.predictions() if p["prediction_id"] == prediction)
    solution = record["all_solutions"]["performance"]
    assert ti.xcoms["solution_metrics"] == solution["metrics"]
    cluster = cluster_of(dbx, ti.xcoms["cluster_id"])
    for key in ("node_type_id", "driver_node_type_id", "num_workers"):
        assert cluster[key] == solution["configuration"][key]
    assert cluster["custom_tags"]["team"] == "data"
    assert cluster["custom_tags"][RUN_ID_TAG] == ti.xcoms["sync_run_id"]
    assert cluster["cluster_log_conf"]["dbfs"]["destination"].endswith(
        f"/{project}/{ti.xcoms['sync_run_id']}"
    )
    assert dbx.submit_count() == 2 and run_id not in dbx.active_runs()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"task": {**TASK, "spark_python_task": {"python_file": "dbfs:/x.py"}}},
            "task must have exactly one task type",
        ),
        ({"task": {"libraries": []}}, "found none"),
        ({"task": {**TASK, "existing_cluster_id": "abc"}}, "remove existing_cluster_id"),
        ({"task": "{not json"}, "task is a string but not valid JSON"),
        ({"new_cluster": {"node_type_id": "m5.xlarge", "num_workers": 2}}, "spark_version is required"),
        ({"new_cluster": {**SPEC, "num_workers": "two"}}, "num_workers must be a whole number"),
        ({"new_cluster": {**SPEC, "num_workrs": 2}}, "did you mean 'num_workers'"),
        ({"new_cluster": "[1, 2]"}, "new_cluster must be a non-empty JSON object"),
        ({"new_cluster": ""}, "new_cluster is empty"),
        ({"project_location": "gs://bucket/x"}, "is not supported for Databricks log delivery"),
        ({"project_id": "a/b"}, "project_id 'a/b' is not a valid identifier"),
        ({"run_settings": {"tasks": []}}, "run_settings must not contain tasks"),
        ({"prediction_id": "p-1", "preference": "fastest"}, "preference: Unknown preference 'fastest'"),
        ({"prediction_id": "../etc"}, "prediction_id '../etc' is not a valid identifier"),
        ({"prediction_id": "3f0c2a8e-1b7d-4c5e-9a6f-0d2e4b8c1a7f"}, "Not Found"),
    ],
)
def test_bad_input_fails_naming_the_problem_and_submits_nothing(
    dbx: LocalDatabricks, project: str, arguments: dict[str, Any], message: str
) -> None:
    arguments.setdefault("project_id", project)
    with pytest.raises(AirflowException) as caught:
        submit_op(**arguments).execute(make_context(store=FakeStateStore()))
    assert message in str(caught.value)
    assert dbx.submit_count() == 0
    assert dbx.requests("jobs/runs/submit") == []


def test_a_prediction_for_emr_cannot_configure_databricks(
    dbx: LocalDatabricks, project: str, sync_client: Any, eventlog: Any, cluster_report: dict[str, Any]
) -> None:
    from tests.airflow.conftest import create_prediction, wait_until_finished

    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    with pytest.raises(AirflowException, match="is for aws-emr, not aws-databricks"):
        submit_op(prediction_id=prediction_id, project_id=project).execute(make_context())
    assert dbx.submit_count() == 0


def test_a_prediction_that_is_not_finished_is_refused(
    dbx: LocalDatabricks, project: str, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    from tests.airflow.conftest import create_pending_prediction

    prediction_id = create_pending_prediction(sync_client, cluster_report)
    with pytest.raises(AirflowException, match=f"Prediction {prediction_id} is PENDING, not SUCCESS"):
        submit_op(prediction_id=prediction_id, project_id=project).execute(make_context())
    assert dbx.submit_count() == 0


# -- waiting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["FAILED", "TIMEDOUT", "CANCELED", "INTERNAL_ERROR"])
def test_every_failed_end_fails_the_waiting_task_with_the_state_message(
    dbx: LocalDatabricks, outcome: str
) -> None:
    dbx.fail_next(outcome, f"boom: {outcome}")
    op = submit_op(wait_for_completion=True, deferrable=False)
    with pytest.raises(AirflowException) as caught:
        op.execute(make_context())
    life_cycle = "INTERNAL_ERROR/FAILED" if outcome == "INTERNAL_ERROR" else f"TERMINATED/{outcome}"
    assert f"did not succeed: {life_cycle}: boom: {outcome}" in str(caught.value)


def test_a_wait_that_times_out_leaves_the_run_running(dbx: LocalDatabricks) -> None:
    op = submit_op(wait_for_completion=True, deferrable=False, timeout=0.1)
    with pytest.raises(AirflowException, match="it was not cancelled"):
        op.execute(make_context())
    assert dbx.active_runs() == [op._run_id]
    op.on_kill()  # what Airflow calls when the task is killed: nothing is left running
    assert dbx.active_runs() == []


def test_deferral_then_completion(dbx: LocalDatabricks) -> None:
    ti, store = FakeTI(), FakeStateStore()
    op = submit_op(
        wait_for_completion=True, deferrable=True, timeout=600, databricks_conn_id="databricks_default"
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti, store))
    trigger = deferred.value.trigger
    assert isinstance(trigger, SyncDatabricksRunTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=660)
    kwargs = trigger.serialize()[1]
    run_id = dbx.active_runs()[0]
    assert kwargs["run_id"] == run_id and kwargs["cancel_on_kill"] is True
    assert kwargs["databricks_conn_id"] == "databricks_default"
    assert (kwargs["poll_interval"], kwargs["max_poll_interval"]) == (0.05, 0.1)
    assert 590 < kwargs["end_time"] - time.time() <= 600
    assert ti.xcoms["run_page_url"]  # pushed before deferring
    assert store.get(STATE_KEY)["done"] is False

    event = run_trigger(trigger)
    resumed = submit_op(wait_for_completion=True, deferrable=True)  # a fresh instance, as Airflow does
    assert resumed.execute_complete(make_context(ti, store), event) == run_id
    assert store.get(STATE_KEY)["done"] is True
    assert ti.xcoms["cluster_id"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"status": "failure", "run_id": 7, "message": "Databricks run 7 did not succeed: X"},
            "did not succeed",
        ),
        ({"status": "timeout", "run_id": 7, "message": "still RUNNING"}, "still RUNNING"),
        ({"status": "error", "run_id": 7, "message": "cannot be read"}, "cannot be read"),
        ({"status": "success"}, "status 'success'"),
        (None, "resumed without a trigger event"),
    ],
)
def test_execute_complete_fails_on_anything_but_success(event: Any, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        submit_op().execute_complete(make_context(), event)


def test_a_run_that_already_ended_is_not_deferred(dbx: LocalDatabricks) -> None:
    first = submit_op(wait_for_completion=True, deferrable=False).execute(make_context())
    # Without a task state store (Airflow < 3.3) a retry's token gives the succeeded run back.
    again = submit_op(wait_for_completion=True, deferrable=True).execute(make_context(FakeTI(try_number=2)))
    assert again == first and dbx.submit_count() == 1


# -- kill ---------------------------------------------------------------------------------------------


def test_kill_while_waiting_cancels_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with make_dbx(phase_s=5.0) as slow:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", slow.connection_json())
        op = submit_op(wait_for_completion=True, deferrable=False)
        errors: list[BaseException] = []
        waiting = threading.Event()
        real_wait = op._wait

        def wait(run_id: int) -> None:
            waiting.set()
            real_wait(run_id)

        op._wait = wait  # type: ignore[method-assign]

        def work() -> None:
            try:
                op.execute(make_context())
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=work)
        worker.start()
        assert waiting.wait(10), "the task never started waiting"
        op.on_kill()  # Airflow calls it from the task's signal handler while execute() waits
        worker.join(10)
        assert slow.active_runs() == [] and slow.running_clusters() == []
        assert "TERMINATED/CANCELED" in str(errors[0])
        finish(slow)


def test_kill_while_deferred_cancels_the_run(dbx: LocalDatabricks) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        submit_op(wait_for_completion=True, deferrable=True).execute(make_context())
    trigger = deferred.value.trigger

    async def killed() -> None:
        waiting = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.1)
        waiting.cancel()
        await trigger.on_kill()

    asyncio.run(killed())
    assert dbx.active_runs() == []
    assert dbx.running_clusters() == []


def test_on_kill_can_be_switched_off(dbx: LocalDatabricks) -> None:
    op = submit_op(cancel_on_kill=False)
    run_id = op.execute(make_context())
    op.on_kill()
    assert dbx.active_runs() == [run_id]
    dbx.cancel_all()


# -- retries ------------------------------------------------------------------------------------------


class WorkerDied(BaseException):
    """Stands in for a worker dying (nothing in the task catches it)."""


@pytest.mark.parametrize("store", [FakeStateStore, None], ids=["task-state-store", "no-store"])
def test_a_retry_after_a_crash_reattaches_to_the_same_run(
    dbx: LocalDatabricks, monkeypatch: pytest.MonkeyPatch, store: Any
) -> None:
    shared = store() if store else None
    original = SyncDatabricksSubmitRunOperator._push

    def crash(self: Any, context: Any, run_id: int, *args: Any) -> None:
        # The worker dies right after the submit (before waiting): not timing-dependent.
        raise WorkerDied(run_id)

    monkeypatch.setattr(SyncDatabricksSubmitRunOperator, "_push", crash)
    with pytest.raises(WorkerDied):
        submit_op(wait_for_completion=True, deferrable=False).execute(make_context(FakeTI(), shared))
    monkeypatch.setattr(SyncDatabricksSubmitRunOperator, "_push", original)

    ti = FakeTI(try_number=2)
    run_id = submit_op(wait_for_completion=True, deferrable=False).execute(make_context(ti, shared))
    assert dbx.submit_count() == 1
    assert len(dbx.requests("jobs/runs/submit")) == (1 if shared else 2)  # the token gives the run back
    assert ti.xcoms["run_page_url"].endswith(f"/run/{run_id}")


def test_a_crash_before_the_store_was_written_still_gives_one_run(
    dbx: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    original = FakeStateStore.set

    def lost(self: FakeStateStore, key: str, value: Any, *, retention: Any = None) -> None:
        raise WorkerDied("died before writing the task state")

    monkeypatch.setattr(FakeStateStore, "set", lost)
    with pytest.raises(WorkerDied):
        submit_op(wait_for_completion=True, deferrable=False).execute(make_context(FakeTI(), store))
    monkeypatch.setattr(FakeStateStore, "set", original)
    assert store.get(STATE_KEY) is None and dbx.active_runs()

    run_id = submit_op(wait_for_completion=True, deferrable=False).execute(
        make_context(FakeTI(try_number=2), store)
    )
    assert dbx.submit_count() == 1
    assert store.get(STATE_KEY)["run_id"] == run_id


@pytest.mark.parametrize("store", [FakeStateStore, None], ids=["task-state-store", "no-store"])
def test_a_retry_after_a_failed_run_submits_a_new_one(dbx: LocalDatabricks, store: Any) -> None:
    shared = store() if store else None
    dbx.fail_next("FAILED", "bad row")
    with pytest.raises(AirflowException, match="bad row"):
        submit_op(wait_for_completion=True, deferrable=False).execute(make_context(FakeTI(), shared))
    first = dbx.submit_count()

    ti = FakeTI(try_number=2)
    run_id = submit_op(wait_for_completion=True, deferrable=False).execute(make_context(ti, shared))
    assert (first, dbx.submit_count()) == (1, 2)
    if shared is not None:
        assert shared.get(STATE_KEY) == {
            "run_id": run_id,
            "idempotency_token": idempotency_token_for("dag", "submit", "manual__1", -1, 2),
            "try_number": 2,
            "done": True,
        }


def test_after_a_failed_run_and_a_crash_the_third_try_reattaches_to_the_second_run(
    dbx: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    dbx.fail_next("FAILED", "bad row")
    with pytest.raises(AirflowException, match="bad row"):
        submit_op(wait_for_completion=True, deferrable=False).execute(make_context(FakeTI(), store))
    original = SyncDatabricksSubmitRunOperator._wait

    def crash(self: Any, run_id: int) -> None:
        raise WorkerDied(run_id)

    monkeypatch.setattr(SyncDatabricksSubmitRunOperator, "_wait", crash)
    with pytest.raises(WorkerDied):
        submit_op(wait_for_completion=True, deferrable=False).execute(
            make_context(FakeTI(try_number=2), store)
        )
    second = store.get(STATE_KEY)["run_id"]
    monkeypatch.setattr(SyncDatabricksSubmitRunOperator, "_wait", original)

    third = submit_op(wait_for_completion=True, deferrable=False).execute(
        make_context(FakeTI(try_number=3), store)
    )
    assert third == second and dbx.submit_count() == 2


def test_a_stored_run_that_succeeded_is_returned_without_resubmitting(dbx: LocalDatabricks) -> None:
    store = FakeStateStore()
    first = submit_op(wait_for_completion=True, deferrable=False).execute(make_context(FakeTI(), store))
    store.set(STATE_KEY, {**store.get(STATE_KEY), "done": False})  # the worker died before finishing
    ti = FakeTI(try_number=2)
    assert submit_op(wait_for_completion=True, deferrable=True).execute(make_context(ti, store)) == first
    assert dbx.submit_count() == 1
    assert ti.xcoms["cluster_id"]


def test_a_cleared_task_runs_again(dbx: LocalDatabricks) -> None:
    store = FakeStateStore()
    first = submit_op().execute(make_context(FakeTI(), store))
    second = submit_op().execute(make_context(FakeTI(try_number=2), store))
    assert first != second and dbx.submit_count() == 2
    dbx.cancel_all()


def test_a_stored_run_that_no_longer_exists_is_replaced(dbx: LocalDatabricks) -> None:
    store = FakeStateStore()
    store.set(STATE_KEY, {"run_id": 424242, "idempotency_token": "x", "try_number": 1, "done": False})
    run_id = submit_op(wait_for_completion=True, deferrable=False).execute(
        make_context(FakeTI(try_number=2), store)
    )
    assert run_id != 424242 and dbx.submit_count() == 1


# -- recording ----------------------------------------------------------------------------------------


def test_record_a_run_with_late_dbfs_delivery(
    project: str, sync_server: Any, monkeypatch: pytest.MonkeyPatch, fast_hook_retries: None
) -> None:
    with make_dbx(log_delivery_delay_s=0.8, cluster_events=1200) as late:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", late.connection_json())
        run_id = submit_op(project_id=project, wait_for_completion=True, deferrable=False).execute(
            make_context()
        )
        ti = FakeTI(task_id="record")
        prediction_id = record_op(str(run_id)).execute(make_context(ti))  # templated ids arrive as strings
        finish(late)
        events_pages = len(late.requests("clusters/events"))
        dbfs_reads = len(late.requests("dbfs/list"))

    record = next(p for p in sync_server.predictions() if p["prediction_id"] == prediction_id)
    assert record["product_code"] == "aws-databricks" and record["project_id"] == project
    events = record["configs"]["cluster_events"]
    assert len(events["events"]) == events["total_count"] > 500  # every page was read
    assert events_pages >= 3
    assert dbfs_reads > 1  # it looked before the late delivery arrived
    assert ti.xcoms["sync_prediction"]["prediction_id"] == prediction_id


def test_record_a_run_with_rolled_logs_on_s3(
    dbx_s3: LocalDatabricks, moto_s3: Any, project: str, sync_server: Any
) -> None:
    bucket = f"sync-airflow-{time.monotonic_ns()}"
    moto_s3.create_bucket(Bucket=bucket)
    location = f"s3://{bucket}/projects"
    ti = FakeTI()
    run_id = submit_op(
        project_id=project,
        project_location=location,
        region="us-east-1",
        wait_for_completion=True,
        deferrable=False,
    ).execute(make_context(ti))
    prediction_id = record_op(run_id, aws_conn_id="aws_moto").execute(make_context(FakeTI(task_id="record")))

    record = next(p for p in sync_server.predictions() if p["prediction_id"] == prediction_id)
    assert record["configs"]["cluster"]["cluster_id"] == ti.xcoms["cluster_id"]
    listed = moto_s3.list_objects_v2(Bucket=bucket, Prefix=f"projects/{project}/")["Contents"]
    assert sum(obj["Key"].endswith(".gz") for obj in listed) == 3  # the rolled parts were there


def test_record_refuses_a_run_that_did_not_succeed(dbx: LocalDatabricks, project: str) -> None:
    dbx.fail_next("FAILED", "bad input")
    op = submit_op(project_id=project, wait_for_completion=True, deferrable=False)
    with pytest.raises(AirflowException):
        op.execute(make_context())
    with pytest.raises(
        AirflowException, match=r"TERMINATED/FAILED: bad input.*Only successful runs are recorded"
    ):
        record_op(op._run_id).execute(make_context())


@pytest.mark.parametrize("run_id", ["", "abc", 0, -3, None, True])
def test_record_needs_a_run_id(run_id: Any) -> None:
    with pytest.raises(AirflowException, match="is not a Databricks run id"):
        record_op(run_id).execute(make_context())


def test_fake_state_store_keeps_json_values() -> None:
    store = FakeStateStore()
    store.set("k", {"run_id": 1, "done": False})
    assert store.get("k") == {"run_id": 1, "done": False}
    assert store.get("missing", 3) == 3
    with pytest.raises(ValueError, match="None"):
        store.set("k", None)
