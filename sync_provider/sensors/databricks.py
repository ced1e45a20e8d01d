"""Airflow sensor that waits for a Databricks run to end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException

from sync_provider.core.errors import SyncError
from sync_provider.hooks.databricks import DEFAULT_DATABRICKS_CONN_ID, parse_run_id
from sync_provider.hooks.sync import to_airflow_error
from sync_provider.links.databricks import SyncDatabricksRunLink
from sync_provider.operators._deferral import defer_until, sensor_event
from sync_provider.operators.databricks import _DatabricksMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class SyncDatabricksRunSensor(_DatabricksMixin, BaseSensorOperator):
    """Wait until a Databricks run ends; succeed only for ``TERMINATED`` / ``SUCCESS``.

    Any other end — ``FAILED``, ``TIMEDOUT``, ``CANCELED``, ``INTERNAL_ERROR``, ``SKIPPED`` — fails
    the task at once (no retries, :class:`~airflow.sdk.exceptions.AirflowFailException`) with the
    life cycle, result state and Databricks' state message. Pushes the run id as the return value and
    stores the *Databricks Run* link. With ``deferrable`` the waiting happens in the triggerer
    (:class:`~sync_provider.triggers.databricks.SyncDatabricksRunTrigger`) and still honours
    ``timeout``. The sensor only watches: killing it never cancels the run.

    .. seealso::
        :ref:`howto/sensor:SyncDatabricksRunSensor`

    :param run_id: the Databricks run (e.g. the submit operator's output). (templated)
    :param databricks_conn_id: the ``databricks`` connection. (templated)
    :param databricks_retry_limit: tries per Databricks call on 429, 5xx and connection errors.
    :param databricks_retry_delay: first delay between those tries, in seconds.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param max_poll_interval: in deferrable mode the delay between checks grows from
        ``poke_interval`` to this many seconds (default: ``poke_interval``, i.e. constant).
    """

    template_fields: Sequence[str] = ("run_id", "databricks_conn_id")
    operator_extra_links = (SyncDatabricksRunLink(),)
    ui_color = "#fce4d6"

    def __init__(
        self,
        *,
        run_id: int | str,
        databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: float = 1.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.databricks_conn_id = databricks_conn_id
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self._linked = False

    def execute(self, context: Context) -> Any:
        """Poke (or check once and defer to the trigger)."""
        run_id = parse_run_id(self.run_id)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return run_id
        from sync_provider.triggers.databricks import SyncDatabricksRunTrigger

        trigger = SyncDatabricksRunTrigger(
            run_id=run_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval or self.poke_interval,
            end_time=time.time() + self.timeout,
            cancel_on_kill=False,
            **self._trigger_kwargs(),
        )
        defer_until(self, trigger, until=f"Databricks run {run_id} ends", timeout=self.timeout)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Done on ``TERMINATED``/``SUCCESS``; raise :class:`AirflowFailException` on any other end."""
        from sync_provider.core.databricks.runs import fetch_run, parse_run_state, run_failure

        run_id = parse_run_id(self.run_id)
        try:
            run = fetch_run(self.api, run_id)
            state = parse_run_state(run)
        except SyncError as exc:
            raise to_airflow_error(exc) from exc
        if not self._linked:
            SyncDatabricksRunLink.persist(context, self, run_id=run_id, run_page_url=run.get("run_page_url"))
            self._linked = True
        self.log.info("Databricks run %s is %s", run_id, state.describe())
        if state.is_terminal:
            if state.is_successful:
                return PokeReturnValue(is_done=True, xcom_value=run_id)
            raise AirflowFailException(run_failure(run_id, state, run).message)
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> int:
        """Resume after the trigger fired: return the run id, or raise on any other outcome."""
        run_id = sensor_event(
            event,
            "run_id",
            task_id=self.task_id,
            timed_out=f"Databricks run {self.run_id}: the wait timed out.",
        )
        self.log.info("Databricks run %s succeeded", run_id)
        return int(run_id)
