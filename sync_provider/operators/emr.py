"""Airflow operators that launch EMR clusters for Sync runs and record finished runs as predictions.

Importing this module is cheap: boto3, the Amazon provider's hooks, the core's EMR functions and the
trigger are imported when a task runs.
"""

from __future__ import annotations

import ast
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

from sync_provider.core.backoff import Backoff
from sync_provider.core.errors import SyncError
from sync_provider.core.models import Preference
from sync_provider.hooks.sync import SyncHook, to_airflow_error
from sync_provider.links.emr import SyncEmrClusterLink
from sync_provider.links.sync import SyncPredictionLink
from sync_provider.operators._deferral import defer_until, successful_event
from sync_provider.operators._launch import (
    LaunchMixin,
    check_on_code_change,
    prediction_choice,
    successful_prediction,
    task_state_store,
    try_number,
    unwrap,
    validated_id,
)

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.emr import EmrHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import Context

    from sync_provider.core.emr import ClusterState
    from sync_provider.core.fingerprint import CodeFingerprint
    from sync_provider.core.models import Prediction

#: Default overall wait for a cluster, in seconds (EMR runs take hours; a deferred wait costs nothing).
DEFAULT_CLUSTER_TIMEOUT_S = 6 * 3600.0
#: ``task_state_store`` key holding the cluster of this task instance across retries.
STATE_KEY = "sync_emr_cluster"
#: XCom key of the Sync run id (the cluster's ``sync:run-id`` tag).
XCOM_RUN_ID = "sync_run_id"
#: XCom key of the run's S3 folder (``s3://.../<project id>/<time>/<run id>/``).
XCOM_RUN_PREFIX = "sync_run_prefix"
#: XCom key of the prediction a cluster was launched from.
XCOM_PREDICTION_ID = "sync_prediction_id"
#: XCom key of the predicted metrics of the solution a cluster was launched from.
XCOM_SOLUTION_METRICS = "solution_metrics"
#: Namespace of the deterministic Sync run ids (UUID5) derived from Airflow task instances.
RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://synccomputing.com/airflow/emr-run")


def derive_sync_run_id(dag_id: str, task_id: str, run_id: str, map_index: int | None = None) -> str:
    """Return the Sync run id of a task instance's cluster: a UUID5 of its identity.

    The same task instance always gets the same id, so that a retry finds the cluster an earlier
    attempt started (by its ``sync:run-id`` tag) instead of launching a second one.

    :param dag_id: the DAG id.
    :param task_id: the task id.
    :param run_id: the Airflow DAG run id.
    :param map_index: the map index (``-1`` or ``None`` for an unmapped task).
    """
    parts = [dag_id, task_id, run_id, str(-1 if map_index is None else map_index)]
    return str(uuid.uuid5(RUN_ID_NAMESPACE, "\x1f".join(parts)))


#: How far back a retry looks for an earlier try's cluster that it has no record of.
UNTRACKED_LOOKBACK = timedelta(days=7)


def relaunch_run_id(base: str, launch: int) -> str:
    """Return the run id of the ``launch``-th relaunch of a task instance (``0``: ``base`` itself).

    A task instance launches again after its earlier cluster failed, or when it is cleared after
    finishing; each launch is a new Sync run and needs its own id.
    """
    return base if not launch else str(uuid.uuid5(RUN_ID_NAMESPACE, f"{base}\x1f{launch}"))


def parse_job_flow(value: Any, name: str = "job_flow_overrides") -> dict[str, Any]:
    """Return a RunJobFlow request given as a dict, a JSON string or a Python-literal string.

    Jinja renders a dict into its Python ``repr`` (single quotes), which is why that form is accepted.

    :raises AirflowException: naming ``name`` when the value is not a JSON object.
    """
    if value is None or value == "":
        return {}
    parsed: Any = value
    if isinstance(value, bytes | str):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            try:
                parsed = ast.literal_eval(text.strip())
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                reason = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
                raise AirflowException(
                    f"{name} is a string but neither JSON nor a Python dict literal ({reason}); pass a "
                    "dict or a JSON object string."
                ) from None
    if not isinstance(parsed, Mapping):
        raise AirflowException(f"{name} must be a JSON object (dict), got {type(parsed).__name__}.")
    return dict(parsed)


