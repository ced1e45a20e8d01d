"""The EMR and Databricks closed loops, driven through the core only, retried like an orchestrator.

EMR: ``launch_job_flow`` -> ``wait_for_cluster`` -> ``record_run`` -> ``wait_for_prediction`` ->
``run_job_flow_from_prediction`` -> ``launch_job_flow`` -> ``wait_for_cluster``.

Databricks: ``submit_run`` -> ``wait_for_run`` -> ``record_run`` (waiting for late log delivery)
-> ``wait_for_prediction`` -> ``cluster_spec_from_prediction`` -> ``submit_run`` -> ``wait_for_run``.

:class:`Orchestrator` runs each step like an Airflow task with retries: up to ``attempts`` tries,
``retry_delay_s`` apart. Launches are repeated with the *same* deterministic run id (EMR,
``attach_existing``) or idempotency token (Databricks), so that a retry re-attaches instead of
starting a second cluster or run. Creating a prediction has no idempotency key in the Sync API; the
core refuses to repeat a create whose response was lost and says to check first. The driver does as
it says: before repeating ``record_run`` it looks for a prediction of the run's project that
already has its event log (:func:`reconcile_prediction`) and adopts it.

A step that raises anything other than a :class:`~sync_provider.core.errors.SyncError` is not
retried: the loop ends ``FAILED`` *unclearly* (a goal miss). A loop that fails cleans up as an
operator's ``on_kill`` would: it terminates the EMR clusters and cancels the Databricks runs of its
run ids (found by tag or name when the launch's answer was lost).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sync_provider.core import emr
from sync_provider.core.backoff import Backoff
from sync_provider.core.client import SyncClient
from sync_provider.core.config import SyncSettings
from sync_provider.core.databricks import (
    cancel_run,
    cluster_spec_from_prediction,
    idempotency_token_for,
    submit_run,
    wait_for_run,
)
from sync_provider.core.databricks import record_run as record_databricks_run
from sync_provider.core.errors import (
    ConfigurationError,
    InvalidInputError,
    PredictionError,
    PredictionTimeoutError,
    SyncError,
)
from sync_provider.core.models import Prediction
from sync_provider.core.predictions import get_prediction, list_predictions, wait_for_prediction
from sync_provider.core.recording import has_event_log
from tests.reliability.faults import CLIENT_READ_TIMEOUT_S, AwsFaultInjector, AwsFaultStats, FaultPlan
from tests.reliability.secret_scan import register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")
Status = Literal["COMPLETED", "FAILED"]

#: Polling of clusters, runs, predictions and log delivery: the stand-ins are fast.
POLL = Backoff(initial=0.05, maximum=0.25, factor=1.5, jitter=0.1)
#: A distinctive AWS secret key for the loops' boto3 clients (moto does not check it); the secret
#: scanner knows it.
AWS_SECRET_KEY = "rel-aws-secret-7Qm2Xv9c"
AWS_ACCESS_KEY = "AKIARELIABILITY0001"
register_secret(AWS_SECRET_KEY, "tests.reliability.loops.AWS_SECRET_KEY")
#: What a message must mention (case-insensitive) to name the operation or the object that failed.
_OPERATION_WORDS = (
    "emr",
    "runjobflow",
    "cluster",
    "s3",
    "prediction",
    "event log",
    "eventlog",
    "upload",
    "sync api",
    "/v1/",
    "databricks",
    "jobs/runs",
    "run ",
    "dbfs",
    "token",
    "api key",
)
_CLIENT_LOCK = threading.Lock()  # creating boto3 clients from the default session is not thread-safe

EMR_SPEC: dict[str, Any] = {
    "ReleaseLabel": "emr-6.10.0",
    "LogUri": "s3://emr-logs/reliability/",
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [
            {"Name": "Master", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
            {"Name": "Core", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
        ],
        "KeepJobFlowAliveWhenNoSteps": False,
    },
    "Steps": [
        {
            "Name": "etl",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://code/etl.py"]},
        }
    ],
    "Configurations": [{"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "4g"}}],
    "JobFlowRole": "EMR_EC2_DefaultRole",
    "ServiceRole": "EMR_DefaultRole",
    "Tags": [{"Key": "team", "Value": "reliability"}],
}
EMR_FLEETS: dict[str, Any] = {
    "InstanceFleets": [
        {
            "Name": "Master",
            "InstanceFleetType": "MASTER",
            "TargetOnDemandCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
        },
        {
            "Name": "Core",
            "InstanceFleetType": "CORE",
            "TargetOnDemandCapacity": 2,
            "TargetSpotCapacity": 1,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
        },
    ],
    "Ec2SubnetIds": ["subnet-0abc"],
    "KeepJobFlowAliveWhenNoSteps": False,
}
DBX_SPEC: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "num_workers": 2,
    "spark_conf": {"spark.sql.shuffle.partitions": "64"},
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "zone_id": "us-east-1a"},
}
DBX_TASK: dict[str, Any] = {"notebook_task": {"notebook_path": "/Repos/etl/main"}}


def emr_spec(index: int, plan: str) -> dict[str, Any]:
    """The RunJobFlow request of loop ``index``: instance groups for even loops, fleets for odd ones."""
    import copy

    spec = copy.deepcopy(EMR_SPEC)
    spec["Name"] = f"rel-{plan}-{index}"
    if index % 2:
        spec["Instances"] = copy.deepcopy(EMR_FLEETS)
    return spec


def boto_config() -> Any:
    """botocore settings of the loops' clients: standard retry mode, three attempts, short timeouts."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10)


