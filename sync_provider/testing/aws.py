"""A local AWS stand-in for EMR and S3: moto's server plus a simulator of cluster lifecycles.

:class:`AwsSimulator` starts moto's ``ThreadedMotoServer`` on loopback (an ephemeral port) and adds
what moto lacks for EMR, by changing moto's in-process backend (the server runs in this process):

* **Lifecycles.** moto makes clusters ``WAITING`` at once and never finishes steps. A background
  ticker moves each cluster through ``STARTING -> BOOTSTRAPPING -> RUNNING`` (steps ``PENDING ->
  RUNNING -> COMPLETED`` one after another, ``step_wall_s`` each) ``-> TERMINATING -> TERMINATED``
  with the state change reason ``ALL_STEPS_COMPLETED`` (or ``WAITING`` when
  ``KeepJobFlowAliveWhenNoSteps`` is true). ``TerminateJobFlows`` gives ``TERMINATED`` with
  ``USER_REQUEST``.
* **Failures.** :meth:`AwsSimulator.fail_next` and :meth:`AwsSimulator.fail_when` make clusters end
  ``TERMINATED_WITH_ERRORS`` with the reason code EMR uses (``STEP_FAILURE``,
  ``BOOTSTRAP_FAILURE``, ...) and, for a step failure, a ``FAILED`` step with ``FailureDetails``.
  ``ActionOnFailure`` is honoured (``TERMINATE_CLUSTER``, ``CANCEL_AND_WAIT``, ``CONTINUE``).
* **Instance fleets.** moto drops ``Instances.InstanceFleets``; here they are kept:
  ``DescribeCluster`` says ``InstanceCollectionType: INSTANCE_FLEET``, ``ListInstanceFleets``
  (which moto does not implement) answers, and ``ListInstances`` lists the fleets' nodes.
* **Spark event logs.** When a cluster's steps all complete, the simulator writes the run's Spark
  event log where Spark would: into ``spark.eventLog.dir`` of the cluster's ``spark-defaults``
  (an ``s3a://`` or ``s3://`` folder), named ``application_<cluster start epoch ms>_<n>``. As on EMR,
  if that folder does not exist in S3 when a step starts, the step fails (Spark refuses to start).
  The log is made by :mod:`sync_provider.testing.eventlog_generator` from a fixed amount of work (the
  ``workload``) list-scheduled onto the cluster's actual task slots: one executor per core/task node
  with as many cores as the node's vCPUs (from :mod:`sync_provider.core.pricing`). A bigger cluster
  therefore records a shorter runtime for the same work.
* **Small pages.** ``page_size`` makes moto's EMR list calls return that many items per page, so
  that pagination can be tested with a handful of steps or instances.

**Simulated Spark time is compressed.** The event log describes the workload's real duration (e.g.
four minutes) while the step takes ``step_wall_s`` of wall time (by default one second); the log
starts at the wall-clock time the step started. With ``time_scale`` set, a step instead takes
``application duration x time_scale`` of wall time (split across the steps of the cluster), so that
bigger clusters also finish sooner on the wall clock.

Only one simulator may run in a process at a time (moto's backends are process-wide). It starts
with moto's state reset and resets it again when it stops. Use it as a context manager;
:meth:`AwsSimulator.stop` stops the ticker and the server and undoes the changes to moto.

Example::

    with AwsSimulator(step_wall_s=0.2) as sim:
        sim.create_bucket("projects")
        emr, s3 = sim.client("emr"), sim.client("s3")
        ...
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = sim.aws_connection_json()
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

try:
    from moto.core.responses import ActionResult
    from moto.core.utils import get_pagination_model
    from moto.core.utils import utcnow as _moto_utcnow
    from moto.emr.models import EXAMPLE_AMI_ID, Cluster, Step
    from moto.emr.models import Instance as EmrInstance
    from moto.emr.responses import ElasticMapReduceResponse
    from moto.server import ThreadedMotoServer
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sync_provider.testing.aws needs moto with its server: "
        "pip install 'airflow-provider-sync-computing[testing]'"
    ) from _exc

from sync_provider.core.pricing import DEFAULT_PRICE_TABLE, PriceTable
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.testing.eventlog_generator import (
    JobSpec,
    StageSpec,
    WorkloadSpec,
    generate_events,
    generated_duration_ms,
)

__all__ = [
    "FAILURE_OUTCOMES",
    "AwsSimulator",
    "EventLogMode",
    "FailureOutcome",
    "default_workload",
]

log = logging.getLogger(__name__)

FailureOutcome = Literal[
    "STEP_FAILURE", "BOOTSTRAP_FAILURE", "INTERNAL_ERROR", "VALIDATION_ERROR", "INSTANCE_FAILURE"
]
#: The failures the simulator can inject (EMR's state change reason codes).
FAILURE_OUTCOMES: tuple[str, ...] = (
    "STEP_FAILURE",
    "BOOTSTRAP_FAILURE",
    "INTERNAL_ERROR",
    "VALIDATION_ERROR",
    "INSTANCE_FAILURE",
)
EventLogMode = Literal["complete", "inprogress", "no_end", "missing"]
"""What the simulator writes when steps complete: a whole log, an ``.inprogress`` log without its
end, a log without ``SparkListenerApplicationEnd``, or nothing."""

_DEFAULT_MESSAGES = {
    "STEP_FAILURE": "Exception in thread main: org.apache.spark.SparkException: Job aborted.",
    "BOOTSTRAP_FAILURE": (
        "On the master instance ({master}), bootstrap action 1 returned a non-zero return code"
    ),
    "INTERNAL_ERROR": "Failed to start the job flow due to an internal error",
    "VALIDATION_ERROR": "The requested instance type is not supported in the requested Availability Zone.",
    "INSTANCE_FAILURE": "The master node was terminated unexpectedly.",
}
_TERMINAL = ("TERMINATED", "TERMINATED_WITH_ERRORS")
_PAGED_OPERATIONS = (
    "ListSteps",
    "ListInstances",
    "ListInstanceGroups",
    "ListBootstrapActions",
    "ListClusters",
)
_ACTIVE_LOCK = threading.Lock()


class _Registry:
    """The simulator running in this process (moto's backends are process-wide)."""

    active: AwsSimulator | None = None


def _active() -> AwsSimulator | None:
    return _Registry.active


def default_workload(**overrides: Any) -> WorkloadSpec:
    """The fixed work a simulated cluster runs: 3 jobs, 164 tasks, about 45 s on 16 slots.

    :param overrides: any :class:`~sync_provider.testing.eventlog_generator.WorkloadSpec` field.
    """
    values: dict[str, Any] = {
        "app_name": "simulated_etl",
        "driver_gap_ms": 1500,
        "executor_startup_ms": 3000,
        "jobs": [
            JobSpec(stages=[StageSpec(num_tasks=1, task_ms=800, name="parquet at etl.py:12")]),
            JobSpec(
                description="aggregate events per day",
                stages=[
                    StageSpec(num_tasks=64, task_ms=4000, jitter=0.2),
                    StageSpec(num_tasks=32, task_ms=2500, parents=[0]),
                ],
            ),
            JobSpec(
                description="join and write",
                stages=[
                    StageSpec(num_tasks=48, task_ms=3000, jitter=0.2),
                    StageSpec(num_tasks=16, task_ms=2000, parents=[0]),
                    StageSpec(num_tasks=3, task_ms=1000, parents=[1]),
                ],
            ),
        ],
    }
    values.update(overrides)
    return WorkloadSpec(**values)


@dataclass(frozen=True)
class _Failure:
    outcome: str
    message: str | None
    step: int


@dataclass
class _Run:
    """What the simulator knows about one cluster."""

    cluster: Any
    backend: Any
    request: dict[str, Any]
    created: float
    created_ms: int
    failure: _Failure | None
    eventlog_mode: str
    fleets: list[dict[str, Any]] = field(default_factory=list)
    workers: list[tuple[str, int]] = field(default_factory=list)
    phase: str = "STARTING"
    phase_until: float = 0.0
    instance_state: str = "PROVISIONING"
    current_step: Any = None
    step_until: float = 0.0
    step_fails_with: str | None = None
    step_index: int = 0
    batch_active: bool = False
    batch_failed: bool = False
    batch_started_ms: int = 0
    batches: int = 0
    final: tuple[str, str, str] | None = None
    ready_dt: datetime | None = None
    end_dt: datetime | None = None
    eventlog_urls: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=lambda: ["STARTING"])

    @property
    def keep_alive(self) -> bool:
        return bool(self.cluster.keep_job_flow_alive_when_no_steps)


