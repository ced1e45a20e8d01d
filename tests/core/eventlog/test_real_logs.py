"""The real logs in shared/eventlogs: summaries match the facts in its README table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import ReadStats, check_completeness, iter_events, summarize

from .conftest import require_eventlogs

pytestmark = pytest.mark.eventlogs


@dataclass(frozen=True)
class Facts:
    path: str
    app_id: str
    name: str
    spark_version: str
    jobs: int
    stages: int
    tasks: int
    executors: int  # ExecutorAdded events other than the driver
    cores: int  # total cores of those executors (the driver's in local mode)
    duration_s: float
    end_missing: bool
    platform: str
    layout: str = "single"


FACTS = [
    Facts("spark_log_parser/emr.zip", "application_1640227485896_0002", "Text Similarity", "3.0.1-amzn-0",
          879, 1539, 9074, 32, 32, 3909.774, False, "emr"),
    Facts("spark_log_parser/databricks.zip", "app-20220304222044-0000", "Databricks Shell", "3.1.2",
          50, 53, 446, 4, 64, 301.9, True, "databricks", "databricks"),
    Facts("spark_log_parser/databricks-rollover.zip", "app-20220114165818-0000", "Databricks Shell", "3.1.2",
          72, 72, 8247, 8, 256, 6261.1, True, "databricks", "databricks"),
    Facts("spark_log_parser/log_in_dir/databricks.json.gz", "app-20220304222044-0000", "Databricks Shell",
          "3.1.2", 50, 53, 446, 4, 64, 301.9, True, "databricks"),
    Facts("spark_log_parser/log_in_dir", "app-20220304222044-0000", "Databricks Shell",
          "3.1.2", 50, 53, 446, 4, 64, 301.9, True, "databricks"),
    Facts("syncsparkpy/application_1678162862227_0001", "application_1678162862227_0001",
          "index_data_etl_1GB", "3.0.1-amzn-0", 12, 12, 172, 8, 32, 49.881, False, "emr"),
    Facts("apache_spark/application_1506645932520_24630151", "application_1506645932520_24630151",
          "Spark shell", "2.4.0-SNAPSHOT", 1, 3, 9, 7, 7, 106.4, False, "yarn"),
    Facts("apache_spark/application_1553914137147_0018", "application_1553914137147_0018", "LargeBlocks",
          "3.0.0-SNAPSHOT", 3, 3, 6, 3, 3, 62.168, False, "yarn"),
    Facts("apache_spark/local-1642039451826", "local-1642039451826", "Spark shell", "3.3.0-SNAPSHOT",
          6, 6, 35, 0, 8, 86.045, False, "local"),
    Facts("apache_spark/app-20200706201101-0003", "app-20200706201101-0003", "Spark shell", "3.1.0-SNAPSHOT",
          3, 3, 48, 1, 16, 363.996, False, "standalone"),
    Facts("apache_spark/eventlog_v2_local-1766844910796", "local-1766844910796",
          "<script>alert('XSS')</script>", "4.2.0-SNAPSHOT", 1, 1, 2, 0, 10, 2.006, False, "local",
          "rolling"),
    Facts("spark_rapids_tools/eventlog_v2_local-1623876083964", "local-1623876083964", "Spark shell", "3.1.1",
          1, 4, 2801, 0, 12, 133.857, False, "local", "rolling"),
    Facts("spark_rapids_tools/databricks-aws", "local-1726394182053-db", "Spark shell", "3.1.1",
          3, 3, 3, 2, 16, 355.637, False, "databricks"),
]  # fmt: skip


@pytest.mark.parametrize("facts", FACTS, ids=[f.path for f in FACTS])
def test_summary_matches_readme(facts: Facts) -> None:
    root = require_eventlogs()
    stats = ReadStats()
    summary = summarize(root / facts.path, stats=stats)
    assert summary.application_id == facts.app_id
    assert summary.application_name == facts.name
    assert summary.spark_version == facts.spark_version
    assert len({job.job_id for job in summary.jobs}) == facts.jobs
    assert len(summary.stage_ids()) == facts.stages
    assert len(summary.tasks) == facts.tasks
    workers = summary.worker_executors()
    assert len(workers) == facts.executors
    if facts.executors:
        assert sum(e.total_cores for e in workers) == facts.cores
    else:
        assert summary.max_concurrent_cores() == facts.cores  # local mode: the driver runs the tasks
    assert summary.end_inferred is facts.end_missing
    assert (summary.end_time_ms is None) is facts.end_missing
    assert summary.duration_s is not None
    if facts.end_missing:  # the README gives these to 0.1 s
        assert summary.duration_s == pytest.approx(facts.duration_s, abs=0.05)
        assert summary.last_event_ms is not None and summary.start_time_ms is not None
        assert summary.duration_s == (summary.last_event_ms - summary.start_time_ms) / 1000
    else:
        assert abs(summary.duration_s - facts.duration_s) <= 0.001
    assert summary.platform.platform == facts.platform
    assert stats.layout == facts.layout
    assert summary.malformed_lines == 0
    assert summary.completeness.complete is (not facts.end_missing)
    assert summary.completeness.problems == (
        ["no SparkListenerApplicationEnd event"] if facts.end_missing else []
    )
    # The fast check agrees with the full read.
    assert check_completeness(root / facts.path) == summary.completeness


def test_platform_hints() -> None:
    root = require_eventlogs()
    emr = summarize(root / "syncsparkpy/application_1678162862227_0001")
    assert emr.platform.emr_cluster_id == "j-14QV64S2PV1Y2"
    assert emr.platform.emr_release_label == "emr-6.2.0"
    assert emr.platform.cloud_provider == "AWS"
    dbx = summarize(root / "spark_log_parser/databricks-rollover.zip")
    assert dbx.platform.worker_node_type == "r5.8xlarge"
    assert dbx.platform.databricks_cluster_name == "job-313-run-18"
    assert dbx.platform.databricks_runtime == "9.1.x-scala2.12"
    assert dbx.platform.databricks_cluster_id
    aws = summarize(root / "spark_rapids_tools/databricks-aws")
    assert aws.platform.databricks_cluster_id == "1212-214324-test"
    assert aws.platform.worker_node_type == aws.platform.driver_node_type == "m6gd.2xlarge"
    standalone = summarize(root / "apache_spark/app-20200706201101-0003")
    assert standalone.platform.platform_inferred


def test_databricks_rollover_zip_reads_parts_in_order() -> None:
    root = require_eventlogs()
    stats = ReadStats()
    count = sum(1 for _ in iter_events(root / "spark_log_parser/databricks-rollover.zip", stats=stats))
    assert count > 0
    assert stats.files == [
        "databricks_example_1/eventlog-2022-01-14--17-00.gz",
        "databricks_example_1/eventlog-2022-01-14--18-00.gz",
        "databricks_example_1/eventlog",
    ]
    assert stats.codecs == dict(zip(stats.files, ["gzip", "gzip", "none"], strict=True))
    assert "databricks_example_1/databricks_pricing.json: not a Databricks event-log part" in stats.skipped
    assert "databricks_example_1/.DS_Store: hidden file" in stats.skipped


NO_APP = ["no SparkListenerApplicationStart event", "no SparkListenerApplicationEnd event"]
BAD = {
    "duplicate-part.tgz": [
        "duplicate rolled parts 0 (duplicate-part/eventlog-2022-01-18--19-00, "
        "duplicate-part/extra/eventlog-2022-01-18--19-00)",
        *NO_APP,
    ],
    "missing-dbc-event.zip": [
        "part eventlog-2022-01-18--20-00-missing-DBC has no DBCEventLoggingListenerMetadata event",
        "missing rolled parts 1",
        *NO_APP,
    ],
    "missing-first-part.zip": ["missing rolled parts 0", *NO_APP],
    "missing-part.zip": ["missing rolled parts 1", *NO_APP],
    "non-unique-context-id.zip": [
        "duplicate rolled parts 1 (eventlog-2022-01-18--20-00, eventlog-diff-context)",
        "parts have 2 different SparkContext Ids (4990884153077848559: eventlog-2022-01-18--19-00, "
        "eventlog-2022-01-18--20-00, eventlog-2022-01-18--21-00, eventlog; "
        "5990884153077848559: eventlog-diff-context)",
        *NO_APP,
    ],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_databricks_sets(name: str) -> None:
    root = require_eventlogs()
    report = check_completeness(root / "spark_log_parser/bad" / name)
    assert report.problems == BAD[name]
    assert not report.complete
    assert report.layout == "databricks"


def test_bad_set_with_two_contexts_cannot_be_read() -> None:
    root = require_eventlogs()
    with pytest.raises(
        EventLogError, match=r"non-unique-context-id\.zip holds more than one application: parts"
    ):
        list(iter_events(root / "spark_log_parser/bad/non-unique-context-id.zip"))


def test_bad_set_summary_carries_the_problems() -> None:
    root = require_eventlogs()
    summary = summarize(root / "spark_log_parser/bad/missing-part.zip")
    assert summary.completeness.problems == BAD["missing-part.zip"]
    assert len(summary.tasks) == 0
