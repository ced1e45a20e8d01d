"""Extra link from a task to its prediction in Sync's web application."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey


class SyncPredictionLink(BaseOperatorLink):
    """``Sync Prediction`` button: ``{app_url}/predictions/{prediction_id}``.

    The operators and the sensor call :meth:`persist` while they run; it stores the finished URL
    (no secrets) in XCom under :attr:`key` (``sync_prediction``), from which :meth:`get_link` reads it.
    """

    name = "Sync Prediction"
    key: ClassVar[str] = "sync_prediction"

    @classmethod
    def persist(cls, context: Context, operator: BaseOperator, *, prediction_id: str, app_url: str) -> None:
        """Store the link of ``prediction_id`` for this task instance (no-op without XCom push).

        Failures are logged, never raised: a missing link must not fail the task.
        """
        if not operator.do_xcom_push:
            return
        try:
            from sync_provider.core.contract import prediction_app_url

            url = prediction_app_url(prediction_id, app_url)
            context["ti"].xcom_push(key=cls.key, value={"prediction_id": prediction_id, "url": url})
        except Exception as exc:
            operator.log.warning("Could not store the Sync prediction link: %s", exc)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the stored URL, or ``""`` when the task stored none."""
        try:
            from airflow.sdk.execution_time.xcom import XCom

            value: Any = XCom.get_value(key=self.key, ti_key=ti_key)
        except Exception:
            return ""
        if isinstance(value, dict):
            return str(value.get("url") or "")
        return ""
