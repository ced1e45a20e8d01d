"""``python -m tests.reliability [--loops N] [--kill-rounds N] [--write-docs]``: the closed-loop fault
suite, then the kill and crash matrix.

Prints the figures per platform and fault plan as a markdown table, the most frequent failure
messages and the goals missed, then the kill/crash matrix's table; exits 1 when a goal is missed.
``--write-docs`` rewrites the figures, the fault-plan list and the matrix in ``docs/reliability.rst``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from tests.reliability.faults import PLANS, Platform
from tests.reliability.kills import KillOutcome, kill_misses, kill_report, rst_kill_figures, run_matrix
from tests.reliability.suite import PlanResult, misses, report, rst_figures, run_suite, write_docs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--loops", type=int, default=100, help="loops per platform (default 100; 0 skips the fault suite)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of every random draw (default 7)")
    parser.add_argument("--concurrency", type=int, default=6, help="loops run at a time (default 6)")
    parser.add_argument(
        "--platform", choices=("emr", "databricks", "all"), default="all", help="which loops to run"
    )
    parser.add_argument(
        "--plans",
        default="",
        help=f"comma-separated plan names (default all): {', '.join(p.name for p in PLANS)}",
    )
    parser.add_argument("--attempts", type=int, default=3, help="tries per step (default 3)")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="seconds between tries (default 1.0)")
    parser.add_argument(
        "--kill-rounds",
        type=int,
        default=3,
        help="rounds of the kill/crash matrix (every stage x kill/crash per platform; default 3; 0 skips)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="rewrite the figures in docs/reliability.rst"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the steps' retries")
    args = parser.parse_args(argv)
    if args.loops < 0:
        parser.error("--loops must be 0 or more")
    if not args.loops and not args.kill_rounds:
        parser.error("nothing to run: --loops and --kill-rounds are both 0")
    if args.kill_rounds < 0:
        parser.error("--kill-rounds must be 0 or more")
    names = [n.strip() for n in args.plans.split(",") if n.strip()]
    unknown = sorted(set(names) - {p.name for p in PLANS})
    if unknown:
        parser.error(f"unknown plan(s): {', '.join(unknown)}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s",
    )

    def progress(result: PlanResult) -> None:
        print(
            f"  {result.plan.name}: {result.completed}/{result.loops} completed, "
            f"{result.failed_clearly} failed clearly, {result.failed_unclearly} unclearly "
            f"({result.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    platforms: tuple[Platform, ...] = ("emr", "databricks") if args.platform == "all" else (args.platform,)
    started = time.monotonic()
    results: list[PlanResult] = []
    if args.loops:
        results = run_suite(
            args.loops,
            platforms=platforms,
            plan_names=names or None,
            seed=args.seed,
            concurrency=args.concurrency,
            attempts=args.attempts,
            retry_delay_s=args.retry_delay,
            progress=progress,
        )
        print(report(results, loops=args.loops, seed=args.seed))
        print(f"\n{time.monotonic() - started:.0f} s in all.")
    seconds = time.monotonic() - started
    outcomes: list[KillOutcome] = []
    kill_seconds = 0.0
    if args.kill_rounds:
        started = time.monotonic()
        outcomes = run_matrix(
            args.kill_rounds, platforms=platforms, concurrency=args.concurrency, seed=args.seed
        )
        print()
        print(kill_report(outcomes, rounds=args.kill_rounds))
        kill_seconds = time.monotonic() - started
        print(f"\n{kill_seconds:.0f} s in all.")
    if args.write_docs:
        write_docs(
            rst_figures(
                results, loops=args.loops, seed=args.seed, concurrency=args.concurrency, seconds=seconds
            )
            if results
            else None,
            rst_kill_figures(outcomes, rounds=args.kill_rounds, seconds=kill_seconds) if outcomes else None,
        )
        print("Wrote the figures to docs/reliability.rst.")
    return 1 if misses(results) or kill_misses(outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
