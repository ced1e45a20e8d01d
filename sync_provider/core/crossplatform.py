"""Cross-platform cluster configurations: EMR RunJobFlow requests <-> a neutral model <-> Databricks specs.

A :class:`NeutralCluster` describes what both EMR and Databricks on AWS can express about a cluster:
the driver (EMR master) and worker instance types with their vCPUs and memory, a fixed worker count
or autoscale bounds, Spark settings, the spot/on-demand split, EBS volumes per node, the zone and
the user's tags. :func:`from_emr` / :func:`from_databricks` read a configuration into it and
:func:`to_emr` / :func:`to_databricks` write it into the user's own request or spec (the *base*),
which supplies everything that is not cluster shape (release label or Spark version, roles,
subnets, steps, init scripts, log settings).

Every translation returns a :class:`Translation`: the result plus ``dropped`` (what could not be
carried over) and ``approximated`` (what was carried over only approximately), each a sentence.
What cannot be translated at all raises :class:`~sync_provider.core.errors.InvalidInputError`
naming why. :func:`apply_cross_platform_solution` applies a prediction made on one platform to a
base configuration of the other.

Everything here is pure: no I/O, and the caller's dicts are never changed.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any, Generic, Literal, Self, TypeGuard, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.models import Platform, Prediction, Preference
from sync_provider.core.pricing import DEFAULT_PRICE_TABLE, PriceTable

__all__ = [
    "Autoscale",
    "Availability",
    "EbsVolumes",
    "MarketSpec",
    "NeutralCluster",
    "NodeSpec",
    "Translation",
    "Workers",
    "apply_cross_platform_solution",
    "from_databricks",
    "from_emr",
    "needs_translation",
    "solution_platform",
    "to_databricks",
    "to_emr",
]

T = TypeVar("T")

Availability = Literal["on_demand", "spot", "spot_with_fallback"]
"""How nodes past the first on-demand ones are bought (Databricks ``aws_attributes.availability``)."""

VolumeType = Literal["gp2", "gp3", "st1"]

#: Sync's own tags; never carried from one cluster to another.
_SYNC_TAG_PREFIX = "sync:"
#: Tags Databricks sets itself (or reserves); never carried over.
_DATABRICKS_RESERVED_TAGS = frozenset(
    {"Vendor", "Creator", "ClusterName", "ClusterId", "JobId", "RunName", "ResourceClass", "Name"}
)
#: Spark settings that belong to one platform (matched as prefixes).
_PLATFORM_SPARK_PREFIXES: dict[Platform, tuple[str, ...]] = {
    Platform.AWS_EMR: ("spark.yarn.", "spark.emr.", "spark.emr-", "spark.hadoop.fs.s3.", "spark.databricks."),
    Platform.AWS_DATABRICKS: ("spark.databricks.", "spark.yarn.", "spark.emr."),
}
#: Spark settings that describe where and how Spark runs rather than what it does.
_PLATFORM_SPARK_KEYS = frozenset(
    {
        "spark.master",
        "spark.submit.deployMode",
        "spark.driver.extraClassPath",
        "spark.executor.extraClassPath",
        "spark.driver.extraLibraryPath",
        "spark.executor.extraLibraryPath",
        "spark.history.fs.logDirectory",
        "spark.executorEnv.PYSPARK_PYTHON",
    }
)
#: Event-log settings Sync sets for each run (EMR) or Databricks replaces by log delivery.
_EVENTLOG_KEYS = ("spark.eventLog.dir", "spark.eventLog.enabled")
#: Environment variables that name paths of one platform's images.
_PLATFORM_ENV = frozenset({"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "JAVA_HOME", "SPARK_HOME"})
_SINGLE_NODE_CONF = {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"}

_EC2_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
#: Families neither EMR nor Databricks launches (burstable and Mac instances).
_UNSUPPORTED_FAMILIES: dict[Platform, tuple[str, ...]] = {
    Platform.AWS_EMR: ("t1", "t2", "t3", "t3a", "t4g", "mac1", "mac2"),
    Platform.AWS_DATABRICKS: ("t1", "t2", "t3", "t3a", "t4g", "mac1", "mac2"),
}
_AVAILABILITIES: dict[str, Availability] = {
    "ON_DEMAND": "on_demand",
    "SPOT": "spot",
    "SPOT_WITH_FALLBACK": "spot_with_fallback",
}
_ZONE_RE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d)[a-z]$")
_NODE_KEYS = ("InstanceGroups", "InstanceFleets", "MasterInstanceType", "SlaveInstanceType", "InstanceCount")

# Databricks EBS limits (aws_attributes): sizes per volume type, at most 10 volumes per node.
_DATABRICKS_EBS_SIZE = {"GENERAL_PURPOSE_SSD": (100, 4096), "THROUGHPUT_OPTIMIZED_HDD": (500, 4096)}
_DATABRICKS_MAX_VOLUMES = 10
_GP3_BASELINE = (3000, 125)

#: EMR RunJobFlow keys that are the base's business (infrastructure, identity): never noted.
_EMR_INFRA_KEYS = frozenset(
    {
        "Name",
        "LogUri",
        "LogEncryptionKmsKeyId",
        "ServiceRole",
        "JobFlowRole",
        "AutoScalingRole",
        "VisibleToAllUsers",
        "Tags",
        "Instances",
        "Configurations",
        "ManagedScalingPolicy",
        "ReleaseLabel",
        "Applications",
        "ScaleDownBehavior",
        "StepConcurrencyLevel",
        "AutoTerminationPolicy",
        "EbsRootVolumeSize",
        "OSReleaseLabel",
    }
)
#: Databricks spec fields that are the base's business: never noted.
_DATABRICKS_SILENT_KEYS = frozenset(
    {
        "cluster_name",
        "cluster_log_conf",
        "autotermination_minutes",
        "apply_policy_default_values",
        "kind",
        "is_single_node",
        "use_ml_runtime",
    }
)
_DATABRICKS_DROPPED_KEYS: dict[str, str] = {
    "init_scripts": "init_scripts are not carried over: add equivalent bootstrap actions to the base request",
    "enable_elastic_disk": "enable_elastic_disk (autoscaling local storage) has no EMR equivalent",
    "enable_local_disk_encryption": (
        "enable_local_disk_encryption is not carried over: use an EMR security configuration in the base "
        "request"
    ),
    "data_security_mode": "data_security_mode (Unity Catalog access mode) has no EMR equivalent",
    "single_user_name": "single_user_name has no EMR equivalent",
    "docker_image": "docker_image (Databricks Container Services) is not carried over: use a custom AMI",
    "ssh_public_keys": "ssh_public_keys are not carried over: EMR uses the base request's Ec2KeyName",
    "policy_id": "the cluster policy (policy_id) is not carried over",
    "cluster_mount_infos": "cluster_mount_infos (network mounts) have no EMR equivalent",
    "workload_type": "workload_type has no EMR equivalent",
    "total_initial_remote_disk_size": "total_initial_remote_disk_size has no EMR equivalent",
    "remote_disk_throughput": "remote_disk_throughput has no EMR equivalent",
    "clone_from": "clone_from has no EMR equivalent",
}


# --------------------------------------------------------------------------------------------------
# Models


class EbsVolumes(BaseModel):
    """EBS volumes attached to each node.

    :param volume_type: ``gp2``, ``gp3`` or ``st1`` (EMR names; Databricks ``GENERAL_PURPOSE_SSD``
        is gp2 or gp3, ``THROUGHPUT_OPTIMIZED_HDD`` is st1).
    :param count: volumes per node.
    :param size_gib: size of each volume in GiB.
    :param iops: provisioned IOPS (gp3).
    :param throughput_mibps: provisioned throughput in MiB/s (gp3).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume_type: VolumeType = "gp2"
    count: int = Field(default=1, ge=1)
    size_gib: int = Field(ge=1)
    iops: int | None = Field(default=None, ge=1)
    throughput_mibps: int | None = Field(default=None, ge=1)


class NodeSpec(BaseModel):
    """One kind of node.

    :param instance_type: the EC2 instance type.
    :param vcpus: its vCPUs (from the price table).
    :param memory_gib: its memory in GiB (from the price table).
    :param ebs: EBS volumes per node, when the configuration sets them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_type: str
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    ebs: EbsVolumes | None = None


class Autoscale(BaseModel):
    """Autoscale bounds of the workers.

    :param min_workers: fewest workers.
    :param max_workers: most workers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_workers: int = Field(ge=0)
    max_workers: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"min_workers ({self.min_workers}) is larger than max_workers ({self.max_workers})"
            )
        return self


