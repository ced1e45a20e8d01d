"""Finding a finished run's Spark event log where Databricks delivered it, and waiting for delivery.

Databricks delivers a cluster's logs to its ``cluster_log_conf`` destination every few minutes and
once more when the cluster terminates. The Spark event log lands in::

    <destination>/<cluster id>/eventlog/<cluster id>_<driver ip, dots as _>/<spark context id>/
        eventlog                              the current part (written last)
        eventlog-YYYY-MM-DD--HH-00.gz         hourly rolled parts, when the application ran for hours

:func:`collect_eventlog` waits, within a bound, until delivery is complete: the current
``eventlog`` exists and was modified after the run ended, no part is empty, the sizes did not change
between two looks, and the completeness check finds the whole application.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.databricks.client import DatabricksApi, DatabricksAPIError, DatabricksTimeoutError
from sync_provider.core.databricks.models import DBFS_LIST, DBFS_READ, EventLogLocation, EventLogPart
from sync_provider.core.errors import DatabricksError, EventLogError, InvalidInputError
from sync_provider.core.predictions import returns_response

log = logging.getLogger(__name__)

#: Default overall wait for log delivery (Databricks delivers every ~5 minutes and at termination).
DEFAULT_LOG_TIMEOUT_S = 900.0
#: Default polling policy while waiting for log delivery.
DEFAULT_LOG_POLL = Backoff(initial=5.0, maximum=30.0, factor=1.5, jitter=0.1)
#: Largest ``dbfs/read`` length Databricks allows.
DBFS_MAX_READ = 1024 * 1024
_CURRENT = "eventlog"
# S3's LastModified has second precision; allow that much when comparing with the run's end.
_S3_CLOCK_TOLERANCE_MS = 1000


@dataclass(frozen=True)
class LogTarget:
    """What to look for: the log destination, the cluster, the Spark context and the run's end.

    :param scheme: ``s3`` or ``dbfs``.
    :param destination: the ``cluster_log_conf`` destination, without a trailing slash.
    :param cluster_id: the cluster.
    :param context_id: the Spark context id.
    :param run_end_ms: when the run's tasks ended (epoch ms; 0 when unknown).
    """

    scheme: str
    destination: str
    cluster_id: str
    context_id: str
    run_end_ms: int

    @property
    def eventlog_root(self) -> str:
        """``<destination>/<cluster id>/eventlog``."""
        return f"{self.destination}/{self.cluster_id}/eventlog"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def log_target(cluster_report: Mapping[str, Any]) -> LogTarget:
    """Read the log destination, cluster, Spark context and run end from a cluster report.

    :param cluster_report: the result of :func:`~sync_provider.core.databricks.get_cluster_report`.
    :raises DatabricksError: no log destination, an unsupported one, or no single Spark context.
    """
    cluster = cluster_report.get("cluster") if isinstance(cluster_report, Mapping) else None
    if not isinstance(cluster, Mapping) or not cluster.get("cluster_id"):
        raise InvalidInputError(
            "The cluster report has no cluster (expected the result of get_cluster_report)."
        )
    cluster_id = str(cluster["cluster_id"])
    conf = cluster.get("cluster_log_conf")
    if not isinstance(conf, Mapping) and isinstance(cluster.get("spec"), Mapping):
        conf = cluster["spec"].get("cluster_log_conf")
    if not isinstance(conf, Mapping) or not conf:
        raise DatabricksError(
            f"Cluster {cluster_id} has no cluster_log_conf, so Databricks delivered no event log: start the "
            "run with a cluster spec from prepare_cluster_spec."
        )
    if isinstance(conf.get("s3"), Mapping):
        scheme, destination = "s3", str(conf["s3"].get("destination") or "")
    elif isinstance(conf.get("dbfs"), Mapping):
        scheme, destination = "dbfs", str(conf["dbfs"].get("destination") or "")
    else:
        raise DatabricksError(
            f"Cluster {cluster_id} delivers logs to {', '.join(conf)}; only s3 and dbfs destinations are "
            "supported."
        )
    destination = destination.rstrip("/")
    if scheme == "dbfs":
        destination = "dbfs:/" + destination.removeprefix("dbfs:").lstrip("/")
    contexts: list[str] = []
    end_ms = 0
    for task in cluster_report.get("tasks") or []:
        if not isinstance(task, Mapping):
            continue
        instance = task.get("cluster_instance")
        context = instance.get("spark_context_id") if isinstance(instance, Mapping) else None
        if context and str(context) not in contexts:
            contexts.append(str(context))
        if isinstance(task.get("end_time"), int):
            end_ms = max(end_ms, int(task["end_time"]))
    if not contexts and cluster.get("spark_context_id"):
        contexts.append(str(cluster["spark_context_id"]))
    if len(contexts) != 1:
        found = ", ".join(contexts) if contexts else "none"
        raise DatabricksError(
            f"Cannot tell which Spark application's log to collect on cluster {cluster_id}: the run's tasks "
            f"name {len(contexts)} Spark context ids ({found}); exactly one is needed."
        )
    if not end_ms and isinstance(cluster.get("terminated_time"), int):
        end_ms = int(cluster["terminated_time"])
    return LogTarget(scheme, destination, cluster_id, contexts[0], end_ms)


class _Store(Protocol):
    tolerance_ms: int

    def list_parts(self) -> tuple[list[EventLogPart], str]: ...

    def check(self, parts: list[EventLogPart], folder: str) -> tuple[str, list[str]]: ...

    def source(self, folder: str) -> str: ...


@dataclass(frozen=True)
class _Checked:
    url: str
    problems: list[str]
    parts: list[EventLogPart]
    source: str


def _driver_dir_ok(name: str, cluster_id: str) -> bool:
    return name.startswith(cluster_id + "_")


class _S3Store:
    tolerance_ms = _S3_CLOCK_TOLERANCE_MS

    def __init__(self, target: LogTarget, client: Any, page_size: int | None) -> None:
        bucket, _, key = target.eventlog_root[len("s3://") :].partition("/")
        self.bucket = bucket
        # "s3://bucket" (a bucket-root destination) gives "<cluster>/eventlog/", never "/<cluster>…".
        self.prefix = key.strip("/") + "/"
        self.target = target
        self.client = client
        self.page_size = page_size

    def list_parts(self) -> tuple[list[EventLogPart], str]:
        config: dict[str, Any] = {"PageSize": self.page_size} if self.page_size else {}
        by_folder: dict[str, list[EventLogPart]] = {}
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, PaginationConfig=config):
                for obj in page.get("Contents", []) or []:
                    rel = str(obj["Key"])[len(self.prefix) :].split("/")
                    if len(rel) != 3 or not rel[2] or rel[1] != self.target.context_id:
                        continue
                    if not _driver_dir_ok(rel[0], self.target.cluster_id):
                        continue
                    modified = obj.get("LastModified")
                    ms = int(modified.timestamp() * 1000) if isinstance(modified, datetime) else 0
                    folder = f"{self.prefix}{rel[0]}/{rel[1]}/"
                    by_folder.setdefault(folder, []).append(
                        EventLogPart(name=rel[2], size=int(obj.get("Size", 0)), modified_ms=ms)
                    )
        except Exception as exc:
            code = _s3_code(exc)
            if code == "NoSuchBucket":
                raise DatabricksError(
                    f"The log bucket {self.bucket!r} does not exist: check the project location."
                ) from None
            raise DatabricksError(
                f"Listing s3://{self.bucket}/{self.prefix} failed ({code}): the reader needs s3:ListBucket "
                "on the log location."
            ) from None
        if not by_folder:
            return [], f"{self.prefix}"
        folder = max(by_folder, key=lambda f: max(p.modified_ms for p in by_folder[f]))
        return sorted(by_folder[folder], key=lambda p: p.name), folder

    def source(self, folder: str) -> str:
        return f"s3://{self.bucket}/{folder}"

    def check(self, parts: list[EventLogPart], folder: str) -> tuple[str, list[str]]:
        from sync_provider.core.eventlog import check_completeness

        url = self.source(folder)
        report = check_completeness(url, s3_client=self.client, s3_page_size=self.page_size)
        return url, list(report.problems)


def _s3_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _dbfs_path(url: str) -> str:
    return "/" + url.removeprefix("dbfs:").lstrip("/")


class _DbfsStore:
    tolerance_ms = 0

    def __init__(self, target: LogTarget, api: DatabricksApi, download_dir: Path, chunk: int) -> None:
        self.target = target
        self.api = api
        self.download_dir = download_dir
        self.chunk = chunk

    def _list(self, path: str) -> list[dict[str, Any]]:
        try:
            answer = self.api.call("GET", DBFS_LIST, {"path": path}, idempotent=True)
        except DatabricksAPIError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or exc.status == 404:
                return []
            raise
        files = answer.get("files") or []
        return [f for f in files if isinstance(f, dict)]

    def list_parts(self) -> tuple[list[EventLogPart], str]:
        root = _dbfs_path(self.target.eventlog_root)
        best: tuple[int, str, list[EventLogPart]] | None = None
        for entry in self._list(root):
            name = str(entry.get("path", "")).rstrip("/").rsplit("/", 1)[-1]
            if not entry.get("is_dir") or not _driver_dir_ok(name, self.target.cluster_id):
                continue
            for context in self._list(f"{root}/{name}"):
                cname = str(context.get("path", "")).rstrip("/").rsplit("/", 1)[-1]
                if not context.get("is_dir") or cname != self.target.context_id:
                    continue
                folder = f"{root}/{name}/{cname}"
                parts = [
                    EventLogPart(
                        name=str(f.get("path", "")).rsplit("/", 1)[-1],
                        size=int(f.get("file_size") or 0),
                        modified_ms=int(f.get("modification_time") or 0),
                    )
                    for f in self._list(folder)
                    if not f.get("is_dir")
                ]
                newest = max((p.modified_ms for p in parts), default=0)
                if parts and (best is None or newest > best[0]):
                    best = (newest, folder, parts)
        if best is None:
            return [], root
        return sorted(best[2], key=lambda p: p.name), best[1]

    def _download(self, source: str, target: Path) -> int:
        offset = 0
        with target.open("wb") as out:
            while True:
                answer = self.api.call(
                    "GET",
                    DBFS_READ,
                    {"path": source, "offset": offset, "length": self.chunk},
                    idempotent=True,
                )
                count = int(answer.get("bytes_read") or 0)
                if count <= 0:
                    break
                data = base64.b64decode(answer.get("data") or "")
                out.write(data)
                offset += len(data)
                if len(data) < self.chunk:
                    break
        return offset

    def source(self, folder: str) -> str:
        return "dbfs:" + folder

    def check(self, parts: list[EventLogPart], folder: str) -> tuple[str, list[str]]:
        from sync_provider.core.eventlog import check_completeness

        local = self.download_dir / self.target.context_id
        if local.exists():
            shutil.rmtree(local)
        local.mkdir(parents=True)
        problems: list[str] = []
        for part in parts:
            size = self._download(f"{folder}/{part.name}", local / part.name)
            if size != part.size:
                problems.append(f"{part.name} changed while it was read ({part.size} -> {size} bytes)")
        report = check_completeness(local)
        return str(local), problems + list(report.problems)


def _not_ready(
    parts: list[EventLogPart], previous: dict[str, int] | None, run_end_ms: int, tolerance_ms: int
) -> str | None:
    if not parts:
        return "no event-log file has been delivered yet"
    current = [p for p in parts if p.name == _CURRENT]
    if not current:
        return f"only rolled parts are there, not the current '{_CURRENT}' file"
    if run_end_ms and current[0].modified_ms + tolerance_ms < run_end_ms:
        return (
            f"'{_CURRENT}' was last written at {_iso(current[0].modified_ms)}, before the run ended at "
            f"{_iso(run_end_ms)}: the final delivery has not happened yet"
        )
    empty = [p.name for p in parts if p.size == 0]
    if empty:
        return f"parts still empty: {', '.join(empty)}"
    if previous != {p.name: p.size for p in parts}:
        return "the parts' sizes changed since the last look (delivery in progress)"
    return None


@returns_response
def collect_eventlog(
    api: DatabricksApi,
    cluster_report: Mapping[str, Any],
    *,
    s3_client: Any = None,
    timeout_s: float = DEFAULT_LOG_TIMEOUT_S,
    poll: Backoff = DEFAULT_LOG_POLL,
    sleep: Callable[[float], None] = time.sleep,
    allow_incomplete: bool = False,
    download_dir: str | os.PathLike[str] | None = None,
    dbfs_chunk_bytes: int = DBFS_MAX_READ,
    s3_page_size: int | None = None,
) -> EventLogLocation:
    """Find the run's event log under the cluster's ``cluster_log_conf`` and wait until it is whole.

    S3 destinations are listed with ``s3_client`` (every ``ListObjectsV2`` page) and the result is
    the ``s3://`` prefix of the run's Spark context. DBFS destinations are listed with
    ``dbfs/list`` and downloaded chunk by chunk with ``dbfs/read`` (streamed to disk) into a local
    folder, which is the result; the caller removes it.

    Delivery is complete when the current ``eventlog`` exists and was modified after the run ended,
    no part is empty, the sizes are the same in two consecutive looks, and
    :func:`~sync_provider.core.eventlog.check_completeness` finds no problem (every rolled part, one
    application from start to end). Until then it polls, up to ``timeout_s``.

    :param api: the Databricks API (DBFS listing and reads).
    :param cluster_report: the result of :func:`~sync_provider.core.databricks.get_cluster_report`.
    :param s3_client: boto3 S3 client for S3 destinations (default: boto3's default chain).
    :param timeout_s: how long to wait for delivery.
    :param poll: delays between looks.
    :param sleep: the sleep function (tests pass a fake).
    :param allow_incomplete: at the deadline, return an incomplete log (``complete=False`` and its
        ``problems``) instead of failing.
    :param download_dir: where DBFS logs are downloaded (default: a new temporary folder).
    :param dbfs_chunk_bytes: bytes per ``dbfs/read`` call (at most 1 MiB).
    :param s3_page_size: objects per ``ListObjectsV2`` page (default: S3's 1000).
    :raises DatabricksTimeoutError: nothing was delivered in time.
    :raises EventLogError: the log is incomplete at the deadline (and ``allow_incomplete`` is false).
    """
    if not 0 < dbfs_chunk_bytes <= DBFS_MAX_READ:
        raise InvalidInputError(f"dbfs_chunk_bytes must be between 1 and {DBFS_MAX_READ}.")
    target = log_target(cluster_report)
    created: Path | None = None
    store: _Store
    if target.scheme == "s3":
        if s3_client is None:
            from sync_provider.core.storage import default_s3_client

            s3_client = default_s3_client()
        store = _S3Store(target, s3_client, s3_page_size)
    else:
        if download_dir is None:
            created = Path(tempfile.mkdtemp(prefix="sync-databricks-eventlog-"))
        folder = created if created is not None else Path(os.fspath(download_dir or "."))
        store = _DbfsStore(target, api, folder, dbfs_chunk_bytes)
    try:
        return _wait_for_delivery(store, target, timeout_s, poll, sleep, allow_incomplete)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _wait_for_delivery(  # noqa: PLR0917 - private helper of collect_eventlog
    store: _Store,
    target: LogTarget,
    timeout_s: float,
    poll: Backoff,
    sleep: Callable[[float], None],
    allow_incomplete: bool,
) -> EventLogLocation:
    deadline = Deadline(timeout_s)
    delays = poll.delays()
    previous: dict[str, int] | None = None
    checked: dict[str, int] | None = None
    outcome: _Checked | None = None
    reason = "nothing looked at yet"
    parts: list[EventLogPart] = []
    folder = ""
    while True:
        parts, folder = store.list_parts()
        sizes = {p.name: p.size for p in parts}
        waiting = _not_ready(parts, previous, target.run_end_ms, store.tolerance_ms)
        previous = sizes
        if waiting is None and sizes != checked:
            checked = sizes
            outcome = _check(store, parts, folder)
            if not outcome.problems:
                # A delivery may land while the check reads the parts: only a listing that is the
                # same before and after the check describes what was checked.
                again, _ = store.list_parts()
                if {p.name: p.size for p in again} == sizes:
                    return _location(target, store, outcome)
                previous, checked, waiting = None, None, "a delivery landed during the check"
        if waiting is not None:
            reason = waiting
        elif outcome is not None:
            reason = "the log is incomplete: " + "; ".join(outcome.problems)
        if deadline.expired:
            break
        log.debug("Waiting for the event log of cluster %s: %s", target.cluster_id, reason)
        sleep(deadline.clip(next(delays)))
    where = f"{target.eventlog_root}/{target.cluster_id}_*/{target.context_id}/"
    if not parts:
        raise DatabricksTimeoutError(
            f"No event log was delivered to {where} within {timeout_s:g} s. Databricks delivers cluster "
            "logs every 5 minutes and when the cluster terminates: wait longer, and check the cluster's "
            "log delivery status (clusters/get cluster_log_status) and that the cluster may write there "
            "(the instance profile needs s3:PutObject for S3 destinations).",
            detail={"reason": "not_delivered", "location": where},
        )
    if checked != {p.name: p.size for p in parts}:
        outcome = _check(store, parts, folder)
    assert outcome is not None
    if not outcome.problems:
        log.warning(
            "The event log of cluster %s is complete, but its delivery was not confirmed (%s)",
            target.cluster_id,
            reason,
        )
        return _location(target, store, outcome)
    if allow_incomplete:
        log.warning("Using the incomplete event log at %s: %s", outcome.url, "; ".join(outcome.problems))
        return _location(target, store, outcome)
    raise EventLogError(
        f"The event log at {outcome.source} is incomplete after waiting {timeout_s:g} s: "
        f"{'; '.join(outcome.problems)}. Wait longer (log_timeout_s), or pass allow_incomplete=True to "
        "use it anyway (the prediction may be less accurate).",
        detail={"reason": "incomplete", "problems": outcome.problems, "location": outcome.source},
    )


def _check(store: _Store, parts: list[EventLogPart], folder: str) -> _Checked:
    try:
        url, problems = store.check(parts, folder)
    except EventLogError as exc:
        url, problems = store.source(folder), [exc.message]
    return _Checked(url=url, problems=problems, parts=parts, source=store.source(folder))


def _location(target: LogTarget, store: _Store, outcome: _Checked) -> EventLogLocation:
    return EventLogLocation(
        url=outcome.url,
        kind="s3" if isinstance(store, _S3Store) else "local",
        source=outcome.source,
        cluster_id=target.cluster_id,
        spark_context_id=target.context_id,
        parts=outcome.parts,
        complete=not outcome.problems,
        problems=outcome.problems,
    )


__all__ = [
    "DBFS_MAX_READ",
    "DEFAULT_LOG_POLL",
    "DEFAULT_LOG_TIMEOUT_S",
    "LogTarget",
    "collect_eventlog",
    "log_target",
]
