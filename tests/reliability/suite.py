"""Run fault plans, count what happened, check the goals, render the figures.

For each plan, on fresh stand-ins (a Sync API server and, for Databricks, a Databricks workspace,
both seeded with the plan's seed; the one AWS simulator of the process is shared):

1. one Sync project per loop is created before any fault is switched on;
2. the plan's faults are switched on and the loops run, ``concurrency`` at a time;
3. the faults are switched off and the stand-ins are asked what exists:

   - *duplicate predictions*: predictions holding an event log beyond the first per recorded
     cluster (Sync server), i.e. Sync predicts the same run twice;
     *orphan predictions* (reported, not a goal) are those that never received their event log:
     created, then their upload failed or the create response was lost;
   - *failed predictions*: predictions that received a log and failed on Sync's side; the loops' logs
     are good, so each means the core sent something other than the run's whole log;
   - *duplicate clusters/runs*: EMR clusters beyond the first per ``sync:run-id`` tag (and
     ``RunJobFlow`` calls beyond the run ids launched); Databricks runs beyond the first per run name
     (and ``submit_count()`` beyond the names submitted);
   - *left running*: clusters/runs of the plan not terminated once the loops (and their cleanup)
     ended and a settling time passed.

Goals, per plan: no loop failed unclearly, no duplicate prediction, no failed prediction, no duplicate
cluster/run, nothing left running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform as platform_module
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_provider.core.client import SyncClient
from sync_provider.core.config import SyncSettings, load_settings
from sync_provider.core.projects import create_project
from tests.reliability.faults import AwsFaultStats, FaultPlan, Platform, plans_for
from tests.reliability.loops import (
    DatabricksContext,
    EmrContext,
    LoopOutcome,
    list_runs,
    run_databricks_loop,
    run_emr_loop,
)

BUCKET = "sync-reliability"
KEY_ID = "reliability-key"
#: The Sync API key secret of the suite's stand-ins (the secret scanner knows it).
KEY_SECRET = "rel-sync-secret-Zt84Qa1"
#: The Databricks stand-in's token in the suite (the secret scanner knows it).
DATABRICKS_TOKEN = "dapi-rel-3Fx9Lk20"
SETTLE_S = 5.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reliability.rst"
FIGURES_START = ".. reliability-figures-start"
FIGURES_END = ".. reliability-figures-end"
PLANS_START = ".. reliability-plans-start"
PLANS_END = ".. reliability-plans-end"
CORPUS_START = ".. reliability-corpus-start"
CORPUS_END = ".. reliability-corpus-end"
KILLS_START = ".. reliability-kills-start"
KILLS_END = ".. reliability-kills-end"


@dataclass
class PlanResult:
    """The outcome of one plan."""

    plan: FaultPlan
    outcomes: list[LoopOutcome]
    duplicate_predictions: int = 0
    orphan_predictions: int = 0
    failed_predictions: int = 0
    duplicate_launches: int = 0
    launches: int = 0
    left_running: list[str] = field(default_factory=list)
    faults_injected: int = 0
    seconds: float = 0.0

    @property
    def loops(self) -> int:
        """Loops run."""
        return len(self.outcomes)

    @property
    def completed(self) -> int:
        """Loops that completed."""
        return sum(o.status == "COMPLETED" for o in self.outcomes)

    @property
    def failed_clearly(self) -> int:
        """Loops that failed with a clear typed error."""
        return sum(o.status == "FAILED" and o.clear for o in self.outcomes)

    @property
    def failed_unclearly(self) -> int:
        """Loops that failed with a raw exception or an empty/vague message."""
        return sum(o.status == "FAILED" and not o.clear for o in self.outcomes)

    @property
    def retries(self) -> int:
        """Step retries over all loops."""
        return sum(o.retries for o in self.outcomes)

    @property
    def reconciled(self) -> int:
        """Records adopted from an earlier attempt instead of creating a prediction again."""
        return sum(o.reconciled for o in self.outcomes)

    def misses(self) -> list[str]:
        """The goals this plan missed, one sentence each."""
        found = []
        if self.failed_unclearly:
            found.append(f"{self.failed_unclearly} loop(s) failed unclearly")
        if self.duplicate_predictions:
            found.append(f"{self.duplicate_predictions} duplicate prediction(s)")
        if self.failed_predictions:
            found.append(f"{self.failed_predictions} prediction(s) failed on a log the core sent")
        if self.duplicate_launches:
            kind = "cluster(s)" if self.plan.platform == "emr" else "run(s)"
            found.append(f"{self.duplicate_launches} duplicate {kind}")
        if self.left_running:
            found.append(f"left running: {', '.join(self.left_running)}")
        return found

    def failure_reasons(self, limit: int = 4) -> list[str]:
        """The most frequent failure messages (step: type: message)."""
        counts = Counter(
            f"{o.step}: {o.error_type}: {_shorten(o.message or '', 220)}"
            for o in self.outcomes
            if o.status == "FAILED"
        )
        return [f"{n} x {text}" for text, n in counts.most_common(limit)]


def _shorten(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Environment:
    """The AWS simulator (one per process) shared by every plan, with the suite's bucket."""

    def __init__(self, seed: int = 7) -> None:
        from sync_provider.testing.aws import AwsSimulator

        self.sim = AwsSimulator(step_wall_s=0.15, bootstrap_wall_s=0.1, seed=seed)

    def __enter__(self) -> Environment:
        self.sim.start()
        self.sim.create_bucket(BUCKET)
        return self

    def __exit__(self, *exc: object) -> None:
        self.sim.stop()


