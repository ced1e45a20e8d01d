"""Fixtures for the Airflow layer: env-var connections to the local Sync API, inputs, a fake TI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.backoff import Backoff
from tests.conftest import API_KEY_ID, API_KEY_SECRET

#: Retry delays short enough for fault-injection tests.
FAST_RETRIES = Backoff(initial=0.01, maximum=0.05, factor=2.0, jitter=0.0)


def conn_json(server: Any, **overrides: Any) -> str:
    """``AIRFLOW_CONN_*`` JSON for a local Sync API server (host, schema and port given separately)."""
    host, port = server.url.removeprefix("http://").split(":")
    fields: dict[str, Any] = {
        "conn_type": "sync",
        "host": host,
        "schema": "http",
        "port": int(port),
        "login": API_KEY_ID,
        "password": API_KEY_SECRET,
    }
    fields.update(overrides)
    return json.dumps(fields)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the hook's retry delays tiny so fault-injection tests stay fast."""
    monkeypatch.setattr("sync_provider.hooks.sync.DEFAULT_RETRY_BACKOFF", FAST_RETRIES)


@pytest.fixture
def sync_conn(sync_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local Sync API server, reachable through the ``sync_default`` env-var connection."""
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    return sync_server


@pytest.fixture
def eventlog(tmp_path: Path) -> Path:
    """A small generated Spark event log."""
    from sync_provider.testing.eventlog_generator import tiny_workload, write_event_log

    return write_event_log(tiny_workload(), tmp_path / "application_1700000000000_0001")


@pytest.fixture
def not_a_log(tmp_path: Path) -> Path:
    """A log that passes the client's check (it starts like a Spark log) but that the prediction engine
    rejects: it has no application, so its prediction ends in FAILURE."""
    path = tmp_path / "application_1700000000000_0002"
    path.write_text('{"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"}\n')
    return path


@pytest.fixture
def cluster_report() -> dict[str, Any]:
    """The EMR cluster report matching :func:`eventlog`."""
    from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload

    return emr_cluster_report(tiny_workload())


class FakeTI:
    """Records XCom pushes like a task instance."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.xcoms[key] = value


@pytest.fixture
def ti() -> FakeTI:
    return FakeTI()


@pytest.fixture
def context(ti: FakeTI) -> Any:
    """A minimal task context (no DB needed)."""
    return {"ti": ti, "task_instance": ti}


def create_prediction(sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]) -> str:
    """Create a prediction directly with the core (for sensor and trigger tests)."""
    from sync_provider.core import predictions

    return predictions.create_prediction("aws-emr", cluster_report, eventlog, client=sync_client).unwrap()


def wait_until_finished(sync_client: Any, prediction_id: str) -> None:
    """Block until the prediction is SUCCESS or FAILURE (polling fast)."""
    from sync_provider.core import predictions

    predictions.wait_for_prediction(
        prediction_id, client=sync_client, timeout_s=30, poll=Backoff(initial=0.02, maximum=0.1)
    )


def create_pending_prediction(sync_client: Any, cluster_report: dict[str, Any]) -> str:
    """Create a prediction that waits for an upload that never comes: it stays PENDING."""
    from sync_provider.core import contract
    from sync_provider.core.models import Platform

    created = sync_client.request(
        contract.CREATE_PREDICTION, json=contract.create_prediction_body(Platform.AWS_EMR, cluster_report)
    )
    return str(created["prediction_id"])


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata DB for ``dag.test()`` (about 3 s, once per session)."""
    from airflow.utils import db

    db.resetdb()
