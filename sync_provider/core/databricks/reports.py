"""Cluster reports of finished Databricks runs, and recording a run as a Sync prediction."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.databricks.client import DatabricksApi
from sync_provider.core.databricks.eventlogs import (
    DEFAULT_LOG_POLL,
    DEFAULT_LOG_TIMEOUT_S,
    collect_eventlog,
    log_target,
)
from sync_provider.core.databricks.models import (
    CLUSTERS_EVENTS,
    CLUSTERS_GET,
    COMPUTE_TYPES,
    PLAN_TYPES,
    PROJECT_ID_TAG,
    EventLogLocation,
)
from sync_provider.core.databricks.runs import check_run_id, fetch_run, parse_run_state, run_failure
from sync_provider.core.errors import DatabricksError, InvalidInputError
from sync_provider.core.models import Platform
from sync_provider.core.predictions import returns_response
from sync_provider.core.recording import (
    PendingCreate,
    adopt_earlier,
    announce_creating,
    announcer,
    creating_marker,
)

log = logging.getLogger(__name__)

#: Events per ``clusters/events`` page (Databricks' maximum).
EVENTS_PAGE_SIZE = 500
#: How long a report waits for a job cluster to finish terminating.
DEFAULT_CLUSTER_TIMEOUT_S = 600.0
_CLUSTER_POLL = Backoff(initial=2.0, maximum=15.0, factor=1.5, jitter=0.1)
_MAX_EVENT_PAGES = 10_000


def _check_plan(plan_type: str, compute_type: str) -> None:
    problems = []
    if plan_type not in PLAN_TYPES:
        problems.append(f"plan_type must be one of {', '.join(PLAN_TYPES)} (got {plan_type!r})")
    if compute_type not in COMPUTE_TYPES:
        problems.append(f"compute_type must be one of {', '.join(COMPUTE_TYPES)} (got {compute_type!r})")
    if problems:
        raise InvalidInputError("; ".join(problems) + ".", detail={"problems": problems})


def _tasks_by_cluster(run: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for task in run.get("tasks") or []:
        if not isinstance(task, dict):
            continue
        instance = task.get("cluster_instance")
        cluster_id = instance.get("cluster_id") if isinstance(instance, Mapping) else None
        if cluster_id:
            groups.setdefault(str(cluster_id), []).append(task)
    if not groups and isinstance(run.get("cluster_instance"), Mapping):
        cluster_id = run["cluster_instance"].get("cluster_id")
        if cluster_id:
            single = {k: v for k, v in run.items() if k != "tasks"}
            groups[str(cluster_id)] = [single]
    return groups


def _get_cluster(api: DatabricksApi, cluster_id: str) -> dict[str, Any]:
    return api.call("GET", CLUSTERS_GET, {"cluster_id": cluster_id}, idempotent=True)


def _choose_cluster(
    api: DatabricksApi, run_id: int, groups: dict[str, list[dict[str, Any]]], cluster_id: str | None
) -> tuple[str, dict[str, Any] | None]:
    if cluster_id is not None:
        if cluster_id not in groups:
            have = ", ".join(groups) or "none"
            raise InvalidInputError(
                f"Run {run_id} did not run on cluster {cluster_id} (its clusters: {have})."
            )
        return cluster_id, None
    if not groups:
        raise DatabricksError(
            f"Run {run_id} has no task with a cluster yet (cluster_instance): it may not have started."
        )
    if len(groups) == 1:
        return next(iter(groups)), None
    tagged = []
    for candidate in groups:
        cluster = _get_cluster(api, candidate)
        tags = cluster.get("custom_tags")
        if isinstance(tags, Mapping) and tags.get(PROJECT_ID_TAG):
            tagged.append((candidate, cluster))
    if len(tagged) == 1:
        return tagged[0]
    raise InvalidInputError(
        f"Run {run_id} ran on {len(groups)} clusters ({', '.join(groups)}) and {len(tagged)} of them carry a "
        f"{PROJECT_ID_TAG} tag: pass cluster_id to choose one."
    )


def _wait_terminated(
    api: DatabricksApi, cluster: dict[str, Any], timeout_s: float, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """Give a job cluster time to finish terminating, so that its events are complete."""
    if cluster.get("cluster_source") != "JOB":
        return cluster
    deadline = Deadline(timeout_s)
    delays = _CLUSTER_POLL.delays()
    while cluster.get("state") not in ("TERMINATED", "ERROR", "UNKNOWN"):
        if deadline.expired:
            log.warning(
                "Job cluster %s is still %s after %g s; reporting it as it is",
                cluster.get("cluster_id"),
                cluster.get("state"),
                timeout_s,
            )
            break
        sleep(deadline.clip(next(delays)))
        cluster = _get_cluster(api, str(cluster["cluster_id"]))
    return cluster


def cluster_events(
    api: DatabricksApi, cluster_id: str, *, page_size: int = EVENTS_PAGE_SIZE
) -> dict[str, Any]:
    """Return ``{"events": [every event, newest first], "total_count": N}`` for a cluster.

    Pages are followed by sending each answer's ``next_page`` back verbatim.

    :param api: the Databricks API.
    :param cluster_id: the cluster.
    :param page_size: events per page (1 to 500).
    :raises DatabricksError: when a page fails, or pagination does not end.
    """
    if not 1 <= page_size <= EVENTS_PAGE_SIZE:
        raise InvalidInputError(f"page_size must be between 1 and {EVENTS_PAGE_SIZE}.")
    body: dict[str, Any] | None = {"cluster_id": cluster_id, "order": "DESC", "limit": page_size}
    events: list[Any] = []
    total: int | None = None
    seen: set[str] = set()
    pages = 0
    while body is not None:
        marker = json.dumps(body, sort_keys=True, default=str)
        if marker in seen or pages >= _MAX_EVENT_PAGES:
            raise DatabricksError(
                f"clusters/events for {cluster_id} did not stop paginating (page {pages + 1} repeats an "
                "earlier request)."
            )
        seen.add(marker)
        answer = api.call("POST", CLUSTERS_EVENTS, body, idempotent=True)
        pages += 1
        events.extend(answer.get("events") or [])
        if total is None and isinstance(answer.get("total_count"), int):
            total = int(answer["total_count"])
        next_page = answer.get("next_page")
        body = dict(next_page) if isinstance(next_page, Mapping) and next_page else None
    log.debug("Read %d events of cluster %s in %d pages", len(events), cluster_id, pages)
    return {"events": events, "total_count": total if total is not None else len(events)}


def build_cluster_report(
    api: DatabricksApi,
    run_id: int | str,
    *,
    plan_type: str = "Premium",
    compute_type: str = "Jobs Compute",
    cluster_id: str | None = None,
    events_page_size: int = EVENTS_PAGE_SIZE,
    cluster_timeout_s: float = DEFAULT_CLUSTER_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`get_cluster_report` without the ``Response`` wrapper (raises)."""
    _check_plan(plan_type, compute_type)
    number = check_run_id(run_id)
    run = dict(run) if run is not None else fetch_run(api, number)
    state = parse_run_state(run)
    if not state.is_terminal:
        raise DatabricksError(
            f"Run {number} is still {state.describe()}: wait for it to end (wait_for_run) before its report."
        )
    groups = _tasks_by_cluster(run)
    chosen, cluster = _choose_cluster(api, number, groups, cluster_id)
    cluster = cluster or _get_cluster(api, chosen)
    cluster = _wait_terminated(api, cluster, cluster_timeout_s, sleep)
    return {
        "plan_type": plan_type,
        "compute_type": compute_type,
        "cluster": cluster,
        "cluster_events": cluster_events(api, chosen, page_size=events_page_size),
        "tasks": groups[chosen],
        "instances": [],
    }


