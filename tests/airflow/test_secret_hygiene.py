"""The API key secret and the access tokens never appear in logs, XComs, rendered fields, reprs or errors."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from sync_provider.hooks.sync import SyncHook
from sync_provider.operators.sync import SyncCreatePredictionOperator, SyncGetPredictionOperator
from sync_provider.sensors.sync import SyncPredictionSensor
from sync_provider.triggers.sync import SyncPredictionTrigger
from tests.airflow.conftest import FakeTI, conn_json
from tests.conftest import API_KEY_SECRET

pytestmark = pytest.mark.airflow

DAGS_FILE = Path(__file__).resolve().parents[1] / "dags" / "sync_provider_test_dags.py"


def issued_tokens(server: Any) -> list[str]:
    """Every access token the server issued (read from its store; there is no public accessor)."""
    tokens = list(server._store._tokens)
    assert tokens, "the flow should have obtained at least one access token"
    return tokens


def assert_clean(texts: list[str], secrets: list[str]) -> None:
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob, f"a secret ({secret[:4]}...) leaked"


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [caplog.text]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        texts.append(repr(getattr(record, "msg", "")))
    return texts


def test_operator_trigger_and_sensor_flow(
    sync_conn: Any,
    *,
    eventlog: Path,
    not_a_log: Path,
    cluster_report: dict[str, Any],
    context: Any,
    ti: FakeTI,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    create = SyncCreatePredictionOperator(
        task_id="create",
        platform="aws-emr",
        cluster_report=json.dumps(cluster_report),
        eventlog=str(eventlog),
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.05,
    )
    with pytest.raises(TaskDeferred) as deferred:
        create.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SyncPredictionTrigger)
    texts += [repr(deferred.value), repr(trigger), json.dumps(trigger.serialize()[1])]

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    prediction_id = create.execute_complete(context, event.payload)

    sensor = SyncPredictionSensor(task_id="wait", prediction_id=prediction_id, poke_interval=0.05)
    sensor.execute(context)
    get = SyncGetPredictionOperator(task_id="get", prediction_id=prediction_id)
    get.execute(context)

    hook = SyncHook()
    texts += [repr(hook), repr(hook.connection_info), repr(hook.get_client()), str(hook.test_connection())]
    texts += [repr(op) for op in (create, sensor, get)]
    texts += [json.dumps(ti.xcoms)]

    # Failures: a failed prediction, a refused key, an unreachable API.
    failed = SyncCreatePredictionOperator(
        task_id="create_failed",
        platform="aws-emr",
        cluster_report=cluster_report,
        eventlog=str(not_a_log),
        wait_for_completion=True,
        poll_interval=0.05,
    )
    with pytest.raises(AirflowException, match="failed: ") as info:
        failed.execute(context)
    texts += [str(info.value), repr(info.value)]
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_conn, password=API_KEY_SECRET + "-wrong"))
    texts.append(str(SyncHook().test_connection()))
    (bad_event,) = asyncio.run(_run(SyncPredictionTrigger(prediction_id=prediction_id, poll_interval=0.05)))
    assert bad_event.payload["status"] == "error"
    texts.append(json.dumps(bad_event.payload))

    out, err = capfd.readouterr()
    texts += [out, err, *log_texts(caplog)]
    assert f"Created Sync prediction {prediction_id}" in "\n".join(texts), "logs not captured"
    assert_clean(texts, [API_KEY_SECRET, *issued_tokens(sync_conn)])


async def _run(trigger: SyncPredictionTrigger) -> list[Any]:
    return [event async for event in trigger.run()]


@pytest.mark.usefixtures("airflow_db")
def test_dag_run_stores_no_secret(
    sync_conn: Any,
    eventlog: Path,
    cluster_report: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    caplog.set_level(logging.DEBUG)
    spec = importlib.util.spec_from_file_location("sync_provider_test_dags_hygiene", DAGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_run = module.sync_test_deferrable.test(
        run_conf={"eventlog": str(eventlog), "cluster_report": cluster_report}
    )
    assert str(dag_run.state) == "success"

    with create_session() as session:
        xcom_rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)).all()
        rendered = session.scalars(
            select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.run_id == dag_run.run_id)
        ).all()
        texts = [json.dumps(XComModel.deserialize_value(row), default=str) for row in xcom_rows]
        texts += [json.dumps(row.rendered_fields, default=str) for row in rendered]
    assert len(rendered) == 3 and xcom_rows
    out, err = capfd.readouterr()
    texts += [out, err, *log_texts(caplog)]
    (record,) = sync_conn.predictions()
    assert f"Created Sync prediction {record['prediction_id']}" in "\n".join(texts), "task logs not captured"
    assert_clean(texts, [API_KEY_SECRET, *issued_tokens(sync_conn)])
