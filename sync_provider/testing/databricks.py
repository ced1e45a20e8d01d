"""A local stand-in for the Databricks REST API (jobs runs, clusters, DBFS) with cluster-log delivery.

:class:`LocalDatabricks` is a real HTTP/1.1 server (standard library, one daemon thread per
connection) on loopback. It serves, under any ``/api/2.x/`` prefix:

- ``jobs/runs/submit`` (honours ``idempotency_token``), ``jobs/runs/get``, ``jobs/runs/cancel``,
  ``jobs/runs/list``, ``jobs/runs/get-output``;
- ``clusters/create``, ``clusters/get``, ``clusters/delete``, ``clusters/permanent-delete``,
  ``clusters/events`` (paginated, newest first, ``next_page`` to send back);
- ``dbfs/get-status``, ``dbfs/list``, ``dbfs/read`` (base64 chunks of at most 1 MiB).

GET parameters are read from the query string and from a JSON body (the Databricks provider's async
hook sends them as a body). Authentication is ``Authorization: Bearer <token>``; errors use
Databricks' ``{"error_code", "message"}`` envelope.

Runs move through ``PENDING -> RUNNING -> TERMINATING -> TERMINATED`` in wall-clock time, one phase
of ``phase_s`` each, on a job cluster created from the task's ``new_cluster``. While a run is
``RUNNING`` the cluster delivers a partial Spark event log to its ``cluster_log_conf`` destination (as
Databricks does every five minutes), and ``log_delivery_delay_s`` after the run ended the final one,
in Databricks' layout::

    <destination>/<cluster id>/eventlog/<cluster id>_<driver ip>/<spark context id>/
        eventlog                            the current part
        eventlog-YYYY-MM-DD--HH-00.gz       hourly rolled parts

The log is synthesised (:mod:`sync_provider.testing.eventlog_generator`, ``platform="databricks"``)
from a fixed amount of work list-scheduled onto ``workers x vCPUs`` slots of the cluster spec, so
a bigger cluster records a shorter application. Destinations are DBFS (in memory, served by the
``dbfs`` endpoints) or S3 (through ``s3_client``, e.g. pointed at moto's server).

Failure injection: :meth:`LocalDatabricks.fail_next`, per-run-name rules
(:meth:`LocalDatabricks.add_run_rule`) and HTTP faults (:attr:`LocalDatabricks.faults`, the Sync
stand-in's :class:`~sync_provider.testing.sync_api.faults.FaultInjector` with routes such as
``"GET /jobs/runs/get"``).

Example::

    with LocalDatabricks(phase_s=0.2) as dbx:
        api = dbx.client()
        ...
        assert dbx.active_runs() == []
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fnmatch
import gzip
import itertools
import json
import logging
import random
import string
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from sync_provider.testing._http import Reply, StandIn, StandInHandler
from sync_provider.testing.sync_api.faults import FaultInjector

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "dapi-local"  # noqa: S105 - the stand-in's well-known test token
Outcome = Literal["SUCCESS", "FAILED", "TIMEDOUT", "CANCELED", "INTERNAL_ERROR"]
LogMode = Literal["complete", "incomplete", "missing_part", "none"]
OUTCOMES: tuple[str, ...] = ("SUCCESS", "FAILED", "TIMEDOUT", "CANCELED", "INTERNAL_ERROR")
LOG_MODES: tuple[str, ...] = ("complete", "incomplete", "missing_part", "none")

#: The endpoints served, as ``"METHOD /endpoint"`` (also the route keys of fault rules).
ROUTES: tuple[str, ...] = (
    "POST /jobs/runs/submit",
    "GET /jobs/runs/get",
    "POST /jobs/runs/cancel",
    "GET /jobs/runs/list",
    "GET /jobs/runs/get-output",
    "POST /clusters/create",
    "GET /clusters/get",
    "POST /clusters/delete",
    "POST /clusters/permanent-delete",
    "POST /clusters/events",
    "GET /dbfs/get-status",
    "GET /dbfs/list",
    "GET /dbfs/read",
    "POST /dbfs/put",
    "GET /workspace/get-status",
    "GET /workspace/export",
)
#: Object types of workspace objects the stand-in serves.
WORKSPACE_OBJECT_TYPES = ("FILE", "NOTEBOOK", "DIRECTORY")
TASK_TYPES = (
    "notebook_task",
    "spark_python_task",
    "spark_jar_task",
    "python_wheel_task",
    "spark_submit_task",
    "pipeline_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
)
DBFS_MAX_READ = 1024 * 1024
MAX_EVENTS_LIMIT = 500
_POOL_NODE_TYPE = "m5.xlarge"
_CREATOR = "sync-tests@example.com"
_FAULT_CODES = {
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_UNICODE_NOTE = "Spot instance reclaimed by AWS — Knoten verloren ✓ 节点丢失"


def default_work() -> list[Any]:
    """The fixed work every synthetic application does (about 41,000 core-seconds in 225 tasks).

    On 2 x ``m5.xlarge`` workers (8 slots) it records about 1.5 hours, so the log rolls over;
    on 8 x ``m5.2xlarge`` (64 slots) about 16 minutes.
    """
    from sync_provider.testing.eventlog_generator import JobSpec, StageSpec

    return [
        JobSpec(stages=[StageSpec(num_tasks=1, task_ms=30_000, name="parquet at etl.py:12")]),
        JobSpec(
            description="aggregate events per day",
            stages=[
                StageSpec(num_tasks=96, task_ms=240_000, jitter=0.2),
                StageSpec(num_tasks=48, task_ms=120_000, parents=[0]),
            ],
        ),
        JobSpec(
            description="join events with users and write",
            stages=[
                StageSpec(num_tasks=64, task_ms=180_000, jitter=0.2),
                StageSpec(num_tasks=16, task_ms=60_000, parents=[0]),
            ],
        ),
    ]


class ApiError(Exception):
    """An error answer in Databricks' envelope."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RunRule:
    """How runs whose name matches ``pattern`` end.

    :param pattern: ``fnmatch`` pattern on the run name (``"*"`` for every run).
    :param result_state: ``SUCCESS``, ``FAILED``, ``TIMEDOUT``, ``CANCELED`` or ``INTERNAL_ERROR``
        (the last is a life-cycle state: the cluster fails to start, result ``FAILED``).
    :param message: the ``state_message``.
    :param log: what the final log delivery holds: ``complete``, ``incomplete`` (no
        ApplicationEnd), ``missing_part`` (a rolled part is never delivered) or ``none``;
        ``None`` picks what the outcome implies.
    :param times: how many runs the rule applies to (``None``: no limit).
    """

    pattern: str = "*"
    result_state: str = "SUCCESS"
    message: str | None = None
    log: str | None = None
    times: int | None = None
    hits: int = 0


@dataclass
class RequestRecord:
    """One request the stand-in answered: method, endpoint (without ``/api/2.x/``), HTTP status."""

    method: str
    endpoint: str
    status: int


@dataclass
class _File:
    data: bytes
    modified_ms: int


@dataclass
class _WorkspaceObject:
    object_type: str
    data: bytes
    object_id: int
    modified_ms: int


@dataclass
class _Cluster:
    cluster_id: str
    spec: dict[str, Any]
    source: str
    created_ms: int
    context_id: int
    driver_ip: str
    run_id: int | None = None
    job_id: int | None = None
    running_ms: int | None = None
    terminating_ms: int | None = None
    terminated_ms: int | None = None
    termination_reason: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    last_delivery_ms: int | None = None


