"""What does importing our operators cost a DAG file, compared with the EMR and Databricks operators?

Every DAG file that uses our operators imports ``sync_provider.operators.sync`` (and usually the
sensor) whenever the DAG processor parses it, so that import must cost no more than the providers it
sits next to. Each case runs in a fresh interpreter (best of N runs); the time is measured inside
the interpreter around the import statement, and the wall time of the whole process is reported too.

Usage::

    .venv/bin/python benchmarks/dag_parse_cost.py            # best of 5
    .venv/bin/python benchmarks/dag_parse_cost.py --runs 9 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

CASES: dict[str, str] = {
    "airflow.sdk (baseline)": "from airflow.sdk import BaseOperator, BaseSensorOperator, BaseHook",
    "ours (operators + sensors + hooks)": (
        "import sync_provider.operators.sync, sync_provider.sensors.sync, sync_provider.hooks.sync"
    ),
    "amazon EMR operators": "import airflow.providers.amazon.aws.operators.emr",
    "databricks operators": "import airflow.providers.databricks.operators.databricks",
}
OURS = "ours (operators + sensors + hooks)"
THEIRS = ("amazon EMR operators", "databricks operators")
HEAVY = (
    "requests",
    "aiohttp",
    "boto3",
    "botocore",
    "sync_provider.core.client",
    "airflow.providers.amazon.aws.hooks",
)
RATIO_GOAL = 1.05

_PROBE = """
import sys, time, json
started = time.perf_counter()
{statement}
took = time.perf_counter() - started
print(json.dumps({{"import_s": took, "modules": len(sys.modules),
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _run_case(statement: str, env: dict[str, str]) -> dict[str, Any]:
    code = _PROBE.format(statement=statement, heavy=HEAVY)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Time each case; return 0 when ours costs at most 1.05 x each of the other providers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="fresh interpreters per case (best of; default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": tempfile.mkdtemp(prefix="sync-parse-bench-"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for statement in CASES.values():  # warm-up: airflow.cfg, .pyc files, OS file cache
        _run_case(statement, env)

    results: dict[str, dict[str, Any]] = {}
    for name, statement in CASES.items():
        runs = [_run_case(statement, env) for _ in range(args.runs)]
        best = min(runs, key=lambda r: r["import_s"])
        results[name] = {
            "import_s": round(best["import_s"], 3),
            "wall_s": round(min(r["wall_s"] for r in runs), 3),
            "modules": best["modules"],
            "heavy_modules_loaded": best["heavy"],
        }
    ratios = {theirs: round(results[OURS]["import_s"] / results[theirs]["import_s"], 3) for theirs in THEIRS}
    summary = {
        "runs_per_case": args.runs,
        "cases": results,
        "ratio_ours_over": ratios,
        "overhead_over_airflow_sdk_s": round(
            results[OURS]["import_s"] - results["airflow.sdk (baseline)"]["import_s"], 3
        ),
        "goal_met": all(ratio <= RATIO_GOAL for ratio in ratios.values()),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"best of {args.runs} fresh interpreters (import time measured in-process; wall incl. start-up)"
        )
        for name, result in results.items():
            print(
                f"  {name:<36} import {result['import_s']:.3f} s   wall {result['wall_s']:.3f} s   "
                f"{result['modules']:>5} modules   heavy: {', '.join(result['heavy_modules_loaded']) or '-'}"
            )
        for theirs, ratio in ratios.items():
            print(f"  ratio ours / {theirs}: {ratio:.3f} (goal <= {RATIO_GOAL})")
        print(f"  ours over plain airflow.sdk: {summary['overhead_over_airflow_sdk_s'] * 1000:+.0f} ms")
    return 0 if summary["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
