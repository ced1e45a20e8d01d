"""Tests of the synthetic Spark event-log generator and its cluster reports."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sync_provider.testing.eventlog_generator import (
    JobSpec,
    StageSpec,
    WorkloadSpec,
    databricks_cluster_report,
    demo_workload,
    emr_cluster_report,
    generate_events,
    generated_duration_ms,
    tiny_workload,
    write_event_log,
)

EVENTLOGS = Path(__file__).resolve().parents[3] / "shared" / "eventlogs"
REAL_33_LOG = EVENTLOGS / "apache_spark" / "local-1642039451826"
REAL_EMR_LOG = EVENTLOGS / "syncsparkpy" / "application_1678162862227_0001"
REAL_EMR_REPORT = EVENTLOGS / "syncsparkpy" / "emr-cluster-report.json"
REAL_DATABRICKS_CLUSTER = EVENTLOGS / "syncsparkpy" / "aws_cluster.json"


def branching_workload(**overrides: Any) -> WorkloadSpec:
    """Two independent roots, a join and a final stage: exercises concurrency between stages."""
    values: dict[str, Any] = {
        "executors": 3,
        "cores_per_executor": 2,
        "seed": 11,
        "jobs": [
            JobSpec(
                stages=[
                    StageSpec(num_tasks=9, task_ms=400, jitter=0.5),
                    StageSpec(num_tasks=5, task_ms=900, jitter=0.5),
                    StageSpec(num_tasks=7, task_ms=300, parents=[0, 1]),
                    StageSpec(num_tasks=3, task_ms=200, parents=[2]),
                ]
            ),
            JobSpec(stages=[StageSpec(num_tasks=13, task_ms=250, jitter=0.9)]),
        ],
    }
    values.update(overrides)
    return WorkloadSpec(**values)


def timestamp_of(event: dict[str, Any]) -> int | None:
    """The time an event happened, or ``None`` for events without one."""
    name = event["Event"]
    if name in ("SparkListenerTaskStart",):
        return int(event["Task Info"]["Launch Time"])
    if name == "SparkListenerTaskEnd":
        return int(event["Task Info"]["Finish Time"])
    if name == "SparkListenerStageSubmitted":
        return int(event["Stage Info"]["Submission Time"])
    if name == "SparkListenerStageCompleted":
        return int(event["Stage Info"]["Completion Time"])
    if name == "SparkListenerJobStart":
        return int(event["Submission Time"])
    if name == "SparkListenerJobEnd":
        return int(event["Completion Time"])
    if "Timestamp" in event:
        return int(event["Timestamp"])
    return None


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Read an event log with the standard library only (plain or gzip JSON lines)."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# ------------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("platform", ["emr", "databricks", "local"])
def test_events_are_json_in_timestamp_order(platform: str) -> None:
    spec = branching_workload(platform=platform)
    events = list(generate_events(spec))
    times = [t for t in map(timestamp_of, events) if t is not None]
    assert times == sorted(times)
    for event in events:
        assert json.loads(json.dumps(event)) == event
    names = [e["Event"] for e in events]
    assert names[:4] == [
        "SparkListenerLogStart",
        "SparkListenerResourceProfileAdded",
        "SparkListenerEnvironmentUpdate",
        "SparkListenerApplicationStart",
    ]
    assert names[-1] == "SparkListenerApplicationEnd"
    counts = Counter(names)
    assert counts["SparkListenerJobStart"] == counts["SparkListenerJobEnd"] == len(spec.jobs)
    assert counts["SparkListenerStageSubmitted"] == counts["SparkListenerStageCompleted"] == spec.num_stages
    assert counts["SparkListenerTaskStart"] == counts["SparkListenerTaskEnd"] == spec.num_tasks


def test_tasks_refer_to_submitted_stages_of_a_started_job() -> None:
    events = list(generate_events(branching_workload()))
    job_stages: set[int] = set()
    submitted: set[int] = set()
    completed: set[int] = set()
    started_tasks: set[int] = set()
    for event in events:
        name = event["Event"]
        if name == "SparkListenerJobStart":
            assert [s["Stage ID"] for s in event["Stage Infos"]] == event["Stage IDs"]
            job_stages.update(event["Stage IDs"])
        elif name == "SparkListenerStageSubmitted":
            assert event["Stage Info"]["Stage ID"] in job_stages
            submitted.add(event["Stage Info"]["Stage ID"])
        elif name == "SparkListenerTaskStart":
            assert event["Stage ID"] in submitted
            assert event["Stage ID"] not in completed
            started_tasks.add(event["Task Info"]["Task ID"])
        elif name == "SparkListenerTaskEnd":
            assert event["Stage ID"] in submitted
            assert event["Stage ID"] not in completed
            assert event["Task Info"]["Task ID"] in started_tasks
            assert event["Task End Reason"] == {"Reason": "Success"}
        elif name == "SparkListenerStageCompleted":
            completed.add(event["Stage Info"]["Stage ID"])
        elif name == "SparkListenerJobEnd":
            assert event["Job Result"] == {"Result": "JobSucceeded"}
    assert completed == submitted == job_stages


@pytest.mark.parametrize(
    "spec",
    [
        branching_workload(),
        demo_workload(),
        tiny_workload(platform="local"),
        demo_workload(platform="databricks"),
    ],
    ids=["branching", "demo", "local", "databricks"],
)
def test_slot_capacity_is_never_exceeded(spec: WorkloadSpec) -> None:
    cores: dict[str, int] = {}
    tasks: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for event in generate_events(spec):
        if event["Event"] == "SparkListenerExecutorAdded":
            cores[event["Executor ID"]] = event["Executor Info"]["Total Cores"]
        elif event["Event"] == "SparkListenerTaskEnd":
            info = event["Task Info"]
            tasks[info["Executor ID"]].append((info["Launch Time"], info["Finish Time"]))
    assert set(tasks) <= set(cores)
    for executor, intervals in tasks.items():
        # Sweep: ends before starts at the same instant.
        points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
        running = peak = 0
        for _, delta in points:
            running += delta
            peak = max(peak, running)
        assert peak <= cores[executor]
    assert max(len(v) for v in tasks.values()) > 1


def test_parents_finish_before_children_start() -> None:
    events = list(generate_events(branching_workload()))
    parents: dict[int, list[int]] = {}
    submitted: dict[int, int] = {}
    completed: dict[int, int] = {}
    launches: dict[int, list[int]] = defaultdict(list)
    finishes: dict[int, list[int]] = defaultdict(list)
    for event in events:
        if event["Event"] == "SparkListenerJobStart":
            for info in event["Stage Infos"]:
                parents[info["Stage ID"]] = info["Parent IDs"]
        elif event["Event"] == "SparkListenerStageSubmitted":
            submitted[event["Stage Info"]["Stage ID"]] = event["Stage Info"]["Submission Time"]
        elif event["Event"] == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            assert info["Submission Time"] == submitted[info["Stage ID"]]
            completed[info["Stage ID"]] = info["Completion Time"]
        elif event["Event"] == "SparkListenerTaskEnd":
            launches[event["Stage ID"]].append(event["Task Info"]["Launch Time"])
            finishes[event["Stage ID"]].append(event["Task Info"]["Finish Time"])
    assert parents[2] == [0, 1]
    assert parents[3] == [2]
    for stage, stage_parents in parents.items():
        for parent in stage_parents:
            assert submitted[stage] >= completed[parent]
        assert min(launches[stage]) >= submitted[stage]
        assert max(finishes[stage]) <= completed[stage]
    # The two roots really overlap (FIFO list scheduling fills free slots).
    assert min(launches[1]) < max(finishes[0])


def test_task_end_fields_match_spark_3() -> None:
    event = next(e for e in generate_events(tiny_workload()) if e["Event"] == "SparkListenerTaskEnd")
    info = event["Task Info"]
    for key in ("Task ID", "Index", "Attempt", "Launch Time", "Executor ID", "Host", "Locality"):
        assert key in info
    assert info["Speculative"] is False
    assert info["Failed"] is False
    assert info["Killed"] is False
    metrics = event["Task Metrics"]
    duration = info["Finish Time"] - info["Launch Time"]
    assert 0 < metrics["Executor Run Time"] <= duration
    assert metrics["Executor CPU Time"] <= metrics["Executor Run Time"] * 1_000_000
    assert set(metrics["Shuffle Read Metrics"]) >= {
        "Remote Bytes Read",
        "Local Bytes Read",
        "Fetch Wait Time",
    }
    assert set(metrics["Shuffle Write Metrics"]) == {
        "Shuffle Bytes Written",
        "Shuffle Write Time",
        "Shuffle Records Written",
    }
    assert metrics["Input Metrics"]["Bytes Read"] > 0


@pytest.mark.eventlogs
def test_field_names_and_nesting_match_a_real_spark_33_log() -> None:
    if not REAL_33_LOG.exists():
        pytest.skip(f"{REAL_33_LOG} is not available")
    real: dict[str, dict[str, Any]] = {}
    for event in read_lines(REAL_33_LOG):
        real.setdefault(event["Event"], event)
    ours: dict[str, dict[str, Any]] = {}
    for event in generate_events(demo_workload()):
        ours.setdefault(event["Event"], event)

    def keys(event: dict[str, Any], *path: str) -> set[str]:
        for part in path:
            event = event[part]
        return set(event)

    checks = [
        ("SparkListenerApplicationStart",),
        ("SparkListenerResourceProfileAdded",),
        ("SparkListenerExecutorAdded",),
        ("SparkListenerExecutorAdded", "Executor Info"),
        ("SparkListenerJobStart",),
        ("SparkListenerStageSubmitted", "Stage Info"),
        ("SparkListenerStageCompleted", "Stage Info"),
        ("SparkListenerTaskStart", "Task Info"),
        ("SparkListenerTaskEnd",),
        ("SparkListenerTaskEnd", "Task Info"),
        ("SparkListenerTaskEnd", "Task Metrics"),
        ("SparkListenerTaskEnd", "Task Metrics", "Shuffle Read Metrics"),
        ("SparkListenerTaskEnd", "Task Metrics", "Shuffle Write Metrics"),
        ("SparkListenerTaskEnd", "Task Executor Metrics"),
        ("SparkListenerJobEnd",),
        ("SparkListenerApplicationEnd",),
    ]
    for event_name, *path in checks:
        assert keys(ours[event_name], *path) == keys(real[event_name], *path), (event_name, path)
    real_stage = real["SparkListenerJobStart"]["Stage Infos"][0]
    our_stage = ours["SparkListenerJobStart"]["Stage Infos"][0]
    assert set(our_stage) == set(real_stage)
    assert set(our_stage["RDD Info"][0]) == set(real_stage["RDD Info"][0])


def test_platform_hints() -> None:
    emr = next(
        e for e in generate_events(tiny_workload(seed=3)) if e["Event"] == "SparkListenerEnvironmentUpdate"
    )
    spec = tiny_workload(seed=3)
    assert emr["System Properties"]["EMR_CLUSTER_ID"] == spec.resolved_cluster_id
    assert emr["System Properties"]["EMR_RELEASE_LABEL"] == "emr-6.10.0"
    assert emr["System Properties"]["EMR_STEP_ID"] == spec.emr_step_id
    props = emr["Spark Properties"]
    assert props["spark.master"] == "yarn"
    assert props["spark.app.id"] == spec.resolved_app_id == f"application_{spec.start_ms}_0001"
    assert props["spark.app.name"] == "tiny_app"
    assert props["spark.executor.cores"] == "2"
    assert props["spark.executor.instances"] == "2"

    dbx_spec = tiny_workload(platform="databricks", node_type="r5.xlarge", driver_node_type="m5.xlarge")
    dbx = next(e for e in generate_events(dbx_spec) if e["Event"] == "SparkListenerEnvironmentUpdate")
    tags = dbx["Spark Properties"]
    assert tags["spark.databricks.clusterUsageTags.clusterId"] == dbx_spec.resolved_cluster_id
    assert tags["spark.databricks.clusterUsageTags.sparkVersion"] == "12.2.x-scala2.12"
    assert tags["spark.databricks.clusterUsageTags.clusterNodeType"] == "r5.xlarge"
    assert tags["spark.databricks.clusterUsageTags.driverNodeType"] == "m5.xlarge"
    assert tags["spark.databricks.clusterUsageTags.clusterWorkers"] == "2"
    assert dbx_spec.resolved_app_id.startswith("app-")
    assert "EMR_CLUSTER_ID" not in dbx["System Properties"]

    local_events = list(generate_events(tiny_workload(platform="local")))
    added = [e for e in local_events if e["Event"] == "SparkListenerExecutorAdded"]
    assert [(e["Executor ID"], e["Executor Info"]["Total Cores"]) for e in added] == [("driver", 4)]
    env = next(e for e in local_events if e["Event"] == "SparkListenerEnvironmentUpdate")
    assert env["Spark Properties"]["spark.master"] == "local[4]"


def test_extra_spark_properties_override() -> None:
    spec = tiny_workload(spark_properties={"spark.eventLog.dir": "s3a://bucket/logs/", "spark.sql.x": "1"})
    env = next(e for e in generate_events(spec) if e["Event"] == "SparkListenerEnvironmentUpdate")
    assert env["Spark Properties"]["spark.eventLog.dir"] == "s3a://bucket/logs/"
    assert env["Spark Properties"]["spark.sql.x"] == "1"
    assert spec.event_log_dir == "s3a://bucket/logs/"


def test_optional_events() -> None:
    spec = tiny_workload(resource_profile_event=False, remove_executors_at_end=True)
    events = list(generate_events(spec))
    names = [e["Event"] for e in events]
    assert "SparkListenerResourceProfileAdded" not in names
    removed = [e for e in events if e["Event"] == "SparkListenerExecutorRemoved"]
    assert [e["Executor ID"] for e in removed] == ["1", "2"]
    last_job_end = max(e["Completion Time"] for e in events if e["Event"] == "SparkListenerJobEnd")
    assert all(last_job_end <= e["Timestamp"] <= events[-1]["Timestamp"] for e in removed)


# ------------------------------------------------------------------------------- determinism, duration


def test_deterministic_for_a_seed() -> None:
    assert list(generate_events(demo_workload(seed=5))) == list(generate_events(demo_workload(seed=5)))
    assert list(generate_events(demo_workload(seed=5))) != list(generate_events(demo_workload(seed=6)))
    assert tiny_workload(seed=1).resolved_cluster_id == tiny_workload(seed=1).resolved_cluster_id
    assert tiny_workload(seed=1).resolved_cluster_id != tiny_workload(seed=2).resolved_cluster_id


@pytest.mark.parametrize("spec", [tiny_workload(), demo_workload(), branching_workload(driver_gap_ms=0)])
def test_application_duration_equals_generated_duration(spec: WorkloadSpec) -> None:
    events = list(generate_events(spec))
    start = next(e for e in events if e["Event"] == "SparkListenerApplicationStart")["Timestamp"]
    end = events[-1]["Timestamp"]
    assert start == spec.start_ms
    assert end - start == generated_duration_ms(spec)


def test_presets() -> None:
    demo = demo_workload()
    assert (demo.executors, demo.cores_per_executor) == (4, 4)
    assert 150 <= demo.num_tasks <= 250
    assert len(demo.jobs) >= 3
    assert 120_000 <= generated_duration_ms(demo) <= 600_000
    assert demo_workload(app_name="x", seed=9).app_name == "x"
    tiny = tiny_workload()
    assert tiny.num_tasks <= 20
    assert generated_duration_ms(tiny) < 10_000


def test_more_slots_never_slower() -> None:
    slow = generated_duration_ms(demo_workload(executors=2))
    fast = generated_duration_ms(demo_workload(executors=8))
    assert fast < generated_duration_ms(demo_workload()) < slow


def test_invalid_specs_are_rejected() -> None:
    with pytest.raises(ValidationError, match="earlier stage"):
        JobSpec(stages=[StageSpec(num_tasks=1, task_ms=1, parents=[0])])
    with pytest.raises(ValidationError, match="earlier stage"):
        JobSpec(stages=[StageSpec(num_tasks=1, task_ms=1), StageSpec(num_tasks=1, task_ms=1, parents=[2])])
    with pytest.raises(ValidationError):
        StageSpec(num_tasks=0, task_ms=10)
    with pytest.raises(ValidationError):
        WorkloadSpec(executors=0)
    with pytest.raises(ValidationError):
        WorkloadSpec(platform="kubernetes")  # type: ignore[arg-type]


def test_application_without_jobs() -> None:
    spec = WorkloadSpec(jobs=[])
    events = list(generate_events(spec))
    assert events[-1]["Timestamp"] - spec.start_ms == generated_duration_ms(spec)
    assert not any(e["Event"] == "SparkListenerJobStart" for e in events)


# ------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_write_and_read_back_with_the_standard_library(tmp_path: Path, codec: str) -> None:
    spec = demo_workload(seed=2)
    path = write_event_log(spec, tmp_path / "logs" / spec.resolved_app_id, codec=codec)  # type: ignore[arg-type]
    assert path.exists()
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (codec == "gzip")
    events = read_lines(path)
    assert events == list(generate_events(spec))
    counts = Counter(e["Event"] for e in events)
    assert counts["SparkListenerJobStart"] == len(spec.jobs)
    assert len(
        {e["Stage Info"]["Stage ID"] for e in events if e["Event"] == "SparkListenerStageCompleted"}
    ) == (spec.num_stages)
    assert counts["SparkListenerTaskEnd"] == spec.num_tasks


def test_write_rejects_unknown_codec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="codec"):
        write_event_log(tiny_workload(), tmp_path / "x", codec="zstd")  # type: ignore[arg-type]


def test_summarize_reads_generated_logs(tmp_path: Path) -> None:
    try:
        from sync_provider.core.eventlog import summarize
    except ImportError as exc:
        pytest.skip(f"sync_provider.core.eventlog.summarize is not available yet: {exc}")
    for spec, codec in ((demo_workload(seed=4), "gzip"), (branching_workload(platform="databricks"), "none")):
        path = write_event_log(spec, tmp_path / f"{spec.resolved_app_id}-{codec}", codec=codec)  # type: ignore[arg-type]
        summary = summarize(path)
        assert summary.application_name == spec.app_name
        assert summary.application_id == spec.resolved_app_id
        assert len(summary.jobs) == len(spec.jobs)
        assert len(summary.stages) == spec.num_stages
        assert len(summary.tasks) == spec.num_tasks
        assert summary.duration_s == pytest.approx(generated_duration_ms(spec) / 1000)
        assert summary.end_inferred is False
        assert sum(e.total_cores for e in summary.executors) == spec.total_cores
        hints = summary.platform
        if spec.platform == "databricks":
            assert hints.databricks_cluster_id == spec.resolved_cluster_id
            assert hints.num_workers == spec.executors
            assert hints.region == spec.region
        else:
            assert hints.emr_cluster_id == spec.resolved_cluster_id
            assert hints.emr_release_label == spec.emr_release_label


# ------------------------------------------------------------------------------------ cluster reports


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize("use_fleets", [False, True])
def test_emr_cluster_report_is_consistent_with_the_workload(use_fleets: bool) -> None:
    spec = demo_workload(spark_properties={"spark.eventLog.dir": "s3a://bucket/p/run/eventlog/"})
    report = emr_cluster_report(
        spec, instance_type="m5.2xlarge", use_fleets=use_fleets, tags={"sync:run-id": "r1"}
    )
    cluster = report["Cluster"]
    assert report["Region"] == "us-east-1"
    assert cluster["Id"] == spec.resolved_cluster_id
    assert cluster["Status"]["State"] == "TERMINATED"
    assert cluster["Status"]["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    timeline = cluster["Status"]["Timeline"]
    app_end = spec.start_ms + generated_duration_ms(spec)
    assert _ms(timeline["CreationDateTime"]) < _ms(timeline["ReadyDateTime"]) < spec.start_ms
    assert app_end < _ms(timeline["EndDateTime"])
    defaults = next(c for c in cluster["Configurations"] if c["Classification"] == "spark-defaults")
    assert defaults["Properties"]["spark.eventLog.dir"] == "s3a://bucket/p/run/eventlog/"
    assert cluster["ReleaseLabel"] == spec.emr_release_label
    assert cluster["Tags"] == [{"Key": "sync:run-id", "Value": "r1"}]
    assert cluster["InstanceCollectionType"] == ("INSTANCE_FLEET" if use_fleets else "INSTANCE_GROUP")
    collection = cluster["InstanceFleets" if use_fleets else "InstanceGroups"]
    assert len(collection) == 2
    core_hosts = {i["PrivateDnsName"] for i in report["Instances"] if i["InstanceType"] == "m5.2xlarge"}
    assert core_hosts == {host for _, host in spec.executor_hosts()}
    assert len(report["Instances"]) == spec.executors + 1
    step = report["Steps"][0]
    assert step["Id"] == spec.emr_step_id
    assert step["Status"]["State"] == "COMPLETED"
    assert _ms(step["Status"]["Timeline"]["StartDateTime"]) <= spec.start_ms
    assert _ms(step["Status"]["Timeline"]["EndDateTime"]) >= app_end


@pytest.mark.eventlogs
@pytest.mark.parametrize("use_fleets", [False, True])
def test_emr_cluster_report_has_the_real_reports_keys(use_fleets: bool) -> None:
    if not REAL_EMR_REPORT.exists():
        pytest.skip(f"{REAL_EMR_REPORT} is not available")
    real = json.loads(REAL_EMR_REPORT.read_text())
    ours = emr_cluster_report(demo_workload(), use_fleets=use_fleets)
    assert set(ours) == set(real)
    real_cluster_keys = set(real["Cluster"]) - {"InstanceFleets"}
    assert real_cluster_keys <= set(ours["Cluster"])
    assert set(real["Instances"][0]) - {"InstanceFleetId"} <= set(ours["Instances"][0])
    assert set(real["Steps"][0]) == set(ours["Steps"][0])
    if use_fleets:
        assert set(real["Cluster"]["InstanceFleets"][0]) <= set(ours["Cluster"]["InstanceFleets"][0])


def test_emr_cluster_report_options() -> None:
    spec = tiny_workload()
    report = emr_cluster_report(
        spec,
        core_instance_count=5,
        core_market="SPOT",
        cluster_id="j-CUSTOM",
        release_label="emr-7.0.0",
        region="eu-west-1",
        ebs_gb_per_node=0,
    )
    groups = {g["InstanceGroupType"]: g for g in report["Cluster"]["InstanceGroups"]}
    assert groups["CORE"]["RequestedInstanceCount"] == 5
    assert groups["CORE"]["Market"] == "SPOT"
    assert groups["MASTER"]["Market"] == "ON_DEMAND"
    assert groups["CORE"]["EbsBlockDevices"] == []
    assert report["Cluster"]["Id"] == "j-CUSTOM"
    assert report["Cluster"]["ReleaseLabel"] == "emr-7.0.0"
    assert report["Region"] == "eu-west-1"
    assert len(report["Instances"]) == 6


def test_databricks_cluster_report_is_consistent_with_the_workload() -> None:
    spec = demo_workload(platform="databricks", node_type="m5.2xlarge")
    report = databricks_cluster_report(spec, custom_tags={"sync:project-id": "p"})
    assert report["plan_type"] == "Premium"
    assert report["compute_type"] == "Jobs Compute"
    cluster = report["cluster"]
    assert cluster["cluster_id"] == spec.resolved_cluster_id
    assert cluster["node_type_id"] == cluster["driver_node_type_id"] == "m5.2xlarge"
    assert cluster["num_workers"] == spec.executors
    assert cluster["state"] == "TERMINATED"
    assert cluster["custom_tags"] == {"sync:project-id": "p"}
    assert cluster["start_time"] < spec.start_ms
    assert cluster["terminated_time"] > spec.start_ms + generated_duration_ms(spec)
    events = report["cluster_events"]
    assert events["total_count"] == len(events["events"])
    times = [e["timestamp"] for e in events["events"]]
    assert times == sorted(times, reverse=True)
    assert {e["type"] for e in events["events"]} >= {"CREATING", "RUNNING", "TERMINATING"}
    assert report["tasks"][0]["cluster_instance"]["cluster_id"] == cluster["cluster_id"]
    assert report["instances"] == []
    env = next(e for e in generate_events(spec) if e["Event"] == "SparkListenerEnvironmentUpdate")
    props = env["Spark Properties"]
    assert props["spark.databricks.clusterUsageTags.clusterId"] == cluster["cluster_id"]
    assert props["spark.databricks.clusterUsageTags.sparkVersion"] == cluster["spark_version"]
    assert props["spark.databricks.clusterUsageTags.clusterWorkers"] == str(cluster["num_workers"])


@pytest.mark.eventlogs
def test_databricks_cluster_has_the_real_clusters_get_keys() -> None:
    if not REAL_DATABRICKS_CLUSTER.exists():
        pytest.skip(f"{REAL_DATABRICKS_CLUSTER} is not available")
    real = json.loads(REAL_DATABRICKS_CLUSTER.read_text())
    ours = databricks_cluster_report(tiny_workload(platform="databricks"))["cluster"]
    assert set(real) <= set(ours)
    assert set(real["aws_attributes"]) <= set(ours["aws_attributes"])
