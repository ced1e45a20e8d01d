"""``Retry-After`` values urllib3 cannot read: a decimal one is honoured, any other one is ignored
(the backoff applies) instead of ending the call as a transport error."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from sync_provider.core import contract
from sync_provider.core.client import SyncClient, build_retry

PRODUCTS = ("GET", "/v1/autotuner/products")


def policy() -> Any:
    return build_retry(attempts=3, backoff_factor=0.01, backoff_max=0.05, methods=frozenset({"GET"}))


def response_with(value: str) -> Any:
    return SimpleNamespace(headers={"Retry-After": value})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("1.5", 1.5), (" 0.25 ", 0.25), (".5", 0.5), ("3.", 3.0), ("0", 0.0), ("0.0", 0.0)],
)
def test_whole_and_decimal_seconds_are_read(value: str, seconds: float) -> None:
    assert policy().get_retry_after(response_with(value)) == pytest.approx(seconds)


def test_an_http_date_is_still_read() -> None:
    later = policy().get_retry_after(response_with(formatdate(time.time() + 30, usegmt=True)))
    assert later is not None and 25 <= later <= 31


@pytest.mark.parametrize("value", ["soon", "-1", "1,5", "1e3", "nan", "inf", "1.5s", ""])
def test_an_unreadable_value_is_no_header(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="sync_provider.core.client"):
        assert policy().get_retry_after(response_with(value)) is None
    assert "unreadable Retry-After header" in caplog.text


def test_a_huge_decimal_value_is_capped_like_a_whole_one() -> None:
    retry = policy()
    cap = getattr(retry, "retry_after_max", None)
    if cap is None:  # pragma: no cover - urllib3 < 2.5 has no cap
        pytest.skip("this urllib3 has no retry_after_max")
    assert retry.get_retry_after(response_with("999999.5")) == cap
    assert retry.get_retry_after(response_with("999999")) == cap


def test_a_fractional_retry_after_from_the_sync_api_is_waited(
    sync_server: Any, sync_client: SyncClient
) -> None:
    sync_client.request(contract.PRODUCTS)
    sync_server.faults.add("GET /v1/autotuner/products", status=429, times=1, retry_after=1.5)
    started = time.monotonic()
    assert sync_client.request(contract.PRODUCTS) == ["aws-emr", "aws-databricks"]
    assert 1.4 <= time.monotonic() - started < 10
    assert sync_server.stats.requests[PRODUCTS] == 3


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers the first GET with 503 and the configured ``Retry-After``, the next ones with 200."""

    retry_after = "soon"
    calls: list[float] = []

    def do_GET(self) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) == 1:
            self.send_response(503)
            self.send_header("Retry-After", self.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"result": ["aws-emr"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_Flaky]]]:
    handler = type("Handler", (_Flaky,), {"calls": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(("value", "least", "most"), [("soon", 0.0, 0.9), ("0.6", 0.55, 5.0)])
def test_the_policy_retries_on_the_wire_whatever_the_header_says(
    flaky: tuple[str, type[_Flaky]], value: str, least: float, most: float
) -> None:
    url, handler = flaky
    handler.retry_after = value
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=policy()))
        response = session.get(url + "/x", timeout=5)
    assert response.status_code == 200 and len(handler.calls) == 2
    waited = handler.calls[1] - handler.calls[0]
    assert least <= waited < most, waited