def check_cluster_event(event: Mapping[str, Any] | None, *, what: str) -> str:
    """Return the cluster id of a successful ``SyncEmrClusterTrigger`` event.

    :raises AirflowException: for a missing event or any status other than ``success``.
    """
    return str(successful_event(event, "cluster_id", what=what, finished="the cluster finished"))


class _AwsMixin:
    """AWS connection arguments shared by the EMR tasks, and the Amazon provider's hooks built from them."""

    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None
    if TYPE_CHECKING:
        log: Any

    def _hook_kwargs(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name or None,
            "verify": self.verify,
            "config": self.botocore_config,
        }

    @cached_property
    def emr_hook(self) -> EmrHook:
        """The Amazon provider's ``EmrHook`` (``aws_conn_id``, ``emr_conn_id``, ``region_name``...)."""
        from airflow.providers.amazon.aws.hooks.emr import EmrHook

        return EmrHook(emr_conn_id=getattr(self, "emr_conn_id", None), **self._hook_kwargs())

    @cached_property
    def s3_hook(self) -> S3Hook:
        """The Amazon provider's ``S3Hook`` on the same AWS connection."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(**self._hook_kwargs())

    @property
    def emr_client(self) -> Any:
        """The boto3 EMR client of :attr:`emr_hook`."""
        return self.emr_hook.get_conn()

    def _persist_cluster_link(self, context: Context, cluster_id: str) -> None:
        hook = self.emr_hook
        region: str | None = self.region_name
        partition: str | None = None
        try:
            region, partition = hook.conn_region_name, hook.conn_partition
        except Exception:
            self.log.debug("Region of the EMR client unknown; the link uses region_name")
        SyncEmrClusterLink.persist(
            context,
            self,  # type: ignore[arg-type]
            cluster_id=cluster_id,
            region_name=region,
            partition=partition,
        )

    def _trigger_kwargs(self) -> dict[str, Any]:
        """What the trigger needs to rebuild the client in the triggerer (airflow#72144)."""
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name or None,
            "verify": self.verify,
            "botocore_config": dict(self.botocore_config) if self.botocore_config else None,
        }


@dataclass(frozen=True)
class _Run:
    cluster_id: str
    sync_run_id: str
    run_prefix: str
    generation: int
    attached: bool = False
    state: ClusterState | None = None
    prediction_id: str | None = None
    solution_metrics: dict[str, Any] | None = None


