"""HTTP plumbing shared by the local stand-ins (:mod:`sync_provider.testing.sync_api` and
:mod:`sync_provider.testing.databricks`).

:class:`StandIn` runs a standard-library :class:`~http.server.ThreadingHTTPServer` on loopback
(HTTP/1.1 keep-alive, one daemon thread per connection) in a background thread, and serves each
request in the same order: read it, apply an injected fault (latency, a dropped connection or an
error status, from :attr:`StandIn.faults`), answer it. A stand-in subclasses it and fills in the
hooks: how a request is read, which fault route it belongs to, how it is answered and what an
injected error looks like.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sync_provider.testing.sync_api.faults import FaultDecision, FaultInjector

log = logging.getLogger(__name__)

KEEP_ALIVE_TIMEOUT_S = 120
RequestT = TypeVar("RequestT")


@dataclass
class Reply:
    """An HTTP response to send: status, body and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def retry_after_value(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds without a fraction, else as given."""
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


class StandInServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so that stopping can close them.

    :param address: ``(host, port)`` to bind.
    :param app: the stand-in that answers requests.
    :param handler: the request handler class.
    :param queue_size: the listen backlog.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: StandIn[Any], handler: type[StandInHandler], queue_size: int
    ) -> None:
        self.app = app
        self.request_queue_size = queue_size
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("Connection from %s ended with an error", client_address, exc_info=True)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class StandInHandler(BaseHTTPRequestHandler):
    """Hands every request to the stand-in's :meth:`StandIn._serve`; subclasses set ``server_version``."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = KEEP_ALIVE_TIMEOUT_S
    server: StandInServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self.server.app._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def send_reply(self, reply: Reply, *, close: bool = False) -> None:
        """Send a complete response (with ``Content-Length`` unless the status is 204).

        :param reply: what to send.
        :param close: close the connection afterwards.
        """
        if close:
            self.close_connection = True
        self.send_response(reply.status)
        if reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.body and reply.status != 204 and getattr(self, "command", None) != "HEAD":
            self.wfile.write(reply.body)
        self.server.app._sent(reply)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class StandIn(Generic[RequestT]):
    """A local HTTP stand-in served from background threads; a context manager.

    Subclasses set the class attributes and implement :meth:`_read_request`, :meth:`_fault_key`,
    :meth:`_respond` and :meth:`_fault_reply`; the other hooks are optional.

    :param host: interface to bind.
    :param port: TCP port; ``0`` picks a free one.
    :param faults: the fault rules applied to requests.
    """

    #: The subject of error messages, e.g. ``"LocalDatabricks"``.
    _title: ClassVar[str]
    _handler: ClassVar[type[StandInHandler]]
    _thread_name: ClassVar[str]
    _poll_interval: ClassVar[float]
    _request_queue_size: ClassVar[int]
    #: Whether a ``drop="after"`` fault also swallows error answers (otherwise only successful ones).
    _drop_errors_after: ClassVar[bool] = True

    def __init__(self, host: str, port: int, faults: FaultInjector) -> None:
        self.host = host
        self.port = port
        self.faults = faults
        self._httpd: StandInServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._url: str | None = None

    # lifecycle

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:50123``.

        :raises RuntimeError: before :meth:`start`.
        """
        if self._url is None:
            raise RuntimeError(f"{self._title} is not started; call start() first.")
        return self._url

    def start(self) -> Self:
        """Bind the port and serve in background threads; return ``self``.

        :raises RuntimeError: when already started.
        """
        if self._httpd is not None:
            raise RuntimeError(f"{self._title} is already running.")
        self._stop_event = threading.Event()
        self._before_start()
        httpd = StandInServer((self.host, self.port), self, self._handler, self._request_queue_size)
        host, port = httpd.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        self._url = f"http://{'127.0.0.1' if text in ('', '0.0.0.0') else text}:{port}"  # noqa: S104
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=self._thread_name,
            daemon=True,
        )
        self._thread.start()
        self._after_start()
        log.info("%s is listening on %s", self._title, self._url)
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stop_event.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._after_stop()
        self._httpd = None
        self._thread = None
        self._url = None

    def __enter__(self) -> Self:
        return self.start() if self._httpd is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _before_start(self) -> None:
        """Prepare what serving needs (runs after the stop event is renewed, before binding)."""

    def _after_start(self) -> None:
        """Start further background work once the server runs."""

    def _after_stop(self) -> None:
        """Wait for further background work and clean up once the server stopped."""

    # serving

    def _serve(self, handler: StandInHandler) -> None:
        request = self._read_request(handler)
        if request is None:
            return
        key = self._fault_key(request)
        decision = self.faults.decide(key) if key is not None else None
        try:
            if decision is not None and self._fault_before(handler, request, decision):
                return
            reply = self._respond(request)
            droppable = self._drop_errors_after or reply.status < 400
            if decision is not None and decision.drop == "after" and droppable:
                self._on_fault(request, "drop_after")
                handler.drop()
                return
            self._before_send(handler, request, reply)
            handler.send_reply(reply)
        except OSError as exc:
            path = urlsplit(handler.path).path
            log.debug("Connection problem while serving %s %s: %s", handler.command, path, exc)
            handler.close_connection = True

    def _fault_before(self, handler: StandInHandler, request: RequestT, decision: FaultDecision) -> bool:
        """Apply latency, an early drop or an injected status; return whether the request is done."""
        if decision.latency_s > 0:
            self._on_fault(request, "latency")
            self._stop_event.wait(decision.latency_s)
        if decision.drop == "before":
            self._on_fault(request, "drop_before")
            handler.drop()
            return True
        if decision.status is None:
            return False
        self._on_fault(request, "status")
        reply = self._fault_reply(request, decision.status)
        if decision.retry_after is not None:
            reply.headers["Retry-After"] = retry_after_value(decision.retry_after)
        self._before_send(handler, request, reply)
        handler.send_reply(reply)
        return True

    def _read_request(self, handler: StandInHandler) -> RequestT | None:
        """Read the request; ``None`` when it was answered already (e.g. malformed)."""
        raise NotImplementedError

    def _fault_key(self, request: RequestT) -> str | None:
        """The route key fault rules match, or ``None`` for no faults."""
        raise NotImplementedError

    def _respond(self, request: RequestT) -> Reply:
        """Execute the request and return the answer."""
        raise NotImplementedError

    def _fault_reply(self, request: RequestT, status: int) -> Reply:
        """The answer to a request hit by an injected error ``status``."""
        raise NotImplementedError

    def _on_fault(self, request: RequestT, kind: str) -> None:
        """Note an applied fault: ``latency``, ``drop_before``, ``status`` or ``drop_after``."""

    def _before_send(self, handler: StandInHandler, request: RequestT, reply: Reply) -> None:
        """Called just before ``reply`` is sent."""

    def _sent(self, reply: Reply) -> None:
        """Called after a reply was written."""
