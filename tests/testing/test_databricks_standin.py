"""The local Databricks stand-in on the wire: auth, errors, any API version, GET parameters in a
body, time-based states, clusters, events pages, DBFS, and the Databricks provider's own hook."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sync_provider.testing.databricks import LocalDatabricks
from tests.core.databricks_fixtures import SPEC, TASK, finish, make_dbx


@pytest.fixture
def dbx() -> Iterator[LocalDatabricks]:
    with make_dbx(phase_s=0.2) as server:
        yield server
        finish(server)


@pytest.fixture
def http(dbx: LocalDatabricks) -> Iterator[Any]:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {dbx.token}"

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return session.request(method, f"{dbx.url}/api/{path}", **kwargs)

    yield call
    session.close()


def submit_body(name: str = "etl", **extra: Any) -> dict[str, Any]:
    return {"run_name": name, "tasks": [{"task_key": "main", **TASK, "new_cluster": SPEC}], **extra}


def test_auth_and_error_envelopes(dbx: LocalDatabricks, http: Any) -> None:
    bare = requests.get(f"{dbx.url}/api/2.1/jobs/runs/get", params={"run_id": 1}, timeout=5)
    assert bare.status_code == 401 and bare.json()["error_code"] == "UNAUTHENTICATED"
    wrong = requests.get(
        f"{dbx.url}/api/2.1/jobs/runs/get", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert wrong.status_code == 401 and wrong.json() == {
        "error_code": "UNAUTHENTICATED",
        "message": "Invalid access token.",
    }
    missing = http("GET", "2.1/jobs/runs/get", params={"run_id": 99})
    assert (missing.status_code, missing.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert http("GET", "2.0/clusters/get", params={"cluster_id": "x"}).json()["message"] == (
        "Cluster x does not exist"
    )
    unknown = http("POST", "2.0/jobs/nothing")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    bad = http(
        "POST", "2.1/jobs/runs/submit", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (bad.status_code, bad.json()["error_code"]) == (400, "MALFORMED_REQUEST")
    invalid = http(
        "POST", "2.1/jobs/runs/submit", json={"run_name": "x", "tasks": [{"task_key": "t", **TASK}]}
    )
    assert invalid.status_code == 400 and "exactly one of new_cluster" in invalid.json()["message"]
    unknown_node = http(
        "POST",
        "2.1/jobs/runs/submit",
        json={"tasks": [{"task_key": "t", **TASK, "new_cluster": {**SPEC, "node_type_id": "z9.huge"}}]},
    )
    assert "Node type z9.huge is not supported" in unknown_node.json()["message"]
    assert dbx.submit_count() == 0


def test_any_version_prefix_and_get_parameters_in_a_body(dbx: LocalDatabricks, http: Any) -> None:
    run_id = http("POST", "2.2/jobs/runs/submit", json=submit_body()).json()["run_id"]
    for version in ("2.0", "2.1", "2.2"):
        by_query = http("GET", f"{version}/jobs/runs/get", params={"run_id": run_id}).json()
        by_body = http("GET", f"{version}/jobs/runs/get", json={"run_id": run_id}).json()
        assert by_query["run_id"] == by_body["run_id"] == run_id
    http("POST", "2.1/jobs/runs/cancel", json={"run_id": run_id})


def test_states_move_with_time_and_idempotency_tokens_dedupe(dbx: LocalDatabricks, http: Any) -> None:
    body = submit_body(idempotency_token="tok-1")
    run_id = http("POST", "2.1/jobs/runs/submit", json=body).json()["run_id"]
    assert http("POST", "2.1/jobs/runs/submit", json=body).json()["run_id"] == run_id
    assert dbx.submit_count() == 1 and dbx.active_runs() == [run_id]
    seen: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        run = http("GET", "2.1/jobs/runs/get", params={"run_id": run_id}).json()
        state = (run["state"]["life_cycle_state"], run["state"].get("result_state"))
        if not seen or seen[-1] != state:
            seen.append(state)
        if state[0] == "TERMINATED":
            break
        time.sleep(0.03)
    assert seen == [
        ("PENDING", None),
        ("RUNNING", None),
        ("TERMINATING", "SUCCESS"),
        ("TERMINATED", "SUCCESS"),
    ]
    task = run["tasks"][0]
    assert (
        task["new_cluster"]["node_type_id"] == "m5.xlarge" and task["notebook_task"] == TASK["notebook_task"]
    )
    assert task["cluster_instance"]["spark_context_id"]
    assert task["end_time"] == run["end_time"] > run["start_time"]
    assert run["setup_duration"] + run["execution_duration"] + run["cleanup_duration"] == pytest.approx(
        run["end_time"] - run["start_time"], abs=5
    )
    cluster = http(
        "GET", "2.0/clusters/get", json={"cluster_id": task["cluster_instance"]["cluster_id"]}
    ).json()
    assert cluster["state"] == "TERMINATED" and cluster["termination_reason"]["code"] == "JOB_FINISHED"
    assert cluster["state_message"] and cluster["cluster_source"] == "JOB"
    listed = http("GET", "2.1/jobs/runs/list", params={"completed_only": "true"}).json()
    assert [r["run_id"] for r in listed["runs"]] == [run_id] and listed["has_more"] is False


def test_cancel_and_failure_output(dbx: LocalDatabricks, http: Any) -> None:
    dbx.add_run_rule("bad-*", result_state="FAILED", message="division by zero")
    bad = http("POST", "2.1/jobs/runs/submit", json=submit_body("bad-1")).json()["run_id"]
    good = http("POST", "2.1/jobs/runs/submit", json=submit_body("good")).json()["run_id"]
    assert http("POST", "2.1/jobs/runs/cancel", json={"run_id": good}).json() == {}
    state = http("GET", "2.1/jobs/runs/get", params={"run_id": good}).json()["state"]
    assert (state["life_cycle_state"], state["result_state"]) == ("TERMINATED", "CANCELED")
    assert dbx.active_runs() == [bad]
    time.sleep(0.7)
    output = http("GET", "2.1/jobs/runs/get-output", params={"run_id": bad}).json()
    assert output["error"] == "division by zero"
    assert output["metadata"]["state"]["result_state"] == "FAILED"


def test_all_purpose_clusters(dbx: LocalDatabricks, http: Any) -> None:
    body = {**SPEC, "cluster_name": "shared", "idempotency_token": "c-1"}
    cluster_id = http("POST", "2.0/clusters/create", json=body).json()["cluster_id"]
    assert http("POST", "2.0/clusters/create", json=body).json()["cluster_id"] == cluster_id
    assert http("GET", "2.0/clusters/get", params={"cluster_id": cluster_id}).json()["state"] == "PENDING"
    time.sleep(0.25)
    got = http("GET", "2.0/clusters/get", params={"cluster_id": cluster_id}).json()
    assert (got["state"], got["cluster_name"], got["cluster_source"]) == ("RUNNING", "shared", "API")
    assert got["driver"]["private_ip"].startswith("10.")
    assert dbx.running_clusters() == [cluster_id]
    http("POST", "2.0/clusters/delete", json={"cluster_id": cluster_id})
    got = http("GET", "2.0/clusters/get", params={"cluster_id": cluster_id}).json()
    assert got["state"] == "TERMINATED" and got["termination_reason"]["code"] == "USER_REQUEST"
    http("POST", "2.0/clusters/permanent-delete", json={"cluster_id": cluster_id})
    assert http("GET", "2.0/clusters/get", params={"cluster_id": cluster_id}).status_code == 400


def test_cluster_events_pages_are_stable_and_newest_first(dbx: LocalDatabricks, http: Any) -> None:
    run_id = http("POST", "2.1/jobs/runs/submit", json=submit_body()).json()["run_id"]
    cluster_id = http("GET", "2.1/jobs/runs/get", params={"run_id": run_id}).json()["tasks"][0][
        "cluster_instance"
    ]["cluster_id"]
    time.sleep(0.35)  # partway through RUNNING: more events appear while we page
    body: dict[str, Any] | None = {"cluster_id": cluster_id, "limit": 10}
    events: list[dict[str, Any]] = []
    totals = set()
    while body is not None:
        page = http("POST", "2.0/clusters/events", json=body).json()
        events.extend(page["events"])
        totals.add(page["total_count"])
        body = page.get("next_page")
        time.sleep(0.01)
    assert len(totals) == 1 and len(events) == totals.pop()
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True) and len(set(map(json.dumps, events))) == len(events)
    ascending = http(
        "POST", "2.0/clusters/events", json={"cluster_id": cluster_id, "order": "ASC", "limit": 5}
    )
    assert ascending.json()["events"][0]["type"] == "CREATING"
    only = http(
        "POST",
        "2.0/clusters/events",
        json={"cluster_id": cluster_id, "event_types": ["RUNNING"], "limit": 500},
    ).json()
    assert [e["type"] for e in only["events"]] == ["RUNNING"]
    assert (
        http("POST", "2.0/clusters/events", json={"cluster_id": cluster_id, "limit": 501}).status_code == 400
    )
    http("POST", "2.1/jobs/runs/cancel", json={"run_id": run_id})


def test_dbfs_endpoints(dbx: LocalDatabricks, http: Any) -> None:
    payload = bytes(range(256)) * 5000  # 1.28 MB
    dbx.put_dbfs("dbfs:/logs/a/b.bin", payload)
    dbx.put_dbfs("/logs/c.txt", b"hello")
    listed = http("GET", "2.0/dbfs/list", params={"path": "dbfs:/logs"}).json()["files"]
    assert [(f["path"], f["is_dir"]) for f in listed] == [("/logs/a", True), ("/logs/c.txt", False)]
    status = http("GET", "2.0/dbfs/get-status", json={"path": "/logs/a/b.bin"}).json()
    assert status["file_size"] == len(payload) and status["modification_time"] > 0
    chunks, offset = [], 0
    while True:
        part = http(
            "GET", "2.0/dbfs/read", params={"path": "/logs/a/b.bin", "offset": offset, "length": 1 << 20}
        )
        data = base64.b64decode(part.json()["data"])
        if not data:
            break
        chunks.append(data)
        offset += len(data)
    assert b"".join(chunks) == payload and len(chunks) == 2
    too_big = http("GET", "2.0/dbfs/read", params={"path": "/logs/c.txt", "length": (1 << 20) + 1})
    assert (too_big.status_code, too_big.json()["error_code"]) == (400, "MAX_READ_SIZE_EXCEEDED")
    gone = http("GET", "2.0/dbfs/list", params={"path": "/nope"})
    assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert http("GET", "2.0/dbfs/read", params={"path": "/logs/a"}).status_code == 400


def test_http_faults(dbx: LocalDatabricks, http: Any) -> None:
    dbx.faults.add("GET /jobs/runs/get", status=503, times=1, retry_after=1)
    answer = http("GET", "2.1/jobs/runs/get", params={"run_id": 1})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    dbx.faults.add("POST /clusters/events", drop="before", times=1)
    with pytest.raises(requests.ConnectionError):
        http("POST", "2.0/clusters/events", json={"cluster_id": "x"})
    with pytest.raises(ValueError, match="Unknown route"):
        dbx.faults.add("GET /jobs/runs/nope", status=500)
    assert [r.status for r in dbx.requests("jobs/runs/get")] == [503]


def test_connection_json_is_what_the_provider_needs(dbx: LocalDatabricks) -> None:
    conn = json.loads(dbx.connection_json())
    assert conn == {
        "conn_type": "databricks",
        "host": "127.0.0.1",
        "port": dbx.bound_port,
        "schema": "http",
        "password": dbx.token,
    }


@pytest.mark.airflow
def test_the_databricks_providers_hook_works_against_the_stand_in(
    dbx: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("airflow.providers.databricks")
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_TEST", dbx.connection_json())
    hook = DatabricksHook(databricks_conn_id="databricks_test", retry_limit=1, retry_delay=0.1)

    run_id = hook.submit_run(submit_body("from-airflow"))
    state = hook.get_run_state(run_id)
    assert state.life_cycle_state in ("PENDING", "RUNNING") and not state.is_terminal
    assert hook.get_run_page_url(run_id).endswith(f"/run/{run_id}")

    async def read_async() -> Any:
        async with DatabricksHook(
            databricks_conn_id="databricks_test", retry_limit=1, retry_delay=0.1
        ) as ahook:
            return await ahook.a_get_run_state(run_id)

    async_state = asyncio.run(read_async())
    assert async_state.life_cycle_state in ("PENDING", "RUNNING")
    cluster_id = hook.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
    assert hook.get_cluster_state(cluster_id).state in ("PENDING", "RUNNING")

    hook.cancel_run(run_id)
    final = hook.get_run_state(run_id)
    assert final.is_terminal and final.result_state == "CANCELED"
    assert dbx.active_runs() == []
