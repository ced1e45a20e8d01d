"""A small, fast version of the closed-loop fault suite (``make reliability`` runs the full one).

Four EMR and four Databricks loops under the ``*-mixed`` plans (Sync API bursts, drops, latency
spikes and token expiry; AWS throttling, connection errors and S3 failures; Databricks bursts and
drops; late event logs), and three loops of two plans that once showed product issues, must meet
every goal. The last tests check that the counters can fail at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync_provider.core.errors import EMRError
from tests.reliability.faults import FaultPlan, plan_named
from tests.reliability.loops import LoopOutcome, Orchestrator, StepFailed, is_clear
from tests.reliability.suite import Environment, PlanResult, misses, report, run_plan

SEED = 7
LOOPS = 4


@pytest.fixture(scope="module")
def env() -> Iterator[Environment]:
    with Environment(SEED) as environment:
        yield environment


def run(env: Environment, name: str, loops: int = LOOPS) -> PlanResult:
    return run_plan(plan_named(name), loops, env, seed=SEED, concurrency=loops)


@pytest.mark.parametrize(
    ("name", "loops"),
    [
        ("emr-mixed", LOOPS),
        ("dbx-mixed", LOOPS),
        # Regression tests of issues the suite found (fixed in 1679bda): a lost RunJobFlow answer
        # started a second cluster; a failed presigned POST orphaned its prediction.
        ("emr-lost-runjobflow", 3),
        ("dbx-upload-failures", 3),
    ],
)
def test_loops_under_faults_meet_every_goal(env: Environment, name: str, loops: int) -> None:
    result = run(env, name, loops)

    text = report([result], loops=loops, seed=SEED)
    assert not misses([result]), text
    assert result.loops == loops and result.completed + result.failed_clearly == loops, text
    assert result.faults_injected >= loops, "the plan injected (almost) no faults: " + text
    assert result.completed >= 1, "no loop completed, so the loops prove nothing: " + text
    assert result.launches >= 2 * result.completed, text


# ------------------------------------------------------------------ the counters can fail at all


def test_a_raw_exception_is_an_unclear_failure_and_is_not_retried() -> None:
    calls: list[int] = []

    def step(attempt: int, _previous: object) -> None:
        calls.append(attempt)
        raise KeyError("Cluster")

    with pytest.raises(StepFailed) as failed:
        Orchestrator(attempts=3, retry_delay_s=0).run("record_run", step)

    assert calls == [1]
    assert not is_clear(failed.value.error)
    outcome = LoopOutcome("emr", "plan", 0, clear=is_clear(failed.value.error))
    assert outcome.label == "FAILED unclearly"


def test_a_typed_error_is_retried_and_clear_only_when_it_names_the_operation() -> None:
    calls: list[int] = []

    def step(attempt: int, _previous: object) -> None:
        calls.append(attempt)
        raise EMRError("EMR RunJobFlow for run r-1 failed (ThrottlingException): Rate exceeded")

    with pytest.raises(StepFailed) as failed:
        Orchestrator(attempts=3, retry_delay_s=0).run("launch", step)

    assert calls == [1, 2, 3]
    assert is_clear(failed.value.error)
    assert not is_clear(EMRError("failed"))
    assert not is_clear(EMRError(""))


def test_a_plan_with_a_goal_miss_is_reported_as_one() -> None:
    result = PlanResult(FaultPlan("p", "emr", "test"), [LoopOutcome("emr", "p", 0, status="COMPLETED")])
    assert misses([result]) == []
    result.duplicate_launches = 1
    result.left_running = ["j-1"]
    result.outcomes.append(LoopOutcome("emr", "p", 1, clear=False))
    assert misses([result]) == [
        "p: 1 loop(s) failed unclearly",
        "p: 1 duplicate cluster(s)",
        "p: left running: j-1",
    ]
