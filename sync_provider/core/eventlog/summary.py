"""A compact summary of one Spark application, built from its event log in one streaming pass.

The summary keeps what runtime and cost estimators need: the application's times, its executors
(cores over time), jobs with their stages, stages with their parents, every task's times and main
metrics, SQL executions, the Spark properties and platform hints. Tasks are stored column-wise
(:class:`TaskTable`, about 180 bytes per task) so that logs with millions of tasks fit in memory.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from sync_provider.core.eventlog.completeness import CompletenessReport, build_report
from sync_provider.core.eventlog.layout import open_layout
from sync_provider.core.eventlog.reader import APP_END, APP_START, ReadStats, iter_layout_events

_SQL_PREFIX = "org.apache.spark.sql.execution.ui."
_DBX = "spark.databricks."


# ------------------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task attempt (from ``SparkListenerTaskEnd``). Times in ms since the epoch; sizes in bytes.

    ``failed`` is true for any end reason other than ``Success`` (killed tasks included).
    """

    stage_id: int
    stage_attempt: int
    task_id: int
    index: int
    attempt: int
    launch_ms: int
    finish_ms: int
    executor_run_time_ms: int
    executor_cpu_time_ns: int
    executor_deserialize_ms: int
    result_serialization_ms: int
    gc_ms: int
    shuffle_read_bytes: int
    shuffle_write_bytes: int
    input_bytes: int
    output_bytes: int
    memory_spilled_bytes: int
    disk_spilled_bytes: int
    peak_execution_memory: int
    executor_id: str
    host: str
    end_reason: str
    failed: bool
    killed: bool
    speculative: bool

    @property
    def duration_ms(self) -> int:
        """Finish minus launch time."""
        return self.finish_ms - self.launch_ms


_FIELDS = [f.name for f in fields(TaskRecord)]
_INT_FIELDS = _FIELDS[:19]
_STR_FIELDS = _FIELDS[19:22]
_FLAG_FIELDS = _FIELDS[22:]


