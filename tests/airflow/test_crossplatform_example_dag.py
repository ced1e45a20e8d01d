"""The packaged cross-platform example DAG: an EMR run recorded as a prediction, then a Databricks run
launched from it with ``allow_cross_platform=True``. Its shape, and that it parses cleanly with the
other example DAGs without side effects at import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

EXAMPLES = Path(__file__).resolve().parents[2] / "sync_provider" / "example_dags"


def test_example_dag_shape() -> None:
    from sync_provider.example_dags.example_sync_cross_platform import SCRIPT, dag
    from sync_provider.operators.databricks import SyncDatabricksSubmitRunOperator

    assert dag.dag_id == "example_sync_cross_platform"
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "launch_emr": ["record_emr_run", "wait_for_emr"],
        "wait_for_emr": ["record_emr_run"],
        "record_emr_run": ["submit_on_databricks", "wait_for_prediction"],
        "wait_for_prediction": ["submit_on_databricks"],
        "submit_on_databricks": [],
    }
    submit = dag.get_task("submit_on_databricks")
    assert isinstance(submit, SyncDatabricksSubmitRunOperator)
    assert submit.allow_cross_platform is True and submit.on_code_change == "warn"
    assert submit.task["spark_python_task"]["python_file"] == SCRIPT  # the EMR step's script
    launch = dag.get_task("launch_emr")
    assert SCRIPT in launch.job_flow_overrides["Steps"][0]["HadoopJarStep"]["Args"]


def test_example_dags_parse_together_without_side_effects(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(EXAMPLES)!r})\n"
        "heavy = [m for m in ('boto3', 'requests', 'sync_provider.core.crossplatform',"
        " 'sync_provider.core.fingerprint') if m in sys.modules]\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids), 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "example_sync_cross_platform" in result["dags"]
    assert {"example_sync_emr", "example_sync_databricks"} <= set(result["dags"])
    assert not [m for m in result["heavy"] if m.startswith("sync_provider.core.")]
    assert list(tmp_path.iterdir()) == []  # parsing wrote nothing
