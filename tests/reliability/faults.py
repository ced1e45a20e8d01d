"""Fault plans for the closed-loop reliability suite, and the client-side AWS fault injector.

A :class:`FaultPlan` says what goes wrong during the loops that run under it:

- ``sync``: rules for the local Sync API server's fault injector (429/500/503 answers, connections
  dropped before or after the request is executed, latency beyond the client's read timeout), on
  any route including the presigned-POST upload target ``POST /_uploads``;
- ``databricks``: the same kind of rules for the local Databricks stand-in;
- ``aws``: faults injected into the boto3 clients the loops use (:class:`AwsFaultInjector`), through
  botocore's ``before-send`` event against moto's real server: 500/503 and throttling answers,
  connection errors before the request leaves, and responses lost *after* moto acted on the
  request (``drop_after``);
- ``expire_tokens_every_s``: every issued Sync access token is expired on this period, mid-flow;
- ``hide_eventlog_for_s``: (EMR) listings of a run's event-log folder see nothing for this long
  after the first one, as when the log is delivered late;
- ``log_delivery_delay_s`` / ``log_timeout_s``: (Databricks) the stand-in's final log delivery comes
  this late, and ``record_run`` waits this long for it.

All random draws are seeded: the Sync and Databricks stand-ins seed their injectors with the plan's
seed, and every loop seeds its AWS injector with ``(seed, plan, loop index, client)``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Platform = Literal["emr", "databricks"]
AwsFaultKind = Literal["500", "503", "throttle", "connect", "drop_after"]

#: Read timeout of the Sync and Databricks clients in the loops; latency spikes exceed it.
CLIENT_READ_TIMEOUT_S = 1.0
#: A latency spike: longer than the clients' read timeout.
SPIKE_S = CLIENT_READ_TIMEOUT_S + 0.4


@dataclass(frozen=True)
class HttpFault:
    """One rule for a stand-in's fault injector (see ``FaultInjector.add``)."""

    route: str
    status: int | None = None
    rate: float = 1.0
    times: int | None = None
    latency_s: float = 0.0
    drop: Literal["before", "after"] | None = None
    retry_after: float | None = None

    def describe(self) -> str:
        """One line for the documentation."""
        if self.drop:
            effect = f"drop {self.drop}"
        elif self.status:
            effect = f"HTTP {self.status}"
        else:
            effect = "delay"
        if self.latency_s:
            effect += f" after {self.latency_s:g} s" if self.status or self.drop else f" {self.latency_s:g} s"
        if self.retry_after is not None:
            effect += f" with Retry-After {self.retry_after:g} s"
        how = f"{self.rate:.0%}" if self.times is None else f"first {self.times}"
        if self.times is not None and self.rate < 1:
            how = f"{self.rate:.0%}, {self.times} at most"
        return f"``{self.route}``: {effect} ({how})"


