"""One-off Databricks runs: submit on a prepared cluster, read the state, wait, cancel."""

from __future__ import annotations

import copy
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.databricks.client import DatabricksApi, DatabricksTimeoutError
from sync_provider.core.databricks.clusters import prepare_cluster_spec
from sync_provider.core.databricks.models import (
    PROJECT_ID_TAG,
    RUN_ID_TAG,
    RUNS_CANCEL,
    RUNS_GET,
    RUNS_SUBMIT,
    TASK_TYPES,
    RunOutcome,
    RunState,
    SubmittedRun,
)
from sync_provider.core.errors import DatabricksError, InvalidInputError
from sync_provider.core.predictions import returns_response

log = logging.getLogger(__name__)

#: Default polling policy of :func:`wait_for_run`.
DEFAULT_RUN_POLL = Backoff(initial=5.0, maximum=60.0, factor=1.5, jitter=0.1)
#: Longest idempotency token Databricks accepts.
MAX_IDEMPOTENCY_TOKEN = 64
_TOKEN_NAMESPACE = uuid.UUID("6f1d9a52-3c1e-4f7e-9d5b-2b8f0b6a4e11")
# Fields of a task that decide where it runs: submit_run supplies new_cluster itself.
_CLUSTER_FIELDS = ("new_cluster", "existing_cluster_id", "job_cluster_key", "environment_key")


def idempotency_token_for(*parts: object) -> str:
    """Return a stable idempotency token (64 hex characters) for ``parts``.

    Derive it from what identifies one *attempt* of your task, e.g. ``(dag_id, task_id, run_id,
    try_number)``: the same parts give the same token, so a submission repeated after a lost
    response returns the run that was already started instead of starting a second one.

    :param parts: values identifying the attempt (converted with ``str``).
    """
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def check_run_id(run_id: Any) -> int:
    """Return ``run_id`` as a positive ``int``.

    :raises InvalidInputError: when it is not a positive whole number.
    """
    if isinstance(run_id, bool):
        raise InvalidInputError(f"Databricks run id {run_id!r} is not a positive whole number.")
    try:
        value = int(str(run_id).strip())
    except ValueError:
        raise InvalidInputError(f"Databricks run id {run_id!r} is not a positive whole number.") from None
    if value <= 0:
        raise InvalidInputError(f"Databricks run id {run_id!r} is not a positive whole number.")
    return value


def fetch_run(api: DatabricksApi, run_id: int | str) -> dict[str, Any]:
    """Return ``jobs/runs/get`` for ``run_id`` (raises; not a ``Response``).

    :raises DatabricksError: when the call fails.
    """
    return api.call("GET", RUNS_GET, {"run_id": check_run_id(run_id)}, idempotent=True)


def parse_run_state(run: Mapping[str, Any]) -> RunState:
    """Read a run's state from ``jobs/runs/get`` (``state``, or the newer ``status`` object).

    :raises DatabricksError: when neither is there.
    """
    state = run.get("state")
    if isinstance(state, Mapping) and state.get("life_cycle_state"):
        return RunState(
            life_cycle_state=str(state["life_cycle_state"]),
            result_state=str(state["result_state"]) if state.get("result_state") else None,
            state_message=str(state.get("state_message") or ""),
        )
    status = run.get("status")
    if isinstance(status, Mapping) and status.get("state"):
        details = status.get("termination_details")
        details = details if isinstance(details, Mapping) else {}
        code = details.get("code")
        result = None
        if status["state"] == "TERMINATED":
            result = "SUCCESS" if code == "SUCCESS" else str(code or "FAILED")
        return RunState(
            life_cycle_state=str(status["state"]),
            result_state=result,
            state_message=str(details.get("message") or ""),
        )
    raise DatabricksError(f"Databricks run {run.get('run_id')} has no state in jobs/runs/get.")


def run_cluster_ids(run: Mapping[str, Any]) -> list[str]:
    """The distinct cluster ids the run's tasks ran on, in task order."""
    ids: list[str] = []
    for task in run.get("tasks") or []:
        instance = task.get("cluster_instance") if isinstance(task, Mapping) else None
        cluster_id = instance.get("cluster_id") if isinstance(instance, Mapping) else None
        if cluster_id and cluster_id not in ids:
            ids.append(str(cluster_id))
    instance = run.get("cluster_instance")
    if not ids and isinstance(instance, Mapping) and instance.get("cluster_id"):
        ids.append(str(instance["cluster_id"]))
    return ids


def run_tags(run: Mapping[str, Any]) -> dict[str, str]:
    """The ``custom_tags`` of the run's first ``new_cluster`` (task, job cluster or legacy form)."""
    candidates: list[Any] = [
        task.get("new_cluster") for task in run.get("tasks") or [] if isinstance(task, dict)
    ]
    candidates += [c.get("new_cluster") for c in run.get("job_clusters") or [] if isinstance(c, dict)]
    spec = run.get("cluster_spec")
    if isinstance(spec, Mapping):
        candidates.append(spec.get("new_cluster"))
    for cluster in candidates:
        if isinstance(cluster, Mapping) and isinstance(cluster.get("custom_tags"), Mapping):
            return {str(k): str(v) for k, v in cluster["custom_tags"].items()}
    return {}


