"""DAGs run with ``dag.test()`` by ``tests/airflow/test_dag_runs.py``.

The event log path and the cluster report arrive as run conf (``params``); the cluster report is
rendered into a JSON *string* on purpose, so the operator's parsing of templated JSON is exercised.
The ``sync_default`` connection comes from ``AIRFLOW_CONN_SYNC_DEFAULT`` set by the test.
"""

# Templated arguments take XComArgs (``task.output``) where their annotations say ``str``.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from sync_provider.operators.sync import SyncCreatePredictionOperator, SyncGetPredictionOperator
from sync_provider.sensors.sync import SyncPredictionSensor

_START = pendulum.datetime(2024, 1, 1, tz="UTC")
_PARAMS = {"eventlog": "", "cluster_report": {}, "preference": "economy"}


def _sensor_dag(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=_START, catchup=False, params=_PARAMS) as dag:
        create = SyncCreatePredictionOperator(
            task_id="create",
            platform="aws-emr",
            cluster_report="{{ params.cluster_report | tojson }}",
            eventlog="{{ params.eventlog }}",
        )
        wait = SyncPredictionSensor(
            task_id="wait",
            prediction_id=create.output,
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=60,
        )
        get = SyncGetPredictionOperator(
            task_id="get", prediction_id=create.output, preference="{{ params.preference }}"
        )
        wait >> get
    return dag


sync_test_poke = _sensor_dag("sync_test_poke", deferrable=False)
sync_test_deferrable = _sensor_dag("sync_test_deferrable", deferrable=True)

with DAG(
    dag_id="sync_test_create_and_wait", schedule=None, start_date=_START, catchup=False, params=_PARAMS
) as sync_test_create_and_wait:
    _create = SyncCreatePredictionOperator(
        task_id="create",
        platform="aws-emr",
        cluster_report="{{ params.cluster_report | tojson }}",
        eventlog="{{ params.eventlog }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        max_poll_interval=0.5,
        timeout=60,
    )
    SyncGetPredictionOperator(task_id="get", prediction_id=_create.output, preference="performance")
