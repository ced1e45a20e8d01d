"""Every sync-cli command against the local Sync API server."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from sync_provider.cli.main import main
from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload, write_event_log
from tests.conftest import API_KEY_ID, API_KEY_SECRET


@pytest.fixture
def cli_env(sync_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("SYNC_API_KEY_ID", API_KEY_ID)
    monkeypatch.setenv("SYNC_API_KEY_SECRET", API_KEY_SECRET)
    monkeypatch.setenv("SYNC_API_URL", sync_server.url)
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path / "cfg"))
    return sync_server


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    eventlog = write_event_log(tiny_workload(), tmp_path / "application_1_0001")
    report = tmp_path / "report.json"
    report.write_text(json.dumps(emr_cluster_report(tiny_workload())))
    return eventlog, report


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_configure_writes_private_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("SYNC_API_KEY_SECRET", "s3cr3t")
    code, out, _ = run(
        capsys,
        "--api-url",
        "http://127.0.0.1:9",
        "configure",
        "--api-key-id",
        "kid",
        "--preference",
        "balanced",
    )
    assert code == 0 and "mode 0600" in out and "s3cr3t" not in out
    creds = tmp_path / "cfg" / "credentials"
    assert json.loads(creds.read_text()) == {"api_key_id": "kid", "api_key_secret": "s3cr3t"}
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert json.loads((tmp_path / "cfg" / "config").read_text())["api_url"] == "http://127.0.0.1:9"


def test_configure_without_values_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.delenv("SYNC_API_KEY_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - not a tty
    code, _, err = run(capsys, "configure")
    assert code == 1 and err.startswith("error: configure needs") and err.count("\n") == 1


def test_products(cli_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "products")[1].split() == ["aws-emr", "aws-databricks"]
    assert json.loads(run(capsys, "--json", "products")[1]) == ["aws-emr", "aws-databricks"]


def test_projects_commands(cli_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "projects", "create", "nightly", "aws-emr", "--cluster-log-url", "s3://b/p")
    assert code == 0
    project_id = re.search(r"Project ID: (\S+)", out).group(1)  # type: ignore[union-attr]
    assert "nightly" in run(capsys, "projects", "list")[1]
    assert (
        json.loads(run(capsys, "--json", "projects", "get", project_id)[1])["cluster_log_url"] == "s3://b/p"
    )
    assert "renamed" in run(capsys, "projects", "update", project_id, "--name", "renamed")[1]
    assert project_id in run(capsys, "projects", "delete", project_id)[1]
    code, _, err = run(capsys, "projects", "get", project_id)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_prediction_commands(
    cli_env: Any, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    eventlog, report = inputs
    code, out, _ = run(capsys, "predictions", "create", "aws-emr", "-e", str(eventlog), "-r", str(report))
    assert code == 0
    prediction_id = re.search(r"Prediction ID: (\S+)", out).group(1)  # type: ignore[union-attr]
    code, out, err = run(capsys, "predictions", "wait", prediction_id, "--timeout", "30")
    assert code == 0 and "Waiting for prediction: SUCCESS" in err
    assert "basis" in out and "economy" in out and "runtime (min)" in out
    assert run(capsys, "predictions", "status", prediction_id)[1].strip() == "SUCCESS"
    got = json.loads(run(capsys, "--json", "predictions", "get", prediction_id, "-p", "balanced")[1])
    assert list(got["solutions"]) == ["balanced"]
    listed = json.loads(run(capsys, "--json", "predictions", "list", "--platform", "aws-emr")[1])
    assert [p["prediction_id"] for p in listed] == [prediction_id]


def test_create_and_wait_in_one_go(
    cli_env: Any, inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    eventlog, report = inputs
    code, out, _ = run(
        capsys,
        "--json",
        "predictions",
        "create",
        "aws-emr",
        "-e",
        str(eventlog),
        "-r",
        str(report),
        "--wait",
        "-q",
        "-p",
        "economy",
    )
    assert code == 0 and list(json.loads(out)["solutions"]) == ["economy"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["predictions", "create", "aws-emr", "-e", "ftp://x/y", "-r", "REPORT"], "scheme 'ftp'"),
        (["predictions", "create", "aws-emr", "-e", "/nope", "-r", "/missing.json"], "does not exist"),
        (["predictions", "get", "../x"], "not a valid identifier"),
        (["predictions", "status", "00000000-0000-4000-8000-000000000000"], "Not Found"),
    ],
)
def test_errors_are_one_line_and_non_zero(
    cli_env: Any,
    inputs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragment: str,
) -> None:
    argv = [str(inputs[1]) if a == "REPORT" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1


def test_missing_credentials_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path / "empty"))
    code, _, err = run(capsys, "products")
    assert code == 1 and "SYNC_API_KEY_ID" in err


def test_serve_runs_the_stand_in_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sync_provider.cli.main", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)  # type: ignore[union-attr]
        token = requests.post(
            f"{url}/v1/auth/token",
            json={"api_key_id": "local-key-id", "api_key_secret": "local-key-secret"},
            timeout=5,
        )
        assert token.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode in (0, 130)
