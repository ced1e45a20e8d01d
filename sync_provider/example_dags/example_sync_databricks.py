"""Example DAG: run a Databricks job Sync can predict, record it, and run it again on the predicted cluster.

submit the run (your cluster spec) -> wait for it -> record it as a Sync prediction -> wait for the
prediction -> submit the same task on the cluster the prediction recommends (waiting in the
triggerer) -> record that run too -> compare its recorded runtime and cost with the prediction.

It needs a ``databricks_default`` connection (the Databricks provider's), a ``sync_default``
connection, and a Sync project for Databricks: pass its id and log location as run conf, e.g.
``airflow dags test example_sync_databricks -c '{"project_id": "…", "project_location": "s3://…"}'``.
``python -m sync_provider.cli.demo_databricks`` runs it offline against local stand-ins.
"""

# Templated arguments take XComArgs (``task.output``) where their annotations say ``str`` or ``int``.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from sync_provider.operators.databricks import (
    SyncDatabricksRecordRunOperator,
    SyncDatabricksSubmitRunOperator,
)
from sync_provider.sensors.databricks import SyncDatabricksRunSensor
from sync_provider.sensors.sync import SyncPredictionSensor

#: How often the tasks check on runs, log delivery and predictions, in seconds. The offline demo,
#: whose local workspace runs a job in seconds, sets ``SYNC_EXAMPLE_POLL_SECONDS=0.5``.
POLL_SECONDS = float(os.environ.get("SYNC_EXAMPLE_POLL_SECONDS", "30"))

#: Your cluster spec (``clusters/create`` fields); Sync adds its tags and the log delivery.
CLUSTER: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "num_workers": 2,
    "spark_conf": {"spark.sql.shuffle.partitions": "64"},
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "zone_id": "us-east-1a"},
    "custom_tags": {"team": "data-eng"},
}
#: The run's task: exactly one task type, plus task settings.
TASK: dict[str, Any] = {
    "spark_python_task": {
        "python_file": "dbfs:/jobs/nightly_etl.py",
        "parameters": ["--run", "{{ run_id }}"],
    },
}

with DAG(
    dag_id="example_sync_databricks",
    description="Run a Databricks job, record it with Sync, and run it again on the predicted cluster.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "sync", "databricks"],
    params={
        "project_id": Param("", type="string", description="Your Sync project for Databricks."),
        "project_location": Param(
            "dbfs:/sync/projects", type="string", description="Where clusters deliver logs (s3:// or dbfs:/)."
        ),
        "preference": Param("economy", enum=["performance", "balanced", "economy"]),
    },
) as dag:
    # [START howto_operator_sync_databricks_submit_run]
    submit_run = SyncDatabricksSubmitRunOperator(
        task_id="submit_run",
        new_cluster=CLUSTER,
        task=TASK,
        project_id="{{ params.project_id }}",
        project_location="{{ params.project_location }}",
    )
    # [END howto_operator_sync_databricks_submit_run]

    # [START howto_sensor_sync_databricks_run]
    wait_for_run = SyncDatabricksRunSensor(
        task_id="wait_for_run",
        run_id=submit_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        max_poll_interval=4 * POLL_SECONDS,
        timeout=6 * 3600,
    )
    # [END howto_sensor_sync_databricks_run]

    # [START howto_operator_sync_databricks_record_run]
    record_run = SyncDatabricksRecordRunOperator(
        task_id="record_run",
        run_id=submit_run.output,
        log_poll_interval=POLL_SECONDS,
        aws_conn_id="aws_default",  # reads the event log when the project location is on S3
    )
    # [END howto_operator_sync_databricks_record_run]

    wait_for_prediction = SyncPredictionSensor(
        task_id="wait_for_prediction",
        prediction_id=record_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
    )

    # [START howto_operator_sync_databricks_submit_from_prediction]
    submit_predicted_run = SyncDatabricksSubmitRunOperator(
        task_id="submit_predicted_run",
        prediction_id=record_run.output,
        preference="{{ params.preference }}",
        new_cluster=CLUSTER,  # the base: the prediction sets node types, size, Spark and AWS settings
        task=TASK,
        project_id="{{ params.project_id }}",
        project_location="{{ params.project_location }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_poll_interval=4 * POLL_SECONDS,
    )
    # [END howto_operator_sync_databricks_submit_from_prediction]

    record_predicted_run = SyncDatabricksRecordRunOperator(
        task_id="record_predicted_run",
        run_id=submit_predicted_run.output,
        log_poll_interval=POLL_SECONDS,
    )
    wait_for_second_prediction = SyncPredictionSensor(
        task_id="wait_for_second_prediction",
        prediction_id=record_predicted_run.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
    )

    @task
    def compare_runs(recorded_prediction_id: str, **context: Any) -> dict[str, Any]:
        """The second run's recorded runtime and cost against what the first prediction promised."""
        from sync_provider.hooks.sync import SyncHook

        predicted = context["ti"].xcom_pull(task_ids="submit_predicted_run", key="solution_metrics")
        basis = SyncHook().get_prediction(recorded_prediction_id).basis
        recorded = basis.metrics.model_dump(mode="json") if basis else None
        comparison: dict[str, Any] = {"predicted": predicted, "recorded": recorded}
        if predicted and recorded:
            for metric in ("runtime", "cost"):
                comparison[f"{metric}_ratio"] = round(recorded[metric] / predicted[metric], 3)
        print("Recorded vs predicted:", comparison)
        return comparison

    wait_for_run >> record_run
    wait_for_prediction >> submit_predicted_run
    wait_for_second_prediction >> compare_runs(record_predicted_run.output)


if __name__ == "__main__":
    dag.test()