@dataclass(frozen=True)
class AwsFault:
    """A fault injected into boto3 calls.

    :param operation: ``"<service>.<Operation>"`` or ``"<service>.*"`` (e.g. ``"emr.RunJobFlow"``).
    :param kind: ``500``/``503``/``throttle`` answers, ``connect`` (the request never leaves) or
        ``drop_after`` (moto executes the request, the response is lost: a read timeout).
    :param rate: probability per request.
    """

    operation: str
    kind: AwsFaultKind
    rate: float

    def matches(self, service: str, operation: str) -> bool:
        """Whether the fault applies to ``service.operation``."""
        want_service, _, want_operation = self.operation.partition(".")
        return want_service == service and want_operation in ("*", operation)

    def describe(self) -> str:
        """One line for the documentation."""
        return f"``{self.operation}``: {self.kind} ({self.rate:.0%})"


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong during the loops of one plan (see the module docstring)."""

    name: str
    platform: Platform
    summary: str
    sync: tuple[HttpFault, ...] = ()
    databricks: tuple[HttpFault, ...] = ()
    aws: tuple[AwsFault, ...] = ()
    expire_tokens_every_s: float | None = None
    hide_eventlog_for_s: float = 0.0
    log_delivery_delay_s: float = 0.15
    log_timeout_s: float = 5.0
    upload: bool = False
    log_destination: Literal["dbfs", "s3"] = "dbfs"
    known_issue: str | None = None

    def describe(self) -> list[str]:
        """Lines describing every fault, for the documentation."""
        lines = [f"Sync API {f.describe()}" for f in self.sync]
        lines += [f"Databricks {f.describe()}" for f in self.databricks]
        lines += [f"AWS {f.describe()}" for f in self.aws]
        if self.expire_tokens_every_s:
            lines.append(f"every Sync access token expired every {self.expire_tokens_every_s:g} s")
        if self.hide_eventlog_for_s:
            lines.append(
                f"each event-log folder looks empty for {self.hide_eventlog_for_s:g} s after its first "
                "listing (late delivery)"
            )
        if self.platform == "databricks":
            lines.append(
                f"final log delivery {self.log_delivery_delay_s:g} s after the run, to "
                f"{self.log_destination}; record_run waits {self.log_timeout_s:g} s"
            )
        if self.platform == "emr":
            lines.append(
                "event log "
                + ("uploaded through the presigned POST" if self.upload else "sent as a presigned S3 URL")
            )
        return lines


# --------------------------------------------------------------------------------------------- plans

_SYNC_5XX = (
    HttpFault("*", status=503, times=6),  # a burst at the start: every route, six requests
    HttpFault("POST /v1/auth/token", status=500, rate=0.2),
    HttpFault("POST /v1/autotuner/predictions", status=429, rate=0.3, retry_after=1),
    HttpFault("POST /v1/autotuner/predictions", status=503, rate=0.15),
    HttpFault("GET /v1/autotuner/predictions/{id}/status", status=500, rate=0.25),
    HttpFault("GET /v1/autotuner/predictions/{id}/status", status=429, rate=0.1, retry_after=1),
    HttpFault("GET /v1/autotuner/predictions/{id}", status=503, rate=0.25),
    HttpFault("GET /v1/autotuner/predictions", status=502, rate=0.2),
)
_SYNC_DROPS = (
    HttpFault("POST /v1/autotuner/predictions", drop="after", rate=0.25),
    HttpFault("POST /v1/autotuner/predictions", drop="before", rate=0.15),
    HttpFault("GET /v1/autotuner/predictions/{id}/status", drop="after", rate=0.2),
    HttpFault("GET /v1/autotuner/predictions/{id}", drop="before", rate=0.2),
    HttpFault("POST /v1/auth/token", drop="after", rate=0.15),
)
_SYNC_SLOW = (
    HttpFault("POST /v1/autotuner/predictions", latency_s=SPIKE_S, rate=0.25),
    HttpFault("GET /v1/autotuner/predictions/{id}/status", latency_s=SPIKE_S, rate=0.15),
    HttpFault("GET /v1/autotuner/predictions/{id}", latency_s=SPIKE_S, rate=0.15),
)
_UPLOAD_FAILURES = (
    HttpFault("POST /_uploads", status=503, rate=0.25),
    HttpFault("POST /_uploads", status=500, rate=0.15),
    HttpFault("POST /_uploads", drop="after", rate=0.15),
    HttpFault("POST /_uploads", drop="before", rate=0.1),
)
_AWS_5XX = (
    AwsFault("emr.*", "500", 0.12),
    AwsFault("emr.*", "throttle", 0.12),
    AwsFault("emr.RunJobFlow", "503", 0.3),
    AwsFault("s3.*", "503", 0.12),
    AwsFault("s3.PutObject", "500", 0.2),
)
_AWS_CONNECT = (
    AwsFault("emr.*", "connect", 0.12),
    AwsFault("s3.*", "connect", 0.1),
)
_DBX_5XX = (
    HttpFault("*", status=503, times=6),
    HttpFault("POST /jobs/runs/submit", status=429, rate=0.3, retry_after=1),
    HttpFault("POST /jobs/runs/submit", status=503, rate=0.2),
    HttpFault("GET /jobs/runs/get", status=500, rate=0.2),
    HttpFault("GET /clusters/get", status=503, rate=0.2),
    HttpFault("POST /clusters/events", status=429, rate=0.2),
    HttpFault("GET /dbfs/list", status=500, rate=0.15),
    HttpFault("GET /dbfs/read", status=503, rate=0.15),
)
_DBX_DROPS = (
    HttpFault("POST /jobs/runs/submit", drop="after", rate=0.3),
    HttpFault("POST /jobs/runs/submit", drop="before", rate=0.15),
    HttpFault("POST /jobs/runs/submit", latency_s=SPIKE_S, rate=0.15),
    HttpFault("GET /jobs/runs/get", drop="after", rate=0.15),
    HttpFault("GET /jobs/runs/get", latency_s=SPIKE_S, rate=0.1),
    HttpFault("GET /dbfs/read", drop="before", rate=0.15),
    HttpFault("POST /jobs/runs/cancel", drop="after", rate=0.3),
)

PLANS: tuple[FaultPlan, ...] = (
    FaultPlan("emr-baseline", "emr", "no faults (control)"),
    FaultPlan("emr-sync-5xx", "emr", "Sync API 429/500/502/503 bursts and rates", sync=_SYNC_5XX),
    FaultPlan(
        "emr-sync-drops",
        "emr",
        "Sync API connections dropped before/after the request ran; access tokens expire mid-flow",
        sync=_SYNC_DROPS,
        expire_tokens_every_s=0.4,
    ),
    FaultPlan(
        "emr-sync-latency", "emr", "Sync API latency spikes beyond the client's read timeout", sync=_SYNC_SLOW
    ),
    FaultPlan("emr-aws-5xx", "emr", "EMR and S3 500/503/throttling answers", aws=_AWS_5XX),
    FaultPlan(
        "emr-aws-connect", "emr", "EMR and S3 connection errors (request never sent)", aws=_AWS_CONNECT
    ),
    FaultPlan(
        "emr-s3-upload",
        "emr",
        "event log uploaded: upload target 500/503/drops, S3 read and write failures",
        sync=_UPLOAD_FAILURES,
        aws=(AwsFault("s3.GetObject", "503", 0.2), AwsFault("s3.PutObject", "500", 0.2)),
        upload=True,
    ),
    FaultPlan(
        "emr-late-eventlog",
        "emr",
        "the event log shows up in S3 late (the first record attempt finds nothing)",
        hide_eventlog_for_s=0.4,
    ),
    FaultPlan(
        "emr-lost-runjobflow",
        "emr",
        "EMR responses lost after the request ran (RunJobFlow, TerminateJobFlows)",
        aws=(
            AwsFault("emr.RunJobFlow", "drop_after", 0.25),
            AwsFault("emr.TerminateJobFlows", "drop_after", 0.25),
        ),
    ),
    FaultPlan(
        "emr-mixed",
        "emr",
        "most of the above at once, at lower rates",
        sync=(
            HttpFault("*", status=503, times=4),
            HttpFault("POST /v1/autotuner/predictions", drop="after", rate=0.2),
            HttpFault("POST /v1/autotuner/predictions", status=429, rate=0.2, retry_after=1),
            HttpFault("GET /v1/autotuner/predictions/{id}/status", status=500, rate=0.2),
            HttpFault("GET /v1/autotuner/predictions/{id}/status", latency_s=SPIKE_S, rate=0.1),
            HttpFault("POST /_uploads", drop="after", rate=0.2),
        ),
        aws=(
            AwsFault("emr.*", "throttle", 0.08),
            AwsFault("emr.*", "connect", 0.05),
            AwsFault("s3.*", "503", 0.08),
        ),
        expire_tokens_every_s=0.5,
        hide_eventlog_for_s=0.4,
        upload=True,
    ),
    FaultPlan("dbx-baseline", "databricks", "no faults (control)"),
    FaultPlan("dbx-api-5xx", "databricks", "Databricks 429/500/503 bursts and rates", databricks=_DBX_5XX),
    FaultPlan(
        "dbx-api-drops",
        "databricks",
        "Databricks connections dropped before/after the request ran, latency spikes",
        databricks=_DBX_DROPS,
    ),
    FaultPlan(
        "dbx-sync-faults",
        "databricks",
        "Sync API 5xx bursts, drops and latency spikes; access tokens expire mid-flow",
        sync=(*_SYNC_5XX[:4], *_SYNC_DROPS[:2], _SYNC_SLOW[0]),
        expire_tokens_every_s=0.4,
    ),
    FaultPlan(
        "dbx-late-log",
        "databricks",
        "the final log delivery comes after record_run stopped waiting (first attempt times out)",
        log_delivery_delay_s=1.2,
        log_timeout_s=0.6,
    ),
    FaultPlan(
        "dbx-s3-log",
        "databricks",
        "logs delivered to S3; S3 listing and read failures",
        aws=(AwsFault("s3.*", "503", 0.15), AwsFault("s3.*", "connect", 0.1)),
        log_destination="s3",
    ),
    FaultPlan(
        "dbx-upload-failures",
        "databricks",
        "the upload target answers 500/503 or drops the connection",
        sync=_UPLOAD_FAILURES,
    ),
    FaultPlan(
        "dbx-mixed",
        "databricks",
        "most of the above at once, at lower rates",
        sync=(
            HttpFault("*", status=503, times=4),
            HttpFault("POST /v1/autotuner/predictions", drop="after", rate=0.2),
            HttpFault("POST /_uploads", drop="after", rate=0.2),
            HttpFault("GET /v1/autotuner/predictions/{id}/status", latency_s=SPIKE_S, rate=0.1),
        ),
        databricks=(
            HttpFault("*", status=503, times=4),
            HttpFault("POST /jobs/runs/submit", drop="after", rate=0.25),
            HttpFault("GET /jobs/runs/get", status=500, rate=0.15),
            HttpFault("GET /dbfs/read", status=503, rate=0.1),
            HttpFault("POST /clusters/events", status=429, rate=0.1),
        ),
        expire_tokens_every_s=0.5,
        log_delivery_delay_s=1.0,
        log_timeout_s=0.6,
    ),
)


def plans_for(platform: Platform, names: list[str] | None = None) -> list[FaultPlan]:
    """The plans of ``platform``, optionally only those named."""
    chosen = [p for p in PLANS if p.platform == platform and (not names or p.name in names)]
    return chosen


def plan_named(name: str) -> FaultPlan:
    """The plan called ``name``.

    :raises KeyError: naming the plans there are.
    """
    for plan in PLANS:
        if plan.name == name:
            return plan
    raise KeyError(f"no fault plan {name!r}; plans: {', '.join(p.name for p in PLANS)}")


# ------------------------------------------------------------------------------ AWS fault injection


class _Body:
    """The ``raw`` of a canned botocore response."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


