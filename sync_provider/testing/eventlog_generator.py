"""Synthetic Spark event logs (and matching cluster reports) for a described workload.

A :class:`WorkloadSpec` describes an application: its executors, its jobs, and per job a small DAG of
stages with a number of tasks and a typical task duration. :func:`generate_events` turns it into the
JSON events Spark 3.x writes (field names and nesting as in real Spark 3.3 logs), in timestamp
order. Tasks are list-scheduled onto ``executors x cores`` slots: stages run in FIFO order of
submission, a stage is submitted only after its parents complete, and no slot ever runs two tasks at
once, so the timestamps are consistent. The output is deterministic for a given ``seed``.

:func:`emr_cluster_report` and :func:`databricks_cluster_report` build the cluster reports a Sync
client would send with such a log (EMR: DescribeCluster + instance groups/fleets + ListInstances +
ListSteps; Databricks: clusters/get + events + run tasks), with times around the application's.

Example::

    spec = demo_workload(seed=7)
    path = write_event_log(spec, tmp_path / spec.resolved_app_id, codec="gzip")
    report = emr_cluster_report(spec, instance_type="m5.2xlarge")
"""

from __future__ import annotations

import gzip
import heapq
import json
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "JobSpec",
    "StageSpec",
    "WorkloadSpec",
    "databricks_cluster_report",
    "demo_workload",
    "emr_cluster_report",
    "generate_events",
    "generated_duration_ms",
    "tiny_workload",
    "write_event_log",
]

Platform = Literal["emr", "databricks", "local"]

# Fixed scheduler latencies (ms) between related events, as seen in real logs.
_JOB_TO_STAGE_MS = 15  # job submitted -> its first stages submitted
_STAGE_SUBMIT_DELAY_MS = 12  # parents completed -> child stage submitted
_TASK_LAUNCH_DELAY_MS = 20  # stage submitted -> earliest task launch
_SLOT_TURNAROUND_MS = 1  # task finished -> next task may launch on that slot
_STAGE_COMPLETE_DELAY_MS = 8  # last task finished -> stage completed
_JOB_END_DELAY_MS = 5  # last stage completed -> job end

_ACCOUNT = "123456789012"


