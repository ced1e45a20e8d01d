"""Databricks cluster specs: validation, Sync tags and log delivery, applying a prediction.

Everything here is pure: no network, and the caller's dicts are never changed.
"""

from __future__ import annotations

import copy
import difflib
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sync_provider.core.databricks.models import PROJECT_ID_TAG, RUN_ID_TAG, PreparedCluster
from sync_provider.core.errors import InvalidInputError, PredictionError
from sync_provider.core.models import Platform, Prediction, Preference
from sync_provider.core.predictions import returns_response

log = logging.getLogger(__name__)

_STR_FIELDS = frozenset(
    {
        "spark_version",
        "node_type_id",
        "driver_node_type_id",
        "instance_pool_id",
        "driver_instance_pool_id",
        "policy_id",
        "cluster_name",
        "runtime_engine",
        "data_security_mode",
        "single_user_name",
        "kind",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "enable_elastic_disk",
        "enable_local_disk_encryption",
        "apply_policy_default_values",
        "use_ml_runtime",
        "is_single_node",
    }
)
_INT_FIELDS = frozenset(
    {"num_workers", "autotermination_minutes", "total_initial_remote_disk_size", "remote_disk_throughput"}
)
_STR_MAP_FIELDS = frozenset({"spark_conf", "spark_env_vars", "custom_tags"})
_OBJECT_FIELDS = frozenset(
    {
        "autoscale",
        "aws_attributes",
        "azure_attributes",
        "gcp_attributes",
        "cluster_log_conf",
        "docker_image",
        "disk_spec",
        "workload_type",
        "clone_from",
    }
)
_LIST_FIELDS: dict[str, type] = {"init_scripts": dict, "ssh_public_keys": str, "cluster_mount_infos": dict}
#: Top-level fields of a Databricks cluster spec (``clusters/create`` / a job's ``new_cluster``).
KNOWN_FIELDS = frozenset(
    _STR_FIELDS | _BOOL_FIELDS | _INT_FIELDS | _STR_MAP_FIELDS | _OBJECT_FIELDS | set(_LIST_FIELDS)
)
_AVAILABILITY = ("SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK")
_AWS_INT_FIELDS = (
    "first_on_demand",
    "spot_bid_price_percent",
    "ebs_volume_count",
    "ebs_volume_size",
    "ebs_volume_iops",
    "ebs_volume_throughput",
)
_LOG_KINDS = ("s3", "dbfs", "volumes")
_ZONE_RE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d)[a-z]$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_S3_DEFAULTS: dict[str, Any] = {"enable_encryption": True, "canned_acl": "bucket-owner-full-control"}
#: Largest ``num_workers``, ``autoscale.min_workers`` and ``autoscale.max_workers`` accepted.
#:
#: The Clusters API documents no maximum for these fields. What limits a real cluster is the cloud
#: account's instance quotas and the network: Databricks on AWS gives every node two IP addresses
#: and a workspace subnet is at most a /17, so one cluster cannot go much beyond 16,000 nodes. The
#: bound sits well above that, so it never refuses a cluster that could start, and catches the
#: mistakes that would otherwise reach Databricks (an extra digit or three, an overflowed number).
MAX_WORKERS = 100_000


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(spec: Mapping[str, Any], problems: list[str]) -> None:
    for key, value in spec.items():
        if not isinstance(key, str):
            problems.append(f"field name {key!r} is not a string")
            continue
        if key in _STR_FIELDS and not isinstance(value, str):
            problems.append(f"{key} must be a string (got {_type_name(value)})")
        elif key in _BOOL_FIELDS and not isinstance(value, bool):
            problems.append(f"{key} must be true or false (got {_type_name(value)})")
        elif key in _INT_FIELDS and not (_is_int(value) and value >= 0):
            problems.append(f"{key} must be a whole number >= 0 (got {value!r})")
        elif key == "num_workers" and value > MAX_WORKERS:
            problems.append(_too_many("num_workers", value))
        elif key in _STR_MAP_FIELDS:
            if not isinstance(value, Mapping):
                problems.append(f"{key} must be an object of strings (got {_type_name(value)})")
                continue
            for name, item in value.items():
                if not isinstance(name, str) or not isinstance(item, str):
                    problems.append(
                        f"{key}[{name!r}] must be a string (got {_type_name(item)} {item!r}); "
                        "Databricks takes string values only"
                    )
        elif key in _OBJECT_FIELDS and not isinstance(value, Mapping):
            problems.append(f"{key} must be an object (got {_type_name(value)})")
        elif key in _LIST_FIELDS:
            item_type = _LIST_FIELDS[key]
            if not isinstance(value, list):
                problems.append(f"{key} must be a list (got {_type_name(value)})")
            elif not all(isinstance(item, item_type) for item in value):
                kind = "objects" if item_type is dict else "strings"
                problems.append(f"{key} must be a list of {kind}")


