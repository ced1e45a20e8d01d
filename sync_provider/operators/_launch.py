"""What the EMR and Databricks launch operators share: option checks and error conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowException

from sync_provider.core.errors import SyncError
from sync_provider.hooks.sync import to_airflow_error

#: Accepted values of ``on_code_change``.
ON_CODE_CHANGE_VALUES = ("warn", "fail")


def check_on_code_change(value: Any, *, launched: str = "launched") -> str:
    """Return ``on_code_change`` (``"warn"`` or ``"fail"``) after checking it.

    :param launched: the verb for the message (``"launched"``, ``"submitted"``).
    :raises AirflowException: for any other value.
    """
    text = str(value or "").strip().lower()
    if text not in ON_CODE_CHANGE_VALUES:
        raise AirflowException(
            f"on_code_change must be 'warn' or 'fail', not {value!r}: 'warn' logs a warning when the code "
            f"changed since the prediction's basis run, 'fail' fails the task before anything is {launched}."
        )
    return text


def cross_platform_refusal(exc: SyncError, prediction_id: str, task_id: str) -> str:
    """The message of a prediction of the other platform launched without ``allow_cross_platform``."""
    detail = exc.detail if isinstance(exc.detail, Mapping) else {}
    source, target = detail.get("source_platform"), detail.get("target_platform")
    if not source or not target:
        return exc.message
    return (
        f"Prediction {prediction_id} is for {source}, not {target}: set allow_cross_platform=True on "
        f"{task_id} to translate its solution (what cannot be carried over is logged as warnings), or "
        f"use a {target} prediction. Nothing was launched."
    )


def unwrap(response: Any) -> Any:
    """A core ``Response``'s result, or its error as an ``AirflowException``."""
    try:
        return response.unwrap()
    except SyncError as exc:
        raise to_airflow_error(exc) from exc
