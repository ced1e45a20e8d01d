"""Event logs of Databricks runs: late delivery, rolled parts on DBFS and S3, incomplete logs, and
recording a run as a Sync prediction against the local Sync API server."""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.databricks import (
    RUN_ID_TAG,
    DatabricksTimeoutError,
    cluster_spec_from_prediction,
    collect_eventlog,
    get_cluster_report,
    idempotency_token_for,
    record_run,
    submit_run,
    wait_for_run,
)
from sync_provider.core.errors import DatabricksError, EventLogError
from sync_provider.core.eventlog import check_completeness, summarize
from sync_provider.core.predictions import wait_for_prediction
from sync_provider.core.projects import create_project
from sync_provider.testing.databricks import LocalDatabricks
from tests.core import databricks_fixtures as fx
from tests.core.databricks_fixtures import FAST, SPEC, TASK, finish, make_dbx

dbx, api, moto_s3, bucket, dbx_s3 = fx.dbx, fx.api, fx.moto_s3, fx.bucket, fx.dbx_s3  # shared fixtures

DBFS = "dbfs:/sync/projects"


def run_to_end(
    api: Any,
    *,
    location: str = DBFS,
    run_name: str = "etl",
    spec: dict[str, Any] | None = None,
    project_id: str = "proj-1",
) -> Any:
    run = submit_run(
        api,
        spec or SPEC,
        TASK,
        project_id=project_id,
        project_location=location,
        run_name=run_name,
        idempotency_token=idempotency_token_for(run_name, time.monotonic_ns()),
        region="us-east-1",
    ).unwrap()
    wait_for_run(api, run.run_id, poll=FAST).unwrap()
    return run


def test_dbfs_log_is_collected_after_late_delivery(tmp_path: Path) -> None:
    with make_dbx(log_delivery_delay_s=0.6) as dbx:
        api = dbx.client()
        _dbfs_late_delivery(dbx, api, tmp_path)
        finish(dbx)


def _dbfs_late_delivery(server: LocalDatabricks, client: Any, tmp_path: Path) -> None:
    dbx, api = server, client
    run = submit_run(
        api, SPEC, TASK, project_id="proj-1", project_location=DBFS, run_name="etl", idempotency_token=None
    ).unwrap()
    partial: list[str] = []

    def snapshot(state: Any, _elapsed: float) -> None:
        # While the run terminates, only the partial delivery made while it ran is there.
        if state.life_cycle_state == "TERMINATING" and not partial:
            partial.extend(p for p in dbx.dbfs_files(run.log_destination) if "/eventlog/" in p)

    wait_for_run(api, run.run_id, poll=FAST, on_state=snapshot).unwrap()
    assert partial and not check_completeness(_copy_dbfs(dbx, partial, tmp_path / "partial")).complete
    report = get_cluster_report(api, run.run_id).unwrap()
    started_ms = time.time() * 1000
    reads_before = len(dbx.requests("dbfs/read"))

    location = collect_eventlog(
        api, report, poll=FAST, timeout_s=10, download_dir=tmp_path / "log", dbfs_chunk_bytes=4 * 1024
    ).unwrap()

    assert location.kind == "local" and location.complete and location.problems == []
    assert Path(location.url) == tmp_path / "log" / location.spark_context_id
    assert location.source.startswith(f"{run.log_destination}/{run.cluster_id}/eventlog/{run.cluster_id}_")
    names = [p.name for p in location.parts]
    assert "eventlog" in names and any(n.startswith("eventlog-") and n.endswith(".gz") for n in names)
    assert location.spark_context_id == str(report["cluster"]["spark_context_id"])
    assert min(p.modified_ms for p in location.parts) >= report["tasks"][0]["end_time"]
    assert min(p.modified_ms for p in location.parts) > started_ms  # it waited for the late delivery
    assert sorted(p.name for p in Path(location.url).iterdir()) == sorted(names)
    # Streamed in 4 KiB chunks: more reads than files.
    assert len(dbx.requests("dbfs/read")) - reads_before > len(names) + 1
    summary = summarize(location.url)
    assert summary.completeness.complete
    hints = summary.platform
    assert (hints.platform, hints.databricks_cluster_id) == ("databricks", run.cluster_id)
    assert (hints.worker_node_type, hints.num_workers) == ("m5.xlarge", 2)


