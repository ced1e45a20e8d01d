"""Airflow sensor that waits for a Sync prediction to finish."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException

from sync_provider.core.models import PredictionStatus
from sync_provider.hooks.sync import SyncHook
from sync_provider.links.sync import SyncPredictionLink
from sync_provider.operators._deferral import defer_until, sensor_event
from sync_provider.operators._launch import validated_id

if TYPE_CHECKING:
    from airflow.sdk import Context


class SyncPredictionSensor(BaseSensorOperator):
    """Wait until a Sync prediction is ``SUCCESS``; fail with Sync's message when it is ``FAILURE``.

    Pushes the prediction id as the return value (for chaining) and stores a link to the prediction
    (XCom key ``sync_prediction``). With ``deferrable`` the waiting happens in the triggerer
    (:class:`~sync_provider.triggers.sync.SyncPredictionTrigger`) and still honours ``timeout``.

    .. seealso::
        :ref:`howto/sensor:SyncPredictionSensor`

    :param prediction_id: the prediction to wait for. (templated)
    :param sync_conn_id: the ``sync`` connection. (templated)
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param max_poll_interval: in deferrable mode the delay between checks grows from
        ``poke_interval`` to this many seconds (default: ``poke_interval``, i.e. constant).
    """

    template_fields: Sequence[str] = ("prediction_id", "sync_conn_id")
    operator_extra_links = (SyncPredictionLink(),)
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        prediction_id: str,
        sync_conn_id: str = SyncHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prediction_id = prediction_id
        self.sync_conn_id = sync_conn_id
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval

    @cached_property
    def hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    def _prediction_id(self) -> str:
        return validated_id(self.prediction_id, "prediction_id")

    def execute(self, context: Context) -> Any:
        """Store the link, then poke (or defer to the trigger)."""
        prediction_id = self._prediction_id()
        SyncPredictionLink.persist(context, self, prediction_id=prediction_id, app_url=self.hook.app_url)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return prediction_id
        from sync_provider.triggers.sync import SyncPredictionTrigger

        trigger = SyncPredictionTrigger(
            prediction_id=prediction_id,
            sync_conn_id=self.sync_conn_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval or self.poke_interval,
            end_time=time.time() + self.timeout,
        )
        defer_until(self, trigger, until=f"prediction {prediction_id} finishes", timeout=self.timeout)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Done on ``SUCCESS``; raise :class:`AirflowFailException` with Sync's message on ``FAILURE``."""
        prediction_id = self._prediction_id()
        status, message = self.hook.get_prediction_status(prediction_id)
        self.log.info("Prediction %s is %s", prediction_id, status.value)
        if status is PredictionStatus.SUCCESS:
            return PokeReturnValue(is_done=True, xcom_value=prediction_id)
        if status is PredictionStatus.FAILURE:
            raise AirflowFailException(f"Prediction {prediction_id} failed: {message or 'no reason given'}")
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return the prediction id, or raise on any other outcome."""
        prediction_id = sensor_event(
            event,
            "prediction_id",
            task_id=self.task_id,
            timed_out=f"Prediction {self.prediction_id}: the wait timed out.",
        )
        self.log.info("Prediction %s succeeded", prediction_id)
        return str(prediction_id)
