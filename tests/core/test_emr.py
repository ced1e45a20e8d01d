"""The EMR core against moto's server through the AWS simulator (loopback only, real HTTP)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_provider.core import emr
from sync_provider.core.backoff import Backoff
from sync_provider.core.errors import EMRError, EventLogError, InvalidInputError, StorageError
from sync_provider.core.models import PredictionStatus
from sync_provider.core.predictions import wait_for_prediction
from sync_provider.core.projects import create_project
from sync_provider.testing.aws import AwsSimulator
from tests.conftest import EMR_PROJECT_BUCKET

BUCKET = EMR_PROJECT_BUCKET
LOCATION = f"s3://{BUCKET}/emr"
PROJECT = "11111111-2222-4333-8444-555555555555"
FAST = Backoff(initial=0.03, maximum=0.1, factor=1.5, jitter=0.0)


def job_flow(
    name: str = "nightly-etl", *, steps: int = 1, keep_alive: bool = False, **overrides: Any
) -> dict[str, Any]:
    """A RunJobFlow request with instance groups, steps, roles, tags and a log URI."""
    request: dict[str, Any] = {
        "Name": name,
        "ReleaseLabel": "emr-6.10.0",
        "LogUri": "s3://emr-logs/nightly/",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "Master", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"Name": "Core", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        "Steps": [
            {
                "Name": f"step-{i}",
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": ["spark-submit", f"s3://code/job{i}.py"],
                },
            }
            for i in range(steps)
        ],
        "Configurations": [
            {"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "4g"}}
        ],
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
        "Tags": [{"Key": "team", "Value": "data"}],
    }
    request.update(overrides)
    return request


FLEETS = {
    "InstanceFleets": [
        {
            "Name": "Master",
            "InstanceFleetType": "MASTER",
            "TargetOnDemandCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
        },
        {
            "Name": "Core",
            "InstanceFleetType": "CORE",
            "TargetOnDemandCapacity": 2,
            "TargetSpotCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.2xlarge", "WeightedCapacity": 1}],
        },
        {
            "Name": "Task",
            "InstanceFleetType": "TASK",
            "TargetSpotCapacity": 2,
            "InstanceTypeConfigs": [{"InstanceType": "c5.2xlarge"}],
        },
    ],
    "Ec2SubnetIds": ["subnet-0abc"],
    "KeepJobFlowAliveWhenNoSteps": False,
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[AwsSimulator]:
    """This module's simulator (``sim``, from tests/conftest.py, resets it for every test)."""
    with AwsSimulator(step_wall_s=0.15, bootstrap_wall_s=0.1, page_size=2) as sim:
        yield sim


@pytest.fixture
def emr_client(sim: AwsSimulator) -> Any:
    return sim.client("emr")


@pytest.fixture
def s3(sim: AwsSimulator) -> Any:
    return sim.client("s3")


def launch(emr_client: Any, s3: Any, request: dict[str, Any] | None = None, **kwargs: Any) -> emr.LaunchedRun:
    options: dict[str, Any] = {"project_id": PROJECT, "project_location": LOCATION}
    options.update(kwargs)
    return emr.launch_job_flow(emr_client, s3, request or job_flow(), **options).unwrap()


def wait(emr_client: Any, cluster_id: str, timeout_s: float = 15.0, **kwargs: Any) -> Any:
    return emr.wait_for_cluster(emr_client, cluster_id, timeout_s=timeout_s, poll=FAST, **kwargs)


