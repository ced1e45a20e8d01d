"""Preparing RunJobFlow requests and applying predictions (pure functions: no AWS, no server)."""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_provider.core import emr
from sync_provider.core.errors import InvalidInputError, PredictionError
from sync_provider.core.models import Prediction

PROJECT = "11111111-2222-4333-8444-555555555555"
RUN = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
LOCATION = "s3://sync-projects/emr"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
EVENTLOG_DIR = f"s3a://sync-projects/emr/{PROJECT}/2024-05-06T07-08-09Z/{RUN}/eventlog/"


def base_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "Name": "nightly-etl",
        "ReleaseLabel": "emr-6.10.0",
        "LogUri": "s3://logs/emr/",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
            ],
            "Ec2SubnetId": "subnet-0abc",
            "Ec2KeyName": "ops-key",
            "KeepJobFlowAliveWhenNoSteps": False,
        },
        "Steps": [
            {
                "Name": "etl",
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://code/etl.py"]},
            }
        ],
        "BootstrapActions": [
            {"Name": "deps", "ScriptBootstrapAction": {"Path": "s3://code/deps.sh", "Args": []}}
        ],
        "Configurations": [
            {"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "4g"}},
            {"Classification": "yarn-site", "Properties": {"yarn.nodemanager.vmem-check-enabled": "false"}},
        ],
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
        "Tags": [{"Key": "team", "Value": "data"}],
    }
    request.update(overrides)
    return request


def prepare(request: Any, **kwargs: Any) -> emr.PreparedRun:
    options: dict[str, Any] = {"project_id": PROJECT, "project_location": LOCATION, "run_id": RUN, "now": NOW}
    options.update(kwargs)
    return emr.prepare_run_job_flow(request, **options).unwrap()


def problems_of(request: Any, **kwargs: Any) -> list[str]:
    options: dict[str, Any] = {"project_id": PROJECT, "project_location": LOCATION, "run_id": RUN, "now": NOW}
    options.update(kwargs)
    response = emr.prepare_run_job_flow(request, **options)
    assert response.error is not None, "expected the request to be refused"
    assert response.error.kind == "InvalidInputError"
    problems: list[str] = response.error.detail["problems"]
    for problem in problems:
        assert problem in response.error.message
    return problems


def spark_defaults(request: dict[str, Any]) -> dict[str, Any]:
    entries = [c for c in request["Configurations"] if c["Classification"] == "spark-defaults"]
    assert len(entries) == 1
    props: dict[str, Any] = entries[0]["Properties"]
    return props


# ------------------------------------------------------------------------------------------ prepare


def test_prepare_adds_tags_and_eventlog_dir_and_keeps_the_rest() -> None:
    original = base_request()
    prepared = prepare(original)
    request = prepared.request
    assert request["Tags"] == [
        {"Key": "team", "Value": "data"},
        {"Key": "sync:project-id", "Value": PROJECT},
        {"Key": "sync:run-id", "Value": RUN},
    ]
    assert spark_defaults(request) == {
        "spark.executor.memory": "4g",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": EVENTLOG_DIR,
    }
    assert request["Configurations"][1] == original["Configurations"][1]
    for key in ("Name", "ReleaseLabel", "LogUri", "Applications", "Instances", "Steps", "BootstrapActions"):
        assert request[key] == original[key]
    assert original == base_request(), "the caller's request is not modified"
    assert prepared.run_id == RUN and prepared.project_id == PROJECT
    assert prepared.timestamp == "2024-05-06T07-08-09Z"
    assert prepared.eventlog_dir == EVENTLOG_DIR
    assert prepared.run_prefix == f"s3://sync-projects/emr/{PROJECT}/2024-05-06T07-08-09Z/{RUN}/"
    assert prepared.eventlog_dir_s3 == prepared.run_prefix + "eventlog/"
    assert prepared.request_url == prepared.run_prefix + "run-job-flow-request.json"


