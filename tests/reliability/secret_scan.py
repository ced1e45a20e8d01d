"""pytest plugin: the session fails when a known secret shows up anywhere the suite can see.

Known secrets (at least 8 characters; shorter values are too generic to search for):

- ``API_KEY_SECRET`` and, when the lead adds it, ``AWS_SECRET_KEY`` of ``tests/conftest.py``;
  ``AWS_SECRET_ACCESS_KEY`` of the environment unless it is moto's ``testing``;
- every API key secret a ``LocalSyncServer`` accepts, every token a ``LocalDatabricks`` accepts;
- every Sync access token a local Sync server issues (its store's ``issue_token`` is wrapped);
- the secret of every ``SyncClient`` and the token of every ``DatabricksRestClient`` created;
- values passed to :func:`register_secret` (the reliability suites' own) or listed, comma-separated,
  in ``SYNC_SECRET_SCAN_EXTRA``.

Channels scanned:

- **log records**: every record any logger handles (``Logger.callHandlers`` is wrapped, so Airflow's
  own logging setup and non-propagating loggers do not hide any); the root logger is set to ``DEBUG``
  before each test (``SYNC_SECRET_SCAN_LEVEL`` changes that). The raw message, the formatted message,
  the arguments and the traceback are searched;
- **captured output**: each test report's sections (stdout, stderr, log) and its failure text, and
  whatever a test reads with ``capsys``/``capfd.readouterr()``;
- **exceptions**: the message and ``detail`` of every ``SyncError`` and the message of every
  ``AirflowException`` created;
- **reprs**: ``repr``/``str`` of every ``SyncClient`` (and its settings), ``DatabricksRestClient``,
  ``SyncHook`` (and its resolved connection), ``LocalSyncServer`` and ``LocalDatabricks``, after each test;
- **Airflow's files**, at the end: every table of every SQLite database under ``AIRFLOW_HOME`` (XComs,
  rendered template fields, task instances, logs...), except where Airflow keeps secrets by design
  (``connection.password``/``extra``, ``variable.val``), and every file under ``AIRFLOW_HOME/logs``.

A hit never prints the secret: it is shown masked (first three characters and the length). The
scan is on by default and cheap (one regular expression); ``SYNC_SECRET_SCAN=0`` switches it off.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sqlite3
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV_SWITCH = "SYNC_SECRET_SCAN"
ENV_EXTRA = "SYNC_SECRET_SCAN_EXTRA"
ENV_LEVEL = "SYNC_SECRET_SCAN_LEVEL"
MIN_LENGTH = 8
#: Where Airflow stores secrets by design (encrypted when a Fernet key is set).
DB_ALLOWED = {"connection": {"password", "extra"}, "variable": {"val"}}
_MAX_FILE_BYTES = 50 * 1024 * 1024
_GENERIC = frozenset({"testing", "password", "secret", "localhost"})


# --------------------------------------------------------------------------------------- registry


class _Registry:
    """The known secrets and the compiled pattern that finds them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origins: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: object, origin: str) -> None:
        text = value if isinstance(value, str) else ""
        if len(text) < MIN_LENGTH or text.strip() != text or text.lower() in _GENERIC:
            return
        with self._lock:
            if text not in self._origins:
                self._origins[text] = origin
                self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._origins:
                ordered = sorted(self._origins, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def origin(self, secret: str) -> str:
        with self._lock:
            return self._origins.get(secret, "?")

    def __len__(self) -> int:
        with self._lock:
            return len(self._origins)


#: Key of a worker's findings in pytest-xdist's ``workeroutput``.
XDIST_KEY = "sync_secret_scan"
_REGISTRY = _Registry()


def register_secret(value: object, origin: str = "registered") -> None:
    """Add a value the session must never show (ignored when shorter than 8 characters)."""
    _REGISTRY.add(value, origin)


def mask(secret: str) -> str:
    """``abc…(22 chars)``: enough to tell which secret, never the secret."""
    return f"{secret[:3]}…({len(secret)} chars)"


@dataclass(frozen=True)
class Hit:
    """One place a secret was seen."""

    channel: str
    where: str
    secret: str

    def describe(self) -> str:
        return f"[{self.channel}] {self.where}: {mask(self.secret)} ({_REGISTRY.origin(self.secret)})"


class Scanner:
    """Searches texts for the registered secrets and remembers where each was seen."""

    def __init__(self, registry: _Registry = _REGISTRY) -> None:
        self.registry = registry
        self.hits: list[Hit] = []
        self.scanned: Counter[str] = Counter()
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self.current = "(outside any test)"

    def scan(self, text: object, channel: str, where: str) -> None:
        if not isinstance(text, str) or not text:
            return
        self.scanned[channel] += 1
        pattern = self.registry.pattern()
        if pattern is None:
            return
        for match in pattern.finditer(text):
            key = (channel, where, match.group(0))
            with self._lock:
                if key in self._seen:
                    continue
                self._seen.add(key)
                self.hits.append(Hit(channel, where, match.group(0)))

    def report(self) -> str:
        lines = [f"secret scan: {len(self.hits)} place(s) showed a known secret:"]
        lines += [f"  {hit.describe()}" for hit in self.hits]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------- channels


class _LogHandler(logging.Handler):
    """Scans every record it sees; formats nothing unless it has to."""

    def __init__(self, scanner: Scanner) -> None:
        super().__init__(logging.NOTSET)
        self.scanner = scanner
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        where = f"{record.name} {record.levelname} during {self.scanner.current}"
        scan = self.scanner.scan
        try:
            scan(str(record.msg), "log record", where)
            if record.args:
                scan(record.getMessage(), "log record", where)
                scan(repr(record.args), "log record", where)
            if record.exc_info:
                scan(self._formatter.formatException(record.exc_info), "log record", where)
            if record.stack_info:
                scan(record.stack_info, "log record", where)
        except Exception:  # a broken record must not break the test
            scan(repr(record.__dict__), "log record", where)


def scan_sqlite(scanner: Scanner, path: Path) -> None:
    """Scan every text value of every table of a SQLite database (read-only)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    with contextlib.closing(db):
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        except sqlite3.Error:
            return
        for table in tables:
            try:
                cursor = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from sqlite_master
            except sqlite3.Error:
                continue
            columns = [c[0] for c in cursor.description or ()]
            allowed = DB_ALLOWED.get(table, set())
            for number, row in enumerate(cursor, 1):
                for column, value in zip(columns, row, strict=False):
                    if column in allowed:
                        continue
                    text = (
                        bytes(value).decode("utf-8", "ignore")
                        if isinstance(value, bytes | memoryview)
                        else value
                    )
                    scanner.scan(text, "Airflow DB", f"{path.name}: {table}.{column} (row {number})")


def scan_files(scanner: Scanner, folder: Path, channel: str) -> None:
    """Scan every file below ``folder``."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()[:_MAX_FILE_BYTES]
        except OSError:
            continue
        scanner.scan(data.decode("utf-8", "ignore"), channel, str(path))


def airflow_databases(home: Path) -> list[Path]:
    """SQLite files of Airflow: the configured one and any ``*.db`` under ``AIRFLOW_HOME``."""
    found = set(home.glob("*.db")) if home.is_dir() else set()
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if conn.startswith("sqlite:///"):
        found.add(Path(conn.removeprefix("sqlite:///")))
    return sorted(p for p in found if p.is_file())


# ---------------------------------------------------------------------------------------- plugin


def _wrap_init(cls: type, after: Callable[[Any, tuple[Any, ...], dict[str, Any]], None]) -> None:
    original = cls.__init__  # type: ignore[misc]
    if getattr(original, "_secret_scan", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with contextlib.suppress(Exception):
            after(self, args, kwargs)

    __init__._secret_scan = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[misc]


class SecretScanPlugin:
    """Registered as ``secret_scan`` when the module is loaded as a plugin."""

    def __init__(self) -> None:
        self.scanner = Scanner()
        self.handler = _LogHandler(self.scanner)
        self._objects: weakref.WeakSet[Any] = weakref.WeakSet()
        self._root_level: int | None = None
        self._airflow_patched = False
        #: What the pytest-xdist workers' scans saw (on the controller).
        self.worker_hits: list[str] = []
        self.worker_known = 0

    # known secrets and wrapped classes

    def _load_secrets(self) -> None:
        conftest = sys.modules.get("tests.conftest")
        for name in ("API_KEY_SECRET", "AWS_SECRET_KEY", "DATABRICKS_TOKEN"):
            register_secret(getattr(conftest, name, None), f"tests.conftest.{name}")
        register_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY")
        for value in os.environ.get(ENV_EXTRA, "").split(","):
            register_secret(os.environ.get(value.strip(), value.strip()), ENV_EXTRA)

    def _track(self, obj: Any) -> None:
        """Scan ``obj``'s reprs now, and again after the test if it is still alive."""
        self._scan_object(obj, "created during")
        with contextlib.suppress(TypeError):
            self._objects.add(obj)

    def _scan_object(self, obj: Any, when: str) -> None:
        where = f"{type(obj).__name__} {when} {self.scanner.current}"
        texts = [repr(obj), str(obj)]
        settings = getattr(obj, "settings", None)
        if settings is not None and hasattr(settings, "model_dump_json"):
            texts += [repr(settings), str(settings), settings.model_dump_json()]
        info = vars(obj).get("connection_info") if hasattr(obj, "__dict__") else None
        if info is not None:
            texts += [repr(info), str(info)]
        for text in texts:
            self.scanner.scan(text, "repr", where)

    def _patch(self) -> None:
        from sync_provider.core.client import SyncClient
        from sync_provider.core.databricks.client import DatabricksRestClient
        from sync_provider.core.errors import SyncError
        from sync_provider.testing.databricks import DEFAULT_TOKEN, LocalDatabricks
        from sync_provider.testing.sync_api.server import LocalSyncServer
        from sync_provider.testing.sync_api.state import Store

        register_secret(DEFAULT_TOKEN, "LocalDatabricks default token")
        scanner = self.scanner

        def sync_client(obj: Any, *_: Any) -> None:
            register_secret(obj.settings.api_key_secret.get_secret_value(), "a SyncClient's API key secret")
            self._track(obj)

        def databricks_client(obj: Any, *_: Any) -> None:
            register_secret(obj._token.get_secret_value(), "a DatabricksRestClient's token")
            self._track(obj)

        def sync_server(obj: Any, *_: Any) -> None:
            for secret in obj.api_keys.values():
                register_secret(secret, "a LocalSyncServer API key secret")
            self._track(obj)

        def databricks_server(obj: Any, *_: Any) -> None:
            register_secret(obj.token, "a LocalDatabricks token")
            self._track(obj)

        def sync_error(obj: Any, *_: Any) -> None:
            where = f"{type(obj).__name__} created during {scanner.current}"
            scanner.scan(obj.message, "exception", where)
            if obj.detail is not None:
                scanner.scan(repr(obj.detail), "exception", where)

        _wrap_init(SyncClient, sync_client)
        _wrap_init(DatabricksRestClient, databricks_client)
        _wrap_init(LocalSyncServer, sync_server)
        _wrap_init(LocalDatabricks, databricks_server)
        _wrap_init(SyncError, sync_error)
        to_error = SyncError.to_error
        if not getattr(to_error, "_secret_scan", False):

            @functools.wraps(to_error)
            def scanned_to_error(error: Any) -> Any:  # messages may grow after creation
                sync_error(error)
                return to_error(error)

            scanned_to_error._secret_scan = True  # type: ignore[attr-defined]
            SyncError.to_error = scanned_to_error  # type: ignore[method-assign,assignment]

        issue = Store.issue_token
        if not getattr(issue, "_secret_scan", False):

            @functools.wraps(issue)
            def issue_token(store: Any, ttl_s: float) -> Any:
                token, expires = issue(store, ttl_s)
                register_secret(token, "a Sync access token issued by a local server")
                return token, expires

            issue_token._secret_scan = True  # type: ignore[attr-defined]
            Store.issue_token = issue_token  # type: ignore[method-assign,assignment]

        from _pytest.capture import CaptureFixture

        read = CaptureFixture.readouterr
        if not getattr(read, "_secret_scan", False):

            @functools.wraps(read)
            def readouterr(fixture: Any) -> Any:
                result = read(fixture)
                for part, name in ((result.out, "stdout"), (result.err, "stderr")):
                    text = part.decode("utf-8", "ignore") if isinstance(part, bytes) else part
                    scanner.scan(text, "captured output", f"{scanner.current} ({name}, read by the test)")
                return result

            readouterr._secret_scan = True  # type: ignore[attr-defined]
            CaptureFixture.readouterr = readouterr  # type: ignore[method-assign,assignment]

    def _patch_airflow(self) -> None:
        if self._airflow_patched or "airflow.sdk.exceptions" not in sys.modules:
            return
        self._airflow_patched = True
        from airflow.sdk.exceptions import AirflowException

        scanner = self.scanner

        def airflow_error(obj: Any, args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
            text = " ".join(str(a) for a in args)
            scanner.scan(text, "exception", f"{type(obj).__name__} created during {scanner.current}")

        _wrap_init(AirflowException, airflow_error)
        hooks = sys.modules.get("sync_provider.hooks.sync")
        if hooks is not None:
            _wrap_init(hooks.SyncHook, lambda obj, *_: self._track(obj))

    def _scan_objects(self) -> None:
        hooks = sys.modules.get("sync_provider.hooks.sync")
        if hooks is not None and not getattr(hooks.SyncHook.__init__, "_secret_scan", False):
            _wrap_init(hooks.SyncHook, lambda obj, *_: self._track(obj))
        for obj in list(self._objects):
            self._scan_object(obj, "after")
        self._objects = weakref.WeakSet()

    # hooks

    def _attach(self) -> None:
        """See every record handled by any logger, and lower the root logger's level.

        ``Logger.callHandlers`` is wrapped rather than a handler added to the root logger: Airflow
        replaces the root handlers when it configures logging, and some loggers do not propagate.
        The level is set again before each test because Airflow's logging setup raises it.
        """
        original = logging.Logger.callHandlers
        if not getattr(original, "_secret_scan", False):
            handler = self.handler

            @functools.wraps(original)
            def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
                handler.handle(record)
                original(logger, record)

            call_handlers._secret_scan = True  # type: ignore[attr-defined]
            call_handlers._original = original  # type: ignore[attr-defined]
            logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign,assignment]
        root = logging.getLogger()
        level = os.environ.get(ENV_LEVEL, "DEBUG").upper()
        wanted = logging.getLevelName(level) if level.isalpha() else int(level)
        if root.level != wanted:
            root.setLevel(wanted)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._load_secrets()
        self._patch()
        self._root_level = logging.getLogger().level
        self._attach()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        self.scanner.current = item.nodeid
        self._attach()
        yield
        self._patch_airflow()
        self._scan_objects()
        self.scanner.current = "(between tests)"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for title, content in report.sections:
            self.scanner.scan(content, "captured output", f"{report.nodeid} ({title})")
        if report.failed:
            self.scanner.scan(report.longreprtext, "test report", f"{report.nodeid} ({report.when})")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.scanner.scan(report.longreprtext, "test report", f"collecting {report.nodeid}")

    def scan_airflow_home(self) -> None:
        home = os.environ.get("AIRFLOW_HOME")
        if not home:
            return
        for db in airflow_databases(Path(home)):
            scan_sqlite(self.scanner, db)
        scan_files(self.scanner, Path(home) / "logs", "Airflow log file")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.scanner.current = "(session end)"
        self._scan_objects()
        self.scan_airflow_home()
        root = logging.getLogger()
        original = getattr(logging.Logger.callHandlers, "_original", None)
        if original is not None:
            logging.Logger.callHandlers = original  # type: ignore[method-assign]
        if self._root_level is not None:
            root.setLevel(self._root_level)
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: the controller reports for everyone
            workeroutput[XDIST_KEY] = {
                "hits": [hit.describe() for hit in self.scanner.hits],
                "scanned": dict(self.scanner.scanned),
                "known": len(_REGISTRY),
            }
        if self.scanner.hits or self.worker_hits:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist controller: take in what a worker's scan saw."""
        found = getattr(node, "workeroutput", {}).get(XDIST_KEY)
        if not found:
            if error is None:
                return
            found = {"hits": [f"[worker] {getattr(node, 'gateway', node)} died before its scan ended"]}
        self.worker_hits += found.get("hits", [])
        self.scanner.scanned.update(found.get("scanned", {}))
        self.worker_known = max(self.worker_known, int(found.get("known", 0)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.scanner.hits or self.worker_hits:
            terminalreporter.section("secret scan", sep="=", red=True, bold=True)
            if self.scanner.hits:
                terminalreporter.line(self.scanner.report(), red=True)
            for line in self.worker_hits:
                terminalreporter.line(f"  {line}", red=True)
        else:
            seen = ", ".join(f"{n} {channel}" for channel, n in sorted(self.scanner.scanned.items()))
            known = max(len(_REGISTRY), self.worker_known)
            terminalreporter.line(
                f"secret scan: no known secret ({known} known) in any channel; scanned: {seen}."
            )


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin unless ``SYNC_SECRET_SCAN=0``."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if not config.pluginmanager.has_plugin("sync-secret-scan"):
        config.pluginmanager.register(SecretScanPlugin(), "sync-secret-scan")