def keys(s3: Any, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


# ------------------------------------------------------------------------------------------ launch


def test_launch_with_instance_groups_creates_the_run_folder_and_a_tagged_cluster(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    run = launch(emr_client, s3)
    assert run.cluster_id.startswith("j-") and run.region == "us-east-1" and not run.attached
    root = run.run_prefix.removeprefix(f"s3://{BUCKET}/")
    assert root.startswith(f"emr/{PROJECT}/") and root.endswith(f"/{run.run_id}/")
    assert keys(s3) == [root + "eventlog/", root + "run-job-flow-request.json"]
    marker = s3.get_object(Bucket=BUCKET, Key=root + "eventlog/")
    assert marker["ContentLength"] == 0
    saved = json.loads(s3.get_object(Bucket=BUCKET, Key=root + "run-job-flow-request.json")["Body"].read())
    assert saved["Steps"] == job_flow()["Steps"] and saved["Name"] == "nightly-etl"
    cluster = emr_client.describe_cluster(ClusterId=run.cluster_id)["Cluster"]
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags == {"team": "data", "sync:project-id": PROJECT, "sync:run-id": run.run_id}
    props = cluster["Configurations"][0]["Properties"]
    assert props == {
        "spark.executor.memory": "4g",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": run.eventlog_dir,
    }
    assert sim.run_job_flow_count() == 1

    seen: list[str] = []
    outcome = wait(emr_client, run.cluster_id, on_state=lambda state, _s: seen.append(state.state)).unwrap()
    assert outcome.succeeded and outcome.reason_code == "ALL_STEPS_COMPLETED" and outcome.polls >= 2
    assert outcome.name == "nightly-etl"
    history = sim.state_history(run.cluster_id)
    assert history == ["STARTING", "BOOTSTRAPPING", "RUNNING", "TERMINATING", "TERMINATED"]
    assert seen[-1] == "TERMINATED" and len(seen) == outcome.polls
    assert [h for h in history if h in seen] == list(dict.fromkeys(seen)), "seen in order"


def test_launch_with_instance_fleets_lists_the_fleets(sim: AwsSimulator, emr_client: Any, s3: Any) -> None:
    run = launch(emr_client, s3, job_flow("fleet-etl", Instances=FLEETS))
    cluster = emr_client.describe_cluster(ClusterId=run.cluster_id)["Cluster"]
    assert cluster["InstanceCollectionType"] == "INSTANCE_FLEET"
    page = emr_client.list_instance_fleets(ClusterId=run.cluster_id)
    assert len(page["InstanceFleets"]) == 2 and page["Marker"]
    wait(emr_client, run.cluster_id).unwrap()
    report = emr.get_cluster_report(emr_client, run.cluster_id).unwrap()
    fleets = report["Cluster"]["InstanceFleets"]
    assert [f["InstanceFleetType"] for f in fleets] == ["MASTER", "CORE", "TASK"]
    assert "InstanceGroups" not in report["Cluster"]
    core = fleets[1]
    assert core["TargetOnDemandCapacity"] == 2 and core["TargetSpotCapacity"] == 1
    assert core["InstanceTypeSpecifications"][0]["InstanceType"] == "m5.2xlarge"
    by_fleet: dict[str, list[str]] = {}
    for instance in report["Instances"]:
        by_fleet.setdefault(instance["InstanceFleetId"], []).append(instance["Market"])
        assert "InstanceGroupId" not in instance
    assert sorted(by_fleet[core["Id"]]) == ["ON_DEMAND", "ON_DEMAND", "SPOT"]
    assert by_fleet[fleets[2]["Id"]] == ["SPOT", "SPOT"]
    assert len(report["Instances"]) == 6


def test_an_invalid_request_creates_nothing(sim: AwsSimulator, emr_client: Any, s3: Any) -> None:
    request = job_flow(Bogus=1, Tags=[{"Key": "sync:project-id", "Value": "other"}])
    del request["Instances"]
    response = emr.launch_job_flow(emr_client, s3, request, project_id=PROJECT, project_location=LOCATION)
    assert response.error is not None and response.error.kind == "InvalidInputError"
    assert len(response.error.detail["problems"]) == 3
    assert keys(s3) == [] and sim.run_job_flow_count() == 0


def test_a_missing_bucket_is_a_storage_error_and_no_cluster_starts(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    response = emr.launch_job_flow(
        emr_client, s3, job_flow(), project_id=PROJECT, project_location="s3://no-bucket/x"
    )
    assert response.error is not None and response.error.kind == "StorageError"
    assert "'no-bucket' does not exist" in response.error.message
    assert sim.run_job_flow_count() == 0
    with pytest.raises(StorageError):
        response.unwrap()


def test_launching_a_known_run_again_attaches_to_its_cluster(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    first = launch(emr_client, s3, job_flow(keep_alive=True), run_id="run-7")
    again = launch(emr_client, s3, job_flow(keep_alive=True), run_id="run-7")
    assert again.attached and again.cluster_id == first.cluster_id
    assert again.run_prefix == first.run_prefix and again.eventlog_dir == first.eventlog_dir
    assert sim.run_job_flow_count() == 1
    assert emr.terminate_cluster(emr_client, first.cluster_id).unwrap() in ("TERMINATING", "TERMINATED")
    sim.wait_until(first.cluster_id, "TERMINATED")


def test_find_cluster_by_run_id_finds_exactly_the_cluster_launched(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    runs = [launch(emr_client, s3, job_flow(f"c{i}", keep_alive=True)) for i in range(4)]
    target = runs[2]
    assert emr.find_cluster_by_run_id(emr_client, target.run_id).unwrap() == target.cluster_id
    assert emr.find_cluster_by_run_id(emr_client, str(uuid.uuid4())).unwrap() == ""
    for run in runs:
        emr.terminate_cluster(emr_client, run.cluster_id).unwrap()
    for run in runs:
        sim.wait_until(run.cluster_id, "TERMINATED")
    assert emr.find_cluster_by_run_id(emr_client, target.run_id).unwrap() == ""
    found = emr.find_cluster_by_run_id(
        emr_client, target.run_id, created_after=started, include_terminated=True
    )
    assert found.unwrap() == target.cluster_id
    with pytest.raises(InvalidInputError, match="needs created_after"):
        emr.find_cluster_by_run_id(emr_client, target.run_id, include_terminated=True).unwrap()


# -------------------------------------------------------------------------------------------- wait


def test_a_step_failure_is_an_error_with_the_step_and_its_reason(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    sim.fail_next("STEP_FAILURE", "java.lang.OutOfMemoryError: Java heap space", step=1)
    run = launch(emr_client, s3, job_flow(steps=3))
    response = wait(emr_client, run.cluster_id)
    assert response.error is not None and response.error.kind == "EMRError"
    message = response.error.message
    assert "TERMINATED_WITH_ERRORS (STEP_FAILURE: Shut down as step failed)" in message
    assert "step 'step-1'" in message and "java.lang.OutOfMemoryError: Java heap space" in message
    assert f"s3://emr-logs/nightly/{run.cluster_id}/steps/" in message
    detail = response.error.detail
    assert detail["reason"] == "failed" and detail["reason_code"] == "STEP_FAILURE"
    assert detail["failed_step"]["name"] == "step-1"
    report = emr.get_cluster_report(emr_client, run.cluster_id).unwrap()
    states = {s["Name"]: s["Status"]["State"] for s in report["Steps"]}
    assert states == {"step-0": "COMPLETED", "step-1": "FAILED", "step-2": "CANCELLED"}
    failed = next(s for s in report["Steps"] if s["Name"] == "step-1")
    assert failed["Status"]["FailureDetails"]["Message"] == "java.lang.OutOfMemoryError: Java heap space"
    state = emr.get_cluster_state(emr_client, run.cluster_id).unwrap()
    assert state.terminal and not state.succeeded
    assert state.failed_step is not None and state.failed_step.state == "FAILED"
    error = state.error()
    assert error is not None and error.message == message
    described = emr_client.describe_cluster(ClusterId=run.cluster_id)["Cluster"]
    failed = emr_client.list_steps(ClusterId=run.cluster_id, StepStates=["FAILED"])["Steps"]
    assert emr.ClusterState.from_description(described, failed) == state


def test_a_bootstrap_failure_is_an_error_with_emrs_reason(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    sim.fail_when("doomed-*", "BOOTSTRAP_FAILURE")
    run = launch(emr_client, s3, job_flow("doomed-etl"))
    with pytest.raises(EMRError, match=r"TERMINATED_WITH_ERRORS \(BOOTSTRAP_FAILURE: On the master instance"):
        wait(emr_client, run.cluster_id).unwrap()
    steps = emr_client.list_steps(ClusterId=run.cluster_id)["Steps"]
    assert [s["Status"]["State"] for s in steps] == ["CANCELLED"]
    assert emr.get_cluster_state(emr_client, run.cluster_id).unwrap().failed_step is None


def test_a_cluster_terminated_by_the_user_is_not_a_success(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    run = launch(emr_client, s3, job_flow(keep_alive=True))
    sim.wait_until(run.cluster_id, "WAITING")
    assert emr.terminate_cluster(emr_client, run.cluster_id).unwrap() in ("TERMINATING", "TERMINATED")
    assert emr.terminate_cluster(emr_client, run.cluster_id).unwrap() in ("TERMINATING", "TERMINATED")
    with pytest.raises(
        EMRError, match=r"ended TERMINATED \(USER_REQUEST: Terminated by user request\).*before all"
    ):
        wait(emr_client, run.cluster_id).unwrap()
    assert emr.terminate_cluster(emr_client, run.cluster_id).unwrap() == "TERMINATED"
    unknown = emr.terminate_cluster(emr_client, "j-DOESNOTEXIST1")
    assert unknown.error is not None and "DescribeCluster" in unknown.error.message


def test_waiting_times_out_without_terminating_the_cluster(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    run = launch(emr_client, s3, job_flow(keep_alive=True))
    sim.wait_until(run.cluster_id, "WAITING")
    response = wait(emr_client, run.cluster_id, timeout_s=0.3)
    assert response.error is not None and response.error.kind == "EMRTimeoutError"
    assert response.error.detail == {"reason": "timeout", "cluster_id": run.cluster_id, "state": "WAITING"}
    assert "still WAITING after 0.3 s" in response.error.message
    assert "KeepJobFlowAliveWhenNoSteps" in response.error.message
    with pytest.raises(emr.EMRTimeoutError):
        response.unwrap()
    assert sim.cluster_state(run.cluster_id) == "WAITING"
    emr.terminate_cluster(emr_client, run.cluster_id).unwrap()
    sim.wait_until(run.cluster_id, "TERMINATED")


def test_wait_needs_a_positive_timeout(emr_client: Any) -> None:
    response = emr.wait_for_cluster(emr_client, "j-1", timeout_s=0)
    assert response.error is not None and response.error.kind == "InvalidInputError"


# ------------------------------------------------------------------------------------------ report


def test_the_report_reads_every_page_and_is_json_safe(sim: AwsSimulator, emr_client: Any, s3: Any) -> None:
    request = job_flow(
        steps=5,
        BootstrapActions=[
            {"Name": f"ba-{i}", "ScriptBootstrapAction": {"Path": f"s3://code/ba{i}.sh", "Args": []}}
            for i in range(3)
        ],
    )
    request["Instances"]["InstanceGroups"][1]["InstanceCount"] = 4
    request["Instances"]["InstanceGroups"].append(
        {
            "Name": "Task",
            "InstanceRole": "TASK",
            "InstanceType": "c5.xlarge",
            "InstanceCount": 1,
            "Market": "SPOT",
        }
    )
    run = launch(emr_client, s3, request)
    first_page = emr_client.list_steps(ClusterId=run.cluster_id)
    assert len(first_page["Steps"]) == 2 and first_page["Marker"], "the simulator serves pages of two"
    wait(emr_client, run.cluster_id).unwrap()
    report = emr.get_cluster_report(emr_client, run.cluster_id).unwrap()
    assert set(report) == {"Cluster", "Instances", "Steps", "Region"} and report["Region"] == "us-east-1"
    assert sorted(s["Name"] for s in report["Steps"]) == [f"step-{i}" for i in range(5)]
    assert {s["Status"]["State"] for s in report["Steps"]} == {"COMPLETED"}
    assert len(report["Instances"]) == 6
    assert sorted(b["Name"] for b in report["Cluster"]["BootstrapActions"]) == ["ba-0", "ba-1", "ba-2"]
    assert sorted(g["InstanceGroupType"] for g in report["Cluster"]["InstanceGroups"]) == [
        "CORE",
        "MASTER",
        "TASK",
    ]
    assert report["Cluster"]["Status"]["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    assert isinstance(report["Cluster"]["Status"]["Timeline"]["CreationDateTime"], str)
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert (
        emr.get_cluster_report(emr_client, run.cluster_id, region="eu-west-1").unwrap()["Region"]
        == "eu-west-1"
    )

    url = emr.save_cluster_report(s3, report).unwrap()
    assert url == run.run_prefix + "emr-cluster-report.json"
    saved = s3.get_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    assert json.loads(saved) == report


def test_save_cluster_report_refuses_a_cluster_without_a_sync_run_folder(s3: Any) -> None:
    report = {"Cluster": {"Id": "j-1", "Configurations": [], "Tags": []}}
    response = emr.save_cluster_report(s3, report)
    assert response.error is not None and "has no spark.eventLog.dir" in response.error.message
    report["Cluster"]["Configurations"] = [
        {
            "Classification": "spark-defaults",
            "Properties": {"spark.eventLog.dir": f"s3a://{BUCKET}/x/20/r/eventlog/"},
        }
    ]
    response = emr.save_cluster_report(s3, report)
    assert response.error is not None and "not a Sync run folder" in response.error.message


# --------------------------------------------------------------------------------------- event log


def finished_report(
    sim: AwsSimulator, emr_client: Any, s3: Any, **kwargs: Any
) -> tuple[emr.LaunchedRun, dict[str, Any]]:
    run = launch(emr_client, s3, job_flow(**kwargs))
    wait(emr_client, run.cluster_id).unwrap()
    return run, emr.get_cluster_report(emr_client, run.cluster_id).unwrap()


def test_the_event_log_is_found_and_complete(sim: AwsSimulator, emr_client: Any, s3: Any) -> None:
    run, report = finished_report(sim, emr_client, s3)
    url = emr.find_run_eventlog(s3, report).unwrap()
    assert [url] == sim.eventlog_urls(run.cluster_id)
    assert url.startswith(run.run_prefix.replace("s3a://", "s3://") + "eventlog/application_")


class SmallPages:
    """An S3 client whose listings return two keys per page."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def list_objects_v2(self, **kwargs: Any) -> Any:
        self.pages += 1
        return self._client.list_objects_v2(MaxKeys=2, **kwargs)


def test_the_event_log_folder_is_read_to_its_last_page_and_codec_names_are_accepted(
    sim: AwsSimulator, emr_client: Any, s3: Any
) -> None:
    run, report = finished_report(sim, emr_client, s3)
    (url,) = sim.eventlog_urls(run.cluster_id)
    key = url.removeprefix(f"s3://{BUCKET}/")
    folder = key.rsplit("/", 1)[0] + "/"
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"{folder}aaa-notes-{i}.txt", Body=b"x")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key + ".gz", Body=gzip.compress(body))
    s3.delete_object(Bucket=BUCKET, Key=key)
    paged = SmallPages(s3)
    assert emr.find_run_eventlog(paged, report).unwrap() == url + ".gz"
    assert paged.pages >= 4

    s3.put_object(Bucket=BUCKET, Key=f"{folder}application_1_0002.inprogress", Body=body)
    response = emr.find_run_eventlog(s3, report)
    assert response.error is not None and "event logs of 2 Spark applications" in response.error.message


@pytest.mark.parametrize(
    ("mode", "needles"),
    [
        ("inprogress", ["in-progress file application_", "no SparkListenerApplicationEnd event"]),
        ("no_end", ["no SparkListenerApplicationEnd event"]),
    ],
)
def test_an_incomplete_event_log_is_refused_naming_what_is_missing(
    sim: AwsSimulator, emr_client: Any, s3: Any, mode: Any, needles: list[str]
) -> None:
    sim.eventlog_mode = mode
    _run, report = finished_report(sim, emr_client, s3)
    response = emr.find_run_eventlog(s3, report)
    assert response.error is not None and response.error.kind == "EventLogError"
    assert "is incomplete" in response.error.message
    for needle in needles:
        assert needle in response.error.message
    assert response.error.detail["reason"] == "incomplete"
    assert (
        emr.find_run_eventlog(s3, report, allow_incomplete=True).unwrap()
        == response.error.detail["eventlog_url"]
    )


def test_a_missing_event_log_is_refused(sim: AwsSimulator, emr_client: Any, s3: Any) -> None:
    sim.eventlog_mode = "missing"
    _run, report = finished_report(sim, emr_client, s3)
    with pytest.raises(EventLogError, match=r"No Spark event log in s3://.*/eventlog/ \(it is empty\)"):
        emr.find_run_eventlog(s3, report).unwrap()


# ---------------------------------------------------------------------------- record and next run


def test_record_run_creates_a_prediction_that_succeeds_and_the_next_run_uses_it(
    sim: AwsSimulator, emr_client: Any, s3: Any, sync_client: Any
) -> None:
    project = create_project("nightly-etl", "aws-emr", cluster_log_url=LOCATION, client=sync_client).unwrap()
    base = job_flow()
    run = launch(emr_client, s3, base, project_id=project.id)
    wait(emr_client, run.cluster_id).unwrap()

    prediction_id = emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client).unwrap()
    run_keys = keys(s3, run.run_prefix.removeprefix(f"s3://{BUCKET}/"))
    names = [k.rsplit("/", 1)[-1] for k in run_keys]
    assert names[-2:] == ["run-job-flow-request.json", "sync-prediction.json"]
    assert any(k.endswith("emr-cluster-report.json") for k in keys(s3))
    prediction = wait_for_prediction(prediction_id, timeout_s=30, poll=FAST, client=sync_client).unwrap()
    assert PredictionStatus.parse(prediction.status or "") is PredictionStatus.SUCCESS
    assert prediction.project_id == project.id and prediction.product_code == "aws-emr"

    request = emr.run_job_flow_from_prediction(
        prediction, "balanced", base, project_id=project.id, project_location=LOCATION
    ).unwrap()
    solution = prediction.solution("balanced").configuration
    assert request["Instances"]["InstanceGroups"] == solution["Instances"]["InstanceGroups"]
    assert request["Steps"] == base["Steps"] and request["LogUri"] == base["LogUri"]
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert (
        tags["team"] == "data" and tags["sync:project-id"] == project.id and tags["sync:run-id"] != run.run_id
    )
    following = launch(emr_client, s3, request, project_id=project.id)
    assert following.run_id == tags["sync:run-id"] and following.cluster_id != run.cluster_id
    wait(emr_client, following.cluster_id).unwrap()
    assert sim.eventlog_urls(following.cluster_id)


def test_record_run_uploads_the_log_when_asked(
    sim: AwsSimulator, emr_client: Any, s3: Any, sync_client: Any
) -> None:
    project = create_project("upload-etl", "aws-emr", client=sync_client).unwrap()
    run = launch(emr_client, s3, project_id=project.id)
    wait(emr_client, run.cluster_id).unwrap()
    prediction_id = emr.record_run(
        emr_client, s3, run.cluster_id, upload=True, sync_client=sync_client
    ).unwrap()
    prediction = wait_for_prediction(prediction_id, timeout_s=30, poll=FAST, client=sync_client).unwrap()
    assert prediction.status == "SUCCESS"


def test_record_run_refuses_a_cluster_that_did_not_finish(
    sim: AwsSimulator, emr_client: Any, s3: Any, sync_client: Any
) -> None:
    sim.fail_next("STEP_FAILURE", "boom")
    failed = launch(emr_client, s3)
    assert wait(emr_client, failed.cluster_id).error is not None
    response = emr.record_run(emr_client, s3, failed.cluster_id, sync_client=sync_client)
    assert response.error is not None and response.error.kind == "EMRError"
    assert response.error.message.startswith("Cannot record the run: EMR cluster")
    assert "STEP_FAILURE" in response.error.message and "boom" in response.error.message

    running = launch(emr_client, s3, job_flow(keep_alive=True))
    response = emr.record_run(emr_client, s3, running.cluster_id, sync_client=sync_client)
    assert response.error is not None and "not finished" in response.error.message
    emr.terminate_cluster(emr_client, running.cluster_id).unwrap()
    sim.wait_until(running.cluster_id, "TERMINATED")
    response = emr.record_run(emr_client, s3, running.cluster_id, sync_client=sync_client)
    assert response.error is not None and "USER_REQUEST" in response.error.message


def test_record_run_refuses_a_project_that_is_not_the_clusters(
    sim: AwsSimulator, emr_client: Any, s3: Any, sync_client: Any
) -> None:
    run = launch(emr_client, s3)
    wait(emr_client, run.cluster_id).unwrap()
    response = emr.record_run(emr_client, s3, run.cluster_id, project_id="another", sync_client=sync_client)
    assert response.error is not None and f"belongs to project {PROJECT}" in response.error.message