class StageSpec(BaseModel):
    """One stage of a job.

    :param num_tasks: number of tasks (partitions).
    :param task_ms: typical task duration (launch to finish) in milliseconds.
    :param jitter: each task lasts ``task_ms x (1 + jitter x u)`` with ``u`` uniform in [-1, 1].
    :param parents: indices of earlier stages of the same job whose output this stage reads.
    :param name: stage name; defaults to a Spark-like call site.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_tasks: int = Field(ge=1)
    task_ms: float = Field(gt=0)
    jitter: float = Field(default=0.1, ge=0, lt=1)
    parents: list[int] = Field(default_factory=list)
    name: str | None = None


class JobSpec(BaseModel):
    """One Spark job: a DAG of stages given in submission (topological) order.

    :param stages: the stages; ``parents`` refer to earlier indices. The last stage is the result stage.
    :param description: optional job description (``spark.job.description``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: list[StageSpec] = Field(min_length=1)
    description: str | None = None

    @model_validator(mode="after")
    def _check_parents(self) -> JobSpec:
        for index, stage in enumerate(self.stages):
            for parent in stage.parents:
                if not 0 <= parent < index:
                    raise ValueError(
                        f"stage {index}: parent {parent} must be the index of an earlier stage of the job"
                    )
            if len(set(stage.parents)) != len(stage.parents):
                raise ValueError(f"stage {index}: duplicate parents {stage.parents}")
        return self


class WorkloadSpec(BaseModel):
    """A Spark application to synthesise.

    :param app_name: ``spark.app.name``.
    :param app_id: application id; derived from the platform and ``start_ms`` when omitted
        (``application_<start>_0001`` on EMR/YARN, ``app-<UTC time>-0000`` on Databricks,
        ``local-<start>`` locally).
    :param spark_version: written to ``SparkListenerLogStart``.
    :param start_ms: ``SparkListenerApplicationStart`` time, epoch milliseconds.
    :param executors: number of executors (local mode: one ``driver`` executor with all the cores).
    :param cores_per_executor: cores (task slots) per executor.
    :param executor_memory: ``spark.executor.memory``.
    :param executor_host: host name pattern of executor ``{n}`` (1-based).
    :param driver_host: the driver's host name.
    :param jobs: the jobs, run one after another.
    :param driver_gap_ms: driver-only time before the first job, between jobs and after the last.
    :param executor_startup_ms: time from application start until all executors are registered.
    :param platform: ``emr``, ``databricks`` or ``local``; decides ids, master and platform hints.
    :param spark_properties: extra Spark properties (override the generated ones).
    :param seed: random seed; the same spec always gives the same log.
    :param cluster_id: EMR ``j-…`` or Databricks cluster id; derived from the seed when omitted.
    :param emr_release_label: ``EMR_RELEASE_LABEL`` written on EMR.
    :param node_type: Databricks worker node type (``spark.databricks.clusterUsageTags.clusterNodeType``).
    :param driver_node_type: Databricks driver node type (defaults to ``node_type``).
    :param databricks_runtime: Databricks runtime (``clusterUsageTags.sparkVersion``).
    :param region: AWS region (Databricks ``clusterUsageTags.region``; default of the cluster reports).
    :param user: the application's user; defaults per platform.
    :param resource_profile_event: whether to write ``SparkListenerResourceProfileAdded``.
    :param remove_executors_at_end: whether to write ``SparkListenerExecutorRemoved`` before the end.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_name: str = "synthetic-etl"
    app_id: str | None = None
    spark_version: str = "3.3.2"
    start_ms: int = Field(default=1_700_000_000_000, ge=0)
    executors: int = Field(default=4, ge=1)
    cores_per_executor: int = Field(default=4, ge=1)
    executor_memory: str = "4g"
    executor_host: str = "ip-10-0-1-{n}.ec2.internal"
    driver_host: str = "ip-10-0-0-10.ec2.internal"
    jobs: list[JobSpec] = Field(default_factory=list)
    driver_gap_ms: int = Field(default=2000, ge=0)
    executor_startup_ms: int = Field(default=3000, ge=0)
    platform: Platform = "emr"
    spark_properties: dict[str, str] = Field(default_factory=dict)
    seed: int = 0
    cluster_id: str | None = None
    emr_release_label: str = "emr-6.10.0"
    node_type: str = "m5.xlarge"
    driver_node_type: str | None = None
    databricks_runtime: str = "12.2.x-scala2.12"
    region: str = "us-east-1"
    user: str | None = None
    resource_profile_event: bool = True
    remove_executors_at_end: bool = False

    @property
    def resolved_app_id(self) -> str:
        """The application id written to the log."""
        if self.app_id:
            return self.app_id
        if self.platform == "databricks":
            return f"app-{_utc(self.start_ms).strftime('%Y%m%d%H%M%S')}-0000"
        if self.platform == "local":
            return f"local-{self.start_ms}"
        return f"application_{self.start_ms}_0001"

    @property
    def resolved_cluster_id(self) -> str:
        """The EMR or Databricks cluster id (``""`` for local)."""
        if self.cluster_id:
            return self.cluster_id
        rng = random.Random(f"cluster-{self.seed}-{self.start_ms}")
        if self.platform == "databricks":
            stamp = _utc(self.start_ms).strftime("%m%d-%H%M%S")
            return f"{stamp}-{''.join(rng.choices(string.ascii_lowercase + string.digits, k=8))}"
        if self.platform == "emr":
            return "j-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))
        return ""

    @property
    def emr_step_id(self) -> str:
        """The EMR step that ran the application (``EMR_STEP_ID``)."""
        rng = random.Random(f"step-{self.seed}-{self.start_ms}")
        return "s-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))

    @property
    def resolved_driver_node_type(self) -> str:
        """The Databricks driver node type."""
        return self.driver_node_type or self.node_type

    @property
    def event_log_dir(self) -> str:
        """``spark.eventLog.dir`` (from ``spark_properties`` or a platform default)."""
        default = {
            "emr": "hdfs:///var/log/spark/apps",
            "databricks": "dbfs:/databricks/eventlogs",
            "local": "file:/tmp/spark-events",
        }[self.platform]
        return self.spark_properties.get("spark.eventLog.dir", default)

    @property
    def total_cores(self) -> int:
        """Task slots of the application."""
        return self.executors * self.cores_per_executor

    @property
    def num_tasks(self) -> int:
        """Total number of tasks of all jobs."""
        return sum(stage.num_tasks for job in self.jobs for stage in job.stages)

    @property
    def num_stages(self) -> int:
        """Total number of stages of all jobs."""
        return sum(len(job.stages) for job in self.jobs)

    def executor_hosts(self) -> list[tuple[str, str]]:
        """Return ``(executor id, host)`` of every executor, in registration order."""
        if self.platform == "local":
            return [("driver", self.driver_host)]
        first = 0 if self.platform == "databricks" else 1
        return [(str(first + i), self.executor_host.format(n=i + 1)) for i in range(self.executors)]

    def cores_of_executor(self) -> int:
        """Cores of each executor (local mode: all cores on the driver)."""
        return self.total_cores if self.platform == "local" else self.cores_per_executor


# --------------------------------------------------------------------------------------------------
# Scheduling


@dataclass(slots=True)
class _Task:
    task_id: int
    index: int
    executor: int
    launch: int
    finish: int


@dataclass(slots=True)
class _Stage:
    stage_id: int
    position: int
    spec: StageSpec
    parent_ids: list[int]
    is_result: bool
    has_children: bool
    submit: int = 0
    complete: int = 0
    tasks: list[_Task] = field(default_factory=list)


@dataclass(slots=True)
class _Job:
    job_id: int
    spec: JobSpec
    submit: int
    end: int
    stages: list[_Stage]


@dataclass(slots=True)
class _Plan:
    """Application-level times, computed before any event is written."""

    start: int
    executors_added: list[int]
    first_job_submit: int


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso(ms: int) -> str:
    return _utc(ms).isoformat(timespec="microseconds")


def _app_plan(spec: WorkloadSpec) -> _Plan:
    count = len(spec.executor_hosts())
    ready = spec.start_ms + spec.executor_startup_ms
    added = [max(spec.start_ms, ready - 35 * (count - 1 - i)) for i in range(count)]
    return _Plan(start=spec.start_ms, executors_added=added, first_job_submit=ready + spec.driver_gap_ms)


def _schedule_job(
    spec: WorkloadSpec,
    job_spec: JobSpec,
    *,
    job_id: int,
    first_stage_id: int,
    first_task_id: int,
    submit: int,
    slots_free: list[int],
    rng: random.Random,
) -> _Job:
    """List-schedule one job's tasks onto the slots (FIFO by stage submission, parents first)."""
    cores = spec.cores_of_executor()
    executors = len(slots_free) // cores
    children = {p for stage in job_spec.stages for p in stage.parents}
    last = len(job_spec.stages) - 1
    stages = [
        _Stage(
            stage_id=first_stage_id + i,
            position=i,
            spec=s,
            parent_ids=[first_stage_id + p for p in s.parents],
            is_result=i == last,
            has_children=i in children,
        )
        for i, s in enumerate(job_spec.stages)
    ]
    # Heap of (free at, order, slot): order spreads ties round-robin across executors.
    heap = [
        (max(slots_free[s], submit), (s % cores) * executors + s // cores, s) for s in range(len(slots_free))
    ]
    heapq.heapify(heap)
    done: dict[int, int] = {}
    remaining = set(range(len(stages)))
    task_id = first_task_id
    while remaining:
        ready = []
        for i in remaining:
            parents = stages[i].spec.parents
            if all(p in done for p in parents):
                at = (
                    (max(done[p] for p in parents) + _STAGE_SUBMIT_DELAY_MS)
                    if parents
                    else submit + _JOB_TO_STAGE_MS
                )
                ready.append((at, i))
        at, i = min(ready)
        stage = stages[i]
        stage.submit = at
        earliest = at + _TASK_LAUNCH_DELAY_MS
        for index in range(stage.spec.num_tasks):
            free, order, slot = heapq.heappop(heap)
            launch = max(free, earliest)
            duration = max(1, round(stage.spec.task_ms * (1 + stage.spec.jitter * rng.uniform(-1.0, 1.0))))
            finish = launch + duration
            stage.tasks.append(_Task(task_id, index, slot // cores, launch, finish))
            task_id += 1
            heapq.heappush(heap, (finish + _SLOT_TURNAROUND_MS, order, slot))
        stage.complete = max(t.finish for t in stage.tasks) + _STAGE_COMPLETE_DELAY_MS
        done[i] = stage.complete
        remaining.discard(i)
    for free, _order, slot in heap:
        slots_free[slot] = free
    end = max(done.values()) + _JOB_END_DELAY_MS
    return _Job(job_id=job_id, spec=job_spec, submit=submit, end=end, stages=stages)


def _iter_jobs(spec: WorkloadSpec) -> Iterator[_Job]:
    plan = _app_plan(spec)
    rng = random.Random(spec.seed)
    cores = spec.cores_of_executor()
    slots_free = [plan.executors_added[s // cores] for s in range(len(plan.executors_added) * cores)]
    submit = plan.first_job_submit
    stage_id = 0
    task_id = 0
    for job_id, job_spec in enumerate(spec.jobs):
        job = _schedule_job(
            spec,
            job_spec,
            job_id=job_id,
            first_stage_id=stage_id,
            first_task_id=task_id,
            submit=submit,
            slots_free=slots_free,
            rng=rng,
        )
        yield job
        stage_id += len(job.stages)
        task_id += sum(len(s.tasks) for s in job.stages)
        submit = job.end + spec.driver_gap_ms


def _app_end(spec: WorkloadSpec, last_job_end: int | None) -> int:
    if last_job_end is None:
        return _app_plan(spec).first_job_submit
    return last_job_end + spec.driver_gap_ms


def generated_duration_ms(spec: WorkloadSpec) -> int:
    """Return ``ApplicationEnd - ApplicationStart`` of the log :func:`generate_events` writes.

    :param spec: the workload.
    """
    last_end: int | None = None
    for job in _iter_jobs(spec):
        last_end = job.end
    return _app_end(spec, last_end) - spec.start_ms


# --------------------------------------------------------------------------------------------------
# Events


def _user(spec: WorkloadSpec) -> str:
    if spec.user:
        return spec.user
    return {"emr": "hadoop", "databricks": "root", "local": "spark"}[spec.platform]


def _master(spec: WorkloadSpec) -> str:
    if "spark.master" in spec.spark_properties:
        return spec.spark_properties["spark.master"]
    if spec.platform == "emr":
        return "yarn"
    if spec.platform == "databricks":
        return "spark://" + _ip_of(spec.driver_host, 10) + ":7077"
    return f"local[{spec.total_cores}]"


def _spark_properties(spec: WorkloadSpec) -> dict[str, str]:
    props: dict[str, str] = {
        "spark.app.id": spec.resolved_app_id,
        "spark.app.name": spec.app_name,
        "spark.app.startTime": str(spec.start_ms),
        "spark.driver.host": spec.driver_host,
        "spark.driver.port": "35829",
        "spark.driver.memory": "2g",
        "spark.executor.id": "driver",
        "spark.executor.cores": str(spec.cores_per_executor),
        "spark.executor.instances": str(spec.executors),
        "spark.executor.memory": spec.executor_memory,
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": spec.event_log_dir,
        "spark.dynamicAllocation.enabled": "false",
        "spark.scheduler.mode": "FIFO",
        "spark.submit.deployMode": "client",
        "spark.serializer.objectStreamReset": "100",
        "spark.sql.warehouse.dir": "file:/tmp/spark-warehouse",
        "spark.master": _master(spec),
    }
    if spec.platform == "emr":
        props["spark.yarn.historyServer.address"] = f"{spec.driver_host}:18080"
        props["spark.history.fs.logDirectory"] = "hdfs:///var/log/spark/apps"
    elif spec.platform == "databricks":
        cluster_id = spec.resolved_cluster_id
        tags = [
            {"key": "Vendor", "value": "Databricks"},
            {"key": "ClusterId", "value": cluster_id},
            {"key": "ClusterName", "value": f"job-{spec.app_name}"},
        ]
        props.update(
            {
                "spark.databricks.clusterUsageTags.clusterId": cluster_id,
                "spark.databricks.clusterUsageTags.clusterName": f"job-{spec.app_name}",
                "spark.databricks.clusterUsageTags.sparkVersion": spec.databricks_runtime,
                "spark.databricks.clusterUsageTags.clusterNodeType": spec.node_type,
                "spark.databricks.clusterUsageTags.driverNodeType": spec.resolved_driver_node_type,
                "spark.databricks.clusterUsageTags.clusterWorkers": str(spec.executors),
                "spark.databricks.clusterUsageTags.clusterMinWorkers": str(spec.executors),
                "spark.databricks.clusterUsageTags.clusterMaxWorkers": str(spec.executors),
                "spark.databricks.clusterUsageTags.cloudProvider": "AWS",
                "spark.databricks.clusterUsageTags.region": spec.region,
                "spark.databricks.clusterUsageTags.clusterAllTags": json.dumps(tags, separators=(",", ":")),
                "spark.databricks.workerNodeTypeId": spec.node_type,
                "spark.databricks.driverNodeTypeId": spec.resolved_driver_node_type,
            }
        )
    props.update(spec.spark_properties)
    return props


def _system_properties(spec: WorkloadSpec) -> dict[str, str]:
    props = {
        "java.version": "1.8.0_362",
        "java.vendor": "Amazon.com Inc.",
        "java.vm.name": "OpenJDK 64-Bit Server VM",
        "os.name": "Linux",
        "os.arch": "amd64",
        "user.name": _user(spec),
        "user.timezone": "UTC",
        "file.encoding": "UTF-8",
        "line.separator": "\n",
        "SPARK_SUBMIT": "true",
        "sun.java.command": f"org.apache.spark.deploy.SparkSubmit {spec.app_name}.py",
    }
    if spec.platform == "emr":
        props["EMR_CLUSTER_ID"] = spec.resolved_cluster_id
        props["EMR_RELEASE_LABEL"] = spec.emr_release_label
        props["EMR_STEP_ID"] = spec.emr_step_id
    return props


def _ip_of(host: str, fallback_last: int) -> str:
    match = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)", host)
    if match:
        return ".".join(match.groups())
    return f"10.0.0.{fallback_last}"


def _rdd_info(stage: _Stage, name: str) -> dict[str, Any]:
    return {
        "RDD ID": stage.stage_id,
        "Name": "MapPartitionsRDD",
        "Scope": json.dumps({"id": str(stage.stage_id), "name": "Exchange"}, separators=(",", ":")),
        "Callsite": name,
        "Parent IDs": list(stage.parent_ids),
        "Storage Level": {"Use Disk": False, "Use Memory": False, "Deserialized": False, "Replication": 1},
        "Barrier": False,
        "DeterministicLevel": "DETERMINATE",
        "Number of Partitions": stage.spec.num_tasks,
        "Number of Cached Partitions": 0,
        "Memory Size": 0,
        "Disk Size": 0,
    }


def _stage_name(spec: WorkloadSpec, stage: _Stage) -> str:
    if stage.spec.name:
        return stage.spec.name
    if not stage.spec.parents:
        op = "parquet" if stage.has_children else "count"
    else:
        op = "save" if stage.is_result else "sql"
    return f"{op} at {spec.app_name}.py:{10 + stage.stage_id}"


def _stage_info(
    spec: WorkloadSpec, stage: _Stage, *, submitted: bool = False, completed: bool = False
) -> dict[str, Any]:
    name = _stage_name(spec, stage)
    info: dict[str, Any] = {
        "Stage ID": stage.stage_id,
        "Stage Attempt ID": 0,
        "Stage Name": name,
        "Number of Tasks": stage.spec.num_tasks,
        "RDD Info": [_rdd_info(stage, name)],
        "Parent IDs": list(stage.parent_ids),
        "Details": f"synthetic stage {stage.stage_id} of {spec.app_name}\n{name}",
    }
    if submitted or completed:
        info["Submission Time"] = stage.submit
    if completed:
        info["Completion Time"] = stage.complete
    info["Accumulables"] = []
    info["Resource Profile Id"] = 0
    return info


def _task_info(task: _Task, host: str, executor_id: str, *, finished: bool) -> dict[str, Any]:
    return {
        "Task ID": task.task_id,
        "Index": task.index,
        "Attempt": 0,
        "Partition ID": task.index,
        "Launch Time": task.launch,
        "Executor ID": executor_id,
        "Host": host,
        "Locality": "PROCESS_LOCAL" if task.index % 4 else "NODE_LOCAL",
        "Speculative": False,
        "Getting Result Time": 0,
        "Finish Time": task.finish if finished else 0,
        "Failed": False,
        "Killed": False,
        "Accumulables": [],
    }


def _task_metrics(stage: _Stage, task: _Task, executors: int) -> dict[str, Any]:
    duration = task.finish - task.launch
    deserialize = max(1, duration // 50)
    serialize = 1 if duration > 100 else 0
    run = max(0, duration - deserialize - serialize - 2)
    reads_shuffle = bool(stage.spec.parents)
    writes_shuffle = not stage.is_result
    input_bytes = 0 if reads_shuffle else run * 50_000
    shuffle_read = run * 20_000 if reads_shuffle else 0
    shuffle_write = run * 10_000 if writes_shuffle else 0
    output_bytes = run * 5_000 if stage.is_result and reads_shuffle else 0
    remote_blocks = max(0, executors - 1) * len(stage.spec.parents) if reads_shuffle else 0
    return {
        "Executor Deserialize Time": deserialize,
        "Executor Deserialize CPU Time": deserialize * 800_000,
        "Executor Run Time": run,
        "Executor CPU Time": run * 850_000,
        "Peak Execution Memory": 64 * 1024 * 1024 if reads_shuffle else 0,
        "Result Size": 2_000 + 16 * task.index % 997,
        "JVM GC Time": run // 40,
        "Result Serialization Time": serialize,
        "Memory Bytes Spilled": 0,
        "Disk Bytes Spilled": 0,
        "Shuffle Read Metrics": {
            "Remote Blocks Fetched": remote_blocks,
            "Local Blocks Fetched": len(stage.spec.parents),
            "Fetch Wait Time": run // 50 if reads_shuffle else 0,
            "Remote Bytes Read": shuffle_read * 3 // 4,
            "Remote Bytes Read To Disk": 0,
            "Local Bytes Read": shuffle_read - shuffle_read * 3 // 4,
            "Total Records Read": shuffle_read // 100,
        },
        "Shuffle Write Metrics": {
            "Shuffle Bytes Written": shuffle_write,
            "Shuffle Write Time": run * 20_000 if writes_shuffle else 0,
            "Shuffle Records Written": shuffle_write // 50,
        },
        "Input Metrics": {"Bytes Read": input_bytes, "Records Read": input_bytes // 100},
        "Output Metrics": {"Bytes Written": output_bytes, "Records Written": output_bytes // 100},
        "Updated Blocks": [],
    }


def _task_executor_metrics(task: _Task) -> dict[str, int]:
    heap = 300_000_000 + (task.task_id * 7_919) % 50_000_000
    return {
        "JVMHeapMemory": heap,
        "JVMOffHeapMemory": 120_000_000,
        "OnHeapExecutionMemory": 0,
        "OffHeapExecutionMemory": 0,
        "OnHeapStorageMemory": 20_000,
        "OffHeapStorageMemory": 0,
        "OnHeapUnifiedMemory": 20_000,
        "OffHeapUnifiedMemory": 0,
        "DirectPoolMemory": 4_000,
        "MappedPoolMemory": 0,
        "ProcessTreeJVMVMemory": 0,
        "ProcessTreeJVMRSSMemory": 0,
        "ProcessTreePythonVMemory": 0,
        "ProcessTreePythonRSSMemory": 0,
        "ProcessTreeOtherVMemory": 0,
        "ProcessTreeOtherRSSMemory": 0,
        "MinorGCCount": 5,
        "MinorGCTime": 60,
        "MajorGCCount": 1,
        "MajorGCTime": 40,
        "TotalGCTime": 100,
    }


def _job_properties(spec: WorkloadSpec, job: _Job) -> dict[str, str]:
    props = {
        "spark.app.id": spec.resolved_app_id,
        "spark.app.name": spec.app_name,
        "spark.executor.id": "driver",
        "spark.master": _master(spec),
        "spark.rdd.scope.noOverride": "true",
        "callSite.short": _stage_name(spec, job.stages[-1]),
    }
    if job.spec.description:
        props["spark.job.description"] = job.spec.description
    return props


# Priorities for events sharing a timestamp: a freed slot before its reuse, a completed parent
# before its child's submission, a submission before its tasks.
_P_JOB_START, _P_TASK_END, _P_STAGE_DONE, _P_STAGE_SUBMIT, _P_TASK_START, _P_JOB_END = range(6)


def _job_events(spec: WorkloadSpec, job: _Job, hosts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    keyed: list[tuple[int, int, int, dict[str, Any]]] = []

    def add(time: int, priority: int, event: dict[str, Any]) -> None:
        keyed.append((time, priority, len(keyed), event))

    add(
        job.submit,
        _P_JOB_START,
        {
            "Event": "SparkListenerJobStart",
            "Job ID": job.job_id,
            "Submission Time": job.submit,
            "Stage Infos": [_stage_info(spec, s) for s in job.stages],
            "Stage IDs": [s.stage_id for s in job.stages],
            "Properties": _job_properties(spec, job),
        },
    )
    for stage in job.stages:
        add(
            stage.submit,
            _P_STAGE_SUBMIT,
            {
                "Event": "SparkListenerStageSubmitted",
                "Stage Info": _stage_info(spec, stage, submitted=True),
                "Properties": _job_properties(spec, job),
            },
        )
        for task in stage.tasks:
            executor_id, host = hosts[task.executor]
            add(
                task.launch,
                _P_TASK_START,
                {
                    "Event": "SparkListenerTaskStart",
                    "Stage ID": stage.stage_id,
                    "Stage Attempt ID": 0,
                    "Task Info": _task_info(task, host, executor_id, finished=False),
                },
            )
            add(
                task.finish,
                _P_TASK_END,
                {
                    "Event": "SparkListenerTaskEnd",
                    "Stage ID": stage.stage_id,
                    "Stage Attempt ID": 0,
                    "Task Type": "ResultTask" if stage.is_result else "ShuffleMapTask",
                    "Task End Reason": {"Reason": "Success"},
                    "Task Info": _task_info(task, host, executor_id, finished=True),
                    "Task Executor Metrics": _task_executor_metrics(task),
                    "Task Metrics": _task_metrics(stage, task, len(hosts)),
                },
            )
        add(
            stage.complete,
            _P_STAGE_DONE,
            {"Event": "SparkListenerStageCompleted", "Stage Info": _stage_info(spec, stage, completed=True)},
        )
    add(
        job.end,
        _P_JOB_END,
        {
            "Event": "SparkListenerJobEnd",
            "Job ID": job.job_id,
            "Completion Time": job.end,
            "Job Result": {"Result": "JobSucceeded"},
        },
    )
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def _executor_added(spec: WorkloadSpec, executor_id: str, host: str, at: int, index: int) -> dict[str, Any]:
    log_urls: dict[str, str] = {}
    attributes: dict[str, str] = {}
    if spec.platform == "emr":
        app_number = spec.resolved_app_id.removeprefix("application_")
        container = f"container_{app_number}_01_{index + 2:06d}"
        base = f"http://{host}:8042/node/containerlogs/{container}/{_user(spec)}"
        log_urls = {"stdout": f"{base}/stdout?start=-4096", "stderr": f"{base}/stderr?start=-4096"}
        attributes = {
            "NM_HOST": host,
            "NM_PORT": "8041",
            "NM_HTTP_PORT": "8042",
            "NM_HTTP_ADDRESS": f"{host}:8042",
            "USER": _user(spec),
            "LOG_FILES": "stderr,stdout",
            "HTTP_SCHEME": "http://",
            "CLUSTER_ID": "",
            "CONTAINER_ID": container,
        }
    elif spec.platform == "databricks":
        ip = _ip_of(host, 20 + index)
        base = f"http://{ip}:40001/logPage/?appId={spec.resolved_app_id}&executorId={executor_id}"
        log_urls = {"stdout": f"{base}&logType=stdout", "stderr": f"{base}&logType=stderr"}
    return {
        "Event": "SparkListenerExecutorAdded",
        "Timestamp": at,
        "Executor ID": executor_id,
        "Executor Info": {
            "Host": host,
            "Total Cores": spec.cores_of_executor(),
            "Log Urls": log_urls,
            "Attributes": attributes,
            "Resources": {},
            "Resource Profile Id": 0,
        },
    }


def _block_manager_added(executor_id: str, host: str, at: int, port: int) -> dict[str, Any]:
    memory = 2_101_975_449 if executor_id != "driver" else 1_078_827_417
    return {
        "Event": "SparkListenerBlockManagerAdded",
        "Block Manager ID": {"Executor ID": executor_id, "Host": host, "Port": port},
        "Maximum Memory": memory,
        "Timestamp": at,
        "Maximum Onheap Memory": memory,
        "Maximum Offheap Memory": 0,
    }


def generate_events(spec: WorkloadSpec) -> Iterator[dict[str, Any]]:
    """Yield the Spark listener events of ``spec``'s application, in timestamp order.

    Only one job's events are held in memory at a time.

    :param spec: the workload.
    """
    plan = _app_plan(spec)
    hosts = spec.executor_hosts()
    yield {"Event": "SparkListenerLogStart", "Spark Version": spec.spark_version}
    if spec.resource_profile_event:
        yield {
            "Event": "SparkListenerResourceProfileAdded",
            "Resource Profile Id": 0,
            "Executor Resource Requests": {
                "cores": {
                    "Resource Name": "cores",
                    "Amount": spec.cores_of_executor(),
                    "Discovery Script": "",
                    "Vendor": "",
                },
                "memory": {"Resource Name": "memory", "Amount": 4096, "Discovery Script": "", "Vendor": ""},
                "offHeap": {"Resource Name": "offHeap", "Amount": 0, "Discovery Script": "", "Vendor": ""},
            },
            "Task Resource Requests": {"cpus": {"Resource Name": "cpus", "Amount": 1.0}},
        }
    yield {
        "Event": "SparkListenerEnvironmentUpdate",
        "JVM Information": {
            "Java Home": "/usr/lib/jvm/java-1.8.0-amazon-corretto.x86_64/jre",
            "Java Version": "1.8.0_362 (Amazon.com Inc.)",
            "Scala Version": "version 2.12.15",
        },
        "Spark Properties": _spark_properties(spec),
        "Hadoop Properties": {
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "dfs.replication": "1",
        },
        "System Properties": _system_properties(spec),
        "Classpath Entries": {"/usr/lib/spark/jars/spark-core_2.12.jar": "System Classpath"},
    }
    yield {
        "Event": "SparkListenerApplicationStart",
        "App Name": spec.app_name,
        "App ID": spec.resolved_app_id,
        "Timestamp": spec.start_ms,
        "User": _user(spec),
    }
    if spec.platform != "local":
        yield _block_manager_added("driver", spec.driver_host, spec.start_ms, 36183)
    for index, ((executor_id, host), at) in enumerate(zip(hosts, plan.executors_added, strict=True)):
        yield _executor_added(spec, executor_id, host, at, index)
        yield _block_manager_added(executor_id, host, at, 40000 + index)
    last_end: int | None = None
    for job in _iter_jobs(spec):
        yield from _job_events(spec, job, hosts)
        last_end = job.end
    end = _app_end(spec, last_end)
    if spec.remove_executors_at_end:
        removed_at = end - spec.driver_gap_ms // 2
        for executor_id, _host in hosts:
            if executor_id != "driver":
                yield {
                    "Event": "SparkListenerExecutorRemoved",
                    "Timestamp": removed_at,
                    "Executor ID": executor_id,
                    "Removed Reason": "Executor killed by driver.",
                }
    yield {"Event": "SparkListenerApplicationEnd", "Timestamp": end}


def write_event_log(spec: WorkloadSpec, path: str | Path, *, codec: Literal["none", "gzip"] = "none") -> Path:
    """Write ``spec``'s event log to ``path`` (JSON lines), streaming; parent folders are created.

    :param spec: the workload.
    :param path: the file to write (add ``.gz`` yourself if you want the suffix).
    :param codec: ``none`` for plain text or ``gzip``.
    :return: the path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if codec == "gzip":
        with gzip.open(target, "wt", encoding="utf-8", newline="\n") as gz:
            for event in generate_events(spec):
                gz.write(json.dumps(event, separators=(",", ":")) + "\n")
    elif codec == "none":
        with target.open("w", encoding="utf-8", newline="\n") as plain:
            for event in generate_events(spec):
                plain.write(json.dumps(event, separators=(",", ":")) + "\n")
    else:
        raise ValueError(f"Unknown codec {codec!r}: use 'none' or 'gzip'.")
    return target


# --------------------------------------------------------------------------------------------------
# Presets


def demo_workload(**overrides: Any) -> WorkloadSpec:
    """Return a demo application: 3 jobs, 217 tasks, 4 executors x 4 cores, about 4 minutes.

    :param overrides: any :class:`WorkloadSpec` field to change (e.g. ``seed=3``, ``platform="databricks"``).
    """
    values: dict[str, Any] = {
        "app_name": "demo_etl",
        "executors": 4,
        "cores_per_executor": 4,
        "executor_memory": "9g",
        "driver_gap_ms": 4000,
        "executor_startup_ms": 6000,
        "jobs": [
            JobSpec(stages=[StageSpec(num_tasks=1, task_ms=1500, name="parquet at demo_etl.py:12")]),
            JobSpec(
                description="aggregate events per day",
                stages=[
                    StageSpec(num_tasks=64, task_ms=20_000, jitter=0.2),
                    StageSpec(num_tasks=32, task_ms=12_000, parents=[0]),
                ],
            ),
            JobSpec(
                description="join events with users and write",
                stages=[
                    StageSpec(num_tasks=48, task_ms=15_000, jitter=0.2),
                    StageSpec(num_tasks=24, task_ms=10_000),
                    StageSpec(num_tasks=40, task_ms=18_000, parents=[0, 1]),
                    StageSpec(num_tasks=8, task_ms=6_000, parents=[2]),
                ],
            ),
        ],
    }
    values.update(overrides)
    return WorkloadSpec(**values)


def tiny_workload(**overrides: Any) -> WorkloadSpec:
    """Return a tiny application for fast tests: 2 jobs, 10 tasks, 2 executors x 2 cores, ~5 s.

    :param overrides: any :class:`WorkloadSpec` field to change.
    """
    values: dict[str, Any] = {
        "app_name": "tiny_app",
        "executors": 2,
        "cores_per_executor": 2,
        "driver_gap_ms": 500,
        "executor_startup_ms": 1000,
        "jobs": [
            JobSpec(stages=[StageSpec(num_tasks=4, task_ms=200)]),
            JobSpec(
                stages=[
                    StageSpec(num_tasks=4, task_ms=300),
                    StageSpec(num_tasks=2, task_ms=150, parents=[0]),
                ]
            ),
        ],
    }
    values.update(overrides)
    return WorkloadSpec(**values)


# --------------------------------------------------------------------------------------------------
# Cluster reports


def _app_window(spec: WorkloadSpec) -> tuple[int, int]:
    return spec.start_ms, spec.start_ms + generated_duration_ms(spec)


def _ids(seed: str, prefix: str, count: int, *, k: int = 13, alphabet: str = "") -> list[str]:
    rng = random.Random(seed)
    chars = alphabet or (string.ascii_uppercase + string.digits)
    return [prefix + "".join(rng.choices(chars, k=k)) for _ in range(count)]


def _status(state: str, code: str, message: str, timeline: dict[str, str]) -> dict[str, Any]:
    return {"State": state, "StateChangeReason": {"Code": code, "Message": message}, "Timeline": timeline}


def _normalized_units(instance_type: str) -> float:
    size = instance_type.split(".", 1)[-1]
    fixed = {"nano": 0.25, "micro": 0.5, "small": 1, "medium": 2, "large": 4, "xlarge": 8}
    if size in fixed:
        return fixed[size]
    match = re.fullmatch(r"(\d+)xlarge", size)
    return 8 * int(match.group(1)) if match else 8


def emr_cluster_report(
    spec: WorkloadSpec,
    *,
    instance_type: str = "m5.xlarge",
    master_instance_type: str = "m5.xlarge",
    core_instance_count: int | None = None,
    use_fleets: bool = False,
    region: str | None = None,
    cluster_id: str | None = None,
    release_label: str | None = None,
    core_market: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND",
    ebs_gb_per_node: int = 32,
    tags: dict[str, str] | None = None,
    provisioning_s: int = 420,
) -> dict[str, Any]:
    """Return an EMR cluster report (the Sync client's shape) consistent with ``spec``'s run.

    ``{"Cluster": DescribeCluster + "BootstrapActions" + "InstanceGroups"|"InstanceFleets",
    "Instances": ListInstances, "Steps": ListSteps, "Region": region}``; the cluster is TERMINATED
    with ALL_STEPS_COMPLETED, created ``provisioning_s`` before the application started.

    :param spec: the workload (its app window, cluster id, release label and hosts are used).
    :param instance_type: core node type.
    :param master_instance_type: master node type.
    :param core_instance_count: core nodes (default: one per executor).
    :param use_fleets: describe instance fleets instead of instance groups.
    :param region: AWS region (default ``spec.region``).
    :param cluster_id: overrides ``spec.resolved_cluster_id``.
    :param release_label: overrides ``spec.emr_release_label``.
    :param core_market: ``ON_DEMAND`` or ``SPOT`` for the core nodes (the master is on-demand).
    :param ebs_gb_per_node: one gp2 volume of this size per node (0 for none).
    :param tags: cluster tags (e.g. ``sync:project-id``).
    :param provisioning_s: seconds from cluster creation to the application's start.
    """
    region = region or spec.region
    own_id = spec.resolved_cluster_id if spec.platform == "emr" else ""
    cid = cluster_id or own_id or _ids(f"emr-{spec.seed}-{spec.start_ms}", "j-", 1)[0]
    label = release_label or spec.emr_release_label
    cores = core_instance_count if core_instance_count is not None else spec.executors
    start, end = _app_window(spec)
    created = start - provisioning_s * 1000
    ready = start - 25_000
    step_start = start - 20_000
    step_end = end + 3_000
    cluster_end = end + 30_000
    seed = f"emr-report-{spec.seed}-{cid}"
    collection_ids = _ids(seed + "-groups", "if-" if use_fleets else "ig-", 2)
    instance_ids = _ids(seed + "-ci", "ci-", cores + 1, k=20)
    ec2_ids = _ids(seed + "-i", "i-", cores + 1, k=17, alphabet="0123456789abcdef")
    volume_ids = _ids(seed + "-vol", "vol-", cores + 1, k=17, alphabet="0123456789abcdef")
    group_timeline = {"CreationDateTime": _iso(created + 70), "ReadyDateTime": _iso(ready - 2_000)}
    group_timeline["EndDateTime"] = _iso(cluster_end - 70)
    ebs_devices = (
        [{"VolumeSpecification": {"VolumeType": "gp2", "SizeInGB": ebs_gb_per_node}, "Device": "/dev/sdb"}]
        if ebs_gb_per_node
        else []
    )
    roles = [
        ("MASTER", "Master", master_instance_type, 1, "ON_DEMAND"),
        ("CORE", "Core", instance_type, cores, core_market),
    ]
    collections: list[dict[str, Any]] = []
    for (role, name, itype, count, market), cid_ in zip(roles, collection_ids, strict=True):
        if use_fleets:
            collections.append(
                {
                    "Id": cid_,
                    "Name": f"{name} fleet",
                    "Status": _status(
                        "TERMINATED", "CLUSTER_TERMINATED", "Job flow terminated", group_timeline
                    ),
                    "InstanceFleetType": role,
                    "TargetOnDemandCapacity": count if market == "ON_DEMAND" else 0,
                    "TargetSpotCapacity": count if market == "SPOT" else 0,
                    "ProvisionedOnDemandCapacity": 0,
                    "ProvisionedSpotCapacity": 0,
                    "InstanceTypeSpecifications": [
                        {
                            "InstanceType": itype,
                            "WeightedCapacity": 1,
                            "BidPriceAsPercentageOfOnDemandPrice": 100.0,
                            "EbsBlockDevices": [
                                {"VolumeSpecification": d["VolumeSpecification"]} for d in ebs_devices
                            ],
                            "EbsOptimized": True,
                        }
                    ],
                }
            )
        else:
            collections.append(
                {
                    "Id": cid_,
                    "Name": name,
                    "Market": market,
                    "InstanceGroupType": role,
                    "InstanceType": itype,
                    "RequestedInstanceCount": count,
                    "RunningInstanceCount": 0,
                    "Status": _status("ENDED", "CLUSTER_TERMINATED", "Job flow terminated", group_timeline),
                    "Configurations": [],
                    "ConfigurationsVersion": 0,
                    "LastSuccessfullyAppliedConfigurations": [],
                    "LastSuccessfullyAppliedConfigurationsVersion": 0,
                    "EbsBlockDevices": list(ebs_devices),
                    "EbsOptimized": True,
                    "ShrinkPolicy": {},
                }
            )
    instance_timeline = {
        "CreationDateTime": _iso(created + 25_000),
        "ReadyDateTime": _iso(ready - 5_000),
        "EndDateTime": _iso(cluster_end - 150),
    }
    instances: list[dict[str, Any]] = []
    for i in range(cores + 1):
        is_master = i == 0
        host = spec.driver_host if is_master else spec.executor_host.format(n=i)
        ip = _ip_of(host, 100 + i)
        public_ip = f"54.0.{i // 250}.{i % 250 + 1}"
        instance: dict[str, Any] = {
            "Id": instance_ids[i],
            "Ec2InstanceId": ec2_ids[i],
            "PublicDnsName": f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com",
            "PublicIpAddress": public_ip,
            "PrivateDnsName": host,
            "PrivateIpAddress": ip,
            "Status": _status(
                "TERMINATED", "CLUSTER_TERMINATED", "Instance was terminated.", instance_timeline
            ),
            ("InstanceFleetId" if use_fleets else "InstanceGroupId"): collection_ids[0 if is_master else 1],
            "Market": "ON_DEMAND" if is_master else core_market,
            "InstanceType": master_instance_type if is_master else instance_type,
            "EbsVolumes": [{"Device": "/dev/sdb", "VolumeId": volume_ids[i]}] if ebs_gb_per_node else [],
        }
        instances.append(instance)
    hours = max(1, -(-(cluster_end - created) // 3_600_000))
    normalized = hours * (_normalized_units(master_instance_type) + cores * _normalized_units(instance_type))
    spark_version = spec.spark_version.split("-", 1)[0]
    cluster: dict[str, Any] = {
        "Id": cid,
        "Name": spec.app_name,
        "Status": _status(
            "TERMINATED",
            "ALL_STEPS_COMPLETED",
            "Steps completed",
            {
                "CreationDateTime": _iso(created),
                "ReadyDateTime": _iso(ready),
                "EndDateTime": _iso(cluster_end),
            },
        ),
        "Ec2InstanceAttributes": {
            "Ec2KeyName": "emr-key",
            "Ec2SubnetId": "subnet-0a1b2c3d4e5f60718",
            "RequestedEc2SubnetIds": ["subnet-0a1b2c3d4e5f60718"],
            "Ec2AvailabilityZone": f"{region}a",
            "RequestedEc2AvailabilityZones": [],
            "IamInstanceProfile": "EMR_EC2_DefaultRole",
            "EmrManagedMasterSecurityGroup": "sg-0123456789abcdef0",
            "EmrManagedSlaveSecurityGroup": "sg-0fedcba9876543210",
        },
        "InstanceCollectionType": "INSTANCE_FLEET" if use_fleets else "INSTANCE_GROUP",
        "LogUri": f"s3n://aws-logs-{_ACCOUNT}-{region}/elasticmapreduce/",
        "ReleaseLabel": label,
        "AutoTerminate": True,
        "TerminationProtected": False,
        "VisibleToAllUsers": True,
        "Applications": [{"Name": "Spark", "Version": spark_version}],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "ServiceRole": "EMR_DefaultRole",
        "NormalizedInstanceHours": int(normalized),
        "MasterPublicDnsName": instances[0]["PublicDnsName"],
        "Configurations": [
            {
                "Classification": "spark-defaults",
                "Properties": {
                    "spark.eventLog.enabled": "true",
                    "spark.eventLog.dir": spec.event_log_dir,
                    "spark.executor.cores": str(spec.cores_per_executor),
                    "spark.executor.instances": str(spec.executors),
                    "spark.executor.memory": spec.executor_memory,
                    "spark.dynamicAllocation.enabled": "false",
                },
            }
        ],
        "ScaleDownBehavior": "TERMINATE_AT_TASK_COMPLETION",
        "ClusterArn": f"arn:aws:elasticmapreduce:{region}:{_ACCOUNT}:cluster/{cid}",
        "StepConcurrencyLevel": 1,
        "PlacementGroups": [],
        "BootstrapActions": [],
        ("InstanceFleets" if use_fleets else "InstanceGroups"): collections,
    }
    steps = [
        {
            "Id": spec.emr_step_id,
            "Name": spec.app_name,
            "Config": {
                "Jar": "command-runner.jar",
                "Properties": {},
                "Args": [
                    "spark-submit",
                    "--deploy-mode",
                    "client",
                    f"s3://emr-scripts-{_ACCOUNT}/{spec.app_name}.py",
                ],
            },
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "Status": {
                "State": "COMPLETED",
                "StateChangeReason": {},
                "Timeline": {
                    "CreationDateTime": _iso(created + 100),
                    "StartDateTime": _iso(step_start),
                    "EndDateTime": _iso(step_end),
                },
            },
        }
    ]
    return {"Cluster": cluster, "Instances": instances, "Steps": steps, "Region": region}


def databricks_cluster_report(
    spec: WorkloadSpec,
    *,
    node_type_id: str | None = None,
    driver_node_type_id: str | None = None,
    num_workers: int | None = None,
    plan_type: str = "Premium",
    compute_type: str = "Jobs Compute",
    availability: Literal["ON_DEMAND", "SPOT", "SPOT_WITH_FALLBACK"] = "ON_DEMAND",
    first_on_demand: int = 1,
    region: str | None = None,
    custom_tags: dict[str, str] | None = None,
    provisioning_s: int = 300,
) -> dict[str, Any]:
    """Return a Databricks cluster report (the Sync client's shape) consistent with ``spec``'s run.

    ``{"plan_type", "compute_type", "cluster": clusters/get, "cluster_events": {"events", "total_count"},
    "tasks": [...], "instances": []}``. Events are newest first, as the API returns them by default.

    :param spec: the workload (its app window and Databricks cluster id are used).
    :param node_type_id: worker node type (default ``spec.node_type``).
    :param driver_node_type_id: driver node type (default ``spec.resolved_driver_node_type``).
    :param num_workers: workers (default ``spec.executors``: one executor per worker).
    :param plan_type: ``Standard``, ``Premium`` or ``Enterprise``.
    :param compute_type: ``Jobs Compute``, ``Jobs Compute Light`` or ``All-Purpose Compute``.
    :param availability: ``aws_attributes.availability``.
    :param first_on_demand: ``aws_attributes.first_on_demand`` (nodes, driver first, kept on-demand).
    :param region: AWS region, for the zone (default ``spec.region``).
    :param custom_tags: the cluster's ``custom_tags``.
    :param provisioning_s: seconds from cluster start to the application's start.
    """
    region = region or spec.region
    cid = spec.resolved_cluster_id if spec.platform == "databricks" else ""
    cid = (
        cid
        or _ids(f"dbx-{spec.seed}", "0101-000000-", 1, k=8, alphabet="abcdefghijklmnopqrstuvwxyz0123456789")[
            0
        ]
    )
    node = node_type_id or spec.node_type
    driver = driver_node_type_id or spec.resolved_driver_node_type
    workers = spec.executors if num_workers is None else num_workers
    start, end = _app_window(spec)
    created = start - provisioning_s * 1000
    running = start - 30_000
    terminated = end + 20_000
    rng = random.Random(f"dbx-report-{spec.seed}-{cid}")
    job_id = rng.randrange(10**11, 10**12)
    run_id = rng.randrange(10**5, 10**6)
    context_id = rng.randrange(10**18, 10**19)
    name = f"job-{job_id}-run-{run_id}"
    creator = "etl@example.com"
    cluster: dict[str, Any] = {
        "cluster_id": cid,
        "cluster_name": name,
        "spark_context_id": context_id,
        "spark_version": spec.databricks_runtime,
        "node_type_id": node,
        "driver_node_type_id": driver,
        "num_workers": workers,
        "aws_attributes": {
            "first_on_demand": first_on_demand,
            "availability": availability,
            "zone_id": f"{region}a",
            "spot_bid_price_percent": 100,
            "ebs_volume_count": 0,
        },
        "custom_tags": dict(custom_tags or {}),
        "spark_conf": dict(spec.spark_properties),
        "spark_env_vars": {},
        "disk_spec": {"disk_count": 0},
        "autotermination_minutes": 0,
        "enable_elastic_disk": False,
        "enable_local_disk_encryption": False,
        "cluster_source": "JOB",
        "instance_source": {"node_type_id": node},
        "driver_instance_source": {"node_type_id": driver},
        "init_scripts_safe_mode": False,
        "state": "TERMINATED",
        "state_message": "",
        "start_time": created,
        "terminated_time": terminated,
        "last_state_loss_time": 0,
        "last_activity_time": end,
        "creator_user_name": creator,
        "default_tags": {
            "Vendor": "Databricks",
            "Creator": creator,
            "ClusterName": name,
            "ClusterId": cid,
            "JobId": str(job_id),
            "RunName": spec.app_name,
        },
        "termination_reason": {"code": "JOB_FINISHED", "type": "SUCCESS"},
        "spec": {"spark_version": spec.databricks_runtime, "node_type_id": node, "num_workers": workers},
    }
    events = [
        {"type": "CREATING", "timestamp": created, "details": {"user": creator}},
        {"type": "STARTING", "timestamp": created + 1_000, "details": {"user": creator}},
        {
            "type": "RUNNING",
            "timestamp": running,
            "details": {"current_num_workers": workers, "target_num_workers": workers},
        },
        {"type": "DRIVER_HEALTHY", "timestamp": running + 15_000, "details": {}},
        {
            "type": "TERMINATING",
            "timestamp": end + 5_000,
            "details": {"reason": {"code": "JOB_FINISHED", "type": "SUCCESS", "parameters": {}}},
        },
    ]
    events = [{"cluster_id": cid, **event} for event in reversed(events)]
    tasks = [
        {
            "run_id": run_id + 1,
            "task_key": spec.app_name,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""},
            "spark_python_task": {"python_file": f"dbfs:/scripts/{spec.app_name}.py"},
            "job_cluster_key": "main",
            "start_time": created,
            "setup_duration": start - created,
            "execution_duration": end - start,
            "cleanup_duration": terminated - end,
            "end_time": terminated,
            "attempt_number": 0,
            "cluster_instance": {"cluster_id": cid, "spark_context_id": str(context_id)},
        }
    ]
    return {
        "plan_type": plan_type,
        "compute_type": compute_type,
        "cluster": cluster,
        "cluster_events": {"events": events, "total_count": len(events)},
        "tasks": tasks,
        "instances": [],
    }
