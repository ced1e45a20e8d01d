"""Preparing RunJobFlow requests: Sync's tags, the event-log folder, validation, applying a prediction."""

from __future__ import annotations

import copy
import functools
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sync_provider.core.emr._common import (
    EVENTLOG_DIR,
    EVENTLOG_ENABLED,
    EVENTLOG_FOLDER,
    PROJECT_TAG,
    RUN_TAG,
    SPARK_DEFAULTS,
    TIMESTAMP_FORMAT,
    PreparedRun,
    ProjectLocation,
    id_problems,
    location_problems,
    parse_run_eventlog_dir,
)
from sync_provider.core.errors import InvalidInputError
from sync_provider.core.models import Platform, Prediction, Preference
from sync_provider.core.predictions import returns_response

#: Keys of ``Instances`` that say which nodes a cluster has; a solution replaces all of them.
_NODE_KEYS = ("InstanceGroups", "InstanceFleets", "MasterInstanceType", "SlaveInstanceType", "InstanceCount")


_TYPE_NAME_RE = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


@functools.cache
def _run_job_flow_shape() -> Any:
    """botocore's RunJobFlow input shape, loaded on first use and kept."""
    import botocore.session

    return botocore.session.get_session().get_service_model("emr").operation_model("RunJobFlow").input_shape


def _format_botocore_error(error: Any) -> str:
    """One problem from botocore's validator, without the offending value (it may be a secret)."""
    try:
        kind, name, extra = error
    except (TypeError, ValueError):
        return str(error)
    where = str(name or "").lstrip(".") or "the request"
    extra = extra if isinstance(extra, Mapping) else {}
    if kind == "missing required field":
        return f"{where}: missing required field {extra.get('required_name')!r}"
    if kind == "unknown field":
        valid = ", ".join(extra.get("valid_names", []))
        return f"{where}: unknown field {extra.get('unknown_param')!r} (valid fields: {valid})"
    if kind in ("invalid type", "invalid type for document"):
        valid = " or ".join(_TYPE_NAME_RE.sub(r"\1", str(t)) for t in extra.get("valid_types", []))
        got = type(extra.get("param")).__name__
        return f"{where}: has type {got}, expected {valid}"
    if kind == "invalid range":
        return f"{where}: is below the minimum {extra.get('min_allowed')}"
    if kind == "invalid length":
        return f"{where}: is shorter than the minimum length {extra.get('min_allowed')}"
    return f"{where}: {kind}"


def validation_problems(request: Mapping[str, Any]) -> list[str]:
    """Check a RunJobFlow request against botocore's input model; return every problem found.

    Values are never quoted in the problems (a request may carry secrets).

    :param request: the RunJobFlow keyword arguments.
    """
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(dict(request), _run_job_flow_shape())
    if not report.has_errors():
        return []
    errors = getattr(report, "_errors", None)
    if isinstance(errors, list):
        return [_format_botocore_error(e) for e in errors]
    return [line for line in report.generate_report().splitlines() if line.strip()]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _spark_defaults_entries(configurations: Any) -> list[dict[str, Any]]:
    if not isinstance(configurations, list):
        return []
    return [c for c in configurations if isinstance(c, dict) and c.get("Classification") == SPARK_DEFAULTS]


