"""The packaged EMR example DAG: its shape, and a full ``dag.test()`` run (deferrable sensors and
operator, triggers run inline) against moto's server through the AWS simulator and the local Sync API."""

from __future__ import annotations

from typing import Any

import pytest

from sync_provider.testing.aws import AwsSimulator
from tests.airflow.emr_fixtures import LOCATION, project, sim, simulator
from tests.airflow.test_dag_runs import states, xcoms

pytestmark = pytest.mark.airflow
__all__ = ["project", "sim", "simulator"]  # fixtures imported for this module

TASKS = [
    "launch",
    "wait_for_cluster",
    "record_run",
    "wait_for_prediction",
    "launch_from_prediction",
    "record_next_run",
    "wait_for_next_prediction",
    "compare_runs",
]


def task_state(dag_run: Any) -> dict[tuple[str, str], Any]:
    import json

    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(TaskStateStoreModel).where(
        TaskStateStoreModel.dag_id == dag_run.dag_id, TaskStateStoreModel.run_id == dag_run.run_id
    )
    with create_session() as session:
        return {(row.task_id, row.key): json.loads(row.value) for row in session.scalars(query)}


def test_example_dag_shape() -> None:
    from sync_provider.example_dags.example_sync_emr import dag

    assert dag.dag_id == "example_sync_emr"
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "launch": ["record_run", "wait_for_cluster"],
        "wait_for_cluster": ["record_run"],
        "record_run": ["launch_from_prediction", "wait_for_prediction"],
        "wait_for_prediction": ["launch_from_prediction"],
        "launch_from_prediction": ["record_next_run"],
        "record_next_run": ["wait_for_next_prediction"],
        "wait_for_next_prediction": ["compare_runs"],
        "compare_runs": [],
    }
    assert all(
        getattr(dag.get_task(t), "deferrable", False) for t in ("wait_for_cluster", "launch_from_prediction")
    )
    assert dag.params["preference"] == "economy"


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs_end_to_end(
    sim: AwsSimulator, project: str, sync_conn: Any, sync_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import sync_provider.example_dags.example_sync_emr as example
    from sync_provider.core.predictions import get_prediction

    # Poll fast; the example reads SYNC_EXAMPLE_POLL_SECONDS when it is parsed (here, and by
    # dag.test() in tests/dags/sync_provider_emr_dags.py).
    monkeypatch.setenv("SYNC_EXAMPLE_POLL_SECONDS", "0.2")
    dag = importlib.reload(example).dag
    assert dag.get_task("launch_from_prediction").poll_interval == 0.2
    dag_run = dag.test(
        run_conf={"project_id": project, "project_location": LOCATION, "preference": "economy"}
    )
    assert str(dag_run.state) == "success", states(dag_run)
    assert states(dag_run) == dict.fromkeys(TASKS, "success")

    values = xcoms(dag_run)
    first, second = values[("launch", "return_value")], values[("launch_from_prediction", "return_value")]
    assert first != second and sim.run_job_flow_count() == 2 and sim.running_clusters() == []
    assert values[("wait_for_cluster", "return_value")] == first
    for task_id, cluster_id in (("launch", first), ("launch_from_prediction", second)):
        tags = {
            t["Key"]: t["Value"]
            for t in sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]["Tags"]
        }
        assert values[(task_id, "sync_run_id")] == tags["sync:run-id"] and tags["sync:project-id"] == project
        assert values[(task_id, "sync_emr_cluster")]["url"].endswith(f"#/clusterDetails/{cluster_id}")
        assert values[(task_id, "_link_SyncEmrClusterLink")].endswith(f"#/clusterDetails/{cluster_id}")
    prediction_ids = [values[("record_run", "return_value")], values[("record_next_run", "return_value")]]
    assert values[("wait_for_next_prediction", "return_value")] == prediction_ids[1]
    assert [p["prediction_id"] for p in sync_conn.predictions()] == prediction_ids
    assert [p["status"] for p in sync_conn.predictions()] == ["SUCCESS", "SUCCESS"]

    first_prediction = get_prediction(prediction_ids[0], client=sync_client).unwrap()
    economy = first_prediction.solution("economy")
    assert values[("launch_from_prediction", "solution_metrics")] == economy.metrics.model_dump(mode="json")
    assert values[("launch_from_prediction", "sync_prediction_id")] == prediction_ids[0]
    assert values[("record_run", "_link_SyncPredictionLink")].endswith(f"/predictions/{prediction_ids[0]}")
    groups = sim.client("emr").list_instance_groups(ClusterId=second)["InstanceGroups"]
    assert sorted(
        (g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"]) for g in groups
    ) == sorted(
        (g["InstanceRole"], g["InstanceType"], g["InstanceCount"])
        for g in economy.configuration["Instances"]["InstanceGroups"]
    )
    # Airflow 3.3 kept each launch's cluster in the task state store (what a retry re-attaches to).
    stored = task_state(dag_run)
    assert stored[("launch", "sync_emr_cluster")]["cluster_id"] == first
    assert stored[("launch_from_prediction", "sync_emr_cluster")]["cluster_id"] == second
    assert stored[("launch_from_prediction", "sync_emr_cluster")]["done"] is True
    comparison = values[("compare_runs", "return_value")]
    second_prediction = get_prediction(prediction_ids[1], client=sync_client).unwrap()
    assert second_prediction.basis is not None
    assert comparison == {
        "predicted": economy.metrics.model_dump(mode="json"),
        "recorded": second_prediction.basis.metrics.model_dump(mode="json"),
    }
