"""Cluster shapes, candidate clusters around a basis, their cost and their configurations.

A :class:`ClusterShape` is what the estimator needs to know about a cluster: its worker nodes (type,
count, market), its EMR master or Databricks driver, and how it is billed. It is read from the
configuration a user submits (an EMR ``RunJobFlow`` request, a Databricks cluster spec) with
:func:`emr_cluster_shape` and :func:`databricks_cluster_shape`.

:func:`generate_candidates` proposes clusters around a basis: instance types of the basis worker
type's family (``m5.xlarge`` … ``m5.16xlarge``) from the price table, and node counts that give about
0.5x, 1x, 1.5x, 2x and 3x the basis workers' vCPUs. A candidate's executor slots are its workers'
vCPUs (one core per task; executors fill the nodes' vCPUs); the EMR master and the Databricks driver
run no tasks unless the basis log shows executors on the master.

:func:`emr_candidate_configuration` and :func:`databricks_candidate_configuration` turn a candidate
into the configuration to submit: the basis configuration with only the hardware (and, on EMR, the
executor sizing in ``spark-defaults`` when the basis set it) changed.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.pricing import (
    DEFAULT_PRICE_TABLE,
    Market,
    PriceTable,
    databricks_cost_usd,
    emr_cost_usd,
)

__all__ = [
    "Candidate",
    "CandidateOptions",
    "ClusterShape",
    "NodeSet",
    "databricks_candidate_configuration",
    "databricks_cluster_shape",
    "emr_candidate_configuration",
    "emr_cluster_shape",
    "generate_candidates",
    "instance_family",
]

Platform = Literal["emr", "databricks"]

YARN_MEMORY_FRACTION = 0.75
"""Share of a node's memory assumed available to YARN containers on EMR (executor sizing check)."""


class NodeSet(BaseModel):
    """Nodes of one instance type and market.

    :param instance_type: EC2 instance type.
    :param count: number of nodes.
    :param market: ``ON_DEMAND`` or ``SPOT``.
    :param ebs_gb: EBS GB attached to each node.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_type: str
    count: int = Field(ge=0)
    market: Market = "ON_DEMAND"
    ebs_gb: float = Field(default=0.0, ge=0)


class ClusterShape(BaseModel):
    """A cluster as the estimator prices and sizes it.

    :param platform: ``emr`` or ``databricks``.
    :param master: the EMR master node or the Databricks driver (count 1).
    :param workers: worker node sets (EMR core then task nodes; Databricks workers). The first one is
        the *primary* worker type that candidates are built from.
    :param plan: Databricks plan (``Standard``, ``Premium``, ``Enterprise``).
    :param compute: Databricks compute type (``Jobs Compute`` …).
    :param first_on_demand: Databricks ``aws_attributes.first_on_demand`` (driver first).
    :param executors_on_master: the log shows executors on the EMR master: its vCPUs count as slots.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    master: NodeSet
    workers: list[NodeSet] = Field(min_length=1)
    plan: str = "Premium"
    compute: str = "Jobs Compute"
    first_on_demand: int = Field(default=1, ge=0)
    executors_on_master: bool = False

    @property
    def primary(self) -> NodeSet:
        """The primary worker node set."""
        return self.workers[0]

    def worker_nodes(self) -> int:
        """Number of worker nodes."""
        return sum(w.count for w in self.workers)

    def worker_vcpus(self, table: PriceTable = DEFAULT_PRICE_TABLE) -> int:
        """Total vCPUs of the workers.

        :param table: the price table (vCPUs per type).
        :raises InvalidInputError: an instance type is not in the table.
        """
        return sum(w.count * table.price_of(w.instance_type).vcpus for w in self.workers)

    def slots(self, table: PriceTable = DEFAULT_PRICE_TABLE) -> int:
        """Executor slots: worker vCPUs, plus the master's when executors run on it.

        :param table: the price table (vCPUs per type).
        """
        extra = table.price_of(self.master.instance_type).vcpus if self.executors_on_master else 0
        return self.worker_vcpus(table) + extra

    def spot_workers(self) -> bool:
        """Whether most worker nodes run on spot capacity."""
        spot = sum(w.count for w in self.workers if w.market == "SPOT")
        return spot * 2 > self.worker_nodes()

    def cost_usd(self, runtime_s: float, table: PriceTable = DEFAULT_PRICE_TABLE) -> float:
        """Return the cost of running this cluster for ``runtime_s`` seconds.

        EMR: hours x sum over nodes (master included) of (EC2 price for the node's market + EMR fee),
        plus gp2 EBS. Databricks: hours x (workers x (EC2 + DBU/h x $/DBU) + driver on-demand), plus
        gp2 EBS (see :mod:`sync_provider.core.pricing`).

        :param runtime_s: seconds.
        :param table: the price table.
        :raises InvalidInputError: unknown instance type or DBU rate.
        """
        ebs = self.master.count * self.master.ebs_gb + sum(w.count * w.ebs_gb for w in self.workers)
        if self.platform == "emr":
            nodes = [(self.master.instance_type, self.master.count, self.master.market)]
            nodes += [(w.instance_type, w.count, w.market) for w in self.workers]
            return emr_cost_usd(runtime_s, nodes, table=table, ebs_gb=ebs)
        primary = self.primary
        return databricks_cost_usd(
            runtime_s,
            primary.instance_type,
            self.worker_nodes(),
            driver_node_type=self.master.instance_type,
            plan=self.plan,
            compute=self.compute,
            spot_workers=self.spot_workers(),
            first_on_demand=self.first_on_demand,
            table=table,
            ebs_gb=ebs,
        )

    def describe(self) -> str:
        """A short description such as ``3 x m5.8xlarge SPOT + master m5.xlarge``."""
        workers = " + ".join(f"{w.count} x {w.instance_type} {w.market}" for w in self.workers)
        role = "master" if self.platform == "emr" else "driver"
        return f"{workers} + {role} {self.master.instance_type}"