def _check_task(task: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(task, Mapping):
        raise InvalidInputError(
            f"The task must be an object such as {{'notebook_task': {{…}}}}, not {task!r}."
        )
    problems: list[str] = []
    kinds = [kind for kind in TASK_TYPES if kind in task]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        problems.append(f"give exactly one task type ({', '.join(TASK_TYPES[:5])}, …); found {found}")
    placed = [key for key in _CLUSTER_FIELDS if key in task]
    if placed:
        problems.append(
            f"remove {', '.join(placed)}: the task runs on the prepared new_cluster that submit_run adds"
        )
    if problems:
        raise InvalidInputError(
            "The task has "
            + ("a problem: " if len(problems) == 1 else f"{len(problems)} problems: ")
            + "; ".join(problems)
            + ".",
            detail={"problems": problems},
        )
    return copy.deepcopy(dict(task))


@returns_response
def submit_run(
    api: DatabricksApi,
    cluster_spec: Mapping[str, Any],
    task: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_name: str,
    idempotency_token: str | None,
    run_id: str | None = None,
    region: str | None = None,
    task_key: str = "sync_task",
    run_settings: Mapping[str, Any] | None = None,
) -> SubmittedRun:
    """Start a one-off run (``jobs/runs/submit``) of ``task`` on a prepared job cluster.

    The cluster spec goes through :func:`~sync_provider.core.databricks.prepare_cluster_spec`
    (Sync tags, log delivery); the run has one task, ``task_key``, on that ``new_cluster``.

    With an ``idempotency_token`` the submission is safe to repeat: Databricks returns the run
    already started with that token, and the client may retry the call after a lost response. The
    caller derives the token so that it stays the same within one attempt (see
    :func:`idempotency_token_for`). Without a token a call whose response is lost is not repeated.
    When ``run_id`` is not given and a token is, the Sync run id is derived from the token, so a
    repeated attempt tags the same run id; it is always read back from the run.

    :param api: the Databricks API.
    :param cluster_spec: the user's cluster spec (``new_cluster``).
    :param task: the task: exactly one of ``notebook_task``, ``spark_python_task``,
        ``spark_jar_task``, ``python_wheel_task``, ``spark_submit_task``, … plus task settings such
        as ``libraries``, ``timeout_seconds``, ``max_retries``.
    :param project_id: the Sync project.
    :param project_location: ``s3://…`` or ``dbfs:/…`` where logs are delivered.
    :param run_name: the run's name.
    :param idempotency_token: at most 64 characters, or ``None``.
    :param run_id: the Sync run id (default: derived from the token, else a fresh UUID).
    :param region: the S3 log bucket's region (see ``prepare_cluster_spec``).
    :param task_key: the task's key.
    :param run_settings: other run-level fields (``timeout_seconds``, ``access_control_list``,
        ``git_source``, ``email_notifications``…).
    :raises InvalidInputError: invalid spec, task or token (nothing is sent).
    :raises DatabricksError: when Databricks refuses or cannot be reached.
    """
    if idempotency_token is not None and not 0 < len(idempotency_token) <= MAX_IDEMPOTENCY_TOKEN:
        raise InvalidInputError(
            f"The idempotency token must have 1 to {MAX_IDEMPOTENCY_TOKEN} characters "
            f"(got {len(idempotency_token)}); use idempotency_token_for(...) to derive one."
        )
    if not run_name or not isinstance(run_name, str):
        raise InvalidInputError("run_name must be a non-empty string.")
    body_task = _check_task(task)
    tags = cluster_spec.get("custom_tags") if isinstance(cluster_spec, Mapping) else None
    has_run_tag = isinstance(tags, Mapping) and RUN_ID_TAG in tags
    if run_id is None and idempotency_token is not None and not has_run_tag:
        run_id = str(uuid.uuid5(_TOKEN_NAMESPACE, idempotency_token))
    prepared = prepare_cluster_spec(
        cluster_spec, project_id=project_id, project_location=project_location, run_id=run_id, region=region
    )
    settings = dict(run_settings or {})
    clashing = sorted({"tasks", "run_name", "idempotency_token", "job_clusters"} & set(settings))
    if clashing:
        raise InvalidInputError(
            f"run_settings must not contain {', '.join(clashing)}; pass them as arguments."
        )
    body_task["task_key"] = task_key
    body_task["new_cluster"] = prepared.spec
    body: dict[str, Any] = {**settings, "run_name": run_name, "tasks": [body_task]}
    if idempotency_token is not None:
        body["idempotency_token"] = idempotency_token
    answer = api.call("POST", RUNS_SUBMIT, body, idempotent=idempotency_token is not None)
    if "run_id" not in answer:
        raise DatabricksError("jobs/runs/submit answered without a run_id.")
    databricks_run = check_run_id(answer["run_id"])
    try:
        run = fetch_run(api, databricks_run)
    except DatabricksError as exc:
        # The run has started: report it rather than an error a caller might answer by submitting again.
        log.warning("Run %s was submitted but could not be read back (%s)", databricks_run, exc.message)
        run = {}
    tags = run_tags(run)
    sync_run_id = tags.get(RUN_ID_TAG) or prepared.run_id
    if sync_run_id != prepared.run_id:
        log.info(
            "Databricks returned run %s, submitted earlier with the same idempotency token (Sync run %s)",
            databricks_run,
            sync_run_id,
        )
    clusters = run_cluster_ids(run)
    log.info("Submitted Databricks run %s (%s) for Sync project %s", databricks_run, run_name, project_id)
    return SubmittedRun(
        run_id=databricks_run,
        run_page_url=run.get("run_page_url"),
        sync_run_id=sync_run_id,
        project_id=tags.get(PROJECT_ID_TAG) or prepared.project_id,
        cluster_id=clusters[0] if clusters else None,
        log_destination=prepared.log_destination,
        idempotency_token=idempotency_token,
    )


@returns_response
def get_run_state(api: DatabricksApi, run_id: int | str) -> RunState:
    """Return the run's life-cycle state, result state and message.

    :param api: the Databricks API.
    :param run_id: the Databricks run id.
    """
    return parse_run_state(fetch_run(api, run_id))


def run_failure(run_id: int, state: RunState, run: Mapping[str, Any]) -> DatabricksError:
    """The error for a run that ended without success."""
    url = run.get("run_page_url")
    where = f" (see {url})" if url else ""
    return DatabricksError(
        f"Databricks run {run_id} did not succeed: {state.describe()}{where}.",
        detail={
            "run_id": run_id,
            "life_cycle_state": state.life_cycle_state,
            "result_state": state.result_state,
            "state_message": state.state_message,
            "run_page_url": url,
        },
    )


def outcome_of(run_id: int, run: Mapping[str, Any], state: RunState) -> RunOutcome:
    """Build the :class:`RunOutcome` of a finished run."""
    tags = run_tags(run)
    return RunOutcome(
        run_id=run_id,
        state=state,
        run_page_url=run.get("run_page_url"),
        cluster_ids=run_cluster_ids(run),
        start_time=run.get("start_time") or None,
        end_time=run.get("end_time") or None,
        sync_run_id=tags.get(RUN_ID_TAG),
        project_id=tags.get(PROJECT_ID_TAG),
    )


@returns_response
def wait_for_run(
    api: DatabricksApi,
    run_id: int | str,
    *,
    timeout_s: float | None = 24 * 3600.0,
    poll: Backoff = DEFAULT_RUN_POLL,
    on_state: Callable[[RunState, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunOutcome:
    """Poll a run until it ends; succeed only for ``TERMINATED`` / ``SUCCESS``.

    :param api: the Databricks API.
    :param run_id: the Databricks run id.
    :param timeout_s: overall limit in seconds (``None``: none). The run is not cancelled when it
        is reached.
    :param poll: delays between polls.
    :param on_state: called with each state read and the seconds waited so far.
    :param sleep: the sleep function (tests pass a fake).
    :raises DatabricksError: the run ended ``FAILED``, ``TIMEDOUT``, ``CANCELED``,
        ``INTERNAL_ERROR``, ``SKIPPED``…; the message has the life cycle, result state and state
        message, and ``detail`` has them as fields.
    :raises DatabricksTimeoutError: the run had not ended after ``timeout_s``.
    """
    number = check_run_id(run_id)
    deadline = Deadline(timeout_s)
    started = time.monotonic()
    delays = poll.delays()
    while True:
        run = fetch_run(api, number)
        state = parse_run_state(run)
        if on_state is not None:
            on_state(state, time.monotonic() - started)
        if state.is_terminal:
            if state.is_successful:
                return outcome_of(number, run, state)
            raise run_failure(number, state, run)
        if deadline.expired:
            raise DatabricksTimeoutError(
                f"Databricks run {number} was still {state.describe()} after {timeout_s:g} s; it was not "
                "cancelled. Wait longer, or cancel it with cancel_run.",
                detail={"run_id": number, "life_cycle_state": state.life_cycle_state},
            )
        sleep(deadline.clip(next(delays)))


@returns_response
def cancel_run(api: DatabricksApi, run_id: int | str) -> RunState:
    """Cancel a run (idempotent: cancelling a finished run changes nothing); return its state after.

    Databricks cancels asynchronously: the state returned may still be ``TERMINATING``.

    :param api: the Databricks API.
    :param run_id: the Databricks run id.
    """
    number = check_run_id(run_id)
    api.call("POST", RUNS_CANCEL, {"run_id": number}, idempotent=True)
    state = parse_run_state(fetch_run(api, number))
    log.info("Cancelled Databricks run %s: now %s", number, state.describe())
    return state


__all__ = [
    "DEFAULT_RUN_POLL",
    "MAX_IDEMPOTENCY_TOKEN",
    "cancel_run",
    "check_run_id",
    "fetch_run",
    "get_run_state",
    "idempotency_token_for",
    "outcome_of",
    "parse_run_state",
    "run_cluster_ids",
    "run_failure",
    "run_tags",
    "submit_run",
    "wait_for_run",
]
