"""The local Sync API server: auth, routing, validation, predictions by URL, projects, the CLI."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from sync_provider.testing.sync_api_server import LocalSyncServer

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
EMR_CONFIGS = {"Cluster": {"Id": "j-123"}, "Instances": [], "Steps": [], "Region": "us-east-1"}


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    return dict(body["error"])


def create_by_url(api: Any, url: str, **extra: Any) -> str:
    body = {"product_code": "aws-emr", "configs": EMR_CONFIGS, "project_id": None, "eventlog_url": url}
    body.update(extra)
    response = api.post("/v1/autotuner/predictions", json=body)
    assert response.status_code == 202, response.text
    assert set(response.json()["result"]) == {"prediction_id"}
    return str(response.json()["result"]["prediction_id"])


# -- auth ---------------------------------------------------------------------------------------------


def test_token_exchange(server: LocalSyncServer, http: requests.Session, credentials: dict[str, str]) -> None:
    response = http.post(f"{server.url}/v1/auth/token", json=credentials)
    assert response.status_code == 200
    result = response.json()["result"]
    assert len(result["access_token"]) >= 32
    assert ISO_Z.match(result["expires_at_utc"])
    again = http.post(f"{server.url}/v1/auth/token", json=credentials).json()["result"]
    assert again["access_token"] != result["access_token"]


@pytest.mark.parametrize(
    "body",
    [
        {"api_key_id": "unit-key-id", "api_key_secret": "wrong"},
        {"api_key_id": "nobody", "api_key_secret": "unit-key-secret"},
        {"api_key_id": "unit-key-id"},
        {},
        {"api_key_id": 1, "api_key_secret": ["x"]},
    ],
)
def test_token_exchange_refuses_bad_keys(
    server: LocalSyncServer, http: requests.Session, body: dict[str, Any]
) -> None:
    response = http.post(f"{server.url}/v1/auth/token", json=body)
    assert response.status_code == 401
    assert error_of(response)["code"] == "Authentication Error"
    assert "wrong" not in response.text


def test_token_exchange_invalid_json(server: LocalSyncServer, http: requests.Session) -> None:
    response = http.post(
        f"{server.url}/v1/auth/token", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "Bad Request"


def test_bearer_missing_invalid_and_expired(
    server: LocalSyncServer, api: Any, http: requests.Session
) -> None:
    products = f"{server.url}/v1/autotuner/products"
    missing = http.get(products, headers={"Authorization": ""})
    assert missing.status_code == 401
    assert error_of(missing)["code"] == "Unauthorized"
    assert "missing" in error_of(missing)["message"].lower()

    invalid = http.get(products, headers={"Authorization": "Bearer not-a-token"})
    assert invalid.status_code == 401
    assert "invalid" in error_of(invalid)["message"].lower()

    assert api.get("/v1/autotuner/products").status_code == 200
    server.expire_tokens()
    expired = api.get("/v1/autotuner/products")
    assert expired.status_code == 401
    assert error_of(expired)["code"] == "Unauthorized"
    assert "expired" in error_of(expired)["message"].lower()
    assert server.stats.responses[401] == 3


def test_token_ttl(make_server: Any, connect: Any) -> None:
    server = make_server(token_ttl_s=0.3)
    api = connect(server)
    assert api.get("/v1/autotuner/products").status_code == 200
    time.sleep(0.4)
    response = api.get("/v1/autotuner/products")
    assert response.status_code == 401
    assert "expired" in error_of(response)["message"].lower()


def test_products(api: Any) -> None:
    response = api.get("/v1/autotuner/products")
    assert response.status_code == 200
    assert response.json() == {"result": ["aws-emr", "aws-databricks"]}
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)


# -- routing and validation ---------------------------------------------------------------------------


def test_unknown_route_wrong_method_and_invalid_json(api: Any) -> None:
    unknown = api.get("/v1/nothing/here")
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "Not Found"

    wrong = api.delete("/v1/autotuner/products")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET"

    bad = api.post("/v1/autotuner/predictions", data=b"[1, 2", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert error_of(bad)["code"] == "Bad Request"

    not_object = api.post("/v1/autotuner/predictions", json=[1, 2])
    assert not_object.status_code == 422


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"product_code": "gcp-dataproc"}, 422, "product_code"),
        ({"product_code": None}, 422, "product_code"),
        ({"configs": "cluster"}, 422, "configs"),
        ({"configs": None}, 422, "configs"),
        ({"eventlog_url": "ftp://127.0.0.1/log.gz"}, 422, "eventlog_url"),
        ({"eventlog_url": "s3://bucket/log.gz"}, 422, "eventlog_url"),
        ({"eventlog_url": 42}, 422, "eventlog_url"),
        ({"project_id": str(uuid.uuid4())}, 404, None),
        ({"project_id": "not-a-uuid"}, 404, None),
        ({"project_id": 7}, 422, "project_id"),
    ],
)
def test_create_prediction_validation(
    api: Any, change: dict[str, Any], status: int, field: str | None
) -> None:
    body = {"product_code": "aws-emr", "configs": EMR_CONFIGS, "project_id": None}
    body.update(change)
    response = api.post("/v1/autotuner/predictions", json=body)
    assert response.status_code == status
    error = error_of(response)
    if status == 422:
        assert error["code"] == "Validation Error"
        assert error["detail"]["field"] == field
        assert field in error["message"]
    else:
        assert error["code"] == "Not Found"
    assert api.server.predictions() == []


#: An id no server knows (fixed, so that every test worker collects the same test ids).
UNKNOWN_ID = "3f1c2a9e-7b4d-4e8a-9c1f-5d6e7f8a9b0c"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/autotuner/predictions/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/v1/autotuner/predictions/<script>alert(1)</script>/status",
        f"/v1/autotuner/predictions/{UNKNOWN_ID}",
        f"/v1/autotuner/predictions/{UNKNOWN_ID}/status",
        "/v1/projects/%3Cimg%20src%3Dx%3E",
        f"/v1/projects/{UNKNOWN_ID}",
    ],
)
def test_unknown_or_malformed_ids_are_404_without_reflection(api: Any, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "Not Found"
    assert "script" not in response.text and "img" not in response.text


# -- predictions by URL ---------------------------------------------------------------------------------


def test_prediction_by_url_success(api: Any, engine: Any, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    content = b"\x1f\x8b" + bytes(range(256)) * 40
    (root / "application_1_0001.gz").write_bytes(content)
    prediction_id = create_by_url(api, f"{base}/application_1_0001.gz")
    assert uuid.UUID(prediction_id).version == 4

    early = api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]
    assert early["status"] in ("PENDING", "RUNNING")
    assert early["basis"] is None and early["solutions"] == {}

    assert api.wait(prediction_id) == {"status": "SUCCESS", "message": None}
    prediction = api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]
    assert prediction["prediction_id"] == prediction_id
    assert prediction["product_code"] == "aws-emr"
    assert prediction["product_name"] == "Spark + EMR"
    assert prediction["event_log"] == "application_1_0001.gz"
    assert prediction["application_name"] == "app-application_1_0001.gz"
    assert prediction["error"] is None
    assert ISO_Z.match(prediction["created_at"])
    assert prediction["basis"]["metrics"] == {"runtime": 10.0, "cost": 1.0}
    assert set(prediction["solutions"]) == {"performance", "balanced", "economy"}

    (request,) = engine.calls
    assert request.prediction_id == prediction_id
    assert request.product_code == "aws-emr"
    assert request.cluster_report == EMR_CONFIGS
    assert request.project_id is None
    assert Path(request.eventlog_path).read_bytes() == content


def test_prediction_failure_from_engine(api: Any, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "log.json").write_text("{}")
    prediction_id = create_by_url(api, f"{base}/log.json", configs={"fail": "no executors in the log"})
    assert api.wait(prediction_id) == {"status": "FAILURE", "message": "no executors in the log"}
    prediction = api.get(f"/v1/autotuner/predictions/{prediction_id}").json()["result"]
    assert prediction["status"] == "FAILURE"
    assert prediction["error"] == {"code": "Prediction Failed", "message": "no executors in the log"}
    assert prediction["basis"] is None and prediction["solutions"] == {}


def test_prediction_failure_when_url_is_missing(api: Any, engine: Any, file_server: tuple[str, Path]) -> None:
    base, _ = file_server
    prediction_id = create_by_url(api, f"{base}/absent.gz?X-Amz-Signature=secret")
    status = api.wait(prediction_id)
    assert status["status"] == "FAILURE"
    assert "HTTP 404" in status["message"]
    assert "secret" not in status["message"]
    assert engine.calls == []


def test_remote_url_is_refused_without_allow_remote_fetch(api: Any, engine: Any) -> None:
    prediction_id = create_by_url(api, "https://logs.example.com/eventlog.gz")
    status = api.wait(prediction_id)
    assert status["status"] == "FAILURE"
    assert "loopback" in status["message"]
    assert engine.calls == []


def test_preference_filter(api: Any, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "a.json").write_text("{}")
    prediction_id = create_by_url(api, f"{base}/a.json")
    api.wait(prediction_id)
    for preference in ("performance", "balanced", "economy"):
        result = api.get(
            f"/v1/autotuner/predictions/{prediction_id}", params={"preference": preference}
        ).json()
        assert list(result["result"]["solutions"]) == [preference]
    bad = api.get(f"/v1/autotuner/predictions/{prediction_id}", params={"preference": "cheapest"})
    assert bad.status_code == 422
    assert error_of(bad)["detail"]["field"] == "preference"


def test_list_predictions_filters(api: Any, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "a.json").write_text("{}")
    project = api.post("/v1/projects", json={"name": "p", "product_code": "aws-emr"}).json()["result"]
    emr = create_by_url(api, f"{base}/a.json", project_id=project["id"])
    dbx = create_by_url(api, f"{base}/a.json", product_code="aws-databricks")
    api.wait(emr)
    api.wait(dbx)

    def ids(**params: Any) -> list[str]:
        response = api.get("/v1/autotuner/predictions", params=params)
        assert response.status_code == 200, response.text
        return [p["prediction_id"] for p in response.json()["result"]]

    assert ids() == [dbx, emr]  # newest first
    assert ids(products="aws-emr") == [emr]
    assert ids(products=["aws-emr", "aws-databricks"]) == [dbx, emr]
    assert ids(project_id=project["id"]) == [emr]
    assert ids(project_id=str(uuid.uuid4())) == []
    listed = api.get("/v1/autotuner/predictions", params={"preference": "economy"}).json()["result"]
    assert [list(p["solutions"]) for p in listed] == [["economy"], ["economy"]]
    assert listed[0]["product_name"] == "Databricks on AWS"
    assert api.get("/v1/autotuner/predictions", params={"products": "gcp"}).status_code == 422
    assert api.get("/v1/autotuner/predictions", params={"preference": "x"}).status_code == 422


# -- projects -------------------------------------------------------------------------------------------


def test_project_routes(api: Any) -> None:
    created = api.post(
        "/v1/projects",
        json={
            "name": "Data Insights",
            "product_code": "aws-emr",
            "description": "nightly",
            "app_id": "insights",
            "cluster_log_url": "s3://bucket/projects",
            "prediction_preference": "balanced",
            "prediction_params": {"sla_minutes": 30},
        },
    )
    assert created.status_code == 201
    project = created.json()["result"]
    assert uuid.UUID(project["id"]).version == 4
    assert ISO_Z.match(project["created_at"]) and ISO_Z.match(project["updated_at"])
    assert project["job_id"] is None and project["prediction_params"] == {"sla_minutes": 30}
    other = api.post("/v1/projects", json={"name": "Other", "product_code": "aws-databricks"}).json()[
        "result"
    ]

    assert [p["id"] for p in api.get("/v1/projects").json()["result"]] == [project["id"], other["id"]]
    assert [p["id"] for p in api.get("/v1/projects", params={"app_id": "insights"}).json()["result"]] == [
        project["id"]
    ]
    assert api.get(f"/v1/projects/{project['id']}").json()["result"] == project

    updated = api.put(f"/v1/projects/{project['id']}", json={"description": "hourly", "job_id": "42"})
    assert updated.status_code == 200
    changed = updated.json()["result"]
    assert changed["description"] == "hourly" and changed["job_id"] == "42"
    assert {k: v for k, v in changed.items() if k not in ("description", "job_id", "updated_at")} == {
        k: v for k, v in project.items() if k not in ("description", "job_id", "updated_at")
    }

    deleted = api.delete(f"/v1/projects/{project['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"result": f"Project {project['id']} deleted"}
    assert api.get(f"/v1/projects/{project['id']}").status_code == 404
    assert api.delete(f"/v1/projects/{project['id']}").status_code == 404
    assert api.put(f"/v1/projects/{project['id']}", json={"name": "x"}).status_code == 404
    assert [p["id"] for p in api.get("/v1/projects").json()["result"]] == [other["id"]]


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("POST", {"product_code": "aws-emr"}, "name"),
        ("POST", {"name": "p"}, "product_code"),
        ("POST", {"name": "p", "product_code": "gcp"}, "product_code"),
        ("POST", {"name": "p", "product_code": "aws-emr", "colour": "red"}, "colour"),
        (
            "POST",
            {"name": "p", "product_code": "aws-emr", "prediction_preference": "cheap"},
            "prediction_preference",
        ),
        ("POST", {"name": "p", "product_code": "aws-emr", "prediction_params": [1]}, "prediction_params"),
        ("POST", {"name": "p", "product_code": "aws-emr", "job_id": 5}, "job_id"),
        ("PUT", {"name": ""}, "name"),
        ("PUT", {"id": "other"}, "id"),
        ("PUT", {"product_code": "azure"}, "product_code"),
    ],
)
def test_project_validation(api: Any, method: str, body: dict[str, Any], field: str) -> None:
    path = "/v1/projects"
    if method == "PUT":
        project = api.post("/v1/projects", json={"name": "p", "product_code": "aws-emr"}).json()["result"]
        path = f"/v1/projects/{project['id']}"
    response = api.request(method, path, json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "Validation Error"
    assert error["detail"]["field"] == field


# -- transport --------------------------------------------------------------------------------------------


def test_keep_alive_and_content_length(server: LocalSyncServer, credentials: dict[str, str]) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(
            "POST",
            "/v1/auth/token",
            body=json.dumps(credentials),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        token = json.loads(response.read())["result"]["access_token"]
        sock = conn.sock
        for path in ("/v1/autotuner/products", "/v1/nope", "/v1/projects"):
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            body = response.read()
            assert response.getheader("Content-Length") == str(len(body))
            assert response.version == 11 and not response.will_close
        assert conn.sock is sock, "the server must keep the connection open between requests"
    finally:
        conn.close()


def test_concurrent_polling(api: Any, server: LocalSyncServer, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "a.json").write_text("{}")
    prediction_id = create_by_url(api, f"{base}/a.json")
    token = api.session.headers["Authorization"]

    def poll(_: int) -> list[int]:
        with requests.Session() as session:
            session.trust_env = False
            session.headers["Authorization"] = token
            return [
                session.get(
                    f"{server.url}/v1/autotuner/predictions/{prediction_id}/status", timeout=10
                ).status_code
                for _ in range(5)
            ]

    with ThreadPoolExecutor(max_workers=100) as pool:
        codes = [code for codes in pool.map(poll, range(100)) for code in codes]
    assert codes == [200] * 500
    assert server.stats.requests[("GET", "/v1/autotuner/predictions/{id}/status")] == 500


def test_lifecycle_and_temporary_data_dir(engine: Any) -> None:
    server = LocalSyncServer(engine=engine)
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        data_dir = server.data_dir
        assert data_dir is not None and data_dir.is_dir()
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            server.start()
    assert not data_dir.exists()
    assert not server.running
    server.stop()  # a second stop is harmless


def test_command_line(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync_provider.testing.sync_api_server",
            "--port",
            "0",
            "--api-key-id",
            "cli-id",
            "--api-key-secret",
            "cli-secret",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"Sync API stand-in listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                f"{match.group(1)}/v1/auth/token",
                json={"api_key_id": "cli-id", "api_key_secret": "cli-secret"},
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_default_engine_is_loaded_lazily(
    make_server: Any, connect: Any, engine: Any, file_server: tuple[str, Path]
) -> None:
    from sync_provider.testing.engines import PredictionEngine

    assert isinstance(engine, PredictionEngine)  # the fake keeps to the real protocol
    server = make_server(engine=None)
    api = connect(server)
    base, root = file_server
    (root / "garbage.json").write_text("this is not a Spark event log\n")
    status = api.wait(create_by_url(api, f"{base}/garbage.json"))
    assert status["status"] == "FAILURE"
    assert status["message"] and "No module named" not in status["message"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"<script>GARBAGE</script>\r\n\r\n", 400),
        (b"BREW /v1/<script> HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: <b>\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_a_json_error_without_reflection(
    server: LocalSyncServer, request_bytes: bytes, status: int
) -> None:
    import socket

    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_bytes)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close" in head
    assert b"<" not in body
    assert set(json.loads(body)) == {"error"}


def test_stop_cancels_waiting_work_and_waits_for_a_running_engine(
    make_server: Any, connect: Any, engine: Any, file_server: tuple[str, Path]
) -> None:
    import threading

    base, root = file_server
    (root / "a.json").write_text("{}")

    waiting = make_server(processing_delay_s=30)
    api = connect(waiting)
    create_by_url(api, f"{base}/a.json")
    while api.server.predictions()[0]["status"] != "RUNNING":
        time.sleep(0.01)
    start = time.monotonic()
    waiting.stop()
    assert time.monotonic() - start < 2
    assert engine.calls == []

    entered, release = threading.Event(), threading.Event()

    class SlowEngine:
        def predict(self, request: Any) -> dict[str, Any]:
            entered.set()
            release.wait(0.5)
            result: dict[str, Any] = engine.predict(request)
            return result

    busy = make_server(engine=SlowEngine(), processing_delay_s=0)
    prediction_id = create_by_url(connect(busy), f"{base}/a.json")
    assert entered.wait(5)
    busy.stop()
    assert engine.calls and engine.calls[0].prediction_id == prediction_id
    assert not [t for t in threading.enumerate() if t.name == f"sync-api-{prediction_id[:8]}"]
