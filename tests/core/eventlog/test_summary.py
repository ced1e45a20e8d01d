"""The summary model: tasks stored compactly, cores over time, JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync_provider.core.eventlog import EventLogSummary, TaskRecord, TaskTable, summarize

from .conftest import REAL_EMR_LOG, make_events, require_eventlogs, to_bytes

APP = "application_1700000000000_0001"


def _summary(tmp_path: Path, **kwargs: object) -> EventLogSummary:
    path = tmp_path / APP
    path.write_bytes(to_bytes(make_events(APP, **kwargs)))  # type: ignore[arg-type]
    return summarize(path)


def test_synthetic_summary(tmp_path: Path) -> None:
    summary = _summary(tmp_path, n_tasks=5)
    start = 1_700_000_000_000
    assert summary.application_id == APP
    assert summary.start_time_ms == start
    assert summary.end_time_ms == start + 25_000
    assert summary.duration_s == 25.0
    assert not summary.end_inferred
    assert summary.platform.platform == "emr"
    assert summary.platform.emr_cluster_id == "j-TEST"
    assert summary.spark_properties["spark.executor.cores"] == "4"
    assert [(j.job_id, j.stage_ids, j.result, j.sql_execution_id) for j in summary.jobs] == [
        (0, [0, 1], "JobSucceeded", 0)
    ]
    assert [(s.stage_id, s.parent_ids, s.num_tasks) for s in summary.stages] == [(0, [], 5), (1, [0], 5)]
    assert summary.stages[1].completion_ms == start + 19_000
    first = summary.tasks[0]
    assert first == TaskRecord(
        stage_id=0, stage_attempt=0, task_id=0, index=0, attempt=0,
        launch_ms=start + 1200, finish_ms=start + 1700,
        executor_run_time_ms=450, executor_cpu_time_ns=400_000_000, executor_deserialize_ms=0,
        result_serialization_ms=0, gc_ms=5, shuffle_read_bytes=30, shuffle_write_bytes=30,
        input_bytes=40, output_bytes=50, memory_spilled_bytes=0, disk_spilled_bytes=0,
        peak_execution_memory=1024, executor_id="1", host="host-1", end_reason="Success",
        failed=False, killed=False, speculative=False,
    )  # fmt: skip
    assert first.duration_ms == 500
    assert summary.cores_over_time() == [(start + 100, 4), (start + 101, 8)]
    assert summary.max_concurrent_cores() == 8
    assert sorted(summary.tasks.by_stage()) == [(0, 0), (1, 0)]
    assert summary.tasks.column("executor_id") == ["1", "2", "1", "2", "1"] * 2
    assert summary.tasks.column("failed") == [False] * 10


def test_summary_json_round_trip(tmp_path: Path) -> None:
    summary = _summary(tmp_path, n_tasks=3)
    data = json.loads(summary.model_dump_json())
    assert len(data["tasks"]) == 6
    assert data["tasks"][0]["launch_ms"] == 1_700_000_001_200
    again = EventLogSummary.model_validate(data)
    assert again.tasks == summary.tasks
    assert again == summary


def test_task_table_tolerates_odd_values_and_is_compact() -> None:
    table = TaskTable()
    table.add(tuple(range(19)), ("1", "h", "Success"), (False, False, True))
    assert len(table) == 1
    with pytest.raises(TypeError):
        table.add((1, 2, None, *range(16)), ("1", "h", "Success"), (False, False, False))  # type: ignore[arg-type]
    assert len(table) == 1 and [len(c) for c in table._ints] == [1] * 19  # rolled back
    for _ in range(10_000):
        table.add(tuple(range(19)), ("1", "h", "Success"), (False, False, False))
    assert table.memory_bytes() / len(table) < 200


def test_failed_killed_and_null_metrics(tmp_path: Path) -> None:
    events = make_events(APP, n_tasks=2)
    tasks = [e for e in events if e["Event"] == "SparkListenerTaskEnd"]
    tasks[0]["Task End Reason"] = {"Reason": "ExceptionFailure", "Class Name": "java.lang.OOM"}
    tasks[0]["Task Info"]["Failed"] = True
    tasks[1]["Task End Reason"] = {"Reason": "TaskKilled"}
    tasks[1]["Task Metrics"]["JVM GC Time"] = None
    tasks[2].pop("Task Metrics")
    path = tmp_path / APP
    path.write_bytes(to_bytes(events))
    summary = summarize(path)
    rows = list(summary.tasks)
    assert (rows[0].failed, rows[0].killed, rows[0].end_reason) == (True, False, "ExceptionFailure")
    assert (rows[1].failed, rows[1].killed, rows[1].gc_ms) == (True, True, 0)
    assert rows[2].executor_run_time_ms == 0 and not rows[2].failed


def test_executor_removal_steps(tmp_path: Path) -> None:
    start = 1_700_000_000_000
    events = make_events(APP, executors=3, cores=2)
    end = events.pop()
    events += [
        {"Event": "SparkListenerExecutorRemoved", "Timestamp": start + 5000, "Executor ID": "2",
         "Removed Reason": "Executor idle"},
        {"Event": "SparkListenerExecutorAdded", "Timestamp": start + 5000, "Executor ID": "4",
         "Executor Info": {"Host": "host-4", "Total Cores": 4}},
        {"Event": "SparkListenerExecutorRemoved", "Timestamp": start + 24_000, "Executor ID": "4",
         "Removed Reason": "Container killed"},
        end,
    ]  # fmt: skip
    path = tmp_path / APP
    path.write_bytes(to_bytes(events))
    summary = summarize(path)
    assert summary.cores_over_time() == [
        (start + 100, 2),
        (start + 101, 4),
        (start + 102, 6),
        (start + 5000, 8),  # executor 2 (2 cores) left and executor 4 (4 cores) came at the same time
        (start + 24_000, 4),
    ]
    assert summary.max_concurrent_cores() == 8
    removed = {e.executor_id: e.removed_reason for e in summary.executors if e.removed_ms}
    assert removed == {"2": "Executor idle", "4": "Container killed"}


def test_real_task_fields_match_the_raw_json() -> None:
    require_eventlogs()
    raw = [json.loads(line) for line in REAL_EMR_LOG.read_bytes().splitlines()]
    task_end = next(e for e in raw if e["Event"] == "SparkListenerTaskEnd")
    summary = summarize(REAL_EMR_LOG)
    task = summary.tasks[0]
    info, metrics = task_end["Task Info"], task_end["Task Metrics"]
    assert task.task_id == info["Task ID"]
    assert (task.launch_ms, task.finish_ms) == (info["Launch Time"], info["Finish Time"])
    assert task.executor_cpu_time_ns == metrics["Executor CPU Time"]
    assert task.input_bytes == metrics["Input Metrics"]["Bytes Read"]
    assert task.host == info["Host"]
    sql = summary.sql_executions
    assert len(sql) == 9 and all(s.end_ms and s.start_ms and s.end_ms >= s.start_ms for s in sql)


def test_import_is_cheap() -> None:
    code = (
        "import sys, sync_provider.core.eventlog as e; "
        "print([m for m in ('boto3', 'botocore', 'requests', 'zstandard', 'lz4', 'cramjam', 'msgspec', "
        "'airflow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
