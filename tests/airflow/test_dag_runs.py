"""End to end with ``dag.test()``: poke and deferrable sensors (trigger run inline), failures, faults."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.airflow.conftest import conn_json
from tests.conftest import API_KEY_ID, API_KEY_SECRET

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

DAGS_FILE = Path(__file__).resolve().parents[1] / "dags" / "sync_provider_test_dags.py"
STATUS_ROUTE = "GET /v1/autotuner/predictions/{id}/status"
STATUS = ("GET", "/v1/autotuner/predictions/{id}/status")


@pytest.fixture(scope="module")
def dags() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_provider_test_dags", DAGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def slow_sync_conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server whose predictions stay RUNNING for a second, so deferrable tasks really defer."""
    from sync_provider.testing.sync_api_server import LocalSyncServer

    server = LocalSyncServer(
        api_keys={API_KEY_ID: API_KEY_SECRET}, processing_delay_s=1.0, data_dir=tmp_path / "sync-server"
    )
    with server:
        monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(server))
        yield server


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records the payload of every SyncPredictionTrigger event (dag.test() runs triggers inline)."""
    from sync_provider.triggers.sync import SyncPredictionTrigger

    events: list[dict[str, Any]] = []
    original = SyncPredictionTrigger.run

    async def recording_run(self: SyncPredictionTrigger) -> AsyncIterator[Any]:
        async for event in original(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(SyncPredictionTrigger, "run", recording_run)
    return events


def run(dag: Any, eventlog: Path, cluster_report: dict[str, Any], **conf: Any) -> Any:
    return dag.test(run_conf={"eventlog": str(eventlog), "cluster_report": cluster_report, **conf})


def states(dag_run: Any) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


def xcoms(dag_run: Any) -> dict[tuple[str, str], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows: list[Any] = list(
            session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)).all()
        )
        return {(row.task_id, row.key): XComModel.deserialize_value(row) for row in rows}


def test_poke_mode_success(
    sync_server: Any,
    *,
    dags: ModuleType,
    eventlog: Path,
    cluster_report: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    trigger_runs: list[dict[str, Any]],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    dag_run = run(dags.sync_test_poke, eventlog, cluster_report)
    assert str(dag_run.state) == "success", states(dag_run)
    assert trigger_runs == []
    (record,) = sync_server.predictions()
    prediction_id = record["prediction_id"]
    values = xcoms(dag_run)
    assert values[("create", "return_value")] == prediction_id
    assert values[("wait", "return_value")] == prediction_id
    assert values[("get", "return_value")] == record["all_solutions"]["economy"]["configuration"]
    assert values[("get", "solution_metrics")] == record["all_solutions"]["economy"]["metrics"]
    assert values[("get", "basis_metrics")] == record["basis"]["metrics"]
    assert record["configs"] == cluster_report  # templated into a JSON string, parsed in execute
    url = f"{sync_server.url}/predictions/{prediction_id}"
    for task_id in ("create", "wait", "get"):
        assert values[(task_id, "sync_prediction")] == {"prediction_id": prediction_id, "url": url}
        assert values[(task_id, "_link_SyncPredictionLink")] == url


def test_deferrable_sensor_runs_the_trigger_inline(
    slow_sync_conn: Any,
    dags: ModuleType,
    eventlog: Path,
    cluster_report: dict[str, Any],
    trigger_runs: list[dict[str, Any]],
) -> None:
    dag_run = run(dags.sync_test_deferrable, eventlog, cluster_report, preference="performance")
    assert str(dag_run.state) == "success", states(dag_run)
    (record,) = slow_sync_conn.predictions()
    assert trigger_runs == [
        {
            "status": "success",
            "prediction_id": record["prediction_id"],
            "message": f"Prediction {record['prediction_id']} succeeded.",
        }
    ]
    values = xcoms(dag_run)
    assert values[("wait", "return_value")] == record["prediction_id"]
    assert values[("get", "return_value")] == record["all_solutions"]["performance"]["configuration"]
    assert values[("wait", "_link_SyncPredictionLink")].endswith(record["prediction_id"])


def test_deferrable_create_and_wait(
    slow_sync_conn: Any,
    dags: ModuleType,
    eventlog: Path,
    cluster_report: dict[str, Any],
    trigger_runs: list[dict[str, Any]],
) -> None:
    dag_run = run(dags.sync_test_create_and_wait, eventlog, cluster_report)
    assert str(dag_run.state) == "success", states(dag_run)
    (record,) = slow_sync_conn.predictions()
    assert [event["status"] for event in trigger_runs] == ["success"]
    values = xcoms(dag_run)
    assert values[("create", "return_value")] == record["prediction_id"]
    assert values[("get", "return_value")] == record["all_solutions"]["performance"]["configuration"]


@pytest.mark.parametrize("dag_name", ["sync_test_poke", "sync_test_deferrable"])
def test_failed_prediction_fails_the_run_with_syncs_message(
    slow_sync_conn: Any,
    *,
    dags: ModuleType,
    not_a_log: Path,
    cluster_report: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    trigger_runs: list[dict[str, Any]],
    dag_name: str,
) -> None:
    dag_run = run(getattr(dags, dag_name), not_a_log, cluster_report)
    assert str(dag_run.state) == "failed"
    assert states(dag_run) == {"create": "success", "wait": "failed", "get": "upstream_failed"}
    (record,) = slow_sync_conn.predictions()
    assert record["status"] == "FAILURE"
    expected = f"Prediction {record['prediction_id']} failed: {record['status_message']}"
    assert expected in caplog.text
    if dag_name == "sync_test_deferrable":
        assert trigger_runs == [
            {"status": "failure", "prediction_id": record["prediction_id"], "message": expected}
        ]


def test_fault_injected_server_still_succeeds(
    slow_sync_conn: Any,
    dags: ModuleType,
    eventlog: Path,
    cluster_report: dict[str, Any],
    trigger_runs: list[dict[str, Any]],
) -> None:
    faults = slow_sync_conn.faults
    # Four failures in a row (absorbed by one call's retries), then random 503s and drops
    # while the deferred sensor's trigger polls.
    faults.add(STATUS_ROUTE, status=503, times=2)
    faults.add(STATUS_ROUTE, drop="before", times=1)
    faults.add(STATUS_ROUTE, drop="after", times=1)
    faults.add(STATUS_ROUTE, status=503, rate=0.25)
    faults.add(STATUS_ROUTE, drop="before", rate=0.1)
    faults.add("GET /v1/autotuner/predictions/{id}", status=502, times=1)
    faults.add("POST /v1/auth/token", status=503, times=2)
    dag_run = run(dags.sync_test_deferrable, eventlog, cluster_report)
    assert str(dag_run.state) == "success", states(dag_run)
    assert [event["status"] for event in trigger_runs] == ["success"]
    stats = slow_sync_conn.stats
    assert stats.injected_errors >= 5 and stats.dropped_connections >= 2, stats.snapshot()
