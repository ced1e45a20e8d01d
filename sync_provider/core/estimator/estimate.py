"""Runtime and cost estimates of candidate clusters, and the choice per preference.

:func:`estimate` replays the recorded application (:class:`~.replay.Replayer`) onto every candidate
(:func:`~.cluster.generate_candidates`), prices each with the price table and picks one candidate
per preference (:func:`choose`):

* ``performance``: the fastest candidate (ties: the cheaper);
* ``economy``: the cheapest candidate (ties: the faster);
* ``balanced``: the candidate with the smallest **cost x runtime** (ties: the cheaper, then the
  faster). Minimising the product weighs relative changes equally: a candidate ``k`` times slower
  wins only when it is more than ``k`` times cheaper. The rule has no parameter and does not depend
  on units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.estimator.cluster import (
    Candidate,
    CandidateOptions,
    ClusterShape,
    databricks_candidate_configuration,
    emr_candidate_configuration,
    generate_candidates,
)
from sync_provider.core.estimator.replay import Replayer
from sync_provider.core.pricing import DEFAULT_PRICE_TABLE, PriceTable

if TYPE_CHECKING:
    from sync_provider.core.eventlog.summary import EventLogSummary

__all__ = [
    "BALANCED_RULE",
    "PREFERENCES",
    "CandidateEstimate",
    "Estimate",
    "Preference",
    "choose",
    "estimate",
]

Preference = Literal["performance", "balanced", "economy"]
PREFERENCES: tuple[Preference, ...] = ("performance", "balanced", "economy")

BALANCED_RULE = (
    "Preferences: performance = the fastest candidate (ties: the cheaper); economy = the cheapest "
    "(ties: the faster); balanced = the smallest cost x runtime (ties: the cheaper, then the faster): "
    "a candidate k times slower wins only when it is more than k times cheaper."
)


class CandidateEstimate(BaseModel):
    """One candidate cluster with its predicted runtime and cost.

    :param cluster: short description of the whole cluster.
    :param runtime_s: predicted runtime (monotone replay), seconds.
    :param cost_usd: predicted cost, USD.
    :param usd_per_hour: the cluster's price per hour.
    :param greedy_runtime_s: the plain greedy replay at ``slots`` (before the monotone envelope).
    :param critical_path_s: lower bound with unlimited slots.
    :param amdahl_s: lower bound with perfect parallelism on ``slots``.
    :param configuration: the configuration to submit (when the basis configuration was given).
    :param notes: what was changed in the configuration, and why.
    """

    model_config = ConfigDict(frozen=True)

    instance_type: str
    nodes: int
    slots: int
    factor: float
    cluster: str
    runtime_s: float
    cost_usd: float
    usd_per_hour: float
    greedy_runtime_s: float
    critical_path_s: float
    amdahl_s: float
    configuration: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)


class Estimate(BaseModel):
    """Estimates for every candidate, the choice per preference, and the assumptions behind them.

    :param recorded_runtime_s: the application's recorded duration.
    :param recorded_slots: the most executor cores the log shows at one time.
    :param replayed_runtime_s: the replay onto the recorded executor timeline (self-consistency check;
        see :meth:`~.replay.Replayer.replay_recorded`).
    :param replay_error: ``replayed / recorded - 1``.
    :param basis_vcpus: the basis workers' vCPUs (what candidate factors multiply).
    :param solutions: the chosen candidate per preference.
    :param assumptions: plain sentences: the method, its blind spots and the prices used.
    """

    model_config = ConfigDict(frozen=True)

    application_name: str | None
    platform: str
    basis: str
    basis_vcpus: int
    recorded_runtime_s: float
    recorded_slots: int
    replayed_runtime_s: float
    replay_error: float
    driver_s: float
    job_groups: int
    tasks: int
    candidates: list[CandidateEstimate]
    solutions: dict[Preference, CandidateEstimate]
    assumptions: list[str]
    price_table: str


def choose(candidates: list[CandidateEstimate]) -> dict[Preference, CandidateEstimate]:
    """Pick the candidate for each preference (see the module documentation for the rules).

    :param candidates: at least one candidate.
    :raises InvalidInputError: no candidates.
    """
    if not candidates:
        raise InvalidInputError("There are no candidates to choose from.")
    return {
        "performance": min(candidates, key=lambda c: (c.runtime_s, c.cost_usd)),
        "balanced": min(candidates, key=lambda c: (c.cost_usd * c.runtime_s, c.cost_usd, c.runtime_s)),
        "economy": min(candidates, key=lambda c: (c.cost_usd, c.runtime_s)),
    }


def _assumptions(
    replayer: Replayer,
    replayed: float,
    basis: ClusterShape,
    *,
    basis_vcpus: int,
    table: PriceTable,
    summary: Any,
) -> list[str]:
    recorded = replayer.recorded_runtime_s
    error = (replayed / recorded - 1) * 100 if recorded else 0.0
    master = "EMR master" if basis.platform == "emr" else "Databricks driver"
    on_master = (
        " also runs executors, as in the recorded run." if basis.executors_on_master else " runs no tasks."
    )
    delays = (
        f"Delays inside jobs that are not task time and do not depend on the cluster size are replayed as "
        f"recorded ({replayer.stage_delay_ms / 1000:.1f} s of stage delays in all, overlapping ones "
        f"included, and {replayer.tail_ms / 1000:.1f} s of job tails): a stage's tasks start only after "
        "the time its recording shows it waiting with a core idle (DAG and task scheduler delay, "
        "locality wait), and each job group ends as long after its last task as it did (result handling, "
        "output commit). Tasks start no earlier than the recorded executor start-up. These delays are "
        "assumed the same on every candidate."
        if replayer.recorded_delays
        else "Delays inside jobs that are not task time (scheduler and locality waits, executor start-up) "
        "are not replayed."
    )
    sentences = [
        f"Runtime is predicted by replaying the {replayer.tasks} recorded task attempts with their recorded "
        f"durations (finish minus launch) through the stage dependencies of each of the "
        f"{replayer.job_groups} job groups (jobs that overlapped in time) onto the candidate's executor "
        f"slots, list-scheduled FIFO; the {replayer.driver_ms / 1000:.1f} s the driver spent outside jobs "
        "is added unchanged.",
        delays,
        (
            f"Check at the recorded size: replaying onto the recorded executor timeline (executors added "
            f"and removed as recorded, {replayer.recorded_slots} executor cores at most) gives "
            f"{replayed:.1f} s for the recorded {recorded:.1f} s ({error:+.1f} %); candidates have a fixed "
            "number of slots."
            if replayer.recorded_slots
            else "The event log shows no executor cores: the replay is not checked at the recorded size."
        ),
        "Task durations are reused as recorded: every instance type of the family is assumed to have the "
        "same per-core speed, and shuffle, I/O and network times are assumed not to change with the "
        "cluster size.",
        "Task counts are fixed: partition counts that depend on the cluster (spark.default.parallelism, "
        "file split sizes, adaptive query execution coalescing) would change on another cluster; this is "
        "not modelled.",
        "No memory model: memory pressure, spills, garbage collection and out-of-memory failures on "
        "smaller executors or nodes are not predicted.",
        f"One task per core: executors are assumed to fill every worker vCPU; the {master}{on_master}",
        "Failed and killed task attempts and speculative copies are replayed as they ran (they held a "
        "slot in the recorded run).",
        "Runtime is monotone in the slots: greedy list scheduling can get slower with more slots "
        "(Graham's anomalies), so each job group takes the shortest schedule found for any slot count "
        "up to the candidate's among those evaluated (a larger cluster can leave slots idle).",
        "Cluster start-up and shutdown times are excluded from runtime and cost (before the application "
        "starts and after it ends, as in the recorded runtime).",
    ]
    if replayer.recorded_slots and replayer.recorded_slots != basis_vcpus:
        sentences.append(
            f"The recorded run used {replayer.recorded_slots} executor cores on {basis_vcpus} worker vCPUs; "
            "candidates assume executors use every vCPU."
        )
    if replayer.end_inferred:
        sentences.append(
            "The event log has no ApplicationEnd event; the recorded runtime runs to its last event."
        )
    properties = getattr(summary, "spark_properties", {}) or {}
    if str(properties.get("spark.dynamicAllocation.enabled", "")).lower() == "true":
        sentences.append(
            "The recorded run used dynamic allocation: the check at the recorded size follows its executors "
            "as they were added and removed, but candidates assume a fixed number of slots for the whole run."
        )
    if basis.spot_workers():
        sentences.append(
            f"Workers run on spot capacity as in the basis, priced at {table.spot_discount:g} x the "
            "on-demand EC2 price (a model: there is no offline spot price); spot interruptions are not "
            "modelled."
        )
    else:
        sentences.append("Workers are priced on-demand, as in the basis; spot interruptions do not arise.")
    sentences.append(
        f"Prices: {table.region} list prices as of {table.as_of.isoformat()} "
        f"(sources: {', '.join(table.sources)}); cost = runtime x the hourly price of every node "
        + (
            "(EC2 + EMR fee, master included)"
            if basis.platform == "emr"
            else f"(EC2 + DBU/h x $/DBU for {basis.plan} {basis.compute}, driver included)"
        )
        + ", plus gp2 EBS. Verify before budgeting."
    )
    sentences.append(BALANCED_RULE)
    return sentences


def estimate(
    summary: EventLogSummary,
    basis: ClusterShape,
    *,
    basis_configuration: dict[str, Any] | None = None,
    price_table: PriceTable = DEFAULT_PRICE_TABLE,
    options: CandidateOptions | None = None,
    replayer: Replayer | None = None,
) -> Estimate:
    """Estimate runtime and cost of candidate clusters around ``basis`` and choose per preference.

    :param summary: the recorded application's event-log summary.
    :param basis: the recorded cluster (see :func:`~.cluster.emr_cluster_shape`,
        :func:`~.cluster.databricks_cluster_shape`).
    :param basis_configuration: the basis RunJobFlow request or Databricks cluster spec; when given,
        every candidate carries its own configuration.
    :param price_table: prices (dated; load your own with
        :func:`~sync_provider.core.pricing.load_price_table`).
    :param options: candidate generation options.
    :param replayer: a :class:`~.replay.Replayer` already built from ``summary`` (saves its set-up).
    :raises InvalidInputError: unknown instance type (the message names it), no application span, no
        candidate.
    """
    replayer = replayer or Replayer(summary)
    table = price_table
    basis_vcpus = basis.worker_vcpus(table)
    candidates: list[Candidate] = generate_candidates(basis, table, options)
    results = replayer.replay(c.slots for c in candidates)
    estimates = []
    for candidate in candidates:
        result = results[candidate.slots]
        configuration: dict[str, Any] | None = None
        notes: list[str] = []
        if basis_configuration is not None:
            if basis.platform == "emr":
                configuration, notes = emr_candidate_configuration(
                    basis_configuration, basis, candidate, table
                )
            else:
                configuration, notes = databricks_candidate_configuration(basis_configuration, candidate)
        estimates.append(
            CandidateEstimate(
                instance_type=candidate.instance_type,
                nodes=candidate.nodes,
                slots=candidate.slots,
                factor=candidate.factor,
                cluster=candidate.shape.describe(),
                runtime_s=result.runtime_s,
                cost_usd=candidate.shape.cost_usd(result.runtime_s, table),
                usd_per_hour=candidate.shape.cost_usd(3600.0, table),
                greedy_runtime_s=result.greedy_runtime_s,
                critical_path_s=result.critical_path_s,
                amdahl_s=result.amdahl_s,
                configuration=configuration,
                notes=notes,
            )
        )
    recorded = replayer.recorded_runtime_s
    replayed = replayer.replay_recorded().runtime_s if replayer.recorded_slots else 0.0
    return Estimate(
        application_name=replayer.application_name,
        platform=basis.platform,
        basis=basis.describe(),
        basis_vcpus=basis_vcpus,
        recorded_runtime_s=recorded,
        recorded_slots=replayer.recorded_slots,
        replayed_runtime_s=replayed,
        replay_error=(replayed / recorded - 1) if recorded else 0.0,
        driver_s=replayer.driver_ms / 1000.0,
        job_groups=replayer.job_groups,
        tasks=replayer.tasks,
        candidates=estimates,
        solutions=choose(estimates),
        assumptions=_assumptions(
            replayer, replayed, basis, basis_vcpus=basis_vcpus, table=table, summary=summary
        ),
        price_table=f"{table.region}, as of {table.as_of.isoformat()}",
    )
