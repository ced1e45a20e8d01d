"""EMR bounds the bad-input corpus found missing: counts, names and node layout of a RunJobFlow
request, and ``record_run`` writing nothing when the event log is missing or incomplete."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_provider.core import emr
from sync_provider.core.backoff import Backoff
from sync_provider.core.emr.prepare import MAX_INSTANCES_PER_GROUP, MAX_NAME_LENGTH, limit_problems
from sync_provider.core.errors import EventLogError
from sync_provider.testing.aws import AwsSimulator
from tests.conftest import EMR_PROJECT_BUCKET

PROJECT = "11111111-2222-4333-8444-555555555555"
RUN = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
LOCATION = f"s3://{EMR_PROJECT_BUCKET}/emr"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FAST = Backoff(initial=0.03, maximum=0.1, factor=1.5, jitter=0.0)

GROUPS: dict[str, Any] = {
    "InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
        {"InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
        {"InstanceRole": "TASK", "InstanceType": "m5.xlarge", "InstanceCount": 0},
    ],
    "KeepJobFlowAliveWhenNoSteps": False,
}
FLEETS: dict[str, Any] = {
    "InstanceFleets": [
        {
            "InstanceFleetType": "MASTER",
            "TargetOnDemandCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
        },
        {
            "InstanceFleetType": "CORE",
            "TargetOnDemandCapacity": 2,
            "TargetSpotCapacity": 0,
            "InstanceTypeConfigs": [
                {"InstanceType": "m5.xlarge", "WeightedCapacity": 4},
                {"InstanceType": "m5.2xlarge", "WeightedCapacity": 8},
            ],
        },
    ],
    "KeepJobFlowAliveWhenNoSteps": False,
}
SHORTHAND: dict[str, Any] = {
    "MasterInstanceType": "m5.xlarge",
    "SlaveInstanceType": "m5.xlarge",
    "InstanceCount": 3,
    "KeepJobFlowAliveWhenNoSteps": False,
}


def request(instances: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": "nightly-etl",
        "ReleaseLabel": "emr-6.10.0",
        "Instances": copy.deepcopy(instances if instances is not None else GROUPS),
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
    }
    body.update(overrides)
    return body


def with_group(index: int, **changes: Any) -> dict[str, Any]:
    body = request()
    body["Instances"]["InstanceGroups"][index].update(changes)
    return body


def with_fleet(index: int, **changes: Any) -> dict[str, Any]:
    body = request(FLEETS)
    body["Instances"]["InstanceFleets"][index].update(changes)
    return body


def problems_of(body: dict[str, Any]) -> list[str]:
    response = emr.prepare_run_job_flow(
        body, project_id=PROJECT, project_location=LOCATION, run_id=RUN, now=NOW
    )
    if response.error is None:
        return []
    assert response.error.kind == "InvalidInputError"
    problems: list[str] = response.error.detail["problems"]
    for problem in problems:
        assert problem in response.error.message
    return problems


def accepted(body: dict[str, Any]) -> bool:
    return problems_of(body) == []


# ---------------------------------------------------------------------------------------- counts


def test_the_bound_is_ten_thousand_instances_per_group() -> None:
    assert MAX_INSTANCES_PER_GROUP == 10_000 and MAX_NAME_LENGTH == 256


@pytest.mark.parametrize(
    ("index", "count", "ok"),
    [
        (0, 1, True),
        (0, 0, False),
        (0, MAX_INSTANCES_PER_GROUP, True),
        (0, MAX_INSTANCES_PER_GROUP + 1, False),
        (1, 0, True),
        (1, -1, False),
        (1, MAX_INSTANCES_PER_GROUP, True),
        (1, MAX_INSTANCES_PER_GROUP + 1, False),
        (2, 0, True),
        (2, -1, False),
        (2, 10**9, False),
    ],
)
def test_instance_group_counts_just_inside_and_outside_the_bounds(index: int, count: int, ok: bool) -> None:
    problems = problems_of(with_group(index, InstanceCount=count))
    if ok:
        assert problems == []
        return
    minimum = 1 if index == 0 else 0
    (problem,) = problems
    assert problem.startswith(
        f"Instances.InstanceGroups[{index}].InstanceCount: is {count}, "
        f"outside {minimum}..{MAX_INSTANCES_PER_GROUP}"
    )
    assert f"set a whole number of instances from {minimum} to {MAX_INSTANCES_PER_GROUP}" in problem


def test_a_boolean_count_is_refused_and_a_string_one_is_left_to_botocore() -> None:
    assert problems_of(with_group(1, InstanceCount=True)) == [
        "Instances.InstanceGroups[1].InstanceCount: has type bool, expected int"
    ]
    assert problems_of(with_group(1, InstanceCount="2")) == [
        "Instances.InstanceGroups[1].InstanceCount: has type str, expected int"
    ]


@pytest.mark.parametrize(
    ("count", "ok"),
    [(1, True), (0, False), (MAX_INSTANCES_PER_GROUP, True), (MAX_INSTANCES_PER_GROUP + 1, False)],
)
def test_the_shorthand_count_includes_the_master(count: int, ok: bool) -> None:
    problems = problems_of(request({**SHORTHAND, "InstanceCount": count}))
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith(
            f"Instances.InstanceCount: is {count}, outside 1..{MAX_INSTANCES_PER_GROUP}"
        )


def test_fleet_capacities_are_bounded_by_the_largest_weighted_capacity() -> None:
    limit = MAX_INSTANCES_PER_GROUP * 8  # the core fleet's largest WeightedCapacity
    assert accepted(with_fleet(1, TargetOnDemandCapacity=limit))
    assert accepted(with_fleet(1, TargetSpotCapacity=limit, TargetOnDemandCapacity=0))
    (problem,) = problems_of(with_fleet(1, TargetSpotCapacity=limit + 1))
    assert problem.startswith(f"Instances.InstanceFleets[1].TargetSpotCapacity: is {limit + 1} units")
    assert f"largest WeightedCapacity (8) provide; set at most {limit}" in problem
    # Without weights an instance is one unit.
    assert accepted(with_fleet(0, TargetOnDemandCapacity=MAX_INSTANCES_PER_GROUP))
    assert problems_of(with_fleet(0, TargetOnDemandCapacity=MAX_INSTANCES_PER_GROUP + 1))


def test_fleet_capacities_cannot_be_negative_and_the_master_fleet_needs_one() -> None:
    (negative,) = problems_of(with_fleet(1, TargetOnDemandCapacity=-1))  # botocore's minimum, said once
    assert (
        negative
        == "Instances.InstanceFleets[1].TargetOnDemandCapacity: is below the minimum 0; use 0 or more"
    )
    assert accepted(with_fleet(1, TargetOnDemandCapacity=0))  # a CORE fleet may be empty
    (empty_master,) = problems_of(with_fleet(0, TargetOnDemandCapacity=0))
    assert empty_master.startswith("Instances.InstanceFleets[0]: the MASTER fleet has no capacity")
    assert accepted(with_fleet(0, TargetOnDemandCapacity=0, TargetSpotCapacity=1))


def test_a_prediction_with_a_huge_count_is_not_applied() -> None:
    from sync_provider.core.models import Prediction

    instances = copy.deepcopy(GROUPS)
    instances["InstanceGroups"][1]["InstanceCount"] = MAX_INSTANCES_PER_GROUP + 1
    solution = {"configuration": {"Instances": instances}, "metrics": {"runtime": 1.0, "cost": 1.0}}
    prediction = Prediction.model_validate(
        {
            "prediction_id": "p",
            "product_code": "aws-emr",
            "status": "SUCCESS",
            "solutions": {"balanced": solution},
        }
    )
    response = emr.run_job_flow_from_prediction(
        prediction, "balanced", request(), project_id=PROJECT, project_location=LOCATION
    )
    assert (
        response.error is not None and "InstanceGroups[1].InstanceCount: is 10001" in response.error.message
    )


# ------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("n", True),
        ("n" * MAX_NAME_LENGTH, True),
        ("n" * (MAX_NAME_LENGTH + 1), False),
        ("", False),
        ("nightly étl ✓ 夜間", True),
        ("etl\x00x", False),
        ("etl\tx", False),
        ("etl\nx", False),
        ("etl\rx", False),
        ("etl\x1bx", False),
        ("etl\x7fx", False),
        ("etl\x85x", False),
        ("etl\ud800x", False),
        ("etl\uffffx", False),
    ],
)
def test_names_just_inside_and_outside_the_limits(name: str, ok: bool) -> None:
    problems = problems_of(request(Name=name))
    assert (problems == []) is ok, problems
    if not ok:
        assert all(p.startswith("Name: ") for p in problems)


def test_name_problems_say_what_and_where_without_quoting_the_name() -> None:
    (long,) = problems_of(request(Name="n" * 300))
    assert long == "Name: is 300 characters long but EMR allows at most 256; shorten it"
    (control,) = problems_of(request(Name="etl\x00; rm -rf / #"))
    assert control.startswith("Name: has the control character U+0000 at position 3; use printable")
    assert "rm -rf" not in control
    (empty,) = problems_of(request(Name=""))
    assert empty == "Name: is empty; give the cluster a name of 1 to 256 characters"
    both = problems_of(request(Name="\x01" * 257))
    assert len(both) == 2


# ------------------------------------------------------------------------------------- node layout


@pytest.mark.parametrize("instances", [GROUPS, FLEETS, SHORTHAND, {"MasterInstanceType": "m5.xlarge"}])
def test_each_single_way_of_describing_nodes_is_accepted(instances: dict[str, Any]) -> None:
    assert accepted(request(instances))


@pytest.mark.parametrize(
    ("instances", "needle"),
    [
        ({"KeepJobFlowAliveWhenNoSteps": False}, "Instances: describes no nodes; give InstanceGroups"),
        ({"InstanceGroups": None, "Ec2SubnetId": "subnet-1"}, "Instances: describes no nodes"),
        ({**GROUPS, **FLEETS}, "Instances: describes the nodes 2 ways (InstanceGroups and InstanceFleets)"),
        (
            {**GROUPS, "InstanceCount": 3},
            "Instances: describes the nodes 2 ways (InstanceGroups and InstanceCount)",
        ),
        (
            {**GROUPS, **FLEETS, **SHORTHAND},
            "describes the nodes 3 ways (InstanceGroups and InstanceFleets and "
            "MasterInstanceType/SlaveInstanceType/InstanceCount)",
        ),
        (
            {"InstanceGroups": []},
            "Instances.InstanceGroups: is empty; give at least the MASTER instance group",
        ),
        (
            {"InstanceFleets": []},
            "Instances.InstanceFleets: is empty; give at least the MASTER instance fleet",
        ),
        (
            {"SlaveInstanceType": "m5.xlarge", "InstanceCount": 3},
            "Instances.MasterInstanceType: is missing; the shorthand",
        ),
    ],
)
def test_no_nodes_or_more_than_one_way_is_refused(instances: dict[str, Any], needle: str) -> None:
    problems = problems_of(request(instances))
    assert any(needle in p for p in problems), problems


def test_every_problem_comes_in_one_error_with_the_botocore_ones() -> None:
    body = request({**GROUPS, **FLEETS}, Name="x" * 257, Bogus=1)
    problems = problems_of(body)
    assert len(problems) == 3, problems
    assert problems[0].startswith("the request: unknown field 'Bogus'")
    assert problems[1].startswith("Name: is 257 characters long")
    assert problems[2].startswith("Instances: describes the nodes 2 ways")


def test_limit_problems_is_pure_and_leaves_wrong_types_to_botocore() -> None:
    assert limit_problems({}) == []
    assert limit_problems({"Name": 7, "Instances": "m5.xlarge"}) == []
    assert limit_problems({"Name": "x", "Instances": {"InstanceGroups": "all"}}) == []
    assert emr.validation_problems(request()) == []


# ------------------------------------------------------------- nothing launched, nothing written


@pytest.fixture(scope="module")
def simulator() -> Iterator[AwsSimulator]:
    """This module's simulator (``sim``, from tests/conftest.py, resets it for every test)."""
    with AwsSimulator(step_wall_s=0.1, bootstrap_wall_s=0.05) as sim:
        yield sim