class CandidateOptions(BaseModel):
    """How candidates are generated around the basis.

    :param factors: target total worker vCPUs as multiples of the basis workers' vCPUs.
    :param max_candidates: at most this many candidates (nine by default).
    :param instance_types: instance types to consider; default: the basis worker type's family in
        the price table (for Databricks only types with a DBU/h rate).
    :param tolerance: a (type, node count) pair is kept for a factor when its vCPUs are within
        ``[target / (1 + tolerance), target x (1 + tolerance)]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    factors: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    max_candidates: int = Field(default=9, ge=1)
    instance_types: tuple[str, ...] | None = None
    tolerance: float = Field(default=0.25, ge=0)


class Candidate(BaseModel):
    """A candidate cluster.

    :param instance_type: worker instance type.
    :param nodes: worker nodes.
    :param slots: executor slots (worker vCPUs, plus the master's when executors run on it).
    :param factor: the vCPU multiple of the basis it was generated for.
    :param shape: the whole cluster (master or driver included), for pricing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_type: str
    nodes: int
    slots: int
    factor: float
    shape: ClusterShape


def instance_family(instance_type: str) -> str:
    """Return the family of an EC2 instance type (``m5`` for ``m5.xlarge``).

    :param instance_type: an EC2 instance type.
    """
    return instance_type.strip().split(".", 1)[0]


def generate_candidates(
    basis: ClusterShape,
    table: PriceTable = DEFAULT_PRICE_TABLE,
    options: CandidateOptions | None = None,
) -> list[Candidate]:
    """Propose candidate clusters around ``basis``, sorted by slots then type size.

    For each factor ``f`` the target is ``f`` x the basis workers' vCPUs; each instance type gives
    ``round(target / vCPUs)`` nodes (at least one), kept when within the tolerance. Types are tried
    nearest in size to the basis type first (of two equally near, the larger). Candidates are taken
    round-robin over the factors (the best type for every factor, then the second best, …) until
    ``max_candidates``; duplicates are dropped. Workers keep the basis primary worker set's market
    and per-node EBS; the master or driver is the basis's (a Databricks driver of the basis worker
    type follows the candidate type).

    :param basis: the recorded cluster.
    :param table: the price table (types, vCPUs, DBU rates).
    :param options: factors, number of candidates, types.
    :raises InvalidInputError: the basis worker type is not in the table, or no candidate fits.
    """
    options = options or CandidateOptions()
    primary = basis.primary
    basis_price = table.price_of(primary.instance_type)
    table.price_of(basis.master.instance_type)
    basis_vcpus = basis.worker_vcpus(table)
    if options.instance_types is not None:
        types = [table.price_of(t).instance_type for t in options.instance_types]
    else:
        family = instance_family(primary.instance_type)
        types = [name for name in table.instances if instance_family(name) == family]
        if basis.platform == "databricks":
            types = [name for name in types if table.instances[name].dbu_per_hour is not None]
            if basis_price.dbu_per_hour is None:
                types = types or [primary.instance_type]
    types.sort(
        key=lambda name: (
            abs(math.log(table.instances[name].vcpus / basis_price.vcpus)),
            -table.instances[name].vcpus,  # equally near: the larger type (fewer nodes) first
            name,
        )
    )
    master_slots = table.price_of(basis.master.instance_type).vcpus if basis.executors_on_master else 0
    per_factor: list[list[tuple[str, int, float]]] = []
    for factor in options.factors:
        target = factor * basis_vcpus
        fits = []
        for name in types:
            vcpus = table.instances[name].vcpus
            nodes = max(1, math.floor(target / vcpus + 0.5))
            total = nodes * vcpus
            if target / (1 + options.tolerance) <= total <= target * (1 + options.tolerance):
                fits.append((name, nodes, factor))
        per_factor.append(fits)
    chosen: list[tuple[str, int, float]] = []
    seen: set[tuple[str, int]] = set()
    for rank in range(max((len(f) for f in per_factor), default=0)):
        for fits in per_factor:
            if rank < len(fits) and len(chosen) < options.max_candidates:
                name, nodes, factor = fits[rank]
                if (name, nodes) not in seen:
                    seen.add((name, nodes))
                    chosen.append(fits[rank])
    if not chosen:
        raise InvalidInputError(
            f"No candidate cluster fits around the basis ({basis.describe()}, {basis_vcpus} worker vCPUs) "
            f"with instance types {types} and factors {list(options.factors)}."
        )
    candidates = []
    for name, nodes, factor in chosen:
        master = basis.master
        if basis.platform == "databricks" and master.instance_type == primary.instance_type:
            master = master.model_copy(update={"instance_type": name})
        worker = NodeSet(instance_type=name, count=nodes, market=primary.market, ebs_gb=primary.ebs_gb)
        shape = basis.model_copy(update={"workers": [worker], "master": master})
        slots = nodes * table.instances[name].vcpus + master_slots
        candidates.append(Candidate(instance_type=name, nodes=nodes, slots=slots, factor=factor, shape=shape))
    candidates.sort(key=lambda c: (c.slots, table.instances[c.instance_type].vcpus, c.instance_type))
    return candidates


# --------------------------------------------------------------------------------------------------
# Reading configurations


def _invalid(message: str) -> InvalidInputError:
    return InvalidInputError(f"Cannot read the basis cluster: {message}")


def _ebs_gb(ebs: Any) -> float:
    total = 0.0
    if not isinstance(ebs, dict):
        return total
    for config in ebs.get("EbsBlockDeviceConfigs") or []:
        if not isinstance(config, dict):
            continue
        size = (config.get("VolumeSpecification") or {}).get("SizeInGB", 0)
        per = config.get("VolumesPerInstance", 1) or 1
        if isinstance(size, int | float) and isinstance(per, int | float):
            total += float(size) * float(per)
    return total


def _market(value: Any) -> Market:
    return "SPOT" if str(value or "ON_DEMAND").upper() == "SPOT" else "ON_DEMAND"


def _nonnegative(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _invalid(f"{where} must be a non-negative number, got {value!r}.")
    return math.ceil(value)


def emr_cluster_shape(configuration: dict[str, Any]) -> ClusterShape:
    """Read the cluster of an EMR ``RunJobFlow`` request.

    Supports ``Instances.InstanceGroups`` (roles MASTER, CORE, TASK), ``Instances.InstanceFleets``
    (node count = target capacity / the first type's ``WeightedCapacity``, rounded up; on-demand and
    spot targets give separate node sets) and the uniform ``MasterInstanceType`` /
    ``SlaveInstanceType`` / ``InstanceCount`` form.

    :param configuration: a RunJobFlow request (e.g. from
        :func:`sync_provider.testing.engines.emr_basis_configuration`).
    :raises InvalidInputError: no master, or no worker nodes.
    """
    instances = configuration.get("Instances")
    if not isinstance(instances, dict):
        raise _invalid("the RunJobFlow request has no 'Instances' object.")
    master: NodeSet | None = None
    core: list[NodeSet] = []
    task: list[NodeSet] = []
    if instances.get("InstanceGroups"):
        for group in instances["InstanceGroups"]:
            role = str(group.get("InstanceRole", "")).upper()
            itype = group.get("InstanceType")
            if not isinstance(itype, str):
                raise _invalid(f"instance group {group.get('Name')!r} has no InstanceType.")
            nodes = NodeSet(
                instance_type=itype,
                count=_nonnegative(group.get("InstanceCount", 0), f"instance group {itype} InstanceCount"),
                market=_market(group.get("Market")),
                ebs_gb=_ebs_gb(group.get("EbsConfiguration")),
            )
            if role == "MASTER":
                master = nodes
            elif nodes.count:
                (core if role == "CORE" else task).append(nodes)
    elif instances.get("InstanceFleets"):
        for fleet in instances["InstanceFleets"]:
            role = str(fleet.get("InstanceFleetType", "")).upper()
            configs = [c for c in fleet.get("InstanceTypeConfigs") or [] if isinstance(c, dict)]
            if not configs or not isinstance(configs[0].get("InstanceType"), str):
                raise _invalid(f"instance fleet {fleet.get('Name')!r} has no InstanceTypeConfigs.")
            first = configs[0]
            weight = first.get("WeightedCapacity") or 1
            targets = (("ON_DEMAND", "TargetOnDemandCapacity"), ("SPOT", "TargetSpotCapacity"))
            for market, target_key in targets:
                units = _nonnegative(fleet.get(target_key, 0) or 0, f"instance fleet {role} {target_key}")
                count = math.ceil(units / weight) if units else 0
                if not count:
                    continue
                nodes = NodeSet(
                    instance_type=first["InstanceType"],
                    count=count,
                    market=_market(market),
                    ebs_gb=_ebs_gb(first.get("EbsConfiguration")),
                )
                if role == "MASTER":
                    master = nodes.model_copy(update={"count": 1})
                else:
                    (core if role == "CORE" else task).append(nodes)
    elif instances.get("MasterInstanceType"):
        master = NodeSet(instance_type=str(instances["MasterInstanceType"]), count=1)
        count = _nonnegative(instances.get("InstanceCount", 1), "Instances.InstanceCount")
        slave = instances.get("SlaveInstanceType")
        if count > 1 and isinstance(slave, str):
            core.append(NodeSet(instance_type=slave, count=count - 1))
    else:
        raise _invalid("'Instances' has neither InstanceGroups, InstanceFleets nor MasterInstanceType.")
    if master is None:
        raise _invalid("no MASTER instance group or fleet.")
    workers = core + task
    if not workers:
        raise _invalid("no CORE or TASK nodes: a single-node cluster gives no executors to resize.")
    return ClusterShape(platform="emr", master=master, workers=workers)


def databricks_cluster_shape(
    spec: dict[str, Any], *, plan: str = "Premium", compute: str = "Jobs Compute"
) -> ClusterShape:
    """Read the cluster of a Databricks cluster spec (``node_type_id``, ``num_workers`` …).

    An autoscaling cluster counts its ``autoscale.max_workers``. Workers are spot when
    ``aws_attributes.availability`` is ``SPOT`` or ``SPOT_WITH_FALLBACK``; the driver is on-demand.

    :param spec: a cluster spec (e.g. from
        :func:`sync_provider.testing.engines.databricks_basis_configuration`).
    :param plan: Databricks plan.
    :param compute: Databricks compute type.
    :raises InvalidInputError: no ``node_type_id`` or no workers.
    """
    node = spec.get("node_type_id")
    if not isinstance(node, str) or not node:
        raise _invalid("the cluster spec has no node_type_id.")
    driver = spec.get("driver_node_type_id") or node
    autoscale = spec.get("autoscale")
    if isinstance(autoscale, dict):
        workers = _nonnegative(autoscale.get("max_workers"), "autoscale.max_workers")
    else:
        workers = _nonnegative(spec.get("num_workers", 0), "num_workers")
    if workers < 1:
        raise _invalid("the cluster has no workers (single-node clusters are not resized).")
    aws = spec.get("aws_attributes") or {}
    spot = str(aws.get("availability", "ON_DEMAND")).upper() in ("SPOT", "SPOT_WITH_FALLBACK")
    volumes = _nonnegative(aws.get("ebs_volume_count", 0) or 0, "aws_attributes.ebs_volume_count")
    size = _nonnegative(aws.get("ebs_volume_size", 0) or 0, "aws_attributes.ebs_volume_size")
    ebs = float(volumes * size)
    return ClusterShape(
        platform="databricks",
        master=NodeSet(instance_type=str(driver), count=1, ebs_gb=ebs),
        workers=[
            NodeSet(instance_type=node, count=workers, market="SPOT" if spot else "ON_DEMAND", ebs_gb=ebs)
        ],
        plan=plan,
        compute=compute,
        first_on_demand=_nonnegative(aws.get("first_on_demand", 1), "aws_attributes.first_on_demand"),
    )


# --------------------------------------------------------------------------------------------------
# Writing configurations

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_MIB = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def _mib(value: str) -> float | None:
    match = _MEMORY.match(value)
    if not match:
        return None
    number, unit = match.groups()
    # Spark reads a bare number of executor memory as MiB.
    return float(number) * (_MIB[unit.lower()] if unit else 1)


def _executor_sizing(
    properties: dict[str, str], basis: ClusterShape, candidate: Candidate, table: PriceTable
) -> list[str]:
    """Make ``spark.executor.cores/instances`` (and memory) fit the candidate; return notes."""
    notes: list[str] = []
    price = table.price_of(candidate.instance_type)
    vcpus = price.vcpus
    cores_text = properties.get("spark.executor.cores")
    instances_text = properties.get("spark.executor.instances")
    wanted: int | None = None
    if cores_text and cores_text.strip().isdigit():
        wanted = int(cores_text)
    elif instances_text and instances_text.strip().isdigit() and int(instances_text) > 0:
        wanted = max(1, basis.worker_vcpus(table) // int(instances_text))
    wanted = min(max(1, wanted or vcpus), vcpus)
    cores = max(d for d in range(1, wanted + 1) if vcpus % d == 0)
    per_node = vcpus // cores
    properties["spark.executor.cores"] = str(cores)
    instances = per_node * candidate.nodes
    properties["spark.executor.instances"] = str(instances)
    notes.append(
        f"spark-defaults: spark.executor.cores={cores} and spark.executor.instances={instances} "
        f"({per_node} per {candidate.instance_type}) so that executors fill the workers' vCPUs."
    )
    memory_text = properties.get("spark.executor.memory")
    memory = _mib(memory_text) if memory_text else None
    if memory:
        overhead_text = properties.get("spark.executor.memoryOverhead")
        overhead = _mib(overhead_text) if overhead_text else None
        overhead = overhead if overhead is not None else max(384.0, 0.10 * memory)
        available = price.memory_gib * 1024 * YARN_MEMORY_FRACTION
        if per_node * (memory + overhead) > available:
            share = available / per_node
            fitted = math.floor(share / 1.1)
            properties["spark.executor.memory"] = f"{fitted}m"
            properties.pop("spark.executor.memoryOverhead", None)
            notes.append(
                f"spark.executor.memory was lowered from {memory_text} to {fitted}m so that {per_node} "
                f"executors fit in {YARN_MEMORY_FRACTION:.0%} of a {candidate.instance_type}'s "
                f"{price.memory_gib:g} GiB; less memory per executor may spill more (not modelled)."
            )
    return notes


def _split_roles(entries: list[dict[str, Any]], key: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the MASTER entries and the worker entry to copy (the CORE one, else the first worker)."""
    masters = [e for e in entries if str(e.get(key, "")).upper() == "MASTER"]
    workers = [e for e in entries if str(e.get(key, "")).upper() != "MASTER"]
    cores = [e for e in workers if str(e.get(key, "")).upper() == "CORE"]
    if not workers:
        raise _invalid(f"the basis has no CORE or TASK {key}.")
    return masters, (cores or workers)[0]


def emr_candidate_configuration(
    basis_configuration: dict[str, Any],
    basis: ClusterShape,
    candidate: Candidate,
    table: PriceTable = DEFAULT_PRICE_TABLE,
) -> tuple[dict[str, Any], list[str]]:
    """Return the RunJobFlow request of ``candidate`` and notes on what was changed.

    The basis request is copied; ``Instances`` keeps its shape (groups, fleets or uniform) and its
    other keys, the MASTER group/fleet is unchanged, the CORE group/fleet gets the candidate type and
    node count (same market, EBS and configurations) and TASK groups/fleets are dropped (candidates
    put every worker in the core). When the basis ``spark-defaults`` sets ``spark.executor.cores`` or
    ``spark.executor.instances``, both are rewritten so executors fill the candidate's vCPUs (and
    ``spark.executor.memory`` is lowered if the executors would not fit). Name, ReleaseLabel, roles,
    Applications, Tags and other Configurations are kept.

    :param basis_configuration: the basis RunJobFlow request.
    :param basis: the basis shape (from :func:`emr_cluster_shape`).
    :param candidate: the candidate.
    :param table: the price table.
    """
    configuration = copy.deepcopy(basis_configuration)
    instances = configuration.setdefault("Instances", {})
    name, nodes = candidate.instance_type, candidate.nodes
    spot = candidate.shape.primary.market == "SPOT"
    notes: list[str] = []
    if instances.get("InstanceGroups"):
        groups, template = _split_roles(instances["InstanceGroups"], "InstanceRole")
        core = {**template, "InstanceRole": "CORE", "InstanceType": name, "InstanceCount": nodes}
        instances["InstanceGroups"] = [*groups, core]
    elif instances.get("InstanceFleets"):
        fleets, template = _split_roles(instances["InstanceFleets"], "InstanceFleetType")
        first = dict((template.get("InstanceTypeConfigs") or [{}])[0])
        first.update({"InstanceType": name, "WeightedCapacity": 1})
        core = {
            **template,
            "InstanceFleetType": "CORE",
            "TargetOnDemandCapacity": 0 if spot else nodes,
            "TargetSpotCapacity": nodes if spot else 0,
            "InstanceTypeConfigs": [first],
        }
        instances["InstanceFleets"] = [*fleets, core]
    else:
        instances["SlaveInstanceType"] = name
        instances["InstanceCount"] = nodes + 1
    for entry in configuration.get("Configurations") or []:
        if entry.get("Classification") == "spark-defaults":
            properties = entry.setdefault("Properties", {})
            if "spark.executor.cores" in properties or "spark.executor.instances" in properties:
                notes.extend(_executor_sizing(properties, basis, candidate, table))
    return configuration, notes


def databricks_candidate_configuration(
    basis_configuration: dict[str, Any], candidate: Candidate
) -> tuple[dict[str, Any], list[str]]:
    """Return the Databricks cluster spec of ``candidate`` and notes on what was changed.

    The basis spec is copied with ``node_type_id``, ``driver_node_type_id`` (the candidate type when
    the basis driver had the basis worker type, else unchanged) and ``num_workers`` set;
    ``autoscale`` is removed. Everything else (Spark version, spark_conf, aws_attributes, tags) stays.

    :param basis_configuration: the basis cluster spec.
    :param candidate: the candidate.
    """
    configuration = copy.deepcopy(basis_configuration)
    notes: list[str] = []
    if configuration.pop("autoscale", None) is not None:
        notes.append("autoscale was replaced by a fixed num_workers.")
    configuration["node_type_id"] = candidate.instance_type
    configuration["driver_node_type_id"] = candidate.shape.master.instance_type
    configuration["num_workers"] = candidate.nodes
    return configuration, notes
