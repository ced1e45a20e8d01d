"""Prediction and project functions end to end against the local Sync API server."""

from __future__ import annotations

import functools
import http.server
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sync_provider.core import predictions, projects
from sync_provider.core.backoff import Backoff
from sync_provider.core.client import SyncClient
from sync_provider.core.errors import (
    InvalidInputError,
    NotFoundError,
    PredictionError,
    PredictionTimeoutError,
    StorageError,
)
from sync_provider.core.models import Platform, PredictionStatus, Preference
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload, write_event_log

FAST = Backoff(initial=0.02, maximum=0.1)


@pytest.fixture
def eventlog(tmp_path: Path) -> Path:
    return write_event_log(tiny_workload(), tmp_path / "application_1700000000000_0001")


@pytest.fixture
def report() -> dict[str, Any]:
    return emr_cluster_report(tiny_workload())


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """Serve ``tmp_path`` over plain HTTP on loopback."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def moto_s3() -> Iterator[Any]:
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
    client.create_bucket(Bucket="logs")
    yield client
    server.stop()


def test_products(sync_client: SyncClient) -> None:
    assert predictions.get_products(client=sync_client).unwrap() == ["aws-emr", "aws-databricks"]


def test_upload_wait_and_get(
    sync_server: Any, sync_client: SyncClient, eventlog: Path, report: dict[str, Any]
) -> None:
    response = predictions.create_prediction(Platform.AWS_EMR, report, eventlog, client=sync_client)
    prediction_id = response.unwrap()
    seen: list[PredictionStatus] = []
    prediction = predictions.wait_for_prediction(
        prediction_id, client=sync_client, poll=FAST, timeout_s=30, on_status=lambda s, _: seen.append(s)
    ).unwrap()
    assert seen[-1] is PredictionStatus.SUCCESS
    assert prediction.prediction_id == prediction_id
    assert prediction.basis is not None and prediction.basis.metrics.runtime > 0
    assert set(prediction.solutions) == {"performance", "balanced", "economy"}
    only = predictions.get_prediction(prediction_id, "economy", client=sync_client).unwrap()
    assert set(only.solutions) == {"economy"}
    assert sync_server.stats.uploads_received == 1


def test_upload_of_a_folder_zips_it(sync_client: SyncClient, tmp_path: Path, report: dict[str, Any]) -> None:
    folder = tmp_path / "eventlog_v2_app-1"
    folder.mkdir()
    write_event_log(tiny_workload(), folder / "events_1_app-1")
    (folder / "appstatus_app-1").touch()
    prediction_id = predictions.create_prediction("aws-emr", report, folder, client=sync_client).unwrap()
    status = predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30)
    assert status.ok, status.error


def test_create_from_http_url_on_loopback(
    sync_client: SyncClient, eventlog: Path, report: dict[str, Any], file_server: str
) -> None:
    url = f"{file_server}/{eventlog.name}"
    prediction_id = predictions.create_prediction(Platform.AWS_EMR, report, url, client=sync_client).unwrap()
    assert predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30).ok


def test_create_from_s3_presigns_or_uploads(
    sync_server: Any, sync_client: SyncClient, eventlog: Path, report: dict[str, Any], moto_s3: Any
) -> None:
    moto_s3.upload_file(str(eventlog), "logs", "runs/1/eventlog/app")
    by_url = predictions.create_prediction(
        "aws-emr", report, "s3://logs/runs/1/eventlog/app", client=sync_client, s3_client=moto_s3
    ).unwrap()
    by_upload = predictions.create_prediction(
        "aws-emr", report, "s3://logs/runs/1/eventlog/app", upload=True, client=sync_client, s3_client=moto_s3
    ).unwrap()
    for prediction_id in (by_url, by_upload):
        assert predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30).ok
    assert sync_server.stats.uploads_received == 1


def test_missing_s3_object_creates_nothing(
    sync_server: Any, sync_client: SyncClient, report: dict[str, Any], moto_s3: Any
) -> None:
    response = predictions.create_prediction(
        "aws-emr", report, "s3://logs/nope", client=sync_client, s3_client=moto_s3
    )
    assert isinstance(response.error.to_exception(), StorageError)  # type: ignore[union-attr]
    assert "s3://logs/nope" in response.error.message  # type: ignore[union-attr]
    assert sync_server.predictions() == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://host/log", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("http://example.com/log", "plain http"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://metadata.google.internal/x", "metadata"),
    ],
)
def test_bad_urls_are_refused_before_sending(
    sync_server: Any, sync_client: SyncClient, report: dict[str, Any], url: str, fragment: str
) -> None:
    response = predictions.create_prediction_from_url("aws-emr", report, url, client=sync_client)
    assert response.error is not None and fragment in response.error.message
    assert isinstance(response.error.to_exception(), InvalidInputError)
    assert sync_server.stats.requests[("POST", "/v1/autotuner/predictions")] == 0


def test_bad_inputs_are_refused(sync_client: SyncClient, tmp_path: Path, report: dict[str, Any]) -> None:
    assert (
        "does not exist"
        in predictions.create_prediction(
            "aws-emr", report, tmp_path / "missing", client=sync_client
        ).error.message
    )  # type: ignore[union-attr]
    assert (
        "Unknown platform"
        in predictions.create_prediction("gcp", report, tmp_path, client=sync_client).error.message
    )  # type: ignore[union-attr]
    assert (
        "non-empty"
        in predictions.create_prediction("aws-emr", {}, tmp_path, client=sync_client).error.message
    )  # type: ignore[union-attr]
    assert (
        "not a valid identifier"
        in predictions.get_prediction("../../v1/projects", client=sync_client).error.message
    )  # type: ignore[union-attr]
    assert (
        "Unknown preference"
        in predictions.get_prediction("abc", "cheapest", client=sync_client).error.message
    )  # type: ignore[union-attr]


def test_failed_prediction_carries_sync_message(
    sync_client: SyncClient, tmp_path: Path, report: dict[str, Any]
) -> None:
    # A Spark event log in form (so the local check lets it through) that Sync cannot predict from.
    not_a_log = tmp_path / "application_1_0001"
    not_a_log.write_text('{"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"}\n')
    prediction_id = predictions.create_prediction("aws-emr", report, not_a_log, client=sync_client).unwrap()
    response = predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30)
    with pytest.raises(PredictionError, match=f"Prediction {prediction_id} failed: ") as info:
        response.unwrap()
    assert info.value.detail == {"prediction_id": prediction_id}
    status, message = predictions.get_prediction_status_message(prediction_id, client=sync_client).unwrap()
    assert status is PredictionStatus.FAILURE
    assert message and message in info.value.message


def test_wait_times_out(sync_client: SyncClient, report: dict[str, Any]) -> None:
    # Created for an upload that never comes: it stays PENDING.
    from sync_provider.core import contract

    created = sync_client.request(
        contract.CREATE_PREDICTION, json=contract.create_prediction_body(Platform.AWS_EMR, report)
    )
    response = predictions.wait_for_prediction(
        created["prediction_id"], client=sync_client, poll=FAST, timeout_s=0.3
    )
    with pytest.raises(PredictionTimeoutError, match=r"still PENDING after 0\.3 s"):
        response.unwrap()


def test_list_filters(sync_client: SyncClient, eventlog: Path, report: dict[str, Any]) -> None:
    project = projects.create_project("etl", "aws-emr", client=sync_client).unwrap()
    first = predictions.create_prediction("aws-emr", report, eventlog, client=sync_client).unwrap()
    second = predictions.create_prediction(
        "aws-emr", report, eventlog, project_id=project.id, client=sync_client
    ).unwrap()
    everything = predictions.list_predictions(client=sync_client).unwrap()
    assert [p.prediction_id for p in everything] == [second, first]  # newest first
    in_project = predictions.list_predictions(project_id=project.id, client=sync_client).unwrap()
    assert [p.prediction_id for p in in_project] == [second]
    assert predictions.list_predictions(platforms=["aws-databricks"], client=sync_client).unwrap() == []


def test_project_lifecycle(sync_client: SyncClient) -> None:
    created = projects.create_project(
        "nightly",
        "aws-databricks",
        cluster_log_url="s3://b/p",
        prediction_preference=Preference.BALANCED,
        client=sync_client,
    ).unwrap()
    assert projects.get_project(created.id, client=sync_client).unwrap().name == "nightly"
    updated = projects.update_project(created.id, description="new", client=sync_client).unwrap()
    assert (updated.description, updated.cluster_log_url) == ("new", "s3://b/p")
    assert [p.id for p in projects.list_projects(client=sync_client).unwrap()] == [created.id]
    assert created.id in projects.delete_project(created.id, client=sync_client).unwrap()
    with pytest.raises(NotFoundError):
        projects.get_project(created.id, client=sync_client).unwrap()
    assert "Nothing to update" in projects.update_project(created.id, client=sync_client).error.message  # type: ignore[union-attr]


class _CountingFile:
    """A file wrapper recording the largest single read."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")
        self.len = path.stat().st_size  # bytes left, as the multipart encoder expects
        self.largest_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.len -= len(data)
        self.largest_read = max(self.largest_read, len(data))
        return data


