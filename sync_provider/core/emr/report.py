"""Cluster reports, the run's event log, and recording a run as a Sync prediction."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from sync_provider.core.emr._common import (
    EVENTLOG_DIR,
    PROJECT_TAG,
    REPORT_FILE,
    describe_cluster,
    error_code,
    json_safe,
    paginate,
    region_of,
    run_location_of,
    s3_put,
    spark_defaults,
    tags_of,
)
from sync_provider.core.emr.clusters import _state
from sync_provider.core.errors import EMRError, EventLogError, InvalidInputError
from sync_provider.core.models import Platform
from sync_provider.core.predictions import create_prediction, returns_response
from sync_provider.core.recording import (
    OnCreating,
    PendingCreate,
    adopt_earlier,
    announce_creating,
    announcer,
    creating_marker,
)
from sync_provider.core.storage import parse_s3_url

log = logging.getLogger(__name__)

_CODECS = ("lz4", "lzf", "snappy", "zstd", "zst", "gz")
_APP = r"application_\d+_\d+(?:_\d+)?"
_SINGLE_RE = re.compile(rf"^(?P<app>{_APP})(?:\.(?:{'|'.join(_CODECS)}))?(?P<inprogress>\.inprogress)?$")
_ROLLING_RE = re.compile(rf"^eventlog_v2_(?P<app>{_APP})/")


def _report(emr_client: Any, cluster_id: str, region: str | None) -> dict[str, Any]:
    what = f"cluster {cluster_id}"
    cluster = dict(describe_cluster(emr_client, cluster_id))
    cluster["BootstrapActions"] = list(
        paginate(
            emr_client,
            "list_bootstrap_actions",
            "BootstrapActions",
            f"bootstrap actions of {what}",
            ClusterId=cluster_id,
        )
    )
    if cluster.get("InstanceCollectionType") == "INSTANCE_FLEET":
        cluster["InstanceFleets"] = list(
            paginate(
                emr_client,
                "list_instance_fleets",
                "InstanceFleets",
                f"instance fleets of {what}",
                ClusterId=cluster_id,
            )
        )
    else:
        cluster["InstanceGroups"] = list(
            paginate(
                emr_client,
                "list_instance_groups",
                "InstanceGroups",
                f"instance groups of {what}",
                ClusterId=cluster_id,
            )
        )
    instances = list(
        paginate(emr_client, "list_instances", "Instances", f"instances of {what}", ClusterId=cluster_id)
    )
    steps = list(paginate(emr_client, "list_steps", "Steps", f"steps of {what}", ClusterId=cluster_id))
    report = {
        "Cluster": cluster,
        "Instances": instances,
        "Steps": steps,
        "Region": region or region_of(emr_client),
    }
    safe: dict[str, Any] = json_safe(report)
    return safe


@returns_response
def get_cluster_report(emr_client: Any, cluster_id: str, *, region: str | None = None) -> dict[str, Any]:
    """Build the cluster report Sync predicts from (JSON-safe: times are ISO strings).

    ``{"Cluster": DescribeCluster + "BootstrapActions" + "InstanceGroups" | "InstanceFleets",
    "Instances": ListInstances, "Steps": ListSteps, "Region": region}``; every list call is read to
    its last page.

    :param emr_client: a boto3 EMR client.
    :param cluster_id: the cluster id.
    :param region: the cluster's region (default: the client's).
    :raises EMRError: when an EMR call fails.
    """
    return _report(emr_client, cluster_id, region)


def _cluster_of(report: Mapping[str, Any]) -> Mapping[str, Any]:
    cluster = report.get("Cluster") if isinstance(report, Mapping) else None
    if not isinstance(cluster, Mapping):
        raise InvalidInputError(
            "The cluster report has no 'Cluster' object; build it with get_cluster_report."
        )
    return cluster


def _save(s3_client: Any, report: Mapping[str, Any]) -> str:
    location = run_location_of(_cluster_of(report))
    key = location.run_key + REPORT_FILE
    body = json.dumps(json_safe(report), indent=2, sort_keys=True).encode()
    s3_put(s3_client, location.bucket, key, body, "application/json")
    url = f"s3://{location.bucket}/{key}"
    log.info("Saved the cluster report to %s", url)
    return url


@returns_response
def save_cluster_report(s3_client: Any, report: Mapping[str, Any]) -> str:
    """Write ``emr-cluster-report.json`` in the run folder; return its ``s3://`` URL.

    The run folder is found from the cluster's ``spark.eventLog.dir`` (checked against its
    ``sync:run-id`` tag).

    :param s3_client: a boto3 S3 client.
    :param report: a report from :func:`get_cluster_report`.
    :raises EMRError: when the cluster was not launched in a Sync run folder.
    :raises StorageError: when S3 refuses the write.
    """
    return _save(s3_client, report)


def _list_keys(s3_client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            params["ContinuationToken"] = token
        try:
            page = s3_client.list_objects_v2(**params)
        except Exception as exc:
            code = error_code(exc)
            raise EventLogError(
                f"Listing the event-log folder s3://{bucket}/{prefix} failed ({code}); check that the "
                "bucket exists and the credentials may s3:ListBucket it.",
                detail={"aws_error_code": code},
            ) from None
        keys += [str(obj["Key"]) for obj in page.get("Contents") or []]
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return keys


def _pick_eventlog(bucket: str, prefix: str, keys: list[str]) -> str:
    folder = f"s3://{bucket}/{prefix}"
    single: dict[str, tuple[str, bool]] = {}
    rolling: dict[str, str] = {}
    others: list[str] = []
    for key in keys:
        name = key[len(prefix) :]
        if not name:
            continue  # the folder marker
        rolling_match = _ROLLING_RE.match(name)
        if rolling_match:
            rolling[rolling_match["app"]] = f"{folder}eventlog_v2_{rolling_match['app']}/"
            continue
        match = _SINGLE_RE.fullmatch(name)
        if match is None:
            others.append(name)
            continue
        inprogress = bool(match["inprogress"])
        current = single.get(match["app"])
        if current is None or (current[1] and not inprogress):  # a finished log beats its .inprogress copy
            single[match["app"]] = (f"{folder}{name}", inprogress)
    logs = {app: url for app, (url, _) in single.items()}
    logs.update(rolling)
    if not logs:
        seen = f"it holds only {', '.join(sorted(others)[:10])}" if others else "it is empty"
        raise EventLogError(
            f"No Spark event log in {folder} ({seen}). Did a Spark step run on the cluster with Sync's "
            "spark-defaults (spark.eventLog.enabled/dir)?",
            detail={"reason": "no_event_log", "folder": folder, "others": sorted(others)},
        )
    if len(logs) > 1:
        raise EventLogError(
            f"{folder} holds event logs of {len(logs)} Spark applications ({', '.join(sorted(logs))}); "
            "Sync predicts one application per run: run one Spark application per cluster.",
            detail={"reason": "several_logs", "folder": folder, "applications": sorted(logs)},
        )
    return next(iter(logs.values()))


def _find_eventlog(s3_client: Any, report: Mapping[str, Any], allow_incomplete: bool) -> str:
    from sync_provider.core.eventlog import check_completeness

    cluster = _cluster_of(report)
    eventlog_dir = spark_defaults(cluster.get("Configurations")).get(EVENTLOG_DIR)
    if not isinstance(eventlog_dir, str) or not eventlog_dir.startswith(("s3://", "s3a://", "s3n://")):
        raise EventLogError(
            f"EMR cluster {cluster.get('Id', '?')} has no S3 {EVENTLOG_DIR} in its spark-defaults "
            "configuration, so its event log cannot be found; launch it with launch_job_flow.",
            detail={"reason": "no_event_log_dir"},
        )
    location = parse_s3_url(eventlog_dir.rstrip("/") + "/")
    prefix = location.key if location.key.endswith("/") else location.key + "/"
    url = _pick_eventlog(location.bucket, prefix, _list_keys(s3_client, location.bucket, prefix))
    completeness = check_completeness(url, s3_client=s3_client)
    if not completeness.complete and not allow_incomplete:
        raise EventLogError(
            f"The event log {url} is incomplete: {'; '.join(completeness.problems)}. Spark may not have "
            "finished writing it (the application failed or is still running); use allow_incomplete=True "
            "to predict from it anyway.",
            detail={"reason": "incomplete", "eventlog_url": url, "problems": completeness.problems},
        )
    if not completeness.complete:
        log.warning("Using incomplete event log %s: %s", url, "; ".join(completeness.problems))
    return url


@returns_response
def find_run_eventlog(s3_client: Any, report: Mapping[str, Any], *, allow_incomplete: bool = False) -> str:
    """Find the run's Spark event log under the cluster's ``spark.eventLog.dir`` and check it is whole.

    Every listing page is read. A single file ``application_<id>`` (optionally with a codec suffix
    ``.lz4/.lzf/.snappy/.zstd/.gz`` and/or ``.inprogress``) or a rolling folder
    ``eventlog_v2_application_<id>/`` is accepted; the log must then pass
    :func:`~sync_provider.core.eventlog.check_completeness`.

    :param s3_client: a boto3 S3 client.
    :param report: a report from :func:`get_cluster_report`.
    :param allow_incomplete: accept an in-progress log or one without ``SparkListenerApplicationEnd``.
    :return: the ``s3://`` URL of the log file (or of the rolling folder, ending with ``/``).
    :raises EventLogError: when there is no log, more than one application, or the log is incomplete
        (naming exactly what is missing).
    """
    return _find_eventlog(s3_client, report, allow_incomplete)


@returns_response
def record_run(
    emr_client: Any,
    s3_client: Any,
    cluster_id: str,
    *,
    project_id: str | None = None,
    allow_incomplete: bool = False,
    upload: bool = False,
    sync_client: Any = None,
    region: str | None = None,
    existing_prediction_id: str | None = None,
    adopt_recorded: bool = True,
    on_created: Callable[[str], None] | None = None,
    pending_create: PendingCreate | None = None,
    on_creating: OnCreating | None = None,
) -> str:
    """Record a finished run with Sync: report, find and check the event log, save the report, predict.

    The event log is found and checked before anything is written: a missing or incomplete log
    raises with the run folder left as it was (no ``emr-cluster-report.json``).

    A run is recorded once: the new prediction's id is saved as ``sync-prediction.json`` in the run
    folder right after the create call answered, and a later ``record_run`` of the same cluster
    returns that prediction instead of creating a second one when Sync already has its event log
    (see :mod:`sync_provider.core.recording`). A prediction whose upload never finished is
    abandoned (with a warning naming it) and a new one created.

    Just before the create call, a creating marker (when the call started, the event log's file
    name) is saved the same way; a later ``record_run`` that finds only a marker (the attempt died
    between the create call and keeping its answer) adopts the prediction that call made when the
    log's URL went with it: the newest of the project created since, with that event log.

    :param emr_client: a boto3 EMR client.
    :param s3_client: a boto3 S3 client (also presigns or streams the event log).
    :param cluster_id: the cluster of the run.
    :param project_id: the Sync project (default: the cluster's ``sync:project-id`` tag).
    :param allow_incomplete: accept an incomplete event log.
    :param upload: upload the log through Sync's presigned POST instead of sending a presigned URL.
    :param sync_client: a :class:`~sync_provider.core.client.SyncClient` (default: from settings).
    :param region: the cluster's region for the report (default: the EMR client's).
    :param existing_prediction_id: a prediction an earlier attempt created (e.g. kept by the
        caller from ``on_created``): returned when it has its event log, else abandoned.
    :param adopt_recorded: also adopt the prediction named in the run folder's
        ``sync-prediction.json``; ``False`` records the run anew (a deliberate second recording).
    :param on_created: called with the prediction id as soon as the create call answered, before
        the event log is uploaded; an exception it raises propagates (and nothing is uploaded).
    :param pending_create: a creating marker an earlier attempt left (kept by the caller from
        ``on_creating``): its prediction is looked for when no earlier prediction is adopted.
    :param on_creating: called with the creating marker just before the create call; an exception
        it raises propagates (and nothing is created).
    :return: the prediction id.
    :raises EMRError: when the cluster did not finish successfully (with the reason) or AWS fails.
    :raises EventLogError: when the event log is missing or incomplete.
    """
    state = _state(emr_client, cluster_id)
    if not state.succeeded:
        if state.terminal:
            error = state.error()
            assert error is not None
            raise EMRError(f"Cannot record the run: {error.message}", detail=error.detail)
        raise EMRError(
            f"Cannot record the run: EMR cluster {cluster_id} is {state.describe()}, not finished; wait "
            "for it with wait_for_cluster first.",
            detail={"reason": "not_finished", "cluster_id": cluster_id, "state": state.state},
        )
    report = _report(emr_client, cluster_id, region)
    tagged = tags_of(report["Cluster"]).get(PROJECT_TAG)
    if project_id is not None and tagged is not None and tagged != project_id:
        raise InvalidInputError(
            f"EMR cluster {cluster_id} belongs to project {tagged} ({PROJECT_TAG} tag), not {project_id}."
        )
    project = project_id or tagged
    # Check everything before writing anything: the run folder (a Sync run?) and the whole event
    # log; a missing or incomplete log leaves the run folder as it was.
    run_folder = run_location_of(report["Cluster"]).run_prefix
    eventlog_url = _find_eventlog(s3_client, report, allow_incomplete)
    _save(s3_client, report)
    # A rolling log is a folder of parts: it cannot be one presigned URL, so it is zipped and uploaded.
    upload = upload or eventlog_url.endswith("/")
    adopted = adopt_earlier(
        existing_prediction_id=existing_prediction_id,
        adopt_recorded=adopt_recorded,
        run_folder=run_folder,
        subject=f"EMR cluster {cluster_id}",
        cluster_id=cluster_id,
        project_id=project,
        log_sent_with_create=not upload,
        client=sync_client,
        s3_client=s3_client,
        pending=pending_create,
        platform=Platform.AWS_EMR,
    )
    if adopted is not None:
        return adopted
    announce_creating(
        creating_marker(eventlog_url, upload=upload),
        on_creating,
        run_folder,
        Platform.AWS_EMR,
        cluster_id,
        project_id=project,
        s3_client=s3_client,
    )
    prediction_id = create_prediction(
        Platform.AWS_EMR,
        report,
        eventlog_url,
        project_id=project,
        upload=upload,
        client=sync_client,
        s3_client=s3_client,
        on_created=announcer(
            on_created, run_folder, Platform.AWS_EMR, cluster_id, project_id=project, s3_client=s3_client
        ),
    ).unwrap()
    log.info("Recorded EMR cluster %s as Sync prediction %s", cluster_id, prediction_id)
    return prediction_id
