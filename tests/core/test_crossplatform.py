"""Cross-platform translation: EMR RunJobFlow <-> neutral <-> Databricks cluster spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_provider.core import crossplatform as cp
from sync_provider.core.databricks import prepare_cluster_spec, validate_cluster_spec
from sync_provider.core.emr import prepare_run_job_flow, validation_problems
from sync_provider.core.errors import InvalidInputError, PredictionError
from sync_provider.core.models import Prediction

PROJECT = "11111111-2222-3333-4444-555555555555"
LOCATION = "s3://sync-projects/runs"

# Instance types of the built-in price table that both platforms launch.
TYPES = ["m5.xlarge", "m5.2xlarge", "m5.4xlarge", "r5.xlarge", "r5.2xlarge", "i3.xlarge", "c5.2xlarge"]
COMMON_CONF = {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": "400"}
EMR_ONLY_CONF = {"spark.yarn.maxAppAttempts": "1", "spark.emr.default.executor.cores": "4"}
DATABRICKS_ONLY_CONF = {"spark.databricks.delta.preview.enabled": "true"}


def ebs(size: int = 128, per: int = 2, volume_type: str = "gp2", **extra: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"VolumeType": volume_type, "SizeInGB": size, **extra}
    return {"EbsBlockDeviceConfigs": [{"VolumeSpecification": spec, "VolumesPerInstance": per}]}


def emr_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "Name": "nightly-etl",
        "ReleaseLabel": "emr-6.10.0",
        "Applications": [{"Name": "Spark"}],
        "ServiceRole": "EMR_DefaultRole",
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "Instances": {
            "InstanceGroups": [
                {
                    "Name": "Master",
                    "InstanceRole": "MASTER",
                    "InstanceType": "m5.xlarge",
                    "InstanceCount": 1,
                    "Market": "ON_DEMAND",
                    "EbsConfiguration": ebs(),
                },
                {
                    "Name": "Core",
                    "InstanceRole": "CORE",
                    "InstanceType": "m5.2xlarge",
                    "InstanceCount": 2,
                    "Market": "ON_DEMAND",
                    "EbsConfiguration": ebs(),
                },
                {
                    "Name": "Task",
                    "InstanceRole": "TASK",
                    "InstanceType": "m5.2xlarge",
                    "InstanceCount": 3,
                    "Market": "SPOT",
                    "EbsConfiguration": ebs(),
                },
            ],
            "Ec2SubnetId": "subnet-0abc",
            "KeepJobFlowAliveWhenNoSteps": False,
        },
        "Configurations": [
            {"Classification": "spark-defaults", "Properties": {**COMMON_CONF, **EMR_ONLY_CONF}},
            {"Classification": "yarn-site", "Properties": {"yarn.nodemanager.vmem-check-enabled": "false"}},
        ],
        "Tags": [{"Key": "team", "Value": "data"}, {"Key": "sync:project-id", "Value": PROJECT}],
    }
    request.update(overrides)
    return request


def databricks_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "spark_version": "13.3.x-scala2.12",
        "node_type_id": "r5.xlarge",
        "driver_node_type_id": "m5.xlarge",
        "num_workers": 4,
        "spark_conf": {**COMMON_CONF, **DATABRICKS_ONLY_CONF},
        "aws_attributes": {
            "availability": "SPOT_WITH_FALLBACK",
            "first_on_demand": 2,
            "spot_bid_price_percent": 90,
            "zone_id": "us-east-1c",
            "ebs_volume_type": "GENERAL_PURPOSE_SSD",
            "ebs_volume_count": 1,
            "ebs_volume_size": 200,
            "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/etl",
        },
        "custom_tags": {"team": "data", "sync:run-id": "old-run"},
    }
    spec.update(overrides)
    return spec


DATABRICKS_BASE = {"spark_version": "13.3.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
EMR_BASE = {
    "Name": "from-databricks",
    "ReleaseLabel": "emr-6.10.0",
    "Applications": [{"Name": "Spark"}],
    "ServiceRole": "EMR_DefaultRole",
    "JobFlowRole": "EMR_EC2_DefaultRole",
    "Instances": {"KeepJobFlowAliveWhenNoSteps": False},
}


def on_demand_split(request: dict[str, Any]) -> tuple[int, int, str, str]:
    """(on-demand workers, spot workers, master market, worker type) of an EMR request."""
    on_demand = spot = 0
    master = worker = ""
    instances = request["Instances"]
    for group in instances.get("InstanceGroups") or []:
        if group["InstanceRole"] == "MASTER":
            master = group["Market"]
            continue
        worker = worker or group["InstanceType"]
        if group["Market"] == "SPOT":
            spot += group["InstanceCount"]
        else:
            on_demand += group["InstanceCount"]
    for fleet in instances.get("InstanceFleets") or []:
        if fleet["InstanceFleetType"] == "MASTER":
            master = "ON_DEMAND" if fleet["TargetOnDemandCapacity"] else "SPOT"
            continue
        worker = worker or fleet["InstanceTypeConfigs"][0]["InstanceType"]
        on_demand += fleet["TargetOnDemandCapacity"]
        spot += fleet["TargetSpotCapacity"]
    return on_demand, spot, master, worker


def spark_defaults(request: dict[str, Any]) -> dict[str, str]:
    for entry in request.get("Configurations") or []:
        if entry["Classification"] == "spark-defaults":
            return dict(entry["Properties"])
    return {}


# ------------------------------------------------------------------------------------------- EMR


def test_emr_groups_read_into_the_neutral_model() -> None:
    translation = cp.from_emr(emr_request())
    neutral = translation.result
    assert neutral.source_platform == "aws-emr"
    assert neutral.driver.instance_type == "m5.xlarge"
    assert (neutral.driver.vcpus, neutral.driver.memory_gib) == (4, 16.0)
    assert neutral.workers.node.instance_type == "m5.2xlarge"
    assert neutral.workers.count == 5
    assert neutral.market == cp.MarketSpec(availability="spot", first_on_demand=3)
    assert neutral.spark_conf == COMMON_CONF
    assert neutral.tags == {"team": "data"}
    assert neutral.workers.node.ebs == cp.EbsVolumes(volume_type="gp2", count=2, size_gib=128)
    notes = " | ".join(translation.notes)
    assert "EMR TASK instance group 'Task' (3 x m5.2xlarge) folded into workers" in notes
    assert "spark.emr.default.executor.cores, spark.yarn.maxAppAttempts" in notes
    assert "yarn-site have no Databricks equivalent" in notes
    assert "EMR release emr-6.10.0 is not translated" in notes


def test_emr_to_databricks_to_emr_keeps_what_both_sides_express() -> None:
    request = emr_request()
    first = cp.from_emr(request)
    to_dbx = cp.to_databricks(first.result, DATABRICKS_BASE)
    spec = to_dbx.result
    assert validate_cluster_spec(spec) == []
    assert spec["node_type_id"] == "m5.2xlarge" and spec["driver_node_type_id"] == "m5.xlarge"
    assert spec["num_workers"] == 5 and spec["spark_version"] == "13.3.x-scala2.12"
    assert spec["aws_attributes"] == {
        "availability": "SPOT",
        "first_on_demand": 3,
        "ebs_volume_type": "GENERAL_PURPOSE_SSD",
        "ebs_volume_count": 2,
        "ebs_volume_size": 128,
    }
    assert spec["spark_conf"] == COMMON_CONF and spec["custom_tags"] == {"team": "data"}
    back = cp.to_emr(cp.from_databricks(spec).result, EMR_BASE)
    assert validation_problems(back.result) == []
    assert on_demand_split(back.result) == (2, 3, "ON_DEMAND", "m5.2xlarge")
    assert spark_defaults(back.result) == COMMON_CONF
    groups = {g["InstanceRole"]: g for g in back.result["Instances"]["InstanceGroups"]}
    assert groups["CORE"]["EbsConfiguration"] == ebs()
    assert groups["TASK"]["EbsConfiguration"] == ebs()
    assert back.result["Tags"] == [{"Key": "team", "Value": "data"}]


def test_emr_fleets_with_several_types_use_the_highest_weighted_one() -> None:
    request = emr_request(
        Instances={
            "InstanceFleets": [
                {
                    "Name": "Master",
                    "InstanceFleetType": "MASTER",
                    "TargetOnDemandCapacity": 1,
                    "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
                },
                {
                    "Name": "Core",
                    "InstanceFleetType": "CORE",
                    "TargetOnDemandCapacity": 4,
                    "TargetSpotCapacity": 8,
                    "InstanceTypeConfigs": [
                        {"InstanceType": "m5.xlarge", "WeightedCapacity": 1},
                        {
                            "InstanceType": "m5.2xlarge",
                            "WeightedCapacity": 2,
                            "BidPriceAsPercentageOfOnDemandPrice": 80,
                        },
                        {"InstanceType": "r5.2xlarge", "WeightedCapacity": 2},
                    ],
                    "LaunchSpecifications": {
                        "SpotSpecification": {
                            "TimeoutDurationMinutes": 20,
                            "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                        }
                    },
                },
            ],
            "Ec2SubnetIds": ["subnet-1", "subnet-2"],
        }
    )
    translation = cp.from_emr(request)
    neutral = translation.result
    assert neutral.workers.node.instance_type == "m5.2xlarge"
    assert neutral.workers.count == 6
    assert neutral.market == cp.MarketSpec(
        availability="spot_with_fallback", first_on_demand=3, spot_bid_price_percent=80
    )
    assert any(
        "instance fleet 'Core' with 3 instance types (m5.xlarge, m5.2xlarge, r5.2xlarge): the first of the "
        "highest WeightedCapacity, m5.2xlarge, is used" in note
        for note in translation.approximated
    )
    # Back to EMR fleets (the base uses fleets): one CORE fleet holds both targets, with fallback.
    base_fleets = [
        {
            "Name": "Primary",
            "InstanceFleetType": "MASTER",
            "InstanceTypeConfigs": [{"InstanceType": "m5.large"}],
        }
    ]
    base = {**EMR_BASE, "Instances": {"InstanceFleets": base_fleets, "Ec2SubnetIds": ["subnet-1"]}}
    back = cp.to_emr(neutral, base)
    assert validation_problems(back.result) == []
    fleets = {f["InstanceFleetType"]: f for f in back.result["Instances"]["InstanceFleets"]}
    assert fleets["CORE"]["TargetOnDemandCapacity"] == 2 and fleets["CORE"]["TargetSpotCapacity"] == 4
    assert fleets["CORE"]["InstanceTypeConfigs"][0]["BidPriceAsPercentageOfOnDemandPrice"] == 80.0
    assert (
        fleets["CORE"]["LaunchSpecifications"]["SpotSpecification"]["TimeoutAction"] == "SWITCH_TO_ON_DEMAND"
    )
    assert any("only while provisioning" in note for note in back.approximated)


def test_uniform_instances_and_task_groups_of_another_type() -> None:
    uniform = cp.from_emr(
        {
            "Instances": {
                "MasterInstanceType": "m5.xlarge",
                "SlaveInstanceType": "r5.xlarge",
                "InstanceCount": 4,
            }
        }
    ).result
    assert (uniform.driver.instance_type, uniform.workers.node.instance_type, uniform.workers.count) == (
        "m5.xlarge",
        "r5.xlarge",
        3,
    )
    request = emr_request()
    request["Instances"]["InstanceGroups"][2]["InstanceType"] = "m5.4xlarge"  # 16 vCPUs vs 8
    translation = cp.from_emr(request)
    assert translation.result.workers.count == 2 + 6
    assert any("folded into workers as 6 x m5.2xlarge (same vCPUs" in n for n in translation.approximated)


def test_managed_scaling_maps_to_autoscale_and_back() -> None:
    request = emr_request(
        ManagedScalingPolicy={
            "ComputeLimits": {
                "UnitType": "Instances",
                "MinimumCapacityUnits": 2,
                "MaximumCapacityUnits": 10,
                "MaximumOnDemandCapacityUnits": 2,
            }
        }
    )
    neutral = cp.from_emr(request).result
    assert neutral.workers.autoscale == cp.Autoscale(min_workers=2, max_workers=10)
    assert neutral.market.availability == "spot" and neutral.market.first_on_demand == 3
    spec = cp.to_databricks(neutral, DATABRICKS_BASE).result
    assert spec["autoscale"] == {"min_workers": 2, "max_workers": 10} and "num_workers" not in spec
    back = cp.to_emr(cp.from_databricks(spec).result, EMR_BASE).result
    assert back["ManagedScalingPolicy"] == {
        "ComputeLimits": {
            "UnitType": "Instances",
            "MinimumCapacityUnits": 2,
            "MaximumCapacityUnits": 10,
            "MaximumOnDemandCapacityUnits": 2,
        }
    }
    assert validation_problems(back) == []


def test_autoscale_from_zero_and_fixed_size_drops_the_base_policy() -> None:
    spec = databricks_spec(autoscale={"min_workers": 0, "max_workers": 6})
    spec.pop("num_workers")
    translation = cp.to_emr(cp.from_databricks(spec).result, EMR_BASE)
    limits = translation.result["ManagedScalingPolicy"]["ComputeLimits"]
    assert limits["MinimumCapacityUnits"] == 1 and limits["MaximumCapacityUnits"] == 6
    assert any("min_workers 0 became 1" in n for n in translation.approximated)
    assert validation_problems(translation.result) == []
    fixed = cp.to_emr(
        cp.from_databricks(databricks_spec()).result,
        {**EMR_BASE, "ManagedScalingPolicy": {"ComputeLimits": {"UnitType": "Instances"}}},
    )
    assert "ManagedScalingPolicy" not in fixed.result
    assert any("ManagedScalingPolicy was removed" in n for n in fixed.dropped)


# ------------------------------------------------------------------------------------ Databricks


def test_databricks_spec_read_and_written_to_emr() -> None:
    translation = cp.from_databricks(databricks_spec())
    neutral = translation.result
    assert neutral.market == cp.MarketSpec(
        availability="spot_with_fallback", first_on_demand=2, spot_bid_price_percent=90
    )
    assert (neutral.zone, neutral.region) == ("us-east-1c", "us-east-1")
    assert neutral.spark_conf == COMMON_CONF and neutral.tags == {"team": "data"}
    assert any("spark.databricks.delta.preview.enabled" in n for n in translation.dropped)
    assert any("instance_profile_arn" in n for n in translation.dropped)
    emr = cp.to_emr(neutral, EMR_BASE)
    request = emr.result
    assert validation_problems(request) == []
    assert on_demand_split(request) == (1, 3, "ON_DEMAND", "r5.xlarge")
    groups = {g["InstanceRole"]: g for g in request["Instances"]["InstanceGroups"]}
    assert groups["TASK"]["BidPrice"] == f"{0.252 * 0.9:.4f}"
    assert request["Instances"]["Placement"] == {"AvailabilityZone": "us-east-1c"}
    assert any("cannot fall back to on-demand" in n for n in emr.approximated)
    # The zone is left to the subnet when the base has one.
    with_subnet = cp.to_emr(neutral, {**EMR_BASE, "Instances": {"Ec2SubnetId": "subnet-9"}})
    assert "Placement" not in with_subnet.result["Instances"]
    assert any("subnet decides the zone" in n for n in with_subnet.dropped)


def test_photon_ml_and_other_databricks_only_settings_are_reported() -> None:
    translation = cp.from_databricks(
        databricks_spec(
            spark_version="14.3.x-cpu-ml-scala2.12",
            runtime_engine="PHOTON",
            init_scripts=[{"workspace": {"destination": "/init.sh"}}],
            enable_elastic_disk=True,
            instance_pool_id="pool-1",
        )
    )
    dropped = " | ".join(translation.dropped)
    assert "Databricks runtime_engine PHOTON has no EMR equivalent" in dropped
    assert "machine-learning libraries" in dropped
    assert "init_scripts are not carried over" in dropped
    assert "enable_elastic_disk" in dropped
    assert "instance_pool_id 'pool-1' has no EMR equivalent" in dropped


def test_single_node_clusters_translate_both_ways() -> None:
    single = databricks_spec(
        num_workers=0,
        spark_conf={"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"},
        custom_tags={"ResourceClass": "SingleNode"},
        aws_attributes={"availability": "ON_DEMAND"},
    )
    neutral = cp.from_databricks(single).result
    assert neutral.workers.count == 0 and neutral.spark_conf == {} and neutral.tags == {}
    emr = cp.to_emr(neutral, EMR_BASE)
    assert [g["InstanceRole"] for g in emr.result["Instances"]["InstanceGroups"]] == ["MASTER"]
    assert validation_problems(emr.result) == []
    back = cp.from_emr(emr.result).result
    assert back.workers.count == 0
    spec = cp.to_databricks(back, DATABRICKS_BASE)
    assert spec.result["num_workers"] == 0
    assert spec.result["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
    assert spec.result["custom_tags"]["ResourceClass"] == "SingleNode"
    assert validate_cluster_spec(spec.result) == []


def test_base_instance_pools_are_replaced_and_databricks_ebs_limits_apply() -> None:
    request = emr_request()
    for group in request["Instances"]["InstanceGroups"]:
        group["EbsConfiguration"] = ebs(size=32, per=12, volume_type="gp3", Iops=4000)
    neutral = cp.from_emr(request).result
    translation = cp.to_databricks(neutral, {**DATABRICKS_BASE, "instance_pool_id": "pool-1"})
    aws = translation.result["aws_attributes"]
    assert "instance_pool_id" not in translation.result
    assert (aws["ebs_volume_size"], aws["ebs_volume_count"]) == (100, 10)
    assert (aws["ebs_volume_iops"], aws["ebs_volume_throughput"]) == (4000, 125)
    notes = " | ".join(translation.notes)
    assert "instance_pool_id was removed" in notes
    assert "32 GiB became 100 GiB" in notes and "12 EBS volumes per node became 10" in notes


# -------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (
            {"instance_pool_id": "pool-1", "node_type_id": None},
            "instance pool 'pool-1' without a node_type_id",
        ),
        (
            {"policy_id": "policy-1", "node_type_id": None},
            "its node type comes from cluster policy 'policy-1'",
        ),
        ({"spark_version": "13.3.x-gpu-ml-scala2.12"}, "is a GPU runtime"),
        ({"azure_attributes": {"availability": "SPOT_AZURE"}}, "only Databricks on AWS translates"),
        ({"node_type_id": "Standard_DS3_v2"}, "is not an AWS EC2 instance type"),
        ({"node_type_id": "x9.mega"}, "unknown to the price table"),
        ({"aws_attributes": {"availability": "SPOT_AZURE"}}, "is not an AWS availability"),
    ],
)
def test_untranslatable_databricks_specs_are_refused(spec: dict[str, Any], needle: str) -> None:
    source = {k: v for k, v in {**databricks_spec(), **spec}.items() if v is not None}
    with pytest.raises(InvalidInputError, match="Cannot translate the Databricks cluster spec") as info:
        cp.from_databricks(source)
    assert needle in info.value.message


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        ({"Name": "x"}, "it has no Instances object"),
        (
            {"Instances": {"Ec2SubnetId": "s"}},
            "neither InstanceGroups, InstanceFleets nor MasterInstanceType",
        ),
        (
            {
                "Instances": {
                    "InstanceGroups": [
                        {"InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2}
                    ]
                }
            },
            "no MASTER instance group or fleet",
        ),
        (
            {
                "Instances": {
                    "InstanceGroups": [
                        {"InstanceRole": "MASTER", "InstanceType": "q9.large", "InstanceCount": 1}
                    ]
                }
            },
            "'q9.large' is unknown to the price table",
        ),
    ],
)
def test_untranslatable_emr_requests_are_refused(request_: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError, match="Cannot translate the EMR RunJobFlow request") as info:
        cp.from_emr(request_)
    assert needle in info.value.message


def test_instance_types_the_target_does_not_launch_are_refused() -> None:
    neutral = cp.from_databricks(databricks_spec()).result
    burstable = neutral.model_copy(
        update={"driver": cp.NodeSpec(instance_type="t3.large", vcpus=2, memory_gib=8)}
    )
    with pytest.raises(InvalidInputError, match=r"'t3\.large' is a t3 instance, which EMR does not launch"):
        cp.to_emr(burstable, EMR_BASE)
    with pytest.raises(InvalidInputError, match="which Databricks does not launch"):
        cp.to_databricks(burstable, DATABRICKS_BASE)
    with pytest.raises(InvalidInputError, match="base RunJobFlow request must be an object"):
        cp.to_emr(neutral, [])  # type: ignore[arg-type]


# ------------------------------------------------------------------------- applying predictions


def prediction(product: str | None, configuration: dict[str, Any]) -> Prediction:
    return Prediction.model_validate(
        {
            "prediction_id": "pred-1",
            "product_code": product,
            "solutions": {"economy": {"configuration": configuration, "metrics": {"runtime": 10, "cost": 1}}},
        }
    )


def test_a_databricks_prediction_launches_on_emr_after_preparation() -> None:
    base = copy.deepcopy(EMR_BASE)
    base["Tags"] = [{"Key": "sync:run-id", "Value": "old"}, {"Key": "sync:code-hash", "Value": "a" * 64}]
    base["Configurations"] = [
        {
            "Classification": "spark-defaults",
            "Properties": {
                "spark.eventLog.dir": f"s3a://sync-projects/runs/{PROJECT}/2026-01-01T00-00-00Z/old/eventlog/",
                "spark.eventLog.enabled": "true",
            },
        }
    ]
    pred = prediction(
        "aws-databricks", {"node_type_id": "r5.2xlarge", "num_workers": 6, "spark_conf": COMMON_CONF}
    )
    translation = cp.apply_cross_platform_solution(pred, "economy", base, target_platform="aws-emr")
    request = translation.result
    assert on_demand_split(request)[3] == "r5.2xlarge"
    assert all(t["Key"] not in ("sync:run-id", "sync:code-hash") for t in request.get("Tags", []))
    assert any("availability is not set" in n for n in translation.approximated)
    prepared = prepare_run_job_flow(request, project_id=PROJECT, project_location=LOCATION).unwrap()
    assert spark_defaults(prepared.request)["spark.executor.memory"] == "8g"


def test_an_emr_prediction_launches_on_databricks_after_preparation() -> None:
    pred = prediction(
        "aws-emr",
        emr_request(BootstrapActions=[{"Name": "b", "ScriptBootstrapAction": {"Path": "s3://b/x.sh"}}]),
    )
    translation = cp.apply_cross_platform_solution(
        pred,
        "economy",
        {**DATABRICKS_BASE, "custom_tags": {"sync:run-id": "old", "owner": "me"}},
        target_platform="aws-databricks",
        project_id=PROJECT,
        project_location=LOCATION,
    )
    spec = translation.result
    assert spec["custom_tags"] == {"owner": "me", "team": "data"}
    assert any("BootstrapActions (1) are not carried over" in n for n in translation.dropped)
    prepared = prepare_cluster_spec(spec, project_id=PROJECT, project_location=LOCATION, region="us-east-1")
    assert prepared.spec["num_workers"] == 5


def test_same_platform_and_unreadable_solutions_are_refused() -> None:
    with pytest.raises(
        InvalidInputError, match="already for aws-emr: nothing to translate; use the normal path"
    ):
        cp.apply_cross_platform_solution(
            prediction("aws-emr", emr_request()), "economy", EMR_BASE, target_platform="aws-emr"
        )
    with pytest.raises(InvalidInputError, match=r"cannot be read for aws-emr: .*no node_type_id"):
        cp.apply_cross_platform_solution(
            prediction("aws-databricks", {"num_workers": 2}), "economy", EMR_BASE, target_platform="aws-emr"
        )
    with pytest.raises(InvalidInputError, match="Cannot tell which platform"):
        cp.apply_cross_platform_solution(
            prediction(None, {"x": 1}), "economy", EMR_BASE, target_platform="aws-emr"
        )
    with pytest.raises(PredictionError, match="no 'balanced' solution"):
        cp.apply_cross_platform_solution(
            prediction("aws-emr", emr_request()), "balanced", {}, target_platform="aws-databricks"
        )
    with pytest.raises(InvalidInputError, match="Unknown platform"):
        cp.apply_cross_platform_solution(
            prediction("aws-emr", emr_request()), "economy", {}, target_platform="gcp"
        )


def test_needs_translation_asks_for_allow_cross_platform() -> None:
    emr_pred = prediction("aws-emr", emr_request())
    assert cp.needs_translation(emr_pred, "economy", "aws-emr") is False
    with pytest.raises(InvalidInputError, match="pass allow_cross_platform=True"):
        cp.needs_translation(emr_pred, "economy", "aws-databricks")
    assert cp.needs_translation(emr_pred, "economy", "aws-databricks", allow_cross_platform=True) is True
    shapeless = prediction(None, databricks_spec())
    assert cp.solution_platform(shapeless, "economy") == "aws-databricks"


# ------------------------------------------------------------------------------- property tests

markets = st.sampled_from(["ON_DEMAND", "SPOT"])
ebs_configs = st.one_of(
    st.none(),
    st.builds(
        lambda kind, size, per: ebs(size=size, per=per, volume_type=kind),
        st.sampled_from(["gp2", "st1"]),
        st.integers(500, 4096),
        st.integers(1, 10),
    ),
    st.builds(
        lambda size, per, iops, tput: ebs(size=size, per=per, volume_type="gp3", Iops=iops, Throughput=tput),
        st.integers(100, 4096),
        st.integers(1, 10),
        st.integers(3000, 16000),
        st.integers(125, 1000),
    ),
)
tags = st.dictionaries(
    st.sampled_from(["team", "cost-center", "env"]), st.sampled_from(["a", "b"]), max_size=3
)


@st.composite
def emr_requests(draw: st.DrawFn) -> dict[str, Any]:
    worker_type = draw(st.sampled_from(TYPES))
    worker_ebs = draw(ebs_configs)
    core_market = draw(markets)
    core = draw(st.integers(1, 20))
    task = draw(st.integers(0, 20)) if core_market == "ON_DEMAND" else 0
    groups: list[dict[str, Any]] = [
        {
            "InstanceRole": "MASTER",
            "InstanceType": draw(st.sampled_from(TYPES)),
            "InstanceCount": 1,
            "Market": "ON_DEMAND",
        },
        {"InstanceRole": "CORE", "InstanceType": worker_type, "InstanceCount": core, "Market": core_market},
    ]
    if task:
        groups.append(
            {"InstanceRole": "TASK", "InstanceType": worker_type, "InstanceCount": task, "Market": "SPOT"}
        )
    if worker_ebs is not None:
        for group in groups[1:]:
            group["EbsConfiguration"] = worker_ebs
    conf = draw(st.dictionaries(st.sampled_from(sorted(COMMON_CONF)), st.sampled_from(["1", "2g", "true"])))
    fleets = draw(st.booleans())
    instances: dict[str, Any] = {"KeepJobFlowAliveWhenNoSteps": False}
    if fleets:
        worker_config: dict[str, Any] = {"InstanceType": worker_type, "WeightedCapacity": 1}
        if worker_ebs is not None:
            worker_config["EbsConfiguration"] = worker_ebs
        on_demand = core if core_market == "ON_DEMAND" else 0
        instances["InstanceFleets"] = [
            {
                "InstanceFleetType": "MASTER",
                "TargetOnDemandCapacity": 1,
                "InstanceTypeConfigs": [{"InstanceType": groups[0]["InstanceType"]}],
            },
            {
                "InstanceFleetType": "CORE",
                "TargetOnDemandCapacity": on_demand,
                "TargetSpotCapacity": core + task - on_demand,
                "InstanceTypeConfigs": [worker_config],
            },
        ]
    else:
        instances["InstanceGroups"] = groups
    request: dict[str, Any] = {
        **EMR_BASE,
        "Instances": instances,
        "Configurations": [{"Classification": "spark-defaults", "Properties": {**conf, **EMR_ONLY_CONF}}],
        "Tags": [{"Key": k, "Value": v} for k, v in draw(tags).items()],
    }
    if draw(st.booleans()):
        low = draw(st.integers(1, 5))
        request["ManagedScalingPolicy"] = {
            "ComputeLimits": {
                "UnitType": "InstanceFleetUnits" if fleets else "Instances",
                "MinimumCapacityUnits": low,
                "MaximumCapacityUnits": low + draw(st.integers(0, 20)),
            }
        }
    return request


def effective(neutral: cp.NeutralCluster) -> dict[str, Any]:
    """What a neutral cluster means: types, sizes, on-demand workers at each size, conf, tags, EBS."""
    sizes = (
        [neutral.workers.count or 0]
        if neutral.workers.autoscale is None
        else [neutral.workers.autoscale.min_workers, neutral.workers.autoscale.max_workers]
    )
    return {
        "driver": neutral.driver.instance_type,
        "worker": neutral.workers.node.instance_type,
        "count": neutral.workers.count,
        "autoscale": neutral.workers.autoscale,
        "on_demand": [neutral.market.on_demand_workers(n) for n in sizes],
        "spot": neutral.market.availability != "on_demand"
        and any(neutral.market.on_demand_workers(n) < n for n in sizes),
        "driver_on_demand": neutral.market.driver_on_demand,
        "spark_conf": neutral.spark_conf,
        "tags": neutral.tags,
        "ebs": neutral.workers.node.ebs,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(emr_requests())
def test_round_trip_emr_databricks_emr_keeps_common_fields(request: dict[str, Any]) -> None:
    first = cp.from_emr(request)
    to_dbx = cp.to_databricks(first.result, DATABRICKS_BASE)
    assert validate_cluster_spec(to_dbx.result) == []
    second = cp.from_databricks(to_dbx.result)
    assert effective(second.result) == effective(first.result)
    base = copy.deepcopy(EMR_BASE)
    if "InstanceFleets" in request["Instances"]:
        base["Instances"] = {"InstanceFleets": [{"InstanceFleetType": "MASTER", "InstanceTypeConfigs": []}]}
    to_emr = cp.to_emr(second.result, base)
    assert validation_problems(to_emr.result) == []
    assert ("InstanceFleets" in to_emr.result["Instances"]) == ("InstanceFleets" in request["Instances"])
    third = cp.from_emr(to_emr.result)
    assert effective(third.result) == effective(first.result)
    # The EMR-only Spark settings are gone, with a note naming them.
    assert not set(EMR_ONLY_CONF) & set(spark_defaults(to_emr.result))
    assert any("spark.yarn.maxAppAttempts" in note for note in first.dropped)
    assert spark_defaults(to_emr.result) == first.result.spark_conf


@st.composite
def databricks_specs(draw: st.DrawFn) -> dict[str, Any]:
    availability = draw(st.sampled_from(["ON_DEMAND", "SPOT", "SPOT_WITH_FALLBACK"]))
    aws: dict[str, Any] = {"availability": availability, "first_on_demand": draw(st.integers(0, 5))}
    if availability != "ON_DEMAND" and draw(st.booleans()):
        aws["spot_bid_price_percent"] = draw(st.integers(50, 100))
    if draw(st.booleans()):
        aws.update(
            {
                "ebs_volume_type": "GENERAL_PURPOSE_SSD",
                "ebs_volume_count": draw(st.integers(1, 10)),
                "ebs_volume_size": draw(st.integers(100, 4096)),
            }
        )
    spec: dict[str, Any] = {
        "spark_version": "13.3.x-scala2.12",
        "node_type_id": draw(st.sampled_from(TYPES)),
        "driver_node_type_id": draw(st.sampled_from(TYPES)),
        "aws_attributes": aws,
        "spark_conf": {
            **draw(st.dictionaries(st.sampled_from(sorted(COMMON_CONF)), st.sampled_from(["1", "4g"]))),
            **DATABRICKS_ONLY_CONF,
        },
        "custom_tags": draw(tags),
    }
    if draw(st.booleans()):
        low = draw(st.integers(1, 5))
        spec["autoscale"] = {"min_workers": low, "max_workers": low + draw(st.integers(0, 10))}
    else:
        spec["num_workers"] = draw(st.integers(1, 30))
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(databricks_specs())
def test_round_trip_databricks_emr_databricks_keeps_common_fields(spec: dict[str, Any]) -> None:
    first = cp.from_databricks(spec)
    to_emr = cp.to_emr(first.result, EMR_BASE)
    assert validation_problems(to_emr.result) == []
    second = cp.from_emr(to_emr.result)
    expected = effective(first.result)
    assert effective(second.result) == expected
    back = cp.to_databricks(second.result, DATABRICKS_BASE)
    assert validate_cluster_spec(back.result) == []
    assert effective(cp.from_databricks(back.result).result) == expected
    assert any("spark.databricks.delta.preview.enabled" in note for note in first.dropped)
