"""Airflow operators that run Databricks jobs Sync can predict and record finished runs as predictions.

- :class:`SyncDatabricksSubmitRunOperator` starts a one-off run (``jobs/runs/submit``) on a job
  cluster prepared for Sync (tags, log delivery), from your cluster spec or from a prediction
  applied to it, optionally waits for it (blocking or in the triggerer), and re-attaches to its run
  on retry instead of starting a second one.
- :class:`SyncDatabricksRecordRunOperator` turns a finished run into a Sync prediction.

Both reuse the Databricks provider's ``databricks`` connection (``databricks_conn_id``) through
:mod:`sync_provider.hooks.databricks`; the behaviour is the core's
(:mod:`sync_provider.core.databricks`), imported when a task runs, not when a DAG file is parsed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException

from sync_provider.core import contract
from sync_provider.core.backoff import Backoff
from sync_provider.core.errors import SyncError
from sync_provider.core.models import PredictionStatus, Preference
from sync_provider.hooks.databricks import DEFAULT_DATABRICKS_CONN_ID, DatabricksHookApi, parse_run_id
from sync_provider.hooks.sync import SyncHook, to_airflow_error
from sync_provider.links.databricks import SyncDatabricksRunLink
from sync_provider.links.sync import SyncPredictionLink
from sync_provider.operators._deferral import defer_until, successful_event
from sync_provider.operators._launch import (
    LaunchMixin,
    check_on_code_change,
    prediction_choice,
    task_state_store,
    try_number,
    unwrap,
    validated_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_provider.core.databricks.models import RunState
    from sync_provider.core.fingerprint import CodeFingerprint
    from sync_provider.core.models import Prediction

#: Key of the run this task started, in ``context["task_state_store"]`` (Airflow 3.3+).
STATE_KEY = "sync_databricks_run"
#: Default overall wait for a run, in seconds.
DEFAULT_RUN_TIMEOUT_S = 24 * 3600.0
#: Default overall wait for a run's event log to be delivered, in seconds.
DEFAULT_LOG_TIMEOUT_S = 900.0
#: XCom keys pushed by :class:`SyncDatabricksSubmitRunOperator` (besides ``return_value``, the run id).
XCOM_CLUSTER_ID = "cluster_id"
XCOM_RUN_PAGE_URL = "run_page_url"
XCOM_SYNC_RUN_ID = "sync_run_id"
XCOM_SOLUTION_METRICS = "solution_metrics"


def parse_json_object(value: Any, name: str) -> dict[str, Any]:
    """Return a templated JSON object argument as a dict (a JSON string is parsed).

    :raises AirflowException: naming ``name`` when it is empty, not JSON, or not an object.
    """
    if isinstance(value, str | bytes):
        if not value.strip():
            raise AirflowException(f"{name} is empty; pass a dict or a JSON object string.")
        try:
            value = json.loads(value)
        except ValueError as exc:
            reason = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
            raise AirflowException(
                f"{name} is a string but not valid JSON ({reason}); pass a dict or a JSON object string."
            ) from None
    if not isinstance(value, Mapping) or not value:
        raise AirflowException(f"{name} must be a non-empty JSON object (dict), got {type(value).__name__}.")
    return dict(value)


def check_run_event(event: Mapping[str, Any] | None, *, what: str) -> int:
    """Return the run id of a successful ``SyncDatabricksRunTrigger`` event.

    :raises AirflowException: for a missing event or any status other than ``success``.
    """
    return int(successful_event(event, "run_id", what=what, finished="the run ended"))


def _is_missing(exc: SyncError) -> bool:
    """Whether Databricks said the run does not exist (any more)."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "error_code", None)
    return (
        status == 404
        or code == "RESOURCE_DOES_NOT_EXIST"
        or (status == 400 and "does not exist" in exc.message.lower())
    )


class _DatabricksMixin:
    """The ``databricks`` connection arguments shared by the Databricks tasks, and the API built from them."""

    databricks_conn_id: str
    databricks_retry_limit: int
    databricks_retry_delay: float

    @cached_property
    def api(self) -> DatabricksHookApi:
        """The core's Databricks API on the ``databricks_conn_id`` connection."""
        return DatabricksHookApi.from_conn_id(
            self.databricks_conn_id,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            caller=type(self).__name__,
        )

    def _trigger_kwargs(self) -> dict[str, Any]:
        """What ``SyncDatabricksRunTrigger`` needs to rebuild the API in the triggerer."""
        return {
            "databricks_conn_id": self.databricks_conn_id,
            "retry_limit": self.databricks_retry_limit,
            "retry_delay": self.databricks_retry_delay,
        }


