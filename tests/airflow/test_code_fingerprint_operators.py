"""Code fingerprints in the launch operators: every launch records ``sync:code-hash`` and
``code-fingerprint.json``; launching from a prediction compares with the basis run's fingerprint and
warns, or fails before anything is launched; unreadable code makes a partial fingerprint (a warning,
never a failure). EMR against the AWS simulator, Databricks against the local workspace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from sync_provider.core.backoff import Backoff
from sync_provider.core.fingerprint import CODE_HASH_TAG, FINGERPRINT_FILE
from sync_provider.operators.databricks import (
    SyncDatabricksRecordRunOperator,
    SyncDatabricksSubmitRunOperator,
)
from sync_provider.operators.emr import SyncEmrCreateJobFlowOperator, SyncEmrRecordRunOperator
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow import databricks_fixtures as dbx_fx
from tests.airflow import emr_fixtures as emr_fx
from tests.airflow.databricks_fixtures import dbx, fast_hook_retries
from tests.airflow.emr_fixtures import project, sim, simulator

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "fast_hook_retries", "project", "sim", "simulator"]  # fixtures imported for this module

PROJECT = "11111111-2222-4333-8444-555555555555"
CODE_BUCKET = "code"
SCRIPT = f"s3://{CODE_BUCKET}/job0.py"
NOTEBOOK = "/Workspace/etl/job.py"


class Recorder:
    """Stands in for an operator's ``log``: keeps ``(level, message)``."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _add(self, level: str, msg: Any, *args: Any, **_: Any) -> None:
        self.records.append((level, str(msg) % args if args else str(msg)))

    def debug(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("debug", msg, *args)

    def info(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("info", msg, *args)

    def warning(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("warning", msg, *args)

    def error(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("error", msg, *args)

    def exception(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("error", msg, *args)

    def warnings(self) -> list[str]:
        return [m for level, m in self.records if level == "warning"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every Sync launch operator logs into one :class:`Recorder`."""
    rec = Recorder()
    for cls in (SyncEmrCreateJobFlowOperator, SyncDatabricksSubmitRunOperator):
        monkeypatch.setattr(cls, "log", property(lambda self: rec))
    return rec


def wait_prediction(sync_client: Any, prediction_id: str) -> Any:
    from sync_provider.core.predictions import wait_for_prediction

    poll = Backoff(initial=0.05, maximum=0.2)
    return wait_for_prediction(prediction_id, timeout_s=30, poll=poll, client=sync_client).unwrap()


# -- EMR ------------------------------------------------------------------------------------------------


def emr_op(**kwargs: Any) -> SyncEmrCreateJobFlowOperator:
    values: dict[str, Any] = {
        "task_id": "launch",
        "project_id": PROJECT,
        "project_location": emr_fx.LOCATION,
        "job_flow_overrides": emr_fx.job_flow(),
        "emr_conn_id": None,
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        "timeout": 30,
    }
    values.update(kwargs)
    return SyncEmrCreateJobFlowOperator(**values)


def put_script(sim: AwsSimulator, body: bytes, key: str = "job0.py") -> None:
    s3 = sim.client("s3")
    if CODE_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=body)


def emr_tags(sim: AwsSimulator, cluster_id: str) -> dict[str, str]:
    cluster = sim.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    return {t["Key"]: t["Value"] for t in cluster["Tags"]}


def emr_saved(sim: AwsSimulator, run_prefix: str) -> dict[str, Any]:
    key = run_prefix.removeprefix(f"s3://{emr_fx.BUCKET}/").rstrip("/") + "/" + FINGERPRINT_FILE
    body = sim.client("s3").get_object(Bucket=emr_fx.BUCKET, Key=key)["Body"].read()
    saved: dict[str, Any] = json.loads(body)
    return saved


def emr_basis(sim: AwsSimulator, sync_client: Any, project: str) -> tuple[str, str]:
    """Launch, wait, record: return the prediction id and the basis run's code hash."""
    ti = emr_fx.FakeTI(run_id="basis")
    cluster_id = emr_op(project_id=project, wait_for_completion=True).execute(emr_fx.make_context(ti))
    prediction_id = SyncEmrRecordRunOperator(task_id="record", cluster_id=cluster_id).execute(
        emr_fx.make_context(emr_fx.FakeTI(run_id="basis", task_id="record"))
    )
    wait_prediction(sync_client, prediction_id)
    return prediction_id, emr_tags(sim, cluster_id)[CODE_HASH_TAG]


def test_emr_every_launch_records_its_fingerprint(sim: AwsSimulator, recorder: Recorder) -> None:
    put_script(sim, b"print('v1')\n")
    ti = emr_fx.FakeTI()
    cluster_id = emr_op().execute(emr_fx.make_context(ti))
    code_hash = emr_tags(sim, cluster_id)[CODE_HASH_TAG]
    saved = emr_saved(sim, ti.xcoms["sync_run_prefix"])
    assert saved["hash"] == code_hash and saved["platform"] == "aws-emr" and not saved["unreadable"]
    assert any(item["location"] == SCRIPT for item in saved["items"])
    assert recorder.warnings() == []
    sim.terminate_all()


def test_emr_unreadable_code_is_listed_and_only_warned(sim: AwsSimulator, recorder: Recorder) -> None:
    ti = emr_fx.FakeTI()
    cluster_id = emr_op().execute(emr_fx.make_context(ti))  # s3://code/job0.py does not exist
    assert sim.run_job_flow_count() == 1
    saved = emr_saved(sim, ti.xcoms["sync_run_prefix"])
    assert saved["hash"] == emr_tags(sim, cluster_id)[CODE_HASH_TAG]
    assert saved["unreadable"] and SCRIPT in saved["unreadable"][0]
    assert any("partial" in w and SCRIPT in w for w in recorder.warnings())
    sim.terminate_all()


def test_emr_on_code_change_must_be_warn_or_fail(sim: AwsSimulator) -> None:
    with pytest.raises(AirflowException, match="on_code_change must be 'warn' or 'fail', not 'ignore'"):
        emr_op(on_code_change="ignore").execute(emr_fx.make_context())
    assert sim.run_job_flow_count() == 0
    assert "on_code_change" in SyncEmrCreateJobFlowOperator.template_fields


def test_emr_from_a_prediction_unchanged_changed_and_refused(
    sim: AwsSimulator, project: str, sync_client: Any, recorder: Recorder
) -> None:
    put_script(sim, b"print('v1')\n")
    prediction_id, basis_hash = emr_basis(sim, sync_client, project)
    recorder.records.clear()

    # Unchanged: no warning, the same hash on the new cluster.
    ti = emr_fx.FakeTI(run_id="same")
    same = emr_op(project_id=project, prediction_id=prediction_id).execute(emr_fx.make_context(ti))
    assert emr_tags(sim, same)[CODE_HASH_TAG] == basis_hash
    assert emr_saved(sim, ti.xcoms["sync_run_prefix"])["hash"] == basis_hash
    assert not [w for w in recorder.warnings() if "changed" in w]
    assert any(
        f"Code unchanged since the basis run (fingerprint {basis_hash})" in m for _, m in recorder.records
    )
    sim.terminate_all()

    # Changed, on_code_change="fail": an error naming both fingerprints and the change, nothing launched.
    put_script(sim, b"print('v2')\n")
    launched = sim.run_job_flow_count()
    with pytest.raises(AirflowException) as caught:
        emr_op(project_id=project, prediction_id=prediction_id, on_code_change="fail").execute(
            emr_fx.make_context(emr_fx.FakeTI(run_id="fail"))
        )
    message = str(caught.value)
    assert basis_hash in message and SCRIPT in message and "changed" in message
    assert "Nothing was launched" in message
    assert sim.run_job_flow_count() == launched

    # Changed, default "warn": a warning naming both fingerprints, and the cluster launches.
    recorder.records.clear()
    ti = emr_fx.FakeTI(run_id="warn")
    changed = emr_op(project_id=project, prediction_id=prediction_id).execute(emr_fx.make_context(ti))
    new_hash = emr_tags(sim, changed)[CODE_HASH_TAG]
    assert new_hash != basis_hash and sim.run_job_flow_count() == launched + 1
    (warning,) = [w for w in recorder.warnings() if "code changed" in w]
    assert basis_hash in warning and new_hash in warning and SCRIPT in warning
    sim.terminate_all()


# -- Databricks -----------------------------------------------------------------------------------------


PY_TASK: dict[str, Any] = {"spark_python_task": {"python_file": NOTEBOOK}}


def dbx_op(**kwargs: Any) -> SyncDatabricksSubmitRunOperator:
    values: dict[str, Any] = {
        "task_id": "submit",
        "task": PY_TASK,
        "new_cluster": dbx_fx.SPEC,
        "project_id": PROJECT,
        "project_location": dbx_fx.DBFS,
        "databricks_retry_delay": 0.01,
        **dbx_fx.FAST,
    }
    values.update(kwargs)
    return SyncDatabricksSubmitRunOperator(**values)


def dbx_cluster(dbx: LocalDatabricks, cluster_id: str) -> dict[str, Any]:
    cluster: dict[str, Any] = dbx.client().call(
        "GET", "2.0/clusters/get", {"cluster_id": cluster_id}, idempotent=True
    )
    return cluster


def dbx_saved(dbx: LocalDatabricks, project: str, sync_run_id: str) -> dict[str, Any]:
    path = f"{dbx_fx.DBFS}/{project}/{sync_run_id}/{FINGERPRINT_FILE}"
    answer = dbx.client().call("GET", "2.0/dbfs/read", {"path": path, "length": 1 << 20}, idempotent=True)
    import base64

    saved: dict[str, Any] = json.loads(base64.b64decode(answer["data"]))
    return saved


def dbx_project(sync_server: Any, sync_client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    from sync_provider.core.projects import create_project
    from tests.airflow.conftest import conn_json

    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    created = create_project("etl", "aws-databricks", cluster_log_url=dbx_fx.DBFS, client=sync_client)
    return str(created.unwrap().id)


def test_databricks_every_run_records_its_fingerprint(dbx: LocalDatabricks, recorder: Recorder) -> None:
    dbx.put_workspace(NOTEBOOK, b"print('v1')\n")
    ti = dbx_fx.FakeTI()
    dbx_op().execute(dbx_fx.make_context(ti))
    code_hash = dbx_cluster(dbx, ti.xcoms["cluster_id"])["custom_tags"][CODE_HASH_TAG]
    saved = dbx_saved(dbx, PROJECT, ti.xcoms["sync_run_id"])
    assert saved["hash"] == code_hash and saved["platform"] == "aws-databricks" and not saved["unreadable"]
    assert recorder.warnings() == []
    dbx.cancel_all()


def test_databricks_unreadable_code_is_listed_and_only_warned(
    dbx: LocalDatabricks, recorder: Recorder
) -> None:
    ti = dbx_fx.FakeTI()
    dbx_op().execute(dbx_fx.make_context(ti))  # the workspace file does not exist
    assert dbx.submit_count() == 1
    saved = dbx_saved(dbx, PROJECT, ti.xcoms["sync_run_id"])
    assert saved["unreadable"] and NOTEBOOK in saved["unreadable"][0]
    assert any("partial" in w and NOTEBOOK in w for w in recorder.warnings())
    dbx.cancel_all()


def test_databricks_on_code_change_must_be_warn_or_fail(dbx: LocalDatabricks) -> None:
    with pytest.raises(AirflowException, match="on_code_change must be 'warn' or 'fail', not 'never'"):
        dbx_op(on_code_change="never").execute(dbx_fx.make_context())
    assert dbx.submit_count() == 0
    assert "on_code_change" in SyncDatabricksSubmitRunOperator.template_fields


def test_databricks_from_a_prediction_unchanged_changed_and_refused(
    dbx: LocalDatabricks,
    sync_server: Any,
    sync_client: Any,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = dbx_project(sync_server, sync_client, monkeypatch)
    dbx.put_workspace(NOTEBOOK, b"print('v1')\n")
    run_id = dbx_op(project_id=project, wait_for_completion=True, deferrable=False).execute(
        dbx_fx.make_context(dbx_fx.FakeTI(task_id="basis"))
    )
    prediction_id = SyncDatabricksRecordRunOperator(
        task_id="record",
        run_id=run_id,
        log_poll_interval=0.05,
        max_log_poll_interval=0.1,
        log_timeout=15,
        databricks_retry_delay=0.01,
    ).execute(dbx_fx.make_context(dbx_fx.FakeTI(task_id="record")))
    wait_prediction(sync_client, prediction_id)
    recorder.records.clear()

    ti = dbx_fx.FakeTI(task_id="same")
    dbx_op(task_id="same", project_id=project, prediction_id=prediction_id).execute(dbx_fx.make_context(ti))
    basis_hash = dbx_cluster(dbx, ti.xcoms["cluster_id"])["custom_tags"][CODE_HASH_TAG]
    assert not [w for w in recorder.warnings() if "changed" in w]
    assert any(
        f"Code unchanged since the basis run (fingerprint {basis_hash})" in m for _, m in recorder.records
    )
    dbx.cancel_all()

    dbx.put_workspace(NOTEBOOK, b"print('v2')\n")
    submitted = dbx.submit_count()
    with pytest.raises(AirflowException) as caught:
        dbx_op(
            task_id="fail", project_id=project, prediction_id=prediction_id, on_code_change="fail"
        ).execute(dbx_fx.make_context(dbx_fx.FakeTI(task_id="fail")))
    message = str(caught.value)
    assert basis_hash in message and NOTEBOOK in message and "Nothing was submitted" in message
    assert dbx.submit_count() == submitted

    recorder.records.clear()
    ti = dbx_fx.FakeTI(task_id="warn")
    dbx_op(task_id="warn", project_id=project, prediction_id=prediction_id).execute(dbx_fx.make_context(ti))
    new_hash = dbx_cluster(dbx, ti.xcoms["cluster_id"])["custom_tags"][CODE_HASH_TAG]
    assert new_hash != basis_hash and dbx.submit_count() == submitted + 1
    (warning,) = [w for w in recorder.warnings() if "code changed" in w]
    assert basis_hash in warning and new_hash in warning and NOTEBOOK in warning
    dbx.cancel_all()
