"""Event-log uploads: the server's own presigned-POST endpoint and S3 upload mode (moto)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY

BOUNDARY = "----sync-test-boundary-3f9a"
EMR_CONFIGS = {"Cluster": {"Id": "j-123"}, "Instances": [], "Steps": [], "Region": "us-east-1"}


def multipart_body(fields: dict[str, str], filename: str | None, content: bytes) -> tuple[bytes, str]:
    """Encode a multipart/form-data body by hand (fields first, then the ``file`` part)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    if filename is not None:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={BOUNDARY}"


def awkward_content(size: int) -> bytes:
    """Random bytes sprinkled with fragments of the boundary, to trip a careless parser."""
    noise = os.urandom(size)
    trap = f"\r\n--{BOUNDARY[:-3]}".encode()
    step = size // 7
    return b"".join(noise[i : i + step] + trap for i in range(0, size, step))


def create_upload(api: Any, **extra: Any) -> tuple[str, dict[str, Any]]:
    body = {"product_code": "aws-emr", "configs": EMR_CONFIGS, "project_id": None}
    body.update(extra)
    response = api.post("/v1/autotuner/predictions", json=body)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert set(result) == {"prediction_id", "upload_details"}
    return str(result["prediction_id"]), dict(result["upload_details"])


def with_filename(fields: dict[str, str], filename: str) -> dict[str, str]:
    return {**fields, "key": fields["key"].replace("${filename}", filename)}


def test_upload_details_shape(api: Any) -> None:
    prediction_id, details = create_upload(api)
    assert details["url"] == f"{api.server.url}/_uploads"
    fields = details["fields"]
    assert fields["key"] == f"uploads/{prediction_id}/${{filename}}"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert len(fields["x-amz-signature"]) == 64
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert policy["prediction_id"] == prediction_id
    assert policy["expiration"].endswith("Z")
    assert api.get(f"/v1/autotuner/predictions/{prediction_id}/status").json()["result"] == {
        "status": "PENDING",
        "message": "Waiting for the event log upload",
    }


def test_upload_5mb_with_requests_then_success(api: Any, engine: Any, http: requests.Session) -> None:
    prediction_id, details = create_upload(api, product_code="aws-databricks")
    content = awkward_content(5 * 1024 * 1024)
    response = http.post(
        details["url"],
        data=with_filename(details["fields"], "eventlog.zip"),
        files={"file": ("eventlog.zip", content, "application/zip")},
        timeout=30,
    )
    assert response.status_code == 204
    assert response.content == b""
    assert api.wait(prediction_id)["status"] == "SUCCESS"
    assert engine.seen == [
        {"name": "eventlog.zip", "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    ]
    prediction = api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]
    assert prediction["event_log"] == "eventlog.zip"
    assert prediction["product_name"] == "Databricks on AWS"
    snapshot = api.server.predictions()[0]
    assert snapshot["eventlog_path"].endswith(f"{prediction_id}/eventlog.zip")
    assert api.server.stats.uploads_received == 1


def test_upload_is_streamed_to_disk(make_server: Any, connect: Any, http: requests.Session) -> None:
    server = make_server(processing_delay_s=0.5)
    api = connect(server)
    _, details = create_upload(api)
    content = awkward_content(5 * 1024 * 1024)
    body, content_type = multipart_body(
        with_filename(details["fields"], "app-1.json.gz"), "app-1.json.gz", content
    )
    tracemalloc.start()
    try:
        response = http.post(details["url"], data=body, headers={"Content-Type": content_type}, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 204
    assert peak < len(content) / 4, f"the upload used {peak} bytes of memory for a {len(content)}-byte file"
    (stored,) = server.predictions()
    with open(stored["eventlog_path"], "rb") as f:
        assert f.read() == content
    assert stored["event_log"] == "app-1.json.gz"


def test_chunked_upload(api: Any, engine: Any, http: requests.Session) -> None:
    prediction_id, details = create_upload(api)
    content = awkward_content(300_000)
    body, content_type = multipart_body(with_filename(details["fields"], "log.lz4"), "log.lz4", content)

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), 7777):
            yield body[i : i + 7777]

    response = http.post(details["url"], data=pieces(), headers={"Content-Type": content_type}, timeout=30)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 204
    assert api.wait(prediction_id)["status"] == "SUCCESS"
    assert engine.seen[0]["sha256"] == hashlib.sha256(content).hexdigest()
    assert engine.seen[0]["name"] == "log.lz4"


