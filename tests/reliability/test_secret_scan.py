"""The secret scanner finds a planted secret in every channel, so that its all-clear means something.

Each test runs an inner pytest session (a subprocess) with the plugin and a secret the outer session
does not know, planted in one or more channels; the inner session must fail, list each channel, and
never print the secret itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.secret_scan import Scanner, _Registry, mask, scan_files, scan_sqlite

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted-" + os.urandom(6).hex()  # unknown to the outer session's scanner

INNER_TESTS = """
import logging, os, sqlite3, sys
from pathlib import Path

SECRET = os.environ["PLANTED_SECRET"]
HOME = Path(os.environ["AIRFLOW_HOME"])


def test_log_record_at_debug():
    logging.getLogger("inner.module").debug("calling with token %s", SECRET)


def test_stdout():
    print("the value is", SECRET)


def test_stderr_read_by_the_test(capfd):
    sys.stderr.write("err " + SECRET)
    assert SECRET in capfd.readouterr().err


def test_exception_message():
    from sync_provider.core.errors import StorageError

    try:
        raise StorageError("uploading with " + SECRET + " failed")
    except StorageError:
        pass


def test_repr():
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings

    client = SyncClient(load_settings(SECRET, "a-long-enough-secret", "http://127.0.0.1:9", env={}))
    assert client


def test_airflow_db_row():
    db = sqlite3.connect(HOME / "airflow.db")
    db.execute("CREATE TABLE xcom (key TEXT, value BLOB)")
    db.execute("INSERT INTO xcom VALUES (?, ?)", ("return_value", ('{"token": "%s"}' % SECRET).encode()))
    db.execute("CREATE TABLE connection (conn_id TEXT, password TEXT)")
    db.execute("INSERT INTO connection VALUES ('sync_default', ?)", (SECRET,))
    db.commit()
    db.close()


def test_airflow_log_file():
    folder = HOME / "logs" / "dag_id=d" / "run_id=r"
    folder.mkdir(parents=True)
    (folder / "attempt=1.log").write_text("INFO connecting with " + SECRET)
"""

CLEAN_TESTS = """
import logging


def test_nothing_secret(capfd):
    logging.getLogger("inner").debug("no secret here")
    print("hello")
"""


def run_inner(
    tmp_path: Path, source: str, *, planted: str | None, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SYNC_SECRET_SCAN"))}
    env.update({"AIRFLOW_HOME": str(home), "PYTHONPATH": str(ROOT)})
    if planted is not None:
        env.update({"PLANTED_SECRET": planted, "SYNC_SECRET_SCAN_EXTRA": "PLANTED_SECRET"})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.reliability.secret_scan",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            *extra,
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_planted_secret_is_found_in_every_channel_and_fails_the_session(tmp_path: Path) -> None:
    result = run_inner(tmp_path, INNER_TESTS, planted=PLANTED)
    output = result.stdout + result.stderr

    assert "7 passed" in output, output
    assert result.returncode == 1, output
    assert "secret scan:" in output
    for channel, where in [
        ("[log record]", "inner.module DEBUG during test_inner.py::test_log_record_at_debug"),
        ("[captured output]", "test_inner.py::test_stdout (Captured stdout call)"),
        ("[captured output]", "test_inner.py::test_stderr_read_by_the_test (stderr, read by the test)"),
        ("[exception]", "StorageError created during test_inner.py::test_exception_message"),
        ("[repr]", "SyncClient created during test_inner.py::test_repr"),
        ("[Airflow DB]", "airflow.db: xcom.value (row 1)"),
        ("[Airflow log file]", "attempt=1.log"),
    ]:
        assert any(channel in line and where in line for line in output.splitlines()), (
            channel,
            where,
            output,
        )
    assert mask(PLANTED) in output
    assert "connection.password" not in output, "Airflow keeps connection passwords by design"
    assert PLANTED not in output, "the report printed the secret"


@pytest.mark.slow
def test_with_xdist_the_workers_findings_fail_the_session(tmp_path: Path) -> None:
    """``make test`` runs the suite on two pytest-xdist workers: their scans must still count."""
    result = run_inner(tmp_path, INNER_TESTS, planted=PLANTED, extra=("-n", "2"))
    output = result.stdout + result.stderr

    assert "7 passed" in output, output
    assert result.returncode == 1, output
    # Log records and live objects are seen in the worker only.
    assert "[log record] inner.module DEBUG during test_inner.py::test_log_record_at_debug" in output, output
    assert "[repr] SyncClient created during test_inner.py::test_repr" in output, output
    assert PLANTED not in output, "the report printed the secret"


@pytest.mark.slow
def test_a_clean_session_passes(tmp_path: Path) -> None:
    result = run_inner(tmp_path, CLEAN_TESTS, planted=PLANTED)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output
    assert "secret scan: no known secret" in output


def test_the_scanner_ignores_short_and_generic_values_and_masks_hits(tmp_path: Path) -> None:
    registry = _Registry()
    for value in ("short", "testing", " padded-secret ", "a-real-secret-123"):
        registry.add(value, "test")
    scanner = Scanner(registry)

    scanner.scan("testing short padded-secret a-real-secret-123 a-real-secret-123", "log record", "here")

    assert [(h.channel, h.where, h.secret) for h in scanner.hits] == [
        ("log record", "here", "a-real-secret-123")
    ]
    assert "a-real-secret-123" not in scanner.report() and "a-r…(17 chars)" in scanner.report()

    import sqlite3

    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE rendered_task_instance_fields (rendered_fields TEXT)")
        conn.execute('INSERT INTO rendered_task_instance_fields VALUES (\'{"x": "a-real-secret-123"}\')')
    scan_sqlite(scanner, db)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "task.log").write_bytes(b"\xff\xfe a-real-secret-123")
    scan_files(scanner, tmp_path / "logs", "Airflow log file")
    assert [h.channel for h in scanner.hits] == ["log record", "Airflow DB", "Airflow log file"]