class SyncEmrCreateJobFlowOperator(_AwsMixin, LaunchMixin, BaseOperator):
    """Launch an EMR cluster for a Sync run: from a RunJobFlow request, or from a Sync prediction.

    The cluster gets Sync's tags (``sync:project-id``, ``sync:run-id``) and writes its Spark event
    log to the run's folder under ``project_location``; your own tags, configurations, steps and
    settings are kept (see :func:`sync_provider.core.emr.launch_job_flow`). With ``prediction_id``
    the chosen solution's instances and configurations are applied to ``job_flow_overrides``
    (:func:`sync_provider.core.emr.run_job_flow_from_prediction`), so steps, roles, tags and the log
    URI of your request are kept. An invalid request or prediction fails the task before anything
    is created.

    Pushes the cluster id as the return value, the Sync run id (XCom key ``sync_run_id``) and the
    run's S3 folder (``sync_run_prefix``), and stores a link to the cluster in the AWS console
    (``sync_emr_cluster``). Launched from a prediction it also pushes the prediction id
    (``sync_prediction_id``) and the solution's predicted metrics (``solution_metrics``).

    **Retries.** The Sync run id is derived from the task instance (DAG id, task id, run id, map
    index), and the cluster id is kept in ``task_state_store`` (Airflow 3.3+): a retry after a
    worker crash re-attaches to the cluster the earlier attempt started instead of launching
    another. A retry after the cluster failed (or was terminated) launches a new cluster with a new
    run id.

    **Waiting.** With ``wait_for_completion`` the task waits until the cluster terminates; success
    is ``TERMINATED`` with ``ALL_STEPS_COMPLETED`` (a cluster that only reached ``WAITING`` or
    ``RUNNING`` has not finished). Any other end (``STEP_FAILURE``, ``BOOTSTRAP_FAILURE``,
    ``USER_REQUEST``...) fails the task naming the state, reason and failed step. With
    ``deferrable`` the wait happens in the triggerer. ``deferrable`` without ``wait_for_completion``
    does not wait.

    **Kill.** Marking the task failed or successful, or clearing it while it runs or is deferred,
    terminates the cluster it started (``on_kill``, and the trigger's ``on_kill`` on Airflow 3.3).

    .. seealso::
        :ref:`howto/operator:SyncEmrCreateJobFlowOperator`

    :param project_id: the Sync project of the run. (templated)
    :param project_location: ``s3://bucket[/prefix]`` folder of the project's runs. (templated)
    :param job_flow_overrides: RunJobFlow keyword arguments (a dict or a JSON string),
        shallow-merged over the ``emr_conn_id`` connection's extra as in ``EmrCreateJobFlowOperator``;
        the base request when launching from a prediction. (templated; unlike there, a string ending
        in ``.json`` is not read as a template file, so that S3 paths of step arguments stay as they
        are: use ``"{% include 'job_flow.json' %}"`` to read one)
    :param prediction_id: launch from this prediction's solution instead. (templated)
    :param preference: the solution to apply: ``performance``, ``balanced`` or ``economy``. (templated)
    :param sync_run_id: the Sync run id to use (default: derived from the task instance). (templated)
    :param aws_conn_id: the ``aws`` connection (``None``: boto3's default credentials). (templated)
    :param emr_conn_id: the ``emr`` connection whose extra is the base RunJobFlow request. (templated)
    :param region_name: the AWS region (default: the connection's). (templated)
    :param verify: TLS verification for AWS (``False`` or a CA bundle path).
    :param botocore_config: botocore ``Config`` keyword arguments.
    :param sync_conn_id: the ``sync`` connection (to read the prediction). (templated)
    :param wait_for_completion: wait until the cluster has terminated.
    :param deferrable: wait in the triggerer instead of a worker slot (with ``wait_for_completion``).
    :param poll_interval: first delay between state checks, in seconds (grows to ``max_poll_interval``).
    :param max_poll_interval: largest delay between state checks, in seconds.
    :param timeout: how long to wait for the cluster, in seconds.
    :param terminate_on_failure: terminate the cluster when waiting fails without the cluster having
        ended (timeout, AWS errors); a cluster that failed has terminated already.
    :param allow_cross_platform: accept a prediction made on Databricks: its solution is translated
        to EMR (:func:`sync_provider.core.crossplatform.apply_cross_platform_solution`) and what could
        not be carried over is logged as warnings. Without it such a prediction fails the task before
        anything is launched.
    :param on_code_change: what to do when the code fingerprint of the steps and bootstrap actions
        differs from the prediction's basis run: ``"warn"`` (log a warning naming both fingerprints
        and what changed) or ``"fail"`` (fail the task before anything is launched). Every launch
        records its fingerprint (the ``sync:code-hash`` tag and ``code-fingerprint.json`` in the run
        folder). (templated)
    """

    template_fields: Sequence[str] = (
        "project_id",
        "project_location",
        "job_flow_overrides",
        "prediction_id",
        "preference",
        "sync_run_id",
        "aws_conn_id",
        "emr_conn_id",
        "region_name",
        "sync_conn_id",
        "on_code_change",
    )
    template_fields_renderers = {"job_flow_overrides": "json"}
    operator_extra_links = (SyncEmrClusterLink(),)
    ui_color = "#f9c915"

    # What LaunchMixin says of this operator.
    _target_platform = "aws-emr"
    _launched = "launched"
    _translated_log = "Prediction %s was made on Databricks: its %s solution is translated to EMR"
    _unsaved_fingerprint_log = "The run has no folder: its code fingerprint %s was not saved"

    def __init__(
        self,
        *,
        project_id: str,
        project_location: str,
        job_flow_overrides: dict[str, Any] | str | None = None,
        prediction_id: str | None = None,
        preference: str = Preference.ECONOMY.value,
        sync_run_id: str | None = None,
        aws_conn_id: str | None = "aws_default",
        emr_conn_id: str | None = "emr_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        sync_conn_id: str = SyncHook.default_conn_name,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 15.0,
        max_poll_interval: float = 60.0,
        timeout: float = DEFAULT_CLUSTER_TIMEOUT_S,
        terminate_on_failure: bool = True,
        allow_cross_platform: bool = False,
        on_code_change: str = "warn",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.project_location = project_location
        self.job_flow_overrides = job_flow_overrides
        self.prediction_id = prediction_id
        self.preference = preference
        self.sync_run_id = sync_run_id
        self.aws_conn_id = aws_conn_id
        self.emr_conn_id = emr_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.sync_conn_id = sync_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.terminate_on_failure = terminate_on_failure
        self.allow_cross_platform = allow_cross_platform
        self.on_code_change = on_code_change
        self._cluster_id: str | None = None
        self._launching_run_id: str | None = None

    @cached_property
    def sync_hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    # -- the request -------------------------------------------------------------------------------

    def _connection_template(self) -> dict[str, Any]:
        """The ``emr_conn_id`` connection's extra (an empty template when there is none)."""
        if not self.emr_conn_id:
            return {}
        try:
            conn = self.emr_hook.get_connection(self.emr_conn_id)
        except AirflowNotFoundException:
            self.log.info("No connection %r; the request is job_flow_overrides alone", self.emr_conn_id)
            return {}
        if conn.conn_type and conn.conn_type != "emr":
            self.log.warning(
                "Connection %r has type %r, not 'emr'; its extra is used as the base request anyway",
                self.emr_conn_id,
                conn.conn_type,
            )
        return dict(conn.extra_dejson)

    def _base_request(self) -> dict[str, Any]:
        overrides = parse_job_flow(self.job_flow_overrides)
        return {**self._connection_template(), **overrides}

    def _prediction_request(
        self, base: dict[str, Any], sync_run_id: str
    ) -> tuple[dict[str, Any], str, dict[str, Any], Prediction]:
        """The request from the prediction's solution; also the prediction id, the solution's metrics
        and the prediction."""
        from sync_provider.core.emr import run_job_flow_from_prediction

        prediction_id, preference = prediction_choice(self.prediction_id, self.preference)
        try:
            prediction = self.sync_hook.get_prediction(prediction_id, preference.value)
        except AirflowException as exc:
            raise AirflowException(f"Cannot read prediction {prediction_id}: {exc}") from exc
        prediction = successful_prediction(
            self.sync_hook, prediction, prediction_id, preference, then="before launching from it."
        )
        request, metrics = self._apply_prediction(
            prediction,
            preference,
            prediction_id,
            base,
            project_id=self.project_id,
            project_location=self.project_location,
            apply=lambda: run_job_flow_from_prediction(
                prediction,
                preference,
                base,
                project_id=self.project_id,
                project_location=self.project_location,
                run_id=sync_run_id,
            ),
        )
        self.log.info(
            "Launching from prediction %s, %s solution: predicted runtime %.1f min, cost $%.2f",
            prediction_id,
            preference.value,
            metrics["runtime"],
            metrics["cost"],
        )
        return request, prediction_id, metrics, prediction

    # -- the code fingerprint ----------------------------------------------------------------------

    def _fingerprint(
        self, request: dict[str, Any], prediction: Prediction | None, on_code_change: str
    ) -> CodeFingerprint:
        """Fingerprint the request's code; compare it with the prediction's basis run (may raise)."""
        from sync_provider.core.fingerprint import fingerprint_emr

        s3 = self.s3_hook.get_conn()
        current: CodeFingerprint = unwrap(fingerprint_emr(request, s3_client=s3))
        return self._compare_fingerprint(
            current, prediction, on_code_change, project_location=self.project_location, s3_client=s3
        )

    # -- retries -----------------------------------------------------------------------------------

    def _base_run_id(self, context: Context) -> str:
        if self.sync_run_id:
            return validated_id(self.sync_run_id, "sync_run_id")
        ti: Any = context.get("ti") or context.get("task_instance")
        run_id = getattr(ti, "run_id", None) or context.get("run_id")
        if not run_id:
            self.log.warning(
                "No Airflow run id in the context: using a random Sync run id (a retry cannot re-attach)"
            )
            return str(uuid.uuid4())
        return derive_sync_run_id(
            str(getattr(ti, "dag_id", None) or self.dag_id),
            str(getattr(ti, "task_id", None) or self.task_id),
            str(run_id),
            getattr(ti, "map_index", None),
        )

    def _stored_run(self, store: Any) -> tuple[_Run | None, int]:
        """Re-attach to the cluster stored by an earlier attempt, or say which generation to launch."""
        from sync_provider.core.emr import get_cluster_state

        if store is None:
            self.log.info(
                "No task_state_store (Airflow < 3.3 or outside a task runner); retries re-attach by tag"
            )
            return None, 0
        try:
            stored = store.get(STATE_KEY)
        except Exception as exc:
            self.log.warning("Could not read %r from task_state_store: %s", STATE_KEY, exc)
            return None, 0
        if not isinstance(stored, Mapping) or not stored.get("cluster_id"):
            return None, 0
        cluster_id = str(stored["cluster_id"])
        generation = int(stored.get("generation") or 0)
        if stored.get("done"):
            self.log.info(
                "Cluster %s belongs to an earlier, finished run of this task; launching anew", cluster_id
            )
            return None, generation + 1
        try:
            state: ClusterState = get_cluster_state(self.emr_client, cluster_id).unwrap()
        except SyncError as exc:
            self.log.warning(
                "Cannot read the stored cluster %s (%s); launching anew", cluster_id, exc.message
            )
            return None, generation + 1
        if state.terminal and not state.succeeded:
            self.log.info(
                "The earlier attempt's cluster %s ended %s; launching anew", cluster_id, state.describe()
            )
            return None, generation + 1
        self.log.info(
            "Re-attaching to cluster %s started by an earlier attempt (%s)", cluster_id, state.describe()
        )
        run = _Run(
            cluster_id=cluster_id,
            sync_run_id=str(stored.get("sync_run_id") or ""),
            run_prefix=str(stored.get("run_prefix") or ""),
            generation=generation,
            attached=True,
            state=state,
            prediction_id=stored.get("prediction_id") or None,
            solution_metrics=stored.get("solution_metrics") or None,
        )
        return run, generation

    @staticmethod
    def _remember(store: Any, run: _Run, *, done: bool, log: Any) -> None:
        if store is None:
            return
        value = {
            "cluster_id": run.cluster_id,
            "sync_run_id": run.sync_run_id,
            "run_prefix": run.run_prefix,
            "generation": run.generation,
            "done": done,
        }
        if run.prediction_id:
            value["prediction_id"] = run.prediction_id
            value["solution_metrics"] = run.solution_metrics
        try:
            store.set(STATE_KEY, value)
        except Exception as exc:
            log.warning("Could not store the cluster in task_state_store: %s", exc)

    def _mark_done(self, context: Context, cluster_id: str) -> None:
        store = task_state_store(context)
        if store is None:
            return
        try:
            stored = store.get(STATE_KEY)
            if isinstance(stored, Mapping) and stored.get("cluster_id") == cluster_id:
                store.set(STATE_KEY, {**stored, "done": True})
        except Exception as exc:
            self.log.warning("Could not update task_state_store: %s", exc)

    # -- execute -----------------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        """Launch (or re-attach to) the cluster, push its ids and link; wait when asked."""
        from sync_provider.core.emr import launch_job_flow
        from sync_provider.core.fingerprint import add_code_hash_to_emr_request

        on_code_change = check_on_code_change(self.on_code_change, launched=self._launched)
        base_run_id = self._base_run_id(context)
        store = task_state_store(context)
        run, generation = self._stored_run(store)
        if run is None and store is not None and try_number(context) > 1:
            run, generation = self._untracked_run(base_run_id, generation)
            if run is not None:
                self._remember(store, run, done=False, log=self.log)
        if run is None:
            prediction_id: str | None = None
            solution_metrics: dict[str, Any] | None = None
            sync_run_id = relaunch_run_id(base_run_id, generation)
            request = self._base_request()
            prediction: Prediction | None = None
            if self.prediction_id:
                request, prediction_id, solution_metrics, prediction = self._prediction_request(
                    request, sync_run_id
                )
            current = self._fingerprint(request, prediction, on_code_change)
            request = add_code_hash_to_emr_request(request, current)
            self._launching_run_id = sync_run_id
            launched = unwrap(
                launch_job_flow(
                    self.emr_client,
                    self.s3_hook.get_conn(),
                    request,
                    project_id=self.project_id,
                    project_location=self.project_location,
                    run_id=sync_run_id,
                )
            )
            self._cluster_id = launched.cluster_id
            self._stop_if_killed(launched.cluster_id)
            run = _Run(
                cluster_id=launched.cluster_id,
                sync_run_id=launched.run_id,
                run_prefix=launched.run_prefix,
                generation=generation,
                attached=launched.attached,
                prediction_id=prediction_id,
                solution_metrics=solution_metrics,
            )
            self._remember(store, run, done=False, log=self.log)
            self._save_fingerprint(current, run.run_prefix, s3_client=self.s3_hook.get_conn())
            self.log.info(
                "%s EMR cluster %s for Sync run %s (%s)",
                "Re-attached to" if run.attached else "Started",
                run.cluster_id,
                run.sync_run_id,
                run.run_prefix,
            )
        self._cluster_id = run.cluster_id
        self._push(context, run)

        if not self.wait_for_completion:
            self._mark_done(context, run.cluster_id)
            return run.cluster_id
        if run.state is not None and run.state.succeeded:
            self._mark_done(context, run.cluster_id)
            return run.cluster_id
        self._stop_if_killed(run.cluster_id)
        if self.deferrable:
            self._defer(run.cluster_id)
        self._wait(run.cluster_id)
        self._mark_done(context, run.cluster_id)
        return run.cluster_id

    def _killed_message(self, cluster_id: str) -> str:
        return f"The task was killed while launching EMR cluster {cluster_id}; the cluster was terminated."

    def _untracked_run(self, base_run_id: str, generation: int) -> tuple[_Run | None, int]:
        """A retry whose earlier try left no record: find that try's cluster by tag, even if it ended.

        The earlier try may have died between RunJobFlow's answer and writing ``task_state_store``;
        its cluster may have finished while nobody watched. A finished (or still running) cluster is
        adopted; one that failed means launching anew under the next generation's run id.
        """
        from sync_provider.core.emr import (
            describe_cluster,
            find_cluster_by_run_id,
            get_cluster_state,
            run_location_of,
        )

        since = datetime.now(UTC) - UNTRACKED_LOOKBACK
        while True:
            run_id = relaunch_run_id(base_run_id, generation)
            cluster_id = unwrap(
                find_cluster_by_run_id(self.emr_client, run_id, created_after=since, include_terminated=True)
            )
            if not cluster_id:
                return None, generation
            state: ClusterState = unwrap(get_cluster_state(self.emr_client, cluster_id))
            if state.terminal and not state.succeeded:
                self.log.info(
                    "An earlier try's cluster %s (run %s) ended %s; launching anew",
                    cluster_id,
                    run_id,
                    state.describe(),
                )
                generation += 1
                continue
            try:
                location = run_location_of(describe_cluster(self.emr_client, cluster_id))
            except SyncError as exc:
                raise to_airflow_error(exc) from exc
            self.log.info(
                "Adopting cluster %s of run %s, started by an earlier try that kept no record (%s)",
                cluster_id,
                run_id,
                state.describe(),
            )
            return (
                _Run(
                    cluster_id=cluster_id,
                    sync_run_id=run_id,
                    run_prefix=location.run_prefix,
                    generation=generation,
                    attached=True,
                    state=state,
                ),
                generation,
            )

    def _push(self, context: Context, run: _Run) -> None:
        self._persist_cluster_link(context, run.cluster_id)
        if not self.do_xcom_push:
            return
        ti = context["ti"]
        if run.sync_run_id:
            ti.xcom_push(key=XCOM_RUN_ID, value=run.sync_run_id)
        if run.run_prefix:
            ti.xcom_push(key=XCOM_RUN_PREFIX, value=run.run_prefix)
        if run.prediction_id:
            ti.xcom_push(key=XCOM_PREDICTION_ID, value=run.prediction_id)
        if run.solution_metrics is not None:
            ti.xcom_push(key=XCOM_SOLUTION_METRICS, value=run.solution_metrics)

    def _defer(self, cluster_id: str) -> None:
        from sync_provider.triggers.emr import SyncEmrClusterTrigger

        trigger = SyncEmrClusterTrigger(
            cluster_id=cluster_id,
            poll_interval=self.poll_interval,
            max_poll_interval=max(self.poll_interval, self.max_poll_interval),
            end_time=time.time() + self.timeout,
            terminate_on_kill=True,
            **self._trigger_kwargs(),
        )
        defer_until(self, trigger, until=f"EMR cluster {cluster_id} terminates", timeout=self.timeout)

    def _wait(self, cluster_id: str) -> None:
        from sync_provider.core.emr import EMRTimeoutError, wait_for_cluster

        def progress(state: ClusterState, waited: float) -> None:
            self.log.info("EMR cluster %s is %s after %.0f s", cluster_id, state.describe(), waited)

        poll = Backoff(initial=self.poll_interval, maximum=max(self.poll_interval, self.max_poll_interval))
        response = wait_for_cluster(
            self.emr_client, cluster_id, timeout_s=self.timeout, poll=poll, on_state=progress
        )
        if response.error is None:
            self.log.info("EMR cluster %s completed all its steps", cluster_id)
            return
        try:
            response.unwrap()
        except EMRTimeoutError as exc:
            raise AirflowException(str(exc) + self._terminate_after_failure(cluster_id)) from exc
        except SyncError as exc:
            ended = isinstance(exc.detail, Mapping) and exc.detail.get("reason") == "failed"
            suffix = "" if ended else self._terminate_after_failure(cluster_id)
            raise AirflowException(str(exc) + suffix) from exc

    def _terminate_after_failure(self, cluster_id: str) -> str:
        """Terminate the cluster when ``terminate_on_failure``; return a sentence for the error."""
        if not self.terminate_on_failure:
            return " The cluster was left running (terminate_on_failure=False)."
        from sync_provider.core.emr import terminate_cluster

        response = terminate_cluster(self.emr_client, cluster_id)
        if response.error is not None:
            self.log.error("Could not terminate EMR cluster %s: %s", cluster_id, response.error.message)
            return f" Terminating the cluster failed too: {response.error.message}"
        self.log.info("Terminated EMR cluster %s after the failure", cluster_id)
        return " The cluster was terminated (terminate_on_failure=True)."

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return the cluster id, or raise on any other outcome."""
        if (
            isinstance(event, Mapping)
            and event.get("status") in ("timeout", "error")
            and event.get("cluster_id")
        ):
            cluster_id = str(event["cluster_id"])
            message = str(event.get("message") or f"Waiting for EMR cluster {cluster_id} failed.")
            raise AirflowException(message + self._terminate_after_failure(cluster_id))
        cluster_id = check_cluster_event(event, what=self.task_id)
        self._mark_done(context, cluster_id)
        self.log.info("EMR cluster %s completed all its steps", cluster_id)
        return cluster_id

    def on_kill(self) -> None:
        """Terminate the cluster this task started; never raises.

        Airflow calls it from the task's SIGTERM handler, in the middle of whatever ``execute`` is
        doing, and sends SIGKILL five seconds later. While RunJobFlow is in flight the cluster id is
        not known yet: the kill is remembered, and ``execute`` terminates the cluster as soon as
        RunJobFlow answers (a tag search here would hold up that answer for seconds).
        """
        from sync_provider.core.emr import terminate_cluster

        self._killed = True
        cluster_id = self._cluster_id
        if not cluster_id:
            if self._launching_run_id:
                self.log.info(
                    "Task killed while launching run %s: its cluster is terminated as soon as RunJobFlow "
                    "answers",
                    self._launching_run_id,
                )
            return
        try:
            state = terminate_cluster(self.emr_client, cluster_id).unwrap()
            self.log.info("Task killed: EMR cluster %s is %s", cluster_id, state)
        except Exception as exc:
            self.log.error("Task killed, but EMR cluster %s could not be terminated: %s", cluster_id, exc)


class SyncEmrRecordRunOperator(_AwsMixin, BaseOperator):
    """Record a finished EMR run with Sync: report, event log, prediction.

    Calls :func:`sync_provider.core.emr.record_run`: it refuses a cluster that did not finish
    successfully (naming the state, reason and failed step) or has not finished yet, saves the
    cluster report next to the event log, checks that the event log is complete, and creates a
    prediction. Returns the prediction id (for ``SyncPredictionSensor``) and stores links to the
    prediction (``sync_prediction``) and the cluster (``sync_emr_cluster``).

    A retry does not predict the run twice: the new prediction's id is kept in
    ``task_state_store`` (key ``sync_prediction``, Airflow 3.3+) and in the run folder's
    ``sync-prediction.json`` as soon as the create call answered, and the next try returns that
    prediction when Sync has its event log. Before the create call a creating marker is kept there:
    a try that died between Sync's answer and keeping it is followed by one that adopts the
    prediction the call made (the newest of the project since the marker, with the same event log).
    A task cleared after it finished records anew.

    .. seealso::
        :ref:`howto/operator:SyncEmrRecordRunOperator`

    :param cluster_id: the cluster of the run, e.g. ``SyncEmrCreateJobFlowOperator``'s output. (templated)
    :param project_id: the Sync project (default: the cluster's ``sync:project-id`` tag). (templated)
    :param allow_incomplete: accept an incomplete event log (``.inprogress``, no application end).
    :param upload: upload the event log through Sync's presigned POST instead of sending a presigned
        GET URL (rolling event-log folders are always uploaded).
    :param aws_conn_id: the ``aws`` connection. (templated)
    :param region_name: the AWS region (default: the connection's). (templated)
    :param verify: TLS verification for AWS.
    :param botocore_config: botocore ``Config`` keyword arguments.
    :param sync_conn_id: the ``sync`` connection. (templated)
    """

    template_fields: Sequence[str] = (
        "cluster_id",
        "project_id",
        "aws_conn_id",
        "region_name",
        "sync_conn_id",
    )
    operator_extra_links = (SyncPredictionLink(), SyncEmrClusterLink())
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        cluster_id: str,
        project_id: str | None = None,
        allow_incomplete: bool = False,
        upload: bool = False,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        sync_conn_id: str = SyncHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.project_id = project_id
        self.allow_incomplete = allow_incomplete
        self.upload = upload
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.sync_conn_id = sync_conn_id

    @cached_property
    def sync_hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    def execute(self, context: Context) -> str:
        """Record the run; return the prediction id."""
        from sync_provider.core.emr import record_run
        from sync_provider.operators._record import RecordState

        cluster_id = str(self.cluster_id or "").strip()
        if not cluster_id:
            raise AirflowException(
                "cluster_id is empty; pass the EMR cluster id (e.g. the launch task's output)."
            )
        project_id = validated_id(self.project_id, "project_id") if self.project_id else None
        self._persist_cluster_link(context, cluster_id)
        region = self.region_name or None
        try:
            region = self.emr_hook.conn_region_name
        except Exception:
            self.log.debug("Region of the EMR client unknown; the report uses the connection's")
        state = RecordState(context, self.log, {"cluster_id": cluster_id})
        plan = state.plan()
        prediction_id: str = unwrap(
            record_run(
                self.emr_client,
                self.s3_hook.get_conn(),
                cluster_id,
                project_id=project_id,
                allow_incomplete=self.allow_incomplete,
                upload=self.upload,
                sync_client=self.sync_hook.get_client(),
                region=region,
                existing_prediction_id=plan.existing_prediction_id,
                adopt_recorded=plan.adopt_recorded,
                on_created=state.created,
                pending_create=plan.pending_create,
                on_creating=state.creating,
            )
        )
        self.log.info("Recorded EMR cluster %s as Sync prediction %s", cluster_id, prediction_id)
        SyncPredictionLink.persist(context, self, prediction_id=prediction_id, app_url=self.sync_hook.app_url)
        state.finished(prediction_id)
        return prediction_id
