"""Tests of ReplayEngine, the local Sync API's replay-based prediction engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.errors import InvalidInputError
from sync_provider.core.estimator import CandidateOptions, emr_cluster_shape
from sync_provider.core.pricing import DEFAULT_PRICE_TABLE
from sync_provider.testing.engines import (
    BASIS_ONLY_ASSUMPTION,
    BasisEngine,
    PredictionEngine,
    PredictionRequest,
)
from sync_provider.testing.eventlog_generator import (
    WorkloadSpec,
    databricks_cluster_report,
    demo_workload,
    emr_cluster_report,
    generated_duration_ms,
    write_event_log,
)
from sync_provider.testing.replay_engine import ReplayEngine, executors_on_emr_master
from tests.conftest import EVENTLOGS

PREFERENCES = ("performance", "balanced", "economy")


def request_for(
    spec: WorkloadSpec, report: dict[str, Any], tmp_path: Path, product: str
) -> PredictionRequest:
    path = write_event_log(spec, tmp_path / spec.resolved_app_id, codec="gzip")
    return PredictionRequest(
        product_code=product,
        cluster_report=report,
        eventlog_path=path,
        project_id="project-1",
        prediction_id="prediction-1",
    )


def validate_run_job_flow(configuration: dict[str, Any]) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.validate import ParamValidator

    shape = botocore_session.get_session().get_service_model("emr").operation_model("RunJobFlow").input_shape
    report = ParamValidator().validate(configuration, shape)
    assert not report.has_errors(), report.generate_report()


def check_body(body: dict[str, Any], basis_body: dict[str, Any]) -> None:
    """Shape, basis = BasisEngine's recorded run, preferences consistent with each other."""
    assert set(body) == {"application_name", "basis", "solutions"}
    assert body["application_name"] == basis_body["application_name"]
    assert body["basis"]["configuration"] == basis_body["basis"]["configuration"]
    assert body["basis"]["metrics"] == basis_body["basis"]["metrics"]
    assert BASIS_ONLY_ASSUMPTION not in body["basis"]["assumptions"]
    assert "Replaying its tasks" in body["basis"]["assumptions"][0]
    assert set(body["solutions"]) == set(PREFERENCES)
    metrics = {p: body["solutions"][p]["metrics"] for p in PREFERENCES}
    assert metrics["performance"]["runtime"] <= min(m["runtime"] for m in metrics.values())
    assert metrics["economy"]["cost"] <= min(m["cost"] for m in metrics.values())
    for preference, solution in body["solutions"].items():
        assert set(solution) == {"configuration", "metrics", "assumptions"}
        assert solution["metrics"]["runtime"] > 0 and solution["metrics"]["cost"] > 0
        text = " ".join(solution["assumptions"])
        assert f"This {preference} solution" in text
        for phrase in (
            "recorded durations",
            "Task counts are fixed",
            "No memory model",
            "2026-11-25",
            "recorded executor timeline",
            "replayed as recorded",
        ):
            assert phrase in text
    json.dumps(body)


def test_replay_engine_implements_the_protocol() -> None:
    assert isinstance(ReplayEngine(), PredictionEngine)


@pytest.mark.parametrize("use_fleets", [False, True])
def test_emr_prediction_from_a_generated_run(tmp_path: Path, use_fleets: bool) -> None:
    spec = demo_workload(seed=4, executors=4, cores_per_executor=8)
    report = emr_cluster_report(spec, instance_type="m5.2xlarge", use_fleets=use_fleets, core_market="SPOT")
    request = request_for(spec, report, tmp_path, "aws-emr")
    body = ReplayEngine().predict(request)
    check_body(body, BasisEngine().predict(request))
    assert body["basis"]["metrics"]["runtime"] == pytest.approx(generated_duration_ms(spec) / 60000)
    key = "InstanceFleets" if use_fleets else "InstanceGroups"
    for solution in body["solutions"].values():
        configuration = solution["configuration"]
        validate_run_job_flow(configuration)
        assert key in configuration["Instances"]
        assert configuration["Name"] == body["basis"]["configuration"]["Name"]
        shape = emr_cluster_shape(configuration)
        assert shape.master.instance_type == "m5.xlarge"
        assert shape.spot_workers()  # the basis used spot: so do the candidates
        assert any("spot capacity as in the basis" in a for a in solution["assumptions"])


