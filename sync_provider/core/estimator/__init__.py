"""Honest runtime and cost estimates for Spark applications on other clusters.

The estimator replays the recorded task durations of one event log through its stage dependencies
onto candidate clusters (:class:`Replayer`), prices each candidate with a dated
:class:`~sync_provider.core.pricing.PriceTable`, and chooses one per preference (:func:`estimate`).
Everything here is plain Python (pydantic and the standard library); importing it is cheap.

>>> from sync_provider.core.eventlog import summarize
>>> from sync_provider.core.estimator import emr_cluster_shape, estimate
>>> result = estimate(summarize(path), emr_cluster_shape(run_job_flow_request))  # doctest: +SKIP
>>> result.solutions["balanced"].runtime_s  # doctest: +SKIP
"""

from __future__ import annotations

from sync_provider.core.estimator.cluster import (
    Candidate,
    CandidateOptions,
    ClusterShape,
    NodeSet,
    databricks_candidate_configuration,
    databricks_cluster_shape,
    emr_candidate_configuration,
    emr_cluster_shape,
    generate_candidates,
    instance_family,
)
from sync_provider.core.estimator.estimate import (
    BALANCED_RULE,
    PREFERENCES,
    CandidateEstimate,
    Estimate,
    Preference,
    choose,
    estimate,
)
from sync_provider.core.estimator.replay import Replayer, ReplayResult

__all__ = [
    "BALANCED_RULE",
    "PREFERENCES",
    "Candidate",
    "CandidateEstimate",
    "CandidateOptions",
    "ClusterShape",
    "Estimate",
    "NodeSet",
    "Preference",
    "ReplayResult",
    "Replayer",
    "choose",
    "databricks_candidate_configuration",
    "databricks_cluster_shape",
    "emr_candidate_configuration",
    "emr_cluster_shape",
    "estimate",
    "generate_candidates",
    "instance_family",
]
