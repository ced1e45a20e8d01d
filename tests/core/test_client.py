"""The Sync API client against the local server: auth, retries, lost responses, secrets."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from sync_provider.core import contract
from sync_provider.core.client import SyncClient
from sync_provider.core.config import load_settings
from sync_provider.core.errors import AuthenticationError, NotFoundError, SyncAPIError, TransportError
from tests.conftest import API_KEY_ID, API_KEY_SECRET

AUTH = ("POST", "/v1/auth/token")
PRODUCTS = ("GET", "/v1/autotuner/products")
CREATE = ("POST", "/v1/autotuner/predictions")


def create_body() -> dict[str, Any]:
    return {"product_code": "aws-emr", "configs": {"Cluster": {}}, "project_id": None}


def test_token_is_fetched_once_and_reused(sync_server: Any, sync_client: SyncClient) -> None:
    for _ in range(3):
        assert sync_client.request(contract.PRODUCTS) == ["aws-emr", "aws-databricks"]
    assert sync_server.stats.requests[AUTH] == 1
    assert sync_server.stats.requests[PRODUCTS] == 3


def test_expired_token_is_refreshed_once_and_the_call_repeated(
    sync_server: Any, sync_client: SyncClient
) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.expire_tokens()
    assert sync_client.request(contract.PRODUCTS)
    assert sync_server.stats.requests[AUTH] == 2
    assert sync_server.stats.requests[PRODUCTS] == 3  # first call, the refused one, and its repeat


def test_token_near_expiry_is_renewed_before_use(tmp_path: Any) -> None:
    from sync_provider.testing.sync_api_server import LocalSyncServer

    with LocalSyncServer(
        api_keys={API_KEY_ID: API_KEY_SECRET}, token_ttl_s=30.5, data_dir=tmp_path
    ) as server:
        client = SyncClient(load_settings(API_KEY_ID, API_KEY_SECRET, server.url, env={}))
        client.request(contract.PRODUCTS)
        time.sleep(0.6)  # now inside the 30 s refresh margin
        client.request(contract.PRODUCTS)
        assert server.stats.requests[AUTH] == 2
        assert server.stats.responses[401] == 0


def test_bad_key_is_an_authentication_error_without_the_secret(sync_server: Any) -> None:
    client = SyncClient(load_settings(API_KEY_ID, "wrong-secret-value", sync_server.url, env={}))
    with pytest.raises(AuthenticationError) as info:
        client.request(contract.PRODUCTS)
    assert API_KEY_ID in str(info.value)
    assert "wrong-secret-value" not in str(info.value) and "wrong-secret-value" not in repr(info.value)


def test_get_is_retried_on_5xx_and_429(sync_server: Any, sync_client: SyncClient) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", status=503, times=2)
    sync_server.faults.add("GET /v1/autotuner/products", status=429, times=1)
    assert sync_client.request(contract.PRODUCTS)
    assert sync_server.stats.requests[PRODUCTS] == 1 + 4


def test_retry_after_is_honoured(sync_server: Any, sync_client: SyncClient) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", status=429, times=1, retry_after=1)
    started = time.monotonic()
    sync_client.request(contract.PRODUCTS)
    assert time.monotonic() - started >= 0.9


def test_get_gives_up_after_the_allowed_retries(sync_server: Any, sync_client: SyncClient) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", status=500)
    with pytest.raises(SyncAPIError) as info:
        sync_client.request(contract.PRODUCTS)
    assert info.value.status == 500
    assert sync_server.stats.requests[PRODUCTS] == 1 + 4  # first try + 3 retries


def test_dropped_get_is_retried(sync_server: Any, sync_client: SyncClient) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", drop="after", times=1)
    assert sync_client.request(contract.PRODUCTS)


def test_post_is_not_repeated_on_5xx(sync_server: Any, sync_client: SyncClient) -> None:
    sync_server.faults.add("POST /v1/autotuner/predictions", status=503, times=1)
    with pytest.raises(SyncAPIError) as info:
        sync_client.request(contract.CREATE_PREDICTION, json=create_body())
    assert info.value.status == 503
    assert sync_server.stats.requests[CREATE] == 1


def test_post_is_repeated_on_429_because_the_server_did_not_act(
    sync_server: Any, sync_client: SyncClient
) -> None:
    sync_server.faults.add("POST /v1/autotuner/predictions", status=429, times=1)
    created = sync_client.request(contract.CREATE_PREDICTION, json=create_body())
    assert created["prediction_id"]
    assert sync_server.stats.requests[CREATE] == 2
    assert len(sync_server.predictions()) == 1


def test_post_whose_response_was_lost_is_not_repeated(sync_server: Any, sync_client: SyncClient) -> None:
    sync_server.faults.add("POST /v1/autotuner/predictions", drop="after", times=1)
    with pytest.raises(TransportError, match="not repeated"):
        sync_client.request(contract.CREATE_PREDICTION, json=create_body())
    assert sync_server.stats.requests[CREATE] == 1
    assert len(sync_server.predictions()) == 1, "the server acted once; the client must not act twice"


def test_post_is_repeated_after_401(sync_server: Any, sync_client: SyncClient) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.expire_tokens()
    sync_client.request(contract.CREATE_PREDICTION, json=create_body())
    assert len(sync_server.predictions()) == 1


def test_read_timeout_on_get_is_retried(sync_server: Any) -> None:
    settings = load_settings(API_KEY_ID, API_KEY_SECRET, sync_server.url, env={})
    client = SyncClient(settings, timeout=(2.0, 0.3), retries=2, backoff_factor=0.01)
    client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", latency_s=1.0, times=1)
    assert client.request(contract.PRODUCTS)


def test_unreachable_server_is_a_transport_error(sync_server: Any) -> None:
    url = sync_server.url
    sync_server.stop()
    client = SyncClient(
        load_settings(API_KEY_ID, API_KEY_SECRET, url, env={}), retries=1, backoff_factor=0.01
    )
    with pytest.raises(TransportError, match="could not reach the Sync API"):
        client.request(contract.PRODUCTS)


def test_not_found_is_typed(sync_client: SyncClient) -> None:
    with pytest.raises(NotFoundError):
        sync_client.request(
            contract.GET_PREDICTION, path_params={"prediction_id": "00000000-0000-4000-8000-000000000000"}
        )


def test_secret_and_token_never_logged_or_shown(
    sync_server: Any, sync_client: SyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sync_client.request(contract.PRODUCTS)
    sync_server.expire_tokens()
    sync_client.request(contract.PRODUCTS)
    token = sync_client.access_token().access_token
    text = caplog.text + repr(sync_client) + repr(sync_client.access_token()) + repr(sync_client.settings)
    assert API_KEY_SECRET not in text
    assert token not in text


def test_an_outage_during_the_token_exchange_is_not_called_a_bad_key(
    sync_server: Any, sync_client: SyncClient
) -> None:
    sync_server.faults.add("POST /v1/auth/token", status=503)
    with pytest.raises(SyncAPIError) as info:
        sync_client.request(contract.PRODUCTS)
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == 503
    assert "key" not in info.value.message.lower()
