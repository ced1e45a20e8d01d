"""Airflow trigger that waits for an EMR cluster of a Sync run without holding a worker slot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

# aiobotocore and the Amazon provider's EMR hook are imported here, when the triggerer loads this
# module, so that the first poll does not block the event loop importing them.
import aiobotocore.session  # noqa: F401
from airflow.providers.amazon.aws.hooks.emr import EmrHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sync_provider.core.backoff import Backoff
from sync_provider.core.emr import ClusterState

#: Consecutive failed polls (each already retried by botocore) after which the trigger gives up.
MAX_CONSECUTIVE_ERRORS = 5
#: AWS error codes worth polling again after (anything else in 4xx ends the wait at once).
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
_STOPPED_STATES = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")

_warm_lock = threading.Lock()
_warmed = False


def _warm_up(hook: EmrHook) -> None:
    """Create (and close) one aiobotocore EMR client in this worker thread, on its own event loop.

    The first client of a process loads botocore's EMR model and endpoint data (0.2 s and more),
    which aiobotocore does synchronously inside ``async with``; doing it once here keeps that off
    the triggerer's event loop. Later clients find the data in botocore's loader cache.
    """
    global _warmed  # noqa: PLW0603 - one warm-up per process
    with _warm_lock:
        if _warmed:
            return

        async def open_and_close() -> None:
            client: Any = hook.get_client_type(region_name=hook.region_name, deferrable=True)
            async with client:
                pass

        asyncio.run(open_and_close())
        _warmed = True


@dataclass
class _SharedClient:
    """One aiobotocore EMR client shared by the triggers of one event loop with the same AWS settings."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    context: Any = None
    client: Any = None


#: Per event loop: AWS settings -> the client its triggers share (closed when the last one ends).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedClient]] = (
    weakref.WeakKeyDictionary()
)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def _is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection problems are worth another poll; other AWS errors are not."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return True  # connection errors, read timeouts...
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return _error_code(exc) in _TRANSIENT_CODES or int(status) >= 500


def _describe_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return f"{_error_code(exc)}: {message}"
    return f"{type(exc).__name__}: {exc}"


