"""Fault injection in the local Sync API server: statuses, latency, dropped connections."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

PRODUCTS = "GET /v1/autotuner/products"
CREATE = "POST /v1/autotuner/predictions"
STATUS = "GET /v1/autotuner/predictions/{id}/status"
CREATE_BODY: dict[str, Any] = {"product_code": "aws-emr", "configs": {"Cluster": {}}, "project_id": None}


def test_status_fault_with_times(api: Any) -> None:
    rule = api.server.faults.add(PRODUCTS, status=503, times=2)
    codes = [api.get("/v1/autotuner/products").status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]
    assert rule.hits == 2
    error = api.get("/v1/autotuner/projects-not-affected").json()["error"]
    assert error["code"] == "Not Found"
    stats = api.server.stats
    assert stats.injected_errors == 2
    assert stats.faults["status"] == 2
    assert stats.requests[("GET", "/v1/autotuner/products")] == 4


def test_status_fault_body_and_retry_after(api: Any) -> None:
    api.server.faults.add(PRODUCTS, status=429, retry_after=3)
    response = api.get("/v1/autotuner/products")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "Too Many Requests"
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_status_fault_does_not_execute(api: Any) -> None:
    api.server.faults.add(CREATE, status=500, times=1)
    response = api.post("/v1/autotuner/predictions", json=CREATE_BODY)
    assert response.status_code == 500
    assert api.server.predictions() == []
    assert api.post("/v1/autotuner/predictions", json=CREATE_BODY).status_code == 200
    assert len(api.server.predictions()) == 1


def _pattern(make_server: Any, connect: Any, seed: int) -> list[int]:
    server = make_server(seed=seed)
    api = connect(server)
    server.faults.add(PRODUCTS, status=502, rate=0.5)
    return [api.get("/v1/autotuner/products").status_code for _ in range(30)]


def test_rate_is_deterministic_with_seed(make_server: Any, connect: Any) -> None:
    first = _pattern(make_server, connect, seed=11)
    second = _pattern(make_server, connect, seed=11)
    assert first == second
    assert 5 < first.count(502) < 25
    assert set(first) == {200, 502}


def test_rate_zero_and_one(api: Any) -> None:
    never = api.server.faults.add(PRODUCTS, status=500, rate=0.0)
    assert api.get("/v1/autotuner/products").status_code == 200
    assert never.hits == 0
    api.server.faults.clear()
    api.server.faults.add("*", status=500, rate=1.0, times=1)
    assert api.get("/v1/projects").status_code == 500
    assert api.get("/v1/projects").status_code == 200


def test_wildcard_applies_to_auth(api: Any, credentials: dict[str, str]) -> None:
    api.server.faults.add("*", status=503, times=1)
    response = api.session.post(f"{api.url}/v1/auth/token", json=credentials)
    assert response.status_code == 503
    assert api.session.post(f"{api.url}/v1/auth/token", json=credentials).status_code == 200


def test_latency(api: Any) -> None:
    api.server.faults.add(PRODUCTS, latency_s=0.3, times=1)
    start = time.monotonic()
    assert api.get("/v1/autotuner/products").status_code == 200
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    assert api.get("/v1/autotuner/products").status_code == 200
    assert time.monotonic() - start < 0.25
    assert api.server.stats.faults["latency"] == 1


def test_latency_then_status(api: Any) -> None:
    api.server.faults.add(STATUS, latency_s=0.2, status=504, times=1)
    prediction_id = api.post("/v1/autotuner/predictions", json=CREATE_BODY).json()["result"]["prediction_id"]
    start = time.monotonic()
    response = api.get(f"/v1/autotuner/predictions/{prediction_id}/status")
    assert response.status_code == 504
    assert time.monotonic() - start >= 0.2


def test_drop_before_does_not_execute(api: Any) -> None:
    api.server.faults.add(CREATE, drop="before", times=1)
    with pytest.raises(requests.ConnectionError):
        api.post("/v1/autotuner/predictions", json=CREATE_BODY)
    assert api.server.predictions() == []
    assert api.server.stats.dropped_connections == 1
    assert api.server.stats.faults["drop_before"] == 1
    # The client's next request opens a new connection and works.
    assert api.post("/v1/autotuner/predictions", json=CREATE_BODY).status_code == 200


def test_drop_after_executes_but_loses_the_response(api: Any) -> None:
    api.server.faults.add(CREATE, drop="after", times=1)
    with pytest.raises(requests.ConnectionError):
        api.post("/v1/autotuner/predictions", json=CREATE_BODY)
    (created,) = api.server.predictions()
    assert created["status"] == "PENDING"
    assert created["source"] == "upload"
    assert api.server.stats.predictions_created == 1
    assert api.server.stats.faults["drop_after"] == 1
    assert api.server.stats.responses.total() == 1  # only the token; the create got no answer


def test_upload_route_fault_uses_s3_xml(api: Any) -> None:
    api.server.faults.add("POST /_uploads", status=503, retry_after=1)
    response = api.session.post(f"{api.url}/_uploads", files={"file": ("a.gz", b"x")})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "<Code>ServiceUnavailable</Code>" in response.text


def test_clear_and_remove(api: Any) -> None:
    faults = api.server.faults
    rule = faults.add(PRODUCTS, status=500)
    faults.add(STATUS, drop="before")
    assert len(faults.rules) == 2
    faults.remove(rule)
    assert api.get("/v1/autotuner/products").status_code == 200
    faults.clear()
    assert faults.rules == []


@pytest.mark.parametrize(
    ("route", "options"),
    [
        ("GET /v1/autotuner/product", {"status": 500}),
        ("FETCH /v1/autotuner/products", {"status": 500}),
        (PRODUCTS, {"status": 500, "drop": "before"}),
        (PRODUCTS, {"status": 200}),
        (PRODUCTS, {"status": 500, "rate": 1.5}),
        (PRODUCTS, {"status": 500, "times": -1}),
        (PRODUCTS, {"drop": "sideways"}),
        (PRODUCTS, {"status": 500, "retry_after": 1}),
        (PRODUCTS, {}),
    ],
)
def test_invalid_rules(api: Any, route: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        api.server.faults.add(route, **options)