class Workers(BaseModel):
    """The worker nodes: one instance type, a fixed count or autoscale bounds.

    :param node: the worker node.
    :param count: a fixed number of workers (0 for a single-node cluster).
    :param autoscale: autoscale bounds instead of a fixed count.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: NodeSpec
    count: int | None = Field(default=None, ge=0)
    autoscale: Autoscale | None = None

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if (self.count is None) == (self.autoscale is None):
            raise ValueError("give exactly one of count or autoscale")
        return self

    @property
    def initial(self) -> int:
        """The number of workers a cluster starts with (``min_workers`` when autoscaling)."""
        return self.autoscale.min_workers if self.autoscale is not None else int(self.count or 0)


class MarketSpec(BaseModel):
    """How nodes are bought, with Databricks' semantics.

    The first ``first_on_demand`` nodes, the driver first, are on-demand; the others are bought as
    ``availability`` says.

    :param availability: ``on_demand``, ``spot`` or ``spot_with_fallback``.
    :param first_on_demand: on-demand nodes counted from the driver.
    :param spot_bid_price_percent: the spot bid as a percentage of the on-demand price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    availability: Availability = "on_demand"
    first_on_demand: int = Field(default=1, ge=0)
    spot_bid_price_percent: int | None = Field(default=None, ge=1)

    def on_demand_workers(self, workers: int) -> int:
        """How many of ``workers`` are on-demand."""
        if self.availability == "on_demand":
            return workers
        return min(workers, max(0, self.first_on_demand - 1))

    @property
    def driver_on_demand(self) -> bool:
        """Whether the driver (EMR master) is on-demand."""
        return self.availability == "on_demand" or self.first_on_demand >= 1


class NeutralCluster(BaseModel):
    """A cluster configuration both EMR and Databricks on AWS can express.

    :param source_platform: where it was read from.
    :param driver: the Databricks driver / EMR master node.
    :param workers: the worker nodes (EMR core and task nodes).
    :param spark_conf: Spark settings common to both platforms.
    :param spark_env: environment variables of the Spark processes.
    :param market: the on-demand/spot split and the spot bid.
    :param region: the AWS region, when known.
    :param zone: the availability zone, when the configuration pins one.
    :param tags: the user's tags (Sync's and the platforms' own are left out).
    :param runtime: the source's release label or Spark version (informational: never translated).
    :param notes: how the model was read (the translation's notes, for reference).
    """

    model_config = ConfigDict(extra="forbid")

    source_platform: Platform
    driver: NodeSpec
    workers: Workers
    spark_conf: dict[str, str] = Field(default_factory=dict)
    spark_env: dict[str, str] = Field(default_factory=dict)
    market: MarketSpec = Field(default_factory=MarketSpec)
    region: str | None = None
    zone: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    runtime: str | None = None
    notes: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        """One line such as ``4 x m5.xlarge workers (spot, first 1 on-demand) + m5.large driver``."""
        size = (
            f"{self.workers.autoscale.min_workers}-{self.workers.autoscale.max_workers}"
            if self.workers.autoscale is not None
            else str(self.workers.count)
        )
        market = self.market.availability.replace("_", " ")
        if self.market.availability != "on_demand":
            market += f", first {self.market.first_on_demand} on-demand"
        workers = f"{size} x {self.workers.node.instance_type} workers ({market})"
        return f"{workers} + {self.driver.instance_type} driver"


class Translation(BaseModel, Generic[T]):
    """The result of a translation and what it could not carry over exactly.

    :param result: the translated configuration.
    :param dropped: what could not be carried over, one sentence each.
    :param approximated: what was carried over only approximately, one sentence each.
    """

    result: T
    dropped: list[str] = Field(default_factory=list)
    approximated: list[str] = Field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """``dropped`` then ``approximated``."""
        return [*self.dropped, *self.approximated]

    @property
    def exact(self) -> bool:
        """Whether nothing was dropped or approximated."""
        return not self.dropped and not self.approximated

    def describe(self) -> str:
        """The notes as one text, for logs."""
        if self.exact:
            return "translated exactly"
        parts = []
        if self.dropped:
            parts.append("not carried over: " + "; ".join(self.dropped))
        if self.approximated:
            parts.append("approximated: " + "; ".join(self.approximated))
        return ". ".join(parts) + "."


class _Notes:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.approximated: list[str] = []

    def drop(self, text: str) -> None:
        if text not in self.dropped:
            self.dropped.append(text)

    def approx(self, text: str) -> None:
        if text not in self.approximated:
            self.approximated.append(text)

    def extend(self, other: Translation[Any]) -> None:
        for text in other.dropped:
            self.drop(text)
        for text in other.approximated:
            self.approx(text)

    def wrap(self, result: T) -> Translation[T]:
        return Translation[T](result=result, dropped=list(self.dropped), approximated=list(self.approximated))


# --------------------------------------------------------------------------------------------------
# Shared helpers


def _refuse(what: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"Cannot translate {what}: {why}.", detail={"reason": why})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _refuse(what, f"{where} must be a whole number >= 0 (got {value!r})")
    return math.ceil(value)


def _node(
    instance_type: Any,
    where: str,
    what: str,
    table: PriceTable,
    *,
    target: Platform | None = None,
    ebs: EbsVolumes | None = None,
) -> NodeSpec:
    if not isinstance(instance_type, str) or not instance_type.strip():
        raise _refuse(what, f"{where} has no instance type")
    name = instance_type.strip()
    if not _EC2_TYPE_RE.match(name):
        raise _refuse(
            what,
            f"{where} {name!r} is not an AWS EC2 instance type (translation works between EMR and Databricks "
            "on AWS only)",
        )
    family = name.split(".", 1)[0]
    if target is not None and family in _UNSUPPORTED_FAMILIES[target]:
        label = "EMR" if target is Platform.AWS_EMR else "Databricks"
        raise _refuse(what, f"{where} {name!r} is a {family} instance, which {label} does not launch")
    try:
        price = table.price_of(name)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"Cannot translate {what}: {where} {name!r} is unknown to the price table, so its vCPUs and "
            f"memory are unknown. {exc.message}",
            detail={"reason": "unknown instance type", "instance_type": name},
        ) from None
    return NodeSpec(instance_type=name, vcpus=price.vcpus, memory_gib=price.memory_gib, ebs=ebs)


def _split_spark_conf(conf: Mapping[str, Any], source: Platform, notes: _Notes, where: str) -> dict[str, str]:
    kept: dict[str, str] = {}
    platform_keys: list[str] = []
    eventlog: list[str] = []
    for key, value in conf.items():
        name = str(key)
        if name in _EVENTLOG_KEYS:
            eventlog.append(name)
        elif name in _PLATFORM_SPARK_KEYS or name.startswith(_PLATFORM_SPARK_PREFIXES[source]):
            platform_keys.append(name)
        else:
            kept[name] = str(value).lower() if isinstance(value, bool) else str(value)
    label = "EMR" if source is Platform.AWS_EMR else "Databricks"
    if platform_keys:
        notes.drop(
            f"{label}-specific Spark settings in {where} were dropped: {', '.join(sorted(platform_keys))}"
        )
    if eventlog:
        notes.drop(
            f"event-log settings in {where} ({', '.join(sorted(eventlog))}) were dropped: Sync sets the "
            "event-log location for each run (EMR) and Databricks delivers event logs through "
            "cluster_log_conf"
        )
    return kept


def _split_env(env: Mapping[str, Any], source: Platform, notes: _Notes, where: str) -> dict[str, str]:
    kept = {str(k): str(v) for k, v in env.items() if str(k) not in _PLATFORM_ENV}
    dropped = sorted(str(k) for k in env if str(k) in _PLATFORM_ENV)
    if dropped:
        label = "EMR" if source is Platform.AWS_EMR else "Databricks"
        notes.drop(f"{where} {', '.join(dropped)} name paths of the {label} image and were dropped")
    return kept


def _user_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in tags.items()
        if not str(k).startswith((_SYNC_TAG_PREFIX, "aws:")) and str(k) not in _DATABRICKS_RESERVED_TAGS
    }


def _region_of_zone(zone: str | None) -> str | None:
    match = _ZONE_RE.match(zone) if zone else None
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------
# EMR -> neutral

_EMR_VOLUME_TYPES: dict[str, tuple[VolumeType, str | None]] = {
    "gp2": ("gp2", None),
    "gp3": ("gp3", None),
    "st1": ("st1", None),
    "io1": ("gp3", "provisioned-IOPS io1 volumes became gp3 with the same IOPS"),
    "io2": ("gp3", "provisioned-IOPS io2 volumes became gp3 with the same IOPS"),
    "sc1": ("st1", "cold HDD sc1 volumes became throughput-optimised st1"),
    "standard": ("gp2", "magnetic 'standard' volumes became gp2"),
}


