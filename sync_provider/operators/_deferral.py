"""What the operators and sensors share about triggers: deferring to one, and reading its event back.

Every Sync trigger fires one event, ``{"status": "success" | "failure" | "timeout" | "error",
<id key>: ..., "message": ...}``. An operator fails with :class:`AirflowException` on anything but
``success`` (:func:`successful_event`); a sensor fails a timeout with ``AirflowSensorTimeout`` and a
failure with ``AirflowFailException``, which is not retried (:func:`sensor_event`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from sync_provider.hooks.sync import DEFER_TIMEOUT_GRACE_S

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger


def defer_until(task: BaseOperator, trigger: BaseTrigger, *, until: str, timeout: float) -> NoReturn:
    """Defer ``task`` to ``trigger``, resuming in ``execute_complete``; log what it waits for.

    Airflow's own deadline is ``timeout`` plus :data:`~sync_provider.hooks.sync.DEFER_TIMEOUT_GRACE_S`,
    so that the trigger, whose deadline is ``timeout``, reports a timeout first (with its message).

    :param until: what ends the wait, for the log (``"EMR cluster j-1 terminates"``).
    :param timeout: the wait's timeout, in seconds.
    """
    task.log.info("Deferring until %s (timeout %.0f s)", until, timeout)
    task.defer(
        trigger=trigger,
        method_name="execute_complete",
        timeout=timedelta(seconds=timeout + DEFER_TIMEOUT_GRACE_S),
    )


def successful_event(event: Mapping[str, Any] | None, key: str, *, what: str, finished: str) -> Any:
    """Return ``event[key]`` of an operator's successful trigger event.

    :param what: who resumed (the task id), for the message of a missing event.
    :param finished: what the missing event would have told (``"the run ended"``).
    :raises AirflowException: for a missing event or any status other than ``success``.
    """
    if not isinstance(event, Mapping):
        raise AirflowException(f"{what} resumed without a trigger event; cannot tell whether {finished}.")
    status = event.get("status")
    if status == "success" and event.get(key):
        return event[key]
    raise AirflowException(str(event.get("message") or f"the trigger reported status {status!r}"))


def sensor_event(event: dict[str, Any] | None, key: str, *, task_id: str, timed_out: str) -> Any:
    """Return ``event[key]`` of a sensor's successful trigger event.

    :param timed_out: the message of a timeout event that has none.
    :raises AirflowSensorTimeout: the trigger's deadline passed.
    :raises AirflowFailException: what the sensor waits for failed (the task is not retried).
    :raises AirflowException: a missing event, an error, or a success without ``key``.
    """
    if isinstance(event, dict):
        message = str(event.get("message") or "")
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(message or timed_out)
        if event.get("status") == "failure":
            raise AirflowFailException(message)
    if not isinstance(event, dict) or event.get("status") != "success" or not event.get(key):
        raise AirflowException(
            (event or {}).get("message") or f"{task_id} resumed without a successful trigger event."
        )
    return event[key]


__all__ = ["defer_until", "sensor_event", "successful_event"]
