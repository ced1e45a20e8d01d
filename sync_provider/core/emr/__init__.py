"""AWS EMR for Sync: launch a tagged cluster that logs to S3, wait, report, record, launch the next run.

The functions take plain boto3 clients (``boto3.client("emr")``, ``boto3.client("s3")``) and
return :class:`~sync_provider.core.models.Response`: ``.unwrap()`` gives the result or raises the
typed error (:class:`~sync_provider.core.errors.InvalidInputError`,
:class:`~sync_provider.core.errors.EMRError`, :class:`EMRTimeoutError`,
:class:`~sync_provider.core.errors.StorageError`, :class:`~sync_provider.core.errors.EventLogError`).

A run keeps its files in ``<project location>/<project id>/<UTC time>/<run id>/``:
``eventlog/`` (Spark's ``spark.eventLog.dir``), ``run-job-flow-request.json`` and
``emr-cluster-report.json``. The cluster carries the tags ``sync:project-id`` and ``sync:run-id``.

Importing this package loads neither boto3 nor botocore; botocore's EMR model is loaded the first
time a request is validated, and kept.
"""

from __future__ import annotations

from sync_provider.core.emr._common import (
    ACTIVE_STATES,
    EVENTLOG_DIR,
    EVENTLOG_ENABLED,
    PROJECT_TAG,
    REPORT_FILE,
    REQUEST_FILE,
    RUN_TAG,
    SUCCESS_REASON,
    TERMINAL_STATES,
    ClusterOutcome,
    ClusterState,
    EMRTimeoutError,
    LaunchedRun,
    PreparedRun,
    ProjectLocation,
    RunLocation,
    StepFailure,
    describe_cluster,
    parse_location,
    parse_run_eventlog_dir,
    run_location_of,
)
from sync_provider.core.emr.clusters import (
    DEFAULT_CLUSTER_POLL,
    create_run_folder,
    find_cluster_by_run_id,
    get_cluster_state,
    launch_job_flow,
    terminate_cluster,
    wait_for_cluster,
)
from sync_provider.core.emr.prepare import (
    prepare_run_job_flow,
    run_job_flow_from_prediction,
    validation_problems,
)
from sync_provider.core.emr.report import (
    find_run_eventlog,
    get_cluster_report,
    record_run,
    save_cluster_report,
)

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_CLUSTER_POLL",
    "EVENTLOG_DIR",
    "EVENTLOG_ENABLED",
    "PROJECT_TAG",
    "REPORT_FILE",
    "REQUEST_FILE",
    "RUN_TAG",
    "SUCCESS_REASON",
    "TERMINAL_STATES",
    "ClusterOutcome",
    "ClusterState",
    "EMRTimeoutError",
    "LaunchedRun",
    "PreparedRun",
    "ProjectLocation",
    "RunLocation",
    "StepFailure",
    "create_run_folder",
    "describe_cluster",
    "find_cluster_by_run_id",
    "find_run_eventlog",
    "get_cluster_report",
    "get_cluster_state",
    "launch_job_flow",
    "parse_location",
    "parse_run_eventlog_dir",
    "prepare_run_job_flow",
    "record_run",
    "run_job_flow_from_prediction",
    "run_location_of",
    "save_cluster_report",
    "terminate_cluster",
    "validation_problems",
    "wait_for_cluster",
]
