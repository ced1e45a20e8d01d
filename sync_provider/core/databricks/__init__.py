"""Databricks on AWS: run a job on a cluster Sync can predict, record it, apply the prediction.

How the functions fit together::

    api = DatabricksRestClient("https://dbc-….cloud.databricks.com", token)
    run = submit_run(api, cluster_spec, {"notebook_task": {...}}, project_id=..., project_location=...,
                     run_name="etl", idempotency_token=idempotency_token_for(...)).unwrap()
    wait_for_run(api, run.run_id, timeout_s=6 * 3600).unwrap()
    prediction_id = record_run(api, run.run_id, sync_client=sync).unwrap()
    ...  # wait for the prediction (sync_provider.core.predictions.wait_for_prediction)
    next_spec = cluster_spec_from_prediction(prediction, "economy", cluster_spec, project_id=...,
                                             project_location=...).unwrap()

Public functions return :class:`~sync_provider.core.models.Response` (``unwrap()`` gives the
result or raises the typed error), except the pure :func:`prepare_cluster_spec`, which raises
:class:`~sync_provider.core.errors.InvalidInputError`. Nothing here imports Airflow; the Databricks
API is reached through the :class:`DatabricksApi` protocol.
"""

from __future__ import annotations

from sync_provider.core.databricks.client import (
    DatabricksApi,
    DatabricksAPIError,
    DatabricksRestClient,
    DatabricksTimeoutError,
    normalize_host,
)
from sync_provider.core.databricks.clusters import (
    cluster_spec_from_prediction,
    merge_solution,
    prepare_cluster_spec,
    validate_cluster_spec,
)
from sync_provider.core.databricks.eventlogs import collect_eventlog
from sync_provider.core.databricks.models import (
    PROJECT_ID_TAG,
    RUN_ID_TAG,
    EventLogLocation,
    EventLogPart,
    PreparedCluster,
    RunOutcome,
    RunState,
    SubmittedRun,
)
from sync_provider.core.databricks.reports import cluster_events, get_cluster_report, record_run
from sync_provider.core.databricks.runs import (
    cancel_run,
    get_run_state,
    idempotency_token_for,
    submit_run,
    wait_for_run,
)

__all__ = [
    "PROJECT_ID_TAG",
    "RUN_ID_TAG",
    "DatabricksAPIError",
    "DatabricksApi",
    "DatabricksRestClient",
    "DatabricksTimeoutError",
    "EventLogLocation",
    "EventLogPart",
    "PreparedCluster",
    "RunOutcome",
    "RunState",
    "SubmittedRun",
    "cancel_run",
    "cluster_events",
    "cluster_spec_from_prediction",
    "collect_eventlog",
    "get_cluster_report",
    "get_run_state",
    "idempotency_token_for",
    "merge_solution",
    "normalize_host",
    "prepare_cluster_spec",
    "record_run",
    "submit_run",
    "validate_cluster_spec",
    "wait_for_run",
]
