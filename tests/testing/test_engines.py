"""Tests of the local server's prediction engines (BasisEngine)."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.pricing import HOURS_PER_MONTH
from sync_provider.testing.engines import (
    BASIS_ONLY_ASSUMPTION,
    BasisEngine,
    PredictionEngine,
    PredictionRequest,
    databricks_basis_configuration,
    emr_basis_configuration,
    emr_nodes,
)
from sync_provider.testing.eventlog_generator import (
    WorkloadSpec,
    databricks_cluster_report,
    demo_workload,
    emr_cluster_report,
    generated_duration_ms,
    tiny_workload,
    write_event_log,
)

EVENTLOGS = Path(__file__).resolve().parents[3] / "shared" / "eventlogs"
REAL_EMR_LOG = EVENTLOGS / "syncsparkpy" / "application_1678162862227_0001"
REAL_EMR_REPORT = EVENTLOGS / "syncsparkpy" / "emr-cluster-report.json"

M5_XLARGE_EMR = 0.192 + 0.048  # EC2 on-demand + EMR fee, $/h
M5_XLARGE_EMR_SPOT = 0.192 * 0.4 + 0.048
M5_XLARGE_DBX = 0.192 + 0.69 * 0.15  # EC2 + DBU/h x $/DBU (Premium, Jobs Compute)


def stdlib_summarize(path: Path) -> SimpleNamespace:
    """A minimal reader (standard library only) with the attributes the engine uses."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    start = end = None
    name = None
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            if event["Event"] == "SparkListenerApplicationStart":
                start, name = event["Timestamp"], event["App Name"]
            elif event["Event"] == "SparkListenerApplicationEnd":
                end = event["Timestamp"]
    assert start is not None
    assert end is not None
    return SimpleNamespace(application_name=name, duration_s=(end - start) / 1000, end_inferred=False)


def real_summarize() -> Callable[[Path], Any]:
    try:
        from sync_provider.core.eventlog import summarize
    except ImportError as exc:
        pytest.skip(f"sync_provider.core.eventlog.summarize is not available yet: {exc}")
    return summarize


@pytest.fixture(params=["stdlib", "core"])
def summarizer(request: pytest.FixtureRequest) -> Callable[[Path], Any]:
    """Run engine tests with a stdlib reader and with the real core reader (when present)."""
    return stdlib_summarize if request.param == "stdlib" else real_summarize()


def request_for(
    spec: WorkloadSpec, report: dict[str, Any], tmp_path: Path, product: str, codec: str = "none"
) -> PredictionRequest:
    path = write_event_log(spec, tmp_path / spec.resolved_app_id, codec=codec)  # type: ignore[arg-type]
    return PredictionRequest(
        product_code=product,
        cluster_report=report,
        eventlog_path=path,
        project_id="project-1",
        prediction_id="prediction-1",
    )


def check_shape(body: dict[str, Any], runtime_min: float, cost: float) -> None:
    assert set(body) == {"application_name", "basis", "solutions"}
    assert set(body["solutions"]) == {"performance", "balanced", "economy"}
    for solution in (body["basis"], *body["solutions"].values()):
        assert set(solution) == {"configuration", "metrics", "assumptions"}
        assert solution["metrics"]["runtime"] == pytest.approx(runtime_min)
        assert solution["metrics"]["cost"] == pytest.approx(cost)
        assert solution["configuration"] == body["basis"]["configuration"]
        assumptions = solution["assumptions"]
        assert assumptions[0] == BASIS_ONLY_ASSUMPTION
        assert any("2026-11-25" in a and "us-east-1" in a for a in assumptions)
    json.dumps(body)  # plain JSON types only


def validate_run_job_flow(configuration: dict[str, Any]) -> None:
    """Check a configuration against botocore's RunJobFlow input shape."""
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.validate import ParamValidator

    shape = botocore_session.get_session().get_service_model("emr").operation_model("RunJobFlow").input_shape
    report = ParamValidator().validate(configuration, shape)
    assert not report.has_errors(), report.generate_report()