def _emr_ebs(ebs: Any, where: str, notes: _Notes) -> EbsVolumes | None:
    if not isinstance(ebs, Mapping):
        return None
    configs = [c for c in ebs.get("EbsBlockDeviceConfigs") or [] if isinstance(c, Mapping)]
    if ebs.get("EbsOptimized") is not None:
        notes.drop(f"{where} EbsOptimized is not carried over (Databricks decides EBS optimisation)")
    if not configs:
        return None
    if len(configs) > 1:
        notes.approx(
            f"{where} has {len(configs)} EBS volume configurations: only the first is carried over "
            "(Databricks gives every node one kind of volume)"
        )
    first = configs[0]
    spec = first.get("VolumeSpecification") or {}
    size = spec.get("SizeInGB")
    if not _is_int(size) or size < 1:
        return None
    raw_type = str(spec.get("VolumeType") or "gp2").lower()
    volume_type, change = _EMR_VOLUME_TYPES.get(raw_type, ("gp2", f"volume type {raw_type} became gp2"))
    if change:
        notes.approx(f"{where}: {change}")
    per = first.get("VolumesPerInstance") or 1
    iops = spec.get("Iops") if _is_int(spec.get("Iops")) else None
    throughput = spec.get("Throughput") if _is_int(spec.get("Throughput")) else None
    if volume_type != "gp3":
        iops = throughput = None
    return EbsVolumes(
        volume_type=volume_type,
        count=int(per) if _is_int(per) and per >= 1 else 1,
        size_gib=int(size),
        iops=iops,
        throughput_mibps=throughput,
    )


class _EmrNodes:
    """Nodes read from groups or fleets before they become a neutral cluster."""

    def __init__(self) -> None:
        self.master: NodeSpec | None = None
        self.master_spot = False
        self.masters = 1
        self.worker: NodeSpec | None = None
        self.on_demand = 0
        self.spot = 0
        self.bids: list[float] = []
        self.fallback = False


def _fold(
    nodes: _EmrNodes, node: NodeSpec, count: int, *, spot: bool, label: str, notes: _Notes, role: str
) -> None:
    """Add ``count`` nodes of ``node`` to the workers, converting to the worker type by vCPUs."""
    if nodes.worker is None:
        nodes.worker = node
    if node.instance_type != nodes.worker.instance_type:
        converted = math.ceil(count * node.vcpus / nodes.worker.vcpus)
        notes.approx(
            f"EMR {role} {label} ({count} x {node.instance_type}) folded into workers as {converted} x "
            f"{nodes.worker.instance_type} (same vCPUs; Databricks workers have one instance type)"
        )
        count = converted
    elif role == "TASK":
        notes.approx(f"EMR TASK {label} ({count} x {node.instance_type}) folded into workers")
    if node.ebs != nodes.worker.ebs and count:
        notes.approx(f"EMR {role} {label} EBS volumes differ from the workers'; the workers' are used")
    if spot:
        nodes.spot += count
    else:
        nodes.on_demand += count


def _emr_groups(groups: list[Any], what: str, table: PriceTable, notes: _Notes) -> _EmrNodes:
    nodes = _EmrNodes()
    ordered = sorted(
        (g for g in groups if isinstance(g, Mapping)),
        key=lambda g: {"MASTER": 0, "CORE": 1}.get(str(g.get("InstanceRole", "")).upper(), 2),
    )
    for group in ordered:
        role = str(group.get("InstanceRole", "")).upper()
        label = f"instance group {group.get('Name')!r}" if group.get("Name") else "instance group"
        where = f"{role} {label}"
        if role not in ("MASTER", "CORE", "TASK"):
            raise _refuse(what, f"{where} has the unknown InstanceRole {role!r}")
        count = _count(group.get("InstanceCount", 0), f"{where} InstanceCount", what)
        node = _node(
            group.get("InstanceType"),
            where,
            what,
            table,
            ebs=_emr_ebs(group.get("EbsConfiguration"), where, notes),
        )
        spot = str(group.get("Market") or "ON_DEMAND").upper() == "SPOT"
        if group.get("Configurations"):
            notes.drop(
                f"{where} Configurations are not carried over (Databricks has one configuration per cluster)"
            )
        if group.get("AutoScalingPolicy"):
            notes.drop(f"{where} AutoScalingPolicy (custom automatic scaling) is not carried over")
        if group.get("CustomAmiId"):
            notes.drop(f"{where} CustomAmiId is not carried over")
        if spot and group.get("BidPrice"):
            try:
                bid = float(str(group["BidPrice"]))
            except ValueError:
                bid = 0.0
            if bid > 0:
                percent = bid / table.price_of(node.instance_type).on_demand_usd_per_hour * 100
                nodes.bids.append(percent)
                notes.approx(
                    f"{where} BidPrice ${bid:g} is {percent:.0f}% of the {node.instance_type} on-demand "
                    f"price in the price table ({table.region}, {table.as_of.isoformat()})"
                )
        if role == "MASTER":
            nodes.master, nodes.master_spot, nodes.masters = node, spot, count
        else:
            _fold(nodes, node, count, spot=spot, label=label, notes=notes, role=role)
    return nodes


def _emr_fleets(fleets: list[Any], what: str, table: PriceTable, notes: _Notes) -> _EmrNodes:
    nodes = _EmrNodes()
    ordered = sorted(
        (f for f in fleets if isinstance(f, Mapping)),
        key=lambda f: {"MASTER": 0, "CORE": 1}.get(str(f.get("InstanceFleetType", "")).upper(), 2),
    )
    for fleet in ordered:
        role = str(fleet.get("InstanceFleetType", "")).upper()
        label = f"instance fleet {fleet.get('Name')!r}" if fleet.get("Name") else "instance fleet"
        where = f"{role} {label}"
        if role not in ("MASTER", "CORE", "TASK"):
            raise _refuse(what, f"{where} has the unknown InstanceFleetType {role!r}")
        configs = [c for c in fleet.get("InstanceTypeConfigs") or [] if isinstance(c, Mapping)]
        if not configs:
            raise _refuse(what, f"{where} has no InstanceTypeConfigs")
        weights = [c.get("WeightedCapacity") or 1 for c in configs]
        best = max(range(len(configs)), key=lambda i: (weights[i], -i))
        chosen = configs[best]
        if len(configs) > 1:
            types = ", ".join(str(c.get("InstanceType")) for c in configs)
            notes.approx(
                f"EMR {where} with {len(configs)} instance types ({types}): the first of the highest "
                f"WeightedCapacity, {chosen.get('InstanceType')}, is used"
            )
        weight = weights[best]
        if not isinstance(weight, int | float) or weight <= 0:
            raise _refuse(what, f"{where} WeightedCapacity must be a positive number (got {weight!r})")
        node = _node(
            chosen.get("InstanceType"),
            where,
            what,
            table,
            ebs=_emr_ebs(chosen.get("EbsConfiguration"), where, notes),
        )
        if chosen.get("Configurations"):
            notes.drop(
                f"{where} Configurations are not carried over (Databricks has one configuration per cluster)"
            )
        counts: dict[str, int] = {}
        for market, key in (("ON_DEMAND", "TargetOnDemandCapacity"), ("SPOT", "TargetSpotCapacity")):
            units = _count(fleet.get(key, 0) or 0, f"{where} {key}", what)
            counts[market] = math.ceil(units / weight)
            if units and units % weight:
                notes.approx(
                    f"{where} {key} {units} is not a multiple of {node.instance_type}'s WeightedCapacity "
                    f"{weight}: rounded up to {counts[market]} nodes"
                )
        if counts["SPOT"]:
            percent = chosen.get("BidPriceAsPercentageOfOnDemandPrice")
            if isinstance(percent, int | float) and percent > 0:
                nodes.bids.append(float(percent))
            elif chosen.get("BidPrice"):
                try:
                    bid = float(str(chosen["BidPrice"]))
                except ValueError:
                    bid = 0.0
                if bid > 0:
                    pct = bid / table.price_of(node.instance_type).on_demand_usd_per_hour * 100
                    nodes.bids.append(pct)
                    notes.approx(
                        f"{where} BidPrice ${bid:g} is {pct:.0f}% of the {node.instance_type} on-demand "
                        f"price in the price table ({table.region}, {table.as_of.isoformat()})"
                    )
        launch = fleet.get("LaunchSpecifications")
        if isinstance(launch, Mapping):
            spot_spec = launch.get("SpotSpecification")
            if (
                isinstance(spot_spec, Mapping)
                and spot_spec.get("TimeoutAction") == "SWITCH_TO_ON_DEMAND"
                and counts["SPOT"]
            ):
                nodes.fallback = True
            other = sorted(set(launch) - {"SpotSpecification"})
            extra = (
                sorted(set(spot_spec) - {"TimeoutAction", "TimeoutDurationMinutes"})
                if isinstance(spot_spec, Mapping)
                else []
            )
            if other or extra:
                notes.drop(f"{where} LaunchSpecifications {', '.join(other + extra)} are not carried over")
        if role == "MASTER":
            nodes.master = node
            nodes.master_spot = counts["ON_DEMAND"] == 0 and counts["SPOT"] > 0
        else:
            if counts["ON_DEMAND"]:
                _fold(nodes, node, counts["ON_DEMAND"], spot=False, label=label, notes=notes, role=role)
            if counts["SPOT"]:
                _fold(nodes, node, counts["SPOT"], spot=True, label=label, notes=notes, role=role)
            if not counts["ON_DEMAND"] and not counts["SPOT"]:
                _fold(nodes, node, 0, spot=False, label=label, notes=notes, role=role)
    return nodes