def test_prepare_creates_configurations_and_tags_when_absent_and_generates_a_uuid4_run_id() -> None:
    request = base_request()
    del request["Configurations"], request["Tags"]
    prepared = emr.prepare_run_job_flow(request, project_id=PROJECT, project_location=LOCATION).unwrap()
    assert uuid.UUID(prepared.run_id).version == 4
    assert prepared.request["Configurations"] == [
        {
            "Classification": "spark-defaults",
            "Properties": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": prepared.eventlog_dir},
        }
    ]
    assert {t["Key"]: t["Value"] for t in prepared.request["Tags"]} == {
        "sync:project-id": PROJECT,
        "sync:run-id": prepared.run_id,
    }
    other = emr.prepare_run_job_flow(request, project_id=PROJECT, project_location=LOCATION).unwrap()
    assert other.run_id != prepared.run_id


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://sync-projects/emr", "s3a://sync-projects/emr/"),
        ("s3://sync-projects/emr/", "s3a://sync-projects/emr/"),
        ("s3://sync-projects/emr///", "s3a://sync-projects/emr/"),
        ("s3://sync-projects", "s3a://sync-projects/"),
        ("s3://sync-projects/", "s3a://sync-projects/"),
        ("s3://sync-projects/a/b/c", "s3a://sync-projects/a/b/c/"),
    ],
)
def test_the_project_location_trailing_slash_is_handled_consistently(location: str, expected: str) -> None:
    prepared = prepare(base_request(), project_location=location)
    assert prepared.eventlog_dir == f"{expected}{PROJECT}/2024-05-06T07-08-09Z/{RUN}/eventlog/"
    assert prepared.run_prefix == prepared.eventlog_dir.replace("s3a://", "s3://")[: -len("eventlog/")]


@pytest.mark.parametrize(
    "location",
    [
        "sync-projects/emr",
        "s3a://sync-projects/emr",
        "https://sync-projects.s3.amazonaws.com/emr",
        "s3://Sync_Projects/emr",
        "s3://ab/emr",
        "s3://sync-projects/a//b",
        "s3://sync-projects/a/../b",
        "s3://sync-projects/a?b",
        "",
        None,
    ],
)
def test_a_bad_project_location_is_refused(location: Any) -> None:
    problems = problems_of(base_request(), project_location=location)
    assert len(problems) == 1
    assert "project_location" in problems[0]


def test_a_naive_now_is_utc_and_an_aware_one_is_converted() -> None:
    naive = prepare(base_request(), now=datetime(2024, 5, 6, 7, 8, 9))
    aware = prepare(
        base_request(),
        now=datetime(2024, 5, 6, 9, 8, 9, tzinfo=ZoneInfo("Europe/Berlin")),
    )
    assert naive.timestamp == aware.timestamp == "2024-05-06T07-08-09Z"


def test_the_same_values_are_fine_and_preparing_twice_changes_nothing() -> None:
    request = base_request(
        Tags=[{"Key": "sync:project-id", "Value": PROJECT}, {"Key": "team", "Value": "data"}],
        Configurations=[
            {"Classification": "spark-defaults", "Properties": {"spark.eventLog.enabled": "TRUE"}}
        ],
    )
    first = prepare(request)
    assert [t["Key"] for t in first.request["Tags"]] == ["sync:project-id", "team", "sync:run-id"]
    assert spark_defaults(first.request)["spark.eventLog.enabled"] == "TRUE"
    again = emr.prepare_run_job_flow(
        first.request,
        project_id=PROJECT,
        project_location=LOCATION + "/",
        now=datetime(2030, 1, 1, tzinfo=UTC),
    ).unwrap()
    assert again.request == first.request
    assert again.run_id == RUN and again.timestamp == first.timestamp and again.run_prefix == first.run_prefix


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            {
                "Configurations": [
                    {"Classification": "spark-defaults", "Properties": {"spark.eventLog.dir": "hdfs:///logs"}}
                ]
            },
            "spark.eventLog.dir is 'hdfs:///logs'",
        ),
        (
            {
                "Configurations": [
                    {"Classification": "spark-defaults", "Properties": {"spark.eventLog.enabled": "false"}}
                ]
            },
            "spark.eventLog.enabled is 'false'",
        ),
        (
            {"Tags": [{"Key": "sync:project-id", "Value": "another-project"}]},
            "sync:project-id is 'another-project'",
        ),
        ({"Tags": [{"Key": "sync:run-id", "Value": "another-run"}]}, "sync:run-id is 'another-run'"),
        (
            {
                "Configurations": [
                    {"Classification": "spark-defaults", "Properties": {}},
                    {"Classification": "spark-defaults", "Properties": {"a": "b"}},
                ]
            },
            "2 entries have the classification 'spark-defaults'",
        ),
    ],
)
def test_a_conflicting_user_value_is_an_error_naming_it(overrides: dict[str, Any], needle: str) -> None:
    problems = problems_of(base_request(**overrides))
    assert len(problems) == 1
    assert needle in problems[0]


