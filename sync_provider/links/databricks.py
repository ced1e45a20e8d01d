"""Extra link from a task to its Databricks run's page in the workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey


class SyncDatabricksRunLink(BaseOperatorLink):
    """``Databricks Run`` button: the run's page in the Databricks workspace.

    The Databricks operators and the sensor call :meth:`persist` while they run, as soon as they
    know the run's page; it stores ``{"run_id", "url"}`` (no secrets) in XCom under :attr:`key`
    (``sync_databricks_run``), from which :meth:`get_link` reads the URL.
    """

    name = "Databricks Run"
    key: ClassVar[str] = "sync_databricks_run"

    @classmethod
    def persist(
        cls, context: Context, operator: BaseOperator, *, run_id: int, run_page_url: str | None
    ) -> None:
        """Store the link of run ``run_id`` for this task instance (no-op without XCom push or URL).

        Failures are logged, never raised: a missing link must not fail the task.
        """
        if not operator.do_xcom_push or not run_page_url:
            return
        try:
            context["ti"].xcom_push(key=cls.key, value={"run_id": int(run_id), "url": str(run_page_url)})
        except Exception as exc:
            operator.log.warning("Could not store the Databricks run link: %s", exc)

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