class TaskTable:
    """Column-wise storage of :class:`TaskRecord` rows (int64 arrays, interned strings, bit flags).

    Iterate it, index it, or read one column with :meth:`column`.
    """

    __slots__ = ("_flags", "_ints", "_pool", "_pool_index", "_strs")

    def __init__(self, records: Iterator[TaskRecord] | list[TaskRecord] | None = None) -> None:
        self._ints = [array("q") for _ in _INT_FIELDS]
        self._strs = [array("i") for _ in _STR_FIELDS]
        self._flags = array("B")
        self._pool: list[str] = []
        self._pool_index: dict[str, int] = {}
        for record in records or ():
            self.append(record)

    def _intern(self, value: str) -> int:
        index = self._pool_index.get(value)
        if index is None:
            index = self._pool_index[value] = len(self._pool)
            self._pool.append(value)
        return index

    def add(self, ints: tuple[int, ...], strs: tuple[str, str, str], flags: tuple[bool, bool, bool]) -> None:
        """Append one row from its int, string and flag values (in :class:`TaskRecord` order).

        :param ints: the 19 integer fields.
        :param strs: executor id, host, end reason.
        :param flags: failed, killed, speculative.
        """
        done = 0
        try:
            for column, value in zip(self._ints, ints, strict=True):
                column.append(value)
                done += 1
        except (TypeError, OverflowError):
            for column in self._ints[:done]:
                column.pop()
            raise
        for column, text in zip(self._strs, strs, strict=True):
            column.append(self._intern(text))
        self._flags.append(int(flags[0]) | int(flags[1]) << 1 | int(flags[2]) << 2)

    def append(self, record: TaskRecord) -> None:
        """Append one row.

        :param record: the task.
        """
        self.add(
            tuple(getattr(record, name) for name in _INT_FIELDS),
            (record.executor_id, record.host, record.end_reason),
            (record.failed, record.killed, record.speculative),
        )

    def __len__(self) -> int:
        return len(self._flags)

    def __getitem__(self, index: int) -> TaskRecord:
        flags = self._flags[index]
        pool = self._pool
        values: list[Any] = [column[index] for column in self._ints]
        values.extend(pool[column[index]] for column in self._strs)
        values.extend((bool(flags & 1), bool(flags & 2), bool(flags & 4)))
        return TaskRecord(*values)

    def __iter__(self) -> Iterator[TaskRecord]:
        for index in range(len(self._flags)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskTable):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TaskTable({len(self)} tasks)"

    def column(self, name: str) -> list[Any]:
        """Return one column as a list.

        :param name: a :class:`TaskRecord` field name.
        :raises KeyError: for an unknown field.
        """
        if name in _INT_FIELDS:
            return list(self._ints[_INT_FIELDS.index(name)])
        if name in _STR_FIELDS:
            pool = self._pool
            return [pool[i] for i in self._strs[_STR_FIELDS.index(name)]]
        if name in _FLAG_FIELDS:
            bit = 1 << _FLAG_FIELDS.index(name)
            return [bool(f & bit) for f in self._flags]
        raise KeyError(name)

    def by_stage(self) -> dict[tuple[int, int], list[TaskRecord]]:
        """Group the tasks by ``(stage_id, stage_attempt)``, keeping their order."""
        groups: dict[tuple[int, int], list[TaskRecord]] = {}
        for task in self:
            groups.setdefault((task.stage_id, task.stage_attempt), []).append(task)
        return groups

    def memory_bytes(self) -> int:
        """Approximate memory held by the columns, in bytes."""
        arrays: list[array[int]] = [*self._ints, *self._strs, self._flags]
        return sum(a.itemsize * a.buffer_info()[1] for a in arrays)

    @classmethod
    def _validate(cls, value: Any) -> TaskTable:
        if isinstance(value, TaskTable):
            return value
        if isinstance(value, list):
            return cls(TaskRecord(**item) if isinstance(item, dict) else item for item in value)
        raise ValueError("tasks must be a TaskTable or a list of task dicts")

    def _serialize(self) -> list[dict[str, Any]]:
        return [{name: getattr(task, name) for name in _FIELDS} for task in self]

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate from a TaskTable or a list of dicts; serialise to a list of dicts."""
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls._serialize, when_used="always"
            ),
        )


# ----------------------------------------------------------------------------------------------- models


class PlatformHints(BaseModel):
    """What the log says about where it ran.

    :param platform: ``databricks``, ``emr``, ``yarn``, ``kubernetes``, ``standalone``, ``local``,
        ``mesos`` or ``None``.
    :param platform_inferred: ``True`` when guessed from the application id only.
    """

    platform: str | None = None
    platform_inferred: bool = False
    spark_master: str | None = None
    emr_cluster_id: str | None = None
    emr_release_label: str | None = None
    emr_step_id: str | None = None
    databricks_cluster_id: str | None = None
    databricks_cluster_name: str | None = None
    databricks_runtime: str | None = None
    cloud_provider: str | None = None
    region: str | None = None
    driver_node_type: str | None = None
    worker_node_type: str | None = None
    num_workers: int | None = None


class ExecutorSummary(BaseModel):
    """One executor (the driver appears only in local mode, where it runs the tasks)."""

    executor_id: str
    host: str | None = None
    total_cores: int = 0
    added_ms: int | None = None
    removed_ms: int | None = None
    removed_reason: str | None = None


class JobSummary(BaseModel):
    """One job: its stages (skipped ones included) and times."""

    job_id: int
    submission_ms: int | None = None
    completion_ms: int | None = None
    stage_ids: list[int] = Field(default_factory=list)
    result: str | None = None
    sql_execution_id: int | None = None


class StageSummary(BaseModel):
    """One attempt of one stage that ran (submitted or completed)."""

    stage_id: int
    attempt: int = 0
    name: str | None = None
    num_tasks: int = 0
    parent_ids: list[int] = Field(default_factory=list)
    submission_ms: int | None = None
    completion_ms: int | None = None
    failure_reason: str | None = None


class SqlExecutionSummary(BaseModel):
    """One SQL execution (query)."""

    execution_id: int
    description: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None


class EventLogSummary(BaseModel):
    """Everything an estimator needs from one application's event log.

    :param duration_s: ``(end_time_ms - start_time_ms) / 1000``; without an ApplicationEnd event,
        the time to the latest job, stage, task or SQL timestamp, with ``end_inferred`` set.
    :param malformed_lines: lines skipped while reading.
    :param completeness: whether the log holds the whole application.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    application_id: str | None = None
    application_name: str | None = None
    attempt_id: str | None = None
    user: str | None = None
    spark_version: str | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    last_event_ms: int | None = None
    duration_s: float | None = None
    end_inferred: bool = False
    platform: PlatformHints = Field(default_factory=PlatformHints)
    spark_properties: dict[str, str] = Field(default_factory=dict)
    executors: list[ExecutorSummary] = Field(default_factory=list)
    jobs: list[JobSummary] = Field(default_factory=list)
    stages: list[StageSummary] = Field(default_factory=list)
    tasks: TaskTable = Field(default_factory=TaskTable)
    sql_executions: list[SqlExecutionSummary] = Field(default_factory=list)
    malformed_lines: int = 0
    files: list[str] = Field(default_factory=list)
    completeness: CompletenessReport = Field(default_factory=lambda: CompletenessReport(complete=False))

    def cores_over_time(self) -> list[tuple[int, int]]:
        """Return the executor cores available over time as a step function.

        :returns: ``(timestamp_ms, total_cores)`` pairs, sorted; each value holds until the next.
        """
        changes: dict[int, int] = {}
        for executor in self.executors:
            start = executor.added_ms if executor.added_ms is not None else self.start_time_ms
            if start is None:
                continue
            changes[start] = changes.get(start, 0) + executor.total_cores
            if executor.removed_ms is not None:
                changes[executor.removed_ms] = changes.get(executor.removed_ms, 0) - executor.total_cores
        steps: list[tuple[int, int]] = []
        total = 0
        for timestamp in sorted(changes):
            total += changes[timestamp]
            steps.append((timestamp, total))
        return steps

    def max_concurrent_cores(self) -> int:
        """Return the largest number of executor cores available at one time."""
        return max((cores for _, cores in self.cores_over_time()), default=0)

    def stage_ids(self) -> list[int]:
        """Return the distinct ids of the stages that ran, sorted."""
        return sorted({stage.stage_id for stage in self.stages})

    def worker_executors(self) -> list[ExecutorSummary]:
        """Return the executors other than the driver."""
        return [e for e in self.executors if e.executor_id != "driver"]


