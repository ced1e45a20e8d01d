"""The DatabricksHook adapters against the local workspace: bodies, retries, errors, the async path."""

from __future__ import annotations

from typing import Any

import pytest

from sync_provider.core.databricks import DatabricksAPIError, submit_run, wait_for_run
from sync_provider.core.errors import DatabricksError
from sync_provider.hooks.databricks import AsyncDatabricksHookApi, DatabricksHookApi, databricks_hook
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow.databricks_fixtures import DBFS, SPEC, TASK, dbx, fast_hook_retries
from tests.core.databricks_fixtures import FAST

pytestmark = pytest.mark.airflow
__all__ = ["dbx", "fast_hook_retries"]


def api(retry_limit: int = 3) -> DatabricksHookApi:
    return DatabricksHookApi.from_conn_id(retry_limit=retry_limit, retry_delay=0.01)


def test_core_functions_run_through_the_hook_with_types_kept(dbx: LocalDatabricks) -> None:
    adapter = api()
    run = submit_run(
        adapter,
        SPEC,
        TASK,
        project_id="proj-1",
        project_location=DBFS,
        run_name="etl",
        idempotency_token="t-1",
    ).unwrap()
    outcome = wait_for_run(adapter, run.run_id, poll=FAST).unwrap()
    assert outcome.state.is_successful
    cluster = adapter.call("GET", "/api/2.0/clusters/get", {"cluster_id": run.cluster_id}, idempotent=True)
    # No normalise_json_content: numbers stay numbers in what Databricks stored.
    assert cluster["num_workers"] == 2 and cluster["aws_attributes"]["first_on_demand"] == 1
    assert repr(adapter) == "DatabricksHookApi(databricks_conn_id='databricks_default')"


def test_get_parameters_drop_none_and_spell_booleans(dbx: LocalDatabricks) -> None:
    answer = api().call(
        "GET", "2.1/jobs/runs/list", {"active_only": True, "limit": 5, "offset": None}, idempotent=True
    )
    assert answer == {"runs": [], "has_more": False}


def test_errors_carry_databricks_error_code_and_status(dbx: LocalDatabricks) -> None:
    with pytest.raises(DatabricksAPIError) as caught:
        api().call("GET", "2.1/jobs/runs/get", {"run_id": 5}, idempotent=True)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.status == 400
    assert caught.value.message == "INVALID_PARAMETER_VALUE: Run 5 does not exist."


def test_idempotent_calls_are_retried_by_the_hook(dbx: LocalDatabricks) -> None:
    dbx.faults.add("GET /jobs/runs/list", status=503, times=2)
    assert api().call("GET", "2.1/jobs/runs/list", {}, idempotent=True)["runs"] == []
    assert [r.status for r in dbx.requests("jobs/runs/list")] == [503, 503, 200]


def test_calls_that_must_not_repeat_are_tried_once(dbx: LocalDatabricks) -> None:
    dbx.faults.add("POST /jobs/runs/submit", status=503, times=1)
    with pytest.raises(DatabricksAPIError) as caught:
        submit_run(
            api(), SPEC, TASK, project_id="p", project_location=DBFS, run_name="x", idempotency_token=None
        ).unwrap()
    assert (caught.value.status, caught.value.error_code) == (503, "TEMPORARILY_UNAVAILABLE")
    assert len(dbx.requests("jobs/runs/submit")) == 1
    assert dbx.submit_count() == 0


def test_exhausted_retries_keep_the_last_answer(dbx: LocalDatabricks) -> None:
    dbx.faults.add("GET /jobs/runs/list", status=429, times=5)
    with pytest.raises(DatabricksAPIError) as caught:
        api(retry_limit=2).call("GET", "2.1/jobs/runs/list", {}, idempotent=True)
    assert (caught.value.status, caught.value.error_code) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert caught.value.message.endswith("(gave up after 2 tries)")


def test_unreachable_workspaces_and_missing_connections_are_core_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATABRICKS_DOWN",
        '{"conn_type": "databricks", "host": "127.0.0.1", "port": 9, "schema": "http", "password": "x"}',
    )
    with pytest.raises(DatabricksError, match="failed 1 times") as caught:
        DatabricksHookApi.from_conn_id("databricks_down", retry_limit=1).call(
            "GET", "2.1/jobs/runs/list", {}, idempotent=True
        )
    assert not isinstance(caught.value, DatabricksAPIError)
    with pytest.raises(DatabricksError, match="nope"):
        DatabricksHookApi.from_conn_id("nope").call("GET", "2.1/jobs/runs/list", {}, idempotent=True)


@pytest.mark.asyncio
async def test_async_path_reads_and_cancels(dbx: LocalDatabricks) -> None:
    run = submit_run(
        api(), SPEC, TASK, project_id="p", project_location=DBFS, run_name="a", idempotency_token="t-a"
    ).unwrap()
    async with AsyncDatabricksHookApi(databricks_hook(retry_limit=2, retry_delay=0.01)) as adapter:
        answer = await adapter.call("GET", "2.1/jobs/runs/get", {"run_id": run.run_id}, idempotent=True)
        assert answer["run_id"] == run.run_id
        assert (
            await adapter.call("POST", "2.1/jobs/runs/cancel", {"run_id": run.run_id}, idempotent=True) == {}
        )
        with pytest.raises(DatabricksAPIError) as caught:
            await adapter.call("GET", "2.1/jobs/runs/get", {"run_id": 5}, idempotent=True)
        # The async hook drops the body: the HTTP status is the code.
        assert (caught.value.status, caught.value.error_code) == (400, "400")
        dbx.faults.add("POST /jobs/runs/submit", status=503, times=1)
        with pytest.raises(DatabricksAPIError) as caught:
            await adapter.call("POST", "2.1/jobs/runs/submit", {"run_name": "x"}, idempotent=False)
        assert caught.value.status == 503
        assert len(dbx.requests("jobs/runs/submit")) == 2  # the first submit, then one try
    assert dbx.active_runs() == []


def test_a_missing_connection_fails_the_async_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def go() -> Any:
        async with AsyncDatabricksHookApi(databricks_hook("nope", retry_limit=1)) as adapter:
            return await adapter.call("GET", "2.1/jobs/runs/get", {"run_id": 1}, idempotent=True)

    with pytest.raises(DatabricksError, match="nope"):
        asyncio.run(go())
