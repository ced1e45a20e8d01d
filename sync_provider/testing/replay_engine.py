"""A prediction engine for the local Sync API stand-in that replays the recorded run.

:class:`ReplayEngine` implements :class:`~sync_provider.testing.engines.PredictionEngine`. The basis
is what :class:`~sync_provider.testing.engines.BasisEngine` reports (the recorded runtime and its
cost, the configuration rebuilt from the cluster report); the solutions come from
:func:`sync_provider.core.estimator.estimate`: the recorded task durations replayed onto candidate
clusters around the basis, priced with the same :class:`~sync_provider.core.pricing.PriceTable`.
Every configuration carries its ``assumptions`` (method, blind spots, prices) as plain sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.estimator import (
    PREFERENCES,
    CandidateEstimate,
    CandidateOptions,
    ClusterShape,
    Estimate,
    databricks_cluster_shape,
    emr_cluster_shape,
    estimate,
)
from sync_provider.core.pricing import DEFAULT_PRICE_TABLE, PriceTable
from sync_provider.testing.engines import (
    BASIS_ONLY_ASSUMPTION,
    DATABRICKS_PRODUCT,
    EMR_PRODUCT,
    BasisEngine,
    PredictionRequest,
)

__all__ = ["ReplayEngine", "executors_on_emr_master"]


def _default_summarize(path: Path) -> Any:
    from sync_provider.core.eventlog import summarize

    return summarize(path)


def executors_on_emr_master(report: dict[str, Any], summary: Any) -> bool:
    """Return whether the event log shows executors on the EMR cluster's master node.

    The master's private DNS name and IP address come from the report's ``Instances`` that belong to
    the MASTER instance group or fleet; the executors' hosts from the log.

    :param report: an EMR cluster report.
    :param summary: the event-log summary (``worker_executors()``).
    """
    cluster = report.get("Cluster") or {}
    masters = {
        entry.get("Id")
        for entry in [*(cluster.get("InstanceGroups") or []), *(cluster.get("InstanceFleets") or [])]
        if isinstance(entry, dict)
        and "MASTER" in (str(entry.get("InstanceGroupType", "")), str(entry.get("InstanceFleetType", "")))
    }
    names: set[str] = set()
    for instance in report.get("Instances") or []:
        if not isinstance(instance, dict):
            continue
        if instance.get("InstanceGroupId") in masters or instance.get("InstanceFleetId") in masters:
            names.update(str(instance[k]) for k in ("PrivateDnsName", "PrivateIpAddress") if instance.get(k))
    hosts = {str(e.host) for e in summary.worker_executors() if e.host}
    return bool(names & hosts)


def _solution(candidate: CandidateEstimate, result: Estimate, preference: str) -> dict[str, Any]:
    assumptions = [
        f"This {preference} solution: {candidate.cluster} ({candidate.slots} executor slots), "
        f"predicted runtime {candidate.runtime_s:.1f} s (lower bounds: critical path "
        f"{candidate.critical_path_s:.1f} s, perfect parallelism {candidate.amdahl_s:.1f} s), "
        f"cost ${candidate.cost_usd:.4f} at "
        f"${candidate.usd_per_hour:.4f}/h.",
        f"Chosen among {len(result.candidates)} candidates: "
        + "; ".join(
            f"{c.nodes} x {c.instance_type}: {c.runtime_s / 60:.2f} min, ${c.cost_usd:.3f}"
            for c in result.candidates
        )
        + ".",
        *candidate.notes,
        *result.assumptions,
    ]
    return {
        "configuration": candidate.configuration,
        "metrics": {"runtime": candidate.runtime_s / 60.0, "cost": candidate.cost_usd},
        "assumptions": assumptions,
    }


class ReplayEngine:
    """Predicts runtime and cost of candidate clusters by replaying the recorded task durations.

    ``basis`` is the recorded run (as :class:`~sync_provider.testing.engines.BasisEngine` reports
    it); ``solutions`` are the candidates chosen by :func:`sync_provider.core.estimator.choose`.

    :param price_table: prices for the basis and the candidates.
    :param options: candidate generation options (nine candidates around the basis by default).
    :param summarize: reads an event log and returns an
        :class:`~sync_provider.core.eventlog.EventLogSummary` (default
        :func:`sync_provider.core.eventlog.summarize`).
    """

    def __init__(
        self,
        price_table: PriceTable = DEFAULT_PRICE_TABLE,
        *,
        options: CandidateOptions | None = None,
        summarize: Callable[[Path], Any] | None = None,
    ) -> None:
        self.price_table = price_table
        self.options = options or CandidateOptions()
        self._summarize = summarize or _default_summarize

    def estimate(
        self, request: PredictionRequest, summary: Any, basis_configuration: dict[str, Any]
    ) -> Estimate:
        """Return the estimator's full result for ``request`` (all candidates, not only the chosen).

        :param request: the prediction request.
        :param summary: the event-log summary of ``request.eventlog_path``.
        :param basis_configuration: the basis configuration (RunJobFlow request or cluster spec).
        :raises InvalidInputError: unreadable basis cluster, unknown instance type, no candidate.
        """
        report = request.cluster_report
        shape: ClusterShape
        if request.product_code == EMR_PRODUCT:
            shape = emr_cluster_shape(basis_configuration)
            if executors_on_emr_master(report, summary):
                shape = shape.model_copy(update={"executors_on_master": True})
        elif request.product_code == DATABRICKS_PRODUCT:
            shape = databricks_cluster_shape(
                basis_configuration,
                plan=str(report.get("plan_type") or "Premium"),
                compute=str(report.get("compute_type") or "Jobs Compute"),
            )
        else:
            raise InvalidInputError(
                f"Unknown product code {request.product_code!r}: "
                f"use {EMR_PRODUCT!r} or {DATABRICKS_PRODUCT!r}."
            )
        return estimate(
            summary,
            shape,
            basis_configuration=basis_configuration,
            price_table=self.price_table,
            options=self.options,
        )

    def predict(self, request: PredictionRequest) -> dict[str, Any]:
        """Return the prediction body for ``request`` (see ``PredictionEngine``).

        :param request: the prediction to compute.
        :raises InvalidInputError: unknown product, unreadable report, unknown instance type (named
            in the message), no application span.
        :raises sync_provider.core.errors.EventLogError: the event log cannot be read.
        """
        summary = self._summarize(Path(request.eventlog_path))
        body = BasisEngine(self.price_table, summarize=lambda _path: summary).predict(request)
        basis = body["basis"]
        result = self.estimate(request, summary, basis["configuration"])
        basis["assumptions"] = [a for a in basis["assumptions"] if a != BASIS_ONLY_ASSUMPTION]
        check = (
            "Basis metrics are the recorded run. Replaying its tasks onto the recorded "
            f"{result.recorded_slots} executor cores gives {result.replayed_runtime_s:.1f} s for the "
            f"recorded {result.recorded_runtime_s:.1f} s ({result.replay_error * 100:+.1f} %)."
            if result.recorded_slots
            else "Basis metrics are the recorded run. Replaying its tasks is not checked: the log shows "
            "no executor cores."
        )
        basis["assumptions"].insert(0, check)
        return {
            "application_name": body["application_name"],
            "basis": basis,
            "solutions": {
                preference: _solution(result.solutions[preference], result, preference)
                for preference in PREFERENCES
            },
        }
