"""The cross-platform demo (``python -m sync_provider.cli.demo --only cross-platform``): ``airflow dags
test example_sync_cross_platform`` in a subprocess against the AWS simulator, the local Databricks and
the local Sync API; then the EMR run, its prediction and the Databricks cluster launched from it."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_the_cross_platform_demo_runs_the_example_dag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_provider.cli.demo_crossplatform import run

    threads_before = {t.name for t in threading.enumerate()}
    started = time.monotonic()
    assert run(tmp_path, quiet=True) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert "then on Databricks from that prediction; nothing left running" in out
    lines = out.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("platform"))
    assert re.match(r"EMR +recorded +1x m5\.xlarge master, 2x m5\.xlarge core +\d", lines[header + 2])
    predicted = re.match(
        r"EMR +predicted \(economy\) +1x (\S+) master, (\d+)x (\S+) core +\d", lines[header + 3]
    )
    assert predicted, lines[header + 3]
    master, workers, worker = predicted.groups()
    # The Databricks cluster is the EMR prediction's solution, translated.
    assert re.match(
        rf"Databricks +launched from the EMR prediction +{workers}x {re.escape(worker)} workers, "
        rf"{re.escape(master)} driver$",
        lines[header + 4],
    ), lines[header + 4]
    assert "What the translation to Databricks did not carry over:" in out
    assert any(line.startswith("- EMR release emr-6.10.0 is not translated") for line in lines)
    assert "state=success" in (tmp_path / "airflow.log").read_text()
    # The stand-ins and their threads are gone.
    assert not {"aws-simulator-ticker", "sync-api-server"} & (
        {t.name for t in threading.enumerate()} - threads_before
    )
    assert elapsed < 60, f"the cross-platform demo took {elapsed:.0f} s"


def test_the_demo_runs_it_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_provider.cli import demo, demo_crossplatform, demo_databricks, demo_emr

    ran: list[str] = []
    for name, module in (("emr", demo_emr), ("databricks", demo_databricks), ("cross", demo_crossplatform)):
        monkeypatch.setattr(module, "run", lambda *_, name=name, **__: ran.append(name) or 0)
    assert demo.main([]) == 0
    assert ran == ["emr", "databricks"]  # the default path is unchanged
    ran.clear()
    assert demo.main(["--only", "cross-platform", "--quiet"]) == 0
    assert ran == ["cross"]
