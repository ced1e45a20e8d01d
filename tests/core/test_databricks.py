"""Databricks runs through the core against the local stand-in: submit, wait, failures, idempotency,
cancel, cluster reports with paginated events, retries of idempotent calls only."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from sync_provider.core.databricks import (
    PROJECT_ID_TAG,
    RUN_ID_TAG,
    DatabricksAPIError,
    DatabricksRestClient,
    DatabricksTimeoutError,
    RunState,
    cancel_run,
    get_cluster_report,
    get_run_state,
    idempotency_token_for,
    submit_run,
    wait_for_run,
)
from sync_provider.core.errors import DatabricksError, InvalidInputError
from sync_provider.testing.databricks import LocalDatabricks
from tests.core import databricks_fixtures as fx
from tests.core.databricks_fixtures import FAST, SPEC, TASK

dbx, api = fx.dbx, fx.api  # shared fixtures

LOCATION = "dbfs:/sync/projects"


def submit(api: Any, **options: Any) -> Any:
    options.setdefault("project_id", "proj-1")
    options.setdefault("project_location", LOCATION)
    options.setdefault("run_name", "nightly-etl")
    options.setdefault("idempotency_token", idempotency_token_for("dag", "task", options["run_name"]))
    return submit_run(api, options.pop("spec", SPEC), options.pop("task", TASK), **options)


def test_submit_and_wait_for_success(dbx: LocalDatabricks, api: DatabricksRestClient) -> None:
    seen: list[str] = []
    run = submit(api).unwrap()

    assert run.run_page_url and f"/run/{run.run_id}" in run.run_page_url
    assert run.cluster_id in dbx.running_clusters()
    assert run.log_destination == f"{LOCATION}/proj-1/{run.sync_run_id}"
    outcome = wait_for_run(
        api, run.run_id, poll=FAST, on_state=lambda s, _t: seen.append(s.life_cycle_state)
    ).unwrap()

    assert outcome.state == RunState(life_cycle_state="TERMINATED", result_state="SUCCESS", state_message="")
    assert outcome.cluster_id == run.cluster_id
    assert (outcome.sync_run_id, outcome.project_id) == (run.sync_run_id, "proj-1")
    assert outcome.end_time and outcome.start_time and outcome.end_time > outcome.start_time
    assert seen[0] == "PENDING" and "RUNNING" in seen and seen[-1] == "TERMINATED"
    submitted = dbx.requests("jobs/runs/submit")
    assert len(submitted) == 1
    # The cluster Databricks ran is the prepared one.
    cluster = api.call("GET", "2.0/clusters/get", {"cluster_id": run.cluster_id}, idempotent=True)
    assert cluster["custom_tags"] == {PROJECT_ID_TAG: "proj-1", RUN_ID_TAG: run.sync_run_id}
    assert cluster["cluster_log_conf"] == {"dbfs": {"destination": run.log_destination}}


@pytest.mark.parametrize(
    "case",
    [
        ("FAILED", "TERMINATED", "FAILED", "Task sync_task failed with message: boom"),
        ("TIMEDOUT", "TERMINATED", "TIMEDOUT", "Run timed out after 3600 s"),
        ("CANCELED", "TERMINATED", "CANCELED", "Run cancelled by someone@example.com"),
        ("INTERNAL_ERROR", "INTERNAL_ERROR", "FAILED", "Cluster failed to start: no capacity"),
    ],
    ids=lambda case: case[0],
)
def test_every_unsuccessful_end_is_a_clear_error(
    dbx: LocalDatabricks, api: DatabricksRestClient, case: tuple[str, str, str, str]
) -> None:
    outcome, life_cycle, result, message = case
    dbx.fail_next(outcome, message)
    run = submit(api).unwrap()

    response = wait_for_run(api, run.run_id, poll=FAST)

    assert response.error is not None
    text = response.error.message
    assert f"run {run.run_id} did not succeed: {life_cycle}/{result}: {message}" in text
    assert run.run_page_url in text
    detail = response.error.detail
    assert detail["life_cycle_state"] == life_cycle and detail["result_state"] == result
    assert detail["state_message"] == message
    with pytest.raises(DatabricksError):
        response.unwrap()
    assert get_run_state(api, run.run_id).unwrap().is_terminal


def test_same_idempotency_token_gives_one_run(dbx: LocalDatabricks, api: DatabricksRestClient) -> None:
    token = idempotency_token_for("dag", "task", "2026-01-01", 1)
    first = submit(api, idempotency_token=token).unwrap()
    # A retried attempt that does not remember its run id or Sync run id gets the first run back.
    again = submit(api, idempotency_token=token, run_id="another-sync-run").unwrap()

    assert again.run_id == first.run_id
    assert again.sync_run_id == first.sync_run_id
    assert dbx.submit_count() == 1
    other = submit(api, idempotency_token=idempotency_token_for("dag", "task", "2026-01-01", 2)).unwrap()
    assert other.run_id != first.run_id and dbx.submit_count() == 2
    for run_id in (first.run_id, other.run_id):
        wait_for_run(api, run_id, poll=FAST).unwrap()


def test_an_idempotent_submit_is_repeated_after_a_lost_response(
    dbx: LocalDatabricks, api: DatabricksRestClient
) -> None:
    rule = dbx.faults.add("POST /jobs/runs/submit", drop="after", times=1)

    run = submit(api).unwrap()

    assert rule.hits == 1
    assert len(dbx.requests("jobs/runs/submit")) == 2
    assert dbx.submit_count() == 1
    wait_for_run(api, run.run_id, poll=FAST).unwrap()


@pytest.mark.parametrize("status", [429, 503])
def test_a_submit_without_token_is_never_repeated(
    dbx: LocalDatabricks, api: DatabricksRestClient, status: int
) -> None:
    dbx.faults.add("POST /jobs/runs/submit", status=status, times=1)

    response = submit(api, idempotency_token=None)

    assert response.error is not None
    assert response.error.detail["http_status"] == status
    assert len(dbx.requests("jobs/runs/submit")) == 1
    assert dbx.submit_count() == 0


def test_a_submit_without_token_whose_response_is_lost_says_so(
    dbx: LocalDatabricks, api: DatabricksRestClient
) -> None:
    dbx.faults.add("POST /jobs/runs/submit", drop="after", times=1)

    response = submit(api, idempotency_token=None)

    assert response.error is not None and "may have reached Databricks" in response.error.message
    assert len(dbx.requests("jobs/runs/submit")) == 1
    assert dbx.submit_count() == 1  # it did start: the caller is told to check
    dbx.cancel_all()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_idempotent_calls_are_retried(dbx: LocalDatabricks, api: DatabricksRestClient, status: int) -> None:
    run = submit(api).unwrap()
    dbx.faults.add("GET /jobs/runs/get", status=status, times=2, retry_after=0 if status != 500 else None)
    dbx.faults.add("POST /jobs/runs/cancel", status=status, times=1)

    state = get_run_state(api, run.run_id).unwrap()
    cancelled = cancel_run(api, run.run_id).unwrap()

    assert state.life_cycle_state in ("PENDING", "RUNNING")
    assert [r.status for r in dbx.requests("jobs/runs/get")][-4:-1] == [status, status, 200]
    assert [r.status for r in dbx.requests("jobs/runs/cancel")] == [status, 200]
    assert cancelled.result_state == "CANCELED"


@pytest.mark.parametrize("status", [429, 503])
def test_a_decimal_retry_after_is_waited(
    dbx: LocalDatabricks, api: DatabricksRestClient, status: int
) -> None:
    """urllib3 alone raises InvalidHeader on ``Retry-After: 1.5``, ending the call as unreachable."""
    run = submit(api).unwrap()
    dbx.faults.add("GET /jobs/runs/get", status=status, times=1, retry_after=1.5)

    started = time.monotonic()
    state = get_run_state(api, run.run_id).unwrap()
    waited = time.monotonic() - started

    assert state.life_cycle_state  # read after the wait (the run may have ended meanwhile)
    assert 1.4 <= waited < 10, waited
    assert [r.status for r in dbx.requests("jobs/runs/get")][-2:] == [status, 200]
    dbx.cancel_all()


@pytest.mark.parametrize("value", ["soon", "1,5", "-1"])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with DatabricksRestClient("http://127.0.0.1:9", "token") as client:
        policy = client._repeatable.get_adapter("http://127.0.0.1:9/api/").max_retries
        with caplog.at_level("WARNING", logger="sync_provider.core.databricks.client"):
            assert policy.get_retry_after(SimpleNamespace(headers={"Retry-After": value})) is None
            assert policy.get_retry_after(SimpleNamespace(headers={"Retry-After": "2.5"})) == 2.5
    assert f"Ignoring Databricks's unreadable Retry-After header {value!r}" in caplog.text


def test_errors_carry_the_databricks_error_code(dbx: LocalDatabricks, api: DatabricksRestClient) -> None:
    response = get_run_state(api, 424242)
    assert response.error is not None
    assert response.error.message == "INVALID_PARAMETER_VALUE: Run 424242 does not exist."
    assert response.error.detail == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "http_status": 400,
        "endpoint": "GET /api/2.1/jobs/runs/get",
    }
    with pytest.raises(DatabricksAPIError) as excinfo:
        response.unwrap()
    assert (excinfo.value.error_code, excinfo.value.status) == ("INVALID_PARAMETER_VALUE", 400)

    secret = "dapi-wrong-secret-123"
    with DatabricksRestClient(dbx.url, secret, retries=0) as wrong:
        refused = get_run_state(wrong, 1)
        assert refused.error is not None and refused.error.message.startswith("UNAUTHENTICATED:")
        assert secret not in repr(wrong) and secret not in json.dumps(refused.model_dump(mode="json"))


def test_invalid_input_is_refused_before_anything_is_sent(
    dbx: LocalDatabricks, api: DatabricksRestClient
) -> None:
    cases = [
        ({"task": {"notebook_task": {}, "spark_python_task": {}}}, "exactly one task type"),
        ({"task": {**TASK, "existing_cluster_id": "abc"}}, "remove existing_cluster_id"),
        ({"idempotency_token": "x" * 65}, "1 to 64 characters"),
        ({"spec": {"node_type_id": "m5.xlarge"}}, "spark_version is required"),
        ({"project_location": "gs://nope"}, "not supported"),
    ]
    for options, expected in cases:
        response = submit(api, **options)
        assert response.error is not None and expected in response.error.message, (options, response.error)
        with pytest.raises(InvalidInputError):
            response.unwrap()
    assert dbx.requests() == []
    with pytest.raises(InvalidInputError, match="plain http"):
        DatabricksRestClient("http://dbc-1.cloud.databricks.com", "t")


def test_cancel_is_idempotent_and_terminates_the_cluster(
    dbx: LocalDatabricks, api: DatabricksRestClient
) -> None:
    run = submit(api).unwrap()

    first = cancel_run(api, run.run_id).unwrap()
    second = cancel_run(api, str(run.run_id)).unwrap()

    assert first == second
    assert (first.life_cycle_state, first.result_state) == ("TERMINATED", "CANCELED")
    assert dbx.active_runs() == [] and dbx.running_clusters() == []
    response = wait_for_run(api, run.run_id, poll=FAST)
    assert response.error is not None and "TERMINATED/CANCELED" in response.error.message
    assert cancel_run(api, 0).error is not None


def test_wait_for_run_times_out_without_cancelling(dbx: LocalDatabricks, api: DatabricksRestClient) -> None:
    run = submit(api).unwrap()

    response = wait_for_run(api, run.run_id, timeout_s=0.05, poll=FAST)

    assert response.error is not None and "was not cancelled" in response.error.message
    with pytest.raises(DatabricksTimeoutError):
        response.unwrap()
    assert dbx.active_runs() == [run.run_id]
    cancel_run(api, run.run_id).unwrap()


def test_cluster_report_reads_every_page_of_events(dbx: LocalDatabricks, api: DatabricksRestClient) -> None:
    run = submit(api).unwrap()
    assert get_cluster_report(api, run.run_id).error is not None  # still running: refused
    wait_for_run(api, run.run_id, poll=FAST).unwrap()
    before = len(dbx.requests("clusters/events"))

    report = get_cluster_report(api, run.run_id, plan_type="Enterprise", events_page_size=50).unwrap()

    pages = len(dbx.requests("clusters/events")) - before
    events = report["cluster_events"]["events"]
    assert pages == 3 and len(events) == report["cluster_events"]["total_count"] > 100
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True)
    assert events[0]["type"] == "TERMINATING" and events[-1]["type"] == "CREATING"
    assert (report["plan_type"], report["compute_type"], report["instances"]) == (
        "Enterprise",
        "Jobs Compute",
        [],
    )
    assert report["cluster"]["cluster_id"] == run.cluster_id and report["cluster"]["state"] == "TERMINATED"
    task = report["tasks"][0]
    assert task["cluster_instance"]["cluster_id"] == run.cluster_id
    assert task["cluster_instance"]["spark_context_id"] == str(report["cluster"]["spark_context_id"])
    assert task["end_time"] > task["start_time"] and task["setup_duration"] > 0
    # Non-ASCII details are kept, and the JSON sent to Sync escapes them.
    lost = next(e for e in events if e["type"] == "NODES_LOST")
    assert "节点丢失" in lost["details"]["reason"]["parameters"]["databricks_error_message"]
    json.dumps(report).encode("ascii")
    assert get_cluster_report(api, run.run_id, compute_type="Jobs").error is not None


def test_a_submitted_run_is_reported_even_when_reading_it_back_fails(
    dbx: LocalDatabricks, api: DatabricksRestClient
) -> None:
    dbx.faults.add("GET /jobs/runs/get", status=500, times=10)

    run = submit(api).unwrap()

    assert run.run_id in dbx.active_runs() and run.cluster_id is None and run.run_page_url is None
    assert run.log_destination.endswith(run.sync_run_id)
    dbx.faults.clear()
    cancel_run(api, run.run_id).unwrap()


def test_teardown_cancels_and_fails_on_leftovers() -> None:
    with fx.make_dbx() as server:
        api = server.client()
        api.call(
            "POST",
            "2.1/jobs/runs/submit",
            {"run_name": "left", "tasks": [{"task_key": "t", **TASK, "new_cluster": SPEC}]},
            idempotent=False,
        )
        with pytest.raises(pytest.fail.Exception, match="left runs"):
            fx.finish(server)
        assert server.active_runs() == []
        assert server.running_clusters() == []
