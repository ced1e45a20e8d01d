"""SyncPredictionSensor: poke, poke-mode execute, deferral and execute_complete."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)

from sync_provider.hooks.sync import DEFER_TIMEOUT_GRACE_S
from sync_provider.sensors.sync import SyncPredictionSensor
from sync_provider.triggers.sync import SyncPredictionTrigger
from tests.airflow.conftest import (
    FakeTI,
    create_pending_prediction,
    create_prediction,
    wait_until_finished,
)

pytestmark = pytest.mark.airflow


def sensor(prediction_id: str, **kwargs: Any) -> SyncPredictionSensor:
    values: dict[str, Any] = {"task_id": "wait", "prediction_id": prediction_id, "poke_interval": 0.05}
    values.update(kwargs)
    return SyncPredictionSensor(**values)


def test_template_fields() -> None:
    assert set(SyncPredictionSensor.template_fields) == {"prediction_id", "sync_conn_id"}
    assert sensor("{{ ti.xcom_pull('create') }}").prediction_id == "{{ ti.xcom_pull('create') }}"


def test_poke_states(
    sync_conn: Any,
    *,
    sync_client: Any,
    eventlog: Path,
    not_a_log: Path,
    cluster_report: dict[str, Any],
    context: Any,
) -> None:
    pending = create_pending_prediction(sync_client, cluster_report)
    assert sensor(pending).poke(context) is False

    done = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, done)
    result = sensor(done).poke(context)
    assert isinstance(result, PokeReturnValue) and result.is_done and result.xcom_value == done

    failed = create_prediction(sync_client, not_a_log, cluster_report)
    wait_until_finished(sync_client, failed)
    message = sync_conn.predictions()[-1]["status_message"]
    with pytest.raises(AirflowFailException, match=f"Prediction {failed} failed: ") as info:
        sensor(failed).poke(context)
    assert message in str(info.value)


def test_poke_mode_execute_waits_and_returns_the_id(
    sync_conn: Any,
    *,
    sync_client: Any,
    eventlog: Path,
    cluster_report: dict[str, Any],
    context: Any,
    ti: FakeTI,
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    assert sensor(prediction_id, timeout=30).execute(context) == prediction_id
    assert ti.xcoms["sync_prediction"]["url"] == f"{sync_conn.url}/predictions/{prediction_id}"


def test_poke_mode_times_out(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any], context: Any
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    with pytest.raises(AirflowSensorTimeout):
        sensor(prediction_id, timeout=0.2).execute(context)


def test_invalid_id_is_refused_before_any_call(sync_conn: Any, context: Any) -> None:
    with pytest.raises(AirflowException, match=r"prediction_id '\.\./x' is not a valid identifier"):
        sensor("../x").execute(context)
    assert sync_conn.stats.total_requests == 0


def test_deferrable_defers_with_the_sensor_timeout(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any], context: Any
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    op = sensor(prediction_id, deferrable=True, poke_interval=7, max_poll_interval=40, timeout=900)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    deferred = info.value
    assert isinstance(deferred.trigger, SyncPredictionTrigger)
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=900 + DEFER_TIMEOUT_GRACE_S)
    _, kwargs = deferred.trigger.serialize()
    assert kwargs["end_time"] == pytest.approx(time.time() + 900, abs=5)
    assert kwargs | {"end_time": None} == {
        "prediction_id": prediction_id,
        "sync_conn_id": "sync_default",
        "poll_interval": 7.0,
        "max_poll_interval": 40.0,
        "end_time": None,
    }


def test_deferrable_does_not_defer_when_already_done(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    assert sensor(prediction_id, deferrable=True).execute(context) == prediction_id


@pytest.mark.parametrize(
    ("event", "error", "fragment"),
    [
        (
            {"status": "failure", "prediction_id": "p", "message": "Prediction p failed: x"},
            AirflowFailException,
            "failed: x",
        ),
        (
            {"status": "timeout", "prediction_id": "p", "message": "still RUNNING"},
            AirflowSensorTimeout,
            "RUNNING",
        ),
        ({"status": "error", "prediction_id": "p", "message": "Not Found"}, AirflowException, "Not Found"),
        (None, AirflowException, "without a successful trigger event"),
    ],
)
def test_execute_complete_raises(
    context: Any, event: dict[str, Any] | None, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        sensor("p").execute_complete(context, event)


def test_execute_complete_success(context: Any) -> None:
    event = {"status": "success", "prediction_id": "p", "message": "ok"}
    assert sensor("p").execute_complete(context, event) == "p"


def test_soft_fail_skips_on_a_failure_event(context: Any) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    op = sensor("p", soft_fail=True)
    event = {"status": "failure", "prediction_id": "p", "message": "failed"}
    with pytest.raises(AirflowSkipException):
        op.resume_execution("execute_complete", {"event": event}, context)
