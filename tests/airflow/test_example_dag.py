"""The packaged example DAG parses, has the documented shape and runs against the local Sync API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.airflow.conftest import conn_json
from tests.airflow.test_dag_runs import states

pytestmark = pytest.mark.airflow


def test_example_dag_shape() -> None:
    from sync_provider.example_dags.example_sync_prediction import dag

    assert dag.dag_id == "example_sync_prediction"
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "collect_run": ["create_prediction"],
        "create_prediction": ["get_configuration", "wait_for_prediction"],
        "wait_for_prediction": ["get_configuration"],
        "get_configuration": ["show_configuration"],
        "show_configuration": [],
    }
    assert getattr(dag.get_task("wait_for_prediction"), "deferrable", False)


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs(sync_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_provider.example_dags.example_sync_prediction import dag

    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    dag_run = dag.test()  # tests/dags/sync_provider_example_dag.py puts it in the dags-folder bundle
    assert str(dag_run.state) == "success"
    (record,) = sync_server.predictions()
    assert record["status"] == "SUCCESS"
    assert states(dag_run) == dict.fromkeys(
        [
            "collect_run",
            "create_prediction",
            "wait_for_prediction",
            "get_configuration",
            "show_configuration",
        ],
        "success",
    )