# ------------------------------------------------------------------------- moto models, per object


class _SimCluster(Cluster):
    """A moto cluster whose status carries a state change reason code, and which knows its fleets."""

    sim_run: _Run
    sim_reason: tuple[str | None, str | None] = (None, None)

    @property
    def status(self) -> dict[str, Any]:
        base = dict(super().status)
        code, message = self.sim_reason
        base["StateChangeReason"] = {k: v for k, v in (("Code", code), ("Message", message)) if v}
        return base

    @property
    def instance_collection_type(self) -> str:
        return "INSTANCE_FLEET" if self.sim_run.fleets else "INSTANCE_GROUP"

    def terminate(self) -> None:
        """TerminateJobFlows: ``TERMINATING``, then ``TERMINATED`` with ``USER_REQUEST``."""
        simulator = _active()
        if simulator is not None:
            simulator._terminate(self.sim_run, "TERMINATED", "USER_REQUEST", "Terminated by user request")


class _SimStep(Step):
    """A moto step whose status carries ``FailureDetails`` when it failed."""

    sim_failure: dict[str, str] | None = None

    @property
    def status(self) -> dict[str, Any]:
        base = dict(super().status)
        base["StateChangeReason"] = {}
        if self.sim_failure:
            base["FailureDetails"] = dict(self.sim_failure)
        return base