# ------------------------------------------------------------------------------------------ results


@dataclass
class LoopOutcome:
    """How one loop ended."""

    platform: str
    plan: str
    index: int
    status: Status = "FAILED"
    clear: bool = True
    step: str | None = None
    error_type: str | None = None
    message: str | None = None
    retries: int = 0
    reconciled: int = 0
    seconds: float = 0.0
    cleanup_problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``COMPLETED``, ``FAILED clearly`` or ``FAILED unclearly``."""
        if self.status == "COMPLETED":
            return "COMPLETED"
        return "FAILED clearly" if self.clear else "FAILED unclearly"


class StepFailed(Exception):
    """A step failed on its last attempt (or with an error that is not retried)."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


def is_clear(error: BaseException) -> bool:
    """Whether ``error`` is a clear failure: a typed ``SyncError`` whose message names what failed."""
    if not isinstance(error, SyncError):
        return False
    text = (error.message or "").strip()
    return len(text) >= 20 and any(word in text.lower() for word in _OPERATION_WORDS)


def retryable(error: SyncError) -> bool:
    """Whether an orchestrator retry can help: not for invalid input, configuration or a failed prediction."""
    if isinstance(error, InvalidInputError | ConfigurationError):
        return False
    return not (isinstance(error, PredictionError) and not isinstance(error, PredictionTimeoutError))


class Orchestrator:
    """Runs steps like Airflow tasks with retries.

    :param attempts: tries per step.
    :param retry_delay_s: wait between tries.
    """

    def __init__(self, attempts: int = 3, retry_delay_s: float = 1.0) -> None:
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self.retries = 0

    def run(self, step: str, action: Callable[[int, SyncError | None], T]) -> T:
        """Run ``action(attempt, previous error)`` until it returns, retrying typed errors.

        :raises StepFailed: after the last attempt, for an error not worth retrying, or at once for
            an exception that is not a ``SyncError``.
        """
        previous: SyncError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return action(attempt, previous)
            except SyncError as exc:
                log.info("step %s attempt %d failed: %s", step, attempt, exc.message)
                if attempt == self.attempts or not retryable(exc):
                    raise StepFailed(step, exc) from None
                previous = exc
                self.retries += 1
                time.sleep(self.retry_delay_s)
            except Exception as exc:  # a raw exception: not retried, it is the defect we look for
                log.warning("step %s raised %s: %s", step, type(exc).__name__, exc)
                raise StepFailed(step, exc) from None
        raise AssertionError("unreachable")


def reconcile_prediction(sync: SyncClient, project_id: str, previous: SyncError | None) -> str | None:
    """A prediction of this run that already has its event log, created by an earlier attempt.

    Uses the core's rule (:func:`~sync_provider.core.recording.has_event_log`, by which
    ``record_run`` itself adopts the prediction named in the run folder). Looks at the prediction
    an upload error names, then at the project's predictions (each loop has its own project, and
    records one run).
    """
    candidates: list[Prediction] = []
    detail = previous.detail if previous is not None else None
    if isinstance(detail, dict) and isinstance(detail.get("prediction_id"), str):
        candidates.append(get_prediction(detail["prediction_id"], client=sync).unwrap())
    candidates += list_predictions(project_id=project_id, client=sync).unwrap()
    for prediction in candidates:
        if has_event_log(prediction):
            return prediction.prediction_id
    return None


def _finish(outcome: LoopOutcome, started: float, orchestrator: Orchestrator) -> LoopOutcome:
    outcome.seconds = time.monotonic() - started
    outcome.retries = orchestrator.retries
    return outcome


def _failed(outcome: LoopOutcome, failure: StepFailed) -> None:
    error = failure.error
    outcome.status = "FAILED"
    outcome.step = failure.step
    outcome.error_type = type(error).__name__
    outcome.message = error.message if isinstance(error, SyncError) else str(error)
    outcome.clear = is_clear(error)