def _emr_market(nodes: _EmrNodes, notes: _Notes) -> MarketSpec:
    bid = round(max(nodes.bids)) if nodes.bids else None
    if len({round(b) for b in nodes.bids}) > 1:
        notes.approx(
            f"EMR spot nodes bid different prices: the highest, {bid}% of on-demand, is used for all"
        )
    if nodes.spot == 0:
        if nodes.master_spot:
            notes.approx(
                "the EMR master was a spot node but the workers were on-demand: the driver becomes on-demand"
            )
        return MarketSpec(availability="on_demand", first_on_demand=1)
    availability: Availability = "spot_with_fallback" if nodes.fallback else "spot"
    if nodes.master_spot and nodes.on_demand == 0:
        return MarketSpec(availability=availability, first_on_demand=0, spot_bid_price_percent=bid)
    if nodes.master_spot:
        notes.approx(
            "the EMR master was a spot node while some workers were on-demand: Databricks buys the driver "
            "first, so the driver becomes on-demand"
        )
    return MarketSpec(
        availability=availability, first_on_demand=1 + nodes.on_demand, spot_bid_price_percent=bid
    )


def _emr_scaling(
    request: Mapping[str, Any], worker: NodeSpec, *, fleets: bool, initial: int, what: str, notes: _Notes
) -> tuple[Autoscale | None, int | None]:
    """Autoscale bounds and the on-demand cap (workers) from a ManagedScalingPolicy."""
    policy = request.get("ManagedScalingPolicy")
    limits = policy.get("ComputeLimits") if isinstance(policy, Mapping) else None
    if not isinstance(limits, Mapping):
        return None, None
    unit = str(limits.get("UnitType") or "Instances")
    low = _count(limits.get("MinimumCapacityUnits", 0), "ManagedScalingPolicy MinimumCapacityUnits", what)
    high = _count(limits.get("MaximumCapacityUnits", 0), "ManagedScalingPolicy MaximumCapacityUnits", what)
    cap = limits.get("MaximumOnDemandCapacityUnits")
    per = 1.0
    if unit == "VCPU":
        per = float(worker.vcpus)
        notes.approx(
            f"EMR managed scaling in vCPUs ({low}-{high}) became "
            f"{math.ceil(low / per)}-{math.ceil(high / per)} workers of {worker.vcpus} vCPUs"
        )
    elif unit == "InstanceFleetUnits" and fleets:
        notes.approx("EMR managed scaling in instance fleet units was read as one unit per worker")
    low_n, high_n = math.ceil(low / per), max(1, math.ceil(high / per))
    if limits.get("MaximumCoreCapacityUnits") is not None:
        notes.drop("EMR managed scaling MaximumCoreCapacityUnits (the core/task split) is not carried over")
    if initial != low_n:
        notes.approx(
            f"EMR starts this cluster with {initial} workers and scales between {low_n} and {high_n}; an "
            f"autoscaling Databricks cluster starts with min_workers ({low_n})"
        )
    on_demand_cap = (
        math.ceil(_count(cap, "MaximumOnDemandCapacityUnits", what) / per) if cap is not None else None
    )
    return Autoscale(min_workers=min(low_n, high_n), max_workers=high_n), on_demand_cap


def _emr_configurations(configurations: Any, notes: _Notes) -> tuple[dict[str, str], dict[str, str]]:
    spark_conf: dict[str, str] = {}
    env: dict[str, str] = {}
    hadoop: dict[str, str] = {}
    others: list[str] = []
    for entry in configurations or []:
        if not isinstance(entry, Mapping):
            continue
        classification = str(entry.get("Classification") or "")
        props = entry.get("Properties") if isinstance(entry.get("Properties"), Mapping) else {}
        assert isinstance(props, Mapping)
        if classification == "spark-defaults":
            spark_conf.update(_split_spark_conf(props, Platform.AWS_EMR, notes, "spark-defaults"))
        elif classification == "spark-env":
            for nested in entry.get("Configurations") or []:
                if isinstance(nested, Mapping) and nested.get("Classification") == "export":
                    nested_props = nested.get("Properties")
                    if isinstance(nested_props, Mapping):
                        env.update(_split_env(nested_props, Platform.AWS_EMR, notes, "spark-env export"))
        elif classification == "core-site":
            hadoop.update({f"spark.hadoop.{k}": str(v) for k, v in props.items()})
        else:
            others.append(classification)
    if hadoop:
        kept = _split_spark_conf(hadoop, Platform.AWS_EMR, notes, "core-site")
        for key, value in kept.items():
            spark_conf.setdefault(key, value)
        if kept:
            notes.approx("EMR core-site properties became spark.hadoop.* Spark settings")
    if others:
        notes.drop(
            f"EMR configuration classifications {', '.join(sorted(set(others)))} have no Databricks "
            "equivalent (Databricks takes Spark settings only)"
        )
    return spark_conf, env


def from_emr(
    run_job_flow_request: Mapping[str, Any], *, price_table: PriceTable = DEFAULT_PRICE_TABLE
) -> Translation[NeutralCluster]:
    """Read the cluster of an EMR RunJobFlow request (or an EMR solution's configuration).

    MASTER group/fleet -> driver; CORE and TASK groups/fleets -> workers (a TASK group of another
    instance type is converted to worker-type nodes of the same vCPUs); ``Market`` and fleet
    targets -> the on-demand/spot split (on-demand workers count toward ``first_on_demand``);
    ``ManagedScalingPolicy`` -> autoscale bounds; ``spark-defaults`` -> ``spark_conf``
    (EMR-specific keys dropped), ``spark-env``/``export`` -> ``spark_env``, ``core-site`` ->
    ``spark.hadoop.*``.

    :param run_job_flow_request: a RunJobFlow request.
    :param price_table: where instance types' vCPUs and memory come from.
    :raises InvalidInputError: no instances, no master, an unknown or non-EC2 instance type.
    """
    what = "the EMR RunJobFlow request"
    if not isinstance(run_job_flow_request, Mapping):
        raise _refuse(what, f"it must be an object (got {type(run_job_flow_request).__name__})")
    instances = run_job_flow_request.get("Instances")
    if not isinstance(instances, Mapping):
        raise _refuse(what, "it has no Instances object")
    notes = _Notes()
    fleets = bool(instances.get("InstanceFleets"))
    if instances.get("InstanceGroups"):
        nodes = _emr_groups(list(instances["InstanceGroups"]), what, price_table, notes)
    elif fleets:
        nodes = _emr_fleets(list(instances["InstanceFleets"]), what, price_table, notes)
    elif instances.get("MasterInstanceType"):
        nodes = _EmrNodes()
        nodes.master = _node(instances["MasterInstanceType"], "MasterInstanceType", what, price_table)
        count = _count(instances.get("InstanceCount", 1), "Instances.InstanceCount", what)
        slave = instances.get("SlaveInstanceType") or instances["MasterInstanceType"]
        nodes.worker = _node(slave, "SlaveInstanceType", what, price_table)
        nodes.on_demand = max(0, count - 1)
    else:
        raise _refuse(what, "Instances has neither InstanceGroups, InstanceFleets nor MasterInstanceType")
    if nodes.master is None:
        raise _refuse(what, "it has no MASTER instance group or fleet")
    if nodes.masters > 1:
        notes.approx(f"EMR runs {nodes.masters} master nodes (high availability); Databricks has one driver")
    worker = nodes.worker or nodes.master
    total = nodes.on_demand + nodes.spot
    if total == 0:
        notes.approx(
            "the EMR cluster has no core or task nodes: it becomes a single-node cluster (0 workers)"
        )
    market = _emr_market(nodes, notes)
    autoscale, on_demand_cap = _emr_scaling(
        run_job_flow_request, worker, fleets=fleets, initial=total, what=what, notes=notes
    )
    if on_demand_cap is not None and autoscale is not None and on_demand_cap < autoscale.max_workers:
        availability: Availability = "spot_with_fallback" if nodes.fallback else "spot"
        market = MarketSpec(
            availability=availability,
            first_on_demand=(1 if not nodes.master_spot else 0) + on_demand_cap,
            spot_bid_price_percent=market.spot_bid_price_percent,
        )
    placement = instances.get("Placement") if isinstance(instances.get("Placement"), Mapping) else {}
    assert isinstance(placement, Mapping)
    zones = placement.get("AvailabilityZones") or (
        [placement["AvailabilityZone"]] if placement.get("AvailabilityZone") else []
    )
    zone = str(zones[0]) if zones else None
    if len(zones) > 1:
        notes.approx(f"EMR may use {len(zones)} availability zones; the first, {zone}, is kept")
    spark_conf, env = _emr_configurations(run_job_flow_request.get("Configurations"), notes)
    release = run_job_flow_request.get("ReleaseLabel")
    if release:
        notes.drop(
            f"EMR release {release} is not translated: the target's own runtime (Spark version) is used"
        )
    for key in ("BootstrapActions", "Steps"):
        value = run_job_flow_request.get(key)
        if value:
            target = "init scripts" if key == "BootstrapActions" else "tasks"
            notes.drop(
                f"EMR {key} ({len(value)}) are not carried over: give the Databricks {target} yourself"
            )
    for key in sorted(set(run_job_flow_request) - _EMR_INFRA_KEYS - {"BootstrapActions", "Steps"}):
        notes.drop(f"EMR {key} has no Databricks equivalent and is not carried over")
    tags = {
        str(t["Key"]): str(t.get("Value", ""))
        for t in run_job_flow_request.get("Tags") or []
        if isinstance(t, Mapping) and isinstance(t.get("Key"), str)
    }
    worker_spec = (
        Workers(node=worker, autoscale=autoscale) if autoscale else Workers(node=worker, count=total)
    )
    neutral = NeutralCluster(
        source_platform=Platform.AWS_EMR,
        driver=nodes.master,
        workers=worker_spec,
        spark_conf=spark_conf,
        spark_env=env,
        market=market,
        region=_region_of_zone(zone),
        zone=zone,
        tags=_user_tags(tags),
        runtime=str(release) if release else None,
    )
    neutral.notes = [*notes.dropped, *notes.approximated]
    return notes.wrap(neutral)


