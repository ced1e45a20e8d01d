"""Background work of the local Sync API server: fetching event logs, watching S3, running the engine."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

import requests

from sync_provider.testing.sync_api.multipart import CHUNK_SIZE
from sync_provider.testing.sync_api.state import FAILURE, RUNNING, SUCCESS, ServerStats, Store

if TYPE_CHECKING:
    from sync_provider.testing.engines import PredictionEngine

log = logging.getLogger(__name__)

S3_POLL_INTERVAL_S = 0.2
_MAX_REDIRECTS = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]")


class FetchError(RuntimeError):
    """The event log could not be fetched."""


def safe_filename(name: str, default: str = "eventlog") -> str:
    """Return a file name safe to create in a directory, keeping its extension.

    :param name: a name from a URL, an upload key or a form part.
    :param default: used when nothing usable is left.
    """
    name = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_NAME.sub("_", name).lstrip(".")[:200]
    return name or default


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is ``localhost`` or a loopback IP address.

    :param url: an http(s) URL.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Drop the query (presigned signatures) and credentials from a URL for messages.

    :param url: the URL.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _check_engine_result(result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise TypeError(f"The prediction engine returned {type(result).__name__}, not a dict.")
    basis = result.get("basis")
    solutions = result.get("solutions") or {}
    if not isinstance(basis, Mapping) or not isinstance(basis.get("metrics"), Mapping):
        raise ValueError("The prediction engine returned no 'basis' with 'metrics'.")
    if not isinstance(solutions, Mapping):
        raise ValueError("The prediction engine returned 'solutions' that is not a dict.")
    # A JSON round trip makes the stored copy independent of the engine and proves it serialises.
    checked: dict[str, Any] = json.loads(
        json.dumps(
            {"application_name": result.get("application_name"), "basis": basis, "solutions": solutions}
        )
    )
    return checked


class Processor:
    """Moves predictions from ``PENDING`` to ``SUCCESS``/``FAILURE`` in background threads.

    :param store: the server's state.
    :param stats: the server's counters.
    :param data_dir: where event logs are written (``predictions/<id>/<file>``).
    :param engine: the prediction engine; ``None`` loads ``ReplayEngine`` on first use.
    :param processing_delay_s: how long a prediction stays ``RUNNING`` before the engine runs.
    :param allow_remote_fetch: whether event-log URLs may point outside loopback.
    :param stop_event: set when the server stops.
    :param s3_client: a boto3 S3 client for S3 upload mode, or ``None``.
    :param upload_bucket: the bucket of S3 upload mode.
    :param engine_parallelism: how many engine runs may execute at once.
    """

    def __init__(
        self,
        *,
        store: Store,
        stats: ServerStats,
        data_dir: Path,
        engine: PredictionEngine | None,
        processing_delay_s: float,
        allow_remote_fetch: bool,
        stop_event: threading.Event,
        s3_client: Any = None,
        upload_bucket: str | None = None,
        engine_parallelism: int = 4,
    ) -> None:
        self._store = store
        self._stats = stats
        self.data_dir = data_dir
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._engine_slots = threading.BoundedSemaphore(engine_parallelism)
        self._delay = processing_delay_s
        self._allow_remote = allow_remote_fetch
        self._stop = stop_event
        self._s3 = s3_client
        self._bucket = upload_bucket
        self._s3_lock = threading.Lock()
        self._s3_pending: dict[str, tuple[str, float]] = {}
        self._s3_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    # public entry points

    def prediction_dir(self, prediction_id: str) -> Path:
        """Return (and create) the directory of one prediction's files.

        :param prediction_id: canonical prediction id.
        """
        path = self.data_dir / "predictions" / prediction_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fetch_and_process(self, prediction_id: str, url: str) -> None:
        """Fetch ``url`` in the background, then process the prediction.

        :param prediction_id: canonical prediction id.
        :param url: the event log's http(s) URL.
        """
        self._spawn(self._fetch_then_run, prediction_id, url)

    def process(self, prediction_id: str) -> None:
        """Process a prediction whose event log has been attached (see :meth:`Store.claim_log`).

        :param prediction_id: canonical prediction id.
        """
        self._spawn(self._run, prediction_id)

    def watch_s3(self, prediction_id: str, prefix: str, deadline: float) -> None:
        """Wait in the background for an object under ``prefix`` in the upload bucket.

        :param prediction_id: canonical prediction id.
        :param prefix: key prefix ``uploads/<id>/``.
        :param deadline: ``time.time()`` after which the prediction fails.
        """
        with self._s3_lock:
            self._s3_pending[prediction_id] = (prefix, deadline)
            if self._s3_thread is None:
                self._s3_thread = threading.Thread(
                    target=self._s3_loop, name="sync-api-s3-watcher", daemon=True
                )
                self._s3_thread.start()

    def join(self, timeout: float) -> None:
        """Wait for background threads to end (after the stop event is set).

        Threads waiting or downloading stop at once; an engine run in progress cannot be interrupted,
        so this waits for it up to ``timeout`` seconds in total.

        :param timeout: seconds to wait.
        """
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        if self._s3_thread is not None:
            threads.append(self._s3_thread)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # background work

    def _spawn(self, target: Any, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"sync-api-{args[0][:8]}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _fail(self, prediction_id: str, message: str) -> None:
        if self._stop.is_set():
            return
        self._store.update_prediction(
            prediction_id,
            status=FAILURE,
            status_message=message,
            error={"code": "Prediction Failed", "message": message},
        )

    def _fetch_then_run(self, prediction_id: str, url: str) -> None:
        name = safe_filename(urlsplit(url).path)
        target = self.prediction_dir(prediction_id) / name
        try:
            self._download(url, target)
        except Exception as exc:
            log.info("Prediction %s: fetching the event log failed: %s", prediction_id, exc)
            self._fail(prediction_id, f"Could not fetch the event log from {redact_url(url)}: {exc}")
            return
        if self._store.claim_log(prediction_id, target, name):
            self._run(prediction_id)

    def _download(self, url: str, target: Path) -> None:
        current = url
        with requests.Session() as session:
            # Loopback fetches must not go through a proxy configured in the environment.
            session.trust_env = self._allow_remote
            for _ in range(_MAX_REDIRECTS + 1):
                if not self._allow_remote and not is_loopback_url(current):
                    raise FetchError(
                        "this local server only fetches from loopback hosts (127.0.0.1, localhost); "
                        "start it with allow_remote_fetch=True to fetch other hosts"
                    )
                response = session.get(
                    current,
                    stream=True,
                    timeout=(10, 300),
                    allow_redirects=False,
                    headers={"Accept-Encoding": "identity"},
                )
                with response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"HTTP {response.status_code}")
                    partial = target.with_name(target.name + ".part")
                    with partial.open("wb") as out:
                        for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                            if self._stop.is_set():
                                raise FetchError("the server is stopping")
                            out.write(chunk)
                    partial.replace(target)
                    return
        raise FetchError("too many redirects")

    def _get_engine(self) -> Any:
        with self._engine_lock:
            if self._engine is None:
                from sync_provider.testing.replay_engine import ReplayEngine

                self._engine = ReplayEngine()
            return self._engine

    def _run(self, prediction_id: str) -> None:
        self._store.update_prediction(prediction_id, status=RUNNING, status_message="Predicting")
        if self._stop.wait(self._delay):
            return
        record = self._store.get_record(prediction_id)
        if record is None or record.eventlog_path is None:
            return
        with self._engine_slots:
            if self._stop.is_set():
                return
            try:
                from sync_provider.testing.engines import PredictionRequest

                request = PredictionRequest(
                    product_code=record.product_code,
                    cluster_report=record.configs,
                    eventlog_path=record.eventlog_path,
                    project_id=record.project_id,
                    prediction_id=prediction_id,
                )
                result = _check_engine_result(self._get_engine().predict(request))
            except Exception as exc:
                log.info("Prediction %s failed: %s", prediction_id, exc)
                self._fail(prediction_id, str(exc) or type(exc).__name__)
                return
        if self._stop.is_set():
            return
        self._store.update_prediction(
            prediction_id,
            status=SUCCESS,
            status_message=None,
            application_name=result["application_name"],
            basis=result["basis"],
            solutions=result["solutions"],
        )

    def _s3_loop(self) -> None:
        while not self._stop.wait(S3_POLL_INTERVAL_S):
            with self._s3_lock:
                pending = list(self._s3_pending.items())
            for prediction_id, (prefix, deadline) in pending:
                if self._stop.is_set():
                    return
                key = self._find_s3_object(prefix)
                if key is None:
                    if time.time() > deadline:
                        self._forget_s3(prediction_id)
                        self._fail(prediction_id, "No event log was uploaded before the upload URL expired.")
                    continue
                self._forget_s3(prediction_id)
                self._stats.incr("uploads_received")
                self._spawn(self._download_s3_then_run, prediction_id, key)

    def _forget_s3(self, prediction_id: str) -> None:
        with self._s3_lock:
            self._s3_pending.pop(prediction_id, None)

    def _find_s3_object(self, prefix: str) -> str | None:
        try:
            response = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=prefix, MaxKeys=10)
        except Exception as exc:
            log.warning("Listing s3://%s/%s failed (will retry): %s", self._bucket, prefix, exc)
            return None
        for item in response.get("Contents") or []:
            key = str(item["Key"])
            if not key.endswith("/"):
                return key
        return None

    def _download_s3_then_run(self, prediction_id: str, key: str) -> None:
        name = safe_filename(key)
        target = self.prediction_dir(prediction_id) / name
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
            partial = target.with_name(name + ".part")
            with partial.open("wb") as out:
                for chunk in body.iter_chunks(CHUNK_SIZE):
                    out.write(chunk)
            partial.replace(target)
        except Exception as exc:
            self._fail(
                prediction_id, f"Could not download the uploaded event log s3://{self._bucket}/{key}: {exc}"
            )
            return
        if self._store.claim_log(prediction_id, target, name):
            self._run(prediction_id)


__all__ = ["FetchError", "Processor", "is_loopback_url", "redact_url", "safe_filename"]
