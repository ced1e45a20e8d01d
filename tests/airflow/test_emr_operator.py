"""SyncEmrCreateJobFlowOperator and SyncEmrRecordRunOperator: execute() against moto's server (through
the AWS simulator) and the local Sync API server; deferral, kill, crash-and-retry."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from sync_provider.core.backoff import Backoff
from sync_provider.operators.emr import (
    DEFAULT_CLUSTER_TIMEOUT_S,
    STATE_KEY,
    SyncEmrCreateJobFlowOperator,
    SyncEmrRecordRunOperator,
    derive_sync_run_id,
)
from sync_provider.testing.aws import AwsSimulator
from sync_provider.triggers.emr import SyncEmrClusterTrigger
from tests.airflow.conftest import create_pending_prediction
from tests.airflow.emr_fixtures import (
    BUCKET,
    FLEETS,
    LOCATION,
    FakeStateStore,
    FakeTI,
    job_flow,
    make_context,
    project,
    sim,
    simulator,
)

pytestmark = pytest.mark.airflow
__all__ = ["project", "sim", "simulator"]  # fixtures imported for this module

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "timeout": 30}


def launch_op(project_id: str = "", **kwargs: Any) -> SyncEmrCreateJobFlowOperator:
    values: dict[str, Any] = {
        "task_id": "launch",
        "project_id": project_id or "11111111-2222-4333-8444-555555555555",
        "project_location": LOCATION,
        "job_flow_overrides": job_flow(),
        "emr_conn_id": None,
        **FAST,
    }
    values.update(kwargs)
    return SyncEmrCreateJobFlowOperator(**values)


def tags_of(sim: AwsSimulator, cluster_id: str) -> dict[str, str]:
    cluster = sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    return {t["Key"]: t["Value"] for t in cluster["Tags"]}


def s3_keys(sim: AwsSimulator) -> list[str]:
    return sorted(o["Key"] for o in sim.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", []))


def finish(sim: AwsSimulator, cluster_id: str) -> None:
    sim.wait_until(cluster_id, ("TERMINATED", "TERMINATED_WITH_ERRORS"))


def wait_prediction(sync_client: Any, prediction_id: str) -> Any:
    from sync_provider.core.predictions import wait_for_prediction

    poll = Backoff(initial=0.05, maximum=0.2)
    return wait_for_prediction(prediction_id, timeout_s=30, poll=poll, client=sync_client).unwrap()


# -- construction -------------------------------------------------------------------------------------


def test_init_only_stores_arguments_and_every_conn_id_is_templated() -> None:
    op = launch_op(
        project_id="{{ params.project_id }}",
        project_location="{{ params.location }}",
        job_flow_overrides="{{ params.spec }}",
        prediction_id="{{ ti.xcom_pull('record') }}",
        preference="{{ params.preference }}",
    )
    assert op.preference == "{{ params.preference }}" and op.job_flow_overrides == "{{ params.spec }}"
    assert set(SyncEmrCreateJobFlowOperator.template_fields) >= {
        "project_id",
        "project_location",
        "job_flow_overrides",
        "prediction_id",
        "preference",
        "aws_conn_id",
        "emr_conn_id",
        "region_name",
        "sync_conn_id",
    }
    assert set(SyncEmrRecordRunOperator.template_fields) >= {"cluster_id", "aws_conn_id", "sync_conn_id"}
    for name in op.template_fields:
        assert hasattr(op, name)
    assert SyncEmrCreateJobFlowOperator.template_fields_renderers == {"job_flow_overrides": "json"}
    assert [link.name for link in SyncEmrCreateJobFlowOperator.operator_extra_links] == ["EMR Cluster (Sync)"]
    assert [link.name for link in SyncEmrRecordRunOperator.operator_extra_links] == [
        "Sync Prediction",
        "EMR Cluster (Sync)",
    ]


def test_templates_render_inside_the_request_and_json_paths_stay_paths() -> None:
    spec = job_flow()
    spec["Steps"][0]["HadoopJarStep"]["Args"] = ["spark-submit", "s3://code/etl.py", "s3://code/conf.json"]
    spec["Name"] = "etl-{{ params.day }}"
    op = launch_op(job_flow_overrides=spec, preference="{{ params.preference }}")
    op.render_template_fields({"params": {"day": "2024-01-01", "preference": "balanced"}})
    rendered: Any = op.job_flow_overrides
    assert rendered["Name"] == "etl-2024-01-01" and op.preference == "balanced"
    assert rendered["Steps"][0]["HadoopJarStep"]["Args"][-1] == "s3://code/conf.json"


# -- launching ----------------------------------------------------------------------------------------


def test_sync_run_ids_are_deterministic_per_task_instance() -> None:
    from sync_provider.operators.emr import derive_sync_run_id, relaunch_run_id

    one = derive_sync_run_id("dag", "launch", "manual__1", -1)
    assert one == derive_sync_run_id("dag", "launch", "manual__1", None)
    others = {
        derive_sync_run_id("dag", "launch", "manual__2", -1),
        derive_sync_run_id("dag", "other", "manual__1", -1),
        derive_sync_run_id("dag2", "launch", "manual__1", -1),
        derive_sync_run_id("dag", "launch", "manual__1", 0),
        relaunch_run_id(one, 1),
        relaunch_run_id(one, 2),
    }
    assert one not in others and len(others) == 6 and relaunch_run_id(one, 0) == one
    import uuid

    assert uuid.UUID(one).version == 5


def test_launch_from_a_spec_with_instance_groups(sim: AwsSimulator) -> None:
    ti = FakeTI()
    cluster_id = launch_op().execute(make_context(ti))
    run_id = derive_sync_run_id("emr_dag", "launch", ti.run_id, -1)
    assert cluster_id.startswith("j-") and sim.run_job_flow_count() == 1
    tags = tags_of(sim, cluster_id)
    assert tags["sync:run-id"] == run_id and tags["team"] == "data"
    assert ti.xcoms["sync_run_id"] == run_id
    assert ti.xcoms["sync_run_prefix"].startswith(f"{LOCATION}/") and ti.xcoms["sync_run_prefix"].endswith(
        f"/{run_id}/"
    )
    assert ti.xcoms["sync_emr_cluster"] == {
        "cluster_id": cluster_id,
        "region_name": "us-east-1",
        "url": f"https://console.aws.amazon.com/emr/home?region=us-east-1#/clusterDetails/{cluster_id}",
    }
    assert "solution_metrics" not in ti.xcoms and "sync_prediction_id" not in ti.xcoms
    prefix = ti.xcoms["sync_run_prefix"].removeprefix(f"s3://{BUCKET}/")
    assert s3_keys(sim) == [
        prefix + "code-fingerprint.json",
        prefix + "eventlog/",
        prefix + "run-job-flow-request.json",
    ]
    sim.terminate_all()


def test_launch_from_a_spec_with_fleets_and_wait(sim: AwsSimulator) -> None:
    ti = FakeTI()
    spec = job_flow("fleet-etl", Instances=FLEETS)
    cluster_id = launch_op(job_flow_overrides=json.dumps(spec), wait_for_completion=True).execute(
        make_context(ti)
    )
    assert sim.cluster_state(cluster_id) == "TERMINATED"
    cluster = sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["InstanceCollectionType"] == "INSTANCE_FLEET"
    assert cluster["Status"]["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    assert sim.eventlog_urls(cluster_id)


def test_a_rendered_python_dict_string_and_the_emr_connection_template(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emr connection's extra is the base request, shallow-merged as EmrCreateJobFlowOperator does.
    template = {
        "ReleaseLabel": "emr-6.15.0",
        "VisibleToAllUsers": True,
        "Tags": [{"Key": "from", "Value": "conn"}],
    }
    monkeypatch.setenv("AIRFLOW_CONN_EMR_SYNC", json.dumps({"conn_type": "emr", "extra": template}))
    spec = job_flow()
    del spec["ReleaseLabel"]
    cluster_id = launch_op(job_flow_overrides=str(spec), emr_conn_id="emr_sync").execute(make_context())
    cluster = sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"] == "emr-6.15.0"
    tags = tags_of(sim, cluster_id)
    assert tags["team"] == "data" and "from" not in tags  # Tags came from the overrides (shallow merge)
    sim.terminate_all()


def test_a_missing_emr_connection_is_an_empty_template(sim: AwsSimulator) -> None:
    assert launch_op(emr_conn_id="emr_missing").execute(make_context()).startswith("j-")
    sim.terminate_all()


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        pytest.param(
            {"job_flow_overrides": {**job_flow(), "Bogus": 1, "Instances": "m5"}},
            ["cannot be launched for Sync (2 problems)", "unknown field 'Bogus'", "Instances: has type str"],
            id="bad-spec",
        ),
        pytest.param(
            {
                "job_flow_overrides": job_flow(
                    Configurations=[
                        {
                            "Classification": "spark-defaults",
                            "Properties": {"spark.eventLog.dir": "s3a://other/logs/"},
                        }
                    ]
                )
            },
            ["spark.eventLog.dir is 's3a://other/logs/' but Sync needs 's3a://sync-projects/emr/"],
            id="conflicting-eventlog-dir",
        ),
        pytest.param(
            {"job_flow_overrides": "{not json"},
            ["job_flow_overrides is a string but neither JSON"],
            id="not-json",
        ),
        pytest.param(
            {"job_flow_overrides": "[1, 2]"}, ["must be a JSON object (dict), got list"], id="not-an-object"
        ),
        pytest.param({"project_location": "https://bucket/x"}, ["is not an S3 folder"], id="bad-location"),
        pytest.param(
            {"prediction_id": "8c1e0c1e-0000-4000-8000-000000000001", "preference": "cheapest"},
            ["preference: Unknown preference 'cheapest'; choose one of: performance, balanced, economy"],
            id="unknown-preference",
        ),
        pytest.param(
            {"prediction_id": "../etc/passwd"},
            ["prediction_id '../etc/passwd' is not a valid identifier"],
            id="bad-prediction-id",
        ),
        pytest.param(
            {"prediction_id": "8c1e0c1e-0000-4000-8000-000000000001"},
            ["8c1e0c1e-0000-4000-8000-000000000001"],
            id="unknown-prediction",
        ),
    ],
)
def test_bad_input_launches_nothing(
    sim: AwsSimulator, sync_conn: Any, overrides: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(AirflowException) as info:
        launch_op(**overrides).execute(make_context())
    for needle in needles:
        assert needle in str(info.value)
    assert sim.run_job_flow_count() == 0 and s3_keys(sim) == []


def test_a_prediction_that_is_not_finished_launches_nothing(
    sim: AwsSimulator, sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    pending = create_pending_prediction(sync_client, cluster_report)
    with pytest.raises(AirflowException, match=f"Prediction {pending} is PENDING, not SUCCESS"):
        launch_op(prediction_id=pending).execute(make_context())
    assert sim.run_job_flow_count() == 0


# -- a run, its record, and the next run from the prediction --------------------------------------------


def test_record_then_launch_from_the_prediction(
    sim: AwsSimulator, project: str, sync_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_ti = FakeTI(run_id="run-1")
    base = job_flow()
    first = launch_op(project, job_flow_overrides=base, wait_for_completion=True).execute(
        make_context(first_ti)
    )

    record_ti = FakeTI(run_id="run-1", task_id="record")
    record = SyncEmrRecordRunOperator(task_id="record", cluster_id=first)
    prediction_id = record.execute(make_context(record_ti))
    assert record_ti.xcoms["sync_prediction"]["prediction_id"] == prediction_id
    assert record_ti.xcoms["sync_emr_cluster"]["cluster_id"] == first
    prediction = wait_prediction(sync_client, prediction_id)
    assert prediction.status == "SUCCESS" and prediction.project_id == project

    store = FakeStateStore()
    kwargs: dict[str, Any] = {
        "job_flow_overrides": base,
        "prediction_id": prediction_id,
        "preference": "balanced",
    }
    op = launch_op(project, wait_for_completion=True, **kwargs)
    crash_while_waiting(op, monkeypatch)
    with pytest.raises(WorkerCrash):
        op.execute(make_context(FakeTI(run_id="run-1", task_id="launch_next"), store))
    # The retry re-attaches (no second prediction read, no third cluster) and pushes the same XComs.
    next_ti = FakeTI(run_id="run-1", task_id="launch_next")
    second = launch_op(project, wait_for_completion=True, **kwargs).execute(make_context(next_ti, store))
    assert second != first and sim.run_job_flow_count() == 2
    solution = prediction.solution("balanced")
    cluster = sim.client("emr").describe_cluster(ClusterId=second)["Cluster"]
    groups = sim.client("emr").list_instance_groups(ClusterId=second)["InstanceGroups"]
    wanted = sorted(
        (g["InstanceRole"], g["InstanceType"], g["InstanceCount"])
        for g in solution.configuration["Instances"]["InstanceGroups"]
    )
    assert (
        sorted((g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"]) for g in groups)
        == wanted
    )
    assert cluster["LogUri"] == base["LogUri"] and cluster["Name"] == base["Name"]
    tags = tags_of(sim, second)
    assert tags["team"] == "data" and tags["sync:project-id"] == project
    assert tags["sync:run-id"] == next_ti.xcoms["sync_run_id"] != first_ti.xcoms["sync_run_id"]
    steps = sim.client("emr").list_steps(ClusterId=second)["Steps"]
    assert [s["Name"] for s in steps] == ["step-0"]
    assert next_ti.xcoms["solution_metrics"] == solution.metrics.model_dump(mode="json")
    assert next_ti.xcoms["sync_prediction_id"] == prediction_id


def test_record_refuses_a_failed_cluster_and_an_empty_id(sim: AwsSimulator, sync_conn: Any) -> None:
    sim.fail_next("STEP_FAILURE", "boom")
    with pytest.raises(AirflowException, match="STEP_FAILURE"):
        launch_op(wait_for_completion=True).execute(make_context())
    (cluster_id,) = [c["Id"] for c in sim.client("emr").list_clusters()["Clusters"]]
    with pytest.raises(AirflowException, match=r"Cannot record the run: EMR cluster .*STEP_FAILURE.*boom"):
        SyncEmrRecordRunOperator(task_id="record", cluster_id=cluster_id).execute(make_context())
    with pytest.raises(AirflowException, match="cluster_id is empty"):
        SyncEmrRecordRunOperator(task_id="record", cluster_id=" ").execute(make_context())


# -- waiting in the worker --------------------------------------------------------------------------------


def terminate_when_running(sim: AwsSimulator) -> threading.Thread:
    """Terminate (as a user would) the first cluster that reaches RUNNING."""

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for cluster_id in sim.running_clusters():
                if sim.cluster_state(cluster_id) == "RUNNING":
                    sim.client("emr").terminate_job_flows(JobFlowIds=[cluster_id])
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("failure", "needles"),
    [
        (
            "STEP_FAILURE",
            [
                "TERMINATED_WITH_ERRORS (STEP_FAILURE: Shut down as step failed)",
                "step 'step-1'",
                "java.lang.OutOfMemoryError",
            ],
        ),
        ("BOOTSTRAP_FAILURE", ["TERMINATED_WITH_ERRORS (BOOTSTRAP_FAILURE: On the master instance"]),
        (
            "USER_REQUEST",
            ["ended TERMINATED (USER_REQUEST: Terminated by user request)", "before all its steps completed"],
        ),
    ],
)
def test_waiting_fails_naming_state_reason_and_step(
    sim: AwsSimulator, failure: Any, needles: list[str]
) -> None:
    thread = None
    if failure == "USER_REQUEST":
        thread = terminate_when_running(sim)
    else:
        sim.fail_next(
            failure,
            "java.lang.OutOfMemoryError: Java heap space" if failure == "STEP_FAILURE" else None,
            step=1,
        )
    with pytest.raises(AirflowException) as info:
        launch_op(job_flow_overrides=job_flow(steps=3), wait_for_completion=True).execute(make_context())
    for needle in needles:
        assert needle in str(info.value)
    if thread is not None:
        thread.join()


@pytest.mark.parametrize("terminate", [True, False])
def test_a_wait_that_times_out_terminates_the_cluster_unless_told_not_to(
    sim: AwsSimulator, terminate: bool
) -> None:
    ti = FakeTI()
    op = launch_op(
        job_flow_overrides=job_flow(keep_alive=True),
        wait_for_completion=True,
        timeout=1.5,
        terminate_on_failure=terminate,
    )
    with pytest.raises(AirflowException, match=r"still WAITING after 1\.5 s") as info:
        op.execute(make_context(ti))
    (cluster_id,) = [c["Id"] for c in sim.client("emr").list_clusters()["Clusters"]]
    if terminate:
        assert "The cluster was terminated (terminate_on_failure=True)." in str(info.value)
        finish(sim, cluster_id)
    else:
        assert "left running" in str(info.value)
        assert sim.running_clusters() == [cluster_id]
        sim.terminate_all()


# -- deferral -----------------------------------------------------------------------------------------


async def collect(trigger: SyncEmrClusterTrigger) -> list[Any]:
    return [event.payload async for event in trigger.run()]


def test_deferral_hands_the_whole_aws_configuration_to_the_trigger(sim: AwsSimulator) -> None:
    ti = FakeTI()
    op = launch_op(
        wait_for_completion=True,
        deferrable=True,
        region_name="us-east-1",
        verify=False,
        botocore_config={"retries": {"max_attempts": 3}},
        poll_interval=0.05,
        max_poll_interval=0.1,
        timeout=600,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(ti))
    deferred = info.value
    cluster_id = ti.xcoms["sync_emr_cluster"]["cluster_id"]
    assert ti.xcoms["sync_run_id"] == tags_of(sim, cluster_id)["sync:run-id"]
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=600 + 60)
    trigger = deferred.trigger
    assert isinstance(trigger, SyncEmrClusterTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "sync_provider.triggers.emr.SyncEmrClusterTrigger"
    end_time = kwargs.pop("end_time")
    assert before + 600 <= end_time <= time.time() + 600
    assert kwargs == {
        "cluster_id": cluster_id,
        "aws_conn_id": "aws_default",
        "region_name": "us-east-1",
        "verify": False,
        "botocore_config": {"retries": {"max_attempts": 3}},
        "poll_interval": 0.05,
        "max_poll_interval": 0.1,
        "terminate_on_kill": True,
    }
    # The trigger runs with exactly those kwargs (verify=False is fine against plain-HTTP moto).
    (event,) = asyncio.run(asyncio.wait_for(collect(trigger), 30))
    assert event["status"] == "success" and event["reason"] == "ALL_STEPS_COMPLETED"
    resumed = launch_op(wait_for_completion=True, deferrable=True)  # a new instance resumes the task
    assert resumed.execute_complete(make_context(ti), event=event) == cluster_id


def test_deferrable_without_waiting_does_not_defer(sim: AwsSimulator) -> None:
    cluster_id = launch_op(deferrable=True, wait_for_completion=False).execute(make_context())
    assert cluster_id.startswith("j-")
    sim.terminate_all()


def test_deferred_step_failure_resumes_into_an_error(sim: AwsSimulator) -> None:
    sim.fail_next("STEP_FAILURE", "Job aborted: exit code 1")
    op = launch_op(wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    (event,) = asyncio.run(asyncio.wait_for(collect(info.value.trigger), 30))
    assert event["status"] == "failure" and event["state"] == "TERMINATED_WITH_ERRORS"
    assert event["reason"] == "STEP_FAILURE"
    with pytest.raises(AirflowException, match=r"STEP_FAILURE.*step 'step-0'.*Job aborted: exit code 1"):
        launch_op(wait_for_completion=True, deferrable=True).execute_complete(make_context(), event=event)


def test_execute_complete_outcomes(sim: AwsSimulator) -> None:
    op = launch_op(wait_for_completion=True, deferrable=True)
    with pytest.raises(AirflowException, match="resumed without a trigger event"):
        op.execute_complete(make_context(), event=None)
    with pytest.raises(AirflowException, match="boom"):
        op.execute_complete(
            make_context(), event={"status": "failure", "cluster_id": "j-1", "message": "boom"}
        )
    # A timeout leaves the cluster running in the trigger; the task terminates it (terminate_on_failure).
    cluster_id = launch_op(job_flow_overrides=job_flow(keep_alive=True)).execute(make_context())
    event = {
        "status": "timeout",
        "cluster_id": cluster_id,
        "message": f"EMR cluster {cluster_id} was still WAITING",
    }
    with pytest.raises(AirflowException, match=r"still WAITING.*The cluster was terminated"):
        op.execute_complete(make_context(), event=event)
    finish(sim, cluster_id)
    assert sim.cluster_state(cluster_id) == "TERMINATED"


# -- kill ---------------------------------------------------------------------------------------------


def test_on_kill_terminates_the_cluster_while_the_worker_waits(sim: AwsSimulator) -> None:
    op = launch_op(job_flow_overrides=job_flow(keep_alive=True), wait_for_completion=True)
    errors: list[BaseException] = []
    waiting = threading.Event()
    real_wait = op._wait

    def wait(cluster_id: str) -> None:
        waiting.set()
        real_wait(cluster_id)

    op._wait = wait  # type: ignore[method-assign]

    def run() -> None:
        try:
            op.execute(make_context())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert waiting.wait(10), "the task never started waiting"
    (cluster_id,) = sim.running_clusters()
    op.on_kill()
    worker.join(10)
    assert sim.wait_until(cluster_id, "TERMINATED") == "TERMINATED"
    assert errors and "USER_REQUEST" in str(errors[0])


def test_on_kill_while_deferred_terminates_the_cluster(sim: AwsSimulator) -> None:
    with pytest.raises(TaskDeferred) as info:
        launch_op(
            job_flow_overrides=job_flow(keep_alive=True), wait_for_completion=True, deferrable=True
        ).execute(make_context())
    trigger = info.value.trigger
    (cluster_id,) = sim.running_clusters()
    # The triggerer runs on_kill when a user marks the deferred task failed/success or clears it.
    asyncio.run(trigger.on_kill())
    assert sim.wait_until(cluster_id, "TERMINATED") == "TERMINATED"
    assert (
        sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["StateChangeReason"][
            "Code"
        ]
        == "USER_REQUEST"
    )


def test_on_kill_before_anything_was_started_does_nothing(sim: AwsSimulator) -> None:
    launch_op().on_kill()
    assert sim.run_job_flow_count() == 0


# -- crash and retry ------------------------------------------------------------------------------------


class WorkerCrash(BaseException):
    """Stands in for the worker process dying (nothing in the task gets to clean up)."""


def crash_while_waiting(op: SyncEmrCreateJobFlowOperator, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(cluster_id: str) -> None:
        raise WorkerCrash(cluster_id)

    monkeypatch.setattr(op, "_wait", crash)


@pytest.mark.parametrize("with_store", [False, True], ids=["tag-only", "task-state-store"])
def test_a_retry_after_a_crash_re_attaches_to_the_same_cluster(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch, with_store: bool
) -> None:
    store = FakeStateStore() if with_store else None
    spec = job_flow(steps=2)
    first = launch_op(job_flow_overrides=spec, wait_for_completion=True)
    crash_while_waiting(first, monkeypatch)
    with pytest.raises(WorkerCrash) as crashed:
        first.execute(make_context(FakeTI(), store))
    cluster_id = str(crashed.value)
    assert sim.running_clusters() == [cluster_id]
    if store is not None:
        assert store.get(STATE_KEY)["cluster_id"] == cluster_id and store.get(STATE_KEY)["done"] is False

    ti = FakeTI()  # the retry: a new operator instance (parsed again), the same task instance
    again = launch_op(job_flow_overrides=spec, wait_for_completion=True).execute(make_context(ti, store))
    assert again == cluster_id and sim.run_job_flow_count() == 1
    assert sim.cluster_state(cluster_id) == "TERMINATED"
    assert ti.xcoms["sync_run_id"] == tags_of(sim, cluster_id)["sync:run-id"]
    if store is not None:
        assert store.get(STATE_KEY)["done"] is True


def test_a_retry_after_a_crash_once_the_cluster_finished_does_not_launch_again(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    first = launch_op(wait_for_completion=True)
    crash_while_waiting(first, monkeypatch)
    with pytest.raises(WorkerCrash) as crashed:
        first.execute(make_context(FakeTI(), store))
    cluster_id = str(crashed.value)
    finish(sim, cluster_id)  # the cluster completed while no worker was watching
    assert launch_op(wait_for_completion=True).execute(make_context(FakeTI(), store)) == cluster_id
    assert sim.run_job_flow_count() == 1


def test_a_retry_after_a_failed_cluster_or_a_rerun_launches_a_new_run(sim: AwsSimulator) -> None:
    store = FakeStateStore()
    sim.fail_next("STEP_FAILURE", "boom")
    with pytest.raises(AirflowException, match="boom"):
        launch_op(wait_for_completion=True).execute(make_context(FakeTI(), store))
    failed = store.get(STATE_KEY)
    ti = FakeTI()
    retried = launch_op(wait_for_completion=True).execute(make_context(ti, store))
    assert retried != failed["cluster_id"] and sim.run_job_flow_count() == 2
    assert ti.xcoms["sync_run_id"] != failed["sync_run_id"]
    assert store.get(STATE_KEY) == {
        "cluster_id": retried,
        "sync_run_id": ti.xcoms["sync_run_id"],
        "run_prefix": ti.xcoms["sync_run_prefix"],
        "generation": 1,
        "done": True,
    }
    # Clearing the finished task runs it again: a new cluster, a new run id.
    rerun = launch_op().execute(make_context(FakeTI(), store))
    assert rerun not in (retried, failed["cluster_id"]) and sim.run_job_flow_count() == 3
    assert store.get(STATE_KEY)["generation"] == 2
    sim.terminate_all()


def test_default_timeout_and_explicit_run_id(sim: AwsSimulator) -> None:
    assert launch_op(timeout=DEFAULT_CLUSTER_TIMEOUT_S).timeout == 6 * 3600
    ti = FakeTI()
    cluster_id = launch_op(sync_run_id="nightly-2024-01-01").execute(make_context(ti))
    assert tags_of(sim, cluster_id)["sync:run-id"] == "nightly-2024-01-01" == ti.xcoms["sync_run_id"]
    sim.terminate_all()
