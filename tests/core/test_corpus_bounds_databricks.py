"""Databricks worker bounds the bad-input corpus found missing (pure: no workspace)."""

from __future__ import annotations

from typing import Any

import pytest

from sync_provider.core.databricks import prepare_cluster_spec, validate_cluster_spec
from sync_provider.core.databricks.clusters import MAX_WORKERS
from sync_provider.core.errors import InvalidInputError

BASE: dict[str, Any] = {"spark_version": "13.3.x-scala2.12", "node_type_id": "m5.xlarge"}


def test_the_bound_is_a_hundred_thousand_workers() -> None:
    assert MAX_WORKERS == 100_000


@pytest.mark.parametrize(
    ("workers", "problem"),
    [
        (0, None),
        (MAX_WORKERS, None),
        (MAX_WORKERS + 1, "num_workers must be at most 100000 (got 100001)"),
        (10**9, "num_workers must be at most 100000 (got 1000000000)"),
        (-1, "num_workers must be a whole number >= 0 (got -1)"),
    ],
)
def test_num_workers_just_inside_and_outside_the_bounds(workers: int, problem: str | None) -> None:
    problems = validate_cluster_spec({**BASE, "num_workers": workers})
    if problem is None:
        assert problems == []
    else:
        (only,) = problems
        assert only.startswith(problem), only
        if workers > MAX_WORKERS:
            assert "check the number for extra digits" in only


@pytest.mark.parametrize(
    ("low", "high", "needles"),
    [
        (0, MAX_WORKERS, []),
        (MAX_WORKERS, MAX_WORKERS, []),
        (1, MAX_WORKERS + 1, ["autoscale.max_workers must be at most 100000 (got 100001)"]),
        (
            MAX_WORKERS + 1,
            MAX_WORKERS + 2,
            [
                "autoscale.min_workers must be at most 100000 (got 100001)",
                "autoscale.max_workers must be at most 100000 (got 100002)",
            ],
        ),
        (MAX_WORKERS + 1, 2, ["autoscale.min_workers must be at most 100000", "is larger than"]),
    ],
)
def test_autoscale_bounds_just_inside_and_outside(low: int, high: int, needles: list[str]) -> None:
    problems = validate_cluster_spec({**BASE, "autoscale": {"min_workers": low, "max_workers": high}})
    assert len(problems) == len(needles), problems
    for needle, problem in zip(needles, problems, strict=True):
        assert needle in problem


def test_every_problem_comes_in_one_typed_error_before_anything_is_sent() -> None:
    spec = {**BASE, "num_workers": 10**9, "spark_version": 7}
    with pytest.raises(InvalidInputError) as raised:
        prepare_cluster_spec(spec, project_id="p-1", project_location="dbfs:/sync", run_id="r-1")
    message = raised.value.message
    assert "2 problems" in message
    assert "num_workers must be at most 100000 (got 1000000000)" in message
    assert "spark_version must be a string" in message