@dataclass
class _Run:
    run_id: int
    job_id: int
    run_name: str
    created_ms: int
    tasks: list[dict[str, Any]]
    task_clusters: list[str | None]
    job_clusters: list[dict[str, Any]]
    settings: dict[str, Any]
    outcome: str
    message: str
    log_mode: str
    running_ms: int
    terminating_ms: int
    end_ms: int
    token: str | None = None
    cancelled_ms: int | None = None
    cancel_result: str = "CANCELED"
    cancel_message: str = ""
    partial_due: bool = True
    final_due: bool = True


@dataclass
class _Request:
    method: str
    endpoint: str
    version_ok: bool
    query: str
    raw: bytes
    authorization: str = field(repr=False)

    @property
    def route(self) -> str:
        return f"{self.method} /{self.endpoint}"


class _Handler(StandInHandler):
    server_version = "LocalDatabricks/1.0"


def _json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode("utf-8"))


class LocalDatabricks(StandIn[_Request]):
    """A local Databricks workspace for tests and demos.

    :param host: interface to bind (loopback).
    :param port: TCP port; ``0`` picks a free one.
    :param token: the accepted bearer token.
    :param phase_s: seconds a run spends in each of PENDING, RUNNING and TERMINATING.
    :param log_delivery_delay_s: seconds after a run's end until its final log delivery.
    :param s3_client: boto3 S3 client used to deliver logs to ``s3://`` destinations.
    :param seed: seed of ids and synthetic logs.
    :param rolled_parts: force this many hourly rolled parts (``None``: as many as the simulated
        application's hours give).
    :param cluster_events: filler events per job cluster (so that ``clusters/events`` pages).
    :param work: the jobs every synthetic application runs (default :func:`default_work`).
    """

    _title = "LocalDatabricks"
    _handler = _Handler
    _thread_name = "local-databricks"
    _poll_interval = 0.05
    _request_queue_size = 256
    # A failed request changed nothing, so a drop-after fault only swallows successful answers.
    _drop_errors_after = False

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        phase_s: float = 0.5,
        log_delivery_delay_s: float = 0.5,
        s3_client: Any = None,
        seed: int = 0,
        rolled_parts: int | None = None,
        cluster_events: int = 120,
        work: Sequence[Any] | None = None,
    ) -> None:
        if phase_s <= 0 or log_delivery_delay_s < 0:
            raise ValueError("phase_s must be > 0 and log_delivery_delay_s >= 0.")
        if rolled_parts is not None and rolled_parts < 0:
            raise ValueError("rolled_parts must be >= 0.")
        super().__init__(host, port, FaultInjector(ROUTES, seed=seed))
        self.token = token
        self.phase_s = phase_s
        self.log_delivery_delay_s = log_delivery_delay_s
        self.s3_client = s3_client
        self.seed = seed
        self.rolled_parts = rolled_parts
        self.cluster_events = cluster_events
        self.work = list(work) if work is not None else None
        #: Problems of log deliveries (e.g. a missing bucket), one sentence each.
        self.delivery_errors: list[str] = []
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._ids = itertools.count(1000 + seed * 1000)
        self._runs: dict[int, _Run] = {}
        self._clusters: dict[str, _Cluster] = {}
        self._tokens: dict[str, int] = {}
        self._cluster_tokens: dict[str, str] = {}
        self._rules: list[RunRule] = []
        self._dbfs: dict[str, _File] = {}
        self._workspace: dict[str, _WorkspaceObject] = {}
        self._object_ids = itertools.count(10**12 + 1)
        self._logs: dict[str, list[tuple[str, bytes]]] = {}
        self._requests: list[RequestRecord] = []
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def bound_port(self) -> int:
        """The TCP port served."""
        return int(self.url.rsplit(":", 1)[1])

    def _after_start(self) -> None:
        self._ticker = threading.Thread(target=self._tick_forever, name="local-databricks-clock", daemon=True)
        self._ticker.start()

    def _after_stop(self) -> None:
        if self._ticker is not None:
            self._ticker.join(5)
        self._ticker = None

    # ------------------------------------------------------------------------------ test helpers

    def connection_json(self) -> str:
        """An Airflow ``databricks`` connection as JSON, for ``AIRFLOW_CONN_<ID>``.

        ``DatabricksHook`` reaches plain http only with ``schema="http"`` and a separate ``port``.
        """
        return json.dumps(
            {
                "conn_type": "databricks",
                "host": "127.0.0.1",
                "port": self.bound_port,
                "schema": "http",
                "password": self.token,
            }
        )

    def client(self, **options: Any) -> Any:
        """A :class:`~sync_provider.core.databricks.DatabricksRestClient` for this workspace."""
        from sync_provider.core.databricks import DatabricksRestClient

        return DatabricksRestClient(self.url, self.token, **options)

    def fail_next(
        self, result_state: str = "FAILED", message: str | None = None, *, log: str | None = None
    ) -> RunRule:
        """Make the next submitted run end with ``result_state`` (see :class:`RunRule`)."""
        return self.add_run_rule("*", result_state=result_state, message=message, log=log, times=1)

    def add_run_rule(
        self,
        pattern: str,
        *,
        result_state: str = "SUCCESS",
        message: str | None = None,
        log: str | None = None,
        times: int | None = None,
    ) -> RunRule:
        """Decide how runs named like ``pattern`` end; rules are matched in the order added.

        :raises ValueError: for an unknown result state or log mode.
        """
        if result_state not in OUTCOMES:
            raise ValueError(f"result_state must be one of {', '.join(OUTCOMES)}, got {result_state!r}.")
        if log is not None and log not in LOG_MODES:
            raise ValueError(f"log must be one of {', '.join(LOG_MODES)}, got {log!r}.")
        rule = RunRule(pattern=pattern, result_state=result_state, message=message, log=log, times=times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def active_runs(self) -> list[int]:
        """Ids of runs that have not ended."""
        now = _now_ms()
        with self._lock:
            return [r.run_id for r in self._runs.values() if self._run_state(r, now)[0] not in _TERMINAL]

    def running_clusters(self) -> list[str]:
        """Ids of clusters that are not terminated."""
        now = _now_ms()
        with self._lock:
            return [
                c.cluster_id
                for c in self._clusters.values()
                if not c.deleted and self._cluster_state(c, now)[0] != "TERMINATED"
            ]

    def submit_count(self) -> int:
        """How many runs were ever created (a replayed idempotent submit creates none)."""
        with self._lock:
            return len(self._runs)

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """The requests answered so far, optionally only those for ``endpoint`` (``"jobs/runs/get"``)."""
        with self._lock:
            return [r for r in self._requests if endpoint is None or r.endpoint == endpoint]

    def dbfs_files(self, prefix: str = "/") -> dict[str, int]:
        """DBFS files under ``prefix`` and their sizes."""
        root = _dbfs_path(prefix)
        with self._lock:
            return {
                path: len(f.data)
                for path, f in sorted(self._dbfs.items())
                if root in ("/", path) or path.startswith(root + "/")
            }

    def put_dbfs(self, path: str, data: bytes) -> None:
        """Write a DBFS file (for tests)."""
        with self._lock:
            self._dbfs[_dbfs_path(path)] = _File(data, _now_ms())

    def put_workspace(self, path: str, data: bytes, object_type: str = "FILE") -> None:
        """Create or replace a workspace object (for tests): a ``FILE``, ``NOTEBOOK`` or ``DIRECTORY``.

        Replacing an object keeps its ``object_id`` and moves its ``modified_at`` forward.
        """
        if object_type not in WORKSPACE_OBJECT_TYPES:
            raise ValueError(f"object_type must be one of {WORKSPACE_OBJECT_TYPES}, not {object_type!r}.")
        key = _workspace_path(path)
        with self._lock:
            current = self._workspace.get(key)
            object_id = current.object_id if current is not None else next(self._object_ids)
            modified = _now_ms()
            if current is not None and modified <= current.modified_ms:
                modified = current.modified_ms + 1
            self._workspace[key] = _WorkspaceObject(object_type, bytes(data), object_id, modified)

    def deliver_now(self, run_id: int) -> None:
        """Deliver the ended run's final event log now instead of after the delay.

        :raises ValueError: when the run is unknown or still active.
        """
        now = _now_ms()
        with self._lock:
            run = self._runs.get(int(run_id))
            if run is None:
                raise ValueError(f"Run {run_id} does not exist.")
            if self._run_state(run, now)[0] not in _TERMINAL:
                raise ValueError(f"Run {run_id} has not ended; cancel it or wait.")
            run.partial_due = False
            run.final_due = False
        self._deliver(run, "final")

    def cancel_all(self) -> list[int]:
        """Cancel every active run; return their ids."""
        active = self.active_runs()
        with self._lock:
            for run_id in active:
                self._cancel(self._runs[run_id], _now_ms())
        return active

    # ------------------------------------------------------------------------------ time

    def _tick_forever(self) -> None:
        while not self._stop_event.wait(0.02):
            try:
                self._tick()
            except Exception:  # the clock must keep going
                log.exception("Local Databricks clock tick failed")

    def _tick(self) -> None:
        now = _now_ms()
        due: list[tuple[_Run, str]] = []
        with self._lock:
            for run in self._runs.values():
                state = self._run_state(run, now)[0]
                mid_running = run.running_ms + (run.terminating_ms - run.running_ms) // 2
                if run.partial_due and run.log_mode != "none" and now >= mid_running:
                    run.partial_due = False
                    if run.cancelled_ms is None or run.cancelled_ms > mid_running:
                        due.append((run, "partial"))
                if run.final_due and state in _TERMINAL:
                    end = self._run_end(run)
                    if now >= end + int(self.log_delivery_delay_s * 1000):
                        run.final_due = False
                        run.partial_due = False
                        due.append((run, "final"))
        for run, kind in due:
            self._deliver(run, kind)

    def _run_end(self, run: _Run) -> int:
        if run.cancelled_ms is not None and run.cancelled_ms < run.end_ms:
            return run.cancelled_ms
        if run.outcome == "INTERNAL_ERROR":
            return run.running_ms
        return run.end_ms

    def _run_state(self, run: _Run, now: int) -> tuple[str, str | None, str]:
        if (
            run.cancelled_ms is not None
            and now >= run.cancelled_ms
            and run.cancelled_ms < self._planned_end(run)
        ):
            return "TERMINATED", run.cancel_result, run.cancel_message
        if now < run.running_ms:
            return "PENDING", None, "Waiting for cluster"
        if run.outcome == "INTERNAL_ERROR":
            return "INTERNAL_ERROR", "FAILED", run.message
        result = "SUCCESS" if run.outcome == "SUCCESS" else run.outcome
        if now < run.terminating_ms:
            return "RUNNING", None, "In run"
        if now < run.end_ms:
            return "TERMINATING", result, run.message
        return "TERMINATED", result, run.message

    @staticmethod
    def _planned_end(run: _Run) -> int:
        return run.running_ms if run.outcome == "INTERNAL_ERROR" else run.end_ms

    def _cluster_state(self, cluster: _Cluster, now: int) -> tuple[str, str]:
        if cluster.terminated_ms is not None and now >= cluster.terminated_ms:
            reason = (cluster.termination_reason or {}).get("code", "")
            return "TERMINATED", _TERMINATED_MESSAGES.get(reason, "Terminated")
        if cluster.terminating_ms is not None and now >= cluster.terminating_ms:
            return "TERMINATING", "Terminating the cluster"
        if cluster.running_ms is not None and now >= cluster.running_ms:
            return "RUNNING", ""
        return "PENDING", "Finding instances for new nodes, acquiring more instances if necessary"

    # ------------------------------------------------------------------------------ HTTP

    def _read_request(self, handler: StandInHandler) -> _Request:
        split = urlsplit(handler.path)
        parts = [p for p in split.path.split("/") if p]
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return _Request(
            method=handler.command,
            endpoint="/".join(parts[2:]) if len(parts) >= 3 and parts[0] == "api" else "",
            version_ok=len(parts) >= 2 and parts[0] == "api" and parts[1].replace(".", "").isdigit(),
            query=split.query,
            raw=handler.rfile.read(length) if length > 0 else b"",
            authorization=(handler.headers.get("Authorization") or "").strip(),
        )

    def _fault_key(self, request: _Request) -> str | None:
        return request.route if request.route in ROUTES else None

    def _respond(self, request: _Request) -> Reply:
        try:
            return _json_reply(200, self._handle(request))
        except ApiError as exc:
            return _json_reply(exc.status, {"error_code": exc.error_code, "message": exc.message})
        except Exception:
            log.exception("Local Databricks failed serving %s", request.route)
            return _json_reply(500, {"error_code": "INTERNAL_ERROR", "message": "Unexpected stand-in error."})

    def _fault_reply(self, request: _Request, status: int) -> Reply:
        code = _FAULT_CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
        return _json_reply(status, {"error_code": code, "message": f"Injected fault {status}."})

    def _on_fault(self, request: _Request, kind: str) -> None:
        if kind.startswith("drop"):
            self._record(request, 0)

    def _before_send(self, handler: StandInHandler, request: _Request, reply: Reply) -> None:
        # Recorded before anything is written, so a client that saw the answer finds it logged.
        self._record(request, reply.status)

    def _record(self, request: _Request, status: int) -> None:
        with self._lock:
            self._requests.append(RequestRecord(request.method, request.endpoint, status))

    def _handle(self, request: _Request) -> dict[str, Any]:
        method, endpoint, raw = request.method, request.endpoint, request.raw
        auth = request.authorization
        if auth != f"Bearer {self.token}":
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Invalid access token." if auth else "Credential was not sent or was of an unsupported type.",
            )
        if not request.version_ok or request.route not in ROUTES:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} /{endpoint}'")
        body: dict[str, Any] = {}
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise ApiError(
                    400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request."
                ) from None
            if not isinstance(parsed, dict):
                raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
            body = parsed
        if method == "GET":
            # The provider's async hook sends GET parameters as a JSON body; the query string wins.
            query = parse_qs(request.query, keep_blank_values=True)
            params = {**body, **{k: v[-1] for k, v in query.items()}}
        else:
            params = body
        handler_name = "_ep_" + endpoint.replace("/", "_").replace("-", "_")
        now = _now_ms()
        with self._lock:
            result: dict[str, Any] = getattr(self, handler_name)(params, now)
        return result

    # ------------------------------------------------------------------------------ jobs

    def _rule_for(self, run_name: str) -> RunRule | None:
        for rule in self._rules:
            if rule.times is not None and rule.hits >= rule.times:
                continue
            if fnmatch.fnmatchcase(run_name, rule.pattern):
                rule.hits += 1
                return rule
        return None

    def _next_id(self) -> int:
        return next(self._ids) * 7 + self._random.randrange(7)

    def _ep_jobs_runs_submit(self, body: dict[str, Any], now: int) -> dict[str, Any]:
        token = body.get("idempotency_token")
        if token is not None:
            if not isinstance(token, str) or not 0 < len(token) <= 64:
                raise _invalid("idempotency_token must be a string of at most 64 characters.")
            if token in self._tokens:
                return {"run_id": self._tokens[token]}
        tasks, job_clusters = self._submitted_tasks(body)
        run_name = str(body.get("run_name") or "Untitled")
        rule = self._rule_for(run_name)
        outcome = rule.result_state if rule else "SUCCESS"
        message = (rule.message if rule and rule.message else None) or _DEFAULT_MESSAGES[outcome]
        log_mode = (rule.log if rule and rule.log else None) or _DEFAULT_LOGS[outcome]
        phase = int(self.phase_s * 1000)
        run_id, job_id = self._next_id(), self._next_id()
        run = _Run(
            run_id=run_id,
            job_id=job_id,
            run_name=run_name,
            created_ms=now,
            tasks=tasks,
            task_clusters=[],
            job_clusters=job_clusters,
            settings={
                k: v for k, v in body.items() if k not in ("tasks", "job_clusters", "idempotency_token")
            },
            outcome=outcome,
            message=message,
            log_mode=log_mode,
            running_ms=now + phase,
            terminating_ms=now + 2 * phase,
            end_ms=now + 3 * phase,
            token=token,
        )
        shared: dict[str, str] = {}
        for task in tasks:
            if "new_cluster" in task:
                run.task_clusters.append(self._job_cluster(task["new_cluster"], run, now).cluster_id)
            elif "job_cluster_key" in task:
                key = task["job_cluster_key"]
                if key not in shared:
                    spec = next(c["new_cluster"] for c in job_clusters if c.get("job_cluster_key") == key)
                    shared[key] = self._job_cluster(spec, run, now).cluster_id
                run.task_clusters.append(shared[key])
            else:
                run.task_clusters.append(str(task["existing_cluster_id"]))
        self._runs[run_id] = run
        if token is not None:
            self._tokens[token] = run_id
        return {"run_id": run_id}

    def _submitted_tasks(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tasks = body.get("tasks")
        if tasks is None:
            legacy = {k: v for k, v in body.items() if k in TASK_TYPES or k in _TASK_CLUSTER_KEYS}
            legacy["task_key"] = str(body.get("run_name") or "task")[:100] or "task"
            tasks = [legacy]
        if not isinstance(tasks, list) or not tasks:
            raise _invalid("tasks must be a non-empty list.")
        job_clusters = body.get("job_clusters") or []
        if not isinstance(job_clusters, list):
            raise _invalid("job_clusters must be a list.")
        keys: set[str] = set()
        for cluster in job_clusters:
            if not isinstance(cluster, dict) or not cluster.get("job_cluster_key"):
                raise _invalid("Each job cluster needs a job_cluster_key and a new_cluster.")
            self._check_spec(cluster.get("new_cluster"), f"job_clusters[{cluster['job_cluster_key']}]")
            keys.add(str(cluster["job_cluster_key"]))
        seen: set[str] = set()
        for index, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise _invalid(f"tasks[{index}] must be an object.")
            key = str(task.get("task_key") or "")
            if not key:
                raise _invalid(f"tasks[{index}].task_key is required.")
            if key in seen:
                raise _invalid(f"Task key {key} is not unique.")
            seen.add(key)
            kinds = [t for t in TASK_TYPES if t in task]
            if len(kinds) != 1:
                raise _invalid(f"Task {key} must have exactly one task type; found {len(kinds)}.")
            placed = [k for k in _TASK_CLUSTER_KEYS if k in task]
            if len(placed) != 1:
                raise _invalid(
                    f"Task {key} must specify exactly one of new_cluster, existing_cluster_id or "
                    "job_cluster_key."
                )
            if "new_cluster" in task:
                self._check_spec(task["new_cluster"], f"Task {key}")
            elif "job_cluster_key" in task and task["job_cluster_key"] not in keys:
                raise _invalid(f"Task {key} refers to unknown job cluster {task['job_cluster_key']}.")
            elif "existing_cluster_id" in task:
                cluster = self._clusters.get(str(task["existing_cluster_id"]))
                if cluster is None or cluster.deleted:
                    raise _invalid(f"Cluster {task['existing_cluster_id']} does not exist")
        return [json.loads(json.dumps(t)) for t in tasks], json.loads(json.dumps(job_clusters))

    def _check_spec(self, spec: Any, where: str) -> None:
        from sync_provider.core.pricing import DEFAULT_PRICE_TABLE

        if not isinstance(spec, dict):
            raise _invalid(f"{where}: new_cluster must be an object.")
        if not spec.get("spark_version"):
            raise _invalid(f"{where}: Missing required field: spark_version")
        node = spec.get("node_type_id")
        if not node and not spec.get("instance_pool_id"):
            raise _invalid(f"{where}: Missing required field: node_type_id")
        for key in ("node_type_id", "driver_node_type_id"):
            value = spec.get(key)
            if value and value not in DEFAULT_PRICE_TABLE.instances:
                raise _invalid(f"{where}: Node type {value} is not supported.")
        if ("num_workers" in spec) == ("autoscale" in spec):
            raise _invalid(f"{where}: Exactly one of num_workers or autoscale must be given.")
        conf = spec.get("cluster_log_conf")
        if conf is not None:
            if not isinstance(conf, dict) or len(conf) != 1:
                raise _invalid(f"{where}: cluster_log_conf must have exactly one destination.")
            kind, target = next(iter(conf.items()))
            destination = target.get("destination") if isinstance(target, dict) else None
            if kind == "s3":
                if not isinstance(destination, str) or not destination.startswith("s3://"):
                    raise _invalid(f"{where}: S3 log destination must start with s3://.")
                if not target.get("region") and not target.get("endpoint"):
                    raise _invalid(
                        f"{where}: Either region or endpoint must be set for the S3 log destination."
                    )
                if self.s3_client is None:
                    raise _invalid(f"{where}: this local Databricks has no s3_client for S3 log delivery.")
            elif kind == "dbfs":
                if not isinstance(destination, str) or not destination.startswith("dbfs:/"):
                    raise _invalid(f"{where}: DBFS log destination must start with dbfs:/.")
            else:
                raise _invalid(f"{where}: unsupported cluster_log_conf destination {kind}.")

    def _new_cluster_id(self, now: int) -> str:
        stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%m%d-%H%M%S")
        suffix = "".join(self._random.choices(string.ascii_lowercase + string.digits, k=8))
        return f"{stamp}-{suffix}"

    def _make_cluster(self, spec: dict[str, Any], source: str, now: int) -> _Cluster:
        cluster_id = self._new_cluster_id(now)
        rng = self._random
        ip = f"10.{rng.randrange(1, 255)}.{rng.randrange(0, 255)}.{rng.randrange(2, 254)}"
        cluster = _Cluster(
            cluster_id=cluster_id,
            spec=json.loads(json.dumps(spec)),
            source=source,
            created_ms=now,
            context_id=self._random.randrange(10**18, 9 * 10**18),
            driver_ip=ip,
        )
        self._clusters[cluster_id] = cluster
        return cluster

    def _job_cluster(self, spec: dict[str, Any], run: _Run, now: int) -> _Cluster:
        cluster = self._make_cluster(spec, "JOB", now)
        cluster.run_id, cluster.job_id = run.run_id, run.job_id
        workers = _workers(spec)
        events: list[dict[str, Any]] = [{"type": "CREATING", "timestamp": now, "details": {"user": _CREATOR}}]
        if run.outcome == "INTERNAL_ERROR":
            cluster.terminating_ms = cluster.terminated_ms = run.running_ms
            cluster.termination_reason = {
                "code": "CLOUD_PROVIDER_LAUNCH_FAILURE",
                "type": "CLOUD_FAILURE",
                "parameters": {
                    "aws_api_error_code": "InsufficientInstanceCapacity",
                    "databricks_error_message": run.message,
                },
            }
        else:
            cluster.running_ms = run.running_ms
            cluster.terminating_ms = run.terminating_ms
            cluster.terminated_ms = run.end_ms
            cluster.termination_reason = {"code": "JOB_FINISHED", "type": "SUCCESS", "parameters": {}}
            events.append(
                {
                    "type": "RUNNING",
                    "timestamp": run.running_ms,
                    "details": {"current_num_workers": workers, "target_num_workers": workers},
                }
            )
            span = max(1, run.terminating_ms - run.running_ms - 2)
            count = max(0, self.cluster_events)
            for index in range(count):
                at = run.running_ms + 1 + (span * index) // max(1, count)
                events.append(_filler_event(index, at, workers))
        events.append(
            {
                "type": "TERMINATING",
                "timestamp": cluster.terminating_ms,
                "details": {"reason": cluster.termination_reason},
            }
        )
        cluster.events = [{"cluster_id": cluster.cluster_id, **e} for e in events]
        return cluster

    def _get_run(self, params: dict[str, Any], key: str = "run_id") -> _Run:
        run_id = _int_param(params, key)
        run = self._runs.get(run_id)
        if run is None:
            raise _invalid(f"Run {run_id} does not exist.")
        return run

    def _run_json(self, run: _Run, now: int) -> dict[str, Any]:
        life, result, message = self._run_state(run, now)
        state: dict[str, Any] = {
            "life_cycle_state": life,
            "state_message": message,
            "user_cancelled_or_timedout": False,
        }
        if result is not None:
            state["result_state"] = result
            state["user_cancelled_or_timedout"] = result in ("CANCELED", "TIMEDOUT")
        ended = life in _TERMINAL
        end = self._run_end(run) if ended else 0
        running = min(now, run.running_ms) if now >= run.running_ms else now
        setup = max(0, running - run.created_ms)
        execution = (
            max(0, min(now, run.terminating_ms, end or now) - run.running_ms) if now >= run.running_ms else 0
        )
        cleanup = max(0, (end or now) - run.terminating_ms) if now >= run.terminating_ms and end else 0
        page = f"{self.url}/?o=0#job/{run.job_id}/run/{run.run_id}"
        tasks = []
        for index, (task, cluster_id) in enumerate(zip(run.tasks, run.task_clusters, strict=True)):
            item = json.loads(json.dumps(task))
            item.update(
                run_id=run.run_id + 1 + index,
                state=dict(state),
                start_time=run.created_ms,
                setup_duration=setup,
                execution_duration=execution,
                cleanup_duration=cleanup,
                end_time=end,
                attempt_number=0,
                run_page_url=page,
            )
            if cluster_id is not None:
                instance: dict[str, Any] = {"cluster_id": cluster_id}
                cluster = self._clusters.get(cluster_id)
                if cluster is not None and cluster.running_ms is not None and now >= cluster.running_ms:
                    instance["spark_context_id"] = str(cluster.context_id)
                item["cluster_instance"] = instance
            tasks.append(item)
        out: dict[str, Any] = {
            **json.loads(json.dumps(run.settings)),
            "job_id": run.job_id,
            "run_id": run.run_id,
            "number_in_job": run.run_id,
            "original_attempt_run_id": run.run_id,
            "creator_user_name": _CREATOR,
            "run_name": run.run_name,
            "run_type": "SUBMIT_RUN",
            "format": "MULTI_TASK",
            "state": state,
            "start_time": run.created_ms,
            "setup_duration": setup,
            "execution_duration": execution,
            "cleanup_duration": cleanup,
            "end_time": end,
            "run_duration": (end or now) - run.created_ms,
            "run_page_url": page,
            "tasks": tasks,
        }
        if run.job_clusters:
            out["job_clusters"] = json.loads(json.dumps(run.job_clusters))
        distinct = {c for c in run.task_clusters if c is not None}
        if len(distinct) == 1:
            out["cluster_instance"] = dict(tasks[0].get("cluster_instance") or {})
        return out

    def _ep_jobs_runs_get(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        return self._run_json(self._get_run(params), now)

    def _ep_jobs_runs_get_output(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        run = self._get_run(params)
        metadata = self._run_json(run, now)
        out: dict[str, Any] = {"metadata": metadata}
        result = metadata["state"].get("result_state")
        if result and result != "SUCCESS":
            out["error"] = metadata["state"].get("state_message") or result
        return out

    def _cancel(self, run: _Run, now: int, result: str = "CANCELED", message: str = "Run cancelled.") -> None:
        if self._run_state(run, now)[0] in _TERMINAL:
            return
        run.cancelled_ms = now
        run.cancel_result = result
        run.cancel_message = message
        run.log_mode = "incomplete" if now >= run.running_ms else "none"
        for cluster_id in {c for c in run.task_clusters if c is not None}:
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster.source != "JOB":
                continue
            self._terminate(
                cluster,
                now,
                {"code": "USER_REQUEST", "type": "SUCCESS", "parameters": {"username": _CREATOR}},
            )

    def _terminate(self, cluster: _Cluster, now: int, reason: dict[str, Any]) -> None:
        if self._cluster_state(cluster, now)[0] == "TERMINATED":
            return
        cluster.terminating_ms = now
        cluster.terminated_ms = now
        cluster.termination_reason = reason
        cluster.events = [e for e in cluster.events if e["timestamp"] <= now and e["type"] != "TERMINATING"]
        cluster.events.append(
            {
                "cluster_id": cluster.cluster_id,
                "type": "TERMINATING",
                "timestamp": now,
                "details": {"reason": reason},
            }
        )

    def _ep_jobs_runs_cancel(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        self._cancel(self._get_run(params), now)
        return {}

    def _ep_jobs_runs_list(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        limit = _int_param(params, "limit", 25)
        offset = _int_param(params, "offset", 0)
        if not 1 <= limit <= 25:
            raise _invalid("limit must be between 1 and 25.")
        active_only = str(params.get("active_only", "false")).lower() == "true"
        completed_only = str(params.get("completed_only", "false")).lower() == "true"
        runs = sorted(self._runs.values(), key=lambda r: r.created_ms, reverse=True)
        chosen = []
        for run in runs:
            ended = self._run_state(run, now)[0] in _TERMINAL
            if (active_only and ended) or (completed_only and not ended):
                continue
            chosen.append(self._run_json(run, now))
        page = chosen[offset : offset + limit]
        return {"runs": page, "has_more": offset + limit < len(chosen)}

    # ------------------------------------------------------------------------------ clusters

    def _get_cluster(self, params: dict[str, Any]) -> _Cluster:
        cluster_id = str(params.get("cluster_id") or "")
        cluster = self._clusters.get(cluster_id)
        if not cluster_id or cluster is None or cluster.deleted:
            raise _invalid(f"Cluster {cluster_id} does not exist")
        return cluster

    def _ep_clusters_create(self, body: dict[str, Any], now: int) -> dict[str, Any]:
        token = body.get("idempotency_token")
        if isinstance(token, str) and token in self._cluster_tokens:
            return {"cluster_id": self._cluster_tokens[token]}
        spec = {k: v for k, v in body.items() if k != "idempotency_token"}
        self._check_spec(spec, "Cluster")
        cluster = self._make_cluster(spec, "API", now)
        cluster.running_ms = now + int(self.phase_s * 1000)
        workers = _workers(spec)
        cluster.events = [
            {
                "cluster_id": cluster.cluster_id,
                "type": "CREATING",
                "timestamp": now,
                "details": {"user": _CREATOR},
            },
            {
                "cluster_id": cluster.cluster_id,
                "type": "RUNNING",
                "timestamp": cluster.running_ms,
                "details": {"current_num_workers": workers, "target_num_workers": workers},
            },
        ]
        if isinstance(token, str):
            self._cluster_tokens[token] = cluster.cluster_id
        return {"cluster_id": cluster.cluster_id}

    def _cluster_json(self, cluster: _Cluster, now: int) -> dict[str, Any]:
        state, message = self._cluster_state(cluster, now)
        spec = json.loads(json.dumps(cluster.spec))
        node = spec.get("node_type_id") or _POOL_NODE_TYPE
        name = spec.get("cluster_name") or (
            f"job-{cluster.job_id}-run-{cluster.run_id}" if cluster.source == "JOB" else cluster.cluster_id
        )
        out: dict[str, Any] = {
            **spec,
            "cluster_id": cluster.cluster_id,
            "cluster_name": name,
            "node_type_id": node,
            "driver_node_type_id": spec.get("driver_node_type_id") or node,
            "state": state,
            "state_message": message,
            "start_time": cluster.created_ms,
            "cluster_source": cluster.source,
            "creator_user_name": _CREATOR,
            "custom_tags": spec.get("custom_tags") or {},
            "spark_conf": spec.get("spark_conf") or {},
            "default_tags": {
                "Vendor": "Databricks",
                "Creator": _CREATOR,
                "ClusterName": name,
                "ClusterId": cluster.cluster_id,
                **(
                    {"JobId": str(cluster.job_id), "RunName": self._runs[cluster.run_id].run_name}
                    if cluster.run_id in self._runs
                    else {}
                ),
            },
            "spec": spec,
            "last_state_loss_time": 0,
        }
        if cluster.running_ms is not None and now >= cluster.running_ms:
            out["spark_context_id"] = cluster.context_id
            out["driver"] = {
                "private_ip": cluster.driver_ip,
                "node_id": f"node-{cluster.cluster_id}-driver",
                "instance_id": f"i-{cluster.context_id % 16**17:017x}",
                "start_timestamp": cluster.running_ms,
                "host_private_ip": cluster.driver_ip,
            }
            out["jdbc_port"] = 10000
        if state == "TERMINATED":
            out["terminated_time"] = cluster.terminated_ms
            out["termination_reason"] = cluster.termination_reason
        if cluster.last_delivery_ms is not None:
            out["cluster_log_status"] = {"last_attempted": cluster.last_delivery_ms}
        return out

    def _ep_clusters_get(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        return self._cluster_json(self._get_cluster(params), now)

    def _ep_clusters_delete(self, body: dict[str, Any], now: int) -> dict[str, Any]:
        cluster = self._get_cluster(body)
        run = self._runs.get(cluster.run_id) if cluster.run_id is not None else None
        if run is not None:
            self._cancel(run, now, "FAILED", f"Cluster {cluster.cluster_id} was terminated by a user.")
        self._terminate(
            cluster, now, {"code": "USER_REQUEST", "type": "SUCCESS", "parameters": {"username": _CREATOR}}
        )
        return {}

    def _ep_clusters_permanent_delete(self, body: dict[str, Any], now: int) -> dict[str, Any]:
        self._ep_clusters_delete(body, now)
        self._clusters[str(body["cluster_id"])].deleted = True
        return {}

    def _ep_clusters_events(self, body: dict[str, Any], now: int) -> dict[str, Any]:
        cluster = self._get_cluster(body)
        limit = _int_param(body, "limit", 50)
        offset = _int_param(body, "offset", 0)
        if not 1 <= limit <= MAX_EVENTS_LIMIT:
            raise _invalid(f"limit must be between 1 and {MAX_EVENTS_LIMIT}.")
        if offset < 0:
            raise _invalid("offset must not be negative.")
        order = str(body.get("order") or "DESC").upper()
        if order not in ("ASC", "DESC"):
            raise _invalid("order must be ASC or DESC.")
        # Pin the page window: later pages see the same events even while the cluster adds more.
        end_time = _int_param(body, "end_time", now)
        start_time = _int_param(body, "start_time", 0)
        types = body.get("event_types")
        events = [
            e
            for e in cluster.events
            if start_time <= e["timestamp"] <= min(end_time, now) and (not types or e["type"] in types)
        ]
        events.sort(key=lambda e: e["timestamp"], reverse=order == "DESC")
        answer: dict[str, Any] = {
            "events": json.loads(json.dumps(events[offset : offset + limit])),
            "total_count": len(events),
        }
        if offset + limit < len(events):
            answer["next_page"] = {
                **{k: v for k, v in body.items() if k not in ("offset", "end_time", "limit")},
                "cluster_id": cluster.cluster_id,
                "end_time": end_time,
                "order": order,
                "offset": offset + limit,
                "limit": limit,
            }
        return answer

    # ------------------------------------------------------------------------------ DBFS

    def _ep_dbfs_get_status(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        path = _dbfs_param(params)
        return self._dbfs_status(path)

    def _dbfs_status(self, path: str) -> dict[str, Any]:
        file = self._dbfs.get(path)
        if file is not None:
            return {
                "path": path,
                "is_dir": False,
                "file_size": len(file.data),
                "modification_time": file.modified_ms,
            }
        prefix = "/" if path == "/" else path + "/"
        children = [f.modified_ms for p, f in self._dbfs.items() if p.startswith(prefix)]
        if children or path == "/":
            return {
                "path": path,
                "is_dir": True,
                "file_size": 0,
                "modification_time": max(children, default=0),
            }
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")

    def _ep_dbfs_list(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        path = _dbfs_param(params)
        status = self._dbfs_status(path)
        if not status["is_dir"]:
            return {"files": [status]}
        prefix = "/" if path == "/" else path + "/"
        names = sorted({p[len(prefix) :].split("/", 1)[0] for p in self._dbfs if p.startswith(prefix)})
        return {"files": [self._dbfs_status(prefix + name) for name in names]}

    def _ep_dbfs_read(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        path = _dbfs_param(params)
        offset = _int_param(params, "offset", 0)
        length = _int_param(params, "length", 512 * 1024)
        if length > DBFS_MAX_READ:
            raise ApiError(
                400, "MAX_READ_SIZE_EXCEEDED", f"Cannot read more than {DBFS_MAX_READ} bytes at a time."
            )
        if offset < 0 or length < 0:
            raise _invalid("offset and length must not be negative.")
        file = self._dbfs.get(path)
        if file is None:
            status = self._dbfs_status(path)  # 404 when missing
            if status["is_dir"]:
                raise _invalid(f"Path {path} is a directory.")
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")
        chunk = file.data[offset : offset + length]
        return {"bytes_read": len(chunk), "data": base64.b64encode(chunk).decode("ascii")}

    def _ep_dbfs_put(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        path = _dbfs_param(params)
        contents = params.get("contents", "")
        if not isinstance(contents, str):
            raise _invalid("contents must be a base64 string.")
        try:
            data = base64.b64decode(contents, validate=True)
        except ValueError:
            raise _invalid("contents is not valid base64.") from None
        if len(data) > DBFS_MAX_READ:
            raise ApiError(
                400, "MAX_BLOCK_SIZE_EXCEEDED", f"Cannot put more than {DBFS_MAX_READ} bytes at a time."
            )
        if path in self._dbfs and not params.get("overwrite"):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at {path}.")
        self._dbfs[path] = _File(data, now)
        return {}

    # ------------------------------------------------------------------------------ workspace

    def _workspace_object(self, params: dict[str, Any]) -> tuple[str, _WorkspaceObject | None]:
        path = params.get("path")
        if not isinstance(path, str) or not path:
            raise _invalid("Missing required field: path")
        key = _workspace_path(path)
        found = self._workspace.get(key)
        if found is None and not any(p.startswith(key.rstrip("/") + "/") for p in self._workspace):
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({key}) doesn't exist.")
        return key, found

    def _ep_workspace_get_status(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        key, found = self._workspace_object(params)
        if found is None:  # an implicit folder of seeded objects
            return {"object_type": "DIRECTORY", "path": key, "object_id": 0, "modified_at": 0}
        return {
            "object_type": found.object_type,
            "path": key,
            "object_id": found.object_id,
            "modified_at": found.modified_ms,
        }

    def _ep_workspace_export(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        key, found = self._workspace_object(params)
        fmt = str(params.get("format") or "SOURCE").upper()
        if fmt not in ("SOURCE", "AUTO"):
            raise _invalid(f"Unsupported export format {fmt!r}: the stand-in exports SOURCE and AUTO.")
        if found is None or found.object_type == "DIRECTORY":
            raise _invalid(f"Path ({key}) is a directory; export a file or a notebook.")
        return {"content": base64.b64encode(found.data).decode("ascii"), "file_type": "py"}

    # ------------------------------------------------------------------------------ log delivery

    def _workload(self, run: _Run, cluster: _Cluster) -> Any:
        from sync_provider.core.pricing import price_of
        from sync_provider.testing.eventlog_generator import WorkloadSpec

        spec = cluster.spec
        node = spec.get("node_type_id") or _POOL_NODE_TYPE
        a, b, c, d = cluster.driver_ip.split(".")
        conf = spec.get("spark_conf")
        conf = conf if isinstance(conf, dict) else {}
        return WorkloadSpec(
            app_name=run.run_name,
            platform="databricks",
            start_ms=cluster.running_ms or run.running_ms,
            executors=max(1, _workers(spec)),
            cores_per_executor=price_of(node).vcpus,
            jobs=self.work if self.work is not None else default_work(),
            cluster_id=cluster.cluster_id,
            node_type=node,
            driver_node_type=spec.get("driver_node_type_id") or node,
            databricks_runtime=str(spec.get("spark_version") or "13.3.x-scala2.12"),
            driver_host=f"ip-{a}-{b}-{c}-{d}.ec2.internal",
            executor_host=f"ip-{a}-{b}-{c}-{{n}}.ec2.internal",
            spark_properties={str(k): str(v) for k, v in conf.items()},
            seed=self.seed * 1_000_003 + run.run_id,
        )

    def _log_chunks(self, run: _Run, cluster: _Cluster) -> list[tuple[str, bytes]]:
        """The complete log as ``(file name, bytes)``: rolled parts (gzip) then ``eventlog``."""
        cached = self._logs.get(cluster.cluster_id)
        if cached is not None:
            return cached
        from sync_provider.testing.eventlog_generator import generate_events

        spec = self._workload(run, cluster)
        events = list(generate_events(spec))
        times = _event_times(events, spec.start_ms)
        chunks = _split(events, times, spec.start_ms, self.rolled_parts)
        parts: list[tuple[str, bytes]] = []
        for index, (boundary, chunk, first_ms) in enumerate(chunks):
            meta = {
                "Event": "DBCEventLoggingListenerMetadata",
                "Spark Version": spec.spark_version,
                "Timestamp": first_ms,
                "Rollover Number": index,
                "SparkContext Id": cluster.context_id,
            }
            data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in [meta, *chunk])
            if index < len(chunks) - 1:
                name = (
                    "eventlog-"
                    + datetime.fromtimestamp(boundary / 1000, UTC).strftime("%Y-%m-%d--%H-00")
                    + ".gz"
                )
                parts.append((name, gzip.compress(data, mtime=0)))
            else:
                parts.append(("eventlog", data))
        self._logs[cluster.cluster_id] = parts
        return parts

    def _files_for(self, run: _Run, cluster: _Cluster, kind: str) -> list[tuple[str, bytes]]:
        parts = self._log_chunks(run, cluster)
        rolled, current = parts[:-1], parts[-1]
        if kind == "partial":
            middle = len(rolled) // 2
            if middle < len(rolled):
                lines = gzip.decompress(rolled[middle][1]).splitlines(keepends=True)
            else:
                lines = current[1].splitlines(keepends=True)
            return [*rolled[:middle], ("eventlog", b"".join(lines[: max(1, len(lines) // 2)]))]
        mode = run.log_mode
        if mode == "none":
            return []
        if mode == "missing_part" and rolled:
            return [*rolled[:-1], current]
        if mode in ("incomplete", "missing_part"):
            lines = current[1].splitlines(keepends=True)
            keep = [
                line
                for line in lines[: max(1, len(lines) * 9 // 10)]
                if b"SparkListenerApplicationEnd" not in line
            ]
            return [*rolled, ("eventlog", b"".join(keep))]
        return parts

    def _deliver(self, run: _Run, kind: str) -> None:
        with self._lock:
            clusters = [
                self._clusters[c]
                for c in dict.fromkeys(c for c in run.task_clusters if c is not None)
                if self._clusters[c].source == "JOB"
            ]
        for cluster in clusters:
            conf = cluster.spec.get("cluster_log_conf")
            if not isinstance(conf, dict) or not conf:
                continue
            with self._lock:
                files = self._files_for(run, cluster, kind)
            if not files:
                continue
            driver = f"{cluster.cluster_id}_{cluster.driver_ip.replace('.', '_')}"
            folder = f"{cluster.cluster_id}/eventlog/{driver}/{cluster.context_id}"
            written = [(f"{folder}/{name}", data) for name, data in files]
            written += [
                (
                    f"{cluster.cluster_id}/driver/stdout",
                    f"{kind} log delivery of run {run.run_id}\n".encode(),
                ),
                (f"{cluster.cluster_id}/driver/log4j-active.log", b"INFO SparkContext: Running Spark\n"),
            ]
            try:
                self._write(conf, written)
            except Exception as exc:
                message = f"Delivering the {kind} log of run {run.run_id} failed: {exc}"
                log.warning("%s", message)
                with self._lock:
                    self.delivery_errors.append(message)
                continue
            with self._lock:
                cluster.last_delivery_ms = _now_ms()
            log.debug("Delivered the %s log of run %s (%d files)", kind, run.run_id, len(written))

    def _write(self, conf: dict[str, Any], files: Iterable[tuple[str, bytes]]) -> None:
        if "s3" in conf:
            destination = str(conf["s3"]["destination"])
            bucket, _, prefix = destination[len("s3://") :].partition("/")
            prefix = prefix.strip("/")
            for rel, data in files:
                key = f"{prefix}/{rel}" if prefix else rel
                self.s3_client.put_object(Bucket=bucket, Key=key, Body=data)
            return
        base = _dbfs_path(str(conf["dbfs"]["destination"])).rstrip("/")
        now = _now_ms()
        with self._lock:
            for rel, data in files:
                self._dbfs[f"{base}/{rel}"] = _File(data, now)

    # ------------------------------------------------------------------------------ misc

    def __repr__(self) -> str:
        return f"LocalDatabricks(url={self._url!r})"


_TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_TASK_CLUSTER_KEYS = ("new_cluster", "existing_cluster_id", "job_cluster_key")
_DEFAULT_MESSAGES = {
    "SUCCESS": "",
    "FAILED": "Task sync_task failed with message: Workload failed, see run output for details.",
    "TIMEDOUT": "Run timed out.",
    "CANCELED": "Run cancelled.",
    "INTERNAL_ERROR": (
        "Cluster failed to start: CLOUD_PROVIDER_LAUNCH_FAILURE (InsufficientInstanceCapacity)."
    ),
}
_DEFAULT_LOGS = {
    "SUCCESS": "complete",
    "FAILED": "complete",
    "TIMEDOUT": "incomplete",
    "CANCELED": "incomplete",
    "INTERNAL_ERROR": "none",
}
_TERMINATED_MESSAGES = {
    "JOB_FINISHED": "Job finished",
    "USER_REQUEST": "Terminated by user",
    "CLOUD_PROVIDER_LAUNCH_FAILURE": "Cloud provider launch failure",
}


def _workers(spec: dict[str, Any]) -> int:
    autoscale = spec.get("autoscale")
    if isinstance(autoscale, dict):
        return int(autoscale.get("max_workers") or 1)
    return int(spec.get("num_workers") or 0)


def _filler_event(index: int, at: int, workers: int) -> dict[str, Any]:
    kind = index % 3
    if kind == 0:
        return {"type": "DRIVER_HEALTHY", "timestamp": at, "details": {}}
    if kind == 1:
        return {
            "type": "NODES_LOST",
            "timestamp": at,
            "details": {
                "current_num_workers": max(0, workers - 1),
                "target_num_workers": workers,
                "reason": {
                    "code": "SPOT_INSTANCE_TERMINATION",
                    "type": "CLOUD_FAILURE",
                    "parameters": {"databricks_error_message": _UNICODE_NOTE},
                },
            },
        }
    return {
        "type": "UPSIZE_COMPLETED",
        "timestamp": at,
        "details": {"current_num_workers": workers, "target_num_workers": workers},
    }


def _int_param(params: dict[str, Any], key: str, default: int | None = None) -> int:
    value = params.get(key)
    if value is None or value == "":
        if default is None:
            raise _invalid(f"Missing required field: {key}")
        return default
    if isinstance(value, bool):
        raise _invalid(f"{key} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(f"{key} must be an integer, got {value!r}.") from None


def _dbfs_path(path: str) -> str:
    text = path.strip()
    if text.startswith("dbfs:"):
        text = text[len("dbfs:") :]
    text = "/" + text.lstrip("/")
    return text.rstrip("/") or "/"


def _workspace_path(path: str) -> str:
    text = path.strip()
    if text.startswith("/Workspace/"):
        text = text[len("/Workspace") :]
    return "/" + text.strip("/")


def _dbfs_param(params: dict[str, Any]) -> str:
    path = params.get("path")
    if not isinstance(path, str) or not path:
        raise _invalid("Missing required field: path")
    return _dbfs_path(path)


def _event_times(events: list[dict[str, Any]], start_ms: int) -> list[int]:
    """A time for every event (the last known time for events that carry none)."""
    times: list[int] = []
    last = start_ms
    for event in events:
        found: Any = None
        for key in ("Timestamp", "Completion Time", "Submission Time", "time"):
            if isinstance(event.get(key), int):
                found = event[key]
                break
        info = event.get("Task Info")
        if found is None and isinstance(info, dict):
            found = info.get("Finish Time") or info.get("Launch Time")
        stage = event.get("Stage Info")
        if found is None and isinstance(stage, dict):
            found = stage.get("Completion Time") or stage.get("Submission Time")
        if isinstance(found, int) and found > 0:
            last = max(last, found)
        times.append(last)
    return times


def _split(
    events: list[dict[str, Any]], times: list[int], start_ms: int, rolled_parts: int | None
) -> list[tuple[int, list[dict[str, Any]], int]]:
    """Split events into ``(hour boundary ending the part, events, first time)``, hourly or forced."""
    hour = 3_600_000
    first_boundary = (start_ms // hour + 1) * hour
    chunks: list[tuple[int, list[dict[str, Any]], int]] = []
    if rolled_parts is not None:
        count = rolled_parts + 1
        size = max(1, -(-len(events) // count))
        for index in range(count):
            piece = events[index * size : (index + 1) * size] or events[-1:]
            at = times[min(index * size, len(times) - 1)]
            chunks.append((first_boundary + index * hour, piece, at))
        return chunks
    current: list[dict[str, Any]] = []
    boundary = first_boundary
    current_first = start_ms
    for event, at in zip(events, times, strict=True):
        while at >= boundary:
            if current:
                chunks.append((boundary, current, current_first))
                current = []
            boundary += hour
        if not current:
            current_first = at
        current.append(event)
    chunks.append((boundary, current, current_first))
    return chunks


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stand-in in the foreground: ``python -m sync_provider.testing.databricks --port 8765``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--phase-s", type=float, default=5.0)
    parser.add_argument("--log-delivery-delay-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    server = LocalDatabricks(
        port=args.port, token=args.token, phase_s=args.phase_s, log_delivery_delay_s=args.log_delivery_delay_s
    )
    with server:
        print(f"Local Databricks at {server.url}  (token {server.token})", flush=True)
        print(f"AIRFLOW_CONN_DATABRICKS_DEFAULT='{server.connection_json()}'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


__all__ = [
    "DEFAULT_TOKEN",
    "LOG_MODES",
    "OUTCOMES",
    "ROUTES",
    "LocalDatabricks",
    "RequestRecord",
    "RunRule",
    "default_work",
]

if __name__ == "__main__":
    raise SystemExit(main())
