"""A small, dated price table for offline cost estimates of EMR and Databricks clusters on AWS.

The numbers are public *list* prices for ``us-east-1`` transcribed by hand (sources and date are
part of the table). They are good enough to compare cluster configurations with each other; for a
real budget, verify them and load your own table with :func:`load_price_table`.

Cost model (documented in the functions):

* EMR: per node and hour, the EC2 price (on-demand, or on-demand * :attr:`PriceTable.spot_discount`
  for spot) plus the EMR fee (the same for spot and on-demand), plus optional gp2 EBS storage.
* Databricks: per node and hour, the EC2 price plus DBU/h * $/DBU for the plan and compute type.

This module is part of the core: it never imports Airflow and loads nothing heavy at import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync_provider.core.errors import InvalidInputError

__all__ = [
    "DEFAULT_PRICE_TABLE",
    "HOURS_PER_MONTH",
    "InstancePrice",
    "Market",
    "NodeCount",
    "PriceTable",
    "databricks_cost_usd",
    "dbu_key",
    "emr_cost_usd",
    "load_price_table",
    "price_of",
]

Market = Literal["ON_DEMAND", "SPOT"]
"""EC2 purchase option of a node, spelled as EMR spells it."""

NodeCount = tuple[str, int, Market]
"""``(instance_type, count, market)``: one kind of node in an EMR cluster."""

HOURS_PER_MONTH = 730.0
"""Hours in the "month" of EBS GB-month prices (AWS's convention: 24 * 365 / 12)."""

EMR_FEE_FRACTION = 0.25
"""EMR fee as a fraction of the on-demand price, used where no per-type fee was transcribed."""

EMR_FEE_CAP_USD = 0.27
"""Cap of the EMR fee per instance-hour."""

_COMPUTE_ALIASES = {
    "jobs": "Jobs Compute",
    "jobs compute": "Jobs Compute",
    "jobs light": "Jobs Compute Light",
    "jobs light compute": "Jobs Compute Light",
    "jobs compute light": "Jobs Compute Light",
    "all-purpose": "All-Purpose Compute",
    "all purpose": "All-Purpose Compute",
    "all-purpose compute": "All-Purpose Compute",
    "all purpose compute": "All-Purpose Compute",
}


class InstancePrice(BaseModel):
    """Hourly list prices of one EC2 instance type.

    :param instance_type: the EC2 instance type, e.g. ``m5.xlarge``.
    :param vcpus: virtual CPUs.
    :param memory_gib: memory in GiB.
    :param on_demand_usd_per_hour: EC2 on-demand Linux price, USD per hour.
    :param emr_usd_per_hour: EMR fee, USD per hour (added to the EC2 price; same for spot).
    :param dbu_per_hour: Databricks Units consumed per hour, or ``None`` when unknown.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_type: str
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    on_demand_usd_per_hour: float = Field(ge=0)
    emr_usd_per_hour: float = Field(ge=0)
    dbu_per_hour: float | None = Field(default=None, ge=0)


class PriceTable(BaseModel):
    """A dated price table for one region.

    :param region: the AWS region the prices are for.
    :param as_of: the date the prices were transcribed.
    :param sources: where the prices come from (URLs).
    :param notes: caveats and rules used to fill the table.
    :param instances: prices per instance type. In JSON an entry may omit ``instance_type``; the key
        is used.
    :param dbu_usd: USD per DBU keyed ``"<plan>/<compute type>"``, e.g. ``"Premium/Jobs Compute"``.
    :param spot_discount: the fraction of the on-demand EC2 price paid for spot capacity (0.4 means
        spot costs 40 % of on-demand). There is no offline source of spot prices: this is a model.
    :param ebs_gp2_usd_per_gb_month: EBS gp2 storage, USD per GB-month.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = "us-east-1"
    as_of: date
    sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    instances: dict[str, InstancePrice]
    dbu_usd: dict[str, float] = Field(default_factory=dict)
    spot_discount: float = Field(default=0.4, gt=0, le=1)
    ebs_gp2_usd_per_gb_month: float = Field(default=0.10, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_instance_types(cls, data: Any) -> Any:
        """Let a JSON entry omit ``instance_type``: it defaults to its key."""
        if isinstance(data, dict) and isinstance(data.get("instances"), dict):
            filled: dict[str, Any] = {}
            for key, value in data["instances"].items():
                if isinstance(value, dict) and "instance_type" not in value:
                    filled[key] = {**value, "instance_type": key}
                else:
                    filled[key] = value
            data = {**data, "instances": filled}
        return data

    @model_validator(mode="after")
    def _check_keys(self) -> PriceTable:
        for key, price in self.instances.items():
            if key != price.instance_type:
                raise ValueError(f"instances[{key!r}] describes {price.instance_type!r}; the key must match")
        return self

    @field_validator("dbu_usd")
    @classmethod
    def _check_dbu_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key, rate in value.items():
            if key.count("/") != 1:
                raise ValueError(f"dbu_usd key {key!r} must look like 'Premium/Jobs Compute'")
            if rate < 0:
                raise ValueError(f"dbu_usd[{key!r}] must not be negative")
        return value

    def price_of(self, instance_type: str) -> InstancePrice:
        """Return the prices of ``instance_type``.

        :param instance_type: an EC2 instance type such as ``m5.xlarge``.
        :raises InvalidInputError: the type is not in this table.
        """
        price = self.instances.get(instance_type.strip())
        if price is None:
            raise InvalidInputError(
                f"No price for instance type {instance_type!r} in the price table "
                f"({self.region}, as of {self.as_of.isoformat()}). Add it: write a JSON file of the "
                'PriceTable shape with an entry such as "instances": {"'
                f'{instance_type}": {{"vcpus": 4, "memory_gib": 16, "on_demand_usd_per_hour": 0.2, '
                '"emr_usd_per_hour": 0.05, "dbu_per_hour": null}}, load it with '
                "sync_provider.core.pricing.load_price_table(path, base=DEFAULT_PRICE_TABLE) and pass "
                f"the result as the price table. Known types: {', '.join(sorted(self.instances))}.",
                detail={"instance_type": instance_type, "known": sorted(self.instances)},
            )
        return price

    def dbu_rate(self, plan: str, compute: str) -> float:
        """Return USD per DBU for a Databricks plan and compute type.

        :param plan: ``Standard``, ``Premium`` or ``Enterprise``.
        :param compute: ``Jobs Compute``, ``Jobs Compute Light`` or ``All-Purpose Compute`` (the
            short forms ``Jobs``, ``Jobs Light`` and ``All-Purpose`` are accepted).
        :raises InvalidInputError: no rate for that combination.
        """
        key = dbu_key(plan, compute)
        for known, rate in self.dbu_usd.items():
            if known.casefold() == key.casefold():
                return rate
        raise InvalidInputError(
            f"No $/DBU rate for {key!r} in the price table (as of {self.as_of.isoformat()}). "
            f"Known: {', '.join(sorted(self.dbu_usd))}. Add it under 'dbu_usd' in a JSON price table "
            "and load it with load_price_table(path, base=DEFAULT_PRICE_TABLE).",
            detail={"plan": plan, "compute": compute, "known": sorted(self.dbu_usd)},
        )

    def ec2_usd_per_hour(self, instance_type: str, market: Market = "ON_DEMAND") -> float:
        """Return the modelled EC2 price of one node per hour.

        :param instance_type: an EC2 instance type.
        :param market: ``ON_DEMAND`` or ``SPOT`` (spot = on-demand * :attr:`spot_discount`).
        """
        on_demand = self.price_of(instance_type).on_demand_usd_per_hour
        if market == "SPOT":
            return on_demand * self.spot_discount
        if market == "ON_DEMAND":
            return on_demand
        raise InvalidInputError(f"Unknown market {market!r}: use 'ON_DEMAND' or 'SPOT'.")

    def ebs_usd(self, gb: float, hours: float) -> float:
        """Return the cost of ``gb`` GB of gp2 storage kept for ``hours`` hours.

        :param gb: total provisioned GB.
        :param hours: how long it was provisioned.
        """
        return gb * self.ebs_gp2_usd_per_gb_month * hours / HOURS_PER_MONTH


def dbu_key(plan: str, compute: str) -> str:
    """Return the :attr:`PriceTable.dbu_usd` key for a plan and compute type.

    :param plan: ``Standard``, ``Premium`` or ``Enterprise``.
    :param compute: compute type; short forms such as ``Jobs Light`` are normalised.
    """
    compute_name = _COMPUTE_ALIASES.get(compute.strip().casefold(), compute.strip())
    return f"{plan.strip().capitalize()}/{compute_name}"


def _emr_fee(on_demand: float) -> float:
    return round(min(on_demand * EMR_FEE_FRACTION, EMR_FEE_CAP_USD), 6)


# (instance type, vCPUs, memory GiB, on-demand USD/h in us-east-1 Linux, DBU/h or None)
_INSTANCE_ROWS: tuple[tuple[str, int, float, float, float | None], ...] = (
    ("m4.large", 2, 8, 0.10, None),
    ("m4.xlarge", 4, 16, 0.20, None),
    ("m5.large", 2, 8, 0.096, None),
    ("m5.xlarge", 4, 16, 0.192, 0.69),
    ("m5.2xlarge", 8, 32, 0.384, 1.37),
    ("m5.4xlarge", 16, 64, 0.768, 2.74),
    ("m5.8xlarge", 32, 128, 1.536, 5.48),
    ("m5.12xlarge", 48, 192, 2.304, None),
    ("m5.16xlarge", 64, 256, 3.072, None),
    ("r5.large", 2, 16, 0.126, None),
    ("r5.xlarge", 4, 32, 0.252, 0.9),
    ("r5.2xlarge", 8, 64, 0.504, 1.8),
    ("r5.4xlarge", 16, 128, 1.008, 3.6),
    ("r5.8xlarge", 32, 256, 2.016, 7.2),
    ("c5.xlarge", 4, 8, 0.17, None),
    ("c5.2xlarge", 8, 16, 0.34, None),
    ("c5.4xlarge", 16, 32, 0.68, None),
    ("c5.9xlarge", 36, 72, 1.53, None),
    ("c5a.8xlarge", 32, 64, 1.232, None),
    ("i3.xlarge", 4, 30.5, 0.312, 1.0),
    ("i3.2xlarge", 8, 61, 0.624, 2.0),
    ("m6gd.2xlarge", 8, 32, 0.3616, None),
)

_DBU_USD: dict[str, float] = {
    "Standard/Jobs Compute": 0.10,
    "Premium/Jobs Compute": 0.15,
    "Enterprise/Jobs Compute": 0.20,
    "Standard/Jobs Compute Light": 0.07,
    "Premium/Jobs Compute Light": 0.10,
    "Enterprise/Jobs Compute Light": 0.13,
    "Standard/All-Purpose Compute": 0.40,
    "Premium/All-Purpose Compute": 0.55,
    "Enterprise/All-Purpose Compute": 0.65,
}

DEFAULT_PRICE_TABLE = PriceTable(
    region="us-east-1",
    as_of=date(2026, 11, 25),
    sources=[
        "https://aws.amazon.com/ec2/pricing/on-demand/",
        "https://aws.amazon.com/emr/pricing/",
        "https://aws.amazon.com/ebs/pricing/",
        "https://www.databricks.com/product/pricing",
    ],
    notes=[
        "Values were transcribed by hand from public list prices (us-east-1, Linux, on-demand) and are "
        "not fetched live: verify them and override the table (load_price_table) for real budgets.",
        "EMR fee: the documented rule of about 25 % of the on-demand EC2 price, capped at $0.27 per "
        "instance-hour, is applied to every type; AWS's published per-type fee can differ by a fraction "
        "of a cent (notably for older generations such as m4). The fee is the same for spot nodes.",
        "Spot: no offline source exists; spot capacity is modelled as spot_discount * on-demand.",
        "DBU/h is filled only where a rate was transcribed; None means unknown and Databricks cost "
        "estimates for that type fail with an error until a rate is supplied.",
        "$/DBU for AWS: third-party pages disagree on some rates; keep them configurable.",
        "Billing granularity (per second, 1-minute minimum) is not modelled: cost = hours * rate.",
    ],
    instances={
        name: InstancePrice(
            instance_type=name,
            vcpus=vcpus,
            memory_gib=memory,
            on_demand_usd_per_hour=on_demand,
            emr_usd_per_hour=_emr_fee(on_demand),
            dbu_per_hour=dbu,
        )
        for name, vcpus, memory, on_demand, dbu in _INSTANCE_ROWS
    },
    dbu_usd=_DBU_USD,
    spot_discount=0.4,
    ebs_gp2_usd_per_gb_month=0.10,
)
"""The built-in table (us-east-1, as of 2026-11-25). See its ``sources`` and ``notes``."""


def price_of(instance_type: str, table: PriceTable = DEFAULT_PRICE_TABLE) -> InstancePrice:
    """Return the prices of ``instance_type`` from ``table``.

    :param instance_type: an EC2 instance type such as ``m5.xlarge``.
    :param table: the price table to use.
    :raises InvalidInputError: the type is unknown; the message says how to add it.
    """
    return table.price_of(instance_type)


def load_price_table(path: str | Path, *, base: PriceTable | None = None) -> PriceTable:
    """Load a price table from a JSON file of the :class:`PriceTable` shape.

    :param path: the JSON file.
    :param base: when given, the file only overrides it: top-level fields replace the base's, and
        entries of ``instances`` and ``dbu_usd`` are merged key by key, and an instance entry that
        names a known type only needs the fields it changes (e.g. ``{"dbu_per_hour": 0.34}``).
    :raises InvalidInputError: the file is missing, not JSON, or not a valid price table.
    """
    file = Path(path)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"Price table file {str(file)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"Price table file {str(file)!r} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInputError(f"Price table file {str(file)!r} must hold a JSON object.")
    data: dict[str, Any] = raw
    if base is not None:
        merged = base.model_dump(mode="json")
        for key, value in data.items():
            if key == "instances" and isinstance(value, dict):
                instances = dict(merged["instances"])
                for name, entry in value.items():
                    known = instances.get(name)
                    if isinstance(entry, dict) and isinstance(known, dict):
                        instances[name] = {**known, **entry}
                    else:
                        instances[name] = entry
                merged["instances"] = instances
            elif key == "dbu_usd" and isinstance(value, dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        data = merged
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"Price table file {str(file)!r} is not a valid price table: {exc}") from None


def _hours(runtime_s: float) -> float:
    if runtime_s < 0:
        raise InvalidInputError(f"Runtime must not be negative (got {runtime_s} s).")
    return runtime_s / 3600.0


def emr_cost_usd(
    runtime_s: float,
    nodes: Iterable[tuple[str, int, str]],
    *,
    table: PriceTable = DEFAULT_PRICE_TABLE,
    ebs_gb: float = 0.0,
) -> float:
    """Estimate the cost of an EMR cluster that ran for ``runtime_s`` seconds.

    Cost = hours * sum of count * (EC2 price for the market + EMR fee) + gp2 EBS for ``ebs_gb``.

    :param runtime_s: how long the nodes ran, in seconds.
    :param nodes: ``(instance_type, count, market)`` per kind of node, market ``ON_DEMAND`` or ``SPOT``.
    :param table: the price table.
    :param ebs_gb: total EBS GB attached to all nodes (priced as gp2).
    :raises InvalidInputError: unknown instance type or market, negative runtime or count.
    """
    hours = _hours(runtime_s)
    per_hour = 0.0
    for instance_type, count, market in nodes:
        if count < 0:
            raise InvalidInputError(f"Node count for {instance_type!r} must not be negative (got {count}).")
        market_name = str(market).upper()
        if market_name not in ("ON_DEMAND", "SPOT"):
            raise InvalidInputError(
                f"Unknown market {market!r} for {instance_type!r}: use ON_DEMAND or SPOT."
            )
        ec2 = table.ec2_usd_per_hour(instance_type, "SPOT" if market_name == "SPOT" else "ON_DEMAND")
        per_hour += count * (ec2 + table.price_of(instance_type).emr_usd_per_hour)
    return per_hour * hours + table.ebs_usd(ebs_gb, hours)


def databricks_cost_usd(
    runtime_s: float,
    node_type: str,
    workers: int,
    *,
    driver_node_type: str | None = None,
    plan: str = "Premium",
    compute: str = "Jobs Compute",
    spot_workers: bool = False,
    first_on_demand: int = 1,
    table: PriceTable = DEFAULT_PRICE_TABLE,
    ebs_gb: float = 0.0,
) -> float:
    """Estimate the cost of a Databricks cluster on AWS that ran for ``runtime_s`` seconds.

    Cost = hours * [workers * (EC2 + DBU/h * $/DBU) + driver (EC2 on-demand + DBU/h * $/DBU)]
    + gp2 EBS for ``ebs_gb``. Spot workers pay ``spot_discount`` * on-demand EC2; DBUs are unchanged.

    :param runtime_s: how long the cluster ran, in seconds.
    :param node_type: worker instance type.
    :param workers: number of workers.
    :param driver_node_type: driver instance type (defaults to ``node_type``).
    :param plan: ``Standard``, ``Premium`` or ``Enterprise``.
    :param compute: ``Jobs Compute``, ``Jobs Compute Light`` or ``All-Purpose Compute``.
    :param spot_workers: whether workers run on spot capacity (the driver stays on-demand).
    :param first_on_demand: with ``spot_workers``, how many nodes, the driver first, stay on-demand
        (Databricks ``aws_attributes.first_on_demand``; 1 = only the driver).
    :param table: the price table.
    :param ebs_gb: total EBS GB attached to all nodes (priced as gp2).
    :raises InvalidInputError: unknown type, unknown DBU rate, unknown plan/compute, bad numbers.
    """
    hours = _hours(runtime_s)
    if workers < 0:
        raise InvalidInputError(f"Number of workers must not be negative (got {workers}).")
    usd_per_dbu = table.dbu_rate(plan, compute)
    driver = driver_node_type or node_type

    def node_rate(instance_type: str, market: Market) -> float:
        price = table.price_of(instance_type)
        if price.dbu_per_hour is None:
            raise InvalidInputError(
                f"The price table has no DBU/h rate for {instance_type!r}, so a Databricks cost cannot "
                "be estimated. Set 'dbu_per_hour' for it in a JSON price table and load it with "
                "load_price_table(path, base=DEFAULT_PRICE_TABLE).",
                detail={"instance_type": instance_type},
            )
        return table.ec2_usd_per_hour(instance_type, market) + price.dbu_per_hour * usd_per_dbu

    on_demand_workers = min(workers, max(0, first_on_demand - 1)) if spot_workers else workers
    per_hour = on_demand_workers * node_rate(node_type, "ON_DEMAND")
    per_hour += (workers - on_demand_workers) * node_rate(node_type, "SPOT")
    per_hour += node_rate(driver, "ON_DEMAND")
    return per_hour * hours + table.ebs_usd(ebs_gb, hours)
