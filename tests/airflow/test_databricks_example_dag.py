"""The packaged Databricks example DAG: its shape, and a deferrable run end to end with ``dag.test()``
against the local workspace and the local Sync API (triggers run inline)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow.databricks_fixtures import DBFS, fast_hook_retries, project
from tests.airflow.test_dag_runs import states, xcoms
from tests.core.databricks_fixtures import finish, make_dbx

pytestmark = pytest.mark.airflow
__all__ = ["fast_hook_retries", "project"]


@pytest.fixture
def dbx(monkeypatch: pytest.MonkeyPatch, fast_hook_retries: None) -> Iterator[LocalDatabricks]:
    """Runs of 3 s: long enough that the sensor, which checks once before deferring, always defers."""
    with make_dbx(phase_s=1.0) as server:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", server.connection_json())
        yield server
        finish(server)


def test_example_dag_shape() -> None:
    from sync_provider.example_dags.example_sync_databricks import dag

    assert dag.dag_id == "example_sync_databricks"
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "submit_run": ["record_run", "wait_for_run"],
        "wait_for_run": ["record_run"],
        "record_run": ["submit_predicted_run", "wait_for_prediction"],
        "wait_for_prediction": ["submit_predicted_run"],
        "submit_predicted_run": ["record_predicted_run"],
        "record_predicted_run": ["compare_runs", "wait_for_second_prediction"],
        "wait_for_second_prediction": ["compare_runs"],
        "compare_runs": [],
    }
    submit = dag.get_task("submit_predicted_run")
    assert getattr(submit, "deferrable", False) and getattr(submit, "wait_for_completion", False)
    assert getattr(dag.get_task("wait_for_run"), "deferrable", False)


@pytest.fixture
def trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records the payload of every SyncDatabricksRunTrigger event (dag.test() runs triggers inline)."""
    from sync_provider.triggers.databricks import SyncDatabricksRunTrigger

    events: list[dict[str, Any]] = []
    original = SyncDatabricksRunTrigger.run

    async def recording_run(self: SyncDatabricksRunTrigger) -> AsyncIterator[Any]:
        async for event in original(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(SyncDatabricksRunTrigger, "run", recording_run)
    return events


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs_end_to_end(
    dbx: LocalDatabricks,
    project: str,
    sync_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    trigger_events: list[dict[str, Any]],
) -> None:
    monkeypatch.setenv("SYNC_EXAMPLE_POLL_SECONDS", "0.1")
    import sync_provider.example_dags.example_sync_databricks as example

    example = importlib.reload(example)  # polls every 0.1 s
    # tests/dags/sync_provider_example_databricks_dag.py puts the DAG in the dags-folder bundle.
    dag_run = example.dag.test(
        run_conf={"project_id": project, "project_location": DBFS, "preference": "balanced"}
    )

    assert str(dag_run.state) == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}
    values = xcoms(dag_run)
    first, second = values[("submit_run", "return_value")], values[("submit_predicted_run", "return_value")]
    assert dbx.submit_count() == 2 and first != second
    assert dbx.active_runs() == [] and dbx.running_clusters() == []
    assert [(e["status"], e["run_id"]) for e in trigger_events] == [("success", first), ("success", second)]

    records = {p["prediction_id"]: p for p in sync_server.predictions()}
    assert len(records) == 2 and all(p["status"] == "SUCCESS" for p in records.values())
    prediction = records[values[("record_run", "return_value")]]
    recorded = records[values[("record_predicted_run", "return_value")]]
    solution = prediction["all_solutions"]["balanced"]
    assert values[("submit_predicted_run", "solution_metrics")] == solution["metrics"]
    cluster = dbx.client().call(
        "GET",
        "2.0/clusters/get",
        {"cluster_id": values[("submit_predicted_run", "cluster_id")]},
        idempotent=True,
    )
    for key in ("node_type_id", "num_workers"):
        assert cluster[key] == solution["configuration"][key]
    assert cluster["custom_tags"]["team"] == "data-eng"
    run = dbx.client().call("GET", "2.1/jobs/runs/get", {"run_id": second}, idempotent=True)
    assert run["tasks"][0]["spark_python_task"]["parameters"] == ["--run", dag_run.run_id]  # rendered
    assert recorded["configs"]["cluster"]["cluster_id"] == cluster["cluster_id"]
    for task_id in ("submit_run", "submit_predicted_run"):
        run_id = values[(task_id, "return_value")]
        assert values[(task_id, "run_page_url")].endswith(f"/run/{run_id}")
        assert values[(task_id, "sync_databricks_run")] == {
            "run_id": run_id,
            "url": values[(task_id, "run_page_url")],
        }
        assert values[(task_id, "_link_SyncDatabricksRunLink")] == values[(task_id, "run_page_url")]
        assert values[(task_id, "sync_run_id")]
    comparison = values[("compare_runs", "return_value")]
    assert comparison["predicted"] == solution["metrics"]
    assert comparison["recorded"] == recorded["basis"]["metrics"]
    assert comparison["runtime_ratio"] == pytest.approx(1.0, rel=0.3)
