"""SyncEmrClusterTrigger: serialization, run() against moto's server (through the AWS simulator) for
every outcome, on_kill, and how long it blocks the event loop."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

import sync_provider.triggers.emr as trigger_module
from sync_provider.testing.aws import AwsSimulator
from sync_provider.triggers.emr import SyncEmrClusterTrigger, _is_transient
from tests.airflow.emr_fixtures import job_flow, sim, simulator

pytestmark = [pytest.mark.airflow, pytest.mark.asyncio]
__all__ = ["sim", "simulator"]  # fixtures imported for this module


def start(sim: AwsSimulator, name: str = "etl", **kwargs: Any) -> str:
    """Start a cluster directly (no Sync run folder: these tests only watch its state)."""
    request = job_flow(name, **kwargs)
    request["Configurations"] = []
    return str(sim.client("emr").run_job_flow(**request)["JobFlowId"])


def fast(cluster_id: str, **kwargs: Any) -> SyncEmrClusterTrigger:
    values: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.2, "end_time": time.time() + 30}
    values.update(kwargs)
    return SyncEmrClusterTrigger(cluster_id=cluster_id, **values)


async def run_trigger(trigger: SyncEmrClusterTrigger, timeout: float = 30) -> list[dict[str, Any]]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return [event.payload for event in await asyncio.wait_for(collect(), timeout)]


async def test_serialize_round_trip() -> None:
    from airflow.sdk.serde import deserialize, serialize

    trigger = SyncEmrClusterTrigger(
        cluster_id="j-1",
        aws_conn_id="aws_prod",
        region_name="eu-west-1",
        verify="/etc/ssl/ca.pem",
        botocore_config={"retries": {"mode": "adaptive"}},
        poll_interval=30,
        max_poll_interval=120,
        end_time=1.7e9,
        terminate_on_kill=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "sync_provider.triggers.emr.SyncEmrClusterTrigger"
    assert kwargs == {
        "cluster_id": "j-1",
        "aws_conn_id": "aws_prod",
        "region_name": "eu-west-1",
        "verify": "/etc/ssl/ca.pem",
        "botocore_config": {"retries": {"mode": "adaptive"}},
        "poll_interval": 30.0,
        "max_poll_interval": 120.0,
        "end_time": 1.7e9,
        "terminate_on_kill": True,
    }
    json.dumps(kwargs)
    restored: Any = deserialize(serialize(kwargs))
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls(**restored).serialize() == (classpath, kwargs)
    # The hook the trigger builds in the triggerer carries the same configuration (airflow#72144).
    hook = cls(**restored).hook()
    assert (hook.aws_conn_id, hook._region_name, hook._verify) == ("aws_prod", "eu-west-1", "/etc/ssl/ca.pem")
    assert hook._config.retries == {"mode": "adaptive"}
    defaults = SyncEmrClusterTrigger(cluster_id="j-2").serialize()[1]
    assert defaults["end_time"] is None and defaults["terminate_on_kill"] is False
    assert defaults["aws_conn_id"] == "aws_default"


async def test_success(sim: AwsSimulator) -> None:
    cluster_id = start(sim)
    (event,) = await run_trigger(fast(cluster_id))
    assert event == {
        "status": "success",
        "cluster_id": cluster_id,
        "message": f"EMR cluster {cluster_id} TERMINATED (ALL_STEPS_COMPLETED: Steps completed).",
        "state": "TERMINATED",
        "reason": "ALL_STEPS_COMPLETED",
    }


@pytest.mark.parametrize(
    ("failure", "state", "needles"),
    [
        (
            "STEP_FAILURE",
            "TERMINATED_WITH_ERRORS",
            ["step 'step-1'", "java.lang.OutOfMemoryError", "/steps/"],
        ),
        ("BOOTSTRAP_FAILURE", "TERMINATED_WITH_ERRORS", ["On the master instance"]),
        ("USER_REQUEST", "TERMINATED", ["Terminated by user request", "before all its steps completed"]),
    ],
)
async def test_failures_name_state_reason_and_step(
    sim: AwsSimulator, failure: Any, state: str, needles: list[str]
) -> None:
    if failure == "USER_REQUEST":
        cluster_id = start(sim, keep_alive=True)
        sim.wait_until(cluster_id, "RUNNING")
        sim.client("emr").terminate_job_flows(JobFlowIds=[cluster_id])
    else:
        sim.fail_next(
            failure,
            "java.lang.OutOfMemoryError: Java heap space" if failure == "STEP_FAILURE" else None,
            step=1,
        )
        cluster_id = start(sim, steps=2)
    (event,) = await run_trigger(fast(cluster_id))
    assert event["status"] == "failure" and event["state"] == state and event["reason"] == failure
    assert event["message"].startswith(f"EMR cluster {cluster_id} (etl) ended {state} ({failure}: ")
    for needle in needles:
        assert needle in event["message"]


async def test_timeout_leaves_the_cluster_alone(sim: AwsSimulator) -> None:
    cluster_id = start(sim, keep_alive=True)
    sim.wait_until(cluster_id, "WAITING")
    (event,) = await run_trigger(fast(cluster_id, end_time=time.time() + 0.5, terminate_on_kill=True))
    assert event == {
        "status": "timeout",
        "cluster_id": cluster_id,
        "message": f"EMR cluster {cluster_id} was still WAITING when the wait timed out.",
        "state": "WAITING",
        "reason": None,
    }
    assert sim.cluster_state(cluster_id) == "WAITING"
    sim.terminate_all()


async def test_an_unknown_cluster_and_a_missing_connection_are_errors(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    (event,) = await run_trigger(fast("j-DOESNOTEXIST"))
    assert event["status"] == "error" and event["state"] is None
    assert event["message"].startswith("EMR cluster j-DOESNOTEXIST: InvalidRequestException")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_BROKEN",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:9"}}),
    )
    no_retries = {"retries": {"total_max_attempts": 1}, "connect_timeout": 1}
    broken = fast(
        "j-1",
        aws_conn_id="aws_broken",
        botocore_config=no_retries,
        poll_interval=0.01,
        max_poll_interval=0.01,
    )
    (event,) = await run_trigger(broken)
    assert event["status"] == "error" and "giving up after 5 failed polls" in event["message"]


async def test_transient_errors_are_told_apart() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    def client_error(code: str, status: int) -> ClientError:
        response: Any = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(
            response,
            "DescribeCluster",
        )

    assert _is_transient(client_error("ThrottlingException", 400))
    assert _is_transient(client_error("InternalServerError", 500))
    assert _is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert not _is_transient(client_error("AccessDeniedException", 400))
    assert not _is_transient(client_error("InvalidRequestException", 400))


async def test_on_kill_terminates_only_a_cluster_the_trigger_owns(sim: AwsSimulator) -> None:
    watched = start(sim, "watched", keep_alive=True)
    owned = start(sim, "owned", keep_alive=True)
    await fast(watched, terminate_on_kill=False).on_kill()
    await fast(owned, terminate_on_kill=True).on_kill()
    assert sim.wait_until(owned, "TERMINATED") == "TERMINATED"
    assert sim.cluster_state(watched) != "TERMINATED"
    await fast(owned, terminate_on_kill=True).on_kill()  # already terminated: nothing to do
    await fast("j-DOESNOTEXIST", terminate_on_kill=True).on_kill()  # errors are logged, not raised
    sim.terminate_all()


@pytest.mark.serial
async def test_polling_does_not_stall_the_event_loop(
    sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty triggers poll at once (first client of the process included) while a heartbeat ticks."""
    from airflow.providers.amazon.aws.hooks.emr import EmrHook

    monkeypatch.setattr(trigger_module, "_warmed", False)
    clients: list[str] = []
    original = EmrHook.get_async_conn

    async def counting(hook: EmrHook) -> Any:
        clients.append(str(hook.aws_conn_id))
        return await original(hook)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(EmrHook, "get_async_conn", counting)
    clusters = [start(sim, f"c{i}", steps=2) for i in range(20)]
    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    events = await asyncio.gather(
        *(run_trigger(fast(c, poll_interval=0.1, max_poll_interval=0.3)) for c in clusters)
    )
    stop.set()
    await beat
    assert [e[0]["status"] for e in events] == ["success"] * 20
    # One client for the twenty (same AWS settings), closed when the last trigger ended.
    assert clients == ["aws_default"]
    assert not trigger_module._CLIENTS.get(asyncio.get_running_loop())
    worst = max(gaps)
    print(f"20 triggers: {len(gaps)} heartbeats, longest loop stall {worst * 1000:.0f} ms")
    assert worst < 0.15, f"the event loop stalled for {worst:.3f} s"