def test_upload_streams_without_reading_the_file_whole(sync_server: Any, tmp_path: Path) -> None:
    from sync_provider.core import storage
    from sync_provider.core.models import UploadDetails

    big = tmp_path / "big.log"
    with big.open("wb") as handle:
        chunk = b"x" * (1 << 20)
        for _ in range(32):
            handle.write(chunk)
    source = _CountingFile(big)
    # Ask the server for real upload details by creating an upload-type prediction.
    from sync_provider.core import contract
    from sync_provider.core.config import load_settings
    from tests.conftest import API_KEY_ID, API_KEY_SECRET

    client = SyncClient(load_settings(API_KEY_ID, API_KEY_SECRET, sync_server.url, env={}))
    created = client.request(
        contract.CREATE_PREDICTION, json=contract.create_prediction_body(Platform.AWS_EMR, {"Cluster": {}})
    )
    tracemalloc.start()
    storage.upload_to_presigned_post(UploadDetails(**created["upload_details"]), big.name, source)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert source.largest_read <= 1 << 20, "the upload read the file in one piece"
    assert peak < 8 << 20, f"upload held {peak / 2**20:.1f} MiB in memory for a 32 MiB file"
    assert sync_server.stats.uploads_received == 1


def test_s3_folder_is_uploaded_as_a_zip(
    sync_server: Any, sync_client: SyncClient, tmp_path: Path, report: dict[str, Any], moto_s3: Any
) -> None:
    # A Spark rolling log is a folder of parts: it cannot be one presigned URL, so it is uploaded.
    part = write_event_log(tiny_workload(), tmp_path / "events_1_app-1")
    moto_s3.upload_file(str(part), "logs", "runs/2/eventlog/eventlog_v2_app-1/events_1_app-1")
    moto_s3.put_object(Bucket="logs", Key="runs/2/eventlog/eventlog_v2_app-1/appstatus_app-1", Body=b"")
    folder = "s3://logs/runs/2/eventlog/eventlog_v2_app-1"
    refused = predictions.create_prediction("aws-emr", report, folder, client=sync_client, s3_client=moto_s3)
    assert refused.error is not None and "upload it instead" in refused.error.message
    prediction_id = predictions.create_prediction(
        "aws-emr", report, folder + "/", client=sync_client, s3_client=moto_s3
    ).unwrap()
    assert predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30).ok
    assert sync_server.stats.uploads_received == 1