# ---------------------------------------------------------------------------------------------- EMR


@dataclass
class EmrContext:
    """What the EMR loops of one plan share."""

    plan: FaultPlan
    seed: int
    sim: Any
    settings: SyncSettings
    location: str
    projects: list[str]
    aws_stats: AwsFaultStats
    attempts: int = 3
    retry_delay_s: float = 1.0


def _clients(sim: Any, injector: AwsFaultInjector) -> tuple[Any, Any]:
    options = {
        "config": boto_config(),
        "aws_access_key_id": AWS_ACCESS_KEY,
        "aws_secret_access_key": AWS_SECRET_KEY,
    }
    with _CLIENT_LOCK:
        emr_client, s3_client = sim.client("emr", **options), sim.client("s3", **options)
    return injector.attach(emr_client), injector.attach(s3_client)


def sync_client(settings: SyncSettings) -> SyncClient:
    """A Sync client as a task would build it, with a read timeout the latency spikes exceed."""
    return SyncClient(
        settings, timeout=(1.0, CLIENT_READ_TIMEOUT_S), retries=3, backoff_factor=0.05, backoff_max=0.3
    )


def run_emr_loop(ctx: EmrContext, index: int) -> LoopOutcome:
    """One EMR closed loop (see the module docstring)."""
    plan = ctx.plan
    started = time.monotonic()
    outcome = LoopOutcome("emr", plan.name, index)
    orchestrator = Orchestrator(ctx.attempts, ctx.retry_delay_s)
    rng = random.Random(f"{ctx.seed}:{plan.name}:{index}")
    injector = AwsFaultInjector(plan.aws, rng, ctx.aws_stats, hide_eventlog_for_s=plan.hide_eventlog_for_s)
    emr_client, s3 = _clients(ctx.sim, injector)
    project_id = ctx.projects[index]
    spec = emr_spec(index, plan.name)
    run_a, run_b = f"{plan.name}-{index}-a", f"{plan.name}-{index}-b"
    launched: list[str] = []
    common: dict[str, Any] = {"project_id": project_id, "project_location": ctx.location}

    def launch(request: dict[str, Any], run_id: str) -> emr.LaunchedRun:
        launched.append(run_id)
        return orchestrator.run(
            f"launch {run_id}",
            lambda _n, _e: emr.launch_job_flow(emr_client, s3, request, run_id=run_id, **common).unwrap(),
        )

    def wait(cluster_id: str) -> None:
        orchestrator.run(
            f"wait {cluster_id}",
            lambda _n, _e: emr.wait_for_cluster(emr_client, cluster_id, timeout_s=60, poll=POLL).unwrap(),
        )

    with sync_client(ctx.settings) as sync:
        try:
            first = launch(spec, run_a)
            wait(first.cluster_id)

            def record(attempt: int, previous: SyncError | None) -> str:
                if attempt > 1:
                    found = reconcile_prediction(sync, project_id, previous)
                    if found:
                        outcome.reconciled += 1
                        return found
                return emr.record_run(
                    emr_client, s3, first.cluster_id, upload=plan.upload, sync_client=sync
                ).unwrap()

            prediction_id = orchestrator.run("record_run", record)
            prediction = orchestrator.run(
                "wait_for_prediction",
                lambda _n, _e: wait_for_prediction(
                    prediction_id, timeout_s=30, poll=POLL, client=sync
                ).unwrap(),
            )
            request = orchestrator.run(
                "run_job_flow_from_prediction",
                lambda _n, _e: emr.run_job_flow_from_prediction(
                    prediction, "balanced", spec, run_id=run_b, **common
                ).unwrap(),
            )
            second = launch(request, run_b)
            wait(second.cluster_id)
            outcome.status = "COMPLETED"
        except StepFailed as failure:
            _failed(outcome, failure)
            outcome.cleanup_problems = _terminate_runs(emr_client, launched)
    return _finish(outcome, started, orchestrator)


def _terminate_runs(emr_client: Any, run_ids: list[str], attempts: int = 6) -> list[str]:
    """Terminate every non-terminated cluster of ``run_ids`` (an operator's ``on_kill``)."""
    problems: list[str] = []
    for run_id in run_ids:
        for attempt in range(attempts):
            try:
                cluster_id = emr.find_cluster_by_run_id(emr_client, run_id).unwrap()
                if cluster_id:
                    emr.terminate_cluster(emr_client, cluster_id).unwrap()
                break
            except SyncError as exc:
                if attempt == attempts - 1:
                    problems.append(f"{run_id}: {exc.message}")
                time.sleep(0.2)
    return problems


