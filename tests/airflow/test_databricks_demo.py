"""``python -m sync_provider.cli.demo_databricks``: the example DAG through ``airflow dags test`` in a
subprocess, against the in-process stand-ins; the tables, and nothing left running."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_demo_runs_the_example_dag_and_prints_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_provider.cli import demo_databricks

    assert demo_databricks.run(tmp_path, quiet=True) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("node type") for line in lines)
    runtime = next(line.split() for line in lines if line.startswith("runtime (min)"))
    predicted, recorded, ratio = float(runtime[2]), float(runtime[3]), float(runtime[4])
    assert ratio == pytest.approx(recorded / predicted, abs=0.01)
    assert 0.7 < ratio < 1.3
    assert "dags test example_sync_databricks" in (tmp_path / "airflow.log").read_text()