def _copy_dbfs(server: LocalDatabricks, paths: list[str], target: Path) -> Path:
    target.mkdir(parents=True)
    client = server.client()

    for path in paths:
        data = client.call("GET", "2.0/dbfs/read", {"path": path, "length": 1024 * 1024}, idempotent=True)[
            "data"
        ]
        (target / path.rsplit("/", 1)[-1]).write_bytes(base64.b64decode(data))
    return target


def test_s3_log_with_rolled_parts_over_several_listing_pages(
    dbx_s3: LocalDatabricks, moto_s3: Any, bucket: str
) -> None:
    api = dbx_s3.client()
    run = run_to_end(api, location=f"s3://{bucket}/projects")
    report = get_cluster_report(api, run.run_id).unwrap()
    pages: list[int] = []
    real_paginator = moto_s3.get_paginator

    def counting_paginator(name: str) -> Any:
        paginator = real_paginator(name)
        real_paginate = paginator.paginate

        def paginate(**kwargs: Any) -> Any:
            for page in real_paginate(**kwargs):
                pages.append(len(page.get("Contents", [])))
                yield page

        paginator.paginate = paginate
        return paginator

    moto_s3.get_paginator = counting_paginator
    try:
        location = collect_eventlog(
            api, report, s3_client=moto_s3, poll=FAST, timeout_s=10, s3_page_size=2
        ).unwrap()
    finally:
        del moto_s3.get_paginator

    assert location.kind == "s3" and location.complete
    prefix = f"s3://{bucket}/projects/proj-1/{run.sync_run_id}/{run.cluster_id}/eventlog/{run.cluster_id}_"
    assert location.url.startswith(prefix) and location.url.endswith(f"/{location.spark_context_id}/")
    names = [p.name for p in location.parts]
    assert len(names) == 4 and "eventlog" in names  # three rolled parts and the current eventlog
    assert max(pages) <= 2 and len(pages) >= 3
    assert check_completeness(location.url, s3_client=moto_s3).complete
    keys = [o["Key"] for o in moto_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith("/driver/stdout") for k in keys)


@pytest.mark.parametrize(
    ("mode", "problem"),
    [("incomplete", "no SparkListenerApplicationEnd event"), ("missing_part", "missing rolled parts")],
)
def test_an_incomplete_log_is_refused_unless_allowed(tmp_path: Path, mode: str, problem: str) -> None:
    with make_dbx(rolled_parts=2) as dbx:
        api = dbx.client()
        dbx.add_run_rule("broken-*", log=mode)
        run = run_to_end(api, run_name="broken-etl")
        dbx.deliver_now(run.run_id)
        report = get_cluster_report(api, run.run_id).unwrap()

        refused = collect_eventlog(api, report, poll=FAST, timeout_s=1.0, download_dir=tmp_path / "a")
        allowed = collect_eventlog(
            api, report, poll=FAST, timeout_s=0.3, allow_incomplete=True, download_dir=tmp_path / "b"
        ).unwrap()

        assert refused.error is not None and problem in refused.error.message
        assert "allow_incomplete=True" in refused.error.message
        with pytest.raises(EventLogError):
            refused.unwrap()
        assert not allowed.complete and any(problem in p for p in allowed.problems)
        finish(dbx)


def test_no_delivery_is_a_timeout_naming_the_location(dbx: LocalDatabricks, api: Any) -> None:
    dbx.add_run_rule("silent", log="none")
    run = run_to_end(api, run_name="silent")
    report = get_cluster_report(api, run.run_id).unwrap()
    dbx.deliver_now(run.run_id)  # delivers nothing more: the mode is "none"

    response = collect_eventlog(api, report, poll=FAST, timeout_s=0.5)

    assert response.error is not None
    assert f"{run.cluster_id}/eventlog/{run.cluster_id}_*/" in response.error.message
    assert "within 0.5 s" in response.error.message and "s3:PutObject" in response.error.message
    with pytest.raises(DatabricksTimeoutError):
        response.unwrap()
    assert dbx.dbfs_files(run.log_destination) == {}


def test_a_bigger_cluster_records_a_shorter_application(
    dbx: LocalDatabricks, api: Any, tmp_path: Path
) -> None:
    durations = []
    for index, spec in enumerate([SPEC, {**SPEC, "node_type_id": "m5.2xlarge", "num_workers": 8}]):
        run = run_to_end(api, spec=spec, run_name=f"size-{index}")
        dbx.deliver_now(run.run_id)
        report = get_cluster_report(api, run.run_id).unwrap()
        location = collect_eventlog(
            api, report, poll=FAST, timeout_s=10, download_dir=tmp_path / str(index)
        ).unwrap()
        summary = summarize(location.url)
        durations.append(summary.duration_s)
        assert summary.application_name == f"size-{index}"
    assert durations[1] < durations[0] / 3
    assert durations[0] > 3600  # the small cluster ran for hours: its log rolled over