class _NodeStub:
    """Stands in for an instance group behind an instance of a fleet."""

    def __init__(self, role: str, market: str) -> None:
        self.id = None
        self.role = role
        self.market = market


class _SimInstance(EmrInstance):
    """A moto instance whose state follows its cluster; fleet instances have no group."""

    sim_run: _Run
    sim_market: str | None = None

    @property
    def instance_group_id(self) -> str | None:  # type: ignore[override]
        return None if self.instance_fleet_id else self.instance_group.id

    @property
    def market(self) -> str:
        return self.sim_market or self.instance_group.market

    @property
    def status(self) -> dict[str, Any]:
        run = self.sim_run
        timeline = {"CreationDateTime": run.cluster.creation_datetime}
        if run.ready_dt is not None:
            timeline["ReadyDateTime"] = run.ready_dt
        if run.end_dt is not None:
            timeline["EndDateTime"] = run.end_dt
        return {"State": run.instance_state, "StateChangeReason": {}, "Timeline": timeline}


# ------------------------------------------------------------------------------ response handlers


_original_run_job_flow = ElasticMapReduceResponse.run_job_flow


def _run_job_flow(self: Any) -> Any:
    result = _original_run_job_flow(self)
    simulator = _active()
    if simulator is not None:
        simulator._on_run_job_flow(self, result)
    return result


_original_add_job_flow_steps = ElasticMapReduceResponse.add_job_flow_steps


def _add_job_flow_steps(self: Any) -> Any:
    simulator = _active()
    if simulator is None:
        return _original_add_job_flow_steps(self)
    with simulator._lock:
        result = _original_add_job_flow_steps(self)
        simulator._on_add_steps(self._get_param("JobFlowId"))
    return result


def _list_instance_fleets(self: Any) -> Any:
    simulator = _active()
    cluster_id = self._get_param("ClusterId")
    fleets = simulator._fleets_of(cluster_id) if simulator is not None else []
    start = int(self._get_param("Marker") or 0)
    size = simulator.page_size if simulator is not None and simulator.page_size else 50
    page: dict[str, Any] = {"InstanceFleets": fleets[start : start + size]}
    if start + size < len(fleets):
        page["Marker"] = str(start + size)
    return ActionResult(page)


def _utcnow() -> datetime:
    now: datetime = _moto_utcnow()
    return now