# --------------------------------------------------------------------------------------- Databricks


@dataclass
class DatabricksContext:
    """What the Databricks loops of one plan share."""

    plan: FaultPlan
    seed: int
    dbx: Any
    sim: Any
    settings: SyncSettings
    location: str
    projects: list[str]
    aws_stats: AwsFaultStats
    attempts: int = 3
    retry_delay_s: float = 1.0


def run_databricks_loop(ctx: DatabricksContext, index: int) -> LoopOutcome:
    """One Databricks closed loop (see the module docstring)."""
    plan = ctx.plan
    started = time.monotonic()
    outcome = LoopOutcome("databricks", plan.name, index)
    orchestrator = Orchestrator(ctx.attempts, ctx.retry_delay_s)
    rng = random.Random(f"{ctx.seed}:{plan.name}:{index}")
    injector = AwsFaultInjector(plan.aws, rng, ctx.aws_stats)
    _, s3 = _clients(ctx.sim, injector)
    api = ctx.dbx.client(
        timeout=(1.0, CLIENT_READ_TIMEOUT_S), retries=3, backoff_factor=0.05, backoff_max=0.3
    )
    project_id = ctx.projects[index]
    names = (f"rel-{plan.name}-{index}-a", f"rel-{plan.name}-{index}-b")
    run_ids: list[int] = []
    common: dict[str, Any] = {
        "project_id": project_id,
        "project_location": ctx.location,
        "region": "us-east-1",
    }

    def submit(spec: dict[str, Any], name: str) -> int:
        token = idempotency_token_for("reliability", ctx.seed, name)
        run = orchestrator.run(
            f"submit {name}",
            lambda _n, _e: submit_run(
                api, spec, DBX_TASK, run_name=name, idempotency_token=token, **common
            ).unwrap(),
        )
        run_ids.append(run.run_id)
        return run.run_id

    def wait(run_id: int) -> None:
        orchestrator.run(
            f"wait run {run_id}",
            lambda _n, _e: wait_for_run(api, run_id, timeout_s=60, poll=POLL).unwrap(),
        )

    with sync_client(ctx.settings) as sync, api:
        try:
            first = submit(DBX_SPEC, names[0])
            wait(first)

            def record(attempt: int, previous: SyncError | None) -> str:
                if attempt > 1:
                    found = reconcile_prediction(sync, project_id, previous)
                    if found:
                        outcome.reconciled += 1
                        return found
                return record_databricks_run(
                    api,
                    first,
                    s3_client=s3,
                    sync_client=sync,
                    log_timeout_s=plan.log_timeout_s,
                    log_poll=POLL,
                ).unwrap()

            prediction_id = orchestrator.run("record_run", record)
            prediction = orchestrator.run(
                "wait_for_prediction",
                lambda _n, _e: wait_for_prediction(
                    prediction_id, timeout_s=30, poll=POLL, client=sync
                ).unwrap(),
            )
            next_spec = orchestrator.run(
                "cluster_spec_from_prediction",
                lambda _n, _e: cluster_spec_from_prediction(
                    prediction, "economy", DBX_SPEC, **common
                ).unwrap(),
            )
            second = submit(next_spec, names[1])
            wait(second)
            outcome.status = "COMPLETED"
        except StepFailed as failure:
            _failed(outcome, failure)
            outcome.cleanup_problems = _cancel_runs(api, run_ids, names)
    return _finish(outcome, started, orchestrator)


def _cancel_runs(api: Any, run_ids: list[int], names: tuple[str, ...], attempts: int = 6) -> list[str]:
    """Cancel the loop's runs, also those whose submission answer was lost (found by name)."""
    problems: list[str] = []
    for attempt in range(attempts):
        try:
            known = set(run_ids)
            known |= {
                int(run["run_id"]) for run in list_runs(api, active_only=True) if run.get("run_name") in names
            }
            for run_id in sorted(known):
                cancel_run(api, run_id).unwrap()
            return problems
        except SyncError as exc:
            if attempt == attempts - 1:
                problems.append(f"cancelling {', '.join(names)}: {exc.message}")
            time.sleep(0.2)
    return problems


def list_runs(api: Any, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Every run ``jobs/runs/list`` gives, all pages."""
    runs: list[dict[str, Any]] = []
    offset = 0
    while True:
        params = {"active_only": active_only, "limit": 25, "offset": offset}
        answer = api.call("GET", "2.1/jobs/runs/list", params, idempotent=True)
        page = [run for run in answer.get("runs") or [] if isinstance(run, dict)]
        runs += page
        if not answer.get("has_more") or not page:
            return runs
        offset += len(page)