def test_basis_engine_implements_the_protocol() -> None:
    assert isinstance(BasisEngine(), PredictionEngine)


# ----------------------------------------------------------------------------------------------- EMR


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_emr_instance_groups(tmp_path: Path, summarizer: Callable[[Path], Any], codec: str) -> None:
    spec = tiny_workload(seed=4)
    report = emr_cluster_report(spec, tags={"sync:project-id": "project-1"})
    body = BasisEngine(summarize=summarizer).predict(request_for(spec, report, tmp_path, "aws-emr", codec))
    duration_s = generated_duration_ms(spec) / 1000
    hours = duration_s / 3600
    # 1 master + 2 core m5.xlarge on-demand, one 32 GB gp2 volume each.
    expected = hours * 3 * M5_XLARGE_EMR + 3 * 32 * 0.10 * hours / HOURS_PER_MONTH
    check_shape(body, duration_s / 60, expected)
    assert body["application_name"] == "tiny_app"
    config = body["basis"]["configuration"]
    validate_run_job_flow(config)
    assert config["Name"] == "tiny_app"
    assert config["ReleaseLabel"] == "emr-6.10.0"
    assert config["JobFlowRole"] == "EMR_EC2_DefaultRole"
    assert config["ServiceRole"] == "EMR_DefaultRole"
    assert config["Applications"] == [{"Name": "Spark"}]
    assert config["Tags"] == [{"Key": "sync:project-id", "Value": "project-1"}]
    assert config["Configurations"][0]["Properties"]["spark.eventLog.dir"] == spec.event_log_dir
    groups = {g["InstanceRole"]: g for g in config["Instances"]["InstanceGroups"]}
    assert groups["CORE"]["InstanceCount"] == 2
    assert groups["CORE"]["InstanceType"] == "m5.xlarge"
    assert groups["MASTER"]["Market"] == "ON_DEMAND"
    assert groups["CORE"]["EbsConfiguration"]["EbsBlockDeviceConfigs"] == [
        {"VolumeSpecification": {"VolumeType": "gp2", "SizeInGB": 32}, "VolumesPerInstance": 1}
    ]
    assert config["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False


def test_emr_instance_fleets_with_spot(tmp_path: Path, summarizer: Callable[[Path], Any]) -> None:
    spec = demo_workload(seed=8)
    report = emr_cluster_report(spec, use_fleets=True, core_market="SPOT", ebs_gb_per_node=0)
    body = BasisEngine(summarize=summarizer).predict(request_for(spec, report, tmp_path, "aws-emr"))
    duration_s = generated_duration_ms(spec) / 1000
    expected = duration_s / 3600 * (M5_XLARGE_EMR + 4 * M5_XLARGE_EMR_SPOT)
    check_shape(body, duration_s / 60, expected)
    config = body["basis"]["configuration"]
    validate_run_job_flow(config)
    fleets = {f["InstanceFleetType"]: f for f in config["Instances"]["InstanceFleets"]}
    assert fleets["CORE"]["TargetSpotCapacity"] == 4
    assert fleets["CORE"]["TargetOnDemandCapacity"] == 0
    assert fleets["CORE"]["InstanceTypeConfigs"][0]["InstanceType"] == "m5.xlarge"
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1


def test_emr_fleets_without_instances_use_target_capacity() -> None:
    report = emr_cluster_report(tiny_workload(), use_fleets=True, instance_type="m5.4xlarge")
    report["Instances"] = []
    core = next(f for f in report["Cluster"]["InstanceFleets"] if f["InstanceFleetType"] == "CORE")
    core["TargetOnDemandCapacity"] = 0
    core["TargetSpotCapacity"] = 10
    core["InstanceTypeSpecifications"][0]["WeightedCapacity"] = 4
    nodes, ebs_gb = emr_nodes(report)
    assert nodes == [("m5.xlarge", 1, "ON_DEMAND"), ("m5.4xlarge", 3, "SPOT")]
    assert ebs_gb == 4 * 32


@pytest.mark.eventlogs
def test_real_emr_report_and_log(tmp_path: Path) -> None:
    if not (REAL_EMR_REPORT.exists() and REAL_EMR_LOG.exists()):
        pytest.skip("the real EMR report and log are not available")
    report = json.loads(REAL_EMR_REPORT.read_text())
    request = PredictionRequest("aws-emr", report, REAL_EMR_LOG, None, "p")
    body = BasisEngine(summarize=real_summarize()).predict(request)
    hours = 49.881 / 3600
    # c5a.8xlarge core (on-demand, fee capped), m4.xlarge master, m4.large spot task; 64+64+32 GB gp2.
    per_hour = (1.232 + 0.27) + (0.20 + 0.05) + (0.10 * 0.4 + 0.025)
    expected = hours * per_hour + 160 * 0.10 * hours / HOURS_PER_MONTH
    check_shape(body, 49.881 / 60, expected)
    assert body["application_name"] == "index_data_etl_1GB"
    config = body["basis"]["configuration"]
    validate_run_job_flow(config)
    assert config["BootstrapActions"] == [
        {
            "Name": "Packages setup",
            "ScriptBootstrapAction": {"Path": "s3://my-emr-job-scripts/dummy.sh", "Args": []},
        }
    ]
    master = next(f for f in config["Instances"]["InstanceFleets"] if f["InstanceFleetType"] == "MASTER")
    assert master["InstanceTypeConfigs"][0]["EbsConfiguration"]["EbsBlockDeviceConfigs"] == [
        {"VolumeSpecification": {"VolumeType": "gp2", "SizeInGB": 32}, "VolumesPerInstance": 2}
    ]


# ---------------------------------------------------------------------------------------- Databricks


def test_databricks(tmp_path: Path, summarizer: Callable[[Path], Any]) -> None:
    spec = tiny_workload(platform="databricks", seed=5)
    report = databricks_cluster_report(spec, custom_tags={"sync:run-id": "r"})
    body = BasisEngine(summarize=summarizer).predict(request_for(spec, report, tmp_path, "aws-databricks"))
    duration_s = generated_duration_ms(spec) / 1000
    check_shape(body, duration_s / 60, duration_s / 3600 * 3 * M5_XLARGE_DBX)
    config = body["basis"]["configuration"]
    assert config == {
        "spark_version": "12.2.x-scala2.12",
        "node_type_id": "m5.xlarge",
        "driver_node_type_id": "m5.xlarge",
        "num_workers": 2,
        "spark_conf": {},
        "aws_attributes": report["cluster"]["aws_attributes"],
        "custom_tags": {"sync:run-id": "r"},
    }


def test_databricks_spot_plan_and_autoscale(tmp_path: Path) -> None:
    spec = demo_workload(platform="databricks")
    report = databricks_cluster_report(
        spec,
        node_type_id="r5.xlarge",
        driver_node_type_id="m5.xlarge",
        plan_type="Enterprise",
        compute_type="All-Purpose Compute",
        availability="SPOT_WITH_FALLBACK",
        first_on_demand=2,
    )
    body = BasisEngine(summarize=stdlib_summarize).predict(
        request_for(spec, report, tmp_path, "aws-databricks")
    )
    hours = generated_duration_ms(spec) / 3_600_000
    dbu = 0.65
    on_demand_worker = 0.252 + 0.9 * dbu
    spot_worker = 0.252 * 0.4 + 0.9 * dbu
    driver = 0.192 + 0.69 * dbu
    assert body["basis"]["metrics"]["cost"] == pytest.approx(
        hours * (on_demand_worker + 3 * spot_worker + driver)
    )

    autoscaled = copy.deepcopy(report)
    autoscaled["cluster"]["autoscale"] = {"min_workers": 1, "max_workers": 6}
    body = BasisEngine(summarize=stdlib_summarize).predict(
        request_for(spec, autoscaled, tmp_path, "aws-databricks")
    )
    config = body["basis"]["configuration"]
    assert config["autoscale"] == {"min_workers": 1, "max_workers": 6}
    assert "num_workers" not in config
    assert body["basis"]["metrics"]["cost"] == pytest.approx(
        hours * (on_demand_worker + 5 * spot_worker + driver)
    )
    assert any("maximum of 6 workers" in a for a in body["basis"]["assumptions"])


def test_databricks_configuration_defaults_the_driver() -> None:
    report = {"cluster": {"spark_version": "13.3.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 3}}
    assert databricks_basis_configuration(report)["driver_node_type_id"] == "i3.xlarge"


# -------------------------------------------------------------------------------------------- errors


def test_unknown_instance_type_fails_clearly(tmp_path: Path) -> None:
    spec = tiny_workload()
    report = emr_cluster_report(spec, instance_type="x9.mega")
    with pytest.raises(InvalidInputError, match=r"x9\.mega"):
        BasisEngine(summarize=stdlib_summarize).predict(request_for(spec, report, tmp_path, "aws-emr"))
    dbx = databricks_cluster_report(tiny_workload(platform="databricks"), node_type_id="m5.large")
    with pytest.raises(InvalidInputError, match=r"DBU/h rate for 'm5\.large'"):
        BasisEngine(summarize=stdlib_summarize).predict(request_for(spec, dbx, tmp_path, "aws-databricks"))


@pytest.mark.parametrize(
    ("product", "report", "message"),
    [
        ("aws-emr", {}, "'Cluster' must be a JSON object"),
        ("aws-emr", {"Cluster": {"Id": "j-1"}}, "neither 'InstanceGroups' nor 'InstanceFleets'"),
        ("aws-emr", {"Cluster": {"InstanceGroups": [{"Id": "ig-1"}]}}, "has no InstanceType"),
        (
            "aws-emr",
            {
                "Cluster": {
                    "InstanceGroups": [
                        {"Id": "ig-1", "InstanceType": "m5.xlarge", "RequestedInstanceCount": -1}
                    ]
                }
            },
            "non-negative",
        ),
        ("aws-databricks", {"cluster": "nope"}, "'cluster' must be a JSON object"),
        ("aws-databricks", {"cluster": {"num_workers": 2}}, "node_type_id is missing"),
        ("gcp-dataproc", {}, "Unknown product code"),
    ],
)
def test_unreadable_reports_fail_clearly(
    tmp_path: Path, product: str, report: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        BasisEngine(summarize=stdlib_summarize).predict(
            request_for(tiny_workload(), report, tmp_path, product)
        )


def test_log_without_duration_fails_clearly(tmp_path: Path) -> None:
    spec = tiny_workload()
    engine = BasisEngine(summarize=lambda path: SimpleNamespace(application_name=None, duration_s=None))
    with pytest.raises(InvalidInputError, match="no application duration"):
        engine.predict(request_for(spec, emr_cluster_report(spec), tmp_path, "aws-emr"))


def test_inferred_end_is_stated(tmp_path: Path) -> None:
    spec = tiny_workload()
    engine = BasisEngine(
        summarize=lambda path: SimpleNamespace(application_name="a", duration_s=60.0, end_inferred=True)
    )
    body = engine.predict(request_for(spec, emr_cluster_report(spec), tmp_path, "aws-emr"))
    assert body["basis"]["metrics"]["runtime"] == 1.0
    assert any("no ApplicationEnd" in a for a in body["basis"]["assumptions"])


def test_emr_configuration_drops_reserved_tags() -> None:
    report = emr_cluster_report(tiny_workload(), tags={"aws:elasticmapreduce:x": "1", "team": "data"})
    assert emr_basis_configuration(report)["Tags"] == [{"Key": "team", "Value": "data"}]
