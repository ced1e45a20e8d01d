"""Import cost of the core against its own dependencies, in fresh interpreters.

Airflow parses DAG files constantly, so what a DAG file pays to import matters. Each statement runs
in a new interpreter ``--repeat`` times; the best wall time counts (least disturbed by the machine).
The baseline, ``import boto3, requests``, is measured in the same run, and results are ratios to it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

BASELINE = "import boto3, requests"
CASES = {
    "import sync_provider.core": "import sync_provider.core",
    "from sync_provider.core import predictions (client, models)": (
        "from sync_provider.core import predictions"
    ),
}
GOAL = 1.3


def best_time(statement: str, repeat: int) -> float:
    """Best wall time in seconds of ``python -c statement`` over ``repeat`` fresh interpreters."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def airflow_modules(statement: str) -> list[str]:
    """Modules named ``airflow*`` loaded by ``statement`` in a fresh interpreter."""
    code = (
        f"{statement}\nimport sys\n"
        "print('\\n'.join(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def main(argv: Sequence[str] | None = None) -> int:
    """Print a markdown table; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    empty = best_time("pass", args.repeat)
    baseline = best_time(BASELINE, args.repeat)
    print(f"### Import cost (best of {args.repeat} fresh interpreters)\n")
    print(f"| statement | wall s | minus interpreter start s | ratio to `{BASELINE}` | airflow modules |")
    print("|---|---|---|---|---|")
    print(f"| `pass` (interpreter start) | {empty:.3f} | 0 | | |")
    print(f"| `{BASELINE}` (baseline) | {baseline:.3f} | {baseline - empty:.3f} | 1.00 | |")
    failed = False
    for label, statement in CASES.items():
        seconds = best_time(statement, args.repeat)
        ratio = seconds / baseline
        loaded = airflow_modules(statement)
        print(f"| `{label}` | {seconds:.3f} | {seconds - empty:.3f} | {ratio:.2f} | {len(loaded)} |")
        if loaded or (statement == "import sync_provider.core" and ratio > GOAL):
            failed = True
    print(f"\nGoal: `import sync_provider.core` at most {GOAL}x the baseline and zero airflow modules.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
