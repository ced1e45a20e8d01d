"""SyncEmrClusterSensor: poke and deferrable modes against moto's server (through the AWS simulator)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, TaskDeferred

from sync_provider.sensors.emr import SyncEmrClusterSensor
from sync_provider.testing.aws import AwsSimulator
from sync_provider.triggers.emr import SyncEmrClusterTrigger
from tests.airflow.emr_fixtures import FakeTI, job_flow, make_context, sim, simulator

pytestmark = pytest.mark.airflow
__all__ = ["sim", "simulator"]  # fixtures imported for this module


def start(sim: AwsSimulator, name: str = "etl", **kwargs: Any) -> str:
    request = job_flow(name, **kwargs)
    request["Configurations"] = []
    return str(sim.client("emr").run_job_flow(**request)["JobFlowId"])


def sensor(cluster_id: str, **kwargs: Any) -> SyncEmrClusterSensor:
    values: dict[str, Any] = {"task_id": "wait", "poke_interval": 0.05, "timeout": 30}
    values.update(kwargs)
    return SyncEmrClusterSensor(cluster_id=cluster_id, **values)


def test_template_fields_and_init() -> None:
    op = sensor("{{ ti.xcom_pull('launch') }}")
    assert op.cluster_id == "{{ ti.xcom_pull('launch') }}"
    assert set(SyncEmrClusterSensor.template_fields) == {"cluster_id", "aws_conn_id", "region_name"}


def test_poke_mode_waits_for_all_steps_and_returns_the_id(sim: AwsSimulator) -> None:
    cluster_id = start(sim, steps=2)
    ti = FakeTI()
    assert sensor(cluster_id).execute(make_context(ti)) == cluster_id
    assert sim.cluster_state(cluster_id) == "TERMINATED"
    assert ti.xcoms["sync_emr_cluster"]["url"].endswith(f"#/clusterDetails/{cluster_id}")


@pytest.mark.parametrize(
    ("failure", "needles"),
    [
        (
            "STEP_FAILURE",
            [
                "TERMINATED_WITH_ERRORS (STEP_FAILURE: Shut down as step failed)",
                "step 'step-0'",
                "Job aborted",
            ],
        ),
        ("BOOTSTRAP_FAILURE", ["TERMINATED_WITH_ERRORS (BOOTSTRAP_FAILURE: On the master instance"]),
        (
            "USER_REQUEST",
            ["TERMINATED (USER_REQUEST: Terminated by user request)", "before all its steps completed"],
        ),
    ],
)
def test_every_failure_fails_at_once_naming_state_reason_and_step(
    sim: AwsSimulator, failure: Any, needles: list[str]
) -> None:
    if failure == "USER_REQUEST":
        cluster_id = start(sim, keep_alive=True)
        sim.wait_until(cluster_id, "WAITING")
        sim.client("emr").terminate_job_flows(JobFlowIds=[cluster_id])
    else:
        sim.fail_next(failure, "Job aborted." if failure == "STEP_FAILURE" else None)
        cluster_id = start(sim)
    with pytest.raises(AirflowFailException) as info:
        sensor(cluster_id).execute(make_context())
    for needle in [f"EMR cluster {cluster_id} (etl) ended", *needles]:
        assert needle in str(info.value)


def test_a_waiting_cluster_is_not_finished(sim: AwsSimulator) -> None:
    cluster_id = start(sim, keep_alive=True)
    with pytest.raises(AirflowSensorTimeout):
        sensor(cluster_id, timeout=1).execute(make_context())
    assert sim.cluster_state(cluster_id) == "WAITING"  # the sensor does not own the cluster
    sim.terminate_all()


def test_unknown_and_empty_cluster_ids(sim: AwsSimulator) -> None:
    with pytest.raises(
        AirflowException, match=r"EMR DescribeCluster for cluster j-NOPE failed \(InvalidRequestException\)"
    ):
        sensor("j-NOPE").execute(make_context())
    with pytest.raises(AirflowException, match="cluster_id is empty"):
        sensor("").execute(make_context())


def test_deferrable_defers_with_the_sensor_timeout_and_resumes(sim: AwsSimulator) -> None:
    cluster_id = start(sim, keep_alive=False, steps=2)
    op = sensor(
        cluster_id,
        deferrable=True,
        poke_interval=0.05,
        max_poll_interval=0.2,
        timeout=900,
        region_name="us-east-1",
    )
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    deferred = info.value
    assert deferred.method_name == "execute_complete" and deferred.timeout == timedelta(seconds=960)
    trigger = deferred.trigger
    assert isinstance(trigger, SyncEmrClusterTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["terminate_on_kill"] is False  # the sensor watches; it does not own the cluster
    assert (kwargs["cluster_id"], kwargs["aws_conn_id"], kwargs["region_name"]) == (
        cluster_id,
        "aws_default",
        "us-east-1",
    )
    assert (kwargs["poll_interval"], kwargs["max_poll_interval"]) == (0.05, 0.2)

    async def collect() -> list[Any]:
        return [e.payload async for e in trigger.run()]

    (event,) = asyncio.run(asyncio.wait_for(collect(), 30))
    assert sensor(cluster_id, deferrable=True).execute_complete(make_context(), event=event) == cluster_id


def test_deferrable_does_not_defer_for_a_finished_cluster(sim: AwsSimulator) -> None:
    cluster_id = start(sim)
    sim.wait_until(cluster_id, "TERMINATED")
    assert sensor(cluster_id, deferrable=True).execute(make_context()) == cluster_id


def test_execute_complete_outcomes() -> None:
    op = sensor("j-1", deferrable=True)
    with pytest.raises(AirflowFailException, match="STEP_FAILURE"):
        op.execute_complete(
            make_context(), event={"status": "failure", "cluster_id": "j-1", "message": "ended STEP_FAILURE"}
        )
    with pytest.raises(AirflowSensorTimeout, match="still RUNNING"):
        op.execute_complete(
            make_context(), event={"status": "timeout", "cluster_id": "j-1", "message": "still RUNNING"}
        )
    with pytest.raises(AirflowException, match="AccessDenied"):
        op.execute_complete(
            make_context(), event={"status": "error", "cluster_id": "j-1", "message": "AccessDenied"}
        )
    with pytest.raises(AirflowException, match="resumed without a successful trigger event"):
        op.execute_complete(make_context(), event=None)