def keys(s3: Any, prefix: str = "") -> list[str]:
    listed = s3.list_objects_v2(Bucket=EMR_PROJECT_BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def job_flow(**overrides: Any) -> dict[str, Any]:
    body = request(Name="bounds-etl")
    body["Steps"] = [
        {
            "Name": "etl",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://code/etl.py"]},
        }
    ]
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    "bad",
    [
        job_flow(Name="n" * 257),
        job_flow(Instances={**GROUPS, "InstanceFleets": FLEETS["InstanceFleets"]}),
        job_flow(Instances={"KeepJobFlowAliveWhenNoSteps": False}),
    ],
)
def test_a_request_outside_the_bounds_launches_and_writes_nothing(
    sim: AwsSimulator, bad: dict[str, Any]
) -> None:
    emr_client, s3 = sim.client("emr"), sim.client("s3")
    calls: list[str] = []
    emr_client.meta.events.register("before-send.emr.RunJobFlow", lambda **_: calls.append("RunJobFlow"))
    response = emr.launch_job_flow(emr_client, s3, bad, project_id=PROJECT, project_location=LOCATION)
    assert response.error is not None and response.error.kind == "InvalidInputError"
    assert calls == [] and keys(s3) == []


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("missing", "No Spark event log in s3://"),
        ("inprogress", "is incomplete"),
        ("no_end", "is incomplete"),
    ],
)
def test_record_run_writes_nothing_when_the_event_log_is_missing_or_incomplete(
    sim: AwsSimulator, sync_server: Any, sync_client: Any, mode: Any, needle: str
) -> None:
    emr_client, s3 = sim.client("emr"), sim.client("s3")
    sim.eventlog_mode = mode
    run = emr.launch_job_flow(
        emr_client, s3, job_flow(), project_id=PROJECT, project_location=LOCATION
    ).unwrap()
    emr.wait_for_cluster(emr_client, run.cluster_id, timeout_s=15, poll=FAST).unwrap()
    run_folder = run.run_prefix.removeprefix(f"s3://{EMR_PROJECT_BUCKET}/")
    before = keys(s3, run_folder)
    assert not any(k.endswith("emr-cluster-report.json") for k in before)

    response = emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client)

    assert response.error is not None and response.error.kind == "EventLogError", response.error
    assert needle in response.error.message
    with pytest.raises(EventLogError):
        response.unwrap()
    assert keys(s3, run_folder) == before, "record_run wrote to the run folder before failing"
    assert sync_server.predictions() == []