class _StateStore:
    """``context["task_state_store"]`` when the task runner provides one (Airflow 3.3+), else nothing."""

    def __init__(self, context: Context, operator: BaseOperator) -> None:
        self._store = task_state_store(context)
        self._log = operator.log

    def get(self) -> dict[str, Any] | None:
        if self._store is None:
            return None
        try:
            value = self._store.get(STATE_KEY)
        except Exception as exc:
            self._log.warning("Could not read the task state store (%s); submitting as a first try", exc)
            return None
        return dict(value) if isinstance(value, Mapping) and value.get("run_id") else None

    def set(self, value: dict[str, Any]) -> None:
        if self._store is None:
            return
        try:
            self._store.set(STATE_KEY, value)
        except Exception as exc:
            self._log.warning("Could not write run %s to the task state store: %s", value.get("run_id"), exc)

    def mark_done(self, run_id: int) -> None:
        """Record that this task instance finished with ``run_id`` (a later clear starts a new run)."""
        current = self.get() or {}
        if current.get("run_id") == run_id and not current.get("done"):
            self.set({**current, "done": True})


class SyncDatabricksSubmitRunOperator(_DatabricksMixin, LaunchMixin, BaseOperator):
    """Start a Databricks run Sync can predict, from a cluster spec or from a prediction.

    The cluster is your ``new_cluster`` spec, or — with ``prediction_id`` — that spec with the
    prediction's ``preference`` solution applied (node types, size, Spark and AWS settings; see
    :func:`~sync_provider.core.databricks.cluster_spec_from_prediction`). Either way it gets the
    Sync tags and delivers its logs to ``<project_location>/<project_id>/<sync run id>``, and the
    run has one task, ``task``, on it.

    Pushes the Databricks run id as the return value, and XComs ``cluster_id``, ``run_page_url``
    and ``sync_run_id`` (plus ``solution_metrics``, the chosen solution's predicted ``{"runtime",
    "cost"}``, when started from a prediction); stores the *Databricks Run* link. With
    ``wait_for_completion`` the task also waits until the run ends and fails unless it ends
    ``TERMINATED``/``SUCCESS`` — blocking a worker slot, or with ``deferrable`` in the triggerer.

    A retry re-attaches to the run of an earlier try that is still running or succeeded instead of
    submitting another; after a failed run it submits a new one. See
    :ref:`howto/operator:SyncDatabricksSubmitRunOperator` for the exact rule.

    .. seealso::
        :ref:`howto/operator:SyncDatabricksSubmitRunOperator`

    :param task: the run's task: exactly one task type (``notebook_task``, ``spark_python_task``,
        ``spark_jar_task``, ``python_wheel_task``, ``spark_submit_task``…) plus task settings such
        as ``libraries``; a dict or a JSON string. (templated)
    :param new_cluster: your cluster spec (``clusters/create`` fields); with ``prediction_id`` the
        base the prediction is applied to. A dict or a JSON string. (templated)
    :param project_id: the Sync project (its id is tagged on the cluster). (templated)
    :param project_location: where the cluster delivers its logs, ``s3://bucket/prefix`` or
        ``dbfs:/path``. (templated)
    :param prediction_id: start from this prediction's solution. (templated)
    :param preference: the solution to use: ``performance``, ``balanced`` or ``economy``. (templated)
    :param region: the AWS region of an S3 log bucket (default: from the spec). (templated)
    :param run_name: the run's name (default ``<dag_id>.<task_id>``). (templated)
    :param run_settings: other run fields (``timeout_seconds``, ``access_control_list``,
        ``git_source``, ``email_notifications``…). (templated)
    :param databricks_conn_id: the ``databricks`` connection. (templated)
    :param databricks_retry_limit: tries per Databricks call on 429, 5xx and connection errors.
    :param databricks_retry_delay: first delay between those tries, in seconds.
    :param sync_conn_id: the ``sync`` connection (to read the prediction). (templated)
    :param wait_for_completion: whether the task waits until the run ends.
    :param deferrable: wait in the triggerer instead of a worker slot (with ``wait_for_completion``).
    :param poll_interval: first delay between state checks, in seconds (grows to ``max_poll_interval``).
    :param max_poll_interval: largest delay between state checks, in seconds.
    :param timeout: how long to wait for the run, in seconds; the run is not cancelled when it passes.
    :param cancel_on_kill: cancel the run when the task is killed (marked failed or success, cleared,
        or timed out by ``execution_timeout``), in normal and in deferred mode.
    :param allow_cross_platform: accept a prediction made on EMR: its solution is translated to a
        Databricks cluster spec (:func:`sync_provider.core.crossplatform.apply_cross_platform_solution`)
        and what could not be carried over is logged as warnings. Without it such a prediction fails
        the task before anything is submitted.
    :param on_code_change: what to do when the code fingerprint of ``task`` differs from the
        prediction's basis run: ``"warn"`` (log a warning naming both fingerprints and what changed)
        or ``"fail"`` (fail the task before anything is submitted). Every run records its fingerprint
        (the cluster's ``sync:code-hash`` custom tag and ``code-fingerprint.json`` in the run's log
        destination). (templated)
    :param aws_conn_id: the AWS connection used to read ``s3://`` code of the task, an EMR basis
        run's fingerprint, and to save the fingerprint when ``project_location`` is in S3. (templated)
    """

    template_fields: Sequence[str] = (
        "task",
        "new_cluster",
        "project_id",
        "project_location",
        "prediction_id",
        "preference",
        "region",
        "run_name",
        "run_settings",
        "databricks_conn_id",
        "sync_conn_id",
        "on_code_change",
        "aws_conn_id",
    )
    template_fields_renderers = {"task": "json", "new_cluster": "json", "run_settings": "json"}
    operator_extra_links = (SyncDatabricksRunLink(),)
    ui_color = "#fce4d6"

    # What LaunchMixin says of this operator.
    _target_platform = "aws-databricks"
    _launched = "submitted"
    _translated_log = "Prediction %s was made on EMR: its %s solution is translated to a Databricks cluster"
    _unsaved_fingerprint_log = "The run has no log destination: code fingerprint %s not saved"

    def __init__(
        self,
        *,
        task: dict[str, Any] | str,
        new_cluster: dict[str, Any] | str,
        project_id: str,
        project_location: str,
        prediction_id: str | None = None,
        preference: str = Preference.ECONOMY.value,
        region: str | None = None,
        run_name: str | None = None,
        run_settings: dict[str, Any] | str | None = None,
        databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: float = 1.0,
        sync_conn_id: str = SyncHook.default_conn_name,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        max_poll_interval: float = 60.0,
        timeout: float = DEFAULT_RUN_TIMEOUT_S,
        cancel_on_kill: bool = True,
        allow_cross_platform: bool = False,
        on_code_change: str = "warn",
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.new_cluster = new_cluster
        self.project_id = project_id
        self.project_location = project_location
        self.prediction_id = prediction_id
        self.preference = preference
        self.region = region
        self.run_name = run_name
        self.run_settings = run_settings
        self.databricks_conn_id = databricks_conn_id
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.sync_conn_id = sync_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.allow_cross_platform = allow_cross_platform
        self.on_code_change = on_code_change
        self.aws_conn_id = aws_conn_id
        self._run_id: int | None = None

    @cached_property
    def sync_hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id`` (used with ``prediction_id``)."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    @cached_property
    def s3_client(self) -> Any:
        """A boto3 S3 client of ``aws_conn_id``, created when first used."""
        return _LazyS3Client(self.aws_conn_id)

    # -- inputs -----------------------------------------------------------------------------------

    def _checked_inputs(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, str]:
        """Validate the rendered arguments: ``(spec, task, run settings, project id)``."""
        from sync_provider.core.databricks.clusters import parse_log_location
        from sync_provider.core.databricks.models import TASK_TYPES

        spec = parse_json_object(self.new_cluster, "new_cluster")
        task = parse_json_object(self.task, "task")
        kinds = [kind for kind in TASK_TYPES if kind in task]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise AirflowException(
                f"task must have exactly one task type ({', '.join(TASK_TYPES[:5])}, …); found {found}."
            )
        settings = (
            None
            if self.run_settings in (None, "", {})
            else parse_json_object(self.run_settings, "run_settings")
        )
        try:
            project_id = contract.validate_id(self.project_id, "project_id")
            parse_log_location(str(self.project_location or ""))
        except SyncError as exc:
            raise to_airflow_error(exc) from exc
        return spec, task, settings, project_id

    def _cluster_spec(
        self, spec: dict[str, Any], project_id: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None, Prediction | None]:
        """The cluster to submit: the spec, or the prediction applied to it (with predicted metrics
        and the prediction)."""
        if self.prediction_id in (None, ""):
            return spec, None, None
        from sync_provider.core.databricks import cluster_spec_from_prediction

        prediction_id, preference = prediction_choice(self.prediction_id, self.preference)
        prediction = self.sync_hook.get_prediction(prediction_id, preference.value)
        if prediction.status and PredictionStatus.parse(prediction.status) is not PredictionStatus.SUCCESS:
            raise AirflowException(
                f"Prediction {prediction_id} is {prediction.status}, not SUCCESS. Wait for it with "
                "SyncPredictionSensor before starting a run from it."
            )
        cluster, metrics = self._apply_prediction(
            prediction,
            preference,
            prediction_id,
            spec,
            project_id=project_id,
            project_location=str(self.project_location),
            apply=lambda: cluster_spec_from_prediction(
                prediction,
                preference,
                spec,
                project_id=project_id,
                project_location=str(self.project_location),
                region=self.region or None,
            ),
        )
        self.log.info(
            "Prediction %s, %s solution: %s x %s workers, predicted runtime %.1f min, cost $%.2f",
            prediction_id,
            preference.value,
            cluster.get("node_type_id"),
            cluster.get("num_workers", cluster.get("autoscale")),
            metrics["runtime"],
            metrics["cost"],
        )
        return cluster, metrics, prediction

    # -- the code fingerprint ---------------------------------------------------------------------

    def _fingerprint(
        self,
        task: dict[str, Any],
        settings: dict[str, Any] | None,
        prediction: Prediction | None,
        on_code_change: str,
    ) -> CodeFingerprint:
        """Fingerprint the task's code; compare it with the prediction's basis run (may raise)."""
        from sync_provider.core.fingerprint import fingerprint_databricks

        git_source = (settings or {}).get("git_source")
        current: CodeFingerprint = unwrap(
            fingerprint_databricks(
                task,
                api=self.api,
                s3_client=self.s3_client,
                git_source=git_source if isinstance(git_source, Mapping) else None,
            )
        )
        return self._compare_fingerprint(
            current,
            prediction,
            on_code_change,
            project_location=str(self.project_location),
            s3_client=self.s3_client,
            api=self.api,
        )

    # -- submitting and re-attaching --------------------------------------------------------------

    @staticmethod
    def _attempt(context: Context) -> tuple[list[Any], int]:
        """The parts naming this task instance in its DAG run, and the try number."""
        ti: Any = context["ti"]
        parts = [
            getattr(ti, "dag_id", None),
            getattr(ti, "task_id", None),
            getattr(ti, "run_id", None) or context.get("run_id"),
            getattr(ti, "map_index", -1),
        ]
        return parts, try_number(context)

    def idempotency_token(self, context: Context, *, fresh: bool) -> str:
        """The idempotency token of this task's submission.

        ``idempotency_token_for(dag_id, task_id, run_id, map_index)`` — the same for every try of
        the task instance, so that Databricks returns the run an earlier try started — or, when a
        new run is needed (``fresh``), the same parts plus the try number.
        """
        from sync_provider.core.databricks import idempotency_token_for

        parts, try_number = self._attempt(context)
        return idempotency_token_for(*parts, try_number) if fresh else idempotency_token_for(*parts)

    def _state(self, run_id: int) -> RunState:
        from sync_provider.core.databricks import get_run_state

        return unwrap(get_run_state(self.api, run_id))  # type: ignore[no-any-return]

    def _resume(self, stored: Mapping[str, Any]) -> int | None:
        """The stored run to re-attach to, or ``None`` when a new run is needed."""
        from sync_provider.core.databricks import get_run_state

        run_id = int(stored["run_id"])
        if stored.get("done"):
            self.log.info(
                "An earlier try of this task finished with Databricks run %s and the task was cleared: "
                "submitting a new run",
                run_id,
            )
            return None
        try:
            state = get_run_state(self.api, run_id).unwrap()
        except SyncError as exc:
            if _is_missing(exc):
                self.log.info("Run %s of an earlier try no longer exists: submitting a new run", run_id)
                return None
            raise to_airflow_error(exc) from exc
        if not state.is_terminal:
            self.log.info(
                "Re-attaching to Databricks run %s of an earlier try (%s)", run_id, state.describe()
            )
            return run_id
        if state.is_successful:
            self.log.info(
                "Databricks run %s of an earlier try already succeeded; not submitting again", run_id
            )
            return run_id
        self.log.info(
            "Databricks run %s of an earlier try ended %s: submitting a new run", run_id, state.describe()
        )
        return None

    def _submit(
        self,
        context: Context,
        cluster: dict[str, Any],
        task: dict[str, Any],
        settings: dict[str, Any] | None,
        project_id: str,
        *,
        fresh: bool,
    ) -> tuple[int, str, str | None]:
        """Submit; return the Databricks run id, the token and the run's log destination."""
        from sync_provider.core.databricks import submit_run
        from sync_provider.core.databricks.clusters import log_destination

        token = self.idempotency_token(context, fresh=fresh)
        submitted = unwrap(
            submit_run(
                self.api,
                cluster,
                task,
                project_id=project_id,
                project_location=str(self.project_location),
                run_name=str(self.run_name or f"{self.dag_id}.{self.task_id}"),
                idempotency_token=token,
                region=self.region or None,
                run_settings=settings,
            )
        )
        self._run_id = int(submitted.run_id)  # on_kill cancels it from now on
        destination: str | None = submitted.log_destination
        if submitted.sync_run_id and submitted.project_id:
            # A replayed submission returns the first one's run, whose folder is named after its run id.
            _, destination = log_destination(
                str(self.project_location), submitted.project_id, submitted.sync_run_id
            )
        return int(submitted.run_id), token, destination

    def _start(self, context: Context, store: _StateStore) -> tuple[int, dict[str, Any] | None]:
        """Validate, then re-attach or submit; return the run id and the predicted metrics."""
        from sync_provider.core.fingerprint import add_code_hash_to_databricks_spec

        on_code_change = check_on_code_change(self.on_code_change, launched=self._launched)
        spec, task, settings, project_id = self._checked_inputs()
        cluster, metrics, prediction = self._cluster_spec(spec, project_id)
        stored = store.get()
        fresh = False
        if stored is not None:
            resumed = self._resume(stored)
            if resumed is not None:
                return resumed, metrics
            fresh = True
        current = self._fingerprint(task, settings, prediction, on_code_change)
        cluster = add_code_hash_to_databricks_spec(cluster, current)
        run_id, token, destination = self._submit(context, cluster, task, settings, project_id, fresh=fresh)
        _, try_number = self._attempt(context)
        if not fresh and try_number > 1:
            state = self._state(run_id)
            if state.is_terminal and not state.is_successful:
                # The token of every try returned the run an earlier try started (the store did not
                # record it) and that run failed: a retry must run the job again.
                self.log.info(
                    "Databricks returned run %s of an earlier try, which ended %s: submitting a new run",
                    run_id,
                    state.describe(),
                )
                run_id, token, destination = self._submit(
                    context, cluster, task, settings, project_id, fresh=True
                )
        self._save_fingerprint(current, destination, s3_client=self.s3_client, api=self.api)
        store.set({"run_id": run_id, "idempotency_token": token, "try_number": try_number, "done": False})
        return run_id, metrics

    # -- XComs ------------------------------------------------------------------------------------

    def _read_run(self, run_id: int) -> dict[str, Any]:
        from sync_provider.core.databricks.runs import fetch_run

        try:
            return fetch_run(self.api, run_id)
        except SyncError as exc:
            raise to_airflow_error(exc) from exc

    def _push(self, context: Context, run_id: int, run: Mapping[str, Any], metrics: Any = None) -> None:
        from sync_provider.core.databricks.models import RUN_ID_TAG
        from sync_provider.core.databricks.runs import run_cluster_ids, run_tags

        clusters = run_cluster_ids(run)
        url = run.get("run_page_url")
        SyncDatabricksRunLink.persist(context, self, run_id=run_id, run_page_url=url)
        if not self.do_xcom_push:
            return
        ti = context["ti"]
        ti.xcom_push(key=XCOM_CLUSTER_ID, value=clusters[0] if clusters else None)
        ti.xcom_push(key=XCOM_RUN_PAGE_URL, value=url)
        ti.xcom_push(key=XCOM_SYNC_RUN_ID, value=run_tags(run).get(RUN_ID_TAG))
        if metrics is not None:
            ti.xcom_push(key=XCOM_SOLUTION_METRICS, value=metrics)

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> int:
        """Submit the run (or re-attach to an earlier try's run), push its ids, wait when asked."""
        from sync_provider.core.databricks.runs import parse_run_state, run_failure

        store = _StateStore(context, self)
        run_id, metrics = self._start(context, store)
        self._run_id = run_id
        self._stop_if_killed(run_id)
        run = self._read_run(run_id)
        self.log.info("Databricks run %s: %s", run_id, run.get("run_page_url") or "(no run page yet)")
        self._push(context, run_id, run, metrics)
        if not self.wait_for_completion:
            store.mark_done(run_id)
            return run_id

        state = parse_run_state(run)
        if state.is_terminal:
            if not state.is_successful:
                raise AirflowException(run_failure(run_id, state, run).message)
            store.mark_done(run_id)
            return run_id
        self._stop_if_killed(run_id)
        if self.deferrable:
            from sync_provider.triggers.databricks import SyncDatabricksRunTrigger

            trigger = SyncDatabricksRunTrigger(
                run_id=run_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=time.time() + self.timeout,
                cancel_on_kill=self.cancel_on_kill,
                **self._trigger_kwargs(),
            )
            defer_until(self, trigger, until=f"Databricks run {run_id} ends", timeout=self.timeout)
        self._wait(run_id)
        self._after_success(context, store, run_id, run)
        return run_id

    def _wait(self, run_id: int) -> None:
        from sync_provider.core.databricks import wait_for_run

        def progress(state: RunState, waited: float) -> None:
            self.log.info("Databricks run %s is %s after %.0f s", run_id, state.describe(), waited)

        poll = Backoff(initial=self.poll_interval, maximum=max(self.poll_interval, self.max_poll_interval))
        unwrap(wait_for_run(self.api, run_id, timeout_s=self.timeout, poll=poll, on_state=progress))
        self.log.info("Databricks run %s succeeded", run_id)

    def _after_success(
        self, context: Context, store: _StateStore, run_id: int, before: Mapping[str, Any] | None
    ) -> None:
        """Push the cluster id when Databricks named it only after the submission; mark the try done."""
        from sync_provider.core.databricks.runs import run_cluster_ids

        if self.do_xcom_push and not (before and run_cluster_ids(before)):
            clusters = run_cluster_ids(self._read_run(run_id))
            context["ti"].xcom_push(key=XCOM_CLUSTER_ID, value=clusters[0] if clusters else None)
        store.mark_done(run_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> int:
        """Resume after the trigger fired: return the run id, or raise on any other outcome."""
        run_id = check_run_event(event, what=self.task_id)
        self.log.info("Databricks run %s succeeded", run_id)
        self._after_success(context, _StateStore(context, self), run_id, None)
        return run_id

    def _killed_message(self, run_id: int) -> str:
        what = "cancelled" if self.cancel_on_kill else "left running (cancel_on_kill=False)"
        return f"The task was killed while submitting Databricks run {run_id}; the run was {what}."

    def on_kill(self) -> None:
        """Cancel the run this task started or re-attached to (unless ``cancel_on_kill`` is off)."""
        self._killed = True
        if self._run_id is None or not self.cancel_on_kill:
            return
        from sync_provider.core.databricks import cancel_run

        response = cancel_run(self.api, self._run_id)
        if response.error is not None:
            self.log.warning("Could not cancel Databricks run %s: %s", self._run_id, response.error.message)
        else:
            self.log.info("Cancelled Databricks run %s", self._run_id)


class _LazyS3Client:
    """A boto3 S3 client from the Amazon provider's ``S3Hook``, created on first use."""

    def __init__(self, aws_conn_id: str | None) -> None:
        self._aws_conn_id = aws_conn_id
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            self._client = S3Hook(aws_conn_id=self._aws_conn_id).get_conn()
        return getattr(self._client, name)


class SyncDatabricksRecordRunOperator(_DatabricksMixin, BaseOperator):
    """Record a finished Databricks run as a Sync prediction; return the prediction id.

    Reads the run's cluster report (the cluster and every page of its events), waits until
    Databricks has delivered the run's complete Spark event log to the cluster's log destination
    (DBFS, or S3 read with the ``aws_conn_id`` connection), and creates an ``aws-databricks``
    prediction with the log uploaded (see :func:`~sync_provider.core.databricks.record_run`).
    Stores the *Sync Prediction* link. Only a run that ended ``TERMINATED``/``SUCCESS`` is recorded.

    A retry does not predict the run twice: the new prediction's id is kept in
    ``task_state_store`` (key ``sync_prediction``, Airflow 3.3+) and in the log destination's
    ``sync-prediction.json`` as soon as the create call answered, and the next try returns that
    prediction, without waiting for the log again, when Sync has its event log. A try that died
    between Sync's answer and keeping it (a creating marker is kept before the create call) leaves a
    prediction without a log, which the next try names in a warning before creating another. A task
    cleared after it finished records anew.

    .. seealso::
        :ref:`howto/operator:SyncDatabricksRecordRunOperator`

    :param run_id: the finished Databricks run (usually the submit operator's output). (templated)
    :param project_id: the Sync project (default: the cluster's ``sync:project-id`` tag). (templated)
    :param cluster_id: which cluster, when the run used several. (templated)
    :param plan_type: the workspace plan, ``Standard``, ``Premium`` or ``Enterprise``.
    :param compute_type: ``Jobs Compute``, ``Jobs Compute Light`` or ``All-Purpose Compute``.
    :param allow_incomplete: record an event log still incomplete at the deadline.
    :param log_timeout: how long to wait for the log to be delivered, in seconds.
    :param log_poll_interval: first delay between looks at the log location, in seconds.
    :param max_log_poll_interval: largest delay between looks, in seconds.
    :param databricks_conn_id: the ``databricks`` connection. (templated)
    :param databricks_retry_limit: tries per Databricks call on 429, 5xx and connection errors.
    :param databricks_retry_delay: first delay between those tries, in seconds.
    :param sync_conn_id: the ``sync`` connection. (templated)
    :param aws_conn_id: the AWS connection used to read logs delivered to S3. (templated)
    """

    template_fields: Sequence[str] = (
        "run_id",
        "project_id",
        "cluster_id",
        "databricks_conn_id",
        "sync_conn_id",
        "aws_conn_id",
    )
    operator_extra_links = (SyncPredictionLink(),)
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        run_id: int | str,
        project_id: str | None = None,
        cluster_id: str | None = None,
        plan_type: str = "Premium",
        compute_type: str = "Jobs Compute",
        allow_incomplete: bool = False,
        log_timeout: float = DEFAULT_LOG_TIMEOUT_S,
        log_poll_interval: float = 5.0,
        max_log_poll_interval: float = 30.0,
        databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: float = 1.0,
        sync_conn_id: str = SyncHook.default_conn_name,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.project_id = project_id
        self.cluster_id = cluster_id
        self.plan_type = plan_type
        self.compute_type = compute_type
        self.allow_incomplete = allow_incomplete
        self.log_timeout = log_timeout
        self.log_poll_interval = log_poll_interval
        self.max_log_poll_interval = max_log_poll_interval
        self.databricks_conn_id = databricks_conn_id
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.sync_conn_id = sync_conn_id
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    def execute(self, context: Context) -> str:
        """Record the run; return the prediction id."""
        from sync_provider.core.databricks import record_run
        from sync_provider.operators._record import RecordState

        run_id = parse_run_id(self.run_id)
        project_id = validated_id(self.project_id, "project_id") if self.project_id else None
        poll = Backoff(
            initial=self.log_poll_interval, maximum=max(self.log_poll_interval, self.max_log_poll_interval)
        )
        self.log.info("Recording Databricks run %s: cluster report, then the event log", run_id)
        state = RecordState(context, self.log, {"run_id": run_id, "cluster_id": self.cluster_id or None})
        plan = state.plan()
        prediction_id: str = unwrap(
            record_run(
                self.api,
                run_id,
                project_id=project_id,
                s3_client=_LazyS3Client(self.aws_conn_id),
                sync_client=self.hook.get_client(),
                plan_type=self.plan_type,
                compute_type=self.compute_type,
                allow_incomplete=self.allow_incomplete,
                log_timeout_s=self.log_timeout,
                log_poll=poll,
                cluster_id=self.cluster_id or None,
                existing_prediction_id=plan.existing_prediction_id,
                adopt_recorded=plan.adopt_recorded,
                on_created=state.created,
                pending_create=plan.pending_create,
                on_creating=state.creating,
            )
        )
        self.log.info("Recorded Databricks run %s as Sync prediction %s", run_id, prediction_id)
        SyncPredictionLink.persist(context, self, prediction_id=prediction_id, app_url=self.hook.app_url)
        state.finished(prediction_id)
        return prediction_id
