"""The kill and crash matrix: kill or crash Airflow task tries at every stage of the closed loop.

Each case runs real operator tries in child processes (:mod:`tests.reliability.kill_worker`) against
the stand-ins, and acts on one try when it reaches the case's stage:

- **kill**: what Airflow 3.3 does when a user marks a running task failed (or a heartbeat is
  refused): the supervisor sends SIGTERM (the task runner calls ``on_kill()``), and SIGKILL
  :data:`ESCALATION_S` seconds later if the try has not ended. A deferred task's trigger is
  cancelled and its ``on_kill()`` awaited, as Airflow's triggerer does on a user action. A killed
  task is not retried.
- **crash**: the worker (or triggerer) process dies at once (SIGKILL: nothing cleans up); Airflow
  retries the task: a new try with the next try number and the same ``task_state_store``, or, for
  a deferred task, another triggerer running the same trigger, then the resume in a worker.

Stages (the launch task waits for its cluster/run; the record task records the finished run; the
sensor waits for the prediction in the triggerer):

``submitting``, ``launched``, ``waiting``, ``deferred`` (launch task), ``recording``, ``recorded``
(record task) and ``prediction`` (sensor). See :mod:`tests.reliability.kill_worker` for where each
stage stops.

Counted per case once everything settled: clusters/runs started for the task (*launched twice*
beyond one), clusters/runs not terminated (*left running*), predictions of the case's project that
received an event log (*duplicate predictions* beyond one) or never did (*orphans*, reported), whether
the retry completed, and whether a killed try had to be SIGKILLed (it ignored SIGTERM: reported).
Goals: the signal landed at the stage, nothing left running, nothing launched twice, no duplicate
prediction, every retry completed.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sync_provider.core.client import SyncClient
from sync_provider.core.config import load_settings
from sync_provider.core.projects import create_project
from sync_provider.testing import SIMULATOR_SECRET_ACCESS_KEY
from tests.reliability.kill_worker import PRELOAD, TaskCall, child_main
from tests.reliability.loops import emr_spec, list_runs
from tests.reliability.secret_scan import register_secret
from tests.reliability.suite import machine, markdown, rst_list_table

Action = Literal["kill", "crash"]
KillPlatform = Literal["emr", "databricks"]

LAUNCH_STAGES = ("submitting", "launched", "waiting", "deferred")
STAGES = (*LAUNCH_STAGES, "recording", "recorded", "prediction")
ACTIONS: tuple[Action, ...] = ("kill", "crash")
PLATFORMS: tuple[KillPlatform, ...] = ("emr", "databricks")
#: Airflow 3.3's supervisor: SIGKILL this long after SIGTERM when the task has not ended.
ESCALATION_S = 5.0
#: Seconds a child holds at its stage so the signal lands there.
HOLD_S = 1.0
#: Seconds a case waits for clusters/runs to reach a final state before counting them as left running.
SETTLE_S = 8.0
#: Seconds a cluster/run of a killed launch task lasts when nobody ends it (beyond the escalation
#: and the settling time, so that a task that ignores the kill leaves it running).
LONG_S = 30.0
CHILD_TIMEOUT_S = 90.0
#: Seconds between a crash and the retry: the short clusters/runs of crash cases finish meanwhile,
#: as a real run may while nobody watches (Airflow's default retry delay is five minutes).
RETRY_DELAY_S = 3.0

BUCKET = "sync-kill-matrix"
EMR_LOCATION = f"s3://{BUCKET}/emr"
DBX_LOCATION = "dbfs:/sync/kill-matrix"
KEY_ID = "kill-matrix-key"
#: The Sync API key secret of the matrix's stand-in (the secret scanner knows it).
KEY_SECRET = "kill-sync-secret-Wq73Ne5"
#: The Databricks stand-in's token in the matrix (the secret scanner knows it).
DATABRICKS_TOKEN = "dapi-kill-8Hc2Pv61"
SECRETS = (
    (KEY_SECRET, "the Sync API key secret"),
    (DATABRICKS_TOKEN, "the Databricks token"),
    (SIMULATOR_SECRET_ACCESS_KEY, "the AWS secret access key"),
)
for _secret, _label in SECRETS:
    register_secret(_secret, f"tests.reliability.kills: {_label}")
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}

DBX_SPEC: dict[str, Any] = {
    "spark_version": "13.3.x-scala2.12",
    "node_type_id": "m5.xlarge",
    "num_workers": 2,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "zone_id": "us-east-1a"},
}
DBX_TASK: dict[str, Any] = {"notebook_task": {"notebook_path": "/Repos/etl/main"}}


@dataclass(frozen=True)
class KillCase:
    """One cell of the matrix (and a round number, to repeat it)."""

    platform: KillPlatform
    stage: str
    action: Action
    round: int = 0
    #: Launch-operator arguments of the case, on top of the matrix's (for the harness's self-tests).
    launch_overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """A unique, readable name (also the job/run name of the case)."""
        return f"kill-{self.platform}-{self.stage}-{self.action}-{self.round}"


@dataclass
class ChildResult:
    """How one child try ended."""

    last: tuple[Any, ...] | None = None
    reached: bool = False
    escalated: bool = False
    timed_out: bool = False
    exitcode: int | None = None

    @property
    def kind(self) -> str:
        """The last message's kind (``done``, ``deferred``, ``event``, ``killed``, ``error``) or ``none``."""
        return str(self.last[0]) if self.last else "none"