def test_record_run_saves_the_report_once_the_log_is_found(
    sim: AwsSimulator, sync_server: Any, sync_client: Any
) -> None:
    from sync_provider.core.projects import create_project

    emr_client, s3 = sim.client("emr"), sim.client("s3")
    project = create_project("bounds-etl", "aws-emr", cluster_log_url=LOCATION, client=sync_client).unwrap()
    run = emr.launch_job_flow(
        emr_client, s3, job_flow(), project_id=project.id, project_location=LOCATION
    ).unwrap()
    emr.wait_for_cluster(emr_client, run.cluster_id, timeout_s=15, poll=FAST).unwrap()
    emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client).unwrap()
    run_folder = run.run_prefix.removeprefix(f"s3://{EMR_PROJECT_BUCKET}/")
    assert run_folder + "emr-cluster-report.json" in keys(s3, run_folder)
    assert len(sync_server.predictions()) == 1


# ----------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("roles", "needles"),
    [
        (["MASTER", "CORE", "TASK", "TASK"], []),
        (["MASTER"], []),
        (["CORE", "TASK"], ["has 0 MASTER groups; EMR needs exactly one"]),
        (["MASTER", "MASTER", "CORE"], ["has 2 MASTER groups; EMR needs exactly one"]),
        (["MASTER", "CORE", "CORE"], ["has 2 CORE groups; EMR takes at most one", "TASK groups"]),
    ],
)
def test_instance_groups_need_one_master_and_at_most_one_core(roles: list[str], needles: list[str]) -> None:
    body = request()
    body["Instances"]["InstanceGroups"] = [
        {"InstanceRole": role, "InstanceType": "m5.xlarge", "InstanceCount": 1} for role in roles
    ]
    found = problems_of(body)
    assert all(
        any(needle in p and p.startswith("Instances.InstanceGroups") for p in found) for needle in needles
    )
    assert bool(found) == bool(needles), found


@pytest.mark.parametrize(
    ("roles", "needle"),
    [
        (["CORE"], "has 0 MASTER fleets"),
        (["MASTER", "MASTER"], "has 2 MASTER fleets"),
        (["MASTER", "CORE", "CORE"], "has 2 CORE fleets"),
    ],
)
def test_instance_fleets_need_one_master_and_at_most_one_core(roles: list[str], needle: str) -> None:
    body = request(FLEETS)
    body["Instances"]["InstanceFleets"] = [
        {
            "InstanceFleetType": role,
            "TargetOnDemandCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
        }
        for role in roles
    ]
    assert any(needle in p for p in problems_of(body))
    assert accepted(request(FLEETS))
