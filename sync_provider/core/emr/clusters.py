"""Starting, finding, watching and terminating EMR clusters of Sync runs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.emr._common import (
    ACTIVE_STATES,
    RUN_TAG,
    TERMINAL_STATES,
    ClusterOutcome,
    ClusterState,
    EMRTimeoutError,
    LaunchedRun,
    PreparedRun,
    describe_cluster,
    emr_call,
    error_code,
    error_message,
    is_not_found,
    paginate,
    region_of,
    run_location_of,
    s3_put,
    tags_of,
)
from sync_provider.core.emr.prepare import _prepare
from sync_provider.core.errors import EMRError, InvalidInputError
from sync_provider.core.predictions import returns_response
from sync_provider.core.storage import parse_s3_url

log = logging.getLogger(__name__)

#: Default polling policy while waiting for a cluster (EMR clusters take minutes).
DEFAULT_CLUSTER_POLL = Backoff(initial=15.0, maximum=60.0, factor=1.5, jitter=0.1)


@returns_response
def create_run_folder(s3_client: Any, prepared: PreparedRun) -> str:
    """Create the run's event-log folder and save the request; return the run prefix.

    The folder is a zero-byte object whose key ends with ``/`` (Spark needs the folder to exist);
    the request is saved as ``<run prefix>run-job-flow-request.json``.

    :param s3_client: a boto3 S3 client.
    :param prepared: the result of :func:`~sync_provider.core.emr.prepare_run_job_flow`.
    :raises StorageError: when S3 refuses a write.
    """
    folder = parse_s3_url(prepared.eventlog_dir_s3)
    s3_put(s3_client, folder.bucket, folder.key, b"", "application/x-directory")
    request = parse_s3_url(prepared.request_url)
    body = json.dumps(prepared.request, indent=2, sort_keys=True, default=str).encode()
    s3_put(s3_client, request.bucket, request.key, body, "application/json")
    log.info("Created run folder %s", prepared.run_prefix)
    return prepared.run_prefix


def _find(emr_client: Any, run_id: str, created_after: datetime | None, include_terminated: bool) -> str:
    if include_terminated and created_after is None:
        raise InvalidInputError(
            "find_cluster_by_run_id(include_terminated=True) needs created_after, so that the search "
            "does not read every cluster of the last two months."
        )
    states = list(ACTIVE_STATES) + (list(TERMINAL_STATES) if include_terminated else [])
    params: dict[str, Any] = {"ClusterStates": states}
    if created_after is not None:
        params["CreatedAfter"] = created_after
    matches: list[str] = []
    for summary in paginate(emr_client, "list_clusters", "Clusters", "clusters", **params):
        cluster_id = summary.get("Id")
        if not isinstance(cluster_id, str):
            continue
        try:
            cluster = describe_cluster(emr_client, cluster_id)
        except EMRError as exc:
            if is_not_found(exc):
                continue  # gone between the two calls
            raise
        if tags_of(cluster).get(RUN_TAG) == run_id:
            matches.append(cluster_id)
    if len(matches) > 1:
        raise EMRError(
            f"{len(matches)} EMR clusters carry {RUN_TAG}={run_id}: {', '.join(sorted(matches))}. A run "
            "should have one cluster; terminate the extra ones.",
            detail={"cluster_ids": sorted(matches), "run_id": run_id},
        )
    return matches[0] if matches else ""


@returns_response
def find_cluster_by_run_id(
    emr_client: Any,
    run_id: str,
    *,
    created_after: datetime | None = None,
    include_terminated: bool = False,
) -> str:
    """Find the cluster of a run by its ``sync:run-id`` tag; ``""`` when there is none.

    Use it to re-attach to a run's cluster after a crash or a retry instead of launching a second
    one. ListClusters is read page by page (only non-terminated clusters unless
    ``include_terminated``) and each cluster's tags come from DescribeCluster.

    :param emr_client: a boto3 EMR client.
    :param run_id: the run id.
    :param created_after: only clusters created after this time.
    :param include_terminated: also look at terminated clusters (needs ``created_after``).
    :raises EMRError: when more than one cluster carries the run id, or AWS refuses a call.
    """
    return _find(emr_client, run_id, created_after, include_terminated)


_NO_REPLAY_ID = "sync-provider-never-replay-runjobflow"
#: How long to look for the cluster of a RunJobFlow whose answer was lost (ListClusters may lag).
LOST_LAUNCH_LOOKUP_S = 30.0


class _LostLaunchError(Exception):
    """RunJobFlow reached AWS but its answer was lost; AWS may have started the cluster."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _never_replay_run_job_flow(
    caught_exception: Exception | None = None, response: Any = None, **_: Any
) -> None:
    """botocore ``needs-retry`` handler for RunJobFlow, which has no idempotency token.

    botocore repeats a call after a read timeout, a dropped connection or a 5xx, any of which may
    come *after* EMR started the cluster: a repeat would start a second, paid cluster. This handler
    lets botocore repeat only what cannot have been acted on (the connection could not be opened,
    or EMR throttled the call) and otherwise stops the call, so that the caller can look for the
    cluster by its ``sync:run-id`` tag instead.
    """
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if caught_exception is not None:
        if isinstance(caught_exception, EndpointConnectionError | ConnectTimeoutError):
            return
        raise _LostLaunchError(type(caught_exception).__name__)
    status = response[0].status_code if isinstance(response, tuple) and response else None
    if isinstance(status, int) and status >= 500:
        raise _LostLaunchError(f"HTTP {status}")