_EMR_ERRORS: dict[str, tuple[int, str]] = {
    "500": (500, "InternalServerError"),
    "503": (503, "ServiceUnavailable"),
    "throttle": (400, "ThrottlingException"),
}
_S3_ERRORS: dict[str, tuple[int, str]] = {
    "500": (500, "InternalError"),
    "503": (503, "SlowDown"),
    "throttle": (503, "SlowDown"),
}


@dataclass
class AwsFaultStats:
    """Faults injected into AWS calls, by ``"<service>.<Operation> <kind>"`` (thread-safe)."""

    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str) -> None:
        """Count one injected fault."""
        with self.lock:
            self.counts[key] += 1

    @property
    def total(self) -> int:
        """Faults injected so far."""
        with self.lock:
            return sum(self.counts.values())


class AwsFaultInjector:
    """Injects a plan's AWS faults into boto3 clients through botocore's ``before-send`` event.

    The handler runs where the HTTP request would be sent. A canned error response goes through
    botocore's normal parsing and retry handling; a ``connect`` fault raises
    ``EndpointConnectionError`` (the request never left); a ``drop_after`` fault sends the request to
    moto for real and then raises ``ReadTimeoutError`` (moto acted, the caller never hears).

    :param faults: the faults.
    :param rng: the seeded random source of this loop.
    :param stats: where injected faults are counted.
    :param hide_eventlog_for_s: answer ``ListObjectsV2`` calls of an event-log folder with an empty
        listing for this long after the first one.
    """

    def __init__(
        self,
        faults: tuple[AwsFault, ...],
        rng: random.Random,
        stats: AwsFaultStats,
        *,
        hide_eventlog_for_s: float = 0.0,
    ) -> None:
        self.faults = faults
        self.rng = rng
        self.stats = stats
        self.hide_eventlog_for_s = hide_eventlog_for_s
        self._first_listing: dict[str, float] = {}
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        """Register the handler on ``client`` (an EMR or S3 boto3 client); return the client."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service}", self._handler)
        return client

    def _handler(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        _, service, operation = event_name.split(".", 2)
        if service == "s3" and operation == "ListObjectsV2" and self.hide_eventlog_for_s:
            hidden = self._hidden_listing(request)
            if hidden is not None:
                return hidden
        with self._lock:
            fault = next(
                (f for f in self.faults if f.matches(service, operation) and self.rng.random() < f.rate), None
            )
        if fault is None:
            return None
        self.stats.add(f"{service}.{operation} {fault.kind}")
        from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

        if fault.kind == "connect":
            raise EndpointConnectionError(endpoint_url=request.url)
        if fault.kind == "drop_after":
            _send_for_real(request)
            raise ReadTimeoutError(endpoint_url=request.url)
        return _error_response(request, service, fault.kind)

    def _hidden_listing(self, request: Any) -> Any:
        query = parse_qs(urlsplit(request.url).query)
        prefix = (query.get("prefix") or [""])[0]
        if not prefix.endswith("/eventlog/"):
            return None
        with self._lock:
            first = self._first_listing.setdefault(prefix, time.monotonic())
            if time.monotonic() - first >= self.hide_eventlog_for_s:
                return None
        self.stats.add("s3.ListObjectsV2 hidden")
        bucket = urlsplit(request.url).path.strip("/").split("/", 1)[0]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{bucket}</Name><Prefix>{prefix}</Prefix><KeyCount>0</KeyCount>"
            "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"
        ).encode()
        from botocore.awsrequest import AWSResponse

        return AWSResponse(request.url, 200, _headers("application/xml"), _Body(body))


def _headers(content_type: str) -> Any:
    from botocore.compat import HTTPHeaders

    headers = HTTPHeaders()
    headers["Content-Type"] = content_type
    return headers


def _error_response(request: Any, service: str, kind: str) -> Any:
    from botocore.awsrequest import AWSResponse

    if service == "s3":
        status, code = _S3_ERRORS[kind]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>Injected fault ({kind}).</Message><RequestId>INJECTED</RequestId></Error>"
        ).encode()
        headers = _headers("application/xml")
    else:
        status, code = _EMR_ERRORS[kind]
        body = json.dumps({"__type": code, "message": f"Injected fault ({kind})."}).encode()
        headers = _headers("application/x-amz-json-1.1")
    return AWSResponse(request.url, status, headers, _Body(body))


def _send_for_real(request: Any) -> None:
    """Send a prepared botocore request to moto and ignore the answer."""
    import urllib3

    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    http = urllib3.PoolManager()
    try:
        http.request(
            request.method,
            request.url,
            body=body,
            headers=dict(request.headers.items()),
            retries=False,
            timeout=10.0,
        )
    finally:
        http.clear()
