"""Response envelope, typed errors, ids and the API contract helpers."""

from __future__ import annotations

import json

import pytest

from sync_provider.core import contract
from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PredictionError,
    SyncAPIError,
)
from sync_provider.core.models import Platform, Prediction, PredictionStatus, Preference, Response


def test_response_holds_exactly_one() -> None:
    assert Response[list[int]](result=[]).unwrap() == []
    with pytest.raises(ValueError, match="exactly one"):
        Response[int]()
    with pytest.raises(ValueError, match="exactly one"):
        Response[int](result=1, error={"code": "x", "message": "y"})


def test_unwrap_reraises_the_typed_error_with_detail() -> None:
    response = Response[str].fail(PredictionError("boom", detail={"prediction_id": "p1"}))
    assert not response.ok
    assert response.error is not None and response.error.code == "Prediction Error"
    with pytest.raises(PredictionError) as info:
        response.unwrap()
    assert info.value.detail == {"prediction_id": "p1"}
    assert str(info.value) == "Prediction Error: boom"
    # The error serialises without the internal 'kind'.
    assert json.loads(response.model_dump_json()) == {
        "result": None,
        "error": {"code": "Prediction Error", "message": "boom", "detail": {"prediction_id": "p1"}},
    }


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "x?y=1", "a b", "%2e%2e", "a" * 129, "..", None])
def test_ids_with_path_characters_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="not a valid identifier"):
        contract.validate_id(bad, "prediction_id")


def test_endpoint_format_validates() -> None:
    assert contract.GET_PREDICTION.format(prediction_id="abc-1") == "/v1/autotuner/predictions/abc-1"
    with pytest.raises(InvalidInputError):
        contract.GET_PREDICTION.format(prediction_id="abc/../../projects")


def test_preference_and_platform_parsing() -> None:
    assert contract.parse_preference("Balanced") is Preference.BALANCED
    assert contract.parse_preference(None) is None
    with pytest.raises(InvalidInputError, match="performance, balanced, economy"):
        contract.parse_preference("cheap")
    assert contract.parse_platform("aws-emr") is Platform.AWS_EMR
    with pytest.raises(InvalidInputError, match="aws-emr, aws-databricks"):
        contract.parse_platform("gcp-dataproc")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, AuthenticationError), (403, AuthenticationError), (404, NotFoundError), (500, SyncAPIError)],
)
def test_envelope_errors_are_typed(status: int, cls: type[SyncAPIError]) -> None:
    body = json.dumps({"error": {"code": "Some Code", "message": "went wrong", "detail": {"k": 1}}}).encode()
    with pytest.raises(cls) as info:
        contract.parse_envelope(status, body, what="GET /x")
    assert info.value.code == "Some Code"
    assert info.value.detail == {"k": 1}
    assert info.value.status == status
    assert "went wrong" in str(info.value)


def test_envelope_results_and_unusable_bodies() -> None:
    assert contract.parse_envelope(200, b'{"result": []}', what="x") == []
    assert contract.parse_envelope(204, b"", what="x") == "OK"
    with pytest.raises(SyncAPIError, match="not JSON"):
        contract.parse_envelope(502, b"<html>bad gateway</html>", what="x")
    with pytest.raises(SyncAPIError, match="without 'result'"):
        contract.parse_envelope(200, b'{"data": 1}', what="x")
    with pytest.raises(SyncAPIError, match="without an error envelope"):
        contract.parse_envelope(500, b'{"result": 1}', what="x")


def test_project_body_rules() -> None:
    body = contract.project_body({"name": "n", "product_code": "AWS-EMR", "description": None}, partial=False)
    assert body == {"name": "n", "product_code": "aws-emr"}
    with pytest.raises(InvalidInputError, match="name"):
        contract.project_body({"product_code": "aws-emr"}, partial=False)
    with pytest.raises(InvalidInputError, match="Unknown project field"):
        contract.project_body({"colour": "red"}, partial=True)


def test_prediction_solution_lookup() -> None:
    prediction = Prediction.model_validate(
        {
            "prediction_id": "p",
            "solutions": {"economy": {"configuration": {"a": 1}, "metrics": {"runtime": 1.5, "cost": 0.2}}},
            "unknown_future_field": True,
        }
    )
    assert prediction.solution(Preference.ECONOMY).metrics.cost == 0.2
    with pytest.raises(PredictionError, match=r"no 'balanced' solution \(it has: economy\)"):
        prediction.solution("balanced")


def test_status_parsing() -> None:
    assert PredictionStatus.parse("success") is PredictionStatus.SUCCESS
    assert PredictionStatus.parse("QUEUED") is PredictionStatus.RUNNING
    assert PredictionStatus.FAILURE.is_terminal and not PredictionStatus.PENDING.is_terminal


def test_backoff_grows_caps_and_jitters() -> None:
    import random

    delays = Backoff(initial=1, maximum=4, factor=2, jitter=0).delays()
    assert [next(delays) for _ in range(5)] == [1, 2, 4, 4, 4]
    jittered = Backoff(initial=10, maximum=10, factor=1, jitter=0.2).delays(random.Random(1))
    values = [next(jittered) for _ in range(50)]
    assert all(8 <= v <= 12 for v in values) and len(set(values)) > 1
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)


def test_deadline() -> None:
    assert Deadline(None).remaining() is None and not Deadline(None).expired
    assert Deadline(0).expired
    assert Deadline(10).clip(100) <= 10