class SyncEmrClusterTrigger(BaseTrigger):
    """Poll an EMR cluster until it terminates, an error occurs or the deadline passes.

    Success is what :func:`sync_provider.core.emr.wait_for_cluster` calls success: the cluster is
    ``TERMINATED`` with the reason ``ALL_STEPS_COMPLETED``. Any other final state (``STEP_FAILURE``,
    ``BOOTSTRAP_FAILURE``, ``USER_REQUEST``...) is a failure; its message names the state, the reason
    code and message, and the failed step. Fires exactly one event::

        {"status": "success" | "failure" | "timeout" | "error", "cluster_id": ..., "message": ...,
         "state": <last cluster state or None>, "reason": <state change reason code or None>}

    Every AWS call is non-blocking (aiobotocore through the Amazon provider's ``EmrHook``). Delays
    between polls grow from ``poll_interval`` to ``max_poll_interval``. Throttling, 5xx and
    connection errors are polled through, up to five failed polls in a row.

    With ``terminate_on_kill`` the trigger owns the cluster: when a user marks the deferred task
    failed or successful, or clears it, :meth:`on_kill` terminates the cluster.

    :param cluster_id: the EMR cluster (job flow) id.
    :param aws_conn_id: the ``aws`` connection (``None``: boto3's default credential chain).
    :param region_name: the AWS region (default: the connection's).
    :param verify: TLS verification for the AWS endpoint (``False`` or a CA bundle path).
    :param botocore_config: botocore ``Config`` keyword arguments (a dict).
    :param poll_interval: first delay between polls, in seconds.
    :param max_poll_interval: largest delay between polls, in seconds.
    :param end_time: deadline as a UNIX timestamp (``time.time()``); ``None`` waits without limit.
    :param terminate_on_kill: terminate the cluster when the deferred task is killed.
    """

    def __init__(
        self,
        cluster_id: str,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float = 120.0,
        end_time: float | None = None,
        terminate_on_kill: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.cluster_id = cluster_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = dict(botocore_config) if botocore_config else None
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.terminate_on_kill = bool(terminate_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON-native keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cluster_id": self.cluster_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "terminate_on_kill": self.terminate_on_kill,
            },
        )

    def hook(self) -> EmrHook:
        """The Amazon provider's EMR hook, configured exactly as the task that deferred."""
        return EmrHook(
            aws_conn_id=self.aws_conn_id,
            emr_conn_id=None,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _client_key(self) -> str:
        return json.dumps(
            [self.aws_conn_id, self.region_name, self.verify, self.botocore_config],
            sort_keys=True,
            default=str,
        )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """An aiobotocore EMR client, shared with the other triggers of this loop and AWS settings.

        The first user fetches the connection and creates the client (botocore's model data is loaded
        once per process in a worker thread, see :func:`_warm_up`); the last one closes it. A
        triggerer starting many triggers at once therefore builds one client, not one per trigger.
        """
        registry = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
        key = self._client_key()
        shared = registry.setdefault(key, _SharedClient())
        shared.users += 1
        try:
            async with shared.lock:
                if shared.client is None:
                    hook = self.hook()
                    if not _warmed:
                        await asyncio.to_thread(_warm_up, hook)
                    context = await hook.get_async_conn()  # type: ignore[no-untyped-call]
                    shared.client = await context.__aenter__()
                    shared.context = context
            yield shared.client
        finally:
            shared.users -= 1
            if shared.users == 0:
                if registry.get(key) is shared:
                    del registry[key]
                if shared.context is not None:
                    context, shared.context, shared.client = shared.context, None, None
                    await context.__aexit__(None, None, None)

    def _event(self, status: str, message: str, state: ClusterState | None = None) -> TriggerEvent:
        payload = {
            "status": status,
            "cluster_id": self.cluster_id,
            "message": message,
            "state": state.state if state else None,
            "reason": state.reason_code if state else None,
        }
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a final state, an error or the deadline; yield one event."""
        # Spread the first poll over one poll interval (see SyncPredictionTrigger): the task that
        # deferred has just started or checked the cluster, so nothing is lost.
        await asyncio.sleep(random.uniform(0, self._clip(self.poll_interval)))
        try:
            async with self._client() as client:
                event = await self._poll(client)
        except Exception as exc:  # e.g. a missing connection: report it, don't crash
            self.log.exception("Waiting for EMR cluster %s failed", self.cluster_id)
            event = self._event("error", f"EMR cluster {self.cluster_id}: {_describe_error(exc)}")
        yield event

    def _clip(self, delay: float) -> float:
        """Shorten ``delay`` so that a sleep ends at the deadline at the latest."""
        if self.end_time is None:
            return delay
        return max(0.0, min(delay, self.end_time - time.time()))

    async def _state(self, client: Any) -> ClusterState:
        """DescribeCluster and, for a cluster that ended without success, its failed steps."""
        cluster = (await client.describe_cluster(ClusterId=self.cluster_id))["Cluster"]
        state = ClusterState.from_description(cluster)
        if not state.terminal or state.succeeded:
            return state
        failed: list[dict[str, Any]] = []
        params: dict[str, Any] = {"ClusterId": self.cluster_id, "StepStates": ["FAILED"]}
        for _ in range(100):
            page = await client.list_steps(**params)
            failed += page.get("Steps") or []
            if not page.get("Marker"):
                break
            params["Marker"] = page["Marker"]
        return ClusterState.from_description(cluster, failed)

    async def _poll(self, client: Any) -> TriggerEvent:
        delays = Backoff(initial=self.poll_interval, maximum=self.max_poll_interval, factor=1.5).delays()
        errors = 0
        state: ClusterState | None = None
        while True:
            try:
                state = await self._state(client)
                errors = 0
            except Exception as exc:
                if not _is_transient(exc):
                    return self._event(
                        "error", f"EMR cluster {self.cluster_id}: {_describe_error(exc)}", state
                    )
                errors += 1
                self.log.warning(
                    "Polling EMR cluster %s failed (%d in a row): %s",
                    self.cluster_id,
                    errors,
                    _describe_error(exc),
                )
                if errors >= MAX_CONSECUTIVE_ERRORS:
                    return self._event(
                        "error",
                        f"EMR cluster {self.cluster_id}: giving up after {errors} failed polls in a row: "
                        f"{_describe_error(exc)}",
                        state,
                    )
            else:
                if state.succeeded:
                    return self._event("success", f"EMR cluster {self.cluster_id} {state.describe()}.", state)
                error = state.error()
                if error is not None:
                    return self._event("failure", error.message, state)
                self.log.info("EMR cluster %s is %s", self.cluster_id, state.describe())
            delay = next(delays)
            if self.end_time is not None:
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    current = state.describe() if state else "in an unknown state"
                    return self._event(
                        "timeout",
                        f"EMR cluster {self.cluster_id} was still {current} when the wait timed out.",
                        state,
                    )
                delay = min(delay, remaining)
            await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """Terminate the cluster when this trigger owns it (``terminate_on_kill``); never raises."""
        if not self.terminate_on_kill:
            return
        try:
            async with self._client() as client:
                cluster = (await client.describe_cluster(ClusterId=self.cluster_id))["Cluster"]
                current = str((cluster.get("Status") or {}).get("State", ""))
                if current in _STOPPED_STATES:
                    self.log.info("EMR cluster %s is already %s", self.cluster_id, current)
                    return
                await client.terminate_job_flows(JobFlowIds=[self.cluster_id])
            self.log.info("Requested termination of EMR cluster %s (the task was killed)", self.cluster_id)
        except Exception as exc:
            self.log.error("Could not terminate EMR cluster %s: %s", self.cluster_id, _describe_error(exc))
