"""SyncDatabricksRunTrigger: serialization, run() against the local workspace, on_kill."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from sync_provider.core.databricks import submit_run
from sync_provider.testing.databricks import LocalDatabricks
from sync_provider.triggers.databricks import MAX_CONSECUTIVE_ERRORS, SyncDatabricksRunTrigger
from tests.airflow.databricks_fixtures import DBFS, SPEC, TASK, dbx, fast_hook_retries
from tests.core.databricks_fixtures import finish, make_dbx

pytestmark = [pytest.mark.airflow, pytest.mark.asyncio]
__all__ = ["dbx", "fast_hook_retries"]


def start(dbx: LocalDatabricks, name: str = "etl") -> int:
    run = submit_run(
        dbx.client(), SPEC, TASK, project_id="p", project_location=DBFS, run_name=name, idempotency_token=None
    ).unwrap()
    return run.run_id


def fast(run_id: int, **kwargs: Any) -> SyncDatabricksRunTrigger:
    values: dict[str, Any] = {
        "poll_interval": 0.05,
        "max_poll_interval": 0.1,
        "end_time": time.time() + 30,
        "retry_limit": 2,
        "retry_delay": 0.01,
    }
    values.update(kwargs)
    return SyncDatabricksRunTrigger(run_id, **values)


async def events_of(trigger: SyncDatabricksRunTrigger, timeout: float = 30) -> list[dict[str, Any]]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return [event.payload for event in await asyncio.wait_for(collect(), timeout)]


async def test_serialize_round_trip() -> None:
    from airflow.sdk.serde import deserialize, serialize

    trigger = SyncDatabricksRunTrigger(
        42,
        databricks_conn_id="dbx",
        poll_interval=5,
        max_poll_interval=30,
        end_time=1.7e9,
        cancel_on_kill=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "sync_provider.triggers.databricks.SyncDatabricksRunTrigger"
    assert kwargs == {
        "run_id": 42,
        "databricks_conn_id": "dbx",
        "poll_interval": 5.0,
        "max_poll_interval": 30.0,
        "end_time": 1.7e9,
        "retry_limit": 3,
        "retry_delay": 1.0,
        "cancel_on_kill": True,
    }
    json.dumps(kwargs)
    restored: Any = deserialize(serialize(kwargs))
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls(**restored).serialize() == (classpath, kwargs)
    assert SyncDatabricksRunTrigger(1).serialize()[1]["end_time"] is None


async def test_success(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    assert await events_of(fast(run_id)) == [
        {
            "status": "success",
            "run_id": run_id,
            "message": f"Databricks run {run_id} succeeded.",
            "life_cycle_state": "TERMINATED",
            "result_state": "SUCCESS",
        }
    ]


@pytest.mark.parametrize(
    ("outcome", "life_cycle"),
    [
        ("FAILED", "TERMINATED"),
        ("TIMEDOUT", "TERMINATED"),
        ("CANCELED", "TERMINATED"),
        ("INTERNAL_ERROR", "INTERNAL_ERROR"),
    ],
)
async def test_failure_carries_the_state_message(dbx: LocalDatabricks, outcome: str, life_cycle: str) -> None:
    dbx.fail_next(outcome, f"it went {outcome.lower()}")
    run_id = start(dbx)
    (event,) = await events_of(fast(run_id))
    assert event["status"] == "failure"
    assert (event["life_cycle_state"], event["result_state"]) == (
        life_cycle,
        "FAILED" if outcome == "INTERNAL_ERROR" else outcome,
    )
    assert f"Databricks run {run_id} did not succeed" in event["message"]
    assert f"it went {outcome.lower()}" in event["message"]


async def test_timeout_leaves_the_run_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    with make_dbx(phase_s=3.0) as slow:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", slow.connection_json())
        run_id = start(slow)
        (event,) = await events_of(fast(run_id, end_time=time.time() + 0.3))
        assert event["status"] == "timeout"
        assert event["life_cycle_state"] == "PENDING"
        assert "was not cancelled" in event["message"]
        assert slow.active_runs() == [run_id]
        slow.cancel_all()
        finish(slow)


async def test_a_missing_run_ends_the_wait_at_once(dbx: LocalDatabricks) -> None:
    (event,) = await events_of(fast(99))
    assert event["status"] == "error"
    assert "Databricks run 99 cannot be read" in event["message"]
    assert len(dbx.requests("jobs/runs/get")) == 1


async def test_transient_errors_are_survived_then_given_up_on(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    dbx.faults.add("GET /jobs/runs/get", status=503, times=3)  # one failed poll (2 tries), then a retry
    (event,) = await events_of(fast(run_id))
    assert event["status"] == "success"
    dbx.faults.add("GET /jobs/runs/get", status=503, times=2 * MAX_CONSECUTIVE_ERRORS)
    (event,) = await events_of(fast(run_id))
    assert event["status"] == "error"
    assert f"giving up after {MAX_CONSECUTIVE_ERRORS} failed polls" in event["message"]


async def test_a_missing_connection_is_an_error_event() -> None:
    (event,) = await events_of(fast(1, databricks_conn_id="nope"))
    assert event["status"] == "error"
    assert "nope" in event["message"]


async def test_on_kill_cancels_the_run_it_owns(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    trigger = fast(run_id, cancel_on_kill=True)
    waiting = asyncio.ensure_future(events_of(trigger))
    await asyncio.sleep(0.2)
    waiting.cancel()  # the triggerer cancels run(), then calls on_kill()
    await trigger.on_kill()
    assert dbx.active_runs() == []
    assert [r.status for r in dbx.requests("jobs/runs/cancel")] == [200]


async def test_on_kill_leaves_a_run_it_only_watches(dbx: LocalDatabricks) -> None:
    run_id = start(dbx)
    await fast(run_id).on_kill()
    assert dbx.requests("jobs/runs/cancel") == []
    assert run_id in dbx.active_runs()
    dbx.cancel_all()


async def test_on_kill_swallows_errors(dbx: LocalDatabricks) -> None:
    dbx.faults.add("POST /jobs/runs/cancel", status=500, times=5)
    await fast(12345, cancel_on_kill=True).on_kill()  # logged, not raised