def test_databricks_prediction_from_a_generated_run(tmp_path: Path) -> None:
    spec = demo_workload(
        seed=4, platform="databricks", node_type="m5.2xlarge", executors=4, cores_per_executor=8
    )
    report = databricks_cluster_report(spec)
    request = request_for(spec, report, tmp_path, "aws-databricks")
    body = ReplayEngine().predict(request)
    check_body(body, BasisEngine().predict(request))
    economy = body["solutions"]["economy"]
    configuration = economy["configuration"]
    assert configuration["spark_version"] == report["cluster"]["spark_version"]
    assert configuration["driver_node_type_id"] == configuration["node_type_id"]
    # Cost = runtime x (workers + driver) x (EC2 + DBU/h x $0.15, Premium Jobs Compute).
    price = DEFAULT_PRICE_TABLE.price_of(configuration["node_type_id"])
    per_hour = (configuration["num_workers"] + 1) * (price.on_demand_usd_per_hour + price.dbu_per_hour * 0.15)
    assert economy["metrics"]["cost"] == pytest.approx(economy["metrics"]["runtime"] / 60 * per_hour)


def test_options_limit_the_candidates(tmp_path: Path) -> None:
    from sync_provider.core.eventlog import summarize

    spec = demo_workload(seed=4, executors=4, cores_per_executor=8)
    request = request_for(spec, emr_cluster_report(spec, instance_type="m5.2xlarge"), tmp_path, "aws-emr")
    engine = ReplayEngine(options=CandidateOptions(factors=(1.0,), max_candidates=1))
    summary = summarize(request.eventlog_path)
    result = engine.estimate(request, summary, BasisEngine().predict(request)["basis"]["configuration"])
    assert [(c.instance_type, c.nodes) for c in result.candidates] == [("m5.2xlarge", 4)]


def test_an_unknown_instance_type_fails_with_its_name(tmp_path: Path) -> None:
    spec = demo_workload(seed=4)
    report = emr_cluster_report(spec, instance_type="q7.gigantic")
    with pytest.raises(InvalidInputError, match=r"q7\.gigantic"):
        ReplayEngine().predict(request_for(spec, report, tmp_path, "aws-emr"))


def test_an_unknown_product_is_refused(tmp_path: Path) -> None:
    spec = demo_workload(seed=4)
    with pytest.raises(InvalidInputError, match="product code"):
        ReplayEngine().predict(request_for(spec, emr_cluster_report(spec), tmp_path, "gcp-dataproc"))


def test_executors_on_the_master_are_detected_from_the_hosts(tmp_path: Path) -> None:
    from sync_provider.core.eventlog import summarize

    spec = demo_workload(seed=4, executors=2)
    summary = summarize(write_event_log(spec, tmp_path / "log"))
    report = emr_cluster_report(spec)
    assert not executors_on_emr_master(report, summary)
    report["Instances"][0]["PrivateDnsName"] = summary.worker_executors()[0].host
    assert executors_on_emr_master(report, summary)


@pytest.mark.eventlogs
def test_a_real_emr_run_and_its_report() -> None:
    if not EVENTLOGS.is_dir():
        pytest.skip(f"real event logs not available: {EVENTLOGS} is absent")
    folder = EVENTLOGS / "syncsparkpy"
    request = PredictionRequest(
        product_code="aws-emr",
        cluster_report=json.loads((folder / "emr-cluster-report.json").read_text()),
        eventlog_path=folder / "application_1678162862227_0001",
        project_id=None,
        prediction_id="real",
    )
    body = ReplayEngine().predict(request)
    check_body(body, BasisEngine().predict(request))
    assert body["basis"]["metrics"]["runtime"] == pytest.approx(49.881 / 60)
    assert "-0.4 %" in body["basis"]["assumptions"][0]  # the replay onto the recorded executor timeline
    for solution in body["solutions"].values():
        validate_run_job_flow(solution["configuration"])
        fleets = solution["configuration"]["Instances"]["InstanceFleets"]
        assert [f["InstanceFleetType"] for f in fleets] == ["MASTER", "CORE"]  # the TASK fleet is folded in
