"""The AWS simulator: moto's server on loopback plus EMR lifecycles, failures, fleets and event logs."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sync_provider.core.eventlog import summarize
from sync_provider.testing.aws import AwsSimulator, default_workload
from sync_provider.testing.eventlog_generator import generated_duration_ms

BUCKET = "sim-bucket"
EVENTLOG_DIR = f"s3a://{BUCKET}/runs/r1/eventlog/"


def request(
    name: str = "sim-etl",
    *,
    steps: int = 1,
    keep_alive: bool = False,
    core: tuple[str, int] = ("m5.xlarge", 2),
    eventlog_dir: str | None = EVENTLOG_DIR,
    action: str = "TERMINATE_CLUSTER",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": name,
        "ReleaseLabel": "emr-6.10.0",
        "Instances": {
            "InstanceGroups": [
                {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"InstanceRole": "CORE", "InstanceType": core[0], "InstanceCount": core[1]},
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        "Steps": [
            {"Name": f"step-{i}", "ActionOnFailure": action, "HadoopJarStep": {"Jar": "command-runner.jar"}}
            for i in range(steps)
        ],
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
    }
    if eventlog_dir:
        body["Configurations"] = [
            {
                "Classification": "spark-defaults",
                "Properties": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": eventlog_dir},
            }
        ]
    return body


def test_stop_undoes_the_changes_to_moto() -> None:
    from moto.emr.responses import ElasticMapReduceResponse

    original = ElasticMapReduceResponse.run_job_flow
    with AwsSimulator(page_size=3) as first:
        assert ElasticMapReduceResponse.run_job_flow is not original
        assert hasattr(ElasticMapReduceResponse, "list_instance_fleets")
        with pytest.raises(RuntimeError, match="Another AwsSimulator"):
            AwsSimulator().start()
        assert first.client("s3").list_buckets()["Buckets"] == []
    assert ElasticMapReduceResponse.run_job_flow is original
    assert not hasattr(ElasticMapReduceResponse, "list_instance_fleets")
    from moto.core.utils import get_pagination_model

    assert get_pagination_model("emr")["ListSteps"]["limit_default"] == 50
    with pytest.raises(RuntimeError, match="not running"):
        _ = first.endpoint_url


@pytest.fixture(scope="module")
def simulator() -> Iterator[AwsSimulator]:
    with AwsSimulator(step_wall_s=0.15, bootstrap_wall_s=0.1, page_size=2) as sim:
        yield sim


@pytest.fixture
def sim(simulator: AwsSimulator) -> Iterator[AwsSimulator]:
    simulator.reset()
    simulator.create_bucket(BUCKET)
    simulator.client("s3").put_object(Bucket=BUCKET, Key="runs/r1/eventlog/", Body=b"")
    yield simulator
    simulator.clear_failures()
    simulator.eventlog_mode = "complete"
    simulator.time_scale = None
    left = simulator.running_clusters()
    if left:
        simulator.terminate_all()
        pytest.fail(f"the test left EMR clusters running: {left}")


@pytest.fixture
def emr(sim: AwsSimulator) -> Any:
    return sim.client("emr")


def steps_of(emr: Any, cluster_id: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    params: dict[str, Any] = {"ClusterId": cluster_id}
    while True:
        page = emr.list_steps(**params)
        steps += page["Steps"]
        if not page.get("Marker"):
            return sorted(steps, key=lambda s: s["Name"])
        params["Marker"] = page["Marker"]


def reason(emr: Any, cluster_id: str) -> dict[str, Any]:
    status: dict[str, Any] = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    return status


# ------------------------------------------------------------------------------------------ lifecycle


def test_a_cluster_goes_through_every_state_and_runs_its_steps_in_order(sim: AwsSimulator, emr: Any) -> None:
    cluster_id = emr.run_job_flow(**request(steps=3))["JobFlowId"]
    assert emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] == "STARTING"
    assert [s["Status"]["State"] for s in steps_of(emr, cluster_id)] == ["PENDING"] * 3
    sim.wait_until(cluster_id, "TERMINATED")
    assert sim.state_history(cluster_id) == [
        "STARTING",
        "BOOTSTRAPPING",
        "RUNNING",
        "TERMINATING",
        "TERMINATED",
    ]
    status = reason(emr, cluster_id)
    assert status["StateChangeReason"] == {"Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed"}
    assert status["Timeline"]["ReadyDateTime"] <= status["Timeline"]["EndDateTime"]
    steps = steps_of(emr, cluster_id)
    assert [s["Status"]["State"] for s in steps] == ["COMPLETED"] * 3
    for earlier, later in itertools.pairwise(steps):
        assert earlier["Status"]["Timeline"]["EndDateTime"] <= later["Status"]["Timeline"]["StartDateTime"]
    instances = emr.list_instances(ClusterId=cluster_id)
    assert {i["Status"]["State"] for i in instances["Instances"]} == {"TERMINATED"}
    assert instances["Marker"], "pages of two"
    assert sim.running_clusters() == [] and sim.run_job_flow_count() == 1


def test_a_cluster_without_steps_terminates_after_starting(sim: AwsSimulator, emr: Any) -> None:
    cluster_id = emr.run_job_flow(**request(steps=0))["JobFlowId"]
    assert sim.cluster_state(cluster_id) == "STARTING"
    sim.wait_until(cluster_id, "TERMINATED")
    assert sim.state_history(cluster_id) == [
        "STARTING",
        "BOOTSTRAPPING",
        "RUNNING",
        "TERMINATING",
        "TERMINATED",
    ]
    assert reason(emr, cluster_id)["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    assert sim.eventlog_urls(cluster_id) == []


def test_a_kept_alive_cluster_waits_runs_added_steps_and_stops_on_request(
    sim: AwsSimulator, emr: Any
) -> None:
    cluster_id = emr.run_job_flow(**request(keep_alive=True))["JobFlowId"]
    sim.wait_until(cluster_id, "WAITING")
    assert len(sim.eventlog_urls(cluster_id)) == 1
    emr.add_job_flow_steps(
        JobFlowId=cluster_id,
        Steps=[{"Name": f"later-{i}", "HadoopJarStep": {"Jar": "command-runner.jar"}} for i in range(2)],
    )
    sim.wait_until(cluster_id, "RUNNING", timeout=2)
    sim.wait_until(cluster_id, "WAITING")
    assert [s["Status"]["State"] for s in steps_of(emr, cluster_id)] == ["COMPLETED"] * 3
    assert len(sim.eventlog_urls(cluster_id)) == 2
    assert sim.eventlog_urls(cluster_id)[1].endswith("_0002")
    emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[{"Name": "never", "HadoopJarStep": {"Jar": "x.jar"}}])
    sim.wait_until(cluster_id, "RUNNING", timeout=2)
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    sim.wait_until(cluster_id, "TERMINATED")
    assert sim.state_history(cluster_id)[-4:] == ["WAITING", "RUNNING", "TERMINATING", "TERMINATED"]
    assert sim.state_history(cluster_id).count("WAITING") == 2
    assert reason(emr, cluster_id)["StateChangeReason"] == {
        "Code": "USER_REQUEST",
        "Message": "Terminated by user request",
    }
    assert {s["Name"]: s["Status"]["State"] for s in steps_of(emr, cluster_id)}["never"] == "CANCELLED"
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    assert sim.cluster_state(cluster_id) == "TERMINATED"


# ------------------------------------------------------------------------------------------- failures


def test_fail_next_fails_one_cluster_with_a_failed_step(sim: AwsSimulator, emr: Any) -> None:
    sim.fail_next("STEP_FAILURE", "Container killed by YARN for exceeding memory limits")
    failing = emr.run_job_flow(**request(steps=2))["JobFlowId"]
    fine = emr.run_job_flow(**request(steps=1))["JobFlowId"]
    sim.wait_until(failing, "TERMINATED_WITH_ERRORS")
    sim.wait_until(fine, "TERMINATED")
    assert reason(emr, failing)["StateChangeReason"] == {
        "Code": "STEP_FAILURE",
        "Message": "Shut down as step failed",
    }
    first, second = steps_of(emr, failing)
    assert first["Status"]["State"] == "FAILED" and second["Status"]["State"] == "CANCELLED"
    assert (
        first["Status"]["FailureDetails"]["Message"] == "Container killed by YARN for exceeding memory limits"
    )
    assert sim.eventlog_urls(failing) == [] and len(sim.eventlog_urls(fine)) == 1


@pytest.mark.parametrize(
    "outcome", ["BOOTSTRAP_FAILURE", "INTERNAL_ERROR", "VALIDATION_ERROR", "INSTANCE_FAILURE"]
)
def test_cluster_failures_happen_before_the_steps(sim: AwsSimulator, emr: Any, outcome: Any) -> None:
    sim.fail_when("bad-*", outcome, "it broke")
    cluster_id = emr.run_job_flow(**request("bad-cluster"))["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED_WITH_ERRORS")
    assert sim.state_history(cluster_id) == [
        "STARTING",
        "BOOTSTRAPPING",
        "TERMINATING",
        "TERMINATED_WITH_ERRORS",
    ]
    assert reason(emr, cluster_id)["StateChangeReason"] == {"Code": outcome, "Message": "it broke"}
    assert [s["Status"]["State"] for s in steps_of(emr, cluster_id)] == ["CANCELLED"]


def test_fail_when_matches_names_and_unknown_outcomes_are_refused(sim: AwsSimulator, emr: Any) -> None:
    sim.fail_when("nightly-*", "STEP_FAILURE", step=-1)
    matched = emr.run_job_flow(**request("nightly-1", steps=2, action="CONTINUE"))["JobFlowId"]
    other = emr.run_job_flow(**request("hourly-1"))["JobFlowId"]
    sim.wait_until(matched, "TERMINATED_WITH_ERRORS")
    sim.wait_until(other, "TERMINATED")
    assert [s["Status"]["State"] for s in steps_of(emr, matched)] == ["COMPLETED", "FAILED"]
    assert reason(emr, matched)["StateChangeReason"]["Message"] == "Steps completed with errors"
    with pytest.raises(ValueError, match="Unknown outcome"):
        sim.fail_next("DISK_FULL")  # type: ignore[arg-type]


def test_cancel_and_wait_keeps_a_kept_alive_cluster_waiting(sim: AwsSimulator, emr: Any) -> None:
    sim.fail_next("STEP_FAILURE")
    cluster_id = emr.run_job_flow(**request(steps=3, keep_alive=True, action="CANCEL_AND_WAIT"))["JobFlowId"]
    sim.wait_until(cluster_id, "WAITING")
    assert [s["Status"]["State"] for s in steps_of(emr, cluster_id)] == ["FAILED", "CANCELLED", "CANCELLED"]
    assert sim.terminate_all() == [cluster_id]


def test_a_missing_event_log_folder_fails_the_step_as_spark_would(sim: AwsSimulator, emr: Any) -> None:
    cluster_id = emr.run_job_flow(**request(eventlog_dir=f"s3a://{BUCKET}/nowhere/eventlog/"))["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED_WITH_ERRORS")
    (step,) = steps_of(emr, cluster_id)
    assert "FileNotFoundException" in step["Status"]["FailureDetails"]["Message"]
    assert "s3a://sim-bucket/nowhere/eventlog" in step["Status"]["FailureDetails"]["Message"]


# ------------------------------------------------------------------------------------------ event logs


def test_the_event_log_reflects_the_clusters_slots(sim: AwsSimulator, emr: Any) -> None:
    s3 = sim.client("s3")
    s3.put_object(Bucket=BUCKET, Key="runs/big/eventlog/", Body=b"")
    small = emr.run_job_flow(**request(core=("m5.xlarge", 1)))["JobFlowId"]
    big = emr.run_job_flow(
        **request(core=("m5.2xlarge", 4), eventlog_dir=f"s3a://{BUCKET}/runs/big/eventlog/")
    )["JobFlowId"]
    sim.wait_until(small, "TERMINATED")
    sim.wait_until(big, "TERMINATED")
    (small_url,) = sim.eventlog_urls(small)
    (big_url,) = sim.eventlog_urls(big)
    assert small_url.startswith(f"s3://{BUCKET}/runs/r1/eventlog/application_")
    assert big_url.startswith(f"s3://{BUCKET}/runs/big/eventlog/application_")
    small_log = summarize(small_url, s3_client=s3)
    big_log = summarize(big_url, s3_client=s3)
    assert small_log.completeness is None or small_log.completeness.complete
    assert [e.total_cores for e in small_log.worker_executors()] == [4]
    assert [e.total_cores for e in big_log.worker_executors()] == [8] * 4
    assert small_log.application_id is not None and small_log.application_id == small_url.rsplit("/", 1)[1]
    assert big_log.duration_s is not None and small_log.duration_s is not None
    assert big_log.duration_s < small_log.duration_s / 3
    assert sum(len(j.stage_ids) for j in small_log.jobs) == sum(
        len(j.stages) for j in default_workload().jobs
    )


def test_event_log_modes(sim: AwsSimulator, emr: Any) -> None:
    s3 = sim.client("s3")
    sim.eventlog_mode = "inprogress"
    cluster_id = emr.run_job_flow(**request())["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED")
    (url,) = sim.eventlog_urls(cluster_id)
    assert url.endswith(".inprogress")
    body = s3.get_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"))["Body"].read().decode()
    events = [json.loads(line)["Event"] for line in body.splitlines()]
    assert events[0] == "SparkListenerLogStart" and "SparkListenerApplicationEnd" not in events
    sim.eventlog_mode = "missing"
    cluster_id = emr.run_job_flow(**request())["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED")
    assert sim.eventlog_urls(cluster_id) == []


def test_time_scale_makes_the_step_last_as_long_as_the_compressed_application(
    sim: AwsSimulator, emr: Any
) -> None:
    duration_s = generated_duration_ms(default_workload(executors=2, cores_per_executor=4)) / 1000
    sim.time_scale = 0.5 / duration_s
    cluster_id = emr.run_job_flow(**request())["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED")
    (step,) = steps_of(emr, cluster_id)
    took = (
        step["Status"]["Timeline"]["EndDateTime"] - step["Status"]["Timeline"]["StartDateTime"]
    ).total_seconds()
    assert 0.4 <= took < 3.0


# -------------------------------------------------------------------------------- endpoints and helpers


def test_connection_json_env_and_plain_boto3(sim: AwsSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = json.loads(sim.aws_connection_json())
    assert connection["conn_type"] == "aws"
    assert connection["extra"] == {"endpoint_url": sim.endpoint_url, "region_name": "us-east-1"}
    assert sim.endpoint_url.startswith("http://127.0.0.1:")
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    plain = boto3.client("s3")
    assert BUCKET in [b["Name"] for b in plain.list_buckets()["Buckets"]]


def test_wait_until_names_the_state_it_is_in(sim: AwsSimulator, emr: Any) -> None:
    cluster_id = emr.run_job_flow(**request(keep_alive=True))["JobFlowId"]
    with pytest.raises(TimeoutError, match=r"is (STARTING|BOOTSTRAPPING), not TERMINATED"):
        sim.wait_until(cluster_id, "TERMINATED", timeout=0.01)
    assert sim.running_clusters() == [cluster_id]
    assert sim.terminate_all() == [cluster_id]
    assert sim.running_clusters() == []
    with pytest.raises(KeyError):
        sim.cluster_state("j-UNKNOWN")


def test_reset_forgets_clusters_and_buckets(sim: AwsSimulator, emr: Any) -> None:
    emr.run_job_flow(**request(steps=0))
    sim.fail_next("STEP_FAILURE")
    sim.reset()
    assert sim.run_job_flow_count() == 0 and sim.running_clusters() == []
    assert sim.client("s3").list_buckets()["Buckets"] == []
    cluster_id = emr.run_job_flow(**request(steps=0, eventlog_dir=None))["JobFlowId"]
    sim.wait_until(cluster_id, "TERMINATED")
    assert reason(emr, cluster_id)["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    sim.create_bucket(BUCKET)