@dataclass
class KillOutcome:
    """What one case left behind."""

    case: KillCase
    reached: bool = False
    escalated: bool = False
    retried: bool = False
    retry_completed: bool = False
    launches: int = 0
    left_running: list[str] = field(default_factory=list)
    predictions_with_log: int = 0
    orphan_predictions: int = 0
    secret_hits: list[str] = field(default_factory=list)
    problem: str = ""
    seconds: float = 0.0

    @property
    def launched_twice(self) -> int:
        """Clusters/runs beyond the first started for the task."""
        return max(0, self.launches - 1)

    @property
    def duplicate_predictions(self) -> int:
        """Predictions holding the run's event log beyond the first."""
        return max(0, self.predictions_with_log - 1)

    def misses(self) -> list[str]:
        """The goals this case missed, one sentence each."""
        found = []
        if self.problem:
            found.append(f"harness problem: {self.problem}")
        if not self.reached:
            found.append(f"the {self.case.action} did not land at stage {self.case.stage}")
        if self.left_running:
            found.append(f"left running: {', '.join(self.left_running)}")
        if self.launched_twice:
            found.append(f"{self.launches} clusters/runs started for one task")
        if self.duplicate_predictions:
            found.append(f"{self.predictions_with_log} predictions of one run")
        if self.retried and not self.retry_completed:
            found.append("the retry did not complete")
        if self.secret_hits:
            found.append(f"secrets in the task logs: {', '.join(self.secret_hits)}")
        return found


class HeldEngine:
    """The replay engine, except that predictions of a held project wait until it is released.

    The ``prediction`` cases hold their project so that the sensor surely finds the prediction
    running when it defers, whatever the machine's load.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inner: Any = None
        self._gates: dict[str, threading.Event] = {}

    def hold(self, project_id: str) -> None:
        """Hold the predictions of ``project_id`` until :meth:`release`."""
        with self._lock:
            self._gates[project_id] = threading.Event()

    def release(self, project_id: str) -> None:
        """Let the predictions of ``project_id`` finish."""
        with self._lock:
            gate = self._gates.get(project_id)
        if gate is not None:
            gate.set()

    def predict(self, request: Any) -> dict[str, Any]:
        """Wait while the request's project is held, then predict with the replay engine."""
        with self._lock:
            gate = self._gates.get(request.project_id or "")
            if self._inner is None:
                from sync_provider.testing.replay_engine import ReplayEngine

                self._inner = ReplayEngine()
            inner = self._inner
        if gate is not None:
            gate.wait(CHILD_TIMEOUT_S)
        result: dict[str, Any] = inner.predict(request)
        return result


