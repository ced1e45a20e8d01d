"""Example DAG: an EMR run, its Sync prediction, and the next run launched from the prediction.

``launch`` starts a cluster from a RunJobFlow request with what Sync needs switched on (tags, the
Spark event log in the project's S3 folder); ``wait_for_cluster`` waits in the triggerer until it
has terminated after all its steps; ``record_run`` creates a prediction from the cluster report and
the event log; once the prediction is ready, ``launch_from_prediction`` starts the next cluster with
the recommended instances (``preference`` from the params) and waits for it; that run is recorded
too, so that ``compare_runs`` can set its recorded runtime and cost against the predicted ones.

It needs an ``aws_default`` connection (AWS, or the local simulator), a ``sync_default``
connection, an existing S3 bucket for ``project_location`` and a Sync project (``project_id``). To
run it offline, ``python -m sync_provider.cli.demo_emr`` starts the local stand-ins, creates the
bucket and the project, and runs ``airflow dags test example_sync_emr`` against them.

``SYNC_EXAMPLE_POLL_SECONDS`` sets how often the tasks check the cluster and the predictions
(default 60 s, suited to real EMR clusters; the offline demo uses a fraction of a second).
"""

# Templated arguments take XComArgs (``task.output``) where their annotations say ``str``.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from sync_provider.operators.emr import SyncEmrCreateJobFlowOperator, SyncEmrRecordRunOperator
from sync_provider.sensors.emr import SyncEmrClusterSensor
from sync_provider.sensors.sync import SyncPredictionSensor

POLL_SECONDS = float(os.environ.get("SYNC_EXAMPLE_POLL_SECONDS", "60"))

# [START howto_sync_emr_job_flow]
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
        # Terminate after the steps: the run is finished (and can be recorded) once the cluster is.
        "KeepJobFlowAliveWhenNoSteps": False,
    },
    "Steps": [
        {
            "Name": "etl",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": ["spark-submit", "--deploy-mode", "cluster", "s3://my-code/etl.py"],
            },
        }
    ],
    "JobFlowRole": "EMR_EC2_DefaultRole",
    "ServiceRole": "EMR_DefaultRole",
    "Tags": [{"Key": "team", "Value": "data"}],
}
# [END howto_sync_emr_job_flow]

with DAG(
    dag_id="example_sync_emr",
    description="Run a Spark job on EMR, record it with Sync, and run it again on the recommended cluster.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "sync", "emr"],
    params={
        "project_id": "",
        "project_location": "s3://my-sync-projects/emr",
        "preference": "economy",
    },
) as dag:
    # [START howto_operator_sync_emr_create_job_flow]
    launch = SyncEmrCreateJobFlowOperator(
        task_id="launch",
        project_id="{{ params.project_id }}",
        project_location="{{ params.project_location }}",
        job_flow_overrides=JOB_FLOW,
    )
    # [END howto_operator_sync_emr_create_job_flow]

    # [START howto_sensor_sync_emr_cluster]
    wait_for_cluster = SyncEmrClusterSensor(
        task_id="wait_for_cluster",
        cluster_id=launch.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=6 * 3600,
    )
    # [END howto_sensor_sync_emr_cluster]

    # [START howto_operator_sync_emr_record_run]
    record_run = SyncEmrRecordRunOperator(task_id="record_run", cluster_id=launch.output)
    # [END howto_operator_sync_emr_record_run]

    wait_for_prediction = SyncPredictionSensor(
        task_id="wait_for_prediction",
        prediction_id=record_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
    )

    # [START howto_operator_sync_emr_create_job_flow_from_prediction]
    launch_from_prediction = SyncEmrCreateJobFlowOperator(
        task_id="launch_from_prediction",
        project_id="{{ params.project_id }}",
        project_location="{{ params.project_location }}",
        job_flow_overrides=JOB_FLOW,  # steps, roles, tags and log URI are kept
        prediction_id=record_run.output,
        preference="{{ params.preference }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_poll_interval=max(POLL_SECONDS, 300),
    )
    # [END howto_operator_sync_emr_create_job_flow_from_prediction]

    record_next_run = SyncEmrRecordRunOperator(
        task_id="record_next_run", cluster_id=launch_from_prediction.output
    )
    wait_for_next_prediction = SyncPredictionSensor(
        task_id="wait_for_next_prediction",
        prediction_id=record_next_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
    )

    @task
    def compare_runs(next_prediction_id: str, **context: Any) -> dict[str, Any]:
        """Predicted runtime and cost of the second run against what it recorded."""
        from sync_provider.hooks.sync import SyncHook

        predicted = context["ti"].xcom_pull(task_ids="launch_from_prediction", key="solution_metrics")
        basis = SyncHook().get_prediction(next_prediction_id).basis
        recorded = basis.metrics.model_dump(mode="json") if basis else None
        print(f"Second run: predicted {predicted}, recorded {recorded}")
        return {"predicted": predicted, "recorded": recorded}

    launch >> wait_for_cluster >> record_run >> wait_for_prediction >> launch_from_prediction
    record_next_run >> wait_for_next_prediction
    compare_runs(wait_for_next_prediction.output)


if __name__ == "__main__":
    dag.test()
