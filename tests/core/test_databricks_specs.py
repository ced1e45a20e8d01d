"""Databricks cluster specs: preparing (tags, log delivery, conflicts, validation) and applying a
prediction. Pure functions: no server."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_provider.core.databricks import (
    PROJECT_ID_TAG,
    RUN_ID_TAG,
    cluster_spec_from_prediction,
    merge_solution,
    prepare_cluster_spec,
    validate_cluster_spec,
)
from sync_provider.core.errors import InvalidInputError, PredictionError
from sync_provider.core.models import Prediction
from tests.core.databricks_fixtures import SPEC

S3 = "s3://sync-logs/projects"
DBFS = "dbfs:/sync/projects"


def prepare(spec: dict[str, Any], **options: Any) -> Any:
    options.setdefault("project_id", "proj-1")
    options.setdefault("project_location", S3)
    options.setdefault("run_id", "run-1")
    options.setdefault("region", "us-east-1")
    return prepare_cluster_spec(spec, **options)


def problems_of(excinfo: pytest.ExceptionInfo[InvalidInputError]) -> list[str]:
    detail = excinfo.value.detail
    assert isinstance(detail, dict)
    return list(detail["problems"])


def test_prepare_adds_tags_and_s3_log_delivery_without_touching_the_input() -> None:
    spec = copy.deepcopy(SPEC)
    spec["custom_tags"] = {"team": "data"}
    before = copy.deepcopy(spec)

    prepared = prepare(spec)

    assert spec == before
    assert prepared.spec["custom_tags"] == {"team": "data", PROJECT_ID_TAG: "proj-1", RUN_ID_TAG: "run-1"}
    assert prepared.spec["cluster_log_conf"] == {
        "s3": {
            "destination": "s3://sync-logs/projects/proj-1/run-1",
            "region": "us-east-1",
            "enable_encryption": True,
            "canned_acl": "bucket-owner-full-control",
        }
    }
    assert (prepared.project_id, prepared.run_id, prepared.log_scheme) == ("proj-1", "run-1", "s3")
    assert prepared.log_destination == "s3://sync-logs/projects/proj-1/run-1"


def test_prepare_dbfs_location_and_a_fresh_run_id() -> None:
    first = prepare(SPEC, project_location=DBFS + "/", run_id=None)
    second = prepare(SPEC, project_location=DBFS, run_id=None)

    assert first.spec["cluster_log_conf"] == {"dbfs": {"destination": f"{DBFS}/proj-1/{first.run_id}"}}
    assert first.log_scheme == "dbfs"
    assert first.run_id != second.run_id
    assert first.spec["custom_tags"][RUN_ID_TAG] == first.run_id


def test_prepare_keeps_the_users_s3_options_and_matching_values() -> None:
    spec = copy.deepcopy(SPEC)
    spec["custom_tags"] = {PROJECT_ID_TAG: "proj-1", RUN_ID_TAG: "run-1"}
    spec["cluster_log_conf"] = {
        "s3": {
            "destination": "s3://sync-logs/projects/proj-1/run-1/",
            "enable_encryption": False,
            "kms_key": "arn:aws:kms:us-east-1:123:key/k",
            "region": "us-east-1",
        }
    }
    prepared = prepare(spec)
    s3 = prepared.spec["cluster_log_conf"]["s3"]
    assert s3["enable_encryption"] is False
    assert s3["kms_key"] == "arn:aws:kms:us-east-1:123:key/k"
    assert s3["destination"] == "s3://sync-logs/projects/proj-1/run-1/"
    assert s3["canned_acl"] == "bucket-owner-full-control"


def test_prepare_takes_the_region_from_the_zone_or_asks_for_it() -> None:
    assert prepare(SPEC, region=None).spec["cluster_log_conf"]["s3"]["region"] == "us-east-1"
    spec = {k: v for k, v in SPEC.items() if k != "aws_attributes"}
    with pytest.raises(InvalidInputError, match="region") as excinfo:
        prepare(spec, region=None)
    assert len(problems_of(excinfo)) == 1
    assert prepare(spec, project_location=DBFS, region=None).log_scheme == "dbfs"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cluster_log_conf": {"s3": {"destination": "s3://elsewhere/logs"}}}, "s3://elsewhere/logs"),
        ({"cluster_log_conf": {"dbfs": {"destination": "dbfs:/mine"}}}, "sends logs to dbfs"),
        ({"custom_tags": {PROJECT_ID_TAG: "other-project"}}, "other-project"),
        ({"custom_tags": {RUN_ID_TAG: "other-run"}}, "other-run"),
    ],
)
def test_prepare_refuses_conflicts(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        prepare({**SPEC, **change})


def test_prepare_reports_every_problem_at_once() -> None:
    spec = {
        "node_type_id": 7,
        "num_workers": 2,
        "autoscale": {"min_workers": 5, "max_workers": 2},
        "spark_conf": {"spark.sql.shuffle.partitions": 200},
        "num_worker": 3,
        "enable_elastic_disk": "yes",
        "aws_attributes": {"availability": "CHEAP"},
        "custom_tags": {PROJECT_ID_TAG: "someone-else"},
        "cluster_log_conf": {"s3": {"destination": "s3://other/place"}},
    }
    with pytest.raises(InvalidInputError) as excinfo:
        prepare(spec, project_location="gs://bucket/x")
    problems = problems_of(excinfo)
    text = "\n".join(problems)
    for expected in (
        "spark_version is required",
        "node_type_id must be a string",
        "num_workers or autoscale, not both",
        "min_workers (5) is larger",
        "spark_conf['spark.sql.shuffle.partitions'] must be a string",
        "unknown field 'num_worker' (did you mean 'num_workers'?)",
        "enable_elastic_disk must be true or false",
        "aws_attributes.availability",
        "someone-else",
        "gs://bucket/x",
    ):
        assert expected in text, (expected, problems)
    assert f"has {len(problems)} problems" in excinfo.value.message


def test_validate_accepts_a_pool_or_policy_and_refuses_non_objects() -> None:
    assert validate_cluster_spec({"spark_version": "x", "instance_pool_id": "p", "num_workers": 1}) == []
    assert (
        validate_cluster_spec(
            {"spark_version": "x", "policy_id": "p", "autoscale": {"min_workers": 1, "max_workers": 4}}
        )
        == []
    )
    assert validate_cluster_spec(["not", "a", "spec"]) == ["the cluster spec must be an object (got list)"]
    assert "give num_workers" in validate_cluster_spec({"spark_version": "x", "node_type_id": "m5.xlarge"})[0]


# -- property: preparing a valid spec keeps every user value ------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz._-", min_size=1, max_size=12)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "spark_version": draw(st.sampled_from(["12.2.x-scala2.12", "13.3.x-scala2.12", "14.3.x-scala2.12"])),
    }
    if draw(st.booleans()):
        spec["node_type_id"] = draw(st.sampled_from(["m5.xlarge", "r5.2xlarge", "i3.xlarge"]))
        if draw(st.booleans()):
            spec["driver_node_type_id"] = draw(st.sampled_from(["m5.xlarge", "m5.2xlarge"]))
    else:
        spec["instance_pool_id"] = draw(_key)
    if draw(st.booleans()):
        spec["num_workers"] = draw(st.integers(0, 500))
    else:
        low = draw(st.integers(0, 50))
        spec["autoscale"] = {"min_workers": low, "max_workers": draw(st.integers(max(1, low), 100))}
    optional: dict[str, Any] = {
        "spark_conf": st.dictionaries(_key, _text, max_size=4),
        "spark_env_vars": st.dictionaries(_key, _text, max_size=3),
        "custom_tags": st.dictionaries(_key.filter(lambda k: not k.startswith("sync")), _text, max_size=3),
        "policy_id": _key,
        "cluster_name": _text,
        "autotermination_minutes": st.integers(0, 10_000),
        "enable_elastic_disk": st.booleans(),
        "ssh_public_keys": st.lists(_text, max_size=2),
        "init_scripts": st.lists(
            st.fixed_dictionaries({"workspace": st.fixed_dictionaries({"destination": _text})}), max_size=2
        ),
        "aws_attributes": st.fixed_dictionaries(
            {"availability": st.sampled_from(["SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK"])},
            optional={
                "first_on_demand": st.integers(0, 5),
                "zone_id": st.sampled_from(["auto", "us-west-2b"]),
            },
        ),
        "cluster_log_conf": st.just(
            {"s3": {"destination": "s3://sync-logs/projects/proj-1/run-1", "region": "eu-west-1"}}
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


def _assert_kept(user: Any, prepared: Any, path: str = "") -> None:
    if isinstance(user, dict):
        assert isinstance(prepared, dict), path
        for key, value in user.items():
            assert key in prepared, f"{path}.{key} was dropped"
            _assert_kept(value, prepared[key], f"{path}.{key}")
    else:
        assert prepared == user, f"{path} changed from {user!r} to {prepared!r}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs())
def test_preparing_any_valid_spec_keeps_every_user_value(spec: dict[str, Any]) -> None:
    before = copy.deepcopy(spec)
    prepared = prepare(spec, region=None if "cluster_log_conf" in spec else "us-east-1")
    assert spec == before
    _assert_kept(spec, prepared.spec)
    assert prepared.spec["custom_tags"][RUN_ID_TAG] == "run-1"
    assert validate_cluster_spec(prepared.spec) == []


# -- applying a prediction ------------------------------------------------------------------------


def prediction(configuration: dict[str, Any], product: str | None = "aws-databricks") -> Prediction:
    solution = {"configuration": configuration, "metrics": {"runtime": 10.0, "cost": 2.0}}
    return Prediction.model_validate(
        {
            "prediction_id": "p-1",
            "product_code": product,
            "solutions": {"economy": solution, "performance": solution},
        }
    )


BASE: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "autoscale": {"min_workers": 2, "max_workers": 8},
    "policy_id": "policy-42",
    "spark_env_vars": {"ENV": "prod"},
    "spark_conf": {"spark.sql.shuffle.partitions": "64", "spark.speculation": "true"},
    "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, "zone_id": "us-east-1a"},
    "init_scripts": [{"workspace": {"destination": "/init/setup.sh"}}],
    "custom_tags": {"team": "data", PROJECT_ID_TAG: "proj-1", RUN_ID_TAG: "old-run"},
    "cluster_log_conf": {
        "s3": {"destination": f"{S3}/proj-1/old-run", "region": "us-east-1", "kms_key": "arn:k"},
    },
}
SOLUTION: dict[str, Any] = {
    "spark_version": "12.2.x-scala2.12",
    "node_type_id": "r5.2xlarge",
    "driver_node_type_id": "m5.2xlarge",
    "num_workers": 6,
    "spark_conf": {"spark.sql.shuffle.partitions": "192"},
    "aws_attributes": {"availability": "ON_DEMAND"},
    "custom_tags": {RUN_ID_TAG: "basis-run", "from": "report"},
    "init_scripts": [
        {"workspace": {"destination": "/init/setup.sh"}},
        {"s3": {"destination": "s3://b/x.sh"}},
    ],
}


def test_cluster_spec_from_prediction_applies_the_solution_and_keeps_user_values() -> None:
    base = copy.deepcopy(BASE)
    spec = cluster_spec_from_prediction(
        prediction(SOLUTION), "economy", base, project_id="proj-1", project_location=S3, run_id="new-run"
    ).unwrap()

    assert base == BASE
    assert (spec["node_type_id"], spec["driver_node_type_id"], spec["num_workers"]) == (
        "r5.2xlarge",
        "m5.2xlarge",
        6,
    )
    assert "autoscale" not in spec
    assert spec["spark_version"] == "13.3.x-scala2.12"  # the user's runtime, not the basis run's
    assert spec["spark_conf"] == {"spark.sql.shuffle.partitions": "192", "spark.speculation": "true"}
    assert spec["aws_attributes"] == {
        "availability": "ON_DEMAND",
        "first_on_demand": 1,
        "zone_id": "us-east-1a",
    }
    assert spec["init_scripts"] == [
        {"workspace": {"destination": "/init/setup.sh"}},
        {"s3": {"destination": "s3://b/x.sh"}},
    ]
    assert spec["custom_tags"] == {"team": "data", PROJECT_ID_TAG: "proj-1", RUN_ID_TAG: "new-run"}
    assert (spec["policy_id"], spec["spark_env_vars"]) == ("policy-42", {"ENV": "prod"})
    assert spec["cluster_log_conf"]["s3"]["destination"] == f"{S3}/proj-1/new-run"


def test_a_solution_with_autoscale_replaces_num_workers() -> None:
    base = {**SPEC, "instance_pool_id": "pool"}
    merged = merge_solution(
        base,
        {"node_type_id": "m5.2xlarge", "autoscale": {"min_workers": 1, "max_workers": 3}},
        project_location=S3,
        project_id="proj-1",
    )
    assert merged["autoscale"] == {"min_workers": 1, "max_workers": 3}
    assert "num_workers" not in merged and "instance_pool_id" not in merged


def test_a_users_own_log_destination_elsewhere_still_conflicts() -> None:
    base = {**SPEC, "cluster_log_conf": {"s3": {"destination": "s3://my-own/logs", "region": "us-east-1"}}}
    response = cluster_spec_from_prediction(
        prediction(SOLUTION), "economy", base, project_id="proj-1", project_location=S3
    )
    assert response.error is not None and "s3://my-own/logs" in response.error.message
    with pytest.raises(InvalidInputError):
        response.unwrap()


@pytest.mark.parametrize(
    ("pred", "preference", "expected"),
    [
        (prediction({"Instances": {"InstanceGroups": []}}, product="aws-emr"), "economy", "is for aws-emr"),
        (
            prediction({"Instances": {"InstanceGroups": []}}, product=None),
            "economy",
            "not a Databricks cluster",
        ),
        (prediction(SOLUTION), "balanced", "no 'balanced' solution"),
    ],
)
def test_cluster_spec_from_prediction_refuses_other_platforms_and_missing_solutions(
    pred: Prediction, preference: str, expected: str
) -> None:
    response = cluster_spec_from_prediction(pred, preference, BASE, project_id="proj-1", project_location=S3)
    assert response.error is not None and expected in response.error.message
    with pytest.raises(PredictionError):
        response.unwrap()
