"""Kills that land while a launch task is starting its cluster or run, and retries of a try that died
before it could record what it started (found by the kill and crash matrix, tests/reliability/kills.py).

Airflow 3.3's task runner calls ``on_kill()`` from its SIGTERM handler and lets ``execute`` go on
until the SIGKILL five seconds later. These tests call ``on_kill()`` in the middle of the launch call,
the way the handler interrupts it.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from sync_provider.operators.databricks import SyncDatabricksSubmitRunOperator
from sync_provider.operators.emr import STATE_KEY, SyncEmrCreateJobFlowOperator
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow.databricks_fixtures import DBFS, SPEC, TASK, dbx, fast_hook_retries
from tests.airflow.databricks_fixtures import FakeTI as DbxTI
from tests.airflow.databricks_fixtures import make_context as dbx_context
from tests.airflow.emr_fixtures import (
    LOCATION,
    FakeStateStore,
    FakeTI,
    job_flow,
    make_context,
    sim,
    simulator,
)

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "fast_hook_retries", "sim", "simulator"]  # fixtures imported for this module

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "timeout": 30}


def emr_op(**kwargs: Any) -> SyncEmrCreateJobFlowOperator:
    values: dict[str, Any] = {
        "task_id": "launch",
        "project_id": "11111111-2222-4333-8444-555555555555",
        "project_location": LOCATION,
        "job_flow_overrides": job_flow(keep_alive=True),
        "emr_conn_id": None,
        "wait_for_completion": True,
        **FAST,
    }
    values.update(kwargs)
    return SyncEmrCreateJobFlowOperator(**values)


def kill_during(monkeypatch: pytest.MonkeyPatch, module: str, name: str, op: Any, *, after: bool) -> None:
    """Make ``module.name`` run ``op.on_kill()`` before it sends its call, or after it was answered."""
    import importlib

    target = importlib.import_module(module)
    real = getattr(target, name)

    def patched(*args: Any, **kwargs: Any) -> Any:
        if not after:
            op.on_kill()
        result = real(*args, **kwargs)
        if after:
            op.on_kill()
        return result

    monkeypatch.setattr(target, name, patched)


@pytest.mark.parametrize("after", [False, True], ids=["before-the-call", "before-the-answer-is-seen"])
def test_emr_a_kill_during_the_launch_terminates_the_cluster_and_ends_the_try(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    op = emr_op()
    kill_during(monkeypatch, "sync_provider.core.emr", "launch_job_flow", op, after=after)
    with pytest.raises(AirflowException, match=r"killed while launching EMR cluster j-\w+; .*terminated"):
        op.execute(make_context(FakeTI(), FakeStateStore()))
    assert sim.run_job_flow_count() == 1
    (cluster_id,) = [c["Id"] for c in sim.client("emr").list_clusters()["Clusters"]]
    assert sim.wait_until(cluster_id, "TERMINATED") == "TERMINATED"


def test_emr_a_retry_adopts_a_finished_cluster_the_crashed_try_left_no_record_of(sim: AwsSimulator) -> None:
    store = FakeStateStore()
    first = emr_op(job_flow_overrides=job_flow(), wait_for_completion=False)
    cluster_id = first.execute(make_context(FakeTI(), None))  # launched; the store was never written
    sim.wait_until(cluster_id, "TERMINATED")  # the run finished while no worker watched

    retry_ti = FakeTI()
    retry_ti.try_number = 2
    assert emr_op(job_flow_overrides=job_flow()).execute(make_context(retry_ti, store)) == cluster_id
    assert sim.run_job_flow_count() == 1
    assert store.get(STATE_KEY)["cluster_id"] == cluster_id and store.get(STATE_KEY)["done"] is True


def test_emr_a_retry_launches_anew_when_the_unrecorded_cluster_failed(sim: AwsSimulator) -> None:
    sim.fail_next("STEP_FAILURE", "boom")
    first_ti = FakeTI()
    failed = emr_op(job_flow_overrides=job_flow(), wait_for_completion=False).execute(make_context(first_ti))
    sim.wait_until(failed, ("TERMINATED", "TERMINATED_WITH_ERRORS"))

    retry_ti = FakeTI()
    retry_ti.try_number = 2
    store = FakeStateStore()
    second = emr_op(job_flow_overrides=job_flow()).execute(make_context(retry_ti, store))
    assert second != failed and sim.run_job_flow_count() == 2
    assert retry_ti.xcoms["sync_run_id"] != first_ti.xcoms["sync_run_id"]
    assert store.get(STATE_KEY)["generation"] == 1


def test_emr_a_first_try_never_adopts_an_ended_cluster(sim: AwsSimulator) -> None:
    """Without a retry (try 1) a cleared task runs anew, as before: only running clusters re-attach."""
    first = emr_op(job_flow_overrides=job_flow(), wait_for_completion=False).execute(make_context(FakeTI()))
    sim.wait_until(first, "TERMINATED")
    second = emr_op(job_flow_overrides=job_flow(), wait_for_completion=False).execute(
        make_context(FakeTI(), FakeStateStore())
    )
    assert second != first and sim.run_job_flow_count() == 2
    sim.wait_until(second, "TERMINATED")


@pytest.mark.parametrize("after", [False, True], ids=["before-the-call", "before-the-answer-is-seen"])
def test_databricks_a_kill_during_the_submission_cancels_the_run_and_ends_the_try(
    dbx: LocalDatabricks, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    op = SyncDatabricksSubmitRunOperator(
        task_id="submit",
        task=TASK,
        new_cluster=SPEC,
        project_id="proj-1",
        project_location=DBFS,
        databricks_retry_delay=0.01,
        poll_interval=0.05,
        max_poll_interval=0.1,
    )
    kill_during(monkeypatch, "sync_provider.core.databricks", "submit_run", op, after=after)
    with pytest.raises(AirflowException, match=r"killed while submitting Databricks run \d+; .*cancelled"):
        op.execute(dbx_context(DbxTI()))
    assert dbx.submit_count() == 1
    assert not dbx.active_runs()
