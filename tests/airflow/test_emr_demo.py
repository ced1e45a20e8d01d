"""The EMR demo (``python -m sync_provider.cli.demo_emr``): ``airflow dags test example_sync_emr`` in a
subprocess against the local stand-ins, then the comparison table; nothing left running."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_the_emr_demo_runs_the_example_dag_and_compares_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_provider.cli.demo_emr import run

    threads_before = {t.name for t in threading.enumerate()}
    started = time.monotonic()
    assert run(tmp_path, quiet=True) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert "no cluster left running" in out
    lines = out.strip().splitlines()
    assert lines[-6].split() == ["run", "cluster", "runtime", "(min)", "cost", "(USD)"]
    assert re.match(r"1 +recorded +\dx m5\.xlarge", lines[-4])
    assert re.match(r"2 +predicted \(economy, from run 1\) ", lines[-3])
    assert re.match(r"2 +recorded +", lines[-2])
    assert re.match(r"2 +recorded / predicted +\d+\.\d\dx +\d+\.\d\dx$", lines[-1])
    assert "state=success" in (tmp_path / "airflow.log").read_text()
    # The simulator, the Sync API server and their threads are gone.
    assert not {"aws-simulator-ticker", "sync-api-server"} & (
        {t.name for t in threading.enumerate()} - threads_before
    )
    assert elapsed < 60, f"the EMR demo took {elapsed:.0f} s"
