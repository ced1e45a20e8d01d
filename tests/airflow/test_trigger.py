"""SyncPredictionTrigger: serialization, and run() against the local Sync API server (with faults)."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from sync_provider.triggers.sync import MAX_CONSECUTIVE_ERRORS, SyncPredictionTrigger
from tests.airflow.conftest import create_pending_prediction, create_prediction, wait_until_finished

pytestmark = [pytest.mark.airflow, pytest.mark.asyncio]

STATUS_ROUTE = "GET /v1/autotuner/predictions/{id}/status"
AUTH = ("POST", "/v1/auth/token")


async def run_trigger(trigger: SyncPredictionTrigger, timeout: float = 30) -> list[TriggerEvent]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return await asyncio.wait_for(collect(), timeout)


def fast(prediction_id: str, **kwargs: Any) -> SyncPredictionTrigger:
    values: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.2, "end_time": time.time() + 30}
    values.update(kwargs)
    return SyncPredictionTrigger(prediction_id=prediction_id, **values)


async def test_serialize_round_trip() -> None:
    from airflow.sdk.serde import deserialize, serialize

    trigger = SyncPredictionTrigger(
        prediction_id="abc-1", sync_conn_id="sync_x", poll_interval=5, max_poll_interval=30, end_time=1.7e9
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "sync_provider.triggers.sync.SyncPredictionTrigger"
    assert kwargs == {
        "prediction_id": "abc-1",
        "sync_conn_id": "sync_x",
        "poll_interval": 5.0,
        "max_poll_interval": 30.0,
        "end_time": 1.7e9,
    }
    json.dumps(kwargs)
    restored: Any = deserialize(serialize(kwargs))
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls(**restored).serialize() == (classpath, kwargs)
    assert SyncPredictionTrigger(prediction_id="p").serialize()[1]["end_time"] is None


async def test_success(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    events = await run_trigger(fast(prediction_id))
    assert [e.payload for e in events] == [
        {
            "status": "success",
            "prediction_id": prediction_id,
            "message": f"Prediction {prediction_id} succeeded.",
        }
    ]


async def test_failure_carries_syncs_message(
    sync_conn: Any, sync_client: Any, not_a_log: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, not_a_log, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    server_message = sync_conn.predictions()[-1]["status_message"]
    (event,) = await run_trigger(fast(prediction_id))
    assert event.payload["status"] == "failure"
    assert event.payload["message"] == f"Prediction {prediction_id} failed: {server_message}"


async def test_timeout(sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    started = time.monotonic()
    (event,) = await run_trigger(fast(prediction_id, end_time=time.time() + 0.4))
    assert 0.35 < time.monotonic() - started < 5
    assert event.payload["status"] == "timeout"
    assert "still PENDING" in event.payload["message"]


async def test_deadline_in_the_past_still_checks_once(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    (event,) = await run_trigger(fast(prediction_id, end_time=time.time() - 10))
    assert event.payload["status"] == "success"


async def test_unknown_prediction_is_an_error(sync_conn: Any) -> None:
    (event,) = await run_trigger(fast("00000000-0000-0000-0000-000000000000"))
    assert event.payload["status"] == "error"
    assert "Not Found" in event.payload["message"]


async def test_invalid_id_and_missing_connection_are_errors(sync_conn: Any) -> None:
    (event,) = await run_trigger(fast("../../v1/projects"))
    assert event.payload["status"] == "error" and "not a valid identifier" in event.payload["message"]
    (event,) = await run_trigger(fast("abc", sync_conn_id="no_such_conn"))
    assert event.payload["status"] == "error" and "no_such_conn" in event.payload["message"]


async def test_faults_still_end_in_success(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    sync_conn.faults.add(STATUS_ROUTE, status=503, times=3)
    sync_conn.faults.add(STATUS_ROUTE, drop="before", times=2)
    sync_conn.faults.add(STATUS_ROUTE, drop="after", times=1)
    sync_conn.faults.add(STATUS_ROUTE, status=429, times=1, retry_after=0)
    sync_conn.faults.add(STATUS_ROUTE, status=503, rate=0.3)
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    auth_before = sync_conn.stats.requests[AUTH]
    task = asyncio.ensure_future(run_trigger(fast(prediction_id)))
    for _ in range(500):  # wait until the trigger holds a token, however slow the machine is
        if sync_conn.stats.requests[AUTH] > auth_before:
            break
        await asyncio.sleep(0.01)
    sync_conn.expire_tokens()  # mid-run: the next poll gets 401 and refreshes once
    (event,) = await task
    assert event.payload["status"] == "success", event.payload
    assert sync_conn.stats.faults["status"] >= 4 and sync_conn.stats.dropped_connections == 3
    assert sync_conn.stats.requests[AUTH] - auth_before == 2


async def test_persistent_outage_ends_in_an_error(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    sync_conn.faults.add(STATUS_ROUTE, status=502)
    (event,) = await run_trigger(fast(prediction_id))
    assert event.payload["status"] == "error"
    assert f"giving up after {MAX_CONSECUTIVE_ERRORS} failed polls" in event.payload["message"]
    assert "HTTP 502" in event.payload["message"]


async def test_transient_outage_between_polls_is_survived(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    # More 503s in a row than one poll's retries (5 + 1 tries) absorb: the next poll succeeds.
    sync_conn.faults.add(STATUS_ROUTE, status=503, times=8)
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    (event,) = await run_trigger(fast(prediction_id))
    assert event.payload["status"] == "success"


@pytest.mark.serial
async def test_never_blocks_the_event_loop(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    stalls: list[float] = []
    stop = asyncio.Event()

    async def monitor() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - before - 0.005)

    prediction_ids = [create_prediction(sync_client, eventlog, cluster_report) for _ in range(10)]
    watcher = asyncio.ensure_future(monitor())
    results = await asyncio.gather(*(run_trigger(fast(p)) for p in prediction_ids))
    stop.set()
    await watcher
    assert all(events[0].payload["status"] == "success" for events in results)
    assert max(stalls) < 0.2, f"the event loop stalled for {max(stalls) * 1000:.0f} ms"
