"""A local stand-in for the Sync API (predictions generation) that speaks the real wire protocol.

It runs on the standard library's :class:`http.server.ThreadingHTTPServer` (HTTP/1.1 keep-alive,
one daemon thread per connection) on loopback, keeps its state in memory behind locks, stores event
logs under ``data_dir`` and runs a prediction engine in background threads. Faults can be injected
per route through :attr:`LocalSyncServer.faults`.

Example::

    with LocalSyncServer() as server:
        token = requests.post(f"{server.url}/v1/auth/token", json={...}).json()["result"]["access_token"]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape as xml_escape

from sync_provider.testing._http import KEEP_ALIVE_TIMEOUT_S, Reply, StandIn, StandInHandler
from sync_provider.testing.sync_api.faults import FaultInjector
from sync_provider.testing.sync_api.multipart import MultipartError, MultipartReader, parse_header_params
from sync_provider.testing.sync_api.processing import Processor, safe_filename
from sync_provider.testing.sync_api.state import (
    PREFERENCES,
    PRODUCTS,
    PROJECT_FIELDS,
    PredictionRecord,
    ServerStats,
    Store,
    canonical_uuid,
    iso_z,
    utc_now,
)

if TYPE_CHECKING:
    from sync_provider.testing.engines import PredictionEngine

log = logging.getLogger(__name__)

DEFAULT_API_KEYS: Mapping[str, str] = {"local-key-id": "local-key-secret"}
UPLOAD_TTL_S = 3600
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_FORM_FIELD_BYTES = 20 * 1024
MAX_DRAIN_BYTES = 64 * 1024 * 1024
_UPLOAD_ALGORITHM = "AWS4-HMAC-SHA256"
_FILENAME_TOKEN = "${filename}"  # noqa: S105 - the literal S3 key placeholder, not a secret


# --------------------------------------------------------------------------------------------------
# replies and errors


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def ok(result: Any, status: int = 200) -> Reply:
    """Build a success reply ``{"result": result}``.

    :param result: the payload.
    :param status: the HTTP status.
    """
    return Reply(status, _json_bytes({"result": result}))


def error_reply(status: int, code: str, message: str, detail: Any = None) -> Reply:
    """Build an error reply ``{"error": {"code", "message", "detail"}}``.

    :param status: the HTTP status.
    :param code: the error code string.
    :param message: a human-readable message (never raw request text).
    :param detail: optional JSON detail.
    """
    return Reply(status, _json_bytes({"error": {"code": code, "message": message, "detail": detail}}))


def s3_error_reply(status: int, code: str, message: str) -> Reply:
    """Build an S3-style XML error reply (used by the upload endpoint).

    :param status: the HTTP status.
    :param code: the S3 error code, e.g. ``SignatureDoesNotMatch``.
    :param message: the message.
    """
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Reply(status, body.encode("utf-8"), content_type="application/xml")


class ApiError(Exception):
    """Raised by route handlers; becomes an error reply.

    :param status: the HTTP status.
    :param code: the error code string.
    :param message: the message.
    :param detail: optional JSON detail.
    :param headers: extra response headers.
    """

    def __init__(
        self, status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reply = error_reply(status, code, message, detail)
        self.reply.headers.update(headers or {})


def _validation(field_name: str, message: str) -> ApiError:
    return ApiError(422, "Validation Error", message, {"field": field_name})


def _not_found(message: str) -> ApiError:
    return ApiError(404, "Not Found", message)


class _S3Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = s3_error_reply(status, code, message)


# --------------------------------------------------------------------------------------------------
# request bodies


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


class Headers(Protocol):
    """The part of :class:`email.message.Message` used for request headers."""

    def get(self, name: str, default: None = None, /) -> str | None:
        """Return a header value or ``None``."""
        ...


class RequestBody:
    """Reads a request body sent with ``Content-Length`` or ``Transfer-Encoding: chunked``.

    :param rfile: the connection's input stream.
    :param headers: the request headers.
    :raises ValueError: for an invalid ``Content-Length``.
    """

    def __init__(self, rfile: _Readable, headers: Headers) -> None:
        self._rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self._remaining = 0
        self._chunk_left = 0
        self.done = False
        if not self.chunked:
            length = (headers.get("Content-Length") or "0").strip()
            if not length.isdigit():
                raise ValueError("Invalid Content-Length header.")
            self._remaining = int(length)
            self.done = self._remaining == 0

    def read(self, size: int) -> bytes:
        """Read up to ``size`` bytes; ``b""`` at the end of the body.

        :param size: maximum number of bytes.
        """
        if self.done or size <= 0:
            return b""
        if not self.chunked:
            data = self._rfile.read(min(size, self._remaining))
            if not data:
                raise ConnectionError("The client closed the connection inside the request body.")
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return data
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ConnectionError("Malformed chunked request body.") from None
            if self._chunk_left == 0:
                while self._rfile.readline(8192).strip():  # trailers
                    pass
                self.done = True
                return b""
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise ConnectionError("The client closed the connection inside the request body.")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(16)  # CRLF after the chunk
        return data

    def read_all(self, limit: int) -> bytes:
        """Read the whole body.

        :param limit: maximum size in bytes.
        :raises ApiError: 413 when the body is larger.
        """
        out = bytearray()
        while chunk := self.read(64 * 1024):
            out += chunk
            if len(out) > limit:
                raise ApiError(413, "Payload Too Large", f"The request body is larger than {limit} bytes.")
        return bytes(out)

    def drain(self, limit: int = MAX_DRAIN_BYTES) -> bool:
        """Discard the rest of the body so the connection can serve the next request.

        :param limit: give up after this many bytes.
        :returns: whether the body was read to its end.
        """
        total = 0
        try:
            while chunk := self.read(64 * 1024):
                total += len(chunk)
                if total > limit:
                    return False
        except (ConnectionError, OSError):
            return False
        return True


# --------------------------------------------------------------------------------------------------
# routing


@dataclass(frozen=True)
class Route:
    """One API route: method, path template and handler."""

    method: str
    template: str
    handler: str
    auth: bool
    pattern: re.Pattern[str]

    @property
    def key(self) -> str:
        """``"METHOD /template"``, as used by fault rules."""
        return f"{self.method} {self.template}"


def _route(method: str, template: str, handler: str, *, auth: bool = True) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, template, handler, auth, re.compile(f"^{regex}$"))


ROUTES: tuple[Route, ...] = (
    _route("POST", "/v1/auth/token", "_auth_token", auth=False),
    _route("GET", "/v1/autotuner/products", "_products"),
    _route("POST", "/v1/autotuner/predictions", "_create_prediction"),
    _route("GET", "/v1/autotuner/predictions", "_list_predictions"),
    _route("GET", "/v1/autotuner/predictions/{id}", "_get_prediction"),
    _route("GET", "/v1/autotuner/predictions/{id}/status", "_prediction_status"),
    _route("POST", "/v1/projects", "_create_project"),
    _route("GET", "/v1/projects", "_list_projects"),
    _route("GET", "/v1/projects/{id}", "_get_project"),
    _route("PUT", "/v1/projects/{id}", "_update_project"),
    _route("DELETE", "/v1/projects/{id}", "_delete_project"),
    _route("POST", "/_uploads", "_upload", auth=False),
)
UNKNOWN_ROUTE = "<unknown>"


@dataclass
class RequestContext:
    """What a route handler gets: the parsed request."""

    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, str]
    headers: Headers
    body: RequestBody


@dataclass
class _Request:
    """A request read off the connection: its route (``None`` when unknown) and what it carries."""

    route: Route | None
    allowed: list[str]
    context: RequestContext


# --------------------------------------------------------------------------------------------------
# HTTP plumbing


class _Handler(StandInHandler):
    server_version = "SyncLocalAPI/1.0"
    timeout = KEEP_ALIVE_TIMEOUT_S

    def version_string(self) -> str:
        """The ``Server`` header value."""
        return self.server_version

    do_HEAD = do_OPTIONS = StandInHandler.do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a malformed request with the JSON error envelope and close the connection."""
        status = HTTPStatus(code)
        log.debug("Malformed request: %s %s", code, message)
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # answer unparsable request lines with a full response
        # The base class's message may quote the raw request line; send only the generic description.
        self.send_reply(error_reply(code, status.phrase, status.description), close=True)