class KillEnvironment:
    """The stand-ins of the matrix: AWS simulator, local Sync API, local Databricks, a fork server."""

    def __init__(self, seed: int = 7) -> None:
        from sync_provider.testing.aws import AwsSimulator
        from sync_provider.testing.databricks import LocalDatabricks
        from sync_provider.testing.sync_api_server import LocalSyncServer

        # Clusters and runs last about two seconds, so each stage can be hit while they run.
        self.sim = AwsSimulator(step_wall_s=1.0, bootstrap_wall_s=0.5, seed=seed)
        self.engine = HeldEngine()
        self.sync = LocalSyncServer(
            api_keys={KEY_ID: KEY_SECRET}, processing_delay_s=0.2, engine=self.engine, seed=seed
        )
        self.dbx = LocalDatabricks(token=DATABRICKS_TOKEN, phase_s=0.5, log_delivery_delay_s=0.2, seed=seed)
        # Runs a killed task must end: long enough that one left alone is still running when counted.
        self.slow_dbx = LocalDatabricks(
            token=DATABRICKS_TOKEN, phase_s=LONG_S / 3, log_delivery_delay_s=0.2, seed=seed + 1
        )
        self.workdir = Path(tempfile.mkdtemp(prefix="sync-kill-matrix-"))
        self.context: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> KillEnvironment:
        self._stack.enter_context(self.sim)
        self.sim.create_bucket(BUCKET)
        self._stack.enter_context(self.sync)
        self._stack.enter_context(self.dbx)
        self._stack.enter_context(self.slow_dbx)
        self.settings = load_settings(KEY_ID, KEY_SECRET, self.sync.url, env={})
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(list(PRELOAD))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if os.environ.get("SYNC_KILL_MATRIX_KEEP") != "1":  # the tries' logs, kept on request
            shutil.rmtree(self.workdir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """The children's environment: Airflow connections to the stand-ins."""
        host, port = self.sync.url.removeprefix("http://").split(":")
        sync_conn = {
            "conn_type": "sync",
            "host": host,
            "schema": "http",
            "port": int(port),
            "login": KEY_ID,
            "password": KEY_SECRET,
        }
        return {
            "AIRFLOW_CONN_SYNC_DEFAULT": json.dumps(sync_conn),
            "AIRFLOW_CONN_AWS_DEFAULT": self.sim.aws_connection_json(),
            "AIRFLOW_CONN_DATABRICKS_DEFAULT": self.dbx.connection_json(),
            "AIRFLOW_CONN_DATABRICKS_SLOW": self.slow_dbx.connection_json(),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def project(self, case: KillCase) -> str:
        """A Sync project of its own for the case."""
        product = "aws-emr" if case.platform == "emr" else "aws-databricks"
        location = EMR_LOCATION if case.platform == "emr" else DBX_LOCATION
        with SyncClient(self.settings) as client:
            return str(
                create_project(case.name, product, cluster_log_url=location, client=client).unwrap().id
            )


def supervise(env: KillEnvironment, call: TaskCall, action: Action | None) -> ChildResult:
    """Run one child try; at its stage, act like Airflow's supervisor (kill) or a dying host (crash)."""
    receiver, sender = env.context.Pipe(duplex=False)
    process = env.context.Process(target=child_main, args=(call, sender), daemon=True)
    process.start()
    sender.close()
    result = ChildResult()
    started = time.monotonic()
    terminated_at: float | None = None
    while True:
        now = time.monotonic()
        if terminated_at is not None and now - terminated_at > ESCALATION_S and process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            result.escalated = True
            terminated_at = None
        if now - started > CHILD_TIMEOUT_S:
            os.kill(process.pid, signal.SIGKILL)
            result.timed_out = True
            break
        if not receiver.poll(0.05):
            if not process.is_alive() and not receiver.poll(0):
                break
            continue
        try:
            message = receiver.recv()
        except EOFError:
            break
        if message[0] == "stage":
            result.reached = True
            if action == "crash":
                os.kill(process.pid, signal.SIGKILL)
            elif action == "kill":
                os.kill(process.pid, signal.SIGTERM)
                terminated_at = time.monotonic()
        else:
            result.last = tuple(message)
    process.join(10)
    result.exitcode = process.exitcode
    receiver.close()
    return result


class _Case:
    """Runs one case: builds the task calls, drives the tries, counts what is left."""

    def __init__(self, env: KillEnvironment, case: KillCase, settle_s: float = SETTLE_S) -> None:
        self.env = env
        self.case = case
        self.settle_s = settle_s
        self.dir = env.workdir / case.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.project_id = env.project(case)
        self.children = 0

    # -- calls ----------------------------------------------------------------------------------

    def call(self, kind: str, classpath: str, kwargs: dict[str, Any], **options: Any) -> TaskCall:
        self.children += 1
        task = str(kwargs.get("task_id") or options.pop("task", "task"))
        return TaskCall(
            kind=kind,  # type: ignore[arg-type]
            classpath=classpath,
            kwargs=kwargs,
            env=self.env.env(),
            log_path=str(self.dir / f"{self.children:02d}-{task}-{kind}.log"),
            run_id=f"manual__{self.case.name}",
            store_path=str(self.dir / f"{task}.store.json"),
            platform=self.case.platform,
            hold_s=0.0 if options.get("pause_at") == "waiting" else HOLD_S,
            **options,
        )

    @property
    def long(self) -> bool:
        """Whether the case kills the launch task: its cluster/run must outlast the counting."""
        return self.case.action == "kill" and self.case.stage in LAUNCH_STAGES

    @property
    def dbx(self) -> Any:
        """The Databricks stand-in of the case."""
        return self.env.slow_dbx if self.long else self.env.dbx

    def launch_kwargs(self, *, deferrable: bool) -> tuple[str, dict[str, Any]]:
        classpath, kwargs = self._launch_kwargs(deferrable=deferrable)
        return classpath, {**kwargs, **dict(self.case.launch_overrides)}

    def _launch_kwargs(self, *, deferrable: bool) -> tuple[str, dict[str, Any]]:
        common = {"task_id": "launch", "project_id": self.project_id, "wait_for_completion": True}
        if self.case.platform == "emr":
            request = emr_spec(0, "")
            request["Name"] = self.case.name
            if self.long:  # one step per simulated second
                request["Steps"] = request["Steps"] * int(LONG_S)
            return "sync_provider.operators.emr:SyncEmrCreateJobFlowOperator", {
                **common,
                **FAST,
                "project_location": EMR_LOCATION,
                "job_flow_overrides": request,
                "emr_conn_id": None,
                "timeout": 60,
                "deferrable": deferrable,
            }
        return "sync_provider.operators.databricks:SyncDatabricksSubmitRunOperator", {
            **common,
            **FAST,
            "task": DBX_TASK,
            "new_cluster": DBX_SPEC,
            "project_location": DBX_LOCATION,
            "run_name": self.case.name,
            "databricks_conn_id": "databricks_slow" if self.long else "databricks_default",
            "databricks_retry_delay": 0.05,
            "timeout": 60,
            "deferrable": deferrable,
        }

    def record_kwargs(self, launched: Any) -> tuple[str, dict[str, Any]]:
        if self.case.platform == "emr":
            return "sync_provider.operators.emr:SyncEmrRecordRunOperator", {
                "task_id": "record",
                "cluster_id": launched,
                "project_id": self.project_id,
            }
        return "sync_provider.operators.databricks:SyncDatabricksRecordRunOperator", {
            "task_id": "record",
            "run_id": launched,
            "log_poll_interval": 0.05,
            "max_log_poll_interval": 0.2,
            "log_timeout": 30,
            "databricks_retry_delay": 0.05,
        }

    # -- tries ----------------------------------------------------------------------------------

    def until_done(self, kind: str, classpath: str, kwargs: dict[str, Any], **options: Any) -> Any:
        """Run a try without interference; return its result or raise with its error."""
        result = supervise(self.env, self.call(kind, classpath, kwargs, **options), None)
        if result.kind == "deferred":
            _, trigger_path, trigger_kwargs, method = result.last or ()
            event = supervise(
                self.env, self.call("trigger", trigger_path, trigger_kwargs, task="trigger"), None
            )
            if event.kind != "event":
                raise RuntimeError(f"the trigger ended with {event.last!r}")
            result = supervise(
                self.env,
                self.call(
                    "resume", classpath, kwargs, method_name=method, event=(event.last or (None, None))[1]
                ),
                None,
            )
        if result.kind != "done":
            raise RuntimeError(f"{kwargs.get('task_id')} ended with {result.last!r} (exit {result.exitcode})")
        return (result.last or (None, None))[1]

    def faulted(self, kind: str, classpath: str, kwargs: dict[str, Any], outcome: KillOutcome) -> None:
        """Run a try of the task, act at the stage, then retry after a crash."""
        try:
            self._faulted(kind, classpath, kwargs, outcome)
        finally:
            self.env.engine.release(self.project_id)

    def _faulted(self, kind: str, classpath: str, kwargs: dict[str, Any], outcome: KillOutcome) -> None:
        stage, action = self.case.stage, self.case.action
        deferred_stage = stage in ("deferred", "prediction")
        first = supervise(
            self.env,
            self.call(kind, classpath, kwargs, pause_at=None if deferred_stage else stage),
            None if deferred_stage else action,
        )
        if deferred_stage:
            if first.kind != "deferred":
                raise RuntimeError(f"the task did not defer: {first.last!r}")
            _, trigger_path, trigger_kwargs, method = first.last or ()
            trigger = supervise(
                self.env,
                self.call("trigger", trigger_path, trigger_kwargs, task="trigger", pause_at="deferred"),
                action,
            )
            outcome.reached, outcome.escalated = trigger.reached, trigger.escalated
            self.env.engine.release(self.project_id)
            if action == "crash":
                outcome.retried = True
                time.sleep(RETRY_DELAY_S)
                event = supervise(
                    self.env, self.call("trigger", trigger_path, trigger_kwargs, task="trigger"), None
                )
                resumed = supervise(
                    self.env,
                    self.call(
                        "resume", classpath, kwargs, method_name=method, event=(event.last or (None, None))[1]
                    ),
                    None,
                )
                outcome.retry_completed = event.kind == "event" and resumed.kind == "done"
            return
        outcome.reached, outcome.escalated = first.reached, first.escalated
        if action == "crash":
            outcome.retried = True
            time.sleep(RETRY_DELAY_S)
            retry = supervise(self.env, self.call(kind, classpath, kwargs, try_number=2), None)
            if retry.kind == "deferred":  # never for these stages (the launch task waits in the worker)
                raise RuntimeError("a non-deferrable retry deferred")
            outcome.retry_completed = retry.kind == "done"

    def run(self) -> KillOutcome:
        outcome = KillOutcome(self.case)
        started = time.monotonic()
        try:
            stage = self.case.stage
            launch_path, launch = self.launch_kwargs(deferrable=stage == "deferred")
            if stage in LAUNCH_STAGES:
                self.faulted("execute", launch_path, launch, outcome)
            else:
                if stage == "prediction":
                    self.env.engine.hold(self.project_id)
                launched = self.until_done("execute", launch_path, launch)
                record_path, record = self.record_kwargs(launched)
                if stage in ("recording", "recorded"):
                    self.faulted("execute", record_path, record, outcome)
                else:
                    prediction_id = self.until_done("execute", record_path, record)
                    sensor = {
                        "task_id": "wait_prediction",
                        "prediction_id": prediction_id,
                        "deferrable": True,
                        "poke_interval": 0.1,
                        "max_poll_interval": 0.2,
                        "timeout": 60,
                    }
                    self.faulted(
                        "execute", "sync_provider.sensors.sync:SyncPredictionSensor", sensor, outcome
                    )
        except Exception as exc:  # a defect of the harness (or an unexpected end of a try): a miss
            outcome.problem = f"{type(exc).__name__}: {exc}"
        self.count(outcome)
        outcome.seconds = time.monotonic() - started
        return outcome

    # -- counting ---------------------------------------------------------------------------------

    def count(self, outcome: KillOutcome) -> None:
        deadline = time.monotonic() + self.settle_s
        while True:
            launches, running = self.launches()
            if not running or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        outcome.launches, outcome.left_running = launches, running
        if running:  # leave nothing running for the next cases
            self.clean_up()
        for record in self.env.sync.predictions():
            if record.get("project_id") != self.project_id:
                continue
            if record.get("eventlog_url") or record.get("eventlog_path"):
                outcome.predictions_with_log += 1
            else:
                outcome.orphan_predictions += 1
        for path in sorted(self.dir.glob("*.log")):
            text = path.read_text(errors="replace")
            outcome.secret_hits += [f"{label} in {path.name}" for value, label in SECRETS if value in text]

    def launches(self) -> tuple[int, list[str]]:
        """Clusters/runs started for the case, and those not terminated."""
        if self.case.platform == "emr":
            client = self.env.sim.client("emr")
            clusters = [
                c
                for page in client.get_paginator("list_clusters").paginate()
                for c in page.get("Clusters", [])
                if c.get("Name") == self.case.name
            ]
            running = [
                f"cluster {c['Id']} ({c['Status']['State']})"
                for c in clusters
                if not str(c["Status"]["State"]).startswith("TERMINATED")
            ]
            return len(clusters), running
        with self.dbx.client(retries=2) as api:
            runs = [r for r in list_runs(api) if r.get("run_name") == self.case.name]
        active = set(self.dbx.active_runs())
        running_clusters = set(self.dbx.running_clusters())
        running = [f"run {r['run_id']}" for r in runs if r["run_id"] in active]
        for run in runs:
            cluster = (run.get("cluster_instance") or {}).get("cluster_id")
            if cluster in running_clusters:
                running.append(f"cluster {cluster}")
        return len(runs), running

    def clean_up(self) -> None:
        if self.case.platform == "emr":
            client = self.env.sim.client("emr")
            for page in client.get_paginator("list_clusters").paginate():
                ids = [c["Id"] for c in page.get("Clusters", []) if c.get("Name") == self.case.name]
                if ids:
                    client.terminate_job_flows(JobFlowIds=ids)
        else:
            with self.dbx.client(retries=2) as api:
                for run in list_runs(api, active_only=True):
                    if run.get("run_name") == self.case.name:
                        api.call("POST", "2.1/jobs/runs/cancel", {"run_id": run["run_id"]}, idempotent=True)


def cases(rounds: int = 1, platforms: tuple[KillPlatform, ...] = PLATFORMS) -> list[KillCase]:
    """Every platform x stage x action, ``rounds`` times."""
    return [
        KillCase(platform, stage, action, r)
        for r in range(rounds)
        for platform in platforms
        for stage in STAGES
        for action in ACTIONS
    ]


def run_cases(
    env: KillEnvironment, chosen: list[KillCase], concurrency: int = 6, *, settle_s: float = SETTLE_S
) -> list[KillOutcome]:
    """Run ``chosen`` cases, ``concurrency`` at a time; count what is left ``settle_s`` after each."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="kill-case") as pool:
        return list(pool.map(lambda case: _Case(env, case, settle_s).run(), chosen))


def run_matrix(
    rounds: int = 1,
    *,
    platforms: tuple[KillPlatform, ...] = PLATFORMS,
    concurrency: int = 6,
    seed: int = 7,
) -> list[KillOutcome]:
    """Run every case ``rounds`` times, ``concurrency`` at a time, on fresh stand-ins."""
    with airflow_home(), KillEnvironment(seed) as env:
        return run_cases(env, cases(rounds, platforms), concurrency)


# ------------------------------------------------------------------------------------------ figures

KILL_COLUMNS = (
    "Platform",
    "Stage",
    "Kills",
    "Left running after kill",
    "Ignored SIGTERM",
    "Crashes",
    "Retries completed",
    "Launched twice",
    "Duplicate predictions",
    "Orphan predictions",
    "Left running after retry",
)


def kill_rows(outcomes: list[KillOutcome]) -> list[list[str]]:
    """One row per platform and stage, and a total."""
    rows: list[list[str]] = []
    groups: dict[tuple[str, str], list[KillOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome.case.platform, outcome.case.stage), []).append(outcome)

    def row(platform: str, stage: str, chosen: list[KillOutcome]) -> list[str]:
        kills = [o for o in chosen if o.case.action == "kill"]
        crashes = [o for o in chosen if o.case.action == "crash"]
        return [
            platform,
            stage,
            str(len(kills)),
            str(sum(len(o.left_running) for o in kills)),
            str(sum(o.escalated for o in kills)),
            str(len(crashes)),
            f"{sum(o.retry_completed for o in crashes)}/{len(crashes)}",
            str(sum(o.launched_twice for o in chosen)),
            str(sum(o.duplicate_predictions for o in chosen)),
            str(sum(o.orphan_predictions for o in chosen)),
            str(sum(len(o.left_running) for o in crashes)),
        ]

    for (platform, stage), chosen in groups.items():
        rows.append(row("EMR" if platform == "emr" else "Databricks", stage, chosen))
    rows.append(row("**total**", "", outcomes))
    return rows


def kill_table(outcomes: list[KillOutcome]) -> str:
    """The matrix as a markdown table."""
    return markdown(KILL_COLUMNS, kill_rows(outcomes))


def kill_misses(outcomes: list[KillOutcome]) -> list[str]:
    """Every missed goal, ``case: what``."""
    return [f"{o.case.name}: {miss}" for o in outcomes for miss in o.misses()]


def kill_report(outcomes: list[KillOutcome], *, rounds: int) -> str:
    """The text ``python -m tests.reliability`` prints for the matrix."""
    seconds = sum(o.seconds for o in outcomes)
    lines = [
        f"Kill and crash matrix: {rounds} round(s) of {len(STAGES)} stages x {len(ACTIONS)} actions "
        f"per platform ({seconds:.0f} case-seconds)",
        "",
        kill_table(outcomes),
    ]
    missed = kill_misses(outcomes)
    lines += ["", "Goals: " + ("all met." if not missed else "MISSED:")]
    lines += [f"  - {miss}" for miss in missed]
    return "\n".join(lines)


def rst_kill_figures(outcomes: list[KillOutcome], *, rounds: int, seconds: float | None = None) -> str:
    """The generated kill-matrix block of ``docs/reliability.rst``."""
    from datetime import UTC, datetime

    lines = [
        f"Measured on {datetime.now(UTC):%Y-%m-%d} by ``python -m tests.reliability --kill-rounds {rounds}"
        f" --write-docs``: {rounds} round(s) of every stage x {{kill, crash}} on both platforms"
        f" ({len(outcomes)} cases; {machine()}"
        + (f"; {seconds:.0f} s" if seconds is not None else "")
        + ").",
        "",
        *rst_list_table(KILL_COLUMNS, kill_rows(outcomes)),
    ]
    missed = kill_misses(outcomes)
    lines.append("")
    if missed:
        lines += ["Goals missed:", ""] + [f"- {m}" for m in missed]
    else:
        lines.append("Every goal was met.")
    return "\n".join(lines)


@contextlib.contextmanager
def airflow_home() -> Iterator[None]:
    """A private ``AIRFLOW_HOME`` for the fork server and its children (when none is set)."""
    if os.environ.get("AIRFLOW_HOME"):
        yield
        return
    home = tempfile.mkdtemp(prefix="sync-kill-airflow-")
    os.environ.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    try:
        yield
    finally:
        os.environ.pop("AIRFLOW_HOME", None)
        shutil.rmtree(home, ignore_errors=True)
