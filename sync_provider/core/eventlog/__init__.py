"""Spark event logs: streaming reader, completeness check and application summary.

Importing this package is cheap: codec libraries, ``boto3`` and ``requests`` are imported only when
a log needs them.

>>> from sync_provider.core.eventlog import iter_events, check_completeness, summarize
"""

from __future__ import annotations

from sync_provider.core.eventlog.completeness import CompletenessReport, check_completeness
from sync_provider.core.eventlog.reader import MalformedLine, ReadStats, iter_events, iter_lines
from sync_provider.core.eventlog.summary import (
    EventLogSummary,
    ExecutorSummary,
    JobSummary,
    PlatformHints,
    SqlExecutionSummary,
    StageSummary,
    TaskRecord,
    TaskTable,
    summarize,
)

__all__ = [
    "CompletenessReport",
    "EventLogSummary",
    "ExecutorSummary",
    "JobSummary",
    "MalformedLine",
    "PlatformHints",
    "ReadStats",
    "SqlExecutionSummary",
    "StageSummary",
    "TaskRecord",
    "TaskTable",
    "check_completeness",
    "iter_events",
    "iter_lines",
    "summarize",
]
