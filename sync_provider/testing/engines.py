"""Prediction engines of the local Sync API stand-in.

The local server hands each prediction to a :class:`PredictionEngine`. An engine reads the event log
and the cluster report and returns the prediction body (``application_name``, ``basis``,
``solutions``) in the Sync API's shape: every configuration comes with ``metrics`` (``runtime`` in
minutes, ``cost`` in USD) and the ``assumptions`` behind them.

:class:`BasisEngine` is honest about what it knows: it reports the recorded run (runtime from the
event log, cost from the cluster report priced with a :class:`~sync_provider.core.pricing.PriceTable`)
and returns that same configuration for every preference.

An engine raises an exception with a clear message when it cannot read its inputs; the server turns
it into a ``FAILURE`` prediction.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.pricing import DEFAULT_PRICE_TABLE, PriceTable, databricks_cost_usd, emr_cost_usd

__all__ = [
    "BASIS_ONLY_ASSUMPTION",
    "DATABRICKS_PRODUCT",
    "EMR_PRODUCT",
    "BasisEngine",
    "PredictionEngine",
    "PredictionRequest",
    "databricks_basis_configuration",
    "emr_basis_configuration",
    "emr_nodes",
]

EMR_PRODUCT = "aws-emr"
DATABRICKS_PRODUCT = "aws-databricks"
PREFERENCES = ("performance", "balanced", "economy")

BASIS_ONLY_ASSUMPTION = (
    "Basis only: this local engine does not yet estimate other cluster sizes; "
    "every preference returns the recorded configuration."
)


@dataclass(frozen=True)
class PredictionRequest:
    """What the local server knows about a prediction when it asks an engine for one.

    :param product_code: ``aws-emr`` or ``aws-databricks``.
    :param cluster_report: the cluster report sent with the prediction.
    :param eventlog_path: the event log on local disk (a file, directory or archive).
    :param project_id: the project the prediction belongs to, if any.
    :param prediction_id: the prediction's id.
    """

    product_code: str
    cluster_report: dict[str, Any]
    eventlog_path: Path
    project_id: str | None
    prediction_id: str


@runtime_checkable
class PredictionEngine(Protocol):
    """Computes a prediction body from a :class:`PredictionRequest`.

    ``predict`` returns ``{"application_name": str | None, "basis": {"configuration": {...},
    "metrics": {"runtime": minutes, "cost": USD}, "assumptions": [str, ...]}, "solutions":
    {"performance": {...}, "balanced": {...}, "economy": {...}}}`` (each solution shaped like
    ``basis``), or raises an exception whose message says what is wrong.
    """

    def predict(self, request: PredictionRequest) -> dict[str, Any]:
        """Return the prediction body for ``request``."""
        ...


def _default_summarize(path: Path) -> Any:
    from sync_provider.core.eventlog import summarize

    return summarize(path)


def _report_error(message: str) -> InvalidInputError:
    return InvalidInputError(f"Cannot read the cluster report: {message}")


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _report_error(f"{where} must be a JSON object, got {type(value).__name__}.")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _report_error(f"{where} must be a non-negative number, got {value!r}.")
    return math.ceil(value)


# --------------------------------------------------------------------------------------------------
# EMR


def _volume_gb(devices: Any) -> int:
    total = 0
    for device in devices or []:
        spec = device.get("VolumeSpecification", {}) if isinstance(device, dict) else {}
        size = spec.get("SizeInGB", 0)
        total += int(size) if isinstance(size, int | float) else 0
    return total


def _ebs_configuration(devices: Any, optimized: Any = None) -> dict[str, Any] | None:
    """Turn ListInstanceGroups/Fleets ``EbsBlockDevices`` into a RunJobFlow ``EbsConfiguration``."""
    configs: list[dict[str, Any]] = []
    for device in devices or []:
        spec = device.get("VolumeSpecification") if isinstance(device, dict) else None
        if not isinstance(spec, dict):
            continue
        if configs and configs[-1]["VolumeSpecification"] == spec:
            configs[-1]["VolumesPerInstance"] += 1
        else:
            configs.append({"VolumeSpecification": dict(spec), "VolumesPerInstance": 1})
    if not configs:
        return None
    ebs: dict[str, Any] = {"EbsBlockDeviceConfigs": configs}
    if isinstance(optimized, bool):
        ebs["EbsOptimized"] = optimized
    return ebs


def emr_nodes(report: dict[str, Any]) -> tuple[list[tuple[str, int, str]], int]:
    """Return the EMR cluster's nodes as ``(instance_type, count, market)`` and their total EBS GB.

    Instance groups count ``RequestedInstanceCount`` (``RunningInstanceCount`` when absent) at the
    group's ``Market``. Instance fleets count the report's ``Instances`` of each fleet by type and
    market; a fleet without listed instances counts ``TargetOnDemandCapacity`` and
    ``TargetSpotCapacity`` divided by the first instance type's ``WeightedCapacity`` (rounded up).

    :param report: an EMR cluster report (``{"Cluster": ..., "Instances": ..., ...}``).
    :raises InvalidInputError: the report has no readable groups or fleets.
    """
    cluster = _as_dict(report.get("Cluster"), "'Cluster'")
    nodes: list[tuple[str, int, str]] = []
    ebs_gb = 0
    groups = cluster.get("InstanceGroups")
    fleets = cluster.get("InstanceFleets")
    if groups:
        for raw_group in groups:
            group = _as_dict(raw_group, "an instance group")
            itype = group.get("InstanceType")
            if not isinstance(itype, str):
                raise _report_error(f"instance group {group.get('Id')!r} has no InstanceType.")
            raw = group.get("RequestedInstanceCount", group.get("RunningInstanceCount"))
            count = _count(raw, f"instance group {group.get('Id')!r} RequestedInstanceCount")
            market = str(group.get("Market", "ON_DEMAND")).upper()
            nodes.append((itype, count, market))
            ebs_gb += count * _volume_gb(group.get("EbsBlockDevices"))
    elif fleets:
        instances = report.get("Instances") or []
        for raw_fleet in fleets:
            fleet = _as_dict(raw_fleet, "an instance fleet")
            specs = [s for s in fleet.get("InstanceTypeSpecifications") or [] if isinstance(s, dict)]
            volumes = {s.get("InstanceType"): _volume_gb(s.get("EbsBlockDevices")) for s in specs}
            listed: dict[tuple[str, str], int] = {}
            for instance in instances:
                if isinstance(instance, dict) and instance.get("InstanceFleetId") == fleet.get("Id"):
                    key = (
                        str(instance.get("InstanceType")),
                        str(instance.get("Market", "ON_DEMAND")).upper(),
                    )
                    listed[key] = listed.get(key, 0) + 1
            if listed:
                for (itype, market), count in sorted(listed.items()):
                    nodes.append((itype, count, market))
                    ebs_gb += count * volumes.get(itype, 0)
                continue
            if not specs or not isinstance(specs[0].get("InstanceType"), str):
                raise _report_error(f"instance fleet {fleet.get('Id')!r} has no InstanceTypeSpecifications.")
            first = specs[0]
            weight = first.get("WeightedCapacity") or 1
            for market, field in (("ON_DEMAND", "TargetOnDemandCapacity"), ("SPOT", "TargetSpotCapacity")):
                units = _count(fleet.get(field, 0) or 0, f"instance fleet {fleet.get('Id')!r} {field}")
                count = math.ceil(units / weight) if units else 0
                if count:
                    nodes.append((first["InstanceType"], count, market))
                    ebs_gb += count * volumes.get(first["InstanceType"], 0)
    else:
        raise _report_error("'Cluster' has neither 'InstanceGroups' nor 'InstanceFleets'.")
    if not nodes:
        raise _report_error("the cluster's instance groups or fleets describe no nodes.")
    return nodes, ebs_gb


def emr_basis_configuration(report: dict[str, Any]) -> dict[str, Any]:
    """Rebuild a RunJobFlow request from an EMR cluster report.

    :param report: an EMR cluster report.
    :raises InvalidInputError: the report has no ``Cluster`` object.
    """
    cluster = _as_dict(report.get("Cluster"), "'Cluster'")
    attributes = cluster.get("Ec2InstanceAttributes") or {}
    instances: dict[str, Any] = {}
    if cluster.get("InstanceGroups"):
        groups = []
        for group in cluster["InstanceGroups"]:
            entry: dict[str, Any] = {
                "Name": group.get("Name"),
                "Market": group.get("Market", "ON_DEMAND"),
                "InstanceRole": group.get("InstanceGroupType"),
                "InstanceType": group.get("InstanceType"),
                "InstanceCount": group.get("RequestedInstanceCount", group.get("RunningInstanceCount")),
            }
            if group.get("BidPrice"):
                entry["BidPrice"] = group["BidPrice"]
            if group.get("Configurations"):
                entry["Configurations"] = copy.deepcopy(group["Configurations"])
            ebs = _ebs_configuration(group.get("EbsBlockDevices"), group.get("EbsOptimized"))
            if ebs:
                entry["EbsConfiguration"] = ebs
            groups.append({k: v for k, v in entry.items() if v is not None})
        instances["InstanceGroups"] = groups
    elif cluster.get("InstanceFleets"):
        fleets = []
        for fleet in cluster["InstanceFleets"]:
            configs = []
            for spec in fleet.get("InstanceTypeSpecifications") or []:
                config: dict[str, Any] = {
                    "InstanceType": spec.get("InstanceType"),
                    "WeightedCapacity": spec.get("WeightedCapacity", 1),
                }
                for key in ("BidPrice", "BidPriceAsPercentageOfOnDemandPrice", "Configurations"):
                    if spec.get(key) is not None:
                        config[key] = copy.deepcopy(spec[key])
                ebs = _ebs_configuration(spec.get("EbsBlockDevices"), spec.get("EbsOptimized"))
                if ebs:
                    config["EbsConfiguration"] = ebs
                configs.append(config)
            entry = {
                "Name": fleet.get("Name"),
                "InstanceFleetType": fleet.get("InstanceFleetType"),
                "TargetOnDemandCapacity": fleet.get("TargetOnDemandCapacity", 0),
                "TargetSpotCapacity": fleet.get("TargetSpotCapacity", 0),
                "InstanceTypeConfigs": configs,
            }
            if fleet.get("LaunchSpecifications"):
                entry["LaunchSpecifications"] = copy.deepcopy(fleet["LaunchSpecifications"])
            fleets.append({k: v for k, v in entry.items() if v is not None})
        instances["InstanceFleets"] = fleets
    for source, target in (
        ("Ec2KeyName", "Ec2KeyName"),
        ("EmrManagedMasterSecurityGroup", "EmrManagedMasterSecurityGroup"),
        ("EmrManagedSlaveSecurityGroup", "EmrManagedSlaveSecurityGroup"),
    ):
        if attributes.get(source):
            instances[target] = attributes[source]
    subnets = attributes.get("RequestedEc2SubnetIds") or []
    if "InstanceFleets" in instances and subnets:
        instances["Ec2SubnetIds"] = list(subnets)
    elif attributes.get("Ec2SubnetId"):
        instances["Ec2SubnetId"] = attributes["Ec2SubnetId"]
    instances["KeepJobFlowAliveWhenNoSteps"] = False
    instances["TerminationProtected"] = bool(cluster.get("TerminationProtected", False))

    configuration: dict[str, Any] = {
        "Name": cluster.get("Name"),
        "ReleaseLabel": cluster.get("ReleaseLabel"),
        "LogUri": cluster.get("LogUri"),
        "Applications": [{"Name": a["Name"]} for a in cluster.get("Applications") or [] if a.get("Name")],
        "Configurations": copy.deepcopy(cluster.get("Configurations") or []),
        "Instances": instances,
        "BootstrapActions": [
            {
                "Name": b.get("Name"),
                "ScriptBootstrapAction": {"Path": b.get("ScriptPath"), "Args": b.get("Args", [])},
            }
            for b in cluster.get("BootstrapActions") or []
        ],
        "ServiceRole": cluster.get("ServiceRole"),
        "JobFlowRole": attributes.get("IamInstanceProfile"),
        "Tags": [dict(t) for t in cluster.get("Tags") or [] if not str(t.get("Key", "")).startswith("aws:")],
        "VisibleToAllUsers": cluster.get("VisibleToAllUsers"),
        "ScaleDownBehavior": cluster.get("ScaleDownBehavior"),
        "StepConcurrencyLevel": cluster.get("StepConcurrencyLevel"),
    }
    for key in (
        "SecurityConfiguration",
        "CustomAmiId",
        "EbsRootVolumeSize",
        "AutoScalingRole",
        "OSReleaseLabel",
    ):
        if cluster.get(key):
            configuration[key] = cluster[key]
    return {k: v for k, v in configuration.items() if v is not None}


# --------------------------------------------------------------------------------------------------
# Databricks

_DATABRICKS_SPEC_KEYS = (
    "spark_version",
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "spark_conf",
    "aws_attributes",
    "custom_tags",
)


def databricks_basis_configuration(report: dict[str, Any]) -> dict[str, Any]:
    """Return the cluster-spec subset of a Databricks cluster report's ``cluster``.

    :param report: a Databricks cluster report.
    :raises InvalidInputError: the report has no ``cluster`` object.
    """
    cluster = _as_dict(report.get("cluster"), "'cluster'")
    config = {k: copy.deepcopy(cluster[k]) for k in _DATABRICKS_SPEC_KEYS if k in cluster}
    if "autoscale" in config:
        config.pop("num_workers", None)
    if "driver_node_type_id" not in config and "node_type_id" in config:
        config["driver_node_type_id"] = config["node_type_id"]
    return config


def _databricks_workers(cluster: dict[str, Any]) -> tuple[int, str | None]:
    autoscale = cluster.get("autoscale")
    if isinstance(autoscale, dict):
        workers = _count(autoscale.get("max_workers"), "cluster.autoscale.max_workers")
        return (
            workers,
            f"The cluster autoscales; cost counts its maximum of {workers} workers for the whole run.",
        )
    return _count(cluster.get("num_workers", 0), "cluster.num_workers"), None


# --------------------------------------------------------------------------------------------------
# The engine


class BasisEngine:
    """Reports the recorded run for every preference.

    Runtime is the event log's application duration; cost is that runtime times the hourly price of
    the report's nodes (see :mod:`sync_provider.core.pricing`), plus gp2 EBS where the report lists
    volumes.

    :param price_table: prices to use.
    :param summarize: reads an event log and returns an object with ``application_name``,
        ``duration_s`` and ``end_inferred`` (defaults to :func:`sync_provider.core.eventlog.summarize`).
    """

    def __init__(
        self,
        price_table: PriceTable = DEFAULT_PRICE_TABLE,
        *,
        summarize: Callable[[Path], Any] | None = None,
    ) -> None:
        self.price_table = price_table
        self._summarize = summarize or _default_summarize

    def predict(self, request: PredictionRequest) -> dict[str, Any]:
        """Return the prediction body for ``request`` (see :class:`PredictionEngine`).

        :param request: the prediction to compute.
        :raises InvalidInputError: unknown product, unreadable report, unknown instance type.
        :raises sync_provider.core.errors.EventLogError: the event log cannot be read.
        """
        report = _as_dict(request.cluster_report, "the cluster report")
        if request.product_code == EMR_PRODUCT:
            configuration = emr_basis_configuration(report)
        elif request.product_code == DATABRICKS_PRODUCT:
            configuration = databricks_basis_configuration(report)
        else:
            raise InvalidInputError(
                f"Unknown product code {request.product_code!r}: "
                f"use {EMR_PRODUCT!r} or {DATABRICKS_PRODUCT!r}."
            )
        summary = self._summarize(Path(request.eventlog_path))
        duration_s = getattr(summary, "duration_s", None)
        if not isinstance(duration_s, int | float) or duration_s < 0:
            raise InvalidInputError(
                f"The event log {str(request.eventlog_path)!r} gives no application duration "
                "(no ApplicationStart, or no events after it)."
            )
        table = self.price_table
        assumptions = [
            BASIS_ONLY_ASSUMPTION,
            f"Runtime is the application's recorded duration in the event log ({duration_s:.3f} s, "
            "ApplicationStart to ApplicationEnd); cluster provisioning and shutdown are not included.",
        ]
        if getattr(summary, "end_inferred", False):
            assumptions.append(
                "The event log has no ApplicationEnd event; the duration runs to its last recorded event."
            )
        if request.product_code == EMR_PRODUCT:
            cost = self._emr_cost(report, duration_s, assumptions)
        else:
            cost = self._databricks_cost(report, duration_s, assumptions)
        assumptions.append(
            f"Prices: {table.region} list prices as of {table.as_of.isoformat()} "
            f"(sources: {', '.join(table.sources)}); spot capacity at {table.spot_discount:g} x on-demand; "
            f"EBS at the gp2 rate of ${table.ebs_gp2_usd_per_gb_month:g}/GB-month. Verify before budgeting."
        )
        solution = {
            "configuration": configuration,
            "metrics": {"runtime": duration_s / 60.0, "cost": cost},
            "assumptions": assumptions,
        }
        return {
            "application_name": getattr(summary, "application_name", None),
            "basis": copy.deepcopy(solution),
            "solutions": {preference: copy.deepcopy(solution) for preference in PREFERENCES},
        }

    def _emr_cost(self, report: dict[str, Any], duration_s: float, assumptions: list[str]) -> float:
        nodes, ebs_gb = emr_nodes(report)
        described = ", ".join(f"{count} x {itype} {market}" for itype, count, market in nodes)
        assumptions.append(
            f"Cost = runtime x ({described}) at EC2 + EMR fee per node-hour"
            + (f", plus {ebs_gb} GB of EBS" if ebs_gb else "")
            + "."
        )
        return emr_cost_usd(duration_s, nodes, table=self.price_table, ebs_gb=ebs_gb)

    def _databricks_cost(self, report: dict[str, Any], duration_s: float, assumptions: list[str]) -> float:
        cluster = _as_dict(report.get("cluster"), "'cluster'")
        node = cluster.get("node_type_id")
        if not isinstance(node, str) or not node:
            raise _report_error("cluster.node_type_id is missing.")
        driver = cluster.get("driver_node_type_id") or node
        workers, note = _databricks_workers(cluster)
        if note:
            assumptions.append(note)
        plan = report.get("plan_type")
        compute = report.get("compute_type")
        if not plan or not compute:
            assumptions.append(
                "The report names no plan_type/compute_type; Premium / Jobs Compute DBU prices are used."
            )
        plan = str(plan or "Premium")
        compute = str(compute or "Jobs Compute")
        aws = cluster.get("aws_attributes") or {}
        spot = str(aws.get("availability", "ON_DEMAND")).upper() in ("SPOT", "SPOT_WITH_FALLBACK")
        first_on_demand = _count(aws.get("first_on_demand", 1), "aws_attributes.first_on_demand")
        volumes = _count(aws.get("ebs_volume_count", 0) or 0, "aws_attributes.ebs_volume_count")
        size = _count(aws.get("ebs_volume_size", 0) or 0, "aws_attributes.ebs_volume_size")
        ebs_gb = volumes * size * (workers + 1)
        on_spot = " on spot" if spot else ""
        assumptions.append(
            f"Cost = runtime x ({workers} x {node} workers{on_spot} + 1 x {driver} driver) "
            f"at EC2 + DBU/h x ${self.price_table.dbu_rate(plan, compute):g}/DBU ({plan}, {compute})"
            + (f", plus {ebs_gb} GB of EBS" if ebs_gb else "")
            + "."
        )
        return databricks_cost_usd(
            duration_s,
            node,
            workers,
            driver_node_type=driver,
            plan=plan,
            compute=compute,
            spot_workers=spot,
            first_on_demand=first_on_demand,
            table=self.price_table,
            ebs_gb=ebs_gb,
        )
