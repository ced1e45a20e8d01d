"""The packaged cross-platform example DAG: an EMR run recorded as a prediction, then a Databricks run
launched from it with ``allow_cross_platform=True``. Its shape, that it parses cleanly with the
other example DAGs without side effects at import, and full ``dag.test()`` runs (deferrable sensors
and operator, triggers run inline) against the AWS simulator (EMR and S3, where the job's script
is), the local Databricks and the local Sync API."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.fingerprint import CODE_HASH_TAG
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow.databricks_fixtures import fast_hook_retries
from tests.airflow.emr_fixtures import BUCKET, LOCATION, project, sim, simulator
from tests.airflow.test_code_fingerprint_operators import Recorder, recorder
from tests.airflow.test_dag_runs import states, xcoms
from tests.core.databricks_fixtures import finish, make_dbx

pytestmark = pytest.mark.airflow
# fixtures imported for this module
__all__ = ["fast_hook_retries", "project", "recorder", "sim", "simulator"]

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
    assert submit.allow_cross_platform is True
    assert submit.on_code_change == "{{ params.on_code_change }}" and dag.params["on_code_change"] == "warn"
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


# -- end to end: dag.test() against the AWS simulator, the local Databricks and the local Sync API ------

CODE_BUCKET, CODE_KEY = "my-code", "etl.py"  # the example's SCRIPT, s3://my-code/etl.py
DBX_LOCATION = f"s3://{BUCKET}/databricks"
TASKS = ["launch_emr", "wait_for_emr", "record_emr_run", "wait_for_prediction", "submit_on_databricks"]


@pytest.fixture
def dbx(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch, fast_hook_retries: None
) -> Iterator[LocalDatabricks]:
    """The local Databricks as ``databricks_default``, delivering logs to the simulator's S3."""
    with make_dbx(s3_client=sim.client("s3")) as server:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", server.connection_json())
        yield server
        finish(server)


@pytest.fixture
def example(sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example DAG polling every 0.1 s, and its script in the simulator's S3."""
    import sync_provider.example_dags.example_sync_cross_platform as module

    s3 = sim.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=b"print('etl v1')\n")
    # The example reads SYNC_EXAMPLE_POLL_SECONDS when it is parsed: here, and by dag.test() in
    # tests/dags/sync_provider_crossplatform_dags.py.
    monkeypatch.setenv("SYNC_EXAMPLE_POLL_SECONDS", "0.1")
    module = importlib.reload(module)
    assert module.dag.get_task("submit_on_databricks").poll_interval == 0.1
    assert f"s3://{CODE_BUCKET}/{CODE_KEY}" == module.SCRIPT
    return module


def run_example(example: Any, project: str, **conf: Any) -> Any:
    return example.dag.test(
        run_conf={
            "project_id": project,
            "project_location": LOCATION,
            "databricks_project_location": DBX_LOCATION,
            **conf,
        }
    )


def dbx_get(dbx: LocalDatabricks, endpoint: str, **query: Any) -> dict[str, Any]:
    answer: dict[str, Any] = dbx.client().call("GET", endpoint, query, idempotent=True)
    return answer


