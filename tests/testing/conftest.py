"""Fixtures for the local Sync API server tests: a fake engine, a started server, HTTP helpers."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sync_provider.testing.sync_api_server import LocalSyncServer

KEY_ID = "unit-key-id"
KEY_SECRET = "unit-key-secret"
TERMINAL = ("SUCCESS", "FAILURE")


def solution(runtime: float, cost: float, label: str) -> dict[str, Any]:
    """A solution object in the engine's return shape."""
    return {
        "configuration": {"label": label},
        "metrics": {"runtime": runtime, "cost": cost},
        "assumptions": [],
    }


class FakeEngine:
    """Implements the ``PredictionEngine`` protocol; records each request and the log it saw.

    A cluster report with ``{"fail": "<message>"}`` makes the prediction fail with that message.
    """

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def predict(self, request: Any) -> dict[str, Any]:
        path = Path(request.eventlog_path)
        hasher = hashlib.sha256()
        with path.open("rb") as log:
            while chunk := log.read(1 << 16):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        with self._lock:
            self.calls.append(request)
            self.seen.append({"name": path.name, "sha256": digest, "size": path.stat().st_size})
        if "fail" in request.cluster_report:
            raise ValueError(request.cluster_report["fail"])
        return {
            "application_name": f"app-{path.name}",
            "basis": solution(10.0, 1.0, "basis"),
            "solutions": {
                "performance": solution(5.0, 1.5, "performance"),
                "balanced": solution(8.0, 0.9, "balanced"),
                "economy": solution(12.0, 0.6, "economy"),
            },
        }


class Api:
    """A ``requests`` session bound to one server, with the bearer token set."""

    def __init__(self, server: LocalSyncServer, session: requests.Session) -> None:
        self.server = server
        self.session = session
        self.url = server.url

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def wait(self, prediction_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the status until it is terminal; return the last status result."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/v1/autotuner/predictions/{prediction_id}/status").json()["result"]
            if status["status"] in TERMINAL or time.monotonic() > deadline:
                return dict(status)
            time.sleep(0.02)


def new_session() -> requests.Session:
    """A session that ignores proxy settings from the environment (everything is loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session


def login(server: LocalSyncServer, session: requests.Session) -> str:
    """Return a fresh access token."""
    response = session.post(
        f"{server.url}/v1/auth/token", json={"api_key_id": KEY_ID, "api_key_secret": KEY_SECRET}, timeout=10
    )
    response.raise_for_status()
    return str(response.json()["result"]["access_token"])


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def make_server(tmp_path: Path, engine: FakeEngine) -> Iterator[Callable[..., LocalSyncServer]]:
    """Start servers with test defaults (fake engine, short delay); all are stopped afterwards."""
    started: list[LocalSyncServer] = []

    def make(**options: Any) -> LocalSyncServer:
        options.setdefault("api_keys", {KEY_ID: KEY_SECRET})
        options.setdefault("engine", engine)
        options.setdefault("processing_delay_s", 0.05)
        options.setdefault("data_dir", tmp_path / f"sync-data-{len(started)}")
        server = LocalSyncServer(**options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LocalSyncServer]) -> LocalSyncServer:
    return make_server()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with new_session() as session:
        yield session


@pytest.fixture
def credentials() -> dict[str, str]:
    """The body of a valid ``POST /v1/auth/token``."""
    return {"api_key_id": KEY_ID, "api_key_secret": KEY_SECRET}


@pytest.fixture
def connect() -> Iterator[Callable[[LocalSyncServer], Api]]:
    """Return a function giving an authenticated :class:`Api` (own session) for a server."""
    sessions: list[requests.Session] = []

    def make(server: LocalSyncServer) -> Api:
        session = new_session()
        sessions.append(session)
        session.headers["Authorization"] = f"Bearer {login(server, session)}"
        return Api(server, session)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def api(server: LocalSyncServer, connect: Callable[[LocalSyncServer], Api]) -> Api:
    return connect(server)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tiny static HTTP server on 127.0.0.1; yields its base URL and the directory it serves."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (module scope: starting it costs about a second)."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()