# --------------------------------------------------------------------------------------------------
# Databricks -> neutral


def _databricks_ebs(aws: Mapping[str, Any], notes: _Notes) -> EbsVolumes | None:
    count = aws.get("ebs_volume_count")
    size = aws.get("ebs_volume_size")
    if not (_is_int(count) and count >= 1 and _is_int(size) and size >= 1):
        return None
    kind = str(aws.get("ebs_volume_type") or "GENERAL_PURPOSE_SSD").upper()
    iops = aws.get("ebs_volume_iops") if _is_int(aws.get("ebs_volume_iops")) else None
    throughput = aws.get("ebs_volume_throughput") if _is_int(aws.get("ebs_volume_throughput")) else None
    if kind == "THROUGHPUT_OPTIMIZED_HDD":
        return EbsVolumes(volume_type="st1", count=count, size_gib=size)
    if kind != "GENERAL_PURPOSE_SSD":
        notes.approx(f"aws_attributes.ebs_volume_type {kind} became general purpose SSD (gp2)")
    volume_type: VolumeType = "gp3" if iops or throughput else "gp2"
    return EbsVolumes(
        volume_type=volume_type, count=count, size_gib=size, iops=iops, throughput_mibps=throughput
    )


def from_databricks(
    cluster_spec: Mapping[str, Any], *, price_table: PriceTable = DEFAULT_PRICE_TABLE
) -> Translation[NeutralCluster]:
    """Read a Databricks cluster spec (or a Databricks solution's configuration).

    ``node_type_id``/``driver_node_type_id`` -> workers/driver; ``num_workers`` or ``autoscale`` ->
    workers; ``aws_attributes`` availability, ``first_on_demand``, ``spot_bid_price_percent``,
    ``ebs_volume_*`` and ``zone_id`` -> market, EBS and zone; ``spark_conf`` (``spark.databricks.*``
    dropped) and ``spark_env_vars``; ``custom_tags`` -> tags. A single-node cluster
    (``num_workers`` 0) has 0 workers.

    :param cluster_spec: the cluster spec.
    :param price_table: where instance types' vCPUs and memory come from.
    :raises InvalidInputError: instance pools or policies without a node type, GPU runtimes, Azure or
        GCP clusters, unknown instance types, no size.
    """
    what = "the Databricks cluster spec"
    if not isinstance(cluster_spec, Mapping):
        raise _refuse(what, f"it must be an object (got {type(cluster_spec).__name__})")
    for cloud in ("azure_attributes", "gcp_attributes"):
        if cluster_spec.get(cloud):
            raise _refuse(what, f"it has {cloud}: only Databricks on AWS translates to EMR")
    notes = _Notes()
    version = cluster_spec.get("spark_version")
    version_text = str(version or "").lower()
    if "gpu" in version_text:
        raise _refuse(
            what,
            f"spark_version {version!r} is a GPU runtime; its GPU libraries and drivers have no EMR "
            "counterpart (translate a cluster on a CPU runtime instead)",
        )
    if "-ml-" in version_text or cluster_spec.get("use_ml_runtime") is True:
        notes.drop(f"the machine-learning libraries of the Databricks ML runtime ({version}) are not on EMR")
    if "photon" in version_text or str(cluster_spec.get("runtime_engine") or "").upper() == "PHOTON":
        notes.drop("Databricks runtime_engine PHOTON has no EMR equivalent")
    if version:
        notes.drop(f"Databricks spark_version {version} is not translated: the target's own release is used")

    node_type = cluster_spec.get("node_type_id")
    if not node_type:
        if cluster_spec.get("instance_pool_id"):
            raise _refuse(
                what,
                f"it takes its nodes from instance pool {cluster_spec['instance_pool_id']!r} without a "
                "node_type_id, so its instance type is unknown; give node_type_id (and driver_node_type_id)",
            )
        if cluster_spec.get("policy_id"):
            raise _refuse(
                what,
                f"its node type comes from cluster policy {cluster_spec['policy_id']!r}; give node_type_id",
            )
        raise _refuse(what, "it has no node_type_id")
    for pool in ("instance_pool_id", "driver_instance_pool_id"):
        if cluster_spec.get(pool):
            notes.drop(
                f"Databricks {pool} {cluster_spec[pool]!r} has no EMR equivalent; the node types are used"
            )

    aws = (
        cluster_spec.get("aws_attributes") if isinstance(cluster_spec.get("aws_attributes"), Mapping) else {}
    )
    assert isinstance(aws, Mapping)
    ebs = _databricks_ebs(aws, notes)
    worker = _node(node_type, "node_type_id", what, price_table, ebs=ebs)
    driver_type = cluster_spec.get("driver_node_type_id") or node_type
    driver = _node(driver_type, "driver_node_type_id", what, price_table, ebs=ebs)

    autoscale = cluster_spec.get("autoscale")
    if isinstance(autoscale, Mapping):
        low = _count(autoscale.get("min_workers", 0), "autoscale.min_workers", what)
        high = _count(autoscale.get("max_workers"), "autoscale.max_workers", what)
        if high < 1 or low > high:
            raise _refuse(what, f"autoscale bounds {low}-{high} are not valid")
        workers = Workers(node=worker, autoscale=Autoscale(min_workers=low, max_workers=high))
        total = high
    elif "num_workers" in cluster_spec:
        total = _count(cluster_spec.get("num_workers"), "num_workers", what)
        workers = Workers(node=worker, count=total)
    else:
        raise _refuse(what, "it has neither num_workers nor autoscale")

    spark_conf = _split_spark_conf(
        cluster_spec.get("spark_conf") or {}, Platform.AWS_DATABRICKS, notes, "spark_conf"
    )
    env = _split_env(
        cluster_spec.get("spark_env_vars") or {}, Platform.AWS_DATABRICKS, notes, "spark_env_vars"
    )
    tags = _user_tags(cluster_spec.get("custom_tags") or {})

    availability_text = aws.get("availability")
    if availability_text is None and total:
        notes.approx(
            "aws_attributes.availability is not set: read as ON_DEMAND (the workspace's default may differ)"
        )
    availability = _AVAILABILITIES.get(str(availability_text or "ON_DEMAND").upper())
    if availability is None:
        raise _refuse(what, f"aws_attributes.availability {availability_text!r} is not an AWS availability")
    first = aws.get("first_on_demand", 1)
    bid = aws.get("spot_bid_price_percent")
    market = MarketSpec(
        availability=availability,
        first_on_demand=_count(first, "aws_attributes.first_on_demand", what),
        spot_bid_price_percent=int(bid) if _is_int(bid) and bid > 0 and availability != "on_demand" else None,
    )
    zone_id = aws.get("zone_id")
    zone = str(zone_id) if zone_id and str(zone_id).lower() != "auto" else None
    if aws.get("instance_profile_arn"):
        notes.drop(
            "aws_attributes.instance_profile_arn is not carried over: EMR nodes use the base request's "
            "JobFlowRole"
        )
    for key, sentence in _DATABRICKS_DROPPED_KEYS.items():
        if cluster_spec.get(key):
            notes.drop(sentence)
    if total == 0 and not isinstance(autoscale, Mapping):
        notes.approx("the Databricks cluster is single-node: Spark runs on the driver alone")
    neutral = NeutralCluster(
        source_platform=Platform.AWS_DATABRICKS,
        driver=driver,
        workers=workers,
        spark_conf=spark_conf,
        spark_env=env,
        market=market,
        region=_region_of_zone(zone),
        zone=zone,
        tags=tags,
        runtime=str(version) if version else None,
    )
    neutral.notes = [*notes.dropped, *notes.approximated]
    return notes.wrap(neutral)


