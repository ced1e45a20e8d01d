"""Shared helpers for the event-log tests: real logs (skipped when absent) and synthetic logs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

EVENTLOGS = Path(
    os.environ.get("SYNC_EVENTLOGS_DIR", str(Path(__file__).resolve().parents[4] / "shared" / "eventlogs"))
)
REAL_EMR_LOG = EVENTLOGS / "syncsparkpy" / "application_1678162862227_0001"


def require_eventlogs() -> Path:
    """Return the real event-log folder, or skip the test when it is absent."""
    if not EVENTLOGS.is_dir():
        pytest.skip(
            f"real Spark event logs not found at {EVENTLOGS} (shared/eventlogs beside the repository)"
        )
    return EVENTLOGS


def make_events(
    app_id: str = "application_1700000000000_0001",
    *,
    n_tasks: int = 20,
    start: int = 1_700_000_000_000,
    end: bool = True,
    executors: int = 2,
    cores: int = 4,
) -> list[dict[str, Any]]:
    """Return the events of a small, consistent synthetic application."""
    events: list[dict[str, Any]] = [
        {"Event": "SparkListenerLogStart", "Spark Version": "3.3.0"},
        {
            "Event": "SparkListenerEnvironmentUpdate",
            "Spark Properties": {"spark.master": "yarn", "spark.executor.cores": str(cores)},
            "System Properties": {"EMR_CLUSTER_ID": "j-TEST", "EMR_RELEASE_LABEL": "emr-6.10.0"},
        },
        {
            "Event": "SparkListenerApplicationStart",
            "App Name": "synthetic",
            "App ID": app_id,
            "Timestamp": start,
            "User": "tester",
        },
    ]
    for i in range(executors):
        events.append(
            {
                "Event": "SparkListenerExecutorAdded",
                "Timestamp": start + 100 + i,
                "Executor ID": str(i + 1),
                "Executor Info": {"Host": f"host-{i + 1}", "Total Cores": cores},
            }
        )
    events.append(
        {
            "Event": "SparkListenerJobStart",
            "Job ID": 0,
            "Submission Time": start + 1000,
            "Stage Infos": [
                {"Stage ID": 0, "Stage Attempt ID": 0, "Parent IDs": []},
                {"Stage ID": 1, "Stage Attempt ID": 0, "Parent IDs": [0]},
            ],
            "Stage IDs": [0, 1],
            "Properties": {"spark.sql.execution.id": "0"},
        }
    )
    for stage in (0, 1):
        events.append(
            {
                "Event": "SparkListenerStageSubmitted",
                "Stage Info": {
                    "Stage ID": stage,
                    "Stage Attempt ID": 0,
                    "Stage Name": f"stage {stage}",
                    "Number of Tasks": n_tasks,
                    "Parent IDs": [] if stage == 0 else [0],
                    "Submission Time": start + 1100 + stage * 10_000,
                },
            }
        )
        for t in range(n_tasks):
            task_id = stage * n_tasks + t
            events.append(
                {
                    "Event": "SparkListenerTaskEnd",
                    "Stage ID": stage,
                    "Stage Attempt ID": 0,
                    "Task End Reason": {"Reason": "Success"},
                    "Task Info": {
                        "Task ID": task_id,
                        "Index": t,
                        "Attempt": 0,
                        "Launch Time": start + 1200 + stage * 10_000 + t,
                        "Executor ID": str(t % executors + 1),
                        "Host": f"host-{t % executors + 1}",
                        "Speculative": False,
                        "Finish Time": start + 1200 + stage * 10_000 + t + 500,
                        "Failed": False,
                        "Killed": False,
                    },
                    "Task Metrics": {
                        "Executor Run Time": 450,
                        "Executor CPU Time": 400_000_000,
                        "JVM GC Time": 5,
                        "Peak Execution Memory": 1024,
                        "Memory Bytes Spilled": 0,
                        "Disk Bytes Spilled": 0,
                        "Shuffle Read Metrics": {"Remote Bytes Read": 10, "Local Bytes Read": 20},
                        "Shuffle Write Metrics": {"Shuffle Bytes Written": 30},
                        "Input Metrics": {"Bytes Read": 40},
                        "Output Metrics": {"Bytes Written": 50},
                    },
                }
            )
        events.append(
            {
                "Event": "SparkListenerStageCompleted",
                "Stage Info": {
                    "Stage ID": stage,
                    "Stage Attempt ID": 0,
                    "Stage Name": f"stage {stage}",
                    "Number of Tasks": n_tasks,
                    "Parent IDs": [] if stage == 0 else [0],
                    "Submission Time": start + 1100 + stage * 10_000,
                    "Completion Time": start + 9000 + stage * 10_000,
                },
            }
        )
    events.append(
        {
            "Event": "SparkListenerJobEnd",
            "Job ID": 0,
            "Completion Time": start + 20_000,
            "Job Result": {"Result": "JobSucceeded"},
        }
    )
    if end:
        events.append({"Event": "SparkListenerApplicationEnd", "Timestamp": start + 25_000})
    return events


def to_bytes(events: list[dict[str, Any]]) -> bytes:
    """Serialise events as Spark does: one compact JSON object per line."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)


def dbc_line(rollover: int, context_id: int = 4990884153077848559) -> dict[str, Any]:
    """Return a Databricks ``DBCEventLoggingListenerMetadata`` event."""
    return {
        "Event": "DBCEventLoggingListenerMetadata",
        "Spark Version": "3.1.2",
        "Timestamp": 1642532400000 + rollover,
        "Rollover Number": rollover,
        "SparkContext Id": context_id,
    }


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    """The first 300 lines of a real EMR log (or a synthetic log when the real ones are absent)."""
    if REAL_EMR_LOG.is_file():
        with REAL_EMR_LOG.open("rb") as handle:
            return b"".join(handle.readline() for _ in range(300))
    return to_bytes(make_events(n_tasks=120))


@pytest.fixture(scope="session")
def sample_events(sample_bytes: bytes) -> list[dict[str, Any]]:
    """``sample_bytes`` parsed with the standard library."""
    return [json.loads(line) for line in sample_bytes.splitlines() if line.strip()]
