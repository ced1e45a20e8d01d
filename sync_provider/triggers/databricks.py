"""Airflow trigger that waits for a Databricks run without holding a worker slot."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

# The Databricks provider's hook (aiohttp) and the core's Databricks package are imported here, when
# the triggerer loads this module, so that the first poll does not block the event loop importing them.
import airflow.providers.databricks.hooks.databricks  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sync_provider.core.backoff import Backoff
from sync_provider.core.databricks.client import DatabricksAPIError
from sync_provider.core.databricks.models import RUNS_CANCEL, RUNS_GET
from sync_provider.core.databricks.runs import parse_run_state, run_failure
from sync_provider.core.errors import DatabricksError
from sync_provider.hooks.databricks import DEFAULT_DATABRICKS_CONN_ID, AsyncDatabricksHookApi, databricks_hook

#: Consecutive failed polls (each already retried by the hook) after which the trigger gives up.
MAX_CONSECUTIVE_ERRORS = 5
#: How long :meth:`SyncDatabricksRunTrigger.on_kill` may take to cancel the run (Airflow's own
#: bound, ``[triggerer] on_kill_timeout``, defaults to 30 s).
ON_KILL_TIMEOUT_S = 20.0


def _fatal(exc: DatabricksError) -> bool:
    """An answer that polling again cannot change: 4xx other than 429 (no such run, no access)."""
    status = exc.status if isinstance(exc, DatabricksAPIError) else None
    return status is not None and 400 <= status < 500 and status != 429


class SyncDatabricksRunTrigger(BaseTrigger):
    """Poll a Databricks run until it ends, fails to be readable, or the deadline passes.

    Fires exactly one event::

        {"status": "success" | "failure" | "timeout" | "error",
         "run_id": 123, "message": "...",
         "life_cycle_state": "TERMINATED" | ... | None, "result_state": "SUCCESS" | ... | None}

    ``success`` means ``TERMINATED`` with result ``SUCCESS``; any other end (``FAILED``,
    ``TIMEDOUT``, ``CANCELED``, ``INTERNAL_ERROR``, ``SKIPPED``…) is ``failure`` with Databricks'
    state message. Delays between polls grow from ``poll_interval`` to ``max_poll_interval``
    (exponential backoff with jitter). Every call goes through the Databricks provider's async hook
    (aiohttp; the connection is fetched without blocking the event loop).

    :param run_id: the Databricks run.
    :param databricks_conn_id: the ``databricks`` connection.
    :param poll_interval: first delay between polls, in seconds.
    :param max_poll_interval: largest delay between polls, in seconds.
    :param end_time: deadline as a UNIX timestamp (``time.time()``); ``None`` waits without limit.
    :param retry_limit: the hook's tries per call (429, 5xx, connection errors).
    :param retry_delay: the hook's first delay between tries, in seconds.
    :param cancel_on_kill: whether :meth:`on_kill` cancels the run (when the deferred task owns it).
    """

    def __init__(
        self,
        run_id: int,
        *,
        databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
        poll_interval: float = 30.0,
        max_poll_interval: float = 60.0,
        end_time: float | None = None,
        retry_limit: int = 3,
        retry_delay: float = 1.0,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.run_id = int(run_id)
        self.databricks_conn_id = databricks_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.retry_limit = int(retry_limit)
        self.retry_delay = float(retry_delay)
        self.cancel_on_kill = bool(cancel_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON-native keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "databricks_conn_id": self.databricks_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "retry_limit": self.retry_limit,
                "retry_delay": self.retry_delay,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _api(self) -> AsyncDatabricksHookApi:
        hook = databricks_hook(
            self.databricks_conn_id,
            retry_limit=self.retry_limit,
            retry_delay=self.retry_delay,
            caller=type(self).__name__,
        )
        return AsyncDatabricksHookApi(hook)

    def _event(
        self, status: str, message: str, life_cycle_state: str | None = None, result_state: str | None = None
    ) -> TriggerEvent:
        payload = {
            "status": status,
            "run_id": self.run_id,
            "message": message,
            "life_cycle_state": life_cycle_state,
            "result_state": result_state,
        }
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the run ends, an error or the deadline; yield one event."""
        # Spread the first poll over one poll interval: a triggerer that starts (or restarts with)
        # many triggers at once would otherwise poll them all in one loop iteration. The task that
        # deferred has just read the run's state, so nothing is lost.
        await asyncio.sleep(random.uniform(0, self._clip(self.poll_interval)))
        try:
            async with self._api() as api:
                event = await self._poll(api)
        except Exception as exc:  # e.g. a missing connection: report it, don't crash the trigger
            self.log.exception("Waiting for Databricks run %s failed", self.run_id)
            event = self._event("error", f"Databricks run {self.run_id}: {type(exc).__name__}: {exc}")
        yield event

    def _clip(self, delay: float) -> float:
        """Shorten ``delay`` so that a sleep ends at the deadline at the latest."""
        if self.end_time is None:
            return delay
        return max(0.0, min(delay, self.end_time - time.time()))

    async def _poll(self, api: AsyncDatabricksHookApi) -> TriggerEvent:
        delays = Backoff(initial=self.poll_interval, maximum=self.max_poll_interval, factor=1.5).delays()
        errors = 0
        life_cycle: str | None = None
        result: str | None = None
        described = "not read yet"
        while True:
            try:
                run = await api.call("GET", RUNS_GET, {"run_id": self.run_id}, idempotent=True)
                state = parse_run_state(run)
                errors = 0
            except DatabricksError as exc:
                if _fatal(exc):
                    return self._event(
                        "error",
                        f"Databricks run {self.run_id} cannot be read: {exc.message}",
                        life_cycle,
                        result,
                    )
                errors += 1
                self.log.warning(
                    "Polling Databricks run %s failed (%d in a row): %s", self.run_id, errors, exc.message
                )
                if errors >= MAX_CONSECUTIVE_ERRORS:
                    return self._event(
                        "error",
                        f"Databricks run {self.run_id}: giving up after {errors} failed polls in a row: "
                        f"{exc.message}",
                        life_cycle,
                        result,
                    )
            else:
                life_cycle, result, described = state.life_cycle_state, state.result_state, state.describe()
                if state.is_terminal:
                    if state.is_successful:
                        return self._event(
                            "success", f"Databricks run {self.run_id} succeeded.", life_cycle, result
                        )
                    return self._event(
                        "failure", run_failure(self.run_id, state, run).message, life_cycle, result
                    )
                self.log.debug("Databricks run %s is %s", self.run_id, described)
            delay = next(delays)
            if self.end_time is not None:
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    return self._event(
                        "timeout",
                        f"Databricks run {self.run_id} was still {described} when the wait timed out; it "
                        "was not cancelled.",
                        life_cycle,
                        result,
                    )
                delay = min(delay, remaining)
            await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """Cancel the run when the deferred task that owns it is marked failed/success or cleared.

        Does nothing unless ``cancel_on_kill``. Bounded by :data:`ON_KILL_TIMEOUT_S`; errors are
        logged, not raised.
        """
        if not self.cancel_on_kill:
            return
        self.log.info("The task was killed: cancelling Databricks run %s", self.run_id)
        try:
            async with asyncio.timeout(ON_KILL_TIMEOUT_S), self._api() as api:
                await api.call("POST", RUNS_CANCEL, {"run_id": self.run_id}, idempotent=True)
        except Exception as exc:
            self.log.warning("Could not cancel Databricks run %s: %s", self.run_id, exc)
            return
        self.log.info("Cancelled Databricks run %s", self.run_id)