def split_loops(total: int, plans: list[FaultPlan]) -> list[tuple[FaultPlan, int]]:
    """Share ``total`` loops between ``plans`` as evenly as possible (earlier plans get the rest)."""
    if not plans:
        return []
    base, rest = divmod(total, len(plans))
    return [(plan, base + (1 if i < rest else 0)) for i, plan in enumerate(plans) if base + (i < rest)]


@contextlib.contextmanager
def _expiring_tokens(server: Any, every_s: float | None) -> Iterator[None]:
    stop = threading.Event()

    def expire() -> None:
        while not stop.wait(every_s):
            server.expire_tokens()

    thread = threading.Thread(target=expire, name="expire-tokens", daemon=True) if every_s else None
    if thread is not None:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(5)


def _run_all(function: Any, context: Any, loops: int, concurrency: int, plan: FaultPlan) -> list[LoopOutcome]:
    def one(index: int) -> LoopOutcome:
        try:
            outcome: LoopOutcome = function(context, index)
        except Exception as exc:  # a defect of the harness or the core outside any step
            outcome = LoopOutcome(plan.platform, plan.name, index, clear=False, step="harness")
            outcome.error_type, outcome.message = type(exc).__name__, str(exc)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"loop-{plan.name}") as pool:
        return list(pool.map(one, range(loops)))


def _projects(settings: SyncSettings, plan: FaultPlan, loops: int, location: str) -> list[str]:
    product = "aws-emr" if plan.platform == "emr" else "aws-databricks"
    with SyncClient(settings, timeout=(2.0, 10.0)) as admin:
        return [
            create_project(f"rel-{plan.name}-{i}", product, cluster_log_url=location, client=admin)
            .unwrap()
            .id
            for i in range(loops)
        ]


def _prediction_figures(server: Any, platform: Platform) -> tuple[int, int, int]:
    """``(duplicates, orphans, failed)`` of the plan's predictions.

    Duplicates hold an event log beyond the first per run; orphans never received one; failed ones
    received a log that Sync could not predict from (the loops' logs are good, so a failure means the
    core sent something other than the run's whole log).
    """
    with_log: Counter[str] = Counter()
    orphans = failed = 0
    for record in server.predictions():
        configs = record.get("configs") or {}
        cluster = configs.get("Cluster") if platform == "emr" else configs.get("cluster")
        key = str((cluster or {}).get("Id" if platform == "emr" else "cluster_id") or "?")
        if record.get("eventlog_url") or record.get("eventlog_path"):
            with_log[key] += 1
            failed += record.get("status") == "FAILURE"
        else:
            orphans += 1
    return sum(n - 1 for n in with_log.values() if n > 1), orphans, failed