def _too_many(field: str, value: int) -> str:
    return (
        f"{field} must be at most {MAX_WORKERS} (got {value}); no Databricks cluster is that large: "
        "check the number for extra digits"
    )


def _check_shape(spec: Mapping[str, Any], problems: list[str]) -> None:
    if not spec.get("spark_version"):
        problems.append("spark_version is required (e.g. '13.3.x-scala2.12')")
    if not spec.get("node_type_id") and not spec.get("instance_pool_id") and not spec.get("policy_id"):
        problems.append("give node_type_id or instance_pool_id (or a policy_id whose policy sets one)")
    has_workers, has_autoscale = "num_workers" in spec, "autoscale" in spec
    if has_workers and has_autoscale:
        problems.append("give num_workers or autoscale, not both")
    elif not has_workers and not has_autoscale:
        problems.append("give num_workers (a fixed size) or autoscale {min_workers, max_workers}")
    autoscale = spec.get("autoscale")
    if isinstance(autoscale, Mapping):
        low: Any = autoscale.get("min_workers")
        high: Any = autoscale.get("max_workers")
        if not (_is_int(low) and low >= 0):
            problems.append(f"autoscale.min_workers must be a whole number >= 0 (got {low!r})")
        elif low > MAX_WORKERS:
            problems.append(_too_many("autoscale.min_workers", low))
        if not (_is_int(high) and high >= 1):
            problems.append(f"autoscale.max_workers must be a whole number >= 1 (got {high!r})")
        elif _is_int(low) and low > high:
            problems.append(f"autoscale.min_workers ({low}) is larger than autoscale.max_workers ({high})")
        elif high > MAX_WORKERS:
            problems.append(_too_many("autoscale.max_workers", high))
        extra = sorted(set(autoscale) - {"min_workers", "max_workers"})
        if extra:
            problems.append(f"autoscale has unknown fields: {', '.join(extra)}")
    aws = spec.get("aws_attributes")
    if isinstance(aws, Mapping):
        availability = aws.get("availability")
        if availability is not None and availability not in _AVAILABILITY:
            problems.append(
                f"aws_attributes.availability must be one of {', '.join(_AVAILABILITY)} "
                f"(got {availability!r})"
            )
        for name in _AWS_INT_FIELDS:
            if name in aws and not (_is_int(aws[name]) and aws[name] >= 0):
                problems.append(f"aws_attributes.{name} must be a whole number >= 0 (got {aws[name]!r})")
    log_conf = spec.get("cluster_log_conf")
    if isinstance(log_conf, Mapping):
        kinds = [kind for kind in _LOG_KINDS if kind in log_conf]
        unknown = sorted(set(log_conf) - set(_LOG_KINDS))
        if unknown:
            problems.append(f"cluster_log_conf has unknown fields: {', '.join(map(str, unknown))}")
        if len(kinds) != 1:
            problems.append("cluster_log_conf must have exactly one of s3, dbfs or volumes")
        for kind in kinds:
            target = log_conf[kind]
            if not isinstance(target, Mapping) or not isinstance(target.get("destination"), str):
                problems.append(f"cluster_log_conf.{kind} must be an object with a string destination")