# ---------------------------------------------------------------------------------------------- builder


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _fast_get(obj: Any, key: str, default: int = 0) -> Any:
    return obj.get(key, default)


def _safe_get(obj: Any, key: str, default: int = 0) -> int:
    if not isinstance(obj, dict):
        return default
    value = _int(obj.get(key))
    return default if value is None or not -(2**63) <= value < 2**63 else value


def _task_ints(
    event: dict[str, Any], info: Any, metrics: Any, get: Callable[[Any, str, int], Any]
) -> tuple[int, ...]:
    shuffle_read = metrics.get("Shuffle Read Metrics") or {} if isinstance(metrics, dict) else {}
    shuffle_write = metrics.get("Shuffle Write Metrics") or {} if isinstance(metrics, dict) else {}
    inputs = metrics.get("Input Metrics") or {} if isinstance(metrics, dict) else {}
    outputs = metrics.get("Output Metrics") or {} if isinstance(metrics, dict) else {}
    return (
        get(event, "Stage ID", -1),
        get(event, "Stage Attempt ID", 0),
        get(info, "Task ID", -1),
        get(info, "Index", -1),
        get(info, "Attempt", 0),
        get(info, "Launch Time", 0),
        get(info, "Finish Time", 0),
        get(metrics, "Executor Run Time", 0),
        get(metrics, "Executor CPU Time", 0),
        get(metrics, "Executor Deserialize Time", 0),
        get(metrics, "Result Serialization Time", 0),
        get(metrics, "JVM GC Time", 0),
        get(shuffle_read, "Remote Bytes Read", 0) + get(shuffle_read, "Local Bytes Read", 0),
        get(shuffle_write, "Shuffle Bytes Written", 0),
        get(inputs, "Bytes Read", 0),
        get(outputs, "Bytes Written", 0),
        get(metrics, "Memory Bytes Spilled", 0),
        get(metrics, "Disk Bytes Spilled", 0),
        get(metrics, "Peak Execution Memory", 0),
    )