# --------------------------------------------------------------------------------------------------
# the server


class LocalSyncServer(StandIn[_Request]):
    """A local Sync API server for tests and demos.

    :param host: interface to bind (loopback by default).
    :param port: TCP port; ``0`` picks a free one.
    :param api_keys: API key id to secret; default ``{"local-key-id": "local-key-secret"}``.
    :param token_ttl_s: lifetime of issued access tokens.
    :param processing_delay_s: how long a prediction stays ``RUNNING`` before the engine runs.
    :param engine: the prediction engine; default
        ``sync_provider.testing.replay_engine.ReplayEngine()`` (the replay estimator).
    :param s3_client: a boto3 S3 client; with ``upload_bucket``, uploads go to S3 presigned POSTs.
    :param upload_bucket: the bucket for S3 upload mode.
    :param allow_remote_fetch: allow ``eventlog_url`` hosts other than loopback.
    :param seed: seed of the fault injector's random draws.
    :param data_dir: where event logs are stored; default a temporary directory removed on stop.
    """

    _title = "The local Sync API server"
    _handler = _Handler
    _thread_name = "sync-api-server"
    _poll_interval = 0.1
    _request_queue_size = 1024

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, str] | None = None,
        token_ttl_s: float = 3600,
        processing_delay_s: float = 0.2,
        engine: PredictionEngine | None = None,
        s3_client: Any = None,
        upload_bucket: str | None = None,
        allow_remote_fetch: bool = False,
        seed: int = 0,
        data_dir: Path | None = None,
    ) -> None:
        if (s3_client is None) != (upload_bucket is None):
            raise ValueError("Give both s3_client and upload_bucket for S3 upload mode, or neither.")
        super().__init__(host, port, FaultInjector((r.key for r in ROUTES), seed=seed))
        self.api_keys: dict[str, str] = dict(DEFAULT_API_KEYS if api_keys is None else api_keys)
        self.token_ttl_s = token_ttl_s
        self.processing_delay_s = processing_delay_s
        self.engine = engine
        self.s3_client = s3_client
        self.upload_bucket = upload_bucket
        self.allow_remote_fetch = allow_remote_fetch
        self.seed = seed
        self.data_dir = data_dir
        self.stats = ServerStats()
        self._store = Store()
        self._upload_secret = secrets.token_bytes(32)
        self._routes = ROUTES
        self._processor: Processor | None = None
        self._owns_data_dir = False

    # lifecycle

    @property
    def running(self) -> bool:
        """Whether the server is serving requests."""
        return self._httpd is not None

    def _before_start(self) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="sync-api-"))
            self._owns_data_dir = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._processor = Processor(
            store=self._store,
            stats=self.stats,
            data_dir=self.data_dir,
            engine=self.engine,
            processing_delay_s=self.processing_delay_s,
            allow_remote_fetch=self.allow_remote_fetch,
            stop_event=self._stop_event,
            s3_client=self.s3_client,
            upload_bucket=self.upload_bucket,
        )

    def _after_stop(self) -> None:
        if self._processor is not None:
            self._processor.join(10)
        if self._owns_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
            self._owns_data_dir = False

    # helpers for tests

    def expire_tokens(self) -> None:
        """Make every issued access token invalid; the next request with one gets 401 (expired)."""
        self._store.expire_tokens()

    def predictions(self) -> list[dict[str, Any]]:
        """Return a snapshot of every prediction (API fields plus ``configs``, ``source``,
        ``eventlog_url``, ``eventlog_path``, ``status_message`` and ``all_solutions``), oldest first.
        """
        return self._store.snapshot_predictions()

    def projects(self) -> list[dict[str, Any]]:
        """Return a snapshot of every project, oldest first."""
        return self._store.list_projects()

    # request handling

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed

    def _read_request(self, handler: StandInHandler) -> _Request | None:
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        route, params, allowed = self._match(method, path)
        self.stats.count_request(method, route.template if route is not None else UNKNOWN_ROUTE)
        try:
            body = RequestBody(handler.rfile, handler.headers)
        except ValueError as exc:
            handler.send_reply(error_reply(400, "Bad Request", str(exc)), close=True)
            return None
        query = parse_qs(split.query, keep_blank_values=True)
        context = RequestContext(method, path, query, params, handler.headers, body)
        return _Request(route, allowed, context)

    def _fault_key(self, request: _Request) -> str:
        template = request.route.template if request.route is not None else UNKNOWN_ROUTE
        return f"{request.context.method} {template}"

    def _respond(self, request: _Request) -> Reply:
        return self._execute(request.route, request.allowed, request.context)

    def _fault_reply(self, request: _Request, status: int) -> Reply:
        phrase = HTTPStatus(status).phrase
        message = f"Injected fault: {status} {phrase}."
        if request.route is not None and request.route.template == "/_uploads":
            return s3_error_reply(status, phrase.replace(" ", ""), message)
        return error_reply(status, phrase, message, {"injected": True})

    def _on_fault(self, request: _Request, kind: str) -> None:
        self.stats.count_fault(kind)

    def _before_send(self, handler: StandInHandler, request: _Request, reply: Reply) -> None:
        if not request.context.body.drain():
            handler.close_connection = True

    def _sent(self, reply: Reply) -> None:
        self.stats.count_response(reply.status)

    def _execute(self, route: Route | None, allowed: list[str], context: RequestContext) -> Reply:
        if route is None:
            if allowed:
                reply = error_reply(
                    405,
                    "Method Not Allowed",
                    f"Method {context.method} is not allowed here; use {', '.join(allowed)}.",
                )
                reply.headers["Allow"] = ", ".join(allowed)
                return reply
            return error_reply(404, "Not Found", "No such route.")
        try:
            if route.auth:
                self._check_bearer(context.headers)
            handler: Callable[[RequestContext], Reply] = getattr(self, route.handler)
            return handler(context)
        except ApiError as exc:
            return exc.reply
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            log.exception("Unexpected error serving %s %s", context.method, route.template)
            return error_reply(500, "Internal Server Error", "Unexpected error in the local Sync API server.")

    def _check_bearer(self, headers: Headers) -> None:
        value = (headers.get("Authorization") or "").strip()
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "Unauthorized",
                "Missing bearer token: send 'Authorization: Bearer <access token>' "
                "with a token from POST /v1/auth/token.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        problem = self._store.token_problem(token)
        if problem == "expired":
            raise ApiError(
                401,
                "Unauthorized",
                "Expired access token: request a new one from POST /v1/auth/token.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if problem is not None:
            raise ApiError(
                401,
                "Unauthorized",
                "Invalid access token: request one from POST /v1/auth/token.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    @staticmethod
    def _json_body(context: RequestContext) -> dict[str, Any]:
        raw = context.body.read_all(MAX_JSON_BYTES)
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            raise ApiError(400, "Bad Request", "The request body is not UTF-8 encoded JSON.") from None
        except json.JSONDecodeError as exc:
            raise ApiError(
                400, "Bad Request", f"The request body is not valid JSON: {exc.msg} (position {exc.pos})."
            ) from None
        if not isinstance(data, dict):
            raise ApiError(
                422, "Validation Error", "The request body must be a JSON object.", {"field": None}
            )
        return data

    @staticmethod
    def _query_one(context: RequestContext, name: str) -> str | None:
        values = context.query.get(name)
        return values[-1] if values else None

    def _preference(self, context: RequestContext) -> str | None:
        preference = self._query_one(context, "preference")
        if preference is None:
            return None
        if preference not in PREFERENCES:
            raise _validation("preference", f"preference must be one of {', '.join(PREFERENCES)}.")
        return preference

    # auth and products

    def _auth_token(self, context: RequestContext) -> Reply:
        data = self._json_body(context)
        key_id, secret = data.get("api_key_id"), data.get("api_key_secret")
        expected = self.api_keys.get(key_id) if isinstance(key_id, str) else None
        if (
            expected is None
            or not isinstance(secret, str)
            or not hmac.compare_digest(expected.encode(), secret.encode())
        ):
            raise ApiError(401, "Authentication Error", "Invalid API key id or secret.")
        token, expires = self._store.issue_token(self.token_ttl_s)
        self.stats.incr("tokens_issued")
        return ok({"access_token": token, "expires_at_utc": iso_z(expires)})

    def _products(self, context: RequestContext) -> Reply:
        return ok(list(PRODUCTS))

    # predictions

    def _create_prediction(self, context: RequestContext) -> Reply:
        data = self._json_body(context)
        product = data.get("product_code")
        if not isinstance(product, str) or product not in PRODUCTS:
            raise _validation("product_code", f"product_code must be one of {', '.join(PRODUCTS)}.")
        configs = data.get("configs")
        if not isinstance(configs, dict):
            raise _validation("configs", "configs must be a JSON object (the cluster report).")
        project_id = data.get("project_id")
        if project_id is not None:
            if not isinstance(project_id, str):
                raise _validation("project_id", "project_id must be a string or null.")
            canonical = canonical_uuid(project_id)
            if canonical is None or not self._store.has_project(canonical):
                raise _not_found("Project not found.")
            project_id = canonical
        eventlog_url = data.get("eventlog_url")
        if eventlog_url is not None:
            parts = urlsplit(eventlog_url) if isinstance(eventlog_url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise _validation("eventlog_url", "eventlog_url must be an http(s) URL.")

        prediction_id = str(uuid.uuid4())
        record = PredictionRecord(
            prediction_id=prediction_id,
            product_code=product,
            configs=configs,
            project_id=project_id,
            created_at=utc_now(),
            source="url",
        )
        processor = self._processor
        assert processor is not None
        if eventlog_url is not None:
            record.eventlog_url = eventlog_url
            record.event_log = safe_filename(urlsplit(eventlog_url).path)
            record.status_message = "Fetching the event log"
            self._store.add_prediction(record)
            self.stats.incr("predictions_created")
            processor.fetch_and_process(prediction_id, eventlog_url)
            return ok({"prediction_id": prediction_id}, status=202)

        record.status_message = "Waiting for the event log upload"
        record.upload_expires_at = time.time() + UPLOAD_TTL_S
        prefix = f"uploads/{prediction_id}/"
        if self.s3_client is not None:
            record.source = "s3"
            try:
                post = self.s3_client.generate_presigned_post(
                    Bucket=self.upload_bucket, Key=prefix + _FILENAME_TOKEN, ExpiresIn=UPLOAD_TTL_S
                )
            except Exception as exc:
                log.warning("generate_presigned_post failed: %s", exc)
                raise ApiError(500, "Internal Server Error", "Could not create the upload URL.") from None
            upload_details = {"url": post["url"], "fields": dict(post["fields"])}
        else:
            record.source = "upload"
            upload_details = {"url": f"{self.url}/_uploads", "fields": self._sign_upload(prediction_id)}
        self._store.add_prediction(record)
        self.stats.incr("predictions_created")
        if self.s3_client is not None:
            processor.watch_s3(prediction_id, prefix, record.upload_expires_at)
        return ok({"prediction_id": prediction_id, "upload_details": upload_details})

    def _get_prediction(self, context: RequestContext) -> Reply:
        prediction_id = canonical_uuid(context.params["id"])
        preference = self._preference(context)
        found = self._store.prediction_api(prediction_id, preference) if prediction_id else None
        if found is None:
            raise _not_found("Prediction not found.")
        return ok(found)

    def _prediction_status(self, context: RequestContext) -> Reply:
        prediction_id = canonical_uuid(context.params["id"])
        found = self._store.prediction_status(prediction_id) if prediction_id else None
        if found is None:
            raise _not_found("Prediction not found.")
        return ok(found)

    def _list_predictions(self, context: RequestContext) -> Reply:
        products = [p for value in context.query.get("products", []) for p in value.split(",") if p]
        for product in products:
            if product not in PRODUCTS:
                raise _validation("products", f"products must be among {', '.join(PRODUCTS)}.")
        preference = self._preference(context)
        project_id = self._query_one(context, "project_id")
        if project_id:
            canonical = canonical_uuid(project_id)
            if canonical is None:
                return ok([])
            project_id = canonical
        return ok(self._store.list_predictions(products or None, project_id or None, preference))

    # uploads (the stand-in for S3's presigned POST)

    def _sign(self, policy: str) -> str:
        return hmac.new(self._upload_secret, policy.encode("ascii"), hashlib.sha256).hexdigest()

    def _sign_upload(self, prediction_id: str) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        credential = f"local-sync-server/{amz_date[:8]}/us-east-1/s3/aws4_request"
        expiration = iso_z(datetime.fromtimestamp(now.timestamp() + UPLOAD_TTL_S, UTC))
        document = {
            "expiration": expiration,
            "prediction_id": prediction_id,
            "conditions": [
                ["starts-with", "$key", f"uploads/{prediction_id}/"],
                {"x-amz-algorithm": _UPLOAD_ALGORITHM},
                {"x-amz-credential": credential},
                {"x-amz-date": amz_date},
            ],
        }
        policy = base64.b64encode(json.dumps(document).encode("utf-8")).decode("ascii")
        return {
            "key": f"uploads/{prediction_id}/{_FILENAME_TOKEN}",
            "x-amz-algorithm": _UPLOAD_ALGORITHM,
            "x-amz-credential": credential,
            "x-amz-date": amz_date,
            "policy": policy,
            "x-amz-signature": self._sign(policy),
        }

    def _check_upload_fields(self, fields: dict[str, str]) -> tuple[str, str]:
        """Verify the form fields of an upload; return the prediction id and the file name."""
        key = fields.get("key")
        if not key:
            raise _S3Error(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
        if _FILENAME_TOKEN in key:
            raise _S3Error(
                400,
                "InvalidArgument",
                "The 'key' field still contains ${filename}; replace it with the file name.",
            )
        policy, signature = fields.get("policy", ""), fields.get("x-amz-signature", "")
        if not policy or not hmac.compare_digest(self._sign(policy), signature):
            raise _S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        try:
            document = json.loads(base64.b64decode(policy, validate=True))
            prediction_id = str(document["prediction_id"])
            expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            conditions = list(document["conditions"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise _S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
        if expiration <= datetime.now(UTC):
            raise _S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        for condition in conditions:
            if isinstance(condition, dict):
                for name, value in condition.items():
                    if fields.get(name.lower()) != value:
                        raise _S3Error(
                            403,
                            "AccessDenied",
                            f'Invalid according to Policy: Policy Condition failed: ["eq", "${name}"].',
                        )
            elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "starts-with":
                name = str(condition[1]).lstrip("$")
                if not fields.get(name, "").startswith(str(condition[2])):
                    raise _S3Error(
                        403,
                        "AccessDenied",
                        f'Invalid according to Policy: Policy Condition failed: ["starts-with", "${name}"].',
                    )
        filename = key[len(f"uploads/{prediction_id}/") :]
        if not filename or self._store.get_record(prediction_id) is None:
            raise _S3Error(403, "AccessDenied", "Invalid according to Policy: the key names no upload.")
        return prediction_id, safe_filename(filename)

    def _upload(self, context: RequestContext) -> Reply:
        try:
            return self._receive_upload(context)
        except _S3Error as exc:
            return exc.reply
        except MultipartError as exc:
            return s3_error_reply(
                400, "MalformedPOSTRequest", f"The body of your POST request is not well-formed: {exc}"
            )

    def _receive_upload(self, context: RequestContext) -> Reply:
        ctype, params = parse_header_params(context.headers.get("Content-Type") or "")
        if ctype != "multipart/form-data" or not params.get("boundary"):
            raise _S3Error(
                400, "InvalidArgument", "Bucket POST must be of the enclosure-type multipart/form-data."
            )
        reader = MultipartReader(context.body.read, params["boundary"])
        fields: dict[str, str] = {}
        for part in reader.parts():
            name = (part.name or "").lower()
            if name != "file":
                fields[name] = part.read_all(MAX_FORM_FIELD_BYTES).decode("utf-8", errors="replace")
                continue
            prediction_id, filename = self._check_upload_fields(fields)
            processor = self._processor
            assert processor is not None
            directory = processor.prediction_dir(prediction_id)
            partial = directory / f".{filename}.{uuid.uuid4().hex}.part"
            try:
                with partial.open("wb") as out:
                    for chunk in part.iter_chunks():
                        out.write(chunk)
                self.stats.incr("uploads_received")
                target = directory / filename
                if self._store.claim_log(prediction_id, target, filename):
                    partial.replace(target)
                    processor.process(prediction_id)
            finally:
                partial.unlink(missing_ok=True)
            # S3 ignores fields after the file; the rest of the body is drained by the caller.
            return Reply(204)
        raise _S3Error(400, "InvalidArgument", "POST requires exactly one file upload per request.")

    # projects

    @staticmethod
    def _validate_project(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        unknown = sorted(set(data) - set(PROJECT_FIELDS))
        if unknown:
            raise ApiError(
                422,
                "Validation Error",
                f"Unknown project field(s); allowed: {', '.join(PROJECT_FIELDS)}.",
                {"field": unknown[0], "unknown_fields": unknown},
            )
        for required in ("name", "product_code"):
            if not partial and data.get(required) is None:
                raise _validation(required, f"{required} is required.")
        if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
            raise _validation("name", "name must be a non-empty string.")
        if "product_code" in data and data["product_code"] not in PRODUCTS:
            raise _validation("product_code", f"product_code must be one of {', '.join(PRODUCTS)}.")
        for name in ("description", "app_id", "job_id", "cluster_path", "workspace_id", "cluster_log_url"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise _validation(name, f"{name} must be a string or null.")
        preference = data.get("prediction_preference")
        if preference is not None and preference not in PREFERENCES:
            raise _validation(
                "prediction_preference", f"prediction_preference must be one of {', '.join(PREFERENCES)}."
            )
        params = data.get("prediction_params")
        if params is not None and not isinstance(params, dict):
            raise _validation("prediction_params", "prediction_params must be an object or null.")
        return dict(data)

    def _project_id(self, context: RequestContext) -> str:
        project_id = canonical_uuid(context.params["id"])
        if project_id is None:
            raise _not_found("Project not found.")
        return project_id

    def _create_project(self, context: RequestContext) -> Reply:
        fields = self._validate_project(self._json_body(context), partial=False)
        return ok(self._store.add_project(fields), status=201)

    def _list_projects(self, context: RequestContext) -> Reply:
        return ok(self._store.list_projects(self._query_one(context, "app_id")))

    def _get_project(self, context: RequestContext) -> Reply:
        project = self._store.get_project(self._project_id(context))
        if project is None:
            raise _not_found("Project not found.")
        return ok(project)

    def _update_project(self, context: RequestContext) -> Reply:
        project_id = self._project_id(context)
        changes = self._validate_project(self._json_body(context), partial=True)
        project = self._store.update_project(project_id, changes)
        if project is None:
            raise _not_found("Project not found.")
        return ok(project)

    def _delete_project(self, context: RequestContext) -> Reply:
        project_id = self._project_id(context)
        if not self._store.delete_project(project_id):
            raise _not_found("Project not found.")
        return ok(f"Project {project_id} deleted")


# --------------------------------------------------------------------------------------------------
# command line


def run_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_keys: Mapping[str, str] | None = None,
    **options: Any,
) -> None:
    """Run a :class:`LocalSyncServer` in the foreground until Ctrl-C (or SIGTERM).

    :param host: interface to bind.
    :param port: TCP port (``0`` picks a free one).
    :param api_keys: API key id to secret.
    :param options: other :class:`LocalSyncServer` keyword arguments.
    """
    server = LocalSyncServer(host=host, port=port, api_keys=api_keys, **options).start()
    stop = threading.Event()
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"Sync API stand-in listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m sync_provider.testing.sync_api_server``.

    :param argv: arguments (default ``sys.argv[1:]``).
    :returns: the exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sync_provider.testing.sync_api_server",
        description="Run a local stand-in for the Sync API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port, 0 for any free port (default 8000)")
    parser.add_argument("--api-key-id", help="accepted API key id (default local-key-id)")
    parser.add_argument("--api-key-secret", help="accepted API key secret (default local-key-secret)")
    parser.add_argument("--token-ttl", type=float, default=3600, help="access token lifetime in seconds")
    parser.add_argument(
        "--processing-delay", type=float, default=0.2, help="seconds a prediction stays RUNNING"
    )
    parser.add_argument("--data-dir", type=Path, help="where to keep event logs (default: a temporary dir)")
    parser.add_argument(
        "--allow-remote-fetch", action="store_true", help="fetch eventlog_url from non-loopback hosts"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for fault injection")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    args = parser.parse_args(argv)
    if (args.api_key_id is None) != (args.api_key_secret is None):
        parser.error("give both --api-key-id and --api-key-secret, or neither")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    api_keys = {args.api_key_id: args.api_key_secret} if args.api_key_id is not None else None
    run_server(
        args.host,
        args.port,
        api_keys=api_keys,
        token_ttl_s=args.token_ttl,
        processing_delay_s=args.processing_delay,
        data_dir=args.data_dir,
        allow_remote_fetch=args.allow_remote_fetch,
        seed=args.seed,
    )
    return 0
