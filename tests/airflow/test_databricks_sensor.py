"""SyncDatabricksRunSensor against the local workspace: poke, every failed end, deferral."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, TaskDeferred

from sync_provider.core.databricks import submit_run
from sync_provider.sensors.databricks import SyncDatabricksRunSensor
from sync_provider.testing.databricks import LocalDatabricks
from sync_provider.triggers.databricks import SyncDatabricksRunTrigger
from tests.airflow.databricks_fixtures import (
    DBFS,
    SPEC,
    TASK,
    FakeTI,
    dbx,
    fast_hook_retries,
    make_context,
)

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "fast_hook_retries"]


def start(dbx: LocalDatabricks) -> int:
    run = submit_run(
        dbx.client(),
        SPEC,
        TASK,
        project_id="p",
        project_location=DBFS,
        run_name="etl",
        idempotency_token=None,
    ).unwrap()
    return run.run_id


def sensor(run_id: Any, **kwargs: Any) -> SyncDatabricksRunSensor:
    values: dict[str, Any] = {
        "task_id": "wait",
        "run_id": run_id,
        "poke_interval": 0.05,
        "timeout": 30,
        "databricks_retry_delay": 0.01,
    }
    values.update(kwargs)
    return SyncDatabricksRunSensor(**values)


def run_to_end(op: SyncDatabricksRunSensor) -> Any:
    """Execute the sensor; when it defers, run the trigger and resume, as the triggerer would."""
    try:
        return op.execute(make_context())
    except TaskDeferred as deferred:
        event = asyncio.run(deferred.trigger.run().__anext__()).payload
        return op.execute_complete(make_context(), event)


def test_poke_until_success(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    ti = FakeTI(task_id="wait")
    op = sensor(str(run_id), deferrable=False)  # a templated id arrives as a string
    assert op.poke(make_context(ti)) is False
    assert ti.xcoms["sync_databricks_run"]["run_id"] == run_id
    op.execute(make_context(ti))
    done = op.poke(make_context(ti))
    assert isinstance(done, PokeReturnValue) and done.xcom_value == run_id
    assert dbx.active_runs() == []


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("FAILED", "TERMINATED/FAILED"),
        ("TIMEDOUT", "TERMINATED/TIMEDOUT"),
        ("CANCELED", "TERMINATED/CANCELED"),
        ("INTERNAL_ERROR", "INTERNAL_ERROR/FAILED"),
    ],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_every_failed_end_fails_the_sensor_with_the_state_message(
    dbx: LocalDatabricks, outcome: str, state: str, deferrable: bool
) -> None:
    dbx.fail_next(outcome, f"because {outcome}")
    run_id = start(dbx)
    op = sensor(run_id, deferrable=deferrable)
    expected = f"Databricks run {run_id} did not succeed: {state}: because {outcome}"
    with pytest.raises(AirflowFailException, match=expected):
        run_to_end(op)


def test_deferral_and_completion(dbx: LocalDatabricks) -> None:
    op = sensor(1, deferrable=True, timeout=120, max_poll_interval=0.2)
    op.api.call("GET", "2.1/jobs/runs/list", {}, idempotent=True)  # warm the hook: the run is short
    run_id = op.run_id = start(dbx)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, SyncDatabricksRunTrigger)
    assert deferred.value.timeout == timedelta(seconds=180)
    kwargs = trigger.serialize()[1]
    assert kwargs["cancel_on_kill"] is False  # the sensor only watches the run
    assert (kwargs["run_id"], kwargs["poll_interval"], kwargs["max_poll_interval"]) == (run_id, 0.05, 0.2)
    event = asyncio.run(trigger.run().__anext__()).payload
    assert op.execute_complete(make_context(), event) == run_id


def test_a_finished_run_is_not_deferred(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    sensor(run_id, deferrable=False).execute(make_context())
    assert sensor(run_id, deferrable=True).execute(make_context()) == run_id


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (
            {"status": "timeout", "run_id": 1, "message": "still RUNNING"},
            AirflowSensorTimeout,
            "still RUNNING",
        ),
        ({"status": "failure", "run_id": 1, "message": "did not succeed"}, AirflowFailException, "did not"),
        ({"status": "error", "run_id": 1, "message": "cannot be read"}, AirflowException, "cannot be read"),
        (None, AirflowException, "without a successful trigger event"),
    ],
)
def test_execute_complete_outcomes(event: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sensor(1).execute_complete(make_context(), event)


def test_a_missing_run_or_a_bad_id_fails(dbx: LocalDatabricks) -> None:
    with pytest.raises(AirflowException, match="INVALID_PARAMETER_VALUE: Run 99 does not exist"):
        sensor(99, deferrable=False).execute(make_context())
    with pytest.raises(AirflowException, match="is not a Databricks run id"):
        sensor("run-1").execute(make_context())
