"""Airflow sensor that waits for the EMR cluster of a Sync run to finish."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from sync_provider.links.emr import SyncEmrClusterLink
from sync_provider.operators._deferral import defer_until, sensor_event
from sync_provider.operators._launch import unwrap
from sync_provider.operators.emr import _AwsMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_provider.core.emr import ClusterState


class SyncEmrClusterSensor(_AwsMixin, BaseSensorOperator):
    """Wait until an EMR cluster has terminated after completing all its steps.

    Success is ``TERMINATED`` with the reason ``ALL_STEPS_COMPLETED``, as in
    :func:`sync_provider.core.emr.wait_for_cluster`: a cluster that is ``RUNNING`` or ``WAITING`` has
    not finished (with ``KeepJobFlowAliveWhenNoSteps=true`` it never does by itself). Any other end
    (``TERMINATED_WITH_ERRORS`` with ``STEP_FAILURE``, ``BOOTSTRAP_FAILURE``..., or ``TERMINATED`` by
    ``USER_REQUEST``) fails the task at once (no retries, :class:`AirflowFailException`) with a
    message naming the state, the reason code and message, and the failed step.

    Pushes the cluster id as the return value and stores a link to the cluster in the AWS console
    (XCom key ``sync_emr_cluster``). With ``deferrable`` the waiting happens in the triggerer
    (:class:`~sync_provider.triggers.emr.SyncEmrClusterTrigger`) and still honours ``timeout``. The
    sensor does not own the cluster: killing it leaves the cluster running.

    .. seealso::
        :ref:`howto/sensor:SyncEmrClusterSensor`

    :param cluster_id: the cluster to wait for. (templated)
    :param aws_conn_id: the ``aws`` connection. (templated)
    :param region_name: the AWS region (default: the connection's). (templated)
    :param verify: TLS verification for AWS.
    :param botocore_config: botocore ``Config`` keyword arguments.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param max_poll_interval: in deferrable mode the delay between checks grows from
        ``poke_interval`` to this many seconds (default: ``poke_interval``, i.e. constant).
    """

    template_fields: Sequence[str] = ("cluster_id", "aws_conn_id", "region_name")
    operator_extra_links = (SyncEmrClusterLink(),)
    ui_color = "#f9c915"

    def __init__(
        self,
        *,
        cluster_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self._waiting_hint_logged = False

    def _cluster_id(self) -> str:
        cluster_id = str(self.cluster_id or "").strip()
        if not cluster_id:
            raise AirflowException(
                "cluster_id is empty; pass the EMR cluster id (e.g. the launch task's output)."
            )
        return cluster_id

    def execute(self, context: Context) -> Any:
        """Store the link, then poke (or defer to the trigger)."""
        cluster_id = self._cluster_id()
        self._persist_cluster_link(context, cluster_id)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return cluster_id
        from sync_provider.triggers.emr import SyncEmrClusterTrigger

        trigger = SyncEmrClusterTrigger(
            cluster_id=cluster_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval or self.poke_interval,
            end_time=time.time() + self.timeout,
            terminate_on_kill=False,
            **self._trigger_kwargs(),
        )
        defer_until(self, trigger, until=f"EMR cluster {cluster_id} terminates", timeout=self.timeout)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Done when the cluster completed all its steps; raise when it ended any other way."""
        from sync_provider.core.emr import get_cluster_state

        cluster_id = self._cluster_id()
        state: ClusterState = unwrap(get_cluster_state(self.emr_client, cluster_id))
        self.log.info("EMR cluster %s is %s", cluster_id, state.describe())
        if state.succeeded:
            return PokeReturnValue(is_done=True, xcom_value=cluster_id)
        error = state.error()
        if error is not None:
            raise AirflowFailException(error.message)
        if state.state == "WAITING" and not self._waiting_hint_logged:
            self._waiting_hint_logged = True
            self.log.warning(
                "EMR cluster %s is WAITING: with KeepJobFlowAliveWhenNoSteps=true it stays up after its "
                "steps and never terminates by itself; this sensor waits for it to terminate.",
                cluster_id,
            )
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return the cluster id, or raise on any other outcome."""
        cluster_id = sensor_event(
            event,
            "cluster_id",
            task_id=self.task_id,
            timed_out=f"EMR cluster {self.cluster_id}: the wait timed out.",
        )
        self.log.info("EMR cluster %s completed all its steps", cluster_id)
        return str(cluster_id)
