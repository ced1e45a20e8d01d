"""Shared fixtures and helpers of the EMR Airflow tests (imported by the other ``test_emr_*`` modules),
plus the checks that need nothing running: import cost, run ids, the console link.

The AWS side is :class:`~sync_provider.testing.aws.AwsSimulator` (moto's server on loopback, with
cluster lifecycles), reached through the ``aws_default`` env-var connection exactly as a deployment
reaches AWS; the Sync side is the local Sync API server (``sync_default``).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sync_provider.testing.aws import AwsSimulator
from tests.conftest import sim
from tests.core.test_emr import BUCKET, LOCATION, job_flow
from tests.core.test_emr import FLEETS as CORE_FLEETS

__all__ = ["BUCKET", "LOCATION", "job_flow", "sim"]  # shared with the other test_emr_* modules

pytestmark = pytest.mark.airflow

#: Short simulated times: a one-step cluster takes about 1 s from RunJobFlow to TERMINATED.
STEP_WALL_S = 0.3
BOOTSTRAP_WALL_S = 0.2


#: The core tests' instance fleets without their task fleet.
FLEETS: dict[str, Any] = copy.deepcopy({**CORE_FLEETS, "InstanceFleets": CORE_FLEETS["InstanceFleets"][:2]})


class FakeTI:
    """Records XCom pushes like a task instance, and carries the identity run ids derive from."""

    def __init__(
        self, run_id: str = "manual__2024-01-01T00:00:00+00:00", map_index: int = -1, task_id: str = "launch"
    ) -> None:
        self.dag_id = "emr_dag"
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.xcoms[key] = value


class FakeStateStore:
    """``task_state_store`` in memory: JSON values that survive a new operator instance."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def make_context(ti: FakeTI | None = None, store: FakeStateStore | None = None) -> Any:
    """A minimal task context (no DB needed); ``task_state_store`` only when given (Airflow 3.3)."""
    ti = ti or FakeTI()
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": ti.run_id}
    if store is not None:
        context["task_state_store"] = store
    return context


@pytest.fixture(scope="module")
def simulator() -> Iterator[AwsSimulator]:
    """The simulator of the EMR Airflow tests; ``sim`` (tests/conftest.py) resets it for every test."""
    with AwsSimulator(step_wall_s=STEP_WALL_S, bootstrap_wall_s=BOOTSTRAP_WALL_S) as sim:
        yield sim


@pytest.fixture
def project(sync_conn: Any, sync_client: Any) -> str:
    """A Sync project on the local Sync API server (reachable as ``sync_default``)."""
    from sync_provider.core.projects import create_project

    return str(
        create_project("nightly-etl", "aws-emr", cluster_log_url=LOCATION, client=sync_client).unwrap().id
    )


# -- checks that need nothing running -----------------------------------------------------------------

HEAVY = [
    "requests",
    "aiohttp",
    "boto3",
    "botocore",
    "aiobotocore",
    "airflow.providers.amazon.aws.hooks.emr",
    "sync_provider.core.client",
    "sync_provider.core.emr",
    "sync_provider.triggers.emr",
]


def test_importing_the_emr_operators_sensor_and_link_stays_light() -> None:
    code = (
        "import sys, json\n"
        "import sync_provider.operators.emr, sync_provider.sensors.emr, sync_provider.links.emr\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_sync_run_ids_are_deterministic_per_task_instance() -> None:
    from sync_provider.operators.emr import derive_sync_run_id, relaunch_run_id

    one = derive_sync_run_id("dag", "launch", "manual__1", -1)
    assert one == derive_sync_run_id("dag", "launch", "manual__1", None)
    others = {
        derive_sync_run_id("dag", "launch", "manual__2", -1),
        derive_sync_run_id("dag", "other", "manual__1", -1),
        derive_sync_run_id("dag2", "launch", "manual__1", -1),
        derive_sync_run_id("dag", "launch", "manual__1", 0),
        relaunch_run_id(one, 1),
        relaunch_run_id(one, 2),
    }
    assert one not in others and len(others) == 6 and relaunch_run_id(one, 0) == one
    import uuid

    assert uuid.UUID(one).version == 5


def test_console_link_url() -> None:
    from sync_provider.links.emr import SyncEmrClusterLink, emr_cluster_console_url

    assert (
        emr_cluster_console_url("j-2AXXXXXXGAPLF", "eu-west-1")
        == "https://console.aws.amazon.com/emr/home?region=eu-west-1#/clusterDetails/j-2AXXXXXXGAPLF"
    )
    assert emr_cluster_console_url("j-1", "cn-north-1", "aws-cn").startswith("https://console.amazonaws.cn/")
    assert emr_cluster_console_url("j-1", None).endswith("?region=us-east-1#/clusterDetails/j-1")
    assert SyncEmrClusterLink.name == "EMR Cluster (Sync)" and SyncEmrClusterLink.key == "sync_emr_cluster"