def test_a_conflict_inside_an_instance_group_configuration_is_reported() -> None:
    request = base_request()
    request["Instances"]["InstanceGroups"][1]["Configurations"] = [
        {"Classification": "spark-defaults", "Properties": {"spark.eventLog.dir": "s3a://elsewhere/"}}
    ]
    (problem,) = problems_of(request)
    assert problem.startswith("Instances.InstanceGroups[1].Configurations[spark-defaults]")


def test_a_run_id_tag_on_the_request_is_kept_when_no_run_id_is_given() -> None:
    request = base_request(Tags=[{"Key": "sync:run-id", "Value": "run-42"}])
    prepared = emr.prepare_run_job_flow(request, project_id=PROJECT, project_location=LOCATION).unwrap()
    assert prepared.run_id == "run-42"
    assert [t for t in prepared.request["Tags"] if t["Key"] == "sync:run-id"] == [
        {"Key": "sync:run-id", "Value": "run-42"}
    ]


def test_every_problem_is_listed_in_one_error() -> None:
    request = base_request(
        Bogus=True,
        Name=7,
        Tags=[{"Key": "sync:project-id", "Value": "other"}],
        Configurations=[{"Classification": "spark-defaults", "Properties": {"spark.eventLog.enabled": "no"}}],
    )
    del request["Instances"]
    problems = problems_of(request, project_location="s3://sync-projects/emr", project_id="bad/id")
    assert len(problems) == 6, problems
    joined = "\n".join(problems)
    for needle in (
        "project_id 'bad/id'",
        "sync:project-id is 'other'",
        "spark.eventLog.enabled is 'no'",
        "unknown field 'Bogus'",
        "Name: has type int, expected str",
        "missing required field 'Instances'",
    ):
        assert needle in joined
    response = emr.prepare_run_job_flow(request, project_id="bad/id", project_location="nowhere", run_id=RUN)
    assert response.error is not None and "(7 problems)" in response.error.message


def test_problems_never_quote_the_values() -> None:
    request = base_request(
        Configurations=[
            {"Classification": "hive-site", "Properties": {"javax.jdo.option.ConnectionPassword": 9731468250}}
        ]
    )
    (problem,) = problems_of(request)
    assert "9731468250" not in problem
    assert "Configurations[0].Properties.javax.jdo.option.ConnectionPassword: has type int" in problem


def test_a_request_that_is_not_a_mapping_is_refused() -> None:
    response = emr.prepare_run_job_flow(["Name"], project_id=PROJECT, project_location=LOCATION)  # type: ignore[arg-type]
    assert response.error is not None and "must be a JSON object" in response.error.message


def test_validation_problems_is_public_and_empty_for_a_valid_request() -> None:
    assert emr.validation_problems(prepare(base_request()).request) == []
    assert emr.validation_problems({"Name": "x"}) == ["the request: missing required field 'Instances'"]


def test_importing_the_emr_core_loads_neither_boto3_nor_botocore_nor_airflow() -> None:
    code = (
        "import sys\n"
        "import sync_provider.core.emr\n"
        "roots = ('boto3', 'botocore', 'airflow', 'moto')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- property-based test

_name = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12)
_value = st.text(st.characters(codec="ascii", categories=("L", "N", "P")), max_size=12)
_user_tags = st.lists(
    st.tuples(_name.filter(lambda k: not k.startswith("sync")), _value), max_size=4, unique_by=lambda t: t[0]
).map(lambda tags: [{"Key": k, "Value": v} for k, v in tags])
_props = st.dictionaries(
    st.from_regex(r"\A[a-z]{1,6}(\.[a-zA-Z]{1,6}){0,2}\Z").filter(
        lambda k: not k.startswith("spark.eventLog")
    ),
    _value,
    max_size=4,
)
_classification = st.sampled_from(
    ["spark-defaults", "spark-env", "yarn-site", "core-site", "hive-site", "spark"]
)