# --------------------------------------------------------------------------------------------------
# neutral -> EMR


def _emr_ebs_config(ebs: EbsVolumes) -> dict[str, Any]:
    spec: dict[str, Any] = {"VolumeType": ebs.volume_type, "SizeInGB": ebs.size_gib}
    if ebs.volume_type == "gp3":
        if ebs.iops:
            spec["Iops"] = ebs.iops
        if ebs.throughput_mibps:
            spec["Throughput"] = ebs.throughput_mibps
    return {"EbsBlockDeviceConfigs": [{"VolumeSpecification": spec, "VolumesPerInstance": ebs.count}]}


def _templates(instances: Mapping[str, Any], key: str, role_key: str) -> dict[str, dict[str, Any]]:
    """The base's group or fleet per role, to keep settings the translation does not decide."""
    found: dict[str, dict[str, Any]] = {}
    for entry in instances.get(key) or []:
        if isinstance(entry, Mapping):
            role = str(entry.get(role_key, "")).upper()
            found.setdefault(role, copy.deepcopy(dict(entry)))
    return found


def _merge_emr_configurations(base: Any, neutral: NeutralCluster) -> list[Any]:
    configurations = copy.deepcopy(list(base)) if isinstance(base, list) else []
    if neutral.spark_conf:
        entry = next(
            (
                c
                for c in configurations
                if isinstance(c, dict) and c.get("Classification") == "spark-defaults"
            ),
            None,
        )
        if entry is None:
            entry = {"Classification": "spark-defaults", "Properties": {}}
            configurations.append(entry)
        current = entry.get("Properties")
        entry["Properties"] = {**(current if isinstance(current, dict) else {}), **neutral.spark_conf}
    if neutral.spark_env:
        env_entry = next(
            (c for c in configurations if isinstance(c, dict) and c.get("Classification") == "spark-env"),
            None,
        )
        if env_entry is None:
            env_entry = {"Classification": "spark-env", "Configurations": []}
            configurations.append(env_entry)
        nested = env_entry.setdefault("Configurations", [])
        export = next(
            (c for c in nested if isinstance(c, dict) and c.get("Classification") == "export"), None
        )
        if export is None:
            export = {"Classification": "export", "Properties": {}}
            nested.append(export)
        current_env = export.get("Properties")
        export["Properties"] = {**(current_env if isinstance(current_env, dict) else {}), **neutral.spark_env}
    return configurations


def to_emr(
    neutral: NeutralCluster,
    base_request: Mapping[str, Any],
    *,
    price_table: PriceTable = DEFAULT_PRICE_TABLE,
) -> Translation[dict[str, Any]]:
    """Write a neutral cluster into the user's RunJobFlow request.

    The base's node settings (groups, fleets or the uniform form) are replaced: instance fleets
    when the base uses fleets, else instance groups. The driver becomes the MASTER; on-demand
    workers the CORE group and spot workers a TASK group (all spot: a spot CORE group); with fleets
    one CORE fleet holds both targets. Autoscale bounds become a ``ManagedScalingPolicy`` (the
    cluster starts with ``min_workers``, at least 1). ``spark_conf`` is merged over the base's
    ``spark-defaults`` and ``spark_env`` over ``spark-env``/``export``; tags the base lacks are
    added. Everything else (release, roles, subnets, steps, bootstrap actions, log URI, the other
    settings of the base's groups or fleets) is the base's.

    :param neutral: the cluster.
    :param base_request: the user's RunJobFlow request (not changed).
    :param price_table: the price table (spot bids in USD for instance groups).
    :raises InvalidInputError: an instance type EMR does not launch, or a base that is not an object.
    """
    what = "the cluster to EMR"
    if not isinstance(base_request, Mapping):
        raise _refuse(
            what, f"the base RunJobFlow request must be an object (got {type(base_request).__name__})"
        )
    notes = _Notes()
    driver = _node(neutral.driver.instance_type, "the driver", what, price_table, target=Platform.AWS_EMR)
    worker = _node(
        neutral.workers.node.instance_type, "the workers", what, price_table, target=Platform.AWS_EMR
    )
    request: dict[str, Any] = copy.deepcopy(dict(base_request))
    base_instances = request.get("Instances")
    instances: dict[str, Any] = dict(base_instances) if isinstance(base_instances, Mapping) else {}
    use_fleets = bool(instances.get("InstanceFleets"))
    group_templates = _templates(instances, "InstanceGroups", "InstanceRole")
    fleet_templates = _templates(instances, "InstanceFleets", "InstanceFleetType")
    for key in _NODE_KEYS:
        instances.pop(key, None)

    market = neutral.market
    autoscale = neutral.workers.autoscale
    workers = neutral.workers.initial
    if autoscale is not None and workers == 0:
        workers = 1
        notes.approx("EMR managed scaling keeps at least one worker: autoscale min_workers 0 became 1")
    on_demand = market.on_demand_workers(workers)
    spot = workers - on_demand
    master_market = "ON_DEMAND" if market.driver_on_demand else "SPOT"
    bid = market.spot_bid_price_percent
    driver_ebs = neutral.driver.ebs
    worker_ebs = neutral.workers.node.ebs

    if use_fleets:
        unknown_base = sorted(set(fleet_templates) - {"MASTER", "CORE", "TASK"})
        if unknown_base:
            notes.drop(f"base instance fleets of type {', '.join(unknown_base)} were replaced")
        fleets: list[dict[str, Any]] = []
        for role, node, od, sp, ebs in (
            ("MASTER", driver, int(master_market == "ON_DEMAND"), int(master_market == "SPOT"), driver_ebs),
            ("CORE", worker, on_demand, spot, worker_ebs),
        ):
            if role == "CORE" and od + sp == 0:
                continue
            template = fleet_templates.get(role, {})
            old_configs = [c for c in template.get("InstanceTypeConfigs") or [] if isinstance(c, Mapping)]
            if len(old_configs) > 1:
                notes.drop(
                    f"the base {role} instance fleet offered {len(old_configs)} instance types; only "
                    f"{node.instance_type} is used"
                )
            config: dict[str, Any] = {"InstanceType": node.instance_type, "WeightedCapacity": 1}
            if old_configs and old_configs[0].get("Configurations"):
                config["Configurations"] = copy.deepcopy(old_configs[0]["Configurations"])
            if ebs is not None:
                config["EbsConfiguration"] = _emr_ebs_config(ebs)
            elif old_configs and old_configs[0].get("EbsConfiguration"):
                config["EbsConfiguration"] = copy.deepcopy(old_configs[0]["EbsConfiguration"])
            if sp and bid is not None:
                config["BidPriceAsPercentageOfOnDemandPrice"] = float(bid)
            fleet = {
                k: v
                for k, v in template.items()
                if k not in ("InstanceTypeConfigs", "TargetOnDemandCapacity", "TargetSpotCapacity")
            }
            fleet.setdefault("Name", role.title())
            fleet.update(
                {
                    "InstanceFleetType": role,
                    "TargetOnDemandCapacity": od,
                    "TargetSpotCapacity": sp,
                    "InstanceTypeConfigs": [config],
                }
            )
            if sp:
                launch = dict(fleet.get("LaunchSpecifications") or {})
                spot_spec = dict(launch.get("SpotSpecification") or {})
                if market.availability == "spot_with_fallback":
                    spot_spec.setdefault("TimeoutDurationMinutes", 10)
                    spot_spec["TimeoutAction"] = "SWITCH_TO_ON_DEMAND"
                    notes.approx(
                        "spot with fallback: EMR switches to on-demand only while provisioning (after "
                        f"{spot_spec['TimeoutDurationMinutes']} minutes), not when spot nodes are reclaimed "
                        "later"
                    )
                elif spot_spec:
                    spot_spec["TimeoutAction"] = "TERMINATE_CLUSTER"
                if spot_spec:
                    launch["SpotSpecification"] = spot_spec
                    fleet["LaunchSpecifications"] = launch
            fleets.append(fleet)
        if "TASK" in fleet_templates:
            notes.approx(
                "the base TASK instance fleet was folded into the CORE fleet (the workers have one type)"
            )
        instances["InstanceFleets"] = fleets
        if "Ec2SubnetIds" in instances:
            instances.pop("Ec2SubnetId", None)
    else:
        groups: list[dict[str, Any]] = []
        plan: list[tuple[str, NodeSpec, int, str, EbsVolumes | None]] = [
            ("MASTER", driver, 1, master_market, driver_ebs)
        ]
        if on_demand and spot:
            plan += [
                ("CORE", worker, on_demand, "ON_DEMAND", worker_ebs),
                ("TASK", worker, spot, "SPOT", worker_ebs),
            ]
        elif workers:
            plan.append(("CORE", worker, workers, "SPOT" if spot else "ON_DEMAND", worker_ebs))
        for role, node, count, group_market, ebs in plan:
            template = group_templates.get(role) or {}
            if role == "TASK" and not template:
                template = {k: v for k, v in group_templates.get("CORE", {}).items() if k != "Name"}
            group = {
                k: v
                for k, v in template.items()
                if k not in ("InstanceType", "InstanceCount", "Market", "BidPrice", "AutoScalingPolicy")
            }
            if template.get("AutoScalingPolicy"):
                notes.drop(
                    f"the base {role} group's AutoScalingPolicy was removed (the translation sets the size)"
                )
            group.setdefault("Name", role.title())
            group.update({"InstanceRole": role, "InstanceType": node.instance_type, "InstanceCount": count})
            group["Market"] = group_market
            if ebs is not None:
                group["EbsConfiguration"] = _emr_ebs_config(ebs)
            if group_market == "SPOT" and bid is not None:
                usd = price_table.price_of(node.instance_type).on_demand_usd_per_hour * bid / 100
                group["BidPrice"] = f"{usd:.4f}"
                notes.approx(
                    f"the spot bid of {bid}% of on-demand became BidPrice ${usd:.4f} for "
                    f"{node.instance_type} (price table {price_table.region}, "
                    f"{price_table.as_of.isoformat()})"
                )
            groups.append(group)
        if market.availability == "spot_with_fallback" and (spot or master_market == "SPOT"):
            notes.approx(
                "EMR instance groups cannot fall back to on-demand capacity: the spot nodes are plain spot "
                "(use instance fleets in the base request to get SWITCH_TO_ON_DEMAND)"
            )
        instances["InstanceGroups"] = groups
    if workers == 0:
        notes.approx("0 workers: an EMR cluster with only a master node (Spark runs on the master)")
    if driver_ebs is not None and worker_ebs is not None and driver_ebs != worker_ebs:
        notes.approx("the driver and the workers have different EBS volumes; each EMR role gets its own")

    zone = neutral.zone
    if zone:
        if instances.get("Ec2SubnetId") or instances.get("Ec2SubnetIds"):
            notes.drop(f"availability zone {zone} is not set: the base request's subnet decides the zone")
        elif not instances.get("Placement"):
            instances["Placement"] = (
                {"AvailabilityZones": [zone]} if use_fleets else {"AvailabilityZone": zone}
            )
    request["Instances"] = instances

    if autoscale is not None:
        unit = "InstanceFleetUnits" if use_fleets else "Instances"
        limits: dict[str, Any] = {
            "UnitType": unit,
            "MinimumCapacityUnits": max(1, autoscale.min_workers),
            "MaximumCapacityUnits": autoscale.max_workers,
        }
        if market.availability != "on_demand":
            cap = market.on_demand_workers(autoscale.max_workers)
            if cap < autoscale.max_workers:
                limits["MaximumOnDemandCapacityUnits"] = cap
        request["ManagedScalingPolicy"] = {"ComputeLimits": limits}
    elif request.pop("ManagedScalingPolicy", None) is not None:
        notes.drop("the base request's ManagedScalingPolicy was removed: the configuration has a fixed size")

    if neutral.spark_conf or neutral.spark_env:
        request["Configurations"] = _merge_emr_configurations(request.get("Configurations"), neutral)
    if neutral.tags:
        tags = [dict(t) for t in request.get("Tags") or [] if isinstance(t, Mapping)]
        present = {t.get("Key") for t in tags}
        tags += [{"Key": k, "Value": v} for k, v in sorted(neutral.tags.items()) if k not in present]
        request["Tags"] = tags
    return notes.wrap(request)


