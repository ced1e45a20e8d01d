"""S3 (moto, in process) and HTTP (a local server on 127.0.0.1) sources."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import ReadStats, check_completeness, iter_events, summarize
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.testing.spark_codecs import compress

from .conftest import dbc_line, make_events, to_bytes

APP = "application_1700000000000_0001"
BUCKET = "sync-eventlogs"


# ------------------------------------------------------------------------------------------------- S3


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    moto = pytest.importorskip("moto")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": SIMULATOR_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SIMULATOR_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _count_list_calls(client: Any) -> list[int]:
    calls: list[int] = []
    client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.append(1))
    return calls


def test_s3_single_gzip_object(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"logs/{APP}.gz", Body=compress(to_bytes(make_events(APP)), "gzip"))
    stats = ReadStats()
    assert list(iter_events(f"s3://{BUCKET}/logs/{APP}.gz", s3_client=s3, stats=stats)) == make_events(APP)
    assert stats.files == [f"{APP}.gz"]
    assert stats.codecs == {f"{APP}.gz": "gzip"}


def test_s3_rolling_prefix_over_several_pages(s3: Any) -> None:
    events = make_events(APP)
    size = 6
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    prefix = f"runs/2024/eventlog/eventlog_v2_{APP}"
    for index, chunk in enumerate(chunks, start=1):
        s3.put_object(
            Bucket=BUCKET, Key=f"{prefix}/events_{index}_{APP}.zstd", Body=compress(to_bytes(chunk), "zstd")
        )
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/appstatus_{APP}", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}-other/not-ours", Body=b"x")  # shares the key prefix only
    calls = _count_list_calls(s3)
    stats = ReadStats()
    source = f"s3://{BUCKET}/{prefix}"  # no trailing slash: an object does not exist, so a prefix
    assert list(iter_events(source, s3_client=s3, stats=stats, s3_page_size=2)) == events
    assert len(chunks) >= 8
    assert len(calls) >= (len(chunks) + 1) // 2  # every page was listed
    assert stats.files == [f"events_{i}_{APP}.zstd" for i in range(1, len(chunks) + 1)]
    assert stats.layout == "rolling"
    report = check_completeness(source + "/", s3_client=s3, s3_page_size=3)
    assert report.complete, report.problems


def test_s3_databricks_prefix_and_zip_object(s3: Any) -> None:
    events = make_events(APP, end=False)
    parts = [events[:15], events[15:30], events[30:]]
    keys = ["eventlog-2024-01-01--10-00.gz", "eventlog-2024-01-01--11-00.gz", "eventlog"]
    members = {}
    for number, (key, chunk) in enumerate(zip(keys, parts, strict=True)):
        data = to_bytes([dbc_line(number), *chunk])
        body = compress(data, "gzip") if key.endswith(".gz") else data
        members[key] = body
        s3.put_object(Bucket=BUCKET, Key=f"dbx/cluster-1/eventlog/{key}", Body=body)
    summary = summarize(f"s3://{BUCKET}/dbx/cluster-1/eventlog/", s3_client=s3, s3_page_size=1)
    assert len(summary.tasks) == len(make_events(APP, end=False)) - 11
    assert summary.completeness.problems == ["no SparkListenerApplicationEnd event"]

    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, body in members.items():
            archive.writestr(f"eventlog/{key}", body)
    s3.put_object(Bucket=BUCKET, Key="uploads/log.zip", Body=buffer.getvalue())
    stats = ReadStats()
    count = sum(1 for _ in iter_events(f"s3://{BUCKET}/uploads/log.zip", s3_client=s3, stats=stats))
    assert count == len(events) + 3
    assert stats.files == [f"eventlog/{k}" for k in keys]


def test_s3_missing_key_and_bucket(s3: Any) -> None:
    with pytest.raises(EventLogError, match=rf"event log s3://{BUCKET}/nothing/here does not exist"):
        list(iter_events(f"s3://{BUCKET}/nothing/here", s3_client=s3))
    with pytest.raises(
        EventLogError, match=r"s3://no-such-bucket/x does not exist \(no bucket 'no-such-bucket'\)"
    ):
        list(iter_events("s3://no-such-bucket/x", s3_client=s3))
    with pytest.raises(EventLogError, match=r"has no bucket"):
        list(iter_events("s3:///key", s3_client=s3))


def test_s3_default_client_is_created_lazily(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"a/{APP}", Body=to_bytes(make_events(APP)))
    assert check_completeness(f"s3a://{BUCKET}/a/{APP}").complete


# ----------------------------------------------------------------------------------------------- HTTP


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("codec", ["none", "gzip", "lz4", "snappy", "zstd"])
def test_http_single_file(http_root: tuple[str, Path], codec: str) -> None:
    base, root = http_root
    suffix = {"none": "", "gzip": ".gz", "lz4": ".lz4", "snappy": ".snappy", "zstd": ".zstd"}[codec]
    (root / f"{APP}{suffix}").write_bytes(compress(to_bytes(make_events(APP)), codec))
    stats = ReadStats()
    url = f"{base}/{APP}{suffix}?X-Amz-Signature=topsecret"
    assert list(iter_events(url, stats=stats)) == make_events(APP)
    assert stats.codecs == {f"{APP}{suffix}": codec}


def test_http_zip_with_session(http_root: tuple[str, Path]) -> None:
    import requests

    base, root = http_root
    with zipfile.ZipFile(root / "log.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"x/{APP}", to_bytes(make_events(APP)))
    with requests.Session() as session:
        report = check_completeness(f"{base}/log.zip", http_session=session)
    assert report.complete
    assert report.parts == [f"x/{APP}"]


def test_http_not_found_hides_the_query_string(http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    with pytest.raises(EventLogError, match=r"does not exist \(HTTP 404\)") as info:
        list(iter_events(f"{base}/missing.gz?X-Amz-Signature=topsecret"))
    assert "topsecret" not in str(info.value)
    assert f"{base}/missing.gz" in info.value.message