def _guard(emr_client: Any) -> None:
    events = getattr(getattr(emr_client, "meta", None), "events", None)
    if events is not None:
        events.register_first(
            "needs-retry.emr.RunJobFlow", _never_replay_run_job_flow, unique_id=_NO_REPLAY_ID
        )


def _start_cluster(emr_client: Any, prepared: Any, sleep: Callable[[float], None]) -> tuple[str, bool]:
    """RunJobFlow without blind repeats; returns ``(cluster id, attached)``."""
    _guard(emr_client)
    try:
        response = emr_call(emr_client, "run_job_flow", f"run {prepared.run_id}", **prepared.request)
    except EMRError as exc:
        # emr_call wraps every failure; the guard's marker is the wrapped exception's context.
        lost = exc.__context__
        if not isinstance(lost, _LostLaunchError):
            raise
        deadline = Deadline(LOST_LAUNCH_LOOKUP_S)
        delays = Backoff(initial=1.0, maximum=5.0).delays()
        while True:
            found = _find(emr_client, prepared.run_id, None, False)
            if found:
                log.warning(
                    "EMR RunJobFlow's answer for run %s was lost (%s); found its cluster %s by tag",
                    prepared.run_id,
                    lost.reason,
                    found,
                )
                return found, True
            if deadline.expired:
                raise EMRError(
                    f"EMR RunJobFlow for run {prepared.run_id} may have reached AWS but its answer was "
                    f"lost ({lost.reason}), and no cluster tagged {RUN_TAG}={prepared.run_id} appeared "
                    f"within {LOST_LAUNCH_LOOKUP_S:g} s. It was not repeated, so that no second cluster "
                    "starts; retry the task: it re-attaches if the cluster shows up, else launches.",
                    detail={"reason": "lost_response", "run_id": prepared.run_id},
                ) from None
            sleep(deadline.clip(next(delays)))
    cluster_id = response.get("JobFlowId")
    if not isinstance(cluster_id, str) or not cluster_id:
        raise EMRError(f"EMR RunJobFlow for run {prepared.run_id} returned no JobFlowId.")
    return cluster_id, False