def _emr_clusters(sim: Any, plan: FaultPlan) -> dict[str, tuple[str, str]]:
    """``cluster id -> (run id, state)`` of the plan's clusters."""
    client = sim.client("emr")
    found: dict[str, tuple[str, str]] = {}
    for page in client.get_paginator("list_clusters").paginate():
        for summary in page.get("Clusters", []):
            if not str(summary.get("Name", "")).startswith(f"rel-{plan.name}-"):
                continue
            cluster = client.describe_cluster(ClusterId=summary["Id"])["Cluster"]
            tags = {t["Key"]: t["Value"] for t in cluster.get("Tags", [])}
            found[summary["Id"]] = (tags.get("sync:run-id", "?"), cluster["Status"]["State"])
    return found


def _settle(check: Any, timeout_s: float = SETTLE_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        left = check()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def run_plan(
    plan: FaultPlan,
    loops: int,
    env: Environment,
    *,
    seed: int = 7,
    concurrency: int = 6,
    attempts: int = 3,
    retry_delay_s: float = 1.0,
) -> PlanResult:
    """Run ``loops`` loops of ``plan`` and count the outcome (see the module docstring)."""
    from sync_provider.testing.sync_api_server import LocalSyncServer

    started = time.monotonic()
    aws_stats = AwsFaultStats()
    server = LocalSyncServer(api_keys={KEY_ID: KEY_SECRET}, processing_delay_s=0.05, seed=seed)
    with server:
        settings = load_settings(KEY_ID, KEY_SECRET, server.url, env={})
        if plan.platform == "emr":
            location = f"s3://{BUCKET}/emr/{plan.name}"
            projects = _projects(settings, plan, loops, location)
            before = env.sim.run_job_flow_count()
            for rule in plan.sync:
                server.faults.add(**dataclasses.asdict(rule))
            emr_context = EmrContext(
                plan, seed, env.sim, settings, location, projects, aws_stats, attempts, retry_delay_s
            )
            with _expiring_tokens(server, plan.expire_tokens_every_s):
                outcomes = _run_all(run_emr_loop, emr_context, loops, concurrency, plan)
            result = PlanResult(plan, outcomes)
            result.faults_injected = sum(r.hits for r in server.faults.rules) + aws_stats.total
            server.faults.clear()

            def running() -> list[str]:
                return sorted(
                    c for c, (_, s) in _emr_clusters(env.sim, plan).items() if not s.startswith("TERMINATED")
                )

            result.left_running = _settle(running)
            clusters = _emr_clusters(env.sim, plan)
            per_run = Counter(run for run, _ in clusters.values())
            created = env.sim.run_job_flow_count() - before
            result.launches = len(per_run)
            result.duplicate_launches = max(sum(n - 1 for n in per_run.values()), created - len(per_run))
        else:
            from sync_provider.testing.databricks import LocalDatabricks

            location = (
                f"s3://{BUCKET}/dbx/{plan.name}"
                if plan.log_destination == "s3"
                else f"dbfs:/reliability/{plan.name}"
            )
            projects = _projects(settings, plan, loops, location)
            dbx = LocalDatabricks(
                token=DATABRICKS_TOKEN,
                phase_s=0.1,
                log_delivery_delay_s=plan.log_delivery_delay_s,
                seed=seed,
                s3_client=env.sim.client("s3") if plan.log_destination == "s3" else None,
                cluster_events=40,
            )
            with dbx:
                for rule in plan.sync:
                    server.faults.add(**dataclasses.asdict(rule))
                for rule in plan.databricks:
                    dbx.faults.add(**dataclasses.asdict(rule))
                dbx_context = DatabricksContext(
                    plan, seed, dbx, env.sim, settings, location, projects, aws_stats, attempts, retry_delay_s
                )
                with _expiring_tokens(server, plan.expire_tokens_every_s):
                    outcomes = _run_all(run_databricks_loop, dbx_context, loops, concurrency, plan)
                result = PlanResult(plan, outcomes)
                result.faults_injected = (
                    sum(r.hits for r in server.faults.rules)
                    + sum(r.hits for r in dbx.faults.rules)
                    + aws_stats.total
                )
                server.faults.clear()
                dbx.faults.clear()
                result.left_running = _settle(
                    lambda: (
                        [f"run {r}" for r in dbx.active_runs()]
                        + [f"cluster {c}" for c in dbx.running_clusters()]
                    )
                )
                with dbx.client(retries=2) as api:
                    names = Counter(str(run.get("run_name")) for run in list_runs(api))
                result.launches = len(names)
                result.duplicate_launches = max(
                    sum(n - 1 for n in names.values()), dbx.submit_count() - len(names)
                )
        figures = _prediction_figures(server, plan.platform)
        result.duplicate_predictions, result.orphan_predictions, result.failed_predictions = figures
    result.seconds = time.monotonic() - started
    return result


def run_suite(
    loops: int,
    *,
    platforms: tuple[Platform, ...] = ("emr", "databricks"),
    plan_names: list[str] | None = None,
    seed: int = 7,
    concurrency: int = 6,
    attempts: int = 3,
    retry_delay_s: float = 1.0,
    progress: Any = None,
) -> list[PlanResult]:
    """Run ``loops`` loops per platform, shared between that platform's plans."""
    results: list[PlanResult] = []
    with Environment(seed) as env:
        for platform in platforms:
            for plan, count in split_loops(loops, plans_for(platform, plan_names)):
                result = run_plan(
                    plan,
                    count,
                    env,
                    seed=seed,
                    concurrency=concurrency,
                    attempts=attempts,
                    retry_delay_s=retry_delay_s,
                )
                results.append(result)
                if progress is not None:
                    progress(result)
    return results


# ------------------------------------------------------------------------------------------ figures

COLUMNS = (
    "Plan",
    "Loops",
    "Completed",
    "Failed clearly",
    "Failed unclearly",
    "Duplicate predictions",
    "Orphan predictions",
    "Failed predictions",
    "Duplicate clusters/runs",
    "Left running",
    "Retries",
    "Reconciled",
    "Faults injected",
    "Time (s)",
)


def _row(name: str, results: list[PlanResult]) -> list[str]:
    return [
        name,
        str(sum(r.loops for r in results)),
        str(sum(r.completed for r in results)),
        str(sum(r.failed_clearly for r in results)),
        str(sum(r.failed_unclearly for r in results)),
        str(sum(r.duplicate_predictions for r in results)),
        str(sum(r.orphan_predictions for r in results)),
        str(sum(r.failed_predictions for r in results)),
        str(sum(r.duplicate_launches for r in results)),
        str(sum(len(r.left_running) for r in results)),
        str(sum(r.retries for r in results)),
        str(sum(r.reconciled for r in results)),
        str(sum(r.faults_injected for r in results)),
        f"{sum(r.seconds for r in results):.0f}",
    ]


def table_rows(results: list[PlanResult]) -> list[list[str]]:
    """One row per plan and a total per platform."""
    rows: list[list[str]] = []
    for platform in ("emr", "databricks"):
        chosen = [r for r in results if r.plan.platform == platform]
        if not chosen:
            continue
        rows += [_row(r.plan.name + (" (*)" if r.plan.known_issue else ""), [r]) for r in chosen]
        rows.append(_row(f"**{'EMR' if platform == 'emr' else 'Databricks'} total**", chosen))
    return rows


def markdown(columns: Sequence[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def rst_list_table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
    """The lines of an rst ``list-table`` (markdown bold dropped, ``(*)`` escaped in the first cells)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(columns), *rows]:
        lines.append("   * - " + row[0].replace("**", "").replace("(*)", r"\(*)"))
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines


def markdown_table(results: list[PlanResult]) -> str:
    """The figures as a markdown table."""
    return markdown(COLUMNS, table_rows(results))


def misses(results: list[PlanResult]) -> list[str]:
    """Every missed goal, ``plan: what``."""
    return [f"{r.plan.name}: {miss}" for r in results for miss in r.misses()]


def report(results: list[PlanResult], *, loops: int, seed: int) -> str:
    """The text ``python -m tests.reliability`` prints."""
    lines = [f"Reliability suite: {loops} loops per platform, seed {seed}", "", markdown_table(results), ""]
    known = [r.plan for r in results if r.plan.known_issue]
    for plan in known:
        lines.append(f"(*) {plan.name}: known issue: {plan.known_issue}")
    reasons = [(r.plan.name, r.failure_reasons()) for r in results if r.failure_reasons()]
    if reasons:
        lines += ["", "Failures (count x step: error: message):"]
        for name, items in reasons:
            lines += [f"  {name}:"] + [f"    {item}" for item in items]
    missed = misses(results)
    lines += ["", "Goals: " + ("all met." if not missed else "MISSED:")]
    lines += [f"  - {miss}" for miss in missed]
    return "\n".join(lines)


def machine() -> str:
    """The machine the figures were measured on, in one line."""
    return (
        f"{platform_module.system()} {platform_module.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform_module.python_version()}"
    )


def rst_figures(results: list[PlanResult], *, loops: int, seed: int, concurrency: int, seconds: float) -> str:
    """The generated figures block of ``docs/reliability.rst``."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    missed = misses(results)
    lines = [
        f"Measured on {today} by ``python -m tests.reliability --loops {loops} --seed {seed} --write-docs``",
        f"({concurrency} loops at a time; {machine()}; {seconds:.0f} s in all; times vary with the load",
        "of the machine, which other jobs shared).",
        "",
        *rst_list_table(COLUMNS, table_rows(results)),
    ]
    known = [r.plan for r in results if r.plan.known_issue]
    if known:
        lines.append("")
        lines += [rf"\(*) ``{p.name}``: known issue: {p.known_issue}." for p in known]
    lines.append("")
    if missed:
        lines.append("Goals missed:")
        lines.append("")
        lines += [f"- {_rst_text(m)}" for m in missed]
    else:
        lines.append("Every goal was met.")
    return "\n".join(lines)


def _rst_text(text: str) -> str:
    return text.replace("*", r"\*").replace("`", "'")


def rst_plans() -> str:
    """The generated fault-plan list of ``docs/reliability.rst``."""
    from tests.reliability.faults import PLANS

    lines: list[str] = []
    for plan in PLANS:
        lines.append(f"``{plan.name}``")
        lines.append(f"   {plan.summary[0].upper()}{plan.summary[1:]}.")
        lines.append("")
        lines += [f"   - {item}" for item in plan.describe()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, start: str, end: str, body: str) -> str:
    """Replace what is between the lines ``start`` and ``end`` (kept) with ``body``.

    :raises ValueError: when a marker is missing.
    """
    pattern = re.compile(rf"(^{re.escape(start)}\n)(.*?)(^{re.escape(end)}$)", re.S | re.M)
    if not pattern.search(text):
        raise ValueError(f"{DOCS} has no block between {start!r} and {end!r}")
    return pattern.sub(lambda m: m.group(1) + "\n" + body.rstrip() + "\n\n" + m.group(3), text, count=1)


def rst_corpus() -> str:
    """The generated table of the bad-input corpus: cases and known issues per category."""
    from tests.reliability.test_bad_inputs import AIRFLOW_CASES, CASES

    rows: dict[str, list[int]] = {}
    for case in [*CASES, *AIRFLOW_CASES]:
        row = rows.setdefault(case.category, [0, 0])
        row[0] += 1
        row[1] += case.known is not None
    totals = ("total", [sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values())])
    table = [[category, str(count), str(known)] for category, (count, known) in [*rows.items(), totals]]
    return "\n".join(rst_list_table(("Category", "Cases", "Known issues (xfail)"), table)) + "\n"


def write_docs(figures: str | None, kills: str | None = None, path: Path = DOCS) -> None:
    """Rewrite the blocks of the reliability page: the fault suite's figures (when given), the
    fault plans, the corpus table and the kill matrix (when given)."""
    text = path.read_text(encoding="utf-8")
    if figures is not None:
        text = replace_block(text, FIGURES_START, FIGURES_END, figures)
    if kills is not None:
        text = replace_block(text, KILLS_START, KILLS_END, kills)
    text = replace_block(text, PLANS_START, PLANS_END, rst_plans())
    text = replace_block(text, CORPUS_START, CORPUS_END, rst_corpus())
    path.write_text(text, encoding="utf-8")
