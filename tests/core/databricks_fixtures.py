"""Fixtures shared by the Databricks tests: the local Databricks stand-in, moto's S3, fast polling.

They live here rather than in a ``conftest.py`` (owned by others); the Databricks test modules
import them. Not a test module: pytest does not collect it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from sync_provider.core.backoff import Backoff
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.testing.databricks import LocalDatabricks

#: Polling fast enough for the stand-in's short phases.
FAST = Backoff(initial=0.03, maximum=0.1, factor=1.5, jitter=0.0)
PHASE_S = 0.15
DELAY_S = 0.2
SPEC: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "num_workers": 2,
    "spark_conf": {"spark.sql.shuffle.partitions": "64"},
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "zone_id": "us-east-1a"},
}
TASK: dict[str, Any] = {"notebook_task": {"notebook_path": "/Repos/etl/main"}}
_buckets = itertools.count(1)


def finish(server: LocalDatabricks) -> None:
    """Fail the test when it left a run or a cluster running (after cancelling them)."""
    leftover = server.active_runs()
    clusters = server.running_clusters()
    if leftover or clusters:
        server.cancel_all()
        api = server.client(retries=0)
        for cluster_id in server.running_clusters():
            api.call("POST", "2.0/clusters/delete", {"cluster_id": cluster_id}, idempotent=True)
        pytest.fail(f"the test left runs {leftover} and clusters {clusters} running")


def make_dbx(**options: Any) -> LocalDatabricks:
    """A stand-in with the fast test defaults."""
    options.setdefault("phase_s", PHASE_S)
    options.setdefault("log_delivery_delay_s", DELAY_S)
    options.setdefault("seed", 1)
    return LocalDatabricks(**options)


@pytest.fixture
def dbx() -> Iterator[LocalDatabricks]:
    """A started stand-in (DBFS log delivery); teardown fails the test if anything is left running."""
    with make_dbx() as server:
        yield server
        finish(server)


@pytest.fixture
def api(dbx: LocalDatabricks) -> Iterator[Any]:
    """A REST client for :func:`dbx` with short retry backoffs."""
    with dbx.client(timeout=(2.0, 10.0), retries=3, backoff_factor=0.01, backoff_max=0.05) as client:
        yield client


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    """moto's S3 server on loopback and a boto3 client for it (module scope: it takes ~1 s)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id=SIMULATOR_ACCESS_KEY_ID,
        aws_secret_access_key=SIMULATOR_SECRET_ACCESS_KEY,
    )
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture
def bucket(moto_s3: Any) -> str:
    """A fresh bucket in moto."""
    name = f"sync-logs-{next(_buckets)}"
    moto_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def dbx_s3(moto_s3: Any) -> Iterator[LocalDatabricks]:
    """A stand-in that delivers S3 logs into moto (forced 3 rolled parts)."""
    with make_dbx(s3_client=moto_s3, rolled_parts=3) as server:
        yield server
        finish(server)