def _nested_configuration_lists(request: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Configurations lists inside ``Instances`` (per group or per fleet instance type)."""
    found: list[tuple[str, Any]] = []
    instances = request.get("Instances")
    if not isinstance(instances, Mapping):
        return found
    for i, group in enumerate(instances.get("InstanceGroups") or []):
        if isinstance(group, Mapping) and "Configurations" in group:
            found.append((f"Instances.InstanceGroups[{i}].Configurations", group["Configurations"]))
    for i, fleet in enumerate(instances.get("InstanceFleets") or []):
        if not isinstance(fleet, Mapping):
            continue
        for j, config in enumerate(fleet.get("InstanceTypeConfigs") or []):
            if isinstance(config, Mapping) and "Configurations" in config:
                where = f"Instances.InstanceFleets[{i}].InstanceTypeConfigs[{j}].Configurations"
                found.append((where, config["Configurations"]))
    return found


def _eventlog_problems(where: str, properties: Mapping[str, Any], eventlog_dir: str | None) -> list[str]:
    problems: list[str] = []
    enabled = properties.get(EVENTLOG_ENABLED)
    if enabled is not None and not _is_true(enabled):
        problems.append(
            f"{where}: {EVENTLOG_ENABLED} is {enabled!r} but Sync needs 'true' (it reads the Spark event "
            "log); remove the property or set it to 'true'"
        )
    current = properties.get(EVENTLOG_DIR)
    if current is not None and eventlog_dir is not None and current != eventlog_dir:
        problems.append(
            f"{where}: {EVENTLOG_DIR} is {current!r} but Sync needs {eventlog_dir!r}; remove the property "
            "(Sync sets it) or launch without Sync"
        )
    return problems


def _tag_problems(tags: list[Any], project_id: str, run_id: str) -> list[str]:
    problems: list[str] = []
    for tag in tags:
        if not isinstance(tag, Mapping):
            continue
        key, value = tag.get("Key"), tag.get("Value")
        if key == PROJECT_TAG and value != project_id:
            problems.append(
                f"Tags: {PROJECT_TAG} is {value!r} but the project is {project_id!r}; remove the tag or "
                "use that project"
            )
        if key == RUN_TAG and value != run_id:
            problems.append(
                f"Tags: {RUN_TAG} is {value!r} but the run id is {run_id!r}; remove the tag or pass "
                "run_id=None to keep it"
            )
    return problems


def _existing_run_id(tags: Any) -> str | None:
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and tag.get("Key") == RUN_TAG and isinstance(tag.get("Value"), str):
                return str(tag["Value"])
    return None


def _existing_timestamp(
    configurations: Any, location: ProjectLocation | None, project_id: str, run_id: str
) -> str | None:
    """The time segment of an event-log folder this same run already has (re-preparing is a no-op)."""
    if location is None:
        return None
    for entry in _spark_defaults_entries(configurations):
        props = entry.get("Properties")
        current = props.get(EVENTLOG_DIR) if isinstance(props, Mapping) else None
        if not isinstance(current, str):
            continue
        parsed = parse_run_eventlog_dir(current)
        if (
            parsed is not None
            and current.startswith("s3a://")
            and parsed.bucket == location.bucket
            and parsed.run_id == run_id
            and parsed.project_id == project_id
        ):
            expected_root = location.key(project_id) + "/"
            if parsed.run_key.startswith(expected_root):
                timestamp = parsed.run_key[len(expected_root) :].split("/", 1)[0]
                return timestamp
    return None


def _prepare(
    request: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None,
    now: datetime | None,
) -> PreparedRun:
    if not isinstance(request, Mapping):
        raise InvalidInputError(
            f"The RunJobFlow request must be a JSON object (a mapping), not {type(request).__name__}."
        )
    problems: list[str] = []
    location, location_errors = location_problems(project_location)
    problems += location_errors
    problems += id_problems(project_id, "project_id")
    prepared: dict[str, Any] = copy.deepcopy(dict(request))

    tags = prepared.get("Tags")
    if tags is None:
        tags = prepared["Tags"] = []
    existing_run = _existing_run_id(tags)
    run = run_id if run_id is not None else (existing_run or str(uuid.uuid4()))
    problems += id_problems(run, "run_id")

    configurations = prepared.get("Configurations")
    if configurations is None:
        configurations = prepared["Configurations"] = []
    timestamp = _existing_timestamp(configurations, location, project_id, run) or _now(now).strftime(
        TIMESTAMP_FORMAT
    )
    run_key = (location.key(project_id, timestamp, run) + "/") if location else ""
    bucket = location.bucket if location else "?"
    eventlog_dir = f"s3a://{bucket}/{run_key}{EVENTLOG_FOLDER}"
    expected_dir = eventlog_dir if location is not None else None

    if isinstance(tags, list):
        problems += _tag_problems(tags, project_id, run)
        present = {t.get("Key") for t in tags if isinstance(t, Mapping)}
        for key, value in ((PROJECT_TAG, project_id), (RUN_TAG, run)):
            if key not in present:
                tags.append({"Key": key, "Value": value})

    if isinstance(configurations, list):
        entries = _spark_defaults_entries(configurations)
        if len(entries) > 1:
            problems.append(
                f"Configurations: {len(entries)} entries have the classification {SPARK_DEFAULTS!r}; "
                "merge them into one"
            )
        if not entries:
            entries = [{"Classification": SPARK_DEFAULTS, "Properties": {}}]
            configurations.append(entries[0])
        for entry in entries:
            props = entry.setdefault("Properties", {})
            if not isinstance(props, dict):
                continue  # botocore reports the wrong type below
            problems += _eventlog_problems(f"Configurations[{SPARK_DEFAULTS}]", props, expected_dir)
            props.setdefault(EVENTLOG_ENABLED, "true")
            props.setdefault(EVENTLOG_DIR, eventlog_dir)
    for where, nested in _nested_configuration_lists(prepared):
        for entry in _spark_defaults_entries(nested):
            props = entry.get("Properties")
            if isinstance(props, Mapping):
                problems += _eventlog_problems(f"{where}[{SPARK_DEFAULTS}]", props, expected_dir)

    problems += validation_problems(prepared)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise InvalidInputError(
            f"The RunJobFlow request cannot be launched for Sync ({count}): {listed}.",
            detail={"problems": problems},
        )
    assert location is not None
    run_prefix = f"s3://{location.bucket}/{run_key}"
    return PreparedRun(
        request=prepared,
        project_id=project_id,
        run_id=run,
        timestamp=timestamp,
        run_prefix=run_prefix,
        eventlog_dir=eventlog_dir,
        eventlog_dir_s3=run_prefix + EVENTLOG_FOLDER,
    )


@returns_response
def prepare_run_job_flow(
    request: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> PreparedRun:
    """Add Sync's tags and event-log settings to a RunJobFlow request (pure: no I/O).

    The request gets the tags ``sync:project-id`` and ``sync:run-id`` and, in ``spark-defaults``,
    ``spark.eventLog.enabled=true`` and ``spark.eventLog.dir=s3a://<bucket>/<prefix>/<project id>/
    <UTC time>/<run id>/eventlog/``. Everything else the user set is kept. A user value that differs
    from Sync's is an error, never overwritten; the same value is fine, so preparing a prepared
    request again changes nothing. The result is checked against botocore's RunJobFlow model and
    every problem is reported in one error.

    :param request: RunJobFlow keyword arguments (not modified).
    :param project_id: the Sync project id.
    :param project_location: ``s3://bucket[/prefix]`` folder of the project's runs.
    :param run_id: the run id; default the request's ``sync:run-id`` tag, else a new UUID4.
    :param now: time of the run folder (default: now, UTC).
    :raises InvalidInputError: listing every problem (bad location, conflicts, botocore problems).
    """
    return _prepare(request, project_id=project_id, project_location=project_location, run_id=run_id, now=now)


# ------------------------------------------------------------------------------- applying a prediction


def _merge_configurations(base: list[Any], overrides: list[Any]) -> list[Any]:
    """Merge EMR configuration lists by classification; ``overrides`` win property by property."""
    merged = copy.deepcopy(base)
    index = {c.get("Classification"): c for c in merged if isinstance(c, dict)}
    for override in overrides:
        if not isinstance(override, Mapping):
            continue
        target = index.get(override.get("Classification"))
        if target is None:
            copied = copy.deepcopy(dict(override))
            merged.append(copied)
            index[copied.get("Classification")] = copied
            continue
        props = override.get("Properties")
        if isinstance(props, Mapping):
            current = target.get("Properties")
            target["Properties"] = {**(current if isinstance(current, dict) else {}), **copy.deepcopy(props)}
        nested = override.get("Configurations")
        if isinstance(nested, list) and nested:
            current_nested = target.get("Configurations")
            target["Configurations"] = _merge_configurations(
                current_nested if isinstance(current_nested, list) else [], nested
            )
    return merged


def _drop_run_settings(configurations: list[Any], *, any_dir: bool) -> None:
    """Remove a previous run's event-log folder (``any_dir``: whatever folder it is)."""
    for entry in _spark_defaults_entries(configurations):
        props = entry.get("Properties")
        if not isinstance(props, dict):
            continue
        current = props.get(EVENTLOG_DIR)
        if isinstance(current, str) and (any_dir or parse_run_eventlog_dir(current) is not None):
            props.pop(EVENTLOG_DIR)
            if _is_true(props.get(EVENTLOG_ENABLED, "true")):
                props.pop(EVENTLOG_ENABLED, None)


def _solution_request(
    prediction: Prediction, preference: Preference | str, base: Mapping[str, Any]
) -> dict[str, Any]:
    if prediction.product_code not in (None, Platform.AWS_EMR.value):
        raise InvalidInputError(
            f"Prediction {prediction.prediction_id} is for {prediction.product_code!r}, not "
            f"{Platform.AWS_EMR.value!r}: an EMR cluster can only be started from an EMR prediction."
        )
    if not isinstance(base, Mapping):
        raise InvalidInputError(
            f"The base RunJobFlow request must be a JSON object (a mapping), not {type(base).__name__}."
        )
    solution = prediction.solution(preference).configuration
    instances = solution.get("Instances")
    if not isinstance(instances, Mapping) or not any(instances.get(k) for k in _NODE_KEYS):
        raise InvalidInputError(
            f"The {preference!s} solution of prediction {prediction.prediction_id} has no EMR Instances "
            "(instance groups or fleets); it cannot be applied to a RunJobFlow request."
        )
    request: dict[str, Any] = copy.deepcopy(dict(base))

    base_instances = request.get("Instances")
    merged_instances = dict(base_instances) if isinstance(base_instances, Mapping) else {}
    for key in _NODE_KEYS:
        merged_instances.pop(key, None)
    merged_instances.update(copy.deepcopy(dict(instances)))
    if "InstanceFleets" in merged_instances and "Ec2SubnetIds" in merged_instances:
        merged_instances.pop("Ec2SubnetId", None)
    if "InstanceGroups" in merged_instances and "Ec2SubnetId" in merged_instances:
        merged_instances.pop("Ec2SubnetIds", None)
    request["Instances"] = merged_instances

    base_configs = request.get("Configurations")
    base_list = list(base_configs) if isinstance(base_configs, list) else []
    solution_configs = copy.deepcopy(solution.get("Configurations") or [])
    if isinstance(solution_configs, list):
        _drop_run_settings(solution_configs, any_dir=True)
        _drop_run_settings(base_list, any_dir=False)
        request["Configurations"] = _merge_configurations(base_list, solution_configs)

    tags = request.get("Tags")
    if isinstance(tags, list):
        request["Tags"] = [t for t in tags if not (isinstance(t, Mapping) and t.get("Key") == RUN_TAG)]
    return request


@returns_response
def run_job_flow_from_prediction(
    prediction: Prediction,
    preference: Preference | str,
    base_request: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build the next run's RunJobFlow request from a prediction's solution and the user's request.

    The solution's ``Instances`` node settings (groups or fleets) replace the base's; other
    ``Instances`` keys the solution does not set (subnet, key name, security groups...) are kept.
    ``Configurations`` are merged by classification: the solution's properties win, the user's other
    properties and classifications are kept. Steps, tags, roles, ``LogUri``, ``Name``, bootstrap
    actions and everything else come from the base. A previous run's event-log folder and run tag are
    dropped; the request is then prepared with a fresh run id (:func:`prepare_run_job_flow`).

    :param prediction: a finished EMR prediction.
    :param preference: which solution to apply.
    :param base_request: the user's RunJobFlow request (e.g. the one of the recorded run).
    :param project_id: the Sync project id.
    :param project_location: ``s3://bucket[/prefix]``.
    :param run_id: the new run's id (default a new UUID4).
    :param now: time of the run folder (default: now).
    :raises InvalidInputError: for a prediction of another platform, a solution without EMR instances,
        or any problem :func:`prepare_run_job_flow` finds.
    :raises PredictionError: when the prediction has no solution for ``preference``.
    """
    request = _solution_request(prediction, preference, base_request)
    prepared = _prepare(
        request,
        project_id=project_id,
        project_location=project_location,
        run_id=run_id or str(uuid.uuid4()),
        now=now,
    )
    return prepared.request