# --------------------------------------------------------------------------------------------------
# neutral -> Databricks


def _databricks_ebs_attributes(ebs: EbsVolumes, notes: _Notes) -> dict[str, Any]:
    kind = "THROUGHPUT_OPTIMIZED_HDD" if ebs.volume_type == "st1" else "GENERAL_PURPOSE_SSD"
    low, high = _DATABRICKS_EBS_SIZE[kind]
    size = min(max(ebs.size_gib, low), high)
    if size != ebs.size_gib:
        notes.approx(
            f"EBS volumes of {ebs.size_gib} GiB became {size} GiB (Databricks takes {low}-{high} GiB "
            f"for {kind})"
        )
    count = min(ebs.count, _DATABRICKS_MAX_VOLUMES)
    if count != ebs.count:
        notes.approx(f"{ebs.count} EBS volumes per node became {count} (the Databricks maximum)")
    attributes: dict[str, Any] = {"ebs_volume_type": kind, "ebs_volume_count": count, "ebs_volume_size": size}
    if ebs.volume_type == "gp3":
        if ebs.iops or ebs.throughput_mibps:
            iops = ebs.iops or _GP3_BASELINE[0]
            throughput = ebs.throughput_mibps or _GP3_BASELINE[1]
            if not (ebs.iops and ebs.throughput_mibps):
                notes.approx(
                    "gp3 volumes need both IOPS and throughput on Databricks: the missing one is the gp3 "
                    f"baseline ({iops} IOPS, {throughput} MiB/s)"
                )
            attributes["ebs_volume_iops"] = iops
            attributes["ebs_volume_throughput"] = throughput
        else:
            notes.approx(
                "gp3 volumes without IOPS or throughput became GENERAL_PURPOSE_SSD: the workspace decides "
                "gp2 or gp3"
            )
    return attributes


def to_databricks(
    neutral: NeutralCluster,
    base_spec: Mapping[str, Any],
    *,
    price_table: PriceTable = DEFAULT_PRICE_TABLE,
) -> Translation[dict[str, Any]]:
    """Write a neutral cluster into the user's Databricks cluster spec.

    Sets ``node_type_id``, ``driver_node_type_id`` and ``num_workers`` or ``autoscale`` (the other
    is removed, as are instance pools); merges ``spark_conf``, ``spark_env_vars`` and
    ``aws_attributes`` (availability, ``first_on_demand``, ``spot_bid_price_percent``, ``ebs_*``,
    ``zone_id`` when the base has none) over the base's; adds tags the base lacks. 0 workers
    gives a single-node cluster (``spark.databricks.cluster.profile`` ``singleNode``,
    ``spark.master`` ``local[*, 4]``, tag ``ResourceClass`` ``SingleNode``). Everything else
    (``spark_version``, policy, init scripts, log delivery, instance profile) is the base's.

    :param neutral: the cluster.
    :param base_spec: the user's cluster spec (not changed).
    :param price_table: the price table (instance types known to it).
    :raises InvalidInputError: an instance type Databricks does not launch, or a base that is not an
        object.
    """
    what = "the cluster to Databricks"
    if not isinstance(base_spec, Mapping):
        raise _refuse(what, f"the base cluster spec must be an object (got {type(base_spec).__name__})")
    notes = _Notes()
    driver = _node(
        neutral.driver.instance_type, "the driver", what, price_table, target=Platform.AWS_DATABRICKS
    )
    worker = _node(
        neutral.workers.node.instance_type, "the workers", what, price_table, target=Platform.AWS_DATABRICKS
    )
    spec: dict[str, Any] = copy.deepcopy(dict(base_spec))
    for pool in ("instance_pool_id", "driver_instance_pool_id"):
        if spec.pop(pool, None) is not None:
            notes.drop(f"the base spec's {pool} was removed: the translated node types are set instead")
    spec["node_type_id"] = worker.instance_type
    spec["driver_node_type_id"] = driver.instance_type
    spec.pop("num_workers", None)
    spec.pop("autoscale", None)
    autoscale = neutral.workers.autoscale
    spark_conf = dict(spec.get("spark_conf") or {})
    tags = dict(spec.get("custom_tags") or {})
    if autoscale is not None:
        spec["autoscale"] = {"min_workers": autoscale.min_workers, "max_workers": autoscale.max_workers}
    else:
        spec["num_workers"] = neutral.workers.count
        if neutral.workers.count == 0:
            spark_conf.update(_SINGLE_NODE_CONF)
            tags["ResourceClass"] = "SingleNode"
            notes.approx(
                "0 workers: a Databricks single-node cluster (Spark runs on the driver in local mode)"
            )
    if neutral.workers.count != 0:
        for key, value in _SINGLE_NODE_CONF.items():
            if spark_conf.get(key) == value:
                spark_conf.pop(key)
        if tags.get("ResourceClass") == "SingleNode":
            tags.pop("ResourceClass")
    spark_conf.update(neutral.spark_conf)
    if spark_conf:
        spec["spark_conf"] = spark_conf
    if neutral.spark_env:
        spec["spark_env_vars"] = {**dict(spec.get("spark_env_vars") or {}), **neutral.spark_env}
    for key, value in sorted(neutral.tags.items()):
        tags.setdefault(key, value)
    if tags:
        spec["custom_tags"] = tags

    market = neutral.market
    aws = dict(spec.get("aws_attributes") or {})
    aws["availability"] = market.availability.upper()
    aws["first_on_demand"] = market.first_on_demand
    if market.spot_bid_price_percent is not None and market.availability != "on_demand":
        aws["spot_bid_price_percent"] = market.spot_bid_price_percent
    ebs = neutral.workers.node.ebs or neutral.driver.ebs
    if ebs is not None:
        for key in ("ebs_volume_iops", "ebs_volume_throughput"):
            aws.pop(key, None)
        aws.update(_databricks_ebs_attributes(ebs, notes))
        if neutral.driver.ebs != ebs:
            notes.approx(
                "Databricks gives every node the same EBS volumes: the driver gets the workers' volumes"
            )
    if neutral.zone:
        if aws.get("zone_id") and aws["zone_id"] != neutral.zone:
            notes.drop(
                f"availability zone {neutral.zone} is not set: the base spec's zone_id {aws['zone_id']} "
                "is kept"
            )
        else:
            aws["zone_id"] = neutral.zone
    spec["aws_attributes"] = aws
    return notes.wrap(spec)