@returns_response
def launch_job_flow(
    emr_client: Any,
    s3_client: Any,
    request: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None = None,
    attach_existing: bool = True,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LaunchedRun:
    """Prepare, validate, create the run folder, and start the cluster with RunJobFlow.

    Nothing is created when the request is invalid. When the run id is known in advance (given,
    or already tagged on the request) and ``attach_existing`` is set, a non-terminated cluster of
    that run is returned (``attached=True``) instead of starting a second one, so a retried task
    does not launch twice.

    RunJobFlow has no idempotency token, so it is never repeated blindly: when its answer is lost
    (read timeout, dropped connection, 5xx) the cluster is looked up by its ``sync:run-id`` tag
    instead (botocore's own retries are switched off for this case on ``emr_client``).

    :param emr_client: a boto3 EMR client (its region is where the cluster starts).
    :param s3_client: a boto3 S3 client.
    :param request: RunJobFlow keyword arguments.
    :param project_id: the Sync project id.
    :param project_location: ``s3://bucket[/prefix]``.
    :param run_id: the run id (default: the request's ``sync:run-id`` tag, else a new UUID4).
    :param attach_existing: look for a running cluster of this run first.
    :param now: time of the run folder (default: now).
    :param sleep: used between look-ups after a lost answer (tests pass a fake).
    :raises InvalidInputError: listing every problem of the request.
    :raises StorageError: when the run folder cannot be written.
    :raises EMRError: when RunJobFlow fails.
    """
    known_run = run_id or (tags_of(request).get(RUN_TAG) if isinstance(request, Mapping) else None)
    prepared = _prepare(
        request, project_id=project_id, project_location=project_location, run_id=run_id, now=now
    )
    region = region_of(emr_client)
    if attach_existing and known_run:
        existing = _find(emr_client, prepared.run_id, None, False)
        if existing:
            location = run_location_of(describe_cluster(emr_client, existing))
            log.info("Run %s already has cluster %s; attaching to it", prepared.run_id, existing)
            return LaunchedRun(
                cluster_id=existing,
                run_id=prepared.run_id,
                project_id=project_id,
                run_prefix=location.run_prefix,
                eventlog_dir=location.eventlog_dir,
                region=region,
                attached=True,
            )
    create_run_folder(s3_client, prepared).unwrap()
    cluster_id, attached = _start_cluster(emr_client, prepared, sleep)
    log.info("Started EMR cluster %s for run %s (%s)", cluster_id, prepared.run_id, prepared.run_prefix)
    return LaunchedRun(
        cluster_id=cluster_id,
        run_id=prepared.run_id,
        project_id=project_id,
        run_prefix=prepared.run_prefix,
        eventlog_dir=prepared.eventlog_dir,
        region=region,
        attached=attached,
    )


def _failed_steps(emr_client: Any, cluster_id: str) -> list[dict[str, Any]]:
    return list(
        paginate(
            emr_client,
            "list_steps",
            "Steps",
            f"failed steps of cluster {cluster_id}",
            ClusterId=cluster_id,
            StepStates=["FAILED"],
        )
    )


def _state(emr_client: Any, cluster_id: str) -> ClusterState:
    if not isinstance(cluster_id, str) or not cluster_id.strip():
        raise InvalidInputError("cluster_id must be a non-empty EMR cluster id such as 'j-2AXXXXXXGAPLF'.")
    cluster = describe_cluster(emr_client, cluster_id)
    state = ClusterState.from_description(cluster)
    if state.terminal and not state.succeeded:
        state = ClusterState.from_description(cluster, _failed_steps(emr_client, cluster_id))
    return state


@returns_response
def get_cluster_state(emr_client: Any, cluster_id: str) -> ClusterState:
    """Read a cluster's state once (for sensors and triggers).

    For a cluster that ended without success, the failed step (if any) is included, and
    :meth:`ClusterState.error` gives the error to raise.

    :param emr_client: a boto3 EMR client.
    :param cluster_id: the cluster id.
    :raises EMRError: when DescribeCluster fails (e.g. unknown cluster).
    """
    return _state(emr_client, cluster_id)


@returns_response
def wait_for_cluster(
    emr_client: Any,
    cluster_id: str,
    *,
    timeout_s: float,
    poll: Backoff = DEFAULT_CLUSTER_POLL,
    on_state: Callable[[ClusterState, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ClusterOutcome:
    """Poll a cluster until it terminates; success is ``TERMINATED`` with ``ALL_STEPS_COMPLETED``.

    :param emr_client: a boto3 EMR client.
    :param cluster_id: the cluster id.
    :param timeout_s: overall limit in seconds.
    :param poll: delays between polls.
    :param on_state: called with each state read and the seconds waited so far.
    :param sleep: the sleep function (tests pass a fake).
    :raises EMRError: when the cluster ends ``TERMINATED_WITH_ERRORS`` or ``TERMINATED`` for another
        reason (user request...), with the reason and the failed step; ``detail["reason"]`` is
        ``"failed"``.
    :raises EMRTimeoutError: when ``timeout_s`` passes first; the cluster is left running.
    """
    if not timeout_s or timeout_s <= 0:
        raise InvalidInputError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}.")
    deadline = Deadline(timeout_s)
    started = time.monotonic()
    delays = poll.delays()
    polls = 0
    while True:
        state = _state(emr_client, cluster_id)
        polls += 1
        waited = time.monotonic() - started
        if on_state is not None:
            on_state(state, waited)
        if state.terminal:
            error = state.error()
            if error is not None:
                raise error
            return ClusterOutcome(**state.model_dump(), waited_s=waited, polls=polls)
        if deadline.expired:
            hint = (
                " It is WAITING: with KeepJobFlowAliveWhenNoSteps=true it stays up after its steps; "
                "terminate it, or launch with KeepJobFlowAliveWhenNoSteps=false."
                if state.state == "WAITING"
                else " Wait longer or check it later with get_cluster_state."
            )
            raise EMRTimeoutError(
                f"EMR cluster {cluster_id} is still {state.describe()} after {timeout_s:g} s; waiting "
                f"did not terminate it.{hint}",
                detail={"reason": "timeout", "cluster_id": cluster_id, "state": state.state},
            )
        sleep(deadline.clip(next(delays)))


@returns_response
def terminate_cluster(emr_client: Any, cluster_id: str) -> str:
    """Terminate a cluster (idempotent); return its state after the request.

    A cluster that is already terminated is left alone and its final state returned.

    :param emr_client: a boto3 EMR client.
    :param cluster_id: the cluster id.
    :raises EMRError: when the cluster is unknown or termination protected.
    """
    state = _state(emr_client, cluster_id)
    if state.terminal or state.state == "TERMINATING":
        return state.state
    try:
        emr_client.terminate_job_flows(JobFlowIds=[cluster_id])
    except Exception as exc:
        code = error_code(exc)
        hint = (
            " It is termination protected: turn that off with SetTerminationProtection first."
            if "protect" in error_message(exc).lower()
            else ""
        )
        raise EMRError(
            f"EMR TerminateJobFlows for cluster {cluster_id} failed ({code}): {error_message(exc)}.{hint}",
            detail={"operation": "TerminateJobFlows", "aws_error_code": code, "cluster_id": cluster_id},
        ) from None
    log.info("Requested termination of EMR cluster %s", cluster_id)
    return _state(emr_client, cluster_id).state


__all__ = [
    "DEFAULT_CLUSTER_POLL",
    "create_run_folder",
    "find_cluster_by_run_id",
    "get_cluster_state",
    "launch_job_flow",
    "terminate_cluster",
    "wait_for_cluster",
]
