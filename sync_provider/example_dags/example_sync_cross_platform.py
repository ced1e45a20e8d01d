"""Example DAG: record a Spark job's run on EMR with Sync, then run it on Databricks from that prediction.

``launch_emr`` starts an EMR cluster for the job (Sync's tags, the event log in the project's S3
folder, and the code fingerprint of its steps); ``wait_for_emr`` waits in the triggerer until the
cluster has terminated after its steps; ``record_emr_run`` makes an ``aws-emr`` prediction of it;
once the prediction is ready, ``submit_on_databricks`` runs the same script on Databricks with the
prediction's solution translated to a Databricks cluster (``allow_cross_platform=True``: what could
not be carried over is logged as warnings) and merged into your cluster spec. Before submitting it
compares the code fingerprint of the Databricks task with the EMR run's: both run
``s3://my-code/etl.py``, so a change of that script is reported (the ``on_code_change`` param:
``"warn"`` by default; ``"fail"`` stops the task before anything is submitted).

It needs ``aws_default``, ``databricks_default`` and ``sync_default`` connections, an S3 bucket for
the EMR project location, and a Sync project (``project_id``) whose runs go to
``project_location`` (EMR) and ``databricks_project_location`` (Databricks log delivery).

``SYNC_EXAMPLE_POLL_SECONDS`` sets how often the tasks check the cluster, the run and the prediction
(default 60 s).
"""

# Templated arguments take XComArgs (``task.output``) where their annotations say ``str``.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG

from sync_provider.operators.databricks import SyncDatabricksSubmitRunOperator
from sync_provider.operators.emr import SyncEmrCreateJobFlowOperator, SyncEmrRecordRunOperator
from sync_provider.sensors.emr import SyncEmrClusterSensor
from sync_provider.sensors.sync import SyncPredictionSensor

POLL_SECONDS = float(os.environ.get("SYNC_EXAMPLE_POLL_SECONDS", "60"))

#: The job's script, run by the EMR step and by the Databricks task alike.
SCRIPT = "s3://my-code/etl.py"

JOB_FLOW: dict[str, Any] = {
    "Name": "nightly-etl",
    "ReleaseLabel": "emr-6.10.0",
    "LogUri": "s3://my-emr-logs/nightly-etl/",
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [
            {"Name": "Primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
            {"Name": "Core", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
        ],
        "KeepJobFlowAliveWhenNoSteps": False,
    },
    "Steps": [
        {
            "Name": "etl",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", SCRIPT]},
        }
    ],
    "JobFlowRole": "EMR_EC2_DefaultRole",
    "ServiceRole": "EMR_DefaultRole",
    "Tags": [{"Key": "team", "Value": "data"}],
}

# [START howto_sync_cross_platform_databricks_base]
#: The Databricks base: the runtime, the instance profile and your tags. The translated EMR
#: solution decides node types, worker count, Spark settings and AWS availability.
CLUSTER: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "ON_DEMAND", "zone_id": "us-east-1a"},
    "custom_tags": {"team": "data"},
}
TASK: dict[str, Any] = {"spark_python_task": {"python_file": SCRIPT}}
# [END howto_sync_cross_platform_databricks_base]

with DAG(
    dag_id="example_sync_cross_platform",
    description="Record a Spark job on EMR with Sync and run it on Databricks from the EMR prediction.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "sync", "emr", "databricks"],
    params={
        "project_id": "",
        "project_location": "s3://my-sync-projects/emr",
        "databricks_project_location": "s3://my-sync-projects/databricks",
        "preference": "economy",
        "on_code_change": "warn",
    },
) as dag:
    launch_emr = SyncEmrCreateJobFlowOperator(
        task_id="launch_emr",
        project_id="{{ params.project_id }}",
        project_location="{{ params.project_location }}",
        job_flow_overrides=JOB_FLOW,
    )
    wait_for_emr = SyncEmrClusterSensor(
        task_id="wait_for_emr",
        cluster_id=launch_emr.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=6 * 3600,
    )
    record_emr_run = SyncEmrRecordRunOperator(task_id="record_emr_run", cluster_id=launch_emr.output)
    wait_for_prediction = SyncPredictionSensor(
        task_id="wait_for_prediction",
        prediction_id=record_emr_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
    )

    # [START howto_operator_sync_cross_platform_submit]
    submit_on_databricks = SyncDatabricksSubmitRunOperator(
        task_id="submit_on_databricks",
        prediction_id=record_emr_run.output,  # an aws-emr prediction
        preference="{{ params.preference }}",
        allow_cross_platform=True,  # translate it; without this the task fails before submitting
        on_code_change="{{ params.on_code_change }}",  # "warn", or "fail": stop if the script changed
        new_cluster=CLUSTER,
        task=TASK,
        project_id="{{ params.project_id }}",
        project_location="{{ params.databricks_project_location }}",
        aws_conn_id="aws_default",  # reads s3://my-code/etl.py for the code fingerprint
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_poll_interval=max(POLL_SECONDS, 300),
    )
    # [END howto_operator_sync_cross_platform_submit]

    launch_emr >> wait_for_emr >> record_emr_run >> wait_for_prediction >> submit_on_databricks


if __name__ == "__main__":
    dag.test()