@st.composite
def _configurations(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_classification, unique=True, max_size=4))
    configs: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {"Classification": name}
        if draw(st.booleans()):
            entry["Properties"] = draw(_props)
        if name == "spark-defaults" and draw(st.booleans()):
            entry.setdefault("Properties", {})["spark.eventLog.enabled"] = draw(
                st.sampled_from(["true", "True"])
            )
        if name == "spark-env" and draw(st.booleans()):
            entry["Configurations"] = [{"Classification": "export", "Properties": draw(_props)}]
        configs.append(entry)
    return configs


#: Role layouts EMR accepts: one MASTER, at most one CORE, any TASK.
_LAYOUTS = (
    ["MASTER"],
    ["MASTER", "CORE"],
    ["MASTER", "TASK"],
    ["MASTER", "CORE", "TASK"],
    ["TASK", "MASTER"],
)


def _in_layout(
    role_key: str, item: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Items of a valid role layout (``role_key`` set per item)."""
    return st.sampled_from(_LAYOUTS).flatmap(
        lambda roles: st.tuples(*[item for _ in roles]).map(
            lambda items: [{**entry, role_key: role} for entry, role in zip(items, roles, strict=True)]
        )
    )


_group_instances = st.fixed_dictionaries(
    {
        "InstanceGroups": _in_layout(
            "InstanceRole",
            st.fixed_dictionaries(
                {
                    "InstanceType": st.sampled_from(["m5.xlarge", "r5.2xlarge"]),
                    "InstanceCount": st.integers(1, 20),
                },
                optional={"Market": st.sampled_from(["ON_DEMAND", "SPOT"]), "Name": _name},
            ),
        )
    },
    optional={
        "Ec2SubnetId": _name,
        "Ec2KeyName": _name,
        "KeepJobFlowAliveWhenNoSteps": st.booleans(),
        "TerminationProtected": st.booleans(),
    },
)
_fleet_instances = st.fixed_dictionaries(
    {
        "InstanceFleets": _in_layout(
            "InstanceFleetType",
            st.fixed_dictionaries(
                {
                    "InstanceTypeConfigs": st.lists(
                        st.fixed_dictionaries(
                            {"InstanceType": st.sampled_from(["m5.xlarge", "c5.2xlarge"])},
                            optional={"WeightedCapacity": st.integers(1, 4)},
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                    # At least 1, so that a MASTER fleet has its primary node (limit_problems).
                    "TargetOnDemandCapacity": st.integers(1, 8),
                },
                optional={"TargetSpotCapacity": st.integers(0, 8)},
            ),
        )
    },
    optional={"Ec2SubnetIds": st.lists(_name, max_size=2), "KeepJobFlowAliveWhenNoSteps": st.booleans()},
)
_steps = st.lists(
    st.fixed_dictionaries(
        {
            "Name": _name,
            "HadoopJarStep": st.fixed_dictionaries(
                {"Jar": st.just("command-runner.jar")}, optional={"Args": st.lists(_value, max_size=3)}
            ),
        },
        optional={"ActionOnFailure": st.sampled_from(["TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE"])},
    ),
    max_size=3,
)
_requests = st.fixed_dictionaries(
    {"Name": _name, "Instances": st.one_of(_group_instances, _fleet_instances)},
    optional={
        "Tags": _user_tags,
        "Configurations": _configurations(),
        "Steps": _steps,
        "LogUri": st.just("s3://logs/emr/"),
        "ReleaseLabel": st.sampled_from(["emr-6.10.0", "emr-7.1.0"]),
        "JobFlowRole": _name,
        "ServiceRole": _name,
        "VisibleToAllUsers": st.booleans(),
        "Applications": st.lists(
            st.fixed_dictionaries({"Name": st.sampled_from(["Spark", "Hive"])}), max_size=2
        ),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests, with_run_id=st.booleans())
def test_preparing_any_valid_request_keeps_every_user_value(
    request: dict[str, Any], with_run_id: bool
) -> None:
    assert emr.validation_problems(request) == []
    snapshot = copy.deepcopy(request)
    prepared = emr.prepare_run_job_flow(
        request, project_id=PROJECT, project_location=LOCATION, run_id=RUN if with_run_id else None, now=NOW
    ).unwrap()
    out = prepared.request
    assert request == snapshot
    assert emr.validation_problems(out) == []
    for key, value in request.items():
        if key not in ("Tags", "Configurations"):
            assert out[key] == value
    user_tags = request.get("Tags", [])
    assert out["Tags"][: len(user_tags)] == user_tags
    tags = {t["Key"]: t["Value"] for t in out["Tags"]}
    assert tags["sync:project-id"] == PROJECT and tags["sync:run-id"] == prepared.run_id
    assert sum(t["Key"].startswith("sync:") for t in out["Tags"]) == 2
    by_class = {c["Classification"]: c for c in out["Configurations"]}
    for entry in request.get("Configurations", []):
        kept = by_class[entry["Classification"]]
        for prop, value in entry.get("Properties", {}).items():
            assert kept["Properties"][prop] == value
        assert kept.get("Configurations") == entry.get("Configurations")
    assert spark_defaults(out)["spark.eventLog.dir"] == prepared.eventlog_dir
    assert spark_defaults(out)["spark.eventLog.enabled"].lower() == "true"
    again = emr.prepare_run_job_flow(out, project_id=PROJECT, project_location=LOCATION).unwrap()
    assert again.request == out


# ---------------------------------------------------------------------------- applying a prediction


def emr_prediction(configuration: dict[str, Any], **fields: Any) -> Prediction:
    solution = {"configuration": configuration, "metrics": {"runtime": 10.0, "cost": 1.5}}
    values: dict[str, Any] = {
        "prediction_id": "pred-1",
        "product_code": "aws-emr",
        "status": "SUCCESS",
        "solutions": {"balanced": solution, "performance": solution},
    }
    values.update(fields)
    return Prediction.model_validate(values)


SOLUTION = {
    "Name": "recorded-name",
    "ReleaseLabel": "emr-5.0.0",
    "Instances": {
        "InstanceGroups": [
            {
                "InstanceRole": "MASTER",
                "InstanceType": "m5.xlarge",
                "InstanceCount": 1,
                "Market": "ON_DEMAND",
            },
            {"InstanceRole": "CORE", "InstanceType": "r5.2xlarge", "InstanceCount": 5, "Market": "ON_DEMAND"},
        ],
        "Ec2KeyName": "recorded-key",
        "KeepJobFlowAliveWhenNoSteps": False,
    },
    "Configurations": [
        {
            "Classification": "spark-defaults",
            "Properties": {
                "spark.executor.memory": "18g",
                "spark.executor.cores": "8",
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": f"s3a://sync-projects/emr/{PROJECT}/2024-01-01T00-00-00Z/old-run/eventlog/",
            },
        },
        {"Classification": "yarn-site", "Properties": {"yarn.scheduler.maximum-allocation-mb": "61440"}},
    ],
    "Tags": [{"Key": "sync:run-id", "Value": "old-run"}, {"Key": "recorded", "Value": "tag"}],
    "Steps": [],
}


def test_run_job_flow_from_prediction_applies_the_solution_and_keeps_the_user_values() -> None:
    base = base_request(
        Tags=[{"Key": "team", "Value": "data"}, {"Key": "sync:project-id", "Value": PROJECT}],
    )
    base["Configurations"][0]["Properties"]["spark.sql.shuffle.partitions"] = "400"
    request = emr.run_job_flow_from_prediction(
        emr_prediction(SOLUTION), "balanced", base, project_id=PROJECT, project_location=LOCATION, now=NOW
    ).unwrap()
    assert request["Instances"]["InstanceGroups"] == SOLUTION["Instances"]["InstanceGroups"]
    assert request["Instances"]["Ec2SubnetId"] == "subnet-0abc"
    assert request["Instances"]["Ec2KeyName"] == "recorded-key"
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    for key in ("Name", "ReleaseLabel", "LogUri", "Steps", "BootstrapActions", "JobFlowRole", "ServiceRole"):
        assert request[key] == base[key]
    props = spark_defaults(request)
    assert props["spark.executor.memory"] == "18g"
    assert props["spark.executor.cores"] == "8"
    assert props["spark.sql.shuffle.partitions"] == "400"
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    run_id = tags["sync:run-id"]
    assert run_id != "old-run" and uuid.UUID(run_id).version == 4
    assert tags == {"team": "data", "sync:project-id": PROJECT, "sync:run-id": run_id}
    assert props["spark.eventLog.dir"] == (
        f"s3a://sync-projects/emr/{PROJECT}/2024-05-06T07-08-09Z/{run_id}/eventlog/"
    )
    yarn = next(c for c in request["Configurations"] if c["Classification"] == "yarn-site")
    assert yarn["Properties"] == {
        "yarn.nodemanager.vmem-check-enabled": "false",
        "yarn.scheduler.maximum-allocation-mb": "61440",
    }
    assert emr.validation_problems(request) == []


def test_run_job_flow_from_prediction_swaps_groups_for_fleets_and_drops_the_previous_run() -> None:
    fleets = {
        "InstanceFleets": [
            {
                "InstanceFleetType": "MASTER",
                "TargetOnDemandCapacity": 1,
                "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
            },
            {
                "InstanceFleetType": "CORE",
                "TargetSpotCapacity": 4,
                "InstanceTypeConfigs": [{"InstanceType": "m5.4xlarge"}],
            },
        ],
        "Ec2SubnetIds": ["subnet-1", "subnet-2"],
    }
    previous = prepare(base_request()).request
    request = emr.run_job_flow_from_prediction(
        emr_prediction({"Instances": fleets}),
        "performance",
        previous,
        project_id=PROJECT,
        project_location=LOCATION,
        run_id="next-run",
        now=NOW,
    ).unwrap()
    assert "InstanceGroups" not in request["Instances"] and "Ec2SubnetId" not in request["Instances"]
    assert request["Instances"]["InstanceFleets"] == fleets["InstanceFleets"]
    assert request["Instances"]["Ec2SubnetIds"] == ["subnet-1", "subnet-2"]
    assert request["Instances"]["Ec2KeyName"] == "ops-key"
    assert spark_defaults(request)["spark.eventLog.dir"].endswith("/next-run/eventlog/")
    assert [t["Value"] for t in request["Tags"] if t["Key"] == "sync:run-id"] == ["next-run"]


def test_run_job_flow_from_prediction_refuses_another_platform_and_unknown_preferences() -> None:
    databricks = emr_prediction({"node_type_id": "m5.xlarge"}, product_code="aws-databricks")
    response = emr.run_job_flow_from_prediction(
        databricks, "balanced", base_request(), project_id=PROJECT, project_location=LOCATION
    )
    assert response.error is not None and response.error.kind == "InvalidInputError"
    assert "'aws-databricks', not 'aws-emr'" in response.error.message
    with pytest.raises(PredictionError, match="no 'economy' solution"):
        emr.run_job_flow_from_prediction(
            emr_prediction(SOLUTION), "economy", base_request(), project_id=PROJECT, project_location=LOCATION
        ).unwrap()
    with pytest.raises(InvalidInputError, match="has no EMR Instances"):
        emr.run_job_flow_from_prediction(
            emr_prediction({"Configurations": []}),
            "balanced",
            base_request(),
            project_id=PROJECT,
            project_location=LOCATION,
        ).unwrap()


def test_run_job_flow_from_prediction_reports_problems_of_the_merged_request() -> None:
    base = base_request(Tags=[{"Key": "sync:project-id", "Value": "someone-else"}])
    with pytest.raises(InvalidInputError, match="sync:project-id is 'someone-else'"):
        emr.run_job_flow_from_prediction(
            emr_prediction(SOLUTION), "balanced", base, project_id=PROJECT, project_location=LOCATION
        ).unwrap()