@returns_response
def get_cluster_report(
    api: DatabricksApi,
    run_id: int | str,
    *,
    plan_type: str = "Premium",
    compute_type: str = "Jobs Compute",
    cluster_id: str | None = None,
    events_page_size: int = EVENTS_PAGE_SIZE,
    cluster_timeout_s: float = DEFAULT_CLUSTER_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Return the cluster report Sync needs for a finished run.

    ``{"plan_type", "compute_type", "cluster": clusters/get, "cluster_events": {"events": every
    page, "total_count"}, "tasks": the run's tasks on that cluster (with their timings and
    cluster_instance), "instances": []}``. Event details are kept as Databricks sent them
    (non-ASCII text included; the JSON sent to Sync escapes it).

    A job cluster still terminating is given up to ``cluster_timeout_s`` to finish, so its events
    are complete; an all-purpose cluster is reported as it is.

    :param api: the Databricks API.
    :param run_id: a finished run.
    :param plan_type: ``Standard``, ``Premium`` or ``Enterprise``.
    :param compute_type: ``Jobs Compute``, ``Jobs Compute Light`` or ``All-Purpose Compute``.
    :param cluster_id: which cluster, when the run used several (default: the only one, or the one
        tagged with ``sync:project-id``).
    :param events_page_size: events per ``clusters/events`` page.
    :param cluster_timeout_s: how long to wait for a job cluster to be ``TERMINATED``.
    :param sleep: the sleep function (tests pass a fake).
    """
    return build_cluster_report(
        api,
        run_id,
        plan_type=plan_type,
        compute_type=compute_type,
        cluster_id=cluster_id,
        events_page_size=events_page_size,
        cluster_timeout_s=cluster_timeout_s,
        sleep=sleep,
    )


def _download_s3_parts(location: EventLogLocation, s3_client: Any, folder: Path) -> Path:
    """Stream every part of an S3 log into ``folder/<spark context id>/``."""
    bucket, _, prefix = location.url[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    target = folder / location.spark_context_id
    target.mkdir(parents=True, exist_ok=True)
    for part in location.parts:
        with (target / part.name).open("wb") as out:
            s3_client.download_fileobj(bucket, f"{prefix}/{part.name}", out)
    return target


@returns_response
def record_run(
    api: DatabricksApi,
    run_id: int | str,
    *,
    project_id: str | None = None,
    s3_client: Any = None,
    sync_client: Any = None,
    plan_type: str = "Premium",
    compute_type: str = "Jobs Compute",
    allow_incomplete: bool = False,
    log_timeout_s: float = DEFAULT_LOG_TIMEOUT_S,
    log_poll: Backoff = DEFAULT_LOG_POLL,
    cluster_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    existing_prediction_id: str | None = None,
    adopt_recorded: bool = True,
    on_created: Callable[[str], None] | None = None,
    pending_create: PendingCreate | None = None,
    on_creating: Callable[[PendingCreate], None] | None = None,
) -> str:
    """Create a Sync prediction from a successful run; return the prediction id.

    Cluster report (:func:`get_cluster_report`) -> event log (:func:`collect_eventlog`, waiting
    for delivery) -> :func:`sync_provider.core.predictions.create_prediction` for ``aws-databricks``
    with the log uploaded through Sync's presigned POST (a DBFS log as a zip of its parts; an S3
    log streamed from S3 when it is one file, else downloaded and zipped). Temporary files are
    removed.

    A run is recorded once: the new prediction's id is saved as ``sync-prediction.json`` in the
    run's log destination (S3 or DBFS) right after the create call answered, and a later
    ``record_run`` of the same run returns that prediction, before waiting for the event log,
    instead of creating a second one when Sync already has its event log (see
    :mod:`sync_provider.core.recording`). A prediction whose upload never finished is abandoned
    (with a warning naming it) and a new one created. Just before the create call a creating marker
    is saved the same way; as the log is uploaded after the create call, a later ``record_run``
    that finds only a marker warns that the earlier call's prediction (if Sync made one) never got
    its log, and creates a new one.

    :param api: the Databricks API.
    :param run_id: a run that ended ``TERMINATED`` / ``SUCCESS``.
    :param project_id: the Sync project (default: the cluster's ``sync:project-id`` tag).
    :param s3_client: boto3 S3 client for S3 log destinations.
    :param sync_client: the Sync API client (default: from configuration).
    :param plan_type: the workspace's plan.
    :param compute_type: the compute type billed.
    :param allow_incomplete: accept an incomplete event log at the deadline.
    :param log_timeout_s: how long to wait for log delivery.
    :param log_poll: delays between looks at the log location.
    :param cluster_id: which cluster, when the run used several.
    :param sleep: the sleep function (tests pass a fake).
    :param existing_prediction_id: a prediction an earlier attempt created (e.g. kept by the
        caller from ``on_created``): returned when it has its event log, else abandoned.
    :param adopt_recorded: also adopt the prediction named in the log destination's
        ``sync-prediction.json``; ``False`` records the run anew (a deliberate second recording).
    :param on_created: called with the prediction id as soon as the create call answered, before
        the event log is uploaded; an exception it raises propagates (and nothing is uploaded).
    :param pending_create: a creating marker an earlier attempt left (kept by the caller from
        ``on_creating``).
    :param on_creating: called with the creating marker just before the create call; an exception
        it raises propagates (and nothing is created).
    :raises DatabricksError: the run did not succeed, or Databricks failed.
    """
    from sync_provider.core.predictions import create_prediction

    number = check_run_id(run_id)
    run = fetch_run(api, number)
    state = parse_run_state(run)
    if not state.is_successful:
        error = run_failure(number, state, run)
        error.message += " Only successful runs are recorded."
        raise error
    report = build_cluster_report(
        api,
        number,
        plan_type=plan_type,
        compute_type=compute_type,
        cluster_id=cluster_id,
        sleep=sleep,
        run=run,
    )
    failed = [
        str(task.get("task_key"))
        for task in report["tasks"]
        if isinstance(task.get("state"), Mapping)
        and task["state"].get("result_state") not in (None, "SUCCESS")
    ]
    if failed:
        raise DatabricksError(f"Run {number}: tasks {', '.join(failed)} did not succeed; it is not recorded.")
    tags = report["cluster"].get("custom_tags")
    tags = tags if isinstance(tags, Mapping) else {}
    project = project_id or tags.get(PROJECT_ID_TAG) or None
    target = log_target(report)
    adopted = adopt_earlier(
        existing_prediction_id=existing_prediction_id,
        adopt_recorded=adopt_recorded,
        run_folder=target.destination,
        subject=f"Databricks run {number}",
        cluster_id=target.cluster_id,
        run_id=str(number),
        project_id=project,
        log_sent_with_create=False,
        client=sync_client,
        s3_client=s3_client,
        api=api,
        pending=pending_create,
        platform=Platform.AWS_DATABRICKS,
    )
    if adopted is not None:
        return adopted
    location = collect_eventlog(
        api,
        report,
        s3_client=s3_client,
        timeout_s=log_timeout_s,
        poll=log_poll,
        sleep=sleep,
        allow_incomplete=allow_incomplete,
    ).unwrap()
    scratch: list[Path] = []
    try:
        if location.kind == "local":
            scratch.append(Path(location.url).parent)
            source = location.url
        elif len(location.parts) == 1:
            source = location.url.rstrip("/") + "/" + location.parts[0].name
        else:
            folder = Path(tempfile.mkdtemp(prefix="sync-databricks-eventlog-"))
            scratch.append(folder)
            if s3_client is None:
                from sync_provider.core.storage import default_s3_client

                s3_client = default_s3_client()
            source = str(_download_s3_parts(location, s3_client, folder))
        announce_creating(
            creating_marker(source, upload=True),
            on_creating,
            target.destination,
            Platform.AWS_DATABRICKS,
            target.cluster_id,
            run_id=str(number),
            project_id=project,
            s3_client=s3_client,
            api=api,
        )
        prediction_id = create_prediction(
            Platform.AWS_DATABRICKS,
            report,
            source,
            project_id=project,
            upload=True,
            allow_incomplete=allow_incomplete,
            client=sync_client,
            s3_client=s3_client,
            on_created=announcer(
                on_created,
                target.destination,
                Platform.AWS_DATABRICKS,
                target.cluster_id,
                run_id=str(number),
                project_id=project,
                s3_client=s3_client,
                api=api,
            ),
        ).unwrap()
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)
    log.info("Recorded Databricks run %s as Sync prediction %s", number, prediction_id)
    return prediction_id


__all__ = [
    "DEFAULT_CLUSTER_TIMEOUT_S",
    "EVENTS_PAGE_SIZE",
    "build_cluster_report",
    "cluster_events",
    "get_cluster_report",
    "record_run",
]
