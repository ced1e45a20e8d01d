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
        minimum = extra.get("min_allowed")
        return f"{where}: is below the minimum {minimum}; use {minimum} or more"
    if kind == "invalid length":
        minimum = extra.get("min_allowed")
        return f"{where}: is shorter than the minimum length {minimum}; give at least {minimum} characters"
    return f"{where}: {kind}"


#: Largest number of instances in one instance group or fleet (and in the ``InstanceCount`` shorthand).
#:
#: EMR's API documents no maximum for ``InstanceCount`` or a fleet's target capacity: what really
#: stops a cluster is the account's EC2 vCPU quotas (On-Demand and Spot), usually far below this,
#: and the free addresses of its subnet. The bound is deliberately generous so that it never
#: refuses a cluster a quota increase could allow, yet it catches the mistakes that would otherwise
#: reach AWS: an extra digit or three, a byte or memory size pasted into a count, an overflowed
#: number. The check runs before anything is written.
MAX_INSTANCES_PER_GROUP = 10_000
#: Length limit of a cluster ``Name`` (EMR's own limit).
MAX_NAME_LENGTH = 256
#: Keys of the ``Instances`` shorthand (one master type, one core type, a total count).
_SHORTHAND_KEYS = ("MasterInstanceType", "SlaveInstanceType", "InstanceCount")
_FLEET_TARGETS = ("TargetOnDemandCapacity", "TargetSpotCapacity")


def _bad_name_character(name: str) -> tuple[int, str] | None:
    """The first character of ``name`` EMR or a log line should not carry, with its position."""
    for position, char in enumerate(name):
        code = ord(char)
        # Control characters (C0 including tab and line breaks, DEL, C1), lone surrogates and the
        # two non-characters EMR's pattern excludes.
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            return position, f"U+{code:04X}"
    return None


def _name_problems(name: Any) -> list[str]:
    if not isinstance(name, str):
        return []  # botocore reports a missing name or a wrong type
    if not name:
        return [f"Name: is empty; give the cluster a name of 1 to {MAX_NAME_LENGTH} characters"]
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"Name: is {len(name)} characters long but EMR allows at most {MAX_NAME_LENGTH}; shorten it"
        )
    bad = _bad_name_character(name)
    if bad is not None:
        problems.append(
            f"Name: has the control character {bad[1]} at position {bad[0]}; use printable characters "
            "only (no NUL, tab, line break or other control character)"
        )
    return problems


def _count_problem(where: str, value: Any, minimum: int, why: str = "") -> str | None:
    """A problem with one instance count, or ``None`` (non-integers are botocore's to report)."""
    if isinstance(value, bool):
        return f"{where}: has type bool, expected int"
    if not isinstance(value, int) or minimum <= value <= MAX_INSTANCES_PER_GROUP:
        return None
    return (
        f"{where}: is {value}, outside {minimum}..{MAX_INSTANCES_PER_GROUP}{why}; set a whole number of "
        f"instances from {minimum} to {MAX_INSTANCES_PER_GROUP}"
    )


def _largest_weight(fleet: Mapping[str, Any]) -> int:
    weights = [
        config.get("WeightedCapacity")
        for config in fleet.get("InstanceTypeConfigs") or []
        if isinstance(config, Mapping)
    ]
    usable = [w for w in weights if isinstance(w, int) and not isinstance(w, bool) and w >= 1]
    return max([1, *usable])


def _fleet_problems(index: int, fleet: Mapping[str, Any]) -> list[str]:
    where = f"Instances.InstanceFleets[{index}]"
    master = fleet.get("InstanceFleetType") == "MASTER"
    weight = _largest_weight(fleet)
    limit = MAX_INSTANCES_PER_GROUP * weight
    problems: list[str] = []
    total = 0
    reported = False  # by botocore: a wrong type, or a value below its minimum 0
    for key in _FLEET_TARGETS:
        value = fleet.get(key)
        if isinstance(value, bool):
            problems.append(f"{where}.{key}: has type bool, expected int")
        elif isinstance(value, int) and value >= 0:
            total += value
            if value > limit:
                problems.append(
                    f"{where}.{key}: is {value} units, more than {MAX_INSTANCES_PER_GROUP} instances of the "
                    f"fleet's largest WeightedCapacity ({weight}) provide; set at most {limit}"
                )
        elif value is not None:
            reported = True
    if master and total < 1 and not problems and not reported:
        problems.append(
            f"{where}: the MASTER fleet has no capacity; set TargetOnDemandCapacity or TargetSpotCapacity "
            "to 1 (the primary node)"
        )
    return problems


def _present(instances: Mapping[str, Any], key: str) -> bool:
    return instances.get(key) is not None


def _role_problems(field: str, role_key: str, kind: str, listed: Any) -> list[str]:
    """EMR clusters have exactly one MASTER group/fleet and at most one CORE group/fleet."""
    if not isinstance(listed, list) or not listed:
        return []
    roles = [item.get(role_key) for item in listed if isinstance(item, Mapping)]
    problems = []
    masters, cores = roles.count("MASTER"), roles.count("CORE")
    if masters != 1:
        problems.append(
            f"Instances.{field}: has {masters} MASTER {kind}s; EMR needs exactly one (the primary node)"
        )
    if cores > 1:
        problems.append(
            f"Instances.{field}: has {cores} CORE {kind}s; EMR takes at most one: merge them, or make "
            f"the extra ones TASK {kind}s"
        )
    return problems


