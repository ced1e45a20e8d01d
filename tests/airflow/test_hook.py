"""SyncHook: connection parsing, the blocking client, test_connection, app_url and the async path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from sync_provider.core.config import DEFAULT_API_URL
from sync_provider.core.errors import AuthenticationError, NotFoundError, TransportError
from sync_provider.core.models import PredictionStatus
from sync_provider.hooks.sync import (
    SyncConnectionInfo,
    SyncHook,
    derive_app_url,
    resolve_api_url,
)
from tests.airflow.conftest import (
    conn_json,
    create_pending_prediction,
    create_prediction,
    wait_until_finished,
)
from tests.conftest import API_KEY_ID, API_KEY_SECRET

pytestmark = pytest.mark.airflow
async_test = pytest.mark.asyncio

AUTH = ("POST", "/v1/auth/token")
STATUS = ("GET", "/v1/autotuner/predictions/{id}/status")
STATUS_ROUTE = "GET /v1/autotuner/predictions/{id}/status"


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("https://api.synccomputing.com", None, None, "https://api.synccomputing.com"),
        ("https://api.synccomputing.com/", "", None, "https://api.synccomputing.com"),
        ("http://127.0.0.1", None, 8000, "http://127.0.0.1:8000"),
        ("http://127.0.0.1:9000", None, 8000, "http://127.0.0.1:9000"),
        ("127.0.0.1", "http", 8000, "http://127.0.0.1:8000"),
        ("api.example.com", "", None, "https://api.example.com"),
        ("api.example.com", "HTTPS", 8443, "https://api.example.com:8443"),
        ("sync.internal/api/", "https", None, "https://sync.internal/api"),
        ("", None, None, DEFAULT_API_URL),
        (None, "http", 8000, DEFAULT_API_URL),
    ],
)
def test_resolve_api_url(host: str | None, schema: str | None, port: int | None, expected: str) -> None:
    assert resolve_api_url(host, schema, port) == expected


@pytest.mark.parametrize(
    ("host", "schema", "fragment"),
    [
        ("ftp://files.example.com", None, "'ftp'"),
        ("example.com", "sftp", "'sftp'"),
        ("https://", None, "no host"),
    ],
)
def test_resolve_api_url_refuses(host: str, schema: str | None, fragment: str) -> None:
    with pytest.raises(AirflowException, match=fragment):
        resolve_api_url(host, schema)


@pytest.mark.parametrize(
    ("api_url", "extra", "expected"),
    [
        ("https://api.synccomputing.com", None, "https://app.synccomputing.com"),
        ("https://api.eu.example.com:8443", None, "https://app.eu.example.com:8443"),
        ("http://127.0.0.1:8000", None, "http://127.0.0.1:8000"),
        ("https://api.synccomputing.com", "https://console.example.com/", "https://console.example.com"),
    ],
)
def test_derive_app_url(api_url: str, extra: str | None, expected: str) -> None:
    assert derive_app_url(api_url, extra) == expected


def test_connection_from_uri_with_http_schema_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_LOCAL", "sync://key-id:se%2Fcret@127.0.0.1:8123/http")
    info = SyncHook(sync_conn_id="sync_local").connection_info
    assert info == SyncConnectionInfo(
        api_url="http://127.0.0.1:8123",
        api_key_id="key-id",
        api_key_secret="se/cret",
        app_url="http://127.0.0.1:8123",
    )
    assert "se/cret" not in repr(info)


def test_connection_defaults_to_the_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNC_DEFAULT", json.dumps({"conn_type": "sync", "login": "id", "password": "pw"})
    )
    hook = SyncHook()
    assert hook.api_url == "https://api.synccomputing.com"
    assert hook.app_url == "https://app.synccomputing.com"
    assert hook.prediction_url("abc-1") == "https://app.synccomputing.com/predictions/abc-1"


def test_app_url_from_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNC_DEFAULT",
        json.dumps(
            {
                "conn_type": "sync",
                "host": "https://api.synccomputing.com",
                "login": "id",
                "password": "pw",
                "extra": {"app_url": "https://sync.example.com/"},
            }
        ),
    )
    assert SyncHook().app_url == "https://sync.example.com"


def test_missing_key_names_the_field_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", json.dumps({"conn_type": "sync", "login": "id-only"}))
    with pytest.raises(AirflowException, match=r"'sync_default' has no password \(API key secret\)"):
        SyncHook().get_client()


def test_repr_hides_everything_secret(sync_conn: Any) -> None:
    hook = SyncHook()
    client = hook.get_client()
    for text in (repr(hook), repr(hook.connection_info), repr(client)):
        assert API_KEY_SECRET not in text


def test_get_client_is_cached_and_targets_the_connection(sync_conn: Any) -> None:
    hook = SyncHook()
    assert hook.get_client() is hook.get_client() is hook.get_conn()
    assert hook.get_client().api_url == sync_conn.url
    hook.close()


def test_test_connection_ok(sync_conn: Any) -> None:
    ok, message = SyncHook().test_connection()
    assert ok, message
    assert "aws-emr" in message and API_KEY_ID in message
    assert API_KEY_SECRET not in message


def test_test_connection_bad_key(sync_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-secret-7f3a9"
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server, password=wrong))
    ok, message = SyncHook().test_connection()
    assert not ok
    assert API_KEY_ID in message and "refused" in message
    assert wrong not in message and API_KEY_SECRET not in message


def test_test_connection_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNC_DEFAULT",
        json.dumps({"conn_type": "sync", "host": "http://127.0.0.1:9", "login": "id", "password": "pw-123"}),
    )
    ok, message = SyncHook(retries=0).test_connection()
    assert not ok and "could not reach" in message and "pw-123" not in message


def test_blocking_status_carries_syncs_message(
    sync_conn: Any, sync_client: Any, not_a_log: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, not_a_log, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    status, message = SyncHook().get_prediction_status(prediction_id)
    assert status is PredictionStatus.FAILURE and message


def test_blocking_errors_become_airflow_exceptions(sync_conn: Any) -> None:
    hook = SyncHook()
    with pytest.raises(AirflowException, match="Not Found"):
        hook.get_prediction_status("00000000-0000-0000-0000-000000000000")
    with pytest.raises(AirflowException, match="not a valid identifier"):
        hook.get_prediction("../projects")


# -- async path ------------------------------------------------------------------------------------


@async_test
async def test_async_status_reuses_the_token(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    before = sync_conn.stats.requests[AUTH]
    async with SyncHook() as hook:
        for _ in range(3):
            status, _ = await hook.aget_prediction_status(prediction_id)
            assert isinstance(status, PredictionStatus)
        assert await hook.aget_products() == ["aws-emr", "aws-databricks"]
    assert sync_conn.stats.requests[AUTH] - before == 1


@async_test
async def test_async_expired_token_is_refreshed_once(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    async with SyncHook() as hook:
        await hook.aget_prediction_status(prediction_id)
        sync_conn.expire_tokens()
        status, _ = await hook.aget_prediction_status(prediction_id)
    assert status is PredictionStatus.PENDING
    assert sync_conn.stats.requests[AUTH] == 3  # sync_client's, the hook's first, and one refresh
    assert sync_conn.stats.requests[STATUS] == 3  # the refused call was repeated once


@async_test
async def test_async_retries_503_429_and_dropped_connections(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    sync_conn.faults.add(STATUS_ROUTE, status=503, times=2)
    sync_conn.faults.add(STATUS_ROUTE, status=429, times=1, retry_after=0)
    sync_conn.faults.add(STATUS_ROUTE, drop="before", times=1)
    sync_conn.faults.add(STATUS_ROUTE, drop="after", times=1)
    async with SyncHook() as hook:
        status, _ = await hook.aget_prediction_status(prediction_id)
    assert status is PredictionStatus.PENDING
    assert sync_conn.stats.requests[STATUS] == 6


@async_test
async def test_async_gives_up_after_the_retries(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    sync_conn.faults.add(STATUS_ROUTE, status=500)
    async with SyncHook(retries=2) as hook:
        with pytest.raises(Exception, match="HTTP 500") as info:
            await hook.aget_prediction_status(prediction_id)
    assert not isinstance(info.value, TransportError)
    assert sync_conn.stats.requests[STATUS] == 3


@async_test
async def test_async_unreachable_is_a_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNC_DEFAULT",
        json.dumps({"conn_type": "sync", "host": "http://127.0.0.1:9", "login": "id", "password": "pw"}),
    )
    async with SyncHook(retries=1) as hook:
        with pytest.raises(TransportError, match=r"could not reach the Sync API at http://127.0.0.1:9"):
            await hook.aget_prediction_status("abc")


@async_test
async def test_async_bad_key_and_unknown_prediction(
    sync_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server, password="nope-nope-1"))
    async with SyncHook() as hook:
        with pytest.raises(AuthenticationError) as info:
            await hook.aget_prediction_status("abc")
    assert API_KEY_ID in str(info.value) and "nope-nope-1" not in str(info.value)

    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    async with SyncHook() as hook:
        with pytest.raises(NotFoundError):
            await hook.aget_prediction_status("00000000-0000-0000-0000-000000000000")


@async_test
async def test_async_get_prediction(
    sync_conn: Any, sync_client: Any, eventlog: Path, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    async with SyncHook() as hook:
        prediction = await hook.aget_prediction(prediction_id, "balanced")
    assert prediction["prediction_id"] == prediction_id
    assert set(prediction["solutions"]) == {"balanced"}


@async_test
async def test_aclose_is_idempotent_and_closes_the_session(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    hook = SyncHook()
    await hook.aget_prediction_status(prediction_id)
    session = hook._async._session  # type: ignore[union-attr]
    assert session is not None and not session.closed
    await hook.aclose()
    await hook.aclose()
    assert session.closed


@async_test
async def test_concurrent_calls_share_one_token_exchange(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    before = sync_conn.stats.requests[AUTH]
    async with SyncHook() as hook:
        await asyncio.gather(*(hook.aget_prediction_status(prediction_id) for _ in range(5)))
    assert sync_conn.stats.requests[AUTH] - before == 1


@async_test
async def test_hooks_of_one_loop_share_connections_and_token_until_the_last_closes(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any]
) -> None:
    from sync_provider.hooks import sync as sync_hooks

    prediction_id = create_pending_prediction(sync_client, cluster_report)
    before = sync_conn.stats.requests[AUTH]
    first, second = SyncHook(), SyncHook()
    await first.aget_prediction_status(prediction_id)
    await second.aget_prediction_status(prediction_id)
    assert sync_conn.stats.requests[AUTH] - before == 1  # one token for both
    pool = sync_hooks._POOLS[asyncio.get_running_loop()]
    connector = pool.connector
    assert pool.users == 2 and connector is not None
    assert first._async._session.connector is second._async._session.connector is connector  # type: ignore[union-attr]
    await first.aclose()
    assert not connector.closed and pool.users == 1
    await second.aclose()
    assert connector.closed and asyncio.get_running_loop() not in sync_hooks._POOLS


@async_test
async def test_a_different_key_gets_its_own_token(
    sync_server: Any, sync_client: Any, cluster_report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_DEFAULT", conn_json(sync_server))
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_WRONG", conn_json(sync_server, password="not-the-secret"))
    async with SyncHook() as good, SyncHook(sync_conn_id="sync_wrong") as bad:
        await good.aget_prediction_status(prediction_id)
        with pytest.raises(AuthenticationError):
            await bad.aget_prediction_status(prediction_id)
