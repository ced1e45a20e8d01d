"""``make bench``: run every benchmark; each prints ratios against a baseline measured in the same run."""

from __future__ import annotations

import importlib
import sys

# (module, arguments) in the order they run; the event-log benchmark defaults to a quick size here.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("benchmarks.import_cost", []),
    ("benchmarks.dag_parse_cost", []),
    ("benchmarks.trigger_concurrency", []),
    ("benchmarks.eventlog_read", []),
    ("benchmarks.estimator", []),
]


def main() -> int:
    """Run all benchmarks; the exit code is non-zero if any missed its goal or crashed."""
    worst = 0
    for name, args in BENCHMARKS:
        print(f"\n## {name}\n", flush=True)
        module = importlib.import_module(name)
        code = module.main(args)
        worst = max(worst, int(code or 0))
    return worst


if __name__ == "__main__":
    sys.exit(main())