def scripts(fingerprint: Any) -> list[tuple[str, str | None]]:
    """``(location, identity)`` of the S3 objects in a code fingerprint."""
    return [(item.location, item.identity) for item in fingerprint.items if item.kind == "s3-object"]


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs_end_to_end(
    example: Any,
    *,
    sim: AwsSimulator,
    dbx: LocalDatabricks,
    project: str,
    sync_client: Any,
    recorder: Recorder,
) -> None:
    from sync_provider.core.fingerprint import fingerprint_url, load_fingerprint
    from sync_provider.core.predictions import get_prediction

    dag_run = run_example(example, project)

    assert str(dag_run.state) == "success", states(dag_run)
    assert states(dag_run) == dict.fromkeys(TASKS, "success")
    values = xcoms(dag_run)
    assert sim.run_job_flow_count() == 1 and sim.running_clusters() == []
    assert dbx.submit_count() == 1 and dbx.active_runs() == [] and dbx.running_clusters() == []

    # The Databricks cluster is the EMR prediction's economy solution, translated.
    prediction_id = values[("record_emr_run", "return_value")]
    assert values[("wait_for_prediction", "return_value")] == prediction_id
    prediction = get_prediction(prediction_id, "economy", client=sync_client).unwrap()
    assert prediction.product_code == "aws-emr" and prediction.status == "SUCCESS"
    solution = prediction.solution("economy")
    groups = solution.configuration["Instances"]["InstanceGroups"]
    workers = [g for g in groups if g["InstanceRole"] in ("CORE", "TASK")]
    master = next(g for g in groups if g["InstanceRole"] == "MASTER")
    cluster = dbx_get(dbx, "2.0/clusters/get", cluster_id=values[("submit_on_databricks", "cluster_id")])
    assert cluster["node_type_id"] == workers[0]["InstanceType"]
    assert cluster["num_workers"] == sum(g["InstanceCount"] for g in workers)
    assert cluster["num_workers"] != example.CLUSTER["num_workers"]  # the solution's, not the base's
    assert cluster.get("driver_node_type_id", cluster["node_type_id"]) == master["InstanceType"]
    assert values[("submit_on_databricks", "solution_metrics")] == solution.metrics.model_dump(mode="json")
    # The rest is the example's base spec, with Sync's tags and log delivery added.
    assert cluster["spark_version"] == example.CLUSTER["spark_version"]
    tags = cluster["custom_tags"]
    assert tags["team"] == "data" and tags["sync:project-id"] == project
    assert tags["sync:run-id"] == values[("submit_on_databricks", "sync_run_id")]
    destination = cluster["cluster_log_conf"]["s3"]["destination"]
    assert destination.startswith(f"{DBX_LOCATION}/{project}/")
    run = dbx_get(dbx, "2.1/jobs/runs/get", run_id=values[("submit_on_databricks", "return_value")])
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["tasks"][0]["spark_python_task"]["python_file"] == example.SCRIPT

    # What the translation could not carry over is logged as warnings.
    notes = [w for w in recorder.warnings() if w.startswith("Cross-platform translation: ")]
    assert notes, recorder.records
    assert any(f"Prediction {prediction_id} was made on EMR" in m for _, m in recorder.records)

    # Both runs recorded their code fingerprint (tag and file); both read the same script in S3,
    # unchanged, so the comparison saw no change.
    s3 = sim.client("s3")
    emr_file = fingerprint_url(values[("launch_emr", "sync_run_prefix")])
    emr_print = load_fingerprint(emr_file, s3_client=s3).unwrap()
    dbx_print = load_fingerprint(fingerprint_url(destination), s3_client=s3).unwrap()
    assert tags[CODE_HASH_TAG] == dbx_print.hash and dbx_print.platform == "aws-databricks"
    assert emr_tag(sim, values[("launch_emr", "return_value")]) == emr_print.hash
    assert [location for location, _ in scripts(emr_print)] == [example.SCRIPT]
    assert scripts(dbx_print) == scripts(emr_print)
    assert not [w for w in recorder.warnings() if "code changed" in w]


def emr_tag(sim: AwsSimulator, cluster_id: str) -> str | None:
    cluster = sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    return next((t["Value"] for t in cluster["Tags"] if t["Key"] == CODE_HASH_TAG), None)


@pytest.mark.usefixtures("airflow_db")
def test_changed_script_fails_before_anything_is_submitted(
    example: Any,
    *,
    sim: AwsSimulator,
    dbx: LocalDatabricks,
    project: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sync_provider.operators.emr import SyncEmrRecordRunOperator

    record = SyncEmrRecordRunOperator.execute

    def record_then_change_the_script(self: Any, context: Any) -> Any:
        """Someone pushes a new etl.py while the EMR run is being recorded."""
        prediction_id = record(self, context)
        sim.client("s3").put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=b"print('etl v2')\n")
        return prediction_id

    monkeypatch.setattr(SyncEmrRecordRunOperator, "execute", record_then_change_the_script)
    dag_run = run_example(example, project, on_code_change="fail")

    assert str(dag_run.state) == "failed"
    assert states(dag_run) == {**dict.fromkeys(TASKS, "success"), "submit_on_databricks": "failed"}
    assert dbx.submit_count() == 0 and dbx.requests("jobs/runs/submit") == []
    assert dbx.requests("clusters/create") == []
    assert sim.run_job_flow_count() == 1 and sim.running_clusters() == []
    # The task's error (in its log) names the script that changed, and that nothing was submitted.
    out = capsys.readouterr().out
    (error,) = [line for line in out.splitlines() if line.startswith("airflow.sdk.exceptions.Airflow")]
    assert "The application code changed since the prediction's basis run" in error
    assert f"changed: s3-object {example.SCRIPT}" in error and error.endswith("Nothing was submitted.")