# --------------------------------------------------------------------------------------------------
# Applying a prediction of the other platform


def solution_platform(prediction: Prediction | Mapping[str, Any], preference: Preference | str) -> Platform:
    """The platform a prediction's solution is for: its product code, else the solution's shape.

    :param prediction: the prediction.
    :param preference: the solution to look at.
    :raises InvalidInputError: the platform cannot be told.
    :raises PredictionError: no solution for ``preference``.
    """
    model = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
    if model.product_code:
        try:
            return Platform(model.product_code)
        except ValueError:
            raise InvalidInputError(
                f"Prediction {model.prediction_id} is for the unknown product {model.product_code!r}."
            ) from None
    configuration = model.solution(preference).configuration
    if isinstance(configuration.get("Instances"), Mapping):
        return Platform.AWS_EMR
    if {"node_type_id", "num_workers", "autoscale", "instance_pool_id"} & set(configuration):
        return Platform.AWS_DATABRICKS
    raise InvalidInputError(
        f"Cannot tell which platform prediction {model.prediction_id}'s {preference} solution is for: it "
        "has no product_code, no EMR Instances and no Databricks node_type_id/num_workers/autoscale."
    )


def needs_translation(
    prediction: Prediction | Mapping[str, Any],
    preference: Preference | str,
    target_platform: Platform | str,
    *,
    allow_cross_platform: bool = False,
) -> bool:
    """Whether the prediction must be translated to launch on ``target_platform``.

    :param prediction: the prediction.
    :param preference: the solution to apply.
    :param target_platform: ``aws-emr`` or ``aws-databricks``.
    :param allow_cross_platform: whether translating a prediction of the other platform is allowed.
    :raises InvalidInputError: it was made on the other platform and ``allow_cross_platform`` is false.
    """
    target = _platform(target_platform)
    source = solution_platform(prediction, preference)
    if source is target:
        return False
    if not allow_cross_platform:
        model = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
        raise InvalidInputError(
            f"Prediction {model.prediction_id} was made for {source.value} but this launches "
            f"{target.value}: pass allow_cross_platform=True to translate it (what cannot be carried over "
            f"is reported), or use a {target.value} prediction.",
            detail={"source_platform": source.value, "target_platform": target.value},
        )
    return True


def _platform(value: Platform | str) -> Platform:
    try:
        return Platform(value)
    except ValueError:
        raise InvalidInputError(
            f"Unknown platform {value!r}: use {Platform.AWS_EMR.value!r} or "
            f"{Platform.AWS_DATABRICKS.value!r}."
        ) from None


def _strip_emr_run(base: Mapping[str, Any]) -> dict[str, Any]:
    from sync_provider.core.emr import RUN_TAG, parse_run_eventlog_dir

    request = copy.deepcopy(dict(base))
    tags = request.get("Tags")
    if isinstance(tags, list):
        request["Tags"] = [
            t for t in tags if not (isinstance(t, Mapping) and t.get("Key") in (RUN_TAG, "sync:code-hash"))
        ]
    for entry in request.get("Configurations") or []:
        if isinstance(entry, dict) and entry.get("Classification") == "spark-defaults":
            props = entry.get("Properties")
            if isinstance(props, dict):
                current = props.get("spark.eventLog.dir")
                if isinstance(current, str) and parse_run_eventlog_dir(current) is not None:
                    props.pop("spark.eventLog.dir")
    return request


def _strip_databricks_run(
    base: Mapping[str, Any], project_location: str | None, project_id: str | None
) -> dict[str, Any]:
    spec = copy.deepcopy(dict(base))
    if project_location and project_id:
        from sync_provider.core.databricks import merge_solution

        spec = merge_solution(spec, {}, project_location=project_location, project_id=project_id)
    tags = spec.get("custom_tags")
    if isinstance(tags, Mapping):
        spec["custom_tags"] = {k: v for k, v in tags.items() if k not in ("sync:run-id", "sync:code-hash")}
    return spec


def apply_cross_platform_solution(
    prediction: Prediction | Mapping[str, Any],
    preference: Preference | str,
    base: Mapping[str, Any],
    *,
    target_platform: Platform | str,
    price_table: PriceTable = DEFAULT_PRICE_TABLE,
    project_id: str | None = None,
    project_location: str | None = None,
) -> Translation[dict[str, Any]]:
    """Turn a prediction made on the other platform into the target's configuration, merged into ``base``.

    The chosen solution is read with :func:`from_emr` or :func:`from_databricks` and written into
    ``base`` with :func:`to_databricks` or :func:`to_emr`; the notes of both steps are returned.
    A previous run's ``sync:run-id`` and ``sync:code-hash`` tags and Sync event-log folder are
    removed from ``base`` (with ``project_id`` and ``project_location``, also a Databricks log
    destination of the same project). The caller then prepares the result as usual
    (:func:`~sync_provider.core.emr.prepare_run_job_flow` or
    :func:`~sync_provider.core.databricks.prepare_cluster_spec`).

    :param prediction: a finished prediction of the other platform.
    :param preference: which solution to apply.
    :param base: the user's RunJobFlow request (EMR target) or cluster spec (Databricks target).
    :param target_platform: ``aws-emr`` or ``aws-databricks``.
    :param price_table: where instance types' vCPUs and memory come from.
    :param project_id: the Sync project (to recognise a previous run's log destination).
    :param project_location: the project's log location.
    :raises InvalidInputError: the prediction is for the target platform already (use the normal
        path), its solution cannot be read, or it cannot be translated.
    :raises PredictionError: no solution for ``preference``.
    """
    model = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
    target = _platform(target_platform)
    source = solution_platform(model, preference)
    if source is target:
        normal = (
            "sync_provider.core.emr.run_job_flow_from_prediction"
            if target is Platform.AWS_EMR
            else "sync_provider.core.databricks.cluster_spec_from_prediction"
        )
        raise InvalidInputError(
            f"Prediction {model.prediction_id} is already for {target.value}: nothing to translate; use the "
            f"normal path ({normal}).",
            detail={"source_platform": source.value, "target_platform": target.value},
        )
    configuration = model.solution(preference).configuration
    try:
        if source is Platform.AWS_EMR:
            read = from_emr(configuration, price_table=price_table)
        else:
            read = from_databricks(configuration, price_table=price_table)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"The {preference} solution of prediction {model.prediction_id} ({source.value}) cannot be "
            f"read for {target.value}: {exc.message}",
            detail=exc.detail,
        ) from None
    if target is Platform.AWS_EMR:
        written = to_emr(read.result, _strip_emr_run(base), price_table=price_table)
    else:
        written = to_databricks(
            read.result, _strip_databricks_run(base, project_location, project_id), price_table=price_table
        )
    notes = _Notes()
    notes.extend(read)
    notes.extend(written)
    return notes.wrap(written.result)
