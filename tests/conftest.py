"""Session-wide test set-up.

- Airflow gets a private ``AIRFLOW_HOME`` and unit-test settings *before* anything imports it.
- No test may reach outside loopback: ``socket.connect`` refuses any other address.
- Shared fixtures start the local Sync API server on an ephemeral loopback port.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="sync-provider-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parent / "dags"),
        "AWS_ACCESS_KEY_ID": SIMULATOR_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SIMULATOR_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SYNC_CONFIG_DIR": str(Path(_AIRFLOW_HOME) / "sync-config"),
    }
)
for _name in ("SYNC_API_KEY_ID", "SYNC_API_KEY_SECRET", "SYNC_API_URL"):
    os.environ.pop(_name, None)

#: Fails the session when a known secret appears in a log record, output, exception, repr or
#: Airflow's database and logs (see tests/reliability/secret_scan.py; SYNC_SECRET_SCAN=0 disables it).
pytest_plugins = ["tests.reliability.secret_scan"]

SHARED = Path(__file__).resolve().parents[2] / "shared"
EVENTLOGS = SHARED / "eventlogs"

API_KEY_ID = "test-key-id"
API_KEY_SECRET = "test-key-secret-5f0c1d"


class LoopbackOnlyError(OSError):
    """Raised when a test tries to connect outside loopback."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise LoopbackOnlyError(f"test tried to connect to {host!r}; tests may only reach loopback")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def eventlogs_dir() -> Path:
    """The shared real event logs, or skip the calling test with the reason."""
    if not EVENTLOGS.is_dir():
        pytest.skip(f"real event logs not available: {EVENTLOGS} is absent")
    return EVENTLOGS


@pytest.fixture
def sync_server(tmp_path: Path) -> Iterator[Any]:
    """A local Sync API server (default engine) on an ephemeral loopback port."""
    from sync_provider.testing.sync_api_server import LocalSyncServer

    server = LocalSyncServer(
        api_keys={API_KEY_ID: API_KEY_SECRET}, processing_delay_s=0.05, data_dir=tmp_path / "sync-server"
    )
    with server:
        yield server


@pytest.fixture
def sync_client(sync_server: Any) -> Iterator[Any]:
    """A core client for :func:`sync_server`, with short backoffs so retry tests stay fast."""
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings

    settings = load_settings(API_KEY_ID, API_KEY_SECRET, sync_server.url, env={})
    with SyncClient(settings, timeout=(2.0, 5.0), retries=3, backoff_factor=0.01, backoff_max=0.05) as client:
        yield client


#: The bucket the ``sim`` fixture creates (where the EMR tests keep their Sync project folders).
EMR_PROJECT_BUCKET = "sync-projects"


@pytest.fixture
def sim(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The test module's ``simulator`` fixture (an :class:`~sync_provider.testing.aws.AwsSimulator`),
    reset, with :data:`EMR_PROJECT_BUCKET` and the ``aws_default`` connection pointing at it.

    Afterwards failure rules and the event-log mode are back to their defaults, and a test that left a
    cluster running fails (after its clusters are terminated).
    """
    simulator.reset()
    simulator.create_bucket(EMR_PROJECT_BUCKET)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", simulator.aws_connection_json())
    yield simulator
    simulator.clear_failures()
    simulator.eventlog_mode = "complete"
    left = simulator.running_clusters()
    if left:
        simulator.terminate_all()
        pytest.fail(f"the test left EMR clusters running: {left}")