class AwsSimulator:
    """moto's server for EMR and S3 on loopback, with cluster lifecycles, fleets and event logs.

    :param region: the region of the clients and of ``aws_connection_json``.
    :param time_scale: when set, a step lasts ``application duration x time_scale`` of wall time
        (split across the cluster's steps) instead of ``step_wall_s``.
    :param step_wall_s: wall seconds per step.
    :param bootstrap_wall_s: wall seconds from RunJobFlow to ``RUNNING`` (half ``STARTING``, half
        ``BOOTSTRAPPING``); ``TERMINATING`` lasts half of it.
    :param workload: the work each cluster runs (default :func:`default_workload`); its executors
        and cores are replaced by the cluster's.
    :param seed: seed of the generated event logs.
    :param page_size: items per page of EMR list calls (default: moto's 50).
    :param eventlog_mode: what to write when steps complete (see :data:`EventLogMode`).
    :param price_table: where node vCPUs come from.
    :param tick_s: how often the ticker advances clusters.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        time_scale: float | None = None,
        step_wall_s: float = 1.0,
        bootstrap_wall_s: float = 0.3,
        workload: WorkloadSpec | None = None,
        seed: int = 0,
        page_size: int | None = None,
        eventlog_mode: EventLogMode = "complete",
        price_table: PriceTable = DEFAULT_PRICE_TABLE,
        tick_s: float = 0.01,
    ) -> None:
        if step_wall_s < 0 or bootstrap_wall_s < 0 or (time_scale is not None and time_scale <= 0):
            raise ValueError("step_wall_s and bootstrap_wall_s must be >= 0 and time_scale > 0.")
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1.")
        self.region = region
        self.time_scale = time_scale
        self.step_wall_s = step_wall_s
        self.bootstrap_wall_s = bootstrap_wall_s
        self.workload = workload or default_workload()
        self.seed = seed
        self.page_size = page_size
        self.eventlog_mode: EventLogMode = eventlog_mode
        self.price_table = price_table
        self.tick_s = tick_s
        self._server: Any = None
        self._endpoint: str | None = None
        self._lock = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._created = 0
        self._next_failures: list[_Failure] = []
        self._rules: list[tuple[str, _Failure]] = []
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._s3: Any = None
        self._saved_pages: dict[str, Any] = {}
        self._werkzeug_level: int | None = None

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> AwsSimulator:
        """Start the server and the ticker, and patch moto; return ``self``.

        :raises RuntimeError: when another simulator is running in this process.
        """
        with _ACTIVE_LOCK:
            if _Registry.active is not None:
                raise RuntimeError("Another AwsSimulator is running in this process; stop it first.")
            _Registry.active = self
        try:
            self._patch()
            werkzeug = logging.getLogger("werkzeug")
            self._werkzeug_level = werkzeug.level
            werkzeug.setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self._endpoint = f"http://{host}:{port}"
            self._s3 = self.client("s3")
            self.reset()  # moto's state is process-wide: start empty, whatever ran before
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="aws-simulator-ticker", daemon=True)
            self._ticker.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the ticker and the server, and undo the changes to moto (safe to call twice)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                self.reset()  # leave nothing behind for the next user of moto in this process
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None
        self._endpoint = None
        self._s3 = None
        self._unpatch()
        if self._werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)
            self._werkzeug_level = None
        with _ACTIVE_LOCK:
            if _Registry.active is self:
                _Registry.active = None

    def __enter__(self) -> AwsSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _patch(self) -> None:
        ElasticMapReduceResponse.run_job_flow = _run_job_flow  # type: ignore[method-assign]
        ElasticMapReduceResponse.list_instance_fleets = _list_instance_fleets  # type: ignore[attr-defined]
        ElasticMapReduceResponse.add_job_flow_steps = _add_job_flow_steps  # type: ignore[method-assign]
        if self.page_size:
            model = get_pagination_model("emr")
            for operation in _PAGED_OPERATIONS:
                self._saved_pages[operation] = model[operation].get("limit_default")
                model[operation]["limit_default"] = self.page_size

    def _unpatch(self) -> None:
        ElasticMapReduceResponse.run_job_flow = _original_run_job_flow  # type: ignore[method-assign]
        ElasticMapReduceResponse.add_job_flow_steps = _original_add_job_flow_steps  # type: ignore[method-assign]
        if hasattr(ElasticMapReduceResponse, "list_instance_fleets"):
            delattr(ElasticMapReduceResponse, "list_instance_fleets")
        if self._saved_pages:
            model = get_pagination_model("emr")
            for operation, value in self._saved_pages.items():
                model[operation]["limit_default"] = value
            self._saved_pages = {}

    # ------------------------------------------------------------------------------- endpoints

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._endpoint is None:
            raise RuntimeError(
                "The AwsSimulator is not running; call start() or use it as a context manager."
            )
        return self._endpoint

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` on this server (region and fake credentials set)."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": SIMULATOR_ACCESS_KEY_ID,
            "aws_secret_access_key": SIMULATOR_SECRET_ACCESS_KEY,
        }
        options.update(kwargs)
        factory: Any = boto3.client
        return factory(service, **options)

    def env(self) -> dict[str, str]:
        """Environment variables that point plain boto3 (no code changes) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": SIMULATOR_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SIMULATOR_SECRET_ACCESS_KEY,
        }

    def aws_connection_json(self) -> str:
        """JSON for ``AIRFLOW_CONN_AWS_DEFAULT`` (an ``aws`` connection with ``extra.endpoint_url``)."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": SIMULATOR_ACCESS_KEY_ID,
                "password": SIMULATOR_SECRET_ACCESS_KEY,
                "extra": {"endpoint_url": self.endpoint_url, "region_name": self.region},
            }
        )

    def create_bucket(self, name: str) -> None:
        """Create an S3 bucket in the simulator's region."""
        options: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self._s3.create_bucket(**options)

    def reset(self) -> None:
        """Forget every cluster, bucket and failure rule (moto's ``/moto-api/reset``)."""
        import requests

        with self._lock:
            self._runs.clear()
            self._created = 0
            self._next_failures.clear()
            self._rules.clear()
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    # -------------------------------------------------------------------------------- failures

    def fail_next(
        self, outcome: FailureOutcome = "STEP_FAILURE", message: str | None = None, *, step: int = 0
    ) -> None:
        """Make the next cluster started fail.

        :param outcome: ``STEP_FAILURE`` (step ``step`` fails; its ``ActionOnFailure`` decides what
            follows), or a cluster failure while bootstrapping (``BOOTSTRAP_FAILURE``,
            ``INTERNAL_ERROR``, ``VALIDATION_ERROR``, ``INSTANCE_FAILURE``).
        :param message: the step's failure message, or the cluster's state change message.
        :param step: index of the failing step in submission order (``-1``: the last).
        """
        self._check_outcome(outcome)
        with self._lock:
            self._next_failures.append(_Failure(outcome, message, step))

    def fail_when(
        self,
        name: str,
        outcome: FailureOutcome = "STEP_FAILURE",
        message: str | None = None,
        *,
        step: int = 0,
    ) -> None:
        """Make every cluster whose ``Name`` matches the glob ``name`` fail (see :meth:`fail_next`)."""
        self._check_outcome(outcome)
        with self._lock:
            self._rules.append((name, _Failure(outcome, message, step)))

    def clear_failures(self) -> None:
        """Forget :meth:`fail_next` and :meth:`fail_when` settings."""
        with self._lock:
            self._next_failures.clear()
            self._rules.clear()

    @staticmethod
    def _check_outcome(outcome: str) -> None:
        if outcome not in FAILURE_OUTCOMES:
            raise ValueError(f"Unknown outcome {outcome!r}; use one of {', '.join(FAILURE_OUTCOMES)}.")

    # --------------------------------------------------------------------------------- queries

    def run_job_flow_count(self) -> int:
        """How many clusters were created since start (or :meth:`reset`)."""
        with self._lock:
            return self._created

    def running_clusters(self) -> list[str]:
        """Ids of the clusters that are not ``TERMINATED*`` (sorted)."""
        with self._lock:
            return sorted(cid for cid, run in self._runs.items() if run.cluster.state not in _TERMINAL)

    def cluster_state(self, cluster_id: str) -> str:
        """The state of a cluster as DescribeCluster reports it.

        :raises KeyError: for a cluster this simulator did not see start.
        """
        with self._lock:
            return str(self._runs[cluster_id].cluster.state)

    def state_history(self, cluster_id: str) -> list[str]:
        """Every state the cluster went through, in order (``STARTING`` first)."""
        with self._lock:
            return list(self._runs[cluster_id].history)

    def eventlog_urls(self, cluster_id: str) -> list[str]:
        """The ``s3://`` URLs of the event logs written for a cluster."""
        with self._lock:
            return list(self._runs[cluster_id].eventlog_urls)

    def wait_until(self, cluster_id: str, state: str | Iterable[str], timeout: float = 10.0) -> str:
        """Wait (polling the in-process backend) until the cluster is in ``state``; return it.

        :raises TimeoutError: naming the state it is in.
        """
        wanted = {state} if isinstance(state, str) else set(state)
        deadline = time.monotonic() + timeout
        while True:
            current = self.cluster_state(cluster_id)
            if current in wanted:
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Cluster {cluster_id} is {current}, not {'/'.join(sorted(wanted))}, after {timeout:g} s."
                )
            time.sleep(min(0.01, self.tick_s))

    def terminate_all(self, timeout: float = 10.0) -> list[str]:
        """Terminate every running cluster and wait until they are terminated; return their ids."""
        running = self.running_clusters()
        for cluster_id in running:
            with self._lock:
                run = self._runs[cluster_id]
            self._terminate(run, "TERMINATED", "USER_REQUEST", "Terminated by user request")
        for cluster_id in running:
            self.wait_until(cluster_id, _TERMINAL, timeout)
        return running

    # --------------------------------------------------------------------------- RunJobFlow hook

    def _on_run_job_flow(self, response: Any, result: Any) -> None:
        cluster_id = result.result["JobFlowId"]
        backend = response.backend
        cluster = backend.clusters[cluster_id]
        try:
            request = json.loads(response.body) if response.body else {}
        except ValueError:
            request = {}
        with self._lock:
            self._created += 1
            failure = self._next_failures.pop(0) if self._next_failures else None
            if failure is None:
                for pattern, rule in self._rules:
                    if fnmatch.fnmatchcase(str(cluster.name or ""), pattern):
                        failure = rule
                        break
            now = time.monotonic()
            run = _Run(
                cluster=cluster,
                backend=backend,
                request=request,
                created=now,
                created_ms=int(time.time() * 1000),
                failure=failure,
                eventlog_mode=self.eventlog_mode,
                phase_until=now + self.bootstrap_wall_s / 2,
            )
            cluster.__class__ = _SimCluster
            cluster.sim_run = run
            cluster.sim_reason = ("", "Provisioning Amazon EC2 capacity")
            cluster.state = "STARTING"
            cluster.ready_datetime = None
            cluster.end_datetime = None
            for step in cluster.steps:
                self._adopt_step(step)
            for instance in cluster.ec2_instances:
                self._adopt_instance(run, instance)
            self._add_fleets(run, request)
            run.workers = self._workers(run)
            for group in cluster.instance_groups:
                group.state = "PROVISIONING"
            self._runs[cluster_id] = run

    def _on_add_steps(self, cluster_id: str) -> None:
        """AddJobFlowSteps: new steps wait their turn; a finished cluster cancels them."""
        run = self._runs.get(cluster_id)
        if run is None:
            return
        for step in run.cluster.steps:
            if not isinstance(step, _SimStep):
                self._adopt_step(step)
                if run.phase in _TERMINAL or run.phase == "TERMINATING":
                    step.state = "CANCELLED"
        if run.phase == "WAITING":
            self._set_phase(run, "RUNNING")
        else:
            run.cluster.state = run.phase  # moto says RUNNING whatever the state was

    @staticmethod
    def _adopt_step(step: Any) -> None:
        if not isinstance(step, _SimStep):
            step.__class__ = _SimStep
            step.state = "PENDING"
            step.start_date_time = None

    @staticmethod
    def _adopt_instance(
        run: _Run, instance: Any, fleet_id: str | None = None, market: str | None = None
    ) -> None:
        instance.__class__ = _SimInstance
        instance.sim_run = run
        instance.instance_fleet_id = fleet_id
        instance.sim_market = market

    def _add_fleets(self, run: _Run, request: dict[str, Any]) -> None:
        fleets = (request.get("Instances") or {}).get("InstanceFleets") or []
        counter = itertools.count(1)
        for fleet in fleets:
            fleet_id = f"if-{run.cluster.id[2:]}{next(counter)}"
            configs = fleet.get("InstanceTypeConfigs") or [{}]
            specs = []
            for config in configs:
                spec = {
                    "InstanceType": config.get("InstanceType"),
                    "WeightedCapacity": config.get("WeightedCapacity", 1),
                }
                for key in ("BidPrice", "BidPriceAsPercentageOfOnDemandPrice", "Configurations"):
                    if key in config:
                        spec[key] = config[key]
                ebs = config.get("EbsConfiguration") or {}
                devices = []
                for device in ebs.get("EbsBlockDeviceConfigs") or []:
                    devices += [{"VolumeSpecification": device.get("VolumeSpecification", {})}] * int(
                        device.get("VolumesPerInstance", 1)
                    )
                if devices:
                    spec["EbsBlockDevices"] = devices
                if "EbsOptimized" in ebs:
                    spec["EbsOptimized"] = ebs["EbsOptimized"]
                specs.append(spec)
            on_demand = int(fleet.get("TargetOnDemandCapacity") or 0)
            spot = int(fleet.get("TargetSpotCapacity") or 0)
            record: dict[str, Any] = {
                "Id": fleet_id,
                "Name": fleet.get("Name", fleet.get("InstanceFleetType", "").title()),
                "Status": {
                    "State": "PROVISIONING",
                    "StateChangeReason": {},
                    "Timeline": {"CreationDateTime": run.cluster.creation_datetime},
                },
                "InstanceFleetType": fleet.get("InstanceFleetType"),
                "TargetOnDemandCapacity": on_demand,
                "TargetSpotCapacity": spot,
                "ProvisionedOnDemandCapacity": 0,
                "ProvisionedSpotCapacity": 0,
                "InstanceTypeSpecifications": specs,
            }
            if fleet.get("LaunchSpecifications"):
                record["LaunchSpecifications"] = fleet["LaunchSpecifications"]
            run.fleets.append(record)
            itype = str(specs[0].get("InstanceType") or "m5.xlarge")
            weight = max(1, int(specs[0].get("WeightedCapacity") or 1))
            for market, units in (("ON_DEMAND", on_demand), ("SPOT", spot)):
                count = math.ceil(units / weight) if units else 0
                if not count:
                    continue
                reservation = run.backend.ec2_backend.run_instances(
                    EXAMPLE_AMI_ID, count, None, [], instance_type=itype, is_instance_type_default=False
                )
                for ec2_instance in reservation.instances:
                    stub = _NodeStub(str(fleet.get("InstanceFleetType")), market)
                    instance = EmrInstance(ec2_instance=ec2_instance, instance_group=cast(Any, stub))
                    self._adopt_instance(run, instance, fleet_id, market)
                    run.cluster.add_instance(instance)

    def _fleets_of(self, cluster_id: str) -> list[dict[str, Any]]:
        with self._lock:
            run = self._runs.get(cluster_id)
            return [dict(f) for f in run.fleets] if run else []

    def _vcpus(self, instance_type: str) -> int:
        try:
            return self.price_table.price_of(instance_type).vcpus
        except Exception:
            size = instance_type.split(".", 1)[-1]
            known = {"medium": 1, "large": 2, "xlarge": 4}
            if size in known:
                return known[size]
            multiple = size.removesuffix("xlarge")
            return 4 * int(multiple) if multiple.isdigit() else 4

    def _workers(self, run: _Run) -> list[tuple[str, int]]:
        """``(instance type, vCPUs)`` of the nodes executors run on (core and task; the master if alone)."""
        workers: list[tuple[str, int]] = []
        masters: list[tuple[str, int]] = []
        for instance in run.cluster.ec2_instances:
            role = str(instance.instance_group.role)
            entry = (str(instance.instance_type), self._vcpus(str(instance.instance_type)))
            (masters if role == "MASTER" else workers).append(entry)
        if not run.cluster.ec2_instances:
            for group in run.cluster.instance_groups:
                entry = (str(group.instance_type), self._vcpus(str(group.instance_type)))
                (masters if group.role == "MASTER" else workers).extend([entry] * int(group.num_instances))
        return workers or masters or [("m5.xlarge", 4)]

    # --------------------------------------------------------------------------------- the ticker

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                runs = list(self._runs.values())
            for run in runs:
                try:
                    with self._lock:
                        self._advance(run, time.monotonic())
                except Exception:  # keep ticking; a broken run must not stop the others
                    log.exception("AwsSimulator: advancing cluster %s failed", run.cluster.id)

    def _set_phase(self, run: _Run, phase: str, until: float = 0.0) -> None:
        run.phase = phase
        run.phase_until = until
        if run.history[-1] != phase:
            run.history.append(phase)
        run.cluster.state = phase
        group_state = {"STARTING": "PROVISIONING", "TERMINATING": "TERMINATING"}.get(phase, phase)
        if phase in ("RUNNING", "WAITING"):
            group_state = "RUNNING"
        if phase in _TERMINAL:
            group_state = "TERMINATED"
        for group in run.cluster.instance_groups:
            group.state = "ENDED" if group_state == "TERMINATED" else group_state
            if group_state == "TERMINATED":
                group.end_date_time = _utcnow()
        for fleet in run.fleets:
            fleet["Status"]["State"] = group_state
            if group_state == "RUNNING":
                fleet["ProvisionedOnDemandCapacity"] = fleet["TargetOnDemandCapacity"]
                fleet["ProvisionedSpotCapacity"] = fleet["TargetSpotCapacity"]
            if group_state == "TERMINATED":
                fleet["Status"]["Timeline"]["EndDateTime"] = _utcnow()
        run.instance_state = {
            "STARTING": "PROVISIONING",
            "BOOTSTRAPPING": "BOOTSTRAPPING",
            "TERMINATING": "RUNNING",
        }.get(phase, "TERMINATED" if phase in _TERMINAL else "RUNNING")

    def _advance(self, run: _Run, now: float) -> None:
        cluster = run.cluster
        if run.phase in _TERMINAL:
            cluster.state = run.phase  # moto's AddJobFlowSteps would otherwise say RUNNING
            return
        if run.phase == "STARTING":
            cluster.state = "STARTING"
            if now >= run.phase_until:
                cluster.sim_reason = ("", "Running bootstrap actions")
                self._set_phase(run, "BOOTSTRAPPING", run.created + self.bootstrap_wall_s)
            return
        if run.phase == "BOOTSTRAPPING":
            cluster.state = "BOOTSTRAPPING"
            if now < run.phase_until:
                return
            failure = run.failure
            if failure is not None and failure.outcome != "STEP_FAILURE":
                master = next((i.ec2_instance_id for i in cluster.ec2_instances), "i-0000000000000000")
                message = failure.message or _DEFAULT_MESSAGES[failure.outcome].format(master=master)
                self._cancel_steps(run)
                self._terminate(run, "TERMINATED_WITH_ERRORS", failure.outcome, message)
                return
            run.ready_dt = _utcnow()
            cluster.ready_datetime = run.ready_dt
            cluster.sim_reason = (None, None)
            self._set_phase(run, "RUNNING")
            self._run_steps(run, now)
            return
        if run.phase == "TERMINATING":
            cluster.state = "TERMINATING"
            if now >= run.phase_until and run.final is not None:
                state, code, message = run.final
                run.end_dt = _utcnow()
                cluster.end_datetime = run.end_dt
                cluster.sim_reason = (code, message)
                self._set_phase(run, state)
            return
        self._run_steps(run, now)

    def _steps_in_order(self, run: _Run) -> list[Any]:
        return sorted(run.cluster.steps, key=lambda s: s.creation_date_time)

    def _step_wall(self, run: _Run, steps_in_batch: int) -> float:
        if self.time_scale is None:
            return self.step_wall_s
        duration_s = generated_duration_ms(self._workload(run, start_ms=run.created_ms)) / 1000
        return duration_s * self.time_scale / max(1, steps_in_batch)

    def _run_steps(self, run: _Run, now: float) -> None:
        cluster = run.cluster
        step = run.current_step
        if step is not None:
            cluster.state = "RUNNING"
            if now < run.step_until:
                return
            self._finish_step(run, step)
            run.current_step = None
            if run.phase == "TERMINATING":
                return
        pending = [s for s in self._steps_in_order(run) if s.state in ("PENDING", "RUNNING")]
        for later in pending:
            self._adopt_step(later)
        if pending:
            self._start_step(run, pending[0], len(pending), now)
            return
        if run.batch_active:
            run.batch_active = False
            if not run.batch_failed:
                self._write_eventlog(run)
            if run.keep_alive:
                cluster.sim_reason = (None, None)
                self._set_phase(run, "WAITING")
            elif run.batch_failed:
                self._terminate(run, "TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Steps completed with errors")
            else:
                self._terminate(run, "TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")
            return
        if run.phase == "RUNNING":  # no steps at all
            if run.keep_alive:
                cluster.sim_reason = (None, None)
                self._set_phase(run, "WAITING")
            else:
                self._terminate(run, "TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")
            return
        cluster.state = run.phase

    def _start_step(self, run: _Run, step: Any, pending: int, now: float) -> None:
        cluster = run.cluster
        if not run.batch_active:
            run.batch_active = True
            run.batch_failed = False
            run.batch_started_ms = int(time.time() * 1000)
        self._set_phase(run, "RUNNING")
        step.state = "RUNNING"
        step.start_date_time = _utcnow()
        run.current_step = step
        run.step_until = now + self._step_wall(run, pending + run.step_index)
        failure = run.failure
        total = len(cluster.steps)
        run.step_fails_with = None
        if failure is not None and failure.outcome == "STEP_FAILURE":
            target = failure.step if failure.step >= 0 else total + failure.step
            if target == run.step_index:
                run.step_fails_with = failure.message or _DEFAULT_MESSAGES["STEP_FAILURE"]
        if run.step_fails_with is None:
            missing = self._missing_eventlog_dir(run)
            if missing:
                run.step_fails_with = missing
        run.step_index += 1

    def _finish_step(self, run: _Run, step: Any) -> None:
        step.end_date_time = _utcnow()
        if run.step_fails_with is None:
            step.state = "COMPLETED"
            return
        step.state = "FAILED"
        log_uri = str(run.request.get("LogUri") or "").rstrip("/")
        details = {"Reason": "Unknown Error.", "Message": run.step_fails_with}
        if log_uri:
            details["LogFile"] = f"{log_uri}/{run.cluster.id}/steps/{step.id}/stderr.gz"
        step.sim_failure = details
        run.batch_failed = True
        action = str(step.action_on_failure or "TERMINATE_CLUSTER")
        if action in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
            self._cancel_steps(run)
            run.batch_active = False
            self._terminate(run, "TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")
        elif action == "CANCEL_AND_WAIT":
            self._cancel_steps(run)

    def _cancel_steps(self, run: _Run) -> None:
        for step in run.cluster.steps:
            if step.state in ("PENDING", "RUNNING") and step is not run.current_step:
                self._adopt_step(step)
                step.state = "CANCELLED"
                step.end_date_time = _utcnow()

    def _terminate(self, run: _Run, state: str, code: str, message: str) -> None:
        with self._lock:
            if run.phase in _TERMINAL or run.phase == "TERMINATING":
                return
            if run.current_step is not None:
                step = run.current_step
                step.state = "CANCELLED" if code == "USER_REQUEST" else step.state
                step.end_date_time = step.end_date_time or _utcnow()
                run.current_step = None
            if code == "USER_REQUEST":
                self._cancel_steps(run)
            run.final = (state, code, message)
            run.cluster.sim_reason = (code, message)
            self._set_phase(run, "TERMINATING", time.monotonic() + self.bootstrap_wall_s / 2)

    # ------------------------------------------------------------------------------- event logs

    def _spark_defaults(self, run: _Run) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for entry in run.request.get("Configurations") or []:
            if isinstance(entry, dict) and entry.get("Classification") == "spark-defaults":
                properties.update(entry.get("Properties") or {})
        return properties

    def _eventlog_target(self, run: _Run) -> tuple[str, str] | None:
        props = self._spark_defaults(run)
        directory = str(props.get("spark.eventLog.dir") or "")
        if str(props.get("spark.eventLog.enabled", "false")).strip().lower() != "true":
            return None
        if not directory.startswith(("s3://", "s3a://", "s3n://")):
            return None
        bucket, _, key = directory.split("://", 1)[1].partition("/")
        return bucket, (key if not key or key.endswith("/") else key + "/")

    def _missing_eventlog_dir(self, run: _Run) -> str | None:
        target = self._eventlog_target(run)
        if target is None:
            return None
        bucket, prefix = target
        try:
            page = self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/"), MaxKeys=1)
            exists = bool(page.get("KeyCount"))
        except Exception:
            exists = False
        if exists:
            return None
        return (
            "Exception in thread main: java.io.FileNotFoundException: No such file or directory: "
            f"s3a://{bucket}/{prefix.rstrip('/')} (spark.eventLog.dir does not exist)"
        )

    def _workload(self, run: _Run, *, start_ms: int, app_number: int = 1) -> WorkloadSpec:
        slots = sum(v for _, v in run.workers)
        executors = len(run.workers)
        values = self.workload.model_dump()
        values.update(
            {
                "executors": executors,
                "cores_per_executor": max(1, round(slots / executors)),
                "start_ms": start_ms,
                "app_id": f"application_{run.created_ms}_{app_number:04d}",
                "cluster_id": run.cluster.id,
                "platform": "emr",
                "region": self.region,
                "seed": self.seed,
                "emr_release_label": run.request.get("ReleaseLabel") or self.workload.emr_release_label,
                "spark_properties": {**self.workload.spark_properties, **self._spark_defaults(run)},
            }
        )
        return WorkloadSpec(**values)

    def _write_eventlog(self, run: _Run) -> None:
        target = self._eventlog_target(run)
        if target is None or run.eventlog_mode == "missing":
            return
        run.batches += 1
        spec = self._workload(run, start_ms=run.batch_started_ms, app_number=run.batches)
        bucket, prefix = target
        name = spec.resolved_app_id + (".inprogress" if run.eventlog_mode == "inprogress" else "")
        drop_end = run.eventlog_mode in ("inprogress", "no_end")
        body = "".join(
            json.dumps(event, separators=(",", ":")) + "\n"
            for event in self._events(spec)
            if not (drop_end and event.get("Event") == "SparkListenerApplicationEnd")
        ).encode()
        try:
            self._s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
        except Exception:
            log.exception("AwsSimulator: writing the event log of %s failed", run.cluster.id)
            return
        run.eventlog_urls.append(f"s3://{bucket}/{prefix}{name}")

    @staticmethod
    def _events(spec: WorkloadSpec) -> Iterator[dict[str, Any]]:
        yield from generate_events(spec)
