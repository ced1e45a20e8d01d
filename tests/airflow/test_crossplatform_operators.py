"""Predictions of the other platform in the launch operators: refused without
``allow_cross_platform`` (nothing launched), translated with it (the notes logged as warnings, the
cluster launched from the translated configuration, the code fingerprint still recorded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from sync_provider.core.fingerprint import CODE_HASH_TAG
from sync_provider.core.models import Prediction
from sync_provider.operators.databricks import SyncDatabricksRecordRunOperator
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow import databricks_fixtures as dbx_fx
from tests.airflow import emr_fixtures as emr_fx
from tests.airflow.conftest import create_prediction, wait_until_finished
from tests.airflow.databricks_fixtures import dbx, fast_hook_retries
from tests.airflow.emr_fixtures import sim, simulator
from tests.airflow.test_code_fingerprint_operators import (
    PROJECT,
    Recorder,
    dbx_cluster,
    dbx_op,
    dbx_project,
    emr_op,
    emr_tags,
    recorder,
    wait_prediction,
)

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "fast_hook_retries", "recorder", "sim", "simulator"]  # fixtures imported for this module


@pytest.fixture
def databricks_prediction(
    dbx: LocalDatabricks, sync_server: Any, sync_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Prediction:
    """A successful aws-databricks prediction of a run of the Databricks test spec."""
    project = dbx_project(sync_server, sync_client, monkeypatch)
    dbx.put_workspace("/Workspace/etl/job.py", b"print('v1')\n")
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
    prediction: Prediction = wait_prediction(sync_client, prediction_id)
    assert prediction.status == "SUCCESS"
    return prediction


@pytest.fixture
def emr_prediction(sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]) -> str:
    """A successful aws-emr prediction (made directly on the local Sync API)."""
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    return prediction_id


# -- EMR from a Databricks prediction ----------------------------------------------------------------------


def test_emr_refuses_a_databricks_prediction_without_the_flag(
    sim: AwsSimulator, databricks_prediction: Prediction
) -> None:
    before = sim.run_job_flow_count()
    with pytest.raises(AirflowException) as caught:
        emr_op(prediction_id=databricks_prediction.prediction_id).execute(emr_fx.make_context())
    message = str(caught.value)
    assert "is for aws-databricks, not aws-emr" in message
    assert "set allow_cross_platform=True on launch" in message and "Nothing was launched" in message
    assert sim.run_job_flow_count() == before == 0


def test_emr_launches_from_a_databricks_prediction_with_the_flag(
    sim: AwsSimulator, databricks_prediction: Prediction, recorder: Recorder
) -> None:
    ti = emr_fx.FakeTI()
    cluster_id = emr_op(
        prediction_id=databricks_prediction.prediction_id,
        allow_cross_platform=True,
        on_code_change="fail",  # a bare Databricks hash cannot be compared: never a failure
    ).execute(emr_fx.make_context(ti))
    assert sim.run_job_flow_count() == 1
    solution = databricks_prediction.solution("economy").configuration
    groups = sim.client("emr").list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
    types = {g["InstanceGroupType"]: g["InstanceType"] for g in groups}
    assert types["CORE"] == solution["node_type_id"]
    assert types["MASTER"] == solution.get("driver_node_type_id", solution["node_type_id"])
    workers = sum(g["RequestedInstanceCount"] for g in groups if g["InstanceGroupType"] != "MASTER")
    assert workers == solution["num_workers"]
    tags = emr_tags(sim, cluster_id)
    assert tags["team"] == "data" and tags["sync:project-id"] == PROJECT and CODE_HASH_TAG in tags
    assert tags["sync:run-id"] == ti.xcoms["sync_run_id"]
    assert ti.xcoms["sync_prediction_id"] == databricks_prediction.prediction_id
    notes = [w for w in recorder.warnings() if w.startswith("Cross-platform translation: ")]
    assert notes, recorder.records
    assert any("translated to EMR" in m for _, m in recorder.records)
    sim.terminate_all()


# -- Databricks from an EMR prediction ---------------------------------------------------------------------


def test_databricks_refuses_an_emr_prediction_without_the_flag(
    dbx: LocalDatabricks, emr_prediction: str
) -> None:
    with pytest.raises(AirflowException) as caught:
        dbx_op(prediction_id=emr_prediction).execute(dbx_fx.make_context())
    message = str(caught.value)
    assert "is for aws-emr, not aws-databricks" in message
    assert "set allow_cross_platform=True on submit" in message and "Nothing was launched" in message
    assert dbx.submit_count() == 0


def test_databricks_submits_from_an_emr_prediction_with_the_flag(
    dbx: LocalDatabricks, emr_prediction: str, sync_client: Any, recorder: Recorder
) -> None:
    from sync_provider.core.predictions import get_prediction

    dbx.put_workspace("/Workspace/etl/job.py", b"print('v1')\n")
    ti = dbx_fx.FakeTI()
    dbx_op(
        prediction_id=emr_prediction,
        allow_cross_platform=True,
        new_cluster={**dbx_fx.SPEC, "custom_tags": {"team": "data"}},
    ).execute(dbx_fx.make_context(ti))
    assert dbx.submit_count() == 1
    prediction = get_prediction(emr_prediction, "economy", client=sync_client).unwrap()
    groups = prediction.solution("economy").configuration["Instances"]["InstanceGroups"]
    core = next(g for g in groups if g["InstanceRole"] == "CORE")
    cluster = dbx_cluster(dbx, ti.xcoms["cluster_id"])
    assert cluster["node_type_id"] == core["InstanceType"]
    assert cluster["custom_tags"]["team"] == "data" and CODE_HASH_TAG in cluster["custom_tags"]
    assert cluster["spark_version"] == dbx_fx.SPEC["spark_version"]
    assert ti.xcoms["solution_metrics"] == prediction.solution("economy").metrics.model_dump(mode="json")
    notes = [w for w in recorder.warnings() if w.startswith("Cross-platform translation: ")]
    assert notes, recorder.records
    dbx.cancel_all()
