"""Reading cluster configurations (EMR RunJobFlow requests, Databricks cluster specs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ROLE_ORDER = {"MASTER": 0, "CORE": 1, "TASK": 2}


def _by_role(items: Any, key: str) -> list[Mapping[str, Any]]:
    """Node groups in a stable order (master, core, task) whatever the input order."""
    return sorted(items or [], key=lambda item: _ROLE_ORDER.get(str(item.get(key, "")).upper(), 3))


def _emr_nodes(instances: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    for group in _by_role(instances.get("InstanceGroups"), "InstanceRole"):
        role = str(group.get("InstanceRole", "?")).lower()
        market = " spot" if group.get("Market") == "SPOT" else ""
        parts.append(f"{group.get('InstanceCount', '?')}x {group.get('InstanceType', '?')} {role}{market}")
    for fleet in _by_role(instances.get("InstanceFleets"), "InstanceFleetType"):
        role = str(fleet.get("InstanceFleetType", "?")).lower()
        types = "/".join(str(c.get("InstanceType", "?")) for c in fleet.get("InstanceTypeConfigs") or [])
        on_demand = int(fleet.get("TargetOnDemandCapacity") or 0)
        spot = int(fleet.get("TargetSpotCapacity") or 0)
        capacity = f"{on_demand}" + (f"+{spot} spot" if spot else "")
        parts.append(f"{capacity}x {types} {role}")
    if not parts and instances.get("InstanceType"):
        count = instances.get("InstanceCount", 1)
        parts.append(f"{count}x {instances['InstanceType']}")
    return parts


def describe_configuration(configuration: Mapping[str, Any]) -> str:
    """One line describing the nodes of an EMR or Databricks configuration.

    :param configuration: a RunJobFlow request (``Instances``) or a Databricks cluster spec
        (``node_type_id``, ``num_workers`` or ``autoscale``).
    """
    instances = configuration.get("Instances")
    if isinstance(instances, Mapping):
        return ", ".join(_emr_nodes(instances)) or "no instances"
    node = configuration.get("node_type_id")
    if node:
        autoscale = configuration.get("autoscale")
        if isinstance(autoscale, Mapping):
            workers = f"{autoscale.get('min_workers', '?')}-{autoscale.get('max_workers', '?')}"
        else:
            workers = str(configuration.get("num_workers", 0))
        driver = configuration.get("driver_node_type_id") or node
        return f"{workers}x {node} workers, {driver} driver"
    return "unknown configuration"