def _replace_policy(fields: dict[str, str], **changes: Any) -> dict[str, str]:
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy.update(changes)
    return {**fields, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda f, _: f, 400, "InvalidArgument"),  # key still holds ${filename}
        (
            lambda f, _: {**with_filename(f, "a.gz"), "x-amz-signature": "0" * 64},
            403,
            "SignatureDoesNotMatch",
        ),
        (
            lambda f, _: {k: v for k, v in with_filename(f, "a.gz").items() if k != "policy"},
            403,
            "SignatureDoesNotMatch",
        ),
        (
            lambda f, _: _replace_policy(with_filename(f, "a.gz"), expiration="2000-01-01T00:00:00Z"),
            403,
            "SignatureDoesNotMatch",
        ),
        (lambda f, other: {**f, "key": f"uploads/{other}/a.gz"}, 403, "AccessDenied"),
        (
            lambda f, _: {k: v for k, v in with_filename(f, "a.gz").items() if k != "x-amz-date"},
            403,
            "AccessDenied",
        ),
        (
            lambda f, _: {k: v for k, v in with_filename(f, "a.gz").items() if k != "key"},
            400,
            "InvalidArgument",
        ),
    ],
)
def test_upload_rejections(api: Any, engine: Any, mutate: Any, status: int, code: str) -> None:
    http = api.session
    prediction_id, details = create_upload(api)
    other_id, _ = create_upload(api)
    body, content_type = multipart_body(mutate(details["fields"], other_id), "a.gz", b"data" * 1000)
    response = http.post(details["url"], data=body, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/xml"
    assert f"<Code>{code}</Code>" in response.text
    # The connection stays usable and nothing was accepted.
    assert (
        api.get(f"/v1/autotuner/predictions/{prediction_id}/status").json()["result"]["status"] == "PENDING"
    )
    assert api.server.stats.uploads_received == 0
    assert engine.calls == []


def test_upload_without_file_or_not_multipart(api: Any, http: requests.Session) -> None:
    _, details = create_upload(api)
    body, content_type = multipart_body(with_filename(details["fields"], "a.gz"), None, b"")
    no_file = http.post(details["url"], data=body, headers={"Content-Type": content_type}, timeout=10)
    assert no_file.status_code == 400
    assert "<Code>InvalidArgument</Code>" in no_file.text
    not_multipart = http.post(details["url"], json={"file": "x"}, timeout=10)
    assert not_multipart.status_code == 400
    truncated = http.post(details["url"], data=body[:-30], headers={"Content-Type": content_type}, timeout=10)
    assert truncated.status_code == 400
    assert "MalformedPOSTRequest" in truncated.text


def test_repeated_upload_is_accepted_but_ignored(api: Any, engine: Any, http: requests.Session) -> None:
    prediction_id, details = create_upload(api)
    first = http.post(
        details["url"], data=with_filename(details["fields"], "one.gz"), files={"file": ("one.gz", b"first")}
    )
    assert first.status_code == 204
    second = http.post(
        details["url"], data=with_filename(details["fields"], "two.gz"), files={"file": ("two.gz", b"second")}
    )
    assert second.status_code == 204
    assert api.wait(prediction_id)["status"] == "SUCCESS"
    assert [seen["name"] for seen in engine.seen] == ["one.gz"]
    assert api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]["event_log"] == "one.gz"
    assert api.server.stats.uploads_received == 2


def test_s3_upload_mode(
    make_server: Any, connect: Any, engine: Any, http: requests.Session, moto_endpoint: str
) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=SIMULATOR_ACCESS_KEY_ID,
        aws_secret_access_key=SIMULATOR_SECRET_ACCESS_KEY,
    )
    bucket = f"sync-uploads-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    server = make_server(s3_client=s3, upload_bucket=bucket)
    api = connect(server)
    prediction_id, details = create_upload(api)
    assert details["url"].startswith(moto_endpoint)
    assert details["fields"]["key"] == f"uploads/{prediction_id}/${{filename}}"
    assert (
        api.get(f"/v1/autotuner/predictions/{prediction_id}/status").json()["result"]["status"] == "PENDING"
    )

    content = os.urandom(200_000)
    response = http.post(
        details["url"],
        data=with_filename(details["fields"], "eventlog.zip"),
        files={"file": ("eventlog.zip", content)},
        timeout=30,
    )
    assert response.status_code == 204
    assert api.wait(prediction_id)["status"] == "SUCCESS"
    assert engine.seen == [
        {"name": "eventlog.zip", "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    ]
    assert server.stats.uploads_received == 1
    assert (
        api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]["event_log"] == "eventlog.zip"
    )


def test_s3_mode_needs_client_and_bucket() -> None:
    from sync_provider.testing.sync_api_server import LocalSyncServer

    with pytest.raises(ValueError, match="upload_bucket"):
        LocalSyncServer(s3_client=object())


def test_expired_upload(api: Any, http: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_provider.testing.sync_api import server as server_module

    monkeypatch.setattr(server_module, "UPLOAD_TTL_S", -1)
    prediction_id, details = create_upload(api)
    response = http.post(
        details["url"], data=with_filename(details["fields"], "a.gz"), files={"file": ("a.gz", b"late")}
    )
    assert response.status_code == 403
    assert "Policy expired" in response.text
    status = api.get(f"/v1/autotuner/predictions/{prediction_id}/status").json()["result"]
    assert status["status"] == "FAILURE"
    assert "expired" in status["message"]