def validate_cluster_spec(spec: Any) -> list[str]:
    """Return every problem of a Databricks cluster spec (an empty list when it is valid).

    Checks: required ``spark_version``; ``node_type_id`` or ``instance_pool_id`` (or a
    ``policy_id``); ``num_workers`` xor ``autoscale {min_workers, max_workers}``, each a whole
    number from 0 (1 for ``max_workers``) to :data:`MAX_WORKERS`; the types of known fields;
    unknown top-level fields (with a suggestion).

    :data:`MAX_WORKERS` (100,000) is this module's own sanity bound, not a documented Databricks
    limit: the Clusters API documents none. It is far above what a workspace's network and quotas
    allow (see :data:`MAX_WORKERS`), so it refuses only mistakes such as ``10**9``.

    :param spec: the cluster spec.
    """
    if not isinstance(spec, Mapping):
        return [f"the cluster spec must be an object (got {_type_name(spec)})"]
    problems: list[str] = []
    for key in spec:
        if isinstance(key, str) and key not in KNOWN_FIELDS:
            close = difflib.get_close_matches(key, KNOWN_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown field {key!r}{hint}")
    _check_types(spec, problems)
    _check_shape(spec, problems)
    return problems


def _problems_error(what: str, problems: list[str]) -> InvalidInputError:
    if len(problems) == 1:
        text = f"{what} has a problem: {problems[0]}."
    else:
        listed = "; ".join(f"({n}) {p}" for n, p in enumerate(problems, 1))
        text = f"{what} has {len(problems)} problems: {listed}."
    return InvalidInputError(text, detail={"problems": problems})


def parse_log_location(location: str) -> tuple[str, str]:
    """Split a project location into ``(scheme, normalised URL without trailing slash)``.

    :param location: ``s3://bucket[/prefix]`` or ``dbfs:/path``.
    :raises InvalidInputError: for anything else.
    """
    text = (location or "").strip().rstrip("/")
    if text.startswith("s3://"):
        if not text[len("s3://") :].split("/", 1)[0]:
            raise InvalidInputError(f"Project location {location!r} has no bucket; use s3://bucket/prefix.")
        return "s3", text
    if text.startswith("dbfs:/"):
        path = "/" + text[len("dbfs:") :].lstrip("/")
        if path == "/":
            raise InvalidInputError(f"Project location {location!r} is the DBFS root; give a folder.")
        return "dbfs", "dbfs:" + path
    raise InvalidInputError(
        f"Project location {location!r} is not supported for Databricks log delivery: use "
        "s3://bucket/prefix or dbfs:/path."
    )


def log_destination(project_location: str, project_id: str, run_id: str) -> tuple[str, str]:
    """Return ``(scheme, destination)``: ``<project location>/<project id>/<run id>``.

    :param project_location: ``s3://…`` or ``dbfs:/…``.
    :param project_id: the Sync project.
    :param run_id: the Sync run id.
    """
    scheme, base = parse_log_location(project_location)
    return scheme, f"{base}/{project_id}/{run_id}"


def _same_destination(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        value = value.strip().rstrip("/")
        if value.startswith("dbfs:"):
            value = "dbfs:/" + value[len("dbfs:") :].lstrip("/")
        return value

    return norm(a) == norm(b)


def _region_from_zone(spec: Mapping[str, Any]) -> str | None:
    aws = spec.get("aws_attributes")
    zone = aws.get("zone_id") if isinstance(aws, Mapping) else None
    match = _ZONE_RE.match(zone) if isinstance(zone, str) else None
    return match.group(1) if match else None


def _check_id(name: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, str) or not _ID_RE.match(value):
        problems.append(
            f"{name} {value!r} must be 1-128 letters, digits, '.', '_', ':' or '-' (it becomes a tag "
            "value and a log folder name)"
        )


def _merge_log_conf(
    spec: dict[str, Any],
    scheme: str,
    destination: str,
    region: str | None,
    problems: list[str],
) -> None:
    current = spec.get("cluster_log_conf")
    if current is None:
        current = {}
    if not isinstance(current, Mapping):
        return  # reported by the validation
    kinds = [kind for kind in _LOG_KINDS if kind in current]
    if kinds and kinds != [scheme]:
        where = current[kinds[0]].get("destination") if isinstance(current[kinds[0]], Mapping) else None
        problems.append(
            f"cluster_log_conf sends logs to {kinds[0]} ({where!r}) but the Sync project needs them in "
            f"{destination}: remove your cluster_log_conf, or point the project location there"
        )
        return
    target = dict(current.get(scheme) or {})
    existing = target.get("destination")
    if existing is not None and not (isinstance(existing, str) and _same_destination(existing, destination)):
        problems.append(
            f"cluster_log_conf.{scheme}.destination is {existing!r} but the Sync project needs the logs in "
            f"{destination!r}: remove your destination, or point the project location there"
        )
        return
    target["destination"] = existing if isinstance(existing, str) else destination
    if scheme == "s3":
        for key, value in _S3_DEFAULTS.items():
            target.setdefault(key, value)
        if not target.get("region") and not target.get("endpoint"):
            chosen = region or _region_from_zone(spec)
            if chosen:
                target["region"] = chosen
            else:
                problems.append(
                    "the S3 log destination needs the bucket's AWS region: pass region=... (or set "
                    "cluster_log_conf.s3.region, or aws_attributes.zone_id)"
                )
        elif region and target.get("region") and target["region"] != region:
            problems.append(
                f"cluster_log_conf.s3.region is {target['region']!r} but region={region!r} was given"
            )
    spec["cluster_log_conf"] = {scheme: target}


def _merge_tags(spec: dict[str, Any], project_id: str, run_id: str | None, problems: list[str]) -> str:
    tags = spec.get("custom_tags")
    tags = dict(tags) if isinstance(tags, Mapping) else {}
    have_project = tags.get(PROJECT_ID_TAG)
    if have_project is not None and have_project != project_id:
        problems.append(
            f"custom_tags[{PROJECT_ID_TAG!r}] is {have_project!r} but the run is for project "
            f"{project_id!r}: remove the tag or use that project"
        )
    have_run = tags.get(RUN_ID_TAG)
    if run_id is not None and have_run is not None and have_run != run_id:
        problems.append(
            f"custom_tags[{RUN_ID_TAG!r}] is {have_run!r} but run_id={run_id!r} was given: remove the tag "
            "or pass the same run id"
        )
    chosen = run_id or (have_run if isinstance(have_run, str) and have_run else None) or str(uuid.uuid4())
    tags[PROJECT_ID_TAG] = project_id
    tags[RUN_ID_TAG] = chosen
    spec["custom_tags"] = tags
    return chosen


def prepare_cluster_spec(
    spec: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None = None,
    region: str | None = None,
) -> PreparedCluster:
    """Return a copy of ``spec`` with what a Sync prediction needs: tags and log delivery.

    - ``custom_tags`` gets ``sync:project-id`` and ``sync:run-id``;
    - ``cluster_log_conf`` delivers logs to ``<project location>/<project id>/<run id>``: for S3
      ``{"s3": {"destination", "region", "enable_encryption": true, "canned_acl":
      "bucket-owner-full-control"}}``, for DBFS ``{"dbfs": {"destination"}}``.

    Every user value is kept (an S3 option you set wins over ours). A conflict — a log destination
    elsewhere, a Sync tag with another value — is an error, never silently overwritten. All
    problems (spec shape, types, unknown fields, conflicts) are reported at once.

    :param spec: the cluster spec (``new_cluster``); not changed.
    :param project_id: the Sync project id.
    :param project_location: ``s3://bucket/prefix`` or ``dbfs:/path`` (the project's log location).
    :param run_id: the Sync run id; by default the spec's ``sync:run-id`` tag or a fresh UUID.
    :param region: the S3 bucket's AWS region (default: the spec's log conf, or its
        ``aws_attributes.zone_id``).
    :raises InvalidInputError: listing every problem (also in ``detail["problems"]``).
    """
    problems = validate_cluster_spec(spec)
    _check_id("project_id", project_id, problems)
    if run_id is not None:
        _check_id("run_id", run_id, problems)
    try:
        scheme, _ = parse_log_location(project_location)
    except InvalidInputError as exc:
        problems.append(exc.message.rstrip("."))
        scheme = ""
    if not isinstance(spec, Mapping):
        raise _problems_error("The cluster spec", problems)
    prepared = copy.deepcopy(dict(spec))
    chosen_run = _merge_tags(prepared, str(project_id), run_id, problems)
    destination = ""
    if scheme:
        _, destination = log_destination(project_location, str(project_id), chosen_run)
        _merge_log_conf(prepared, scheme, destination, region, problems)
    if problems:
        raise _problems_error("The cluster spec", problems)
    conf = prepared["cluster_log_conf"][scheme]
    return PreparedCluster(
        spec=prepared,
        project_id=str(project_id),
        run_id=chosen_run,
        log_destination=str(conf["destination"]),
        log_scheme="s3" if scheme == "s3" else "dbfs",
    )


# --------------------------------------------------------------------------------------------------
# applying a prediction

#: Cluster-shape fields a prediction's solution decides.
_SOLUTION_REPLACED = ("node_type_id", "driver_node_type_id")
_SOLUTION_MERGED = ("spark_conf", "aws_attributes")


def _databricks_solution(prediction: Prediction, preference: Preference | str) -> dict[str, Any]:
    product = prediction.product_code
    if product and product != Platform.AWS_DATABRICKS.value:
        raise PredictionError(
            f"Prediction {prediction.prediction_id} is for {product}, not {Platform.AWS_DATABRICKS.value}: "
            "it cannot configure a Databricks cluster."
        )
    configuration = dict(prediction.solution(preference).configuration)
    if "Instances" in configuration or not (
        {"node_type_id", "num_workers", "autoscale"} & set(configuration)
    ):
        raise PredictionError(
            f"Prediction {prediction.prediction_id}'s {preference} solution is not a Databricks cluster "
            "configuration (no node_type_id, num_workers or autoscale): use a prediction made for "
            f"{Platform.AWS_DATABRICKS.value}."
        )
    return configuration


def _is_ours(log_conf: Any, project_location: str, project_id: str) -> bool:
    """Whether ``log_conf`` points into this project's folder (a previous run's destination)."""
    if not isinstance(log_conf, Mapping):
        return False
    try:
        _, base = parse_log_location(project_location)
    except InvalidInputError:
        return False
    prefix = f"{base}/{project_id}/"
    for target in log_conf.values():
        destination = target.get("destination") if isinstance(target, Mapping) else None
        if isinstance(destination, str) and (destination.rstrip("/") + "/").startswith(prefix):
            return True
    return False


def merge_solution(
    base_spec: Mapping[str, Any], configuration: Mapping[str, Any], *, project_location: str, project_id: str
) -> dict[str, Any]:
    """Merge a solution's cluster configuration into the user's spec (pure; inputs unchanged).

    The solution decides ``node_type_id``, ``driver_node_type_id`` and the size (``num_workers`` or
    ``autoscale``; the other is removed), and its ``spark_conf`` and ``aws_attributes`` entries are
    merged over the user's. Everything else of the user's spec stays (tags, init scripts, policy,
    environment, log conf); the solution's ``init_scripts`` are added when not already there. A log
    destination left from a previous run of the same project and the ``sync:run-id`` tag are
    dropped, so that the new run gets its own.

    :param base_spec: the user's cluster spec.
    :param configuration: the solution's ``configuration``.
    :param project_location: the project's log location.
    :param project_id: the Sync project.
    """
    merged = copy.deepcopy(dict(base_spec))
    config = copy.deepcopy(dict(configuration))
    for key in _SOLUTION_REPLACED:
        if key in config:
            merged[key] = config[key]
    if "node_type_id" in config and merged.pop("instance_pool_id", None) is not None:
        log.warning("The solution sets node_type_id %s; instance_pool_id was removed", config["node_type_id"])
    if ("driver_node_type_id" in config or "node_type_id" in config) and merged.pop(
        "driver_instance_pool_id", None
    ) is not None:
        log.warning("The solution sets the node types; driver_instance_pool_id was removed")
    if "autoscale" in config or "num_workers" in config:
        merged.pop("num_workers", None)
        merged.pop("autoscale", None)
        if "autoscale" in config:
            merged["autoscale"] = config["autoscale"]
        else:
            merged["num_workers"] = config["num_workers"]
    for key in _SOLUTION_MERGED:
        if isinstance(config.get(key), Mapping):
            current = merged.get(key)
            merged[key] = {**(dict(current) if isinstance(current, Mapping) else {}), **config[key]}
    extra_scripts = config.get("init_scripts")
    if isinstance(extra_scripts, list):
        scripts = list(merged.get("init_scripts") or [])
        scripts.extend(script for script in extra_scripts if script not in scripts)
        merged["init_scripts"] = scripts
    tags = merged.get("custom_tags")
    if isinstance(tags, Mapping):
        merged["custom_tags"] = {k: v for k, v in tags.items() if k != RUN_ID_TAG}
    if _is_ours(merged.get("cluster_log_conf"), project_location, project_id):
        merged.pop("cluster_log_conf")
    return merged


@returns_response
def cluster_spec_from_prediction(
    prediction: Prediction | Mapping[str, Any],
    preference: Preference | str,
    base_spec: Mapping[str, Any],
    *,
    project_id: str,
    project_location: str,
    run_id: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Return the cluster spec of the next run: the chosen solution applied to the user's spec.

    See :func:`merge_solution` for what the solution changes and what is kept; the result then
    goes through :func:`prepare_cluster_spec` (fresh ``sync:run-id``, log conf for the new run).

    :param prediction: the prediction (a :class:`~sync_provider.core.models.Prediction` or its JSON).
    :param preference: ``performance``, ``balanced`` or ``economy``.
    :param base_spec: the user's cluster spec.
    :param project_id: the Sync project.
    :param project_location: the project's log location (``s3://…`` or ``dbfs:/…``).
    :param run_id: the new run's Sync run id (default: a fresh UUID).
    :param region: the S3 bucket's region (see :func:`prepare_cluster_spec`).
    :raises PredictionError: a prediction for another platform, or no such solution.
    :raises InvalidInputError: the merged spec is invalid or conflicts with the project.
    """
    model = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
    configuration = _databricks_solution(model, preference)
    merged = merge_solution(
        base_spec, configuration, project_location=project_location, project_id=project_id
    )
    prepared = prepare_cluster_spec(
        merged, project_id=project_id, project_location=project_location, run_id=run_id, region=region
    )
    return prepared.spec


__all__ = [
    "KNOWN_FIELDS",
    "cluster_spec_from_prediction",
    "log_destination",
    "merge_solution",
    "parse_log_location",
    "prepare_cluster_spec",
    "validate_cluster_spec",
]