def test_failed_upload_is_repeated_until_it_lands(
    sync_server: Any, sync_client: SyncClient, eventlog: Path, report: dict[str, Any]
) -> None:
    sync_server.faults.add("POST /_uploads", status=503, times=2)
    slept: list[float] = []
    prediction_id = predictions.create_prediction_with_upload(
        "aws-emr", report, eventlog, client=sync_client, upload_sleep=slept.append
    ).unwrap()
    assert len(slept) == 2
    assert sync_server.stats.uploads_received == 1
    assert predictions.wait_for_prediction(prediction_id, client=sync_client, poll=FAST, timeout_s=30).ok


def test_refused_upload_is_not_repeated_and_names_the_orphan(
    sync_server: Any, sync_client: SyncClient, eventlog: Path, report: dict[str, Any]
) -> None:
    sync_server.faults.add("POST /_uploads", status=403)
    slept: list[float] = []
    response = predictions.create_prediction_with_upload(
        "aws-emr", report, eventlog, client=sync_client, upload_sleep=slept.append
    )
    assert slept == []
    assert response.error is not None and "HTTP 403" in response.error.message
    (created,) = sync_server.predictions()
    assert response.error.detail == {"prediction_id": created["prediction_id"]}
    assert (
        f"Prediction {created['prediction_id']} was created without its event log" in response.error.message
    )