class SummaryBuilder:
    """Builds an :class:`EventLogSummary` from events fed one at a time."""

    def __init__(self) -> None:
        self.app: dict[str, Any] = {}
        self.app_ids: list[str] = []
        self.has_start = False
        self.has_end = False
        self.app_end_ms: int | None = None
        self.spark_version: str | None = None
        self.properties: dict[str, str] = {}
        self.system: dict[str, str] = {}
        self.executors: dict[str, ExecutorSummary] = {}
        self.jobs: dict[int, JobSummary] = {}
        self.stages: dict[tuple[int, int], StageSummary] = {}
        self.sql: dict[int, SqlExecutionSummary] = {}
        self.tasks = TaskTable()
        self.last_ms = 0
        self.dbc_seen = False
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "SparkListenerTaskEnd": self._task_end,
            "SparkListenerLogStart": self._log_start,
            "DBCEventLoggingListenerMetadata": self._dbc_metadata,
            APP_START: self._app_start,
            APP_END: self._app_end,
            "SparkListenerEnvironmentUpdate": self._environment,
            "SparkListenerExecutorAdded": self._executor_added,
            "SparkListenerExecutorRemoved": self._executor_removed,
            "SparkListenerJobStart": self._job_start,
            "SparkListenerJobEnd": self._job_end,
            "SparkListenerStageSubmitted": self._stage,
            "SparkListenerStageCompleted": self._stage,
            _SQL_PREFIX + "SparkListenerSQLExecutionStart": self._sql_start,
            _SQL_PREFIX + "SparkListenerSQLExecutionEnd": self._sql_end,
        }

    def feed(self, event: dict[str, Any]) -> None:
        """Take one event into account.

        :param event: a parsed event.
        """
        handler = self._handlers.get(event["Event"])
        if handler is not None:
            handler(event)

    def _seen(self, *timestamps: int | None) -> None:
        for timestamp in timestamps:
            if timestamp is not None and timestamp > self.last_ms:
                self.last_ms = timestamp

    def _task_end(self, event: dict[str, Any]) -> None:
        info = event.get("Task Info") or {}
        metrics = event.get("Task Metrics") or {}
        reason_obj = event.get("Task End Reason") or {}
        reason = str(reason_obj.get("Reason", "Success")) if isinstance(reason_obj, dict) else "Success"
        strs = (str(info.get("Executor ID", "")), str(info.get("Host", "")), reason)
        killed = bool(info.get("Killed")) or reason == "TaskKilled"
        flags = (reason != "Success", killed, bool(info.get("Speculative")))
        try:
            ints = _task_ints(event, info, metrics, _fast_get)
            self.tasks.add(ints, strs, flags)
        except (TypeError, OverflowError, AttributeError):
            # Unusual values (null, strings, floats): take the slow, forgiving path.
            ints = _task_ints(event, info, metrics, _safe_get)
            self.tasks.add(ints, strs, flags)
        finish = ints[6]
        self.last_ms = max(self.last_ms, finish)

    def _log_start(self, event: dict[str, Any]) -> None:
        if self.spark_version is None and event.get("Spark Version"):
            self.spark_version = str(event["Spark Version"])

    def _dbc_metadata(self, event: dict[str, Any]) -> None:
        self.dbc_seen = True
        self._log_start(event)

    def _app_start(self, event: dict[str, Any]) -> None:
        self.has_start = True
        app_id = event.get("App ID")
        if isinstance(app_id, str) and app_id not in self.app_ids:
            self.app_ids.append(app_id)
        if not self.app:
            self.app = event

    def _app_end(self, event: dict[str, Any]) -> None:
        self.has_end = True
        self.app_end_ms = _int(event.get("Timestamp"))

    def _environment(self, event: dict[str, Any]) -> None:
        for key, target in (("Spark Properties", self.properties), ("System Properties", self.system)):
            values = event.get(key) or {}
            pairs = values.items() if isinstance(values, dict) else values
            for pair in pairs:
                if isinstance(pair, (list, tuple)) and len(pair) == 2:
                    target[str(pair[0])] = str(pair[1])

    def _executor_added(self, event: dict[str, Any]) -> None:
        info = event.get("Executor Info") or {}
        executor_id = str(event.get("Executor ID", ""))
        self.executors[executor_id] = ExecutorSummary(
            executor_id=executor_id,
            host=info.get("Host"),
            total_cores=_int(info.get("Total Cores")) or 0,
            added_ms=_int(event.get("Timestamp")),
        )

    def _executor_removed(self, event: dict[str, Any]) -> None:
        executor = self.executors.get(str(event.get("Executor ID", "")))
        if executor is not None:
            executor.removed_ms = _int(event.get("Timestamp"))
            reason = event.get("Removed Reason")
            executor.removed_reason = str(reason) if reason is not None else None

    def _job_start(self, event: dict[str, Any]) -> None:
        job_id = _int(event.get("Job ID"))
        if job_id is None:
            return
        properties = event.get("Properties") or {}
        stage_ids = event.get("Stage IDs")
        if not isinstance(stage_ids, list):
            stage_ids = [s.get("Stage ID") for s in event.get("Stage Infos") or []]
        submission = _int(event.get("Submission Time"))
        self.jobs[job_id] = JobSummary(
            job_id=job_id,
            submission_ms=submission,
            stage_ids=[s for s in stage_ids if isinstance(s, int)],
            sql_execution_id=_int(properties.get("spark.sql.execution.id"))
            if isinstance(properties, dict)
            else None,
        )
        self._seen(submission)

    def _job_end(self, event: dict[str, Any]) -> None:
        job_id = _int(event.get("Job ID"))
        if job_id is None:
            return
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = JobSummary(job_id=job_id)
        job.completion_ms = _int(event.get("Completion Time"))
        result = event.get("Job Result") or {}
        job.result = str(result.get("Result")) if isinstance(result, dict) and result.get("Result") else None
        self._seen(job.completion_ms)

    def _stage(self, event: dict[str, Any]) -> None:
        info = event.get("Stage Info") or {}
        stage_id = _int(info.get("Stage ID"))
        if stage_id is None:
            return
        attempt = _int(info.get("Stage Attempt ID")) or 0
        stage = self.stages.get((stage_id, attempt))
        if stage is None:
            stage = self.stages[(stage_id, attempt)] = StageSummary(stage_id=stage_id, attempt=attempt)
        if info.get("Stage Name") is not None:
            stage.name = str(info["Stage Name"])
        stage.num_tasks = _int(info.get("Number of Tasks")) or stage.num_tasks
        parents = info.get("Parent IDs")
        if isinstance(parents, list):
            stage.parent_ids = [p for p in parents if isinstance(p, int)]
        stage.submission_ms = _int(info.get("Submission Time")) or stage.submission_ms
        stage.completion_ms = _int(info.get("Completion Time")) or stage.completion_ms
        if info.get("Failure Reason"):
            stage.failure_reason = str(info["Failure Reason"])
        self._seen(stage.submission_ms, stage.completion_ms)

    def _sql_start(self, event: dict[str, Any]) -> None:
        execution_id = _int(event.get("executionId"))
        if execution_id is None:
            return
        start = _int(event.get("time"))
        description = event.get("description")
        self.sql[execution_id] = SqlExecutionSummary(
            execution_id=execution_id,
            description=str(description) if description is not None else None,
            start_ms=start,
        )
        self._seen(start)

    def _sql_end(self, event: dict[str, Any]) -> None:
        execution_id = _int(event.get("executionId"))
        if execution_id is None:
            return
        sql = self.sql.get(execution_id)
        if sql is None:
            sql = self.sql[execution_id] = SqlExecutionSummary(execution_id=execution_id)
        sql.end_ms = _int(event.get("time"))
        self._seen(sql.end_ms)

    def _platform(self, app_id: str | None) -> PlatformHints:
        props = self.properties
        tags = "spark.databricks.clusterUsageTags."
        hints = PlatformHints(
            spark_master=props.get("spark.master"),
            emr_cluster_id=self.system.get("EMR_CLUSTER_ID"),
            emr_release_label=self.system.get("EMR_RELEASE_LABEL"),
            emr_step_id=self.system.get("EMR_STEP_ID"),
            databricks_cluster_id=props.get(tags + "clusterId"),
            databricks_cluster_name=props.get(tags + "clusterName"),
            databricks_runtime=props.get(tags + "sparkVersion"),
            cloud_provider=props.get(tags + "cloudProvider"),
            region=props.get(tags + "region") or props.get(tags + "dataPlaneRegion"),
            driver_node_type=props.get(tags + "driverNodeType") or props.get(_DBX + "driverNodeTypeId"),
            worker_node_type=props.get(tags + "clusterNodeType") or props.get(_DBX + "workerNodeTypeId"),
            num_workers=_int(props.get(tags + "clusterWorkers")),
        )
        master = (hints.spark_master or "").lower()
        if self.dbc_seen or any(key.startswith("spark.databricks.") for key in props):
            hints.platform = "databricks"
        elif hints.emr_cluster_id or "-amzn" in (self.spark_version or ""):
            hints.platform = "emr"
            hints.cloud_provider = hints.cloud_provider or "AWS"
        elif master.startswith("yarn"):
            hints.platform = "yarn"
        elif master.startswith("local"):
            hints.platform = "local"
        elif master.startswith("k8s://"):
            hints.platform = "kubernetes"
        elif master.startswith("spark://"):
            hints.platform = "standalone"
        elif master.startswith("mesos://"):
            hints.platform = "mesos"
        elif app_id:
            for prefix, platform in (("application_", "yarn"), ("local-", "local"), ("app-", "standalone")):
                if app_id.startswith(prefix):
                    hints.platform = platform
                    hints.platform_inferred = True
                    break
            if app_id.startswith("spark-"):
                hints.platform, hints.platform_inferred = "kubernetes", True
        return hints

    def build(self, stats: ReadStats, completeness: CompletenessReport | None = None) -> EventLogSummary:
        """Return the summary of the events fed so far.

        :param stats: the reader's statistics.
        :param completeness: the completeness report (built from ``stats`` when not given).
        """
        if completeness is None:
            completeness = build_report(stats, self.app_ids, self.has_start, self.has_end)
        app = self.app
        start = _int(app.get("Timestamp"))
        end = self.app_end_ms if self.has_end else None
        last = self.last_ms or None
        duration: float | None = None
        inferred = False
        if start is not None and end is not None:
            duration = (end - start) / 1000.0
        elif start is not None and last is not None:
            duration = (last - start) / 1000.0
            inferred = True
        app_id = app.get("App ID") or completeness.application_id
        return EventLogSummary(
            application_id=app_id,
            application_name=app.get("App Name"),
            attempt_id=str(app["App Attempt ID"]) if app.get("App Attempt ID") is not None else None,
            user=app.get("User"),
            spark_version=self.spark_version,
            start_time_ms=start,
            end_time_ms=end,
            last_event_ms=last,
            duration_s=duration,
            end_inferred=inferred,
            platform=self._platform(app_id),
            spark_properties=self.properties,
            executors=sorted(self.executors.values(), key=lambda e: (e.added_ms or 0, e.executor_id)),
            jobs=[self.jobs[k] for k in sorted(self.jobs)],
            stages=[self.stages[k] for k in sorted(self.stages)],
            tasks=self.tasks,
            sql_executions=[self.sql[k] for k in sorted(self.sql)],
            malformed_lines=stats.malformed_lines,
            files=list(stats.files),
            completeness=completeness,
        )


def summarize(
    source: str | os.PathLike[str],
    *,
    s3_client: Any = None,
    http_session: Any = None,
    stats: ReadStats | None = None,
    max_malformed_ratio: float = 0.01,
    s3_page_size: int | None = None,
) -> EventLogSummary:
    """Read an event log once and return its :class:`EventLogSummary` (with its completeness).

    :param source: local path, ``s3://`` URL or ``http(s)://`` URL (see
        :func:`~sync_provider.core.eventlog.reader.iter_events`).
    :param s3_client: boto3 S3 client.
    :param http_session: ``requests`` session.
    :param stats: filled while reading.
    :param max_malformed_ratio: largest accepted share of malformed lines.
    :param s3_page_size: page size of the S3 listing.
    :raises EventLogError: when the log is unusable (see ``iter_events``).
    """
    stats = stats if stats is not None else ReadStats()
    builder = SummaryBuilder()
    feed = builder.feed
    with open_layout(
        source, s3_client=s3_client, http_session=http_session, s3_page_size=s3_page_size
    ) as layout:
        for event in iter_layout_events(layout, stats, max_malformed_ratio):
            feed(event)
    return builder.build(stats)