def test_record_run_from_dbfs_reaches_a_successful_prediction(
    dbx: LocalDatabricks, api: Any, sync_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    project = create_project(
        "nightly-etl", "aws-databricks", cluster_log_url=DBFS, client=sync_client
    ).unwrap()
    run = run_to_end(api, project_id=project.id)

    prediction_id = record_run(
        api, run.run_id, sync_client=sync_client, log_poll=FAST, log_timeout_s=10
    ).unwrap()

    prediction = wait_for_prediction(
        prediction_id, "economy", client=sync_client, timeout_s=30, poll=FAST
    ).unwrap()
    assert prediction.project_id == project.id and prediction.product_code == "aws-databricks"
    next_spec = cluster_spec_from_prediction(
        prediction,
        "economy",
        {**SPEC, "custom_tags": {"team": "data"}},
        project_id=project.id,
        project_location=DBFS,
    ).unwrap()
    assert next_spec["custom_tags"]["team"] == "data"
    assert next_spec["custom_tags"][RUN_ID_TAG] != run.sync_run_id
    assert next_spec["spark_conf"]["spark.sql.shuffle.partitions"] == "64"
    solution = prediction.solution("economy")
    for key in ("node_type_id", "driver_node_type_id", "num_workers"):
        assert next_spec[key] == solution.configuration[key]
    assert next_spec["cluster_log_conf"] == {
        "dbfs": {"destination": f"{DBFS}/{project.id}/{next_spec['custom_tags'][RUN_ID_TAG]}"}
    }
    assert list(scratch.iterdir()) == []  # the downloaded log was removed

    # Close the loop: the next run on the predicted cluster records about the predicted runtime.
    following = submit_run(
        api,
        next_spec,
        TASK,
        project_id=project.id,
        project_location=DBFS,
        run_name="etl",
        idempotency_token=None,
    ).unwrap()
    assert following.sync_run_id == next_spec["custom_tags"][RUN_ID_TAG]
    wait_for_run(api, following.run_id, poll=FAST).unwrap()
    dbx.deliver_now(following.run_id)
    report = get_cluster_report(api, following.run_id).unwrap()
    location = collect_eventlog(api, report, poll=FAST, timeout_s=10, download_dir=tmp_path / "next").unwrap()
    recorded_min = summarize(location.url).duration_s / 60
    assert recorded_min == pytest.approx(solution.metrics.runtime, rel=0.15)
    assert recorded_min < prediction.basis.metrics.runtime
    shutil.rmtree(tmp_path / "next")


def test_record_run_from_s3_uploads_every_part(
    dbx_s3: LocalDatabricks, moto_s3: Any, bucket: str, sync_client: Any, sync_server: Any
) -> None:
    api = dbx_s3.client()
    location = f"s3://{bucket}/projects"
    project = create_project(
        "s3-etl", "aws-databricks", cluster_log_url=location, client=sync_client
    ).unwrap()
    run = run_to_end(api, location=location, project_id=project.id)

    prediction_id = record_run(
        api, run.run_id, s3_client=moto_s3, sync_client=sync_client, log_poll=FAST, log_timeout_s=10
    ).unwrap()

    prediction = wait_for_prediction(prediction_id, client=sync_client, timeout_s=30, poll=FAST).unwrap()
    assert prediction.project_id == project.id
    stored = next(p for p in sync_server.predictions() if p["prediction_id"] == prediction_id)
    assert stored["configs"]["cluster"]["cluster_id"] == run.cluster_id
    assert stored["configs"]["plan_type"] == "Premium"


def test_record_run_refuses_a_run_that_did_not_succeed(
    dbx: LocalDatabricks, api: Any, sync_client: Any
) -> None:
    dbx.fail_next("FAILED", "bad input")
    run = submit_run(
        api, SPEC, TASK, project_id="proj-1", project_location=DBFS, run_name="x", idempotency_token=None
    ).unwrap()
    assert wait_for_run(api, run.run_id, poll=FAST).error is not None

    response = record_run(api, run.run_id, sync_client=sync_client, log_poll=FAST, log_timeout_s=1)

    assert response.error is not None
    assert "TERMINATED/FAILED: bad input" in response.error.message
    assert "Only successful runs are recorded" in response.error.message
    with pytest.raises(DatabricksError):
        response.unwrap()
