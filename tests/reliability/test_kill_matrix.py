"""The kill and crash matrix, one round (``make reliability`` runs three): every stage of the EMR and
Databricks loops, killed as Airflow kills a task and crashed as a dying worker does, in real child
processes against the stand-ins. The last test checks that the counters can fail at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.kills import (
    ACTIONS,
    LAUNCH_STAGES,
    PLATFORMS,
    STAGES,
    KillCase,
    KillEnvironment,
    KillOutcome,
    airflow_home,
    cases,
    kill_misses,
    kill_report,
    run_cases,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def env() -> Iterator[KillEnvironment]:
    with airflow_home(), KillEnvironment() as environment:
        yield environment


@pytest.fixture(scope="module")
def outcomes(env: KillEnvironment) -> list[KillOutcome]:
    return run_cases(env, cases(1), concurrency=8)


def test_every_stage_is_killed_and_crashed_on_both_platforms(outcomes: list[KillOutcome]) -> None:
    text = kill_report(outcomes, rounds=1)
    assert len(outcomes) == len(PLATFORMS) * len(STAGES) * len(ACTIONS), text
    assert all(o.reached for o in outcomes), text
    assert not kill_misses(outcomes), text


def test_a_killed_launch_ends_its_cluster_or_run_and_the_try(outcomes: list[KillOutcome]) -> None:
    killed = [o for o in outcomes if o.case.action == "kill" and o.case.stage in LAUNCH_STAGES]
    text = kill_report(outcomes, rounds=1)
    assert len(killed) == len(PLATFORMS) * len(LAUNCH_STAGES)
    assert all(o.launches <= 1 and not o.left_running for o in killed), text
    # The try ends by itself once on_kill ran: the supervisor never needs SIGKILL.
    assert not any(o.escalated for o in killed), text


def test_a_retry_after_a_crash_completes_with_one_cluster_or_run(outcomes: list[KillOutcome]) -> None:
    crashed = [o for o in outcomes if o.case.action == "crash"]
    text = kill_report(outcomes, rounds=1)
    assert all(o.retried and o.retry_completed for o in crashed), text
    assert all(o.launches == 1 and not o.left_running for o in crashed), text
    recorded = [o for o in crashed if o.case.stage in ("recorded", "prediction")]
    assert all(o.predictions_with_log == 1 for o in recorded), text


def test_the_counters_can_fail(env: KillEnvironment) -> None:
    """A launch task told not to cancel on kill leaves its run running, and the matrix says so."""
    (outcome,) = run_cases(
        env,
        [KillCase("databricks", "waiting", "kill", launch_overrides=(("cancel_on_kill", False),))],
        settle_s=1.0,  # the run lasts 30 s: no need to wait for it to end by itself
    )
    assert outcome.reached and outcome.left_running, outcome
    assert any("left running" in miss for miss in outcome.misses())
