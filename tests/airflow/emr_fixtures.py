"""Shared fixtures and helpers of the Airflow tests that launch EMR clusters, which import them. Not a
test module: pytest does not collect it.

The AWS side is :class:`~sync_provider.testing.aws.AwsSimulator` (moto's server on loopback, with
cluster lifecycles), reached through the ``aws_default`` env-var connection exactly as a deployment
reaches AWS; the Sync side is the local Sync API server (``sync_default``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sync_provider.testing.aws import AwsSimulator
from tests.airflow.fakes import FakeStateStore
from tests.conftest import sim
from tests.core.test_emr import BUCKET, LOCATION, job_flow
from tests.core.test_emr import FLEETS as CORE_FLEETS

__all__ = ["BUCKET", "LOCATION", "FakeStateStore", "job_flow", "sim"]  # re-exported for the test modules

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
