"""Example DAG: create a Sync prediction, wait for it in the triggerer, read the recommended cluster.

It needs a ``sync_default`` connection. To run it offline against the local Sync API stand-in::

    sync-cli serve --port 8000 &        # or: python -m sync_provider.testing.sync_api_server --port 8000
    export AIRFLOW_CONN_SYNC_DEFAULT='{"conn_type": "sync", "host": "127.0.0.1", "schema": "http",
        "port": 8000, "login": "local-key-id", "password": "local-key-secret"}'
    airflow dags test example_sync_prediction      # or: python example_sync_prediction.py

The first task writes a synthetic Spark event log and the matching EMR cluster report (the
``sync_provider.testing`` generator); in a real pipeline they come from the finished EMR run.
"""

# Templated arguments take XComArgs (``task.output``) where their annotations say ``str`` or ``dict``.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from sync_provider.operators.sync import SyncCreatePredictionOperator, SyncGetPredictionOperator
from sync_provider.sensors.sync import SyncPredictionSensor

with DAG(
    dag_id="example_sync_prediction",
    description="Create a Sync prediction for a Spark run on EMR and read the economy configuration.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "sync"],
    params={"preference": "economy"},
) as dag:

    @task(multiple_outputs=True)
    def collect_run() -> dict[str, Any]:
        """Stand-in for a finished EMR run: write an event log and return it with the cluster report."""
        import tempfile
        from pathlib import Path

        from sync_provider.testing import eventlog_generator as generator

        spec = generator.tiny_workload()
        folder = Path(tempfile.mkdtemp(prefix="sync-example-"))
        eventlog = generator.write_event_log(spec, folder / spec.resolved_app_id)
        return {"eventlog": str(eventlog), "cluster_report": generator.emr_cluster_report(spec)}

    run = collect_run()

    # [START howto_operator_sync_create_prediction]
    create_prediction = SyncCreatePredictionOperator(
        task_id="create_prediction",
        platform="aws-emr",
        cluster_report=run["cluster_report"],
        eventlog=run["eventlog"],  # s3://bucket/key, https://... or a local path (uploaded)
    )
    # [END howto_operator_sync_create_prediction]

    # [START howto_sensor_sync_prediction]
    wait_for_prediction = SyncPredictionSensor(
        task_id="wait_for_prediction",
        prediction_id=create_prediction.output,
        deferrable=True,
        poke_interval=5,
        timeout=3600,
    )
    # [END howto_sensor_sync_prediction]

    # [START howto_operator_sync_get_prediction]
    get_configuration = SyncGetPredictionOperator(
        task_id="get_configuration",
        prediction_id=create_prediction.output,
        preference="{{ params.preference }}",
    )
    # [END howto_operator_sync_get_prediction]

    @task
    def show_configuration(configuration: dict[str, Any], **context: Any) -> None:
        """Print the recommended cluster and its predicted metrics."""
        import json

        ti = context["ti"]
        print("Recommended configuration:", json.dumps(configuration, indent=2, sort_keys=True))
        print("Predicted metrics:", ti.xcom_pull(task_ids="get_configuration", key="solution_metrics"))
        print("Basis metrics:", ti.xcom_pull(task_ids="get_configuration", key="basis_metrics"))

    wait_for_prediction >> get_configuration
    show_configuration(get_configuration.output)


if __name__ == "__main__":
    dag.test()