def _node_problems(instances: Any) -> list[str]:
    """How ``Instances`` describes the nodes: exactly one way, with counts within bounds."""
    if not isinstance(instances, Mapping):
        return []  # missing or of the wrong type: botocore reports it
    groups, fleets = _present(instances, "InstanceGroups"), _present(instances, "InstanceFleets")
    shorthand = [key for key in _SHORTHAND_KEYS if _present(instances, key)]
    ways = [name for name, given in (("InstanceGroups", groups), ("InstanceFleets", fleets)) if given]
    if shorthand:
        ways.append("/".join(shorthand))
    if not ways:
        return [
            "Instances: describes no nodes; give InstanceGroups, InstanceFleets, or the shorthand "
            "MasterInstanceType (with SlaveInstanceType and InstanceCount)"
        ]
    if len(ways) > 1:
        return [
            f"Instances: describes the nodes {len(ways)} ways ({' and '.join(ways)}); EMR takes one: keep "
            "InstanceGroups, InstanceFleets or the MasterInstanceType/SlaveInstanceType/InstanceCount "
            "shorthand and remove the others"
        ]
    problems: list[str] = []
    if groups:
        listed = instances["InstanceGroups"]
        if isinstance(listed, list) and not listed:
            problems.append("Instances.InstanceGroups: is empty; give at least the MASTER instance group")
        for i, group in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(group, Mapping):
                continue
            master = group.get("InstanceRole") == "MASTER"
            why = " (a MASTER group needs at least 1)" if master else ""
            problem = _count_problem(
                f"Instances.InstanceGroups[{i}].InstanceCount", group.get("InstanceCount"), int(master), why
            )
            if problem:
                problems.append(problem)
        problems += _role_problems("InstanceGroups", "InstanceRole", "group", listed)
    elif fleets:
        listed = instances["InstanceFleets"]
        if isinstance(listed, list) and not listed:
            problems.append("Instances.InstanceFleets: is empty; give at least the MASTER instance fleet")
        for i, fleet in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(fleet, Mapping):
                problems += _fleet_problems(i, fleet)
        problems += _role_problems("InstanceFleets", "InstanceFleetType", "fleet", listed)
    else:
        if not _present(instances, "MasterInstanceType"):
            problems.append(
                "Instances.MasterInstanceType: is missing; the shorthand SlaveInstanceType/InstanceCount "
                "needs it (or describe the nodes with InstanceGroups or InstanceFleets instead)"
            )
        problem = _count_problem(
            "Instances.InstanceCount",
            instances.get("InstanceCount"),
            1,
            " (the count includes the master node)",
        )
        if problem:
            problems.append(problem)
    return problems


def limit_problems(request: Mapping[str, Any]) -> list[str]:
    """Check what botocore's model does not: the name, the node layout and the instance counts.

    * ``Name``: 1 to :data:`MAX_NAME_LENGTH` characters, none of them a control character.
    * ``Instances``: exactly one way of describing the nodes (``InstanceGroups``, ``InstanceFleets``
      or the ``MasterInstanceType``/``SlaveInstanceType``/``InstanceCount`` shorthand).
    * Roles: exactly one MASTER instance group (or fleet), at most one CORE.
    * Counts are whole numbers: a group's ``InstanceCount`` (and the shorthand's) at most
      :data:`MAX_INSTANCES_PER_GROUP`, at least 1 for the MASTER group and the shorthand, at least 0
      for CORE and TASK groups; a fleet's target capacities at most what
      :data:`MAX_INSTANCES_PER_GROUP` instances of its largest ``WeightedCapacity`` provide (their
      minimum 0 is in botocore's model), and a MASTER fleet's at least 1 in total.

    Values other than numbers are never quoted (a request may carry secrets). A value of the wrong
    type is left to :func:`validation_problems`' botocore check.

    :param request: the RunJobFlow keyword arguments.
    """
    return _name_problems(request.get("Name")) + _node_problems(request.get("Instances"))


def validation_problems(request: Mapping[str, Any]) -> list[str]:
    """Check a RunJobFlow request; return every problem found.

    botocore's input model checks the fields and their types; :func:`limit_problems` then checks the
    name, the node layout and the instance counts. Values are never quoted in the problems (a
    request may carry secrets).

    :param request: the RunJobFlow keyword arguments.
    """
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(dict(request), _run_job_flow_shape())
    problems: list[str] = []
    if report.has_errors():
        errors = getattr(report, "_errors", None)
        if isinstance(errors, list):
            problems = [_format_botocore_error(e) for e in errors]
        else:
            problems = [line for line in report.generate_report().splitlines() if line.strip()]
    return problems + limit_problems(request)


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
    the limits of :func:`limit_problems` (name, node layout, instance counts), and every problem is
    reported in one error.

    :param request: RunJobFlow keyword arguments (not modified).
    :param project_id: the Sync project id.
    :param project_location: ``s3://bucket[/prefix]`` folder of the project's runs.
    :param run_id: the run id; default the request's ``sync:run-id`` tag, else a new UUID4.
    :param now: time of the run folder (default: now, UTC).
    :raises InvalidInputError: listing every problem (bad location, conflicts, botocore problems,
        limits).
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
