"""Airflow trigger that waits for a Sync prediction without holding a worker slot."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

# aiohttp and the core client (for its retry policy constants) are imported here, when the triggerer
# loads this module, so that the first poll does not block the event loop importing them.
import aiohttp  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

import sync_provider.core.client  # noqa: F401
from sync_provider.core.backoff import Backoff
from sync_provider.core.errors import AuthenticationError, InvalidInputError, NotFoundError, SyncError
from sync_provider.core.models import PredictionStatus
from sync_provider.hooks.sync import SyncHook

#: Consecutive failed polls (each already retried by the hook) after which the trigger gives up.
MAX_CONSECUTIVE_ERRORS = 5
_FATAL_ERRORS = (AuthenticationError, NotFoundError, InvalidInputError)


class SyncPredictionTrigger(BaseTrigger):
    """Poll a prediction's status until it is ``SUCCESS`` or ``FAILURE`` or the deadline passes.

    Fires exactly one event: ``{"status": "success" | "failure" | "timeout" | "error",
    "prediction_id": ..., "message": ...}``. Delays between polls grow from ``poll_interval`` to
    ``max_poll_interval`` (exponential backoff with jitter). Every call is non-blocking (aiohttp).

    :param prediction_id: the prediction to wait for.
    :param sync_conn_id: the ``sync`` connection.
    :param poll_interval: first delay between polls, in seconds.
    :param max_poll_interval: largest delay between polls, in seconds.
    :param end_time: deadline as a UNIX timestamp (``time.time()``); ``None`` waits without limit.
    """

    def __init__(
        self,
        prediction_id: str,
        sync_conn_id: str = SyncHook.default_conn_name,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.prediction_id = prediction_id
        self.sync_conn_id = sync_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON-native keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "prediction_id": self.prediction_id,
                "sync_conn_id": self.sync_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
            },
        )

    def _event(self, status: str, message: str) -> TriggerEvent:
        payload = {"status": status, "prediction_id": self.prediction_id, "message": message}
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a terminal status, an error or the deadline; yield one event."""
        # Spread the first poll over one poll interval: a triggerer that starts (or restarts with)
        # many triggers at once would otherwise run all their first polls in one loop iteration.
        # The task that deferred has just created or checked the prediction, so nothing is lost.
        await asyncio.sleep(random.uniform(0, self._clip(self.poll_interval)))
        hook = SyncHook(sync_conn_id=self.sync_conn_id)
        try:
            event = await self._poll(hook)
        except Exception as exc:  # e.g. a missing or invalid connection: report it, don't crash
            self.log.exception("Waiting for prediction %s failed", self.prediction_id)
            event = self._event("error", f"Prediction {self.prediction_id}: {type(exc).__name__}: {exc}")
        finally:
            await hook.aclose()
        yield event

    def _clip(self, delay: float) -> float:
        """Shorten ``delay`` so that a sleep ends at the deadline at the latest."""
        if self.end_time is None:
            return delay
        return max(0.0, min(delay, self.end_time - time.time()))

    async def _poll(self, hook: SyncHook) -> TriggerEvent:
        delays = Backoff(initial=self.poll_interval, maximum=self.max_poll_interval, factor=1.5).delays()
        errors = 0
        status = PredictionStatus.PENDING
        while True:
            try:
                status, message = await hook.aget_prediction_status(self.prediction_id)
                errors = 0
            except _FATAL_ERRORS as exc:
                return self._event("error", f"Prediction {self.prediction_id}: {exc}")
            except SyncError as exc:
                errors += 1
                self.log.warning(
                    "Polling prediction %s failed (%d in a row): %s", self.prediction_id, errors, exc
                )
                if errors >= MAX_CONSECUTIVE_ERRORS:
                    return self._event(
                        "error",
                        f"Prediction {self.prediction_id}: giving up after {errors} failed polls "
                        f"in a row: {exc}",
                    )
            else:
                if status is PredictionStatus.SUCCESS:
                    return self._event("success", f"Prediction {self.prediction_id} succeeded.")
                if status is PredictionStatus.FAILURE:
                    return self._event(
                        "failure", f"Prediction {self.prediction_id} failed: {message or 'no reason given'}"
                    )
                self.log.debug("Prediction %s is %s", self.prediction_id, status.value)
            delay = next(delays)
            if self.end_time is not None:
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    return self._event(
                        "timeout",
                        f"Prediction {self.prediction_id} was still {status.value} when the wait timed out.",
                    )
                delay = min(delay, remaining)
            await asyncio.sleep(delay)
