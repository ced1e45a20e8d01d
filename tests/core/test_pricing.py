"""Tests of the dated price table and the EMR / Databricks cost helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.pricing import (
    DEFAULT_PRICE_TABLE,
    HOURS_PER_MONTH,
    InstancePrice,
    PriceTable,
    databricks_cost_usd,
    dbu_key,
    emr_cost_usd,
    load_price_table,
    price_of,
)

# The rows the research notes cite (us-east-1 on-demand Linux $/h, and DBU/h).
CITED_ON_DEMAND = {
    "m5.xlarge": 0.192,
    "m5.2xlarge": 0.384,
    "m5.4xlarge": 0.768,
    "m5.8xlarge": 1.536,
    "r5.xlarge": 0.252,
    "r5.4xlarge": 1.008,
    "c5.xlarge": 0.17,
    "c5.2xlarge": 0.34,
    "m4.large": 0.10,
    "i3.xlarge": 0.312,
}
CITED_DBU = {
    "m5.xlarge": 0.69,
    "m5.2xlarge": 1.37,
    "m5.4xlarge": 2.74,
    "m5.8xlarge": 5.48,
    "r5.xlarge": 0.9,
    "r5.2xlarge": 1.8,
    "r5.4xlarge": 3.6,
    "r5.8xlarge": 7.2,
    "i3.xlarge": 1.0,
    "i3.2xlarge": 2.0,
}


def test_default_table_is_dated_and_sourced() -> None:
    table = DEFAULT_PRICE_TABLE
    assert table.region == "us-east-1"
    assert table.as_of == date(2026, 11, 25)
    assert any("aws.amazon.com/ec2/pricing/on-demand" in s for s in table.sources)
    assert any("aws.amazon.com/emr/pricing" in s for s in table.sources)
    assert any("databricks.com/product/pricing" in s for s in table.sources)
    notes = " ".join(table.notes)
    assert "verify" in notes
    assert "25 %" in notes
    assert "$0.27" in notes
    assert table.spot_discount == 0.4
    assert table.ebs_gp2_usd_per_gb_month == 0.10


def test_default_table_holds_the_cited_prices() -> None:
    for instance_type, price in CITED_ON_DEMAND.items():
        assert price_of(instance_type).on_demand_usd_per_hour == price
    for instance_type, dbu in CITED_DBU.items():
        assert price_of(instance_type).dbu_per_hour == dbu
    assert price_of("m5.xlarge").emr_usd_per_hour == pytest.approx(0.048)
    assert price_of("m5.8xlarge").emr_usd_per_hour == pytest.approx(0.27)
    m5 = price_of("m5.xlarge")
    assert (m5.vcpus, m5.memory_gib) == (4, 16)
    assert price_of("m5.large").dbu_per_hour is None


def test_emr_fee_follows_the_documented_rule_everywhere() -> None:
    for price in DEFAULT_PRICE_TABLE.instances.values():
        expected = min(0.25 * price.on_demand_usd_per_hour, 0.27)
        assert price.emr_usd_per_hour == pytest.approx(expected), price.instance_type


def test_dbu_rates() -> None:
    table = DEFAULT_PRICE_TABLE
    assert table.dbu_rate("Premium", "Jobs Compute") == 0.15
    assert table.dbu_rate("Standard", "Jobs Compute") == 0.10
    assert table.dbu_rate("Enterprise", "Jobs Compute") == 0.20
    assert table.dbu_rate("Standard", "Jobs Light") == 0.07
    assert table.dbu_rate("premium", "jobs compute light") == 0.10
    assert table.dbu_rate("Enterprise", "All-Purpose") == 0.65
    assert table.dbu_rate("Premium", "All-Purpose Compute") == 0.55
    assert dbu_key("premium", "all purpose") == "Premium/All-Purpose Compute"
    with pytest.raises(InvalidInputError, match="Gold/Jobs Compute"):
        table.dbu_rate("Gold", "Jobs Compute")


def test_unknown_instance_type_names_it_and_says_how_to_add_it() -> None:
    with pytest.raises(InvalidInputError) as info:
        price_of("x9.huge")
    message = str(info.value)
    assert "x9.huge" in message
    assert "load_price_table" in message
    assert "m5.xlarge" in message  # lists the known types
    assert info.value.detail["instance_type"] == "x9.huge"


# ----------------------------------------------------------------------------------------- EMR cost


def test_emr_cost_arithmetic() -> None:
    # Half an hour: 1 m5.xlarge on-demand master + 4 m5.xlarge spot core nodes.
    cost = emr_cost_usd(1800, [("m5.xlarge", 1, "ON_DEMAND"), ("m5.xlarge", 4, "SPOT")])
    master = 0.192 + 0.048
    core = 0.192 * 0.4 + 0.048  # spot EC2, full EMR fee
    assert cost == pytest.approx(0.5 * (master + 4 * core))
    assert cost == pytest.approx(0.3696)


def test_emr_cost_with_ebs_and_capped_fee() -> None:
    cost = emr_cost_usd(3600, [("m5.8xlarge", 2, "ON_DEMAND")], ebs_gb=730)
    assert cost == pytest.approx(2 * (1.536 + 0.27) + 730 * 0.10 / HOURS_PER_MONTH)
    assert DEFAULT_PRICE_TABLE.ebs_usd(100, HOURS_PER_MONTH) == pytest.approx(10.0)


def test_emr_cost_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match=r"x9\.huge"):
        emr_cost_usd(60, [("x9.huge", 1, "ON_DEMAND")])
    with pytest.raises(InvalidInputError, match="market"):
        emr_cost_usd(60, [("m5.xlarge", 1, "RESERVED")])
    with pytest.raises(InvalidInputError, match="negative"):
        emr_cost_usd(-1, [("m5.xlarge", 1, "ON_DEMAND")])
    with pytest.raises(InvalidInputError, match="negative"):
        emr_cost_usd(60, [("m5.xlarge", -1, "ON_DEMAND")])
    assert emr_cost_usd(0, [("m5.xlarge", 3, "SPOT")]) == 0


# ---------------------------------------------------------------------------------- Databricks cost


def test_databricks_cost_arithmetic() -> None:
    per_node = 0.192 + 0.69 * 0.15  # EC2 + DBU/h x $/DBU (Premium, Jobs Compute)
    cost = databricks_cost_usd(3600, "m5.xlarge", 2)
    assert cost == pytest.approx(3 * per_node)
    assert cost == pytest.approx(0.8865)


def test_databricks_cost_with_spot_workers_and_other_driver() -> None:
    spot_worker = 0.192 * 0.4 + 0.69 * 0.15
    on_demand_worker = 0.192 + 0.69 * 0.15
    driver = 0.384 + 1.37 * 0.15
    cost = databricks_cost_usd(1800, "m5.xlarge", 3, driver_node_type="m5.2xlarge", spot_workers=True)
    assert cost == pytest.approx(0.5 * (3 * spot_worker + driver))
    # first_on_demand=2: the driver and one worker stay on-demand.
    cost = databricks_cost_usd(
        1800, "m5.xlarge", 3, driver_node_type="m5.2xlarge", spot_workers=True, first_on_demand=2
    )
    assert cost == pytest.approx(0.5 * (on_demand_worker + 2 * spot_worker + driver))


def test_databricks_cost_plans_and_compute_types() -> None:
    base = databricks_cost_usd(3600, "r5.xlarge", 1, plan="Standard", compute="Jobs Compute")
    assert base == pytest.approx(2 * (0.252 + 0.9 * 0.10))
    all_purpose = databricks_cost_usd(3600, "r5.xlarge", 1, plan="Enterprise", compute="All-Purpose Compute")
    assert all_purpose == pytest.approx(2 * (0.252 + 0.9 * 0.65))


def test_databricks_cost_needs_a_dbu_rate() -> None:
    with pytest.raises(InvalidInputError, match=r"DBU/h rate for 'm5\.large'"):
        databricks_cost_usd(60, "m5.large", 2)
    with pytest.raises(InvalidInputError, match=r"DBU/h rate for 'c5\.xlarge'"):
        databricks_cost_usd(60, "m5.xlarge", 2, driver_node_type="c5.xlarge")
    with pytest.raises(InvalidInputError, match="negative"):
        databricks_cost_usd(60, "m5.xlarge", -2)


# ------------------------------------------------------------------------------------------- loading


def test_load_full_table_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(DEFAULT_PRICE_TABLE.model_dump_json(indent=2))
    assert load_price_table(path) == DEFAULT_PRICE_TABLE


def test_load_table_with_key_as_instance_type(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    body = {
        "region": "eu-west-1",
        "as_of": "2030-01-01",
        "sources": ["my invoice"],
        "instances": {
            "m5.xlarge": {
                "vcpus": 4,
                "memory_gib": 16,
                "on_demand_usd_per_hour": 0.214,
                "emr_usd_per_hour": 0.053,
            }
        },
        "dbu_usd": {"Premium/Jobs Compute": 0.2},
        "spot_discount": 0.3,
    }
    path.write_text(json.dumps(body))
    table = load_price_table(path)
    assert table.region == "eu-west-1"
    assert table.as_of == date(2030, 1, 1)
    assert table.price_of("m5.xlarge") == InstancePrice(
        instance_type="m5.xlarge",
        vcpus=4,
        memory_gib=16,
        on_demand_usd_per_hour=0.214,
        emr_usd_per_hour=0.053,
    )
    assert emr_cost_usd(3600, [("m5.xlarge", 1, "SPOT")], table=table) == pytest.approx(0.214 * 0.3 + 0.053)
    with pytest.raises(InvalidInputError, match=r"m5\.2xlarge"):
        table.price_of("m5.2xlarge")


def test_load_overrides_on_top_of_the_default(tmp_path: Path) -> None:
    path = tmp_path / "override.json"
    path.write_text(
        json.dumps(
            {
                "instances": {
                    "m5.large": {"dbu_per_hour": 0.34},
                    "z1d.large": {
                        "vcpus": 2,
                        "memory_gib": 16,
                        "on_demand_usd_per_hour": 0.186,
                        "emr_usd_per_hour": 0.0465,
                    },
                },
                "dbu_usd": {"Premium/Jobs Compute": 0.12},
                "as_of": "2027-02-01",
            }
        )
    )
    table = load_price_table(path, base=DEFAULT_PRICE_TABLE)
    assert table.as_of == date(2027, 2, 1)
    assert table.price_of("m5.large").dbu_per_hour == 0.34
    assert table.price_of("m5.large").on_demand_usd_per_hour == 0.096  # kept from the base
    assert table.price_of("z1d.large").on_demand_usd_per_hour == 0.186
    assert table.price_of("m5.xlarge") == DEFAULT_PRICE_TABLE.price_of("m5.xlarge")
    assert table.dbu_rate("Premium", "Jobs Compute") == 0.12
    assert table.dbu_rate("Standard", "Jobs Compute") == 0.10
    assert databricks_cost_usd(3600, "m5.large", 0, table=table) == pytest.approx(0.096 + 0.34 * 0.12)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_price_table(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not readable JSON"):
        load_price_table(bad)
    bad.write_text("[]")
    with pytest.raises(InvalidInputError, match="JSON object"):
        load_price_table(bad)
    bad.write_text(json.dumps({"as_of": "2026-01-01", "instances": {"m5.xlarge": {"vcpus": 4}}}))
    with pytest.raises(InvalidInputError, match="not a valid price table"):
        load_price_table(bad)
    bad.write_text(
        json.dumps(
            {
                "as_of": "2026-01-01",
                "instances": {
                    "a.large": {
                        "instance_type": "b.large",
                        "vcpus": 2,
                        "memory_gib": 4,
                        "on_demand_usd_per_hour": 1,
                        "emr_usd_per_hour": 0,
                    }
                },
            }
        )
    )
    with pytest.raises(InvalidInputError, match="key must match"):
        load_price_table(bad)
    bad.write_text(json.dumps({"as_of": "2026-01-01", "instances": {}, "dbu_usd": {"Premium": 0.1}}))
    with pytest.raises(InvalidInputError, match="Premium/Jobs Compute"):
        load_price_table(bad)


def test_table_validation() -> None:
    with pytest.raises(ValueError, match="spot_discount"):
        PriceTable(as_of=date(2026, 1, 1), instances={}, spot_discount=0)


def test_import_is_cheap_and_airflow_free() -> None:
    code = (
        "import sys, sync_provider.core.pricing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'boto3', 'botocore'))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
