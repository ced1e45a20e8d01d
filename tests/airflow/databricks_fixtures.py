"""Fixtures for the Databricks tests of the Airflow layer: the local workspace as ``databricks_default``,
a Sync project, a task instance and task state store that behave like Airflow's.

They live here rather than in a ``conftest.py`` (owned by others); the Databricks test modules import
them. The local workspace's teardown fails a test that left a run or a cluster running. Not a test
module: pytest does not collect it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow.conftest import conn_json
from tests.airflow.fakes import FakeStateStore
from tests.core import databricks_fixtures as core_fx
from tests.core.databricks_fixtures import SPEC, TASK, finish, make_dbx

moto_s3 = core_fx.moto_s3  # shared fixture (module scope)

DBFS = "dbfs:/sync/projects"
#: Poll fast enough for the stand-in's short phases.
FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.1}
__all__ = ["DBFS", "FAST", "SPEC", "TASK", "FakeStateStore", "FakeTI", "make_context"]


class FakeTI:
    """A task instance as operators see it: ids, try number, XCom pushes (JSON-checked)."""

    def __init__(
        self, *, dag_id: str = "dag", task_id: str = "submit", run_id: str = "manual__1", try_number: int = 1
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = -1
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)
        self.xcoms[key] = value


def make_context(ti: FakeTI | None = None, store: FakeStateStore | None = None) -> dict[str, Any]:
    """A task context without a database (``task_state_store`` only when given)."""
    ti = ti or FakeTI()
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": ti.run_id}
    if store is not None:
        context["task_state_store"] = store
    return context


@pytest.fixture
def fast_hook_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """DatabricksHook waits 1 s, 2 s… between tries; make it 10 ms so retry tests stay fast."""
    import tenacity

    monkeypatch.setattr(
        "airflow.providers.databricks.hooks.databricks_base.wait_exponential",
        lambda **_: tenacity.wait_fixed(0.01),
    )


@pytest.fixture
def dbx(monkeypatch: pytest.MonkeyPatch, fast_hook_retries: None) -> Iterator[LocalDatabricks]:
    """A local workspace (DBFS log delivery) as ``databricks_default``; fails the test on leftovers."""
    with make_dbx() as server:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", server.connection_json())
        yield server
        finish(server)


@pytest.fixture
def dbx_s3(
    moto_s3: Any, monkeypatch: pytest.MonkeyPatch, fast_hook_retries: None
) -> Iterator[LocalDatabricks]:
    """A local workspace delivering logs to moto's S3 (three rolled parts); ``aws_moto`` reads them."""
    endpoint = moto_s3.meta.endpoint_url
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO",
        json.dumps(
            {
                "conn_type": "aws",
                "login": SIMULATOR_ACCESS_KEY_ID,
                "password": SIMULATOR_SECRET_ACCESS_KEY,
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    with make_dbx(s3_client=moto_s3, rolled_parts=3) as server:
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", server.connection_json())
        yield server
        finish(server)


@pytest.fixture
def project(sync_server: Any, sync_client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Sync project on the local Sync API, reachable as ``sync_default``; returns its id."""
    from sync_provider.core.projects import create_project

    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    created = create_project("nightly-etl", "aws-databricks", cluster_log_url=DBFS, client=sync_client)
    return str(created.unwrap().id)
