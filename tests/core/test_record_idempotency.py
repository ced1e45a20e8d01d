"""Recording a run once: the verdict on an earlier attempt's prediction, and ``record_run`` on EMR (moto
through the AWS simulator) and Databricks (the local workspace, DBFS) adopting it instead of
predicting the run twice, against the local Sync API server."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sync_provider.core import contract, emr, storage
from sync_provider.core.client import SyncClient
from sync_provider.core.databricks import record_run as record_databricks_run
from sync_provider.core.errors import EventLogError, InvalidInputError
from sync_provider.core.models import CreatedPrediction, Platform, Prediction, PredictionStatus
from sync_provider.core.predictions import create_prediction, wait_for_prediction
from sync_provider.core.projects import create_project
from sync_provider.core.recording import (
    CLOCK_SKEW,
    PREDICTION_FILE,
    PendingCreate,
    RecordedPrediction,
    check_earlier_prediction,
    event_log_basename,
    expected_event_log_name,
    find_created_prediction,
    has_event_log,
    read_record,
)
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.core import databricks_fixtures as dbx_fx
from tests.core.databricks_fixtures import finish, make_dbx
from tests.core.test_databricks_eventlogs import DBFS, run_to_end
from tests.core.test_emr import BUCKET, FAST, LOCATION, emr_client, launch, s3, simulator, wait

dbx, api = dbx_fx.dbx, dbx_fx.api  # shared fixtures
__all__ = ["api", "dbx", "emr_client", "s3", "simulator"]  # fixtures (``sim`` is tests/conftest.py's)


class WorkerCrash(BaseException):
    """Stands in for the worker process dying (nothing gets to clean up)."""


def project_predictions(server: Any, project_id: str) -> list[dict[str, Any]]:
    return [p for p in server.predictions() if p["project_id"] == project_id]


def crash_the_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next presigned-POST upload kills the worker: the prediction exists, its log never arrives."""

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise WorkerCrash("died before the upload")

    monkeypatch.setattr("sync_provider.core.storage.upload_to_presigned_post", crash)


def warnings_naming(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and needle in r.getMessage()
    ]


def crash_on_created(prediction_id: str) -> None:
    """``on_created`` of a worker that dies right after Sync answered the create call."""
    raise WorkerCrash(prediction_id)


def crash_before_the_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies just before the create call is sent: Sync never hears of it."""
    real = SyncClient.request

    def request(self: SyncClient, endpoint: Any, **kwargs: Any) -> Any:
        if endpoint == contract.CREATE_PREDICTION:
            raise WorkerCrash("died before the create call was sent")
        return real(self, endpoint, **kwargs)

    monkeypatch.setattr(SyncClient, "request", request)


class NoPredictionFile:
    """An S3 client that cannot write ``sync-prediction.json`` (and so never has one)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].endswith(PREDICTION_FILE):
            raise RuntimeError("AccessDenied")
        return self._s3.put_object(**kwargs)


def messages_starting(caplog: pytest.LogCaptureFixture, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


# -------------------------------------------------------------------------------- the adoption rule


@pytest.mark.parametrize(
    ("status", "event_log", "expected"),
    [
        ("PENDING", None, False),
        ("PENDING", "application_1.zip", True),
        ("RUNNING", None, True),
        ("SUCCESS", None, True),
        ("FAILURE", None, False),
        ("FAILURE", "application_1.zip", True),
        (None, None, False),
        ("SOMETHING_NEW", None, True),  # unknown statuses count as in progress (RUNNING)
    ],
)
def test_has_event_log(status: str | None, event_log: str | None, expected: bool) -> None:
    prediction = Prediction(prediction_id="p-1", status=status, event_log=event_log)
    assert has_event_log(prediction) is expected


@pytest.fixture
def local_log(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload, write_event_log

    workload = tiny_workload()
    return emr_cluster_report(workload), write_event_log(
        workload, tmp_path / "application_1700000000000_0001"
    )


def test_the_verdict_on_an_earlier_prediction(
    sync_client: Any, local_log: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    report, eventlog = local_log
    project = create_project("verdicts", "aws-emr", client=sync_client).unwrap().id
    other = create_project("other", "aws-emr", client=sync_client).unwrap().id

    # Created, but its upload never happened: PENDING without a log.
    created = sync_client.request(
        contract.CREATE_PREDICTION,
        json=contract.create_prediction_body(Platform.AWS_EMR, report, project_id=project),
    )
    pending = str(created["prediction_id"])
    verdict = check_earlier_prediction(pending, project_id=project, client=sync_client).unwrap()
    assert not verdict.adopt and verdict.status is PredictionStatus.PENDING
    assert "without its event log" in verdict.reason
    # Had the create call carried the log's URL, Sync would fetch it: adopt.
    assert check_earlier_prediction(pending, log_sent_with_create=True, client=sync_client).unwrap().adopt

    uploaded = create_prediction("aws-emr", report, eventlog, project_id=project, client=sync_client).unwrap()
    verdict = check_earlier_prediction(uploaded, project_id=project, client=sync_client).unwrap()
    assert verdict.adopt and "has its event log" in verdict.reason
    verdict = check_earlier_prediction(uploaded, project_id=other, client=sync_client).unwrap()
    assert not verdict.adopt and f"belongs to project {project}" in verdict.reason

    # Sync failed to predict from this very log: it would fail again, so it is adopted.
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a Spark event log\n")
    answer = sync_client.request(
        contract.CREATE_PREDICTION, json=contract.create_prediction_body(Platform.AWS_EMR, report)
    )
    created_junk = CreatedPrediction.model_validate(answer)
    assert created_junk.upload_details is not None
    with storage.open_upload_source(junk) as (filename, stream):
        storage.upload_to_presigned_post(created_junk.upload_details, filename, stream)
    failed = created_junk.prediction_id
    assert wait_for_prediction(failed, timeout_s=30, poll=FAST, client=sync_client).error is not None
    verdict = check_earlier_prediction(failed, client=sync_client).unwrap()
    assert verdict.adopt and verdict.status is PredictionStatus.FAILURE

    unknown = check_earlier_prediction(str(uuid.uuid4()), client=sync_client).unwrap()
    assert not unknown.adopt and unknown.status is None and "404" in unknown.reason
    response = check_earlier_prediction("../etc", client=sync_client)
    assert response.error is not None and response.error.kind == InvalidInputError.__name__


# ------------------------------------------------------------------------------------------------ EMR


def emr_run(emr_client: Any, s3: Any, sync_client: Any) -> tuple[str, emr.LaunchedRun]:
    project = create_project("once", "aws-emr", cluster_log_url=LOCATION, client=sync_client).unwrap().id
    run = launch(emr_client, s3, project_id=project)
    wait(emr_client, run.cluster_id).unwrap()
    return project, run


def recorded_file(s3: Any, run: emr.LaunchedRun) -> dict[str, Any]:
    key = run.run_prefix.removeprefix(f"s3://{BUCKET}/") + PREDICTION_FILE
    data: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return data


@pytest.mark.parametrize("upload", [False, True], ids=["presigned-url", "upload"])
def test_emr_a_second_record_run_adopts_the_first_prediction(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    upload: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    seen: list[tuple[str, Any]] = []

    def on_created(prediction_id: str) -> None:
        (record,) = [p for p in sync_server.predictions() if p["prediction_id"] == prediction_id]
        seen.append((prediction_id, record["eventlog_path"]))

    first = emr.record_run(
        emr_client, s3, run.cluster_id, upload=upload, sync_client=sync_client, on_created=on_created
    ).unwrap()
    assert [prediction_id for prediction_id, _ in seen] == [first]
    if upload:  # reported before the upload (a URL goes with the create call: Sync may fetch it at once)
        assert seen[0][1] is None
    recorded = RecordedPrediction.model_validate(recorded_file(s3, run))
    assert (recorded.prediction_id, recorded.cluster_id, recorded.project_id) == (
        first,
        run.cluster_id,
        project,
    )
    assert recorded.platform is Platform.AWS_EMR and recorded.run_id is None

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        again = emr.record_run(
            emr_client, s3, run.cluster_id, upload=upload, sync_client=sync_client
        ).unwrap()
    assert again == first and len(project_predictions(sync_server, project)) == 1
    assert any(f"Adopting Sync prediction {first}" in r.getMessage() for r in caplog.records)

    # A deliberate second recording: adopt_recorded=False creates a new one, and the file names it.
    anew = emr.record_run(
        emr_client, s3, run.cluster_id, sync_client=sync_client, adopt_recorded=False
    ).unwrap()
    assert anew != first and len(project_predictions(sync_server, project)) == 2
    assert recorded_file(s3, run)["prediction_id"] == anew
    # The caller's own record of an earlier attempt is honoured even then.
    kept = emr.record_run(
        emr_client,
        s3,
        run.cluster_id,
        sync_client=sync_client,
        existing_prediction_id=first,
        adopt_recorded=False,
    ).unwrap()
    assert kept == first and len(project_predictions(sync_server, project)) == 2


def test_emr_a_prediction_whose_upload_never_happened_is_abandoned(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    created: list[str] = []
    with monkeypatch.context() as patched:
        crash_the_upload(patched)
        with pytest.raises(WorkerCrash):
            emr.record_run(
                emr_client,
                s3,
                run.cluster_id,
                upload=True,
                sync_client=sync_client,
                on_created=created.append,
            )
    (abandoned,) = created
    assert recorded_file(s3, run)["prediction_id"] == abandoned

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        second = emr.record_run(emr_client, s3, run.cluster_id, upload=True, sync_client=sync_client).unwrap()
    assert second != abandoned
    (warning,) = warnings_naming(caplog, abandoned)
    assert "is abandoned: it is PENDING without its event log (the upload never finished)" in warning
    states = {p["prediction_id"]: p["event_log"] for p in project_predictions(sync_server, project)}
    assert set(states) == {abandoned, second} and states[abandoned] is None and states[second]
    assert recorded_file(s3, run)["prediction_id"] == second
    prediction = wait_for_prediction(second, timeout_s=30, poll=FAST, client=sync_client).unwrap()
    assert prediction.status == "SUCCESS"


def test_emr_a_record_of_another_cluster_is_ignored_and_a_failed_write_only_warns(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    key = run.run_prefix.removeprefix(f"s3://{BUCKET}/") + PREDICTION_FILE
    stranger = {
        "prediction_id": str(uuid.uuid4()),
        "platform": "aws-emr",
        "cluster_id": "j-OTHER",
        "created_at": "2024-01-01T00:00:00Z",
    }
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(stranger).encode())

    class NoWrites:
        """The S3 client, refusing to write sync-prediction.json."""

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def put_object(self, **kwargs: Any) -> Any:
            if kwargs["Key"].endswith(PREDICTION_FILE):
                raise RuntimeError("AccessDenied")
            return s3.put_object(**kwargs)

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        prediction_id = emr.record_run(
            emr_client, NoWrites(), run.cluster_id, sync_client=sync_client
        ).unwrap()
    assert [p["prediction_id"] for p in project_predictions(sync_server, project)] == [prediction_id]
    messages = [r.getMessage() for r in caplog.records]
    assert any("of cluster j-OTHER, not of EMR cluster" in m for m in messages)
    assert warnings_naming(caplog, f"Could not save s3://{BUCKET}/{key} naming prediction {prediction_id}")
    assert recorded_file(s3, run) == stranger  # unchanged


# ------------------------------------------------------------------------------------------ Databricks


def test_databricks_a_second_record_run_adopts_without_waiting_for_the_log(
    dbx: LocalDatabricks,
    *,
    api: Any,
    sync_client: Any,
    sync_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = create_project("once", "aws-databricks", cluster_log_url=DBFS, client=sync_client).unwrap().id
    run = run_to_end(api, project_id=project)
    options: dict[str, Any] = {"sync_client": sync_client, "log_poll": FAST, "log_timeout_s": 10}

    created: list[str] = []
    with monkeypatch.context() as patched:
        crash_the_upload(patched)
        with pytest.raises(WorkerCrash):
            record_databricks_run(api, run.run_id, on_created=created.append, **options)
    (abandoned,) = created
    url = f"{run.log_destination}/{PREDICTION_FILE}"
    assert url == f"{DBFS}/{project}/{run.sync_run_id}/{PREDICTION_FILE}"
    recorded = read_record(url, api=api)
    assert recorded is not None and recorded.prediction_id == abandoned

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        first = record_databricks_run(api, run.run_id, **options).unwrap()
    assert first != abandoned
    assert "is abandoned: it is PENDING without its event log" in warnings_naming(caplog, abandoned)[0]
    wait_for_prediction(first, timeout_s=30, poll=FAST, client=sync_client).unwrap()

    listings = len(dbx.requests("dbfs/list"))
    again = record_databricks_run(api, run.run_id, **options).unwrap()
    assert again == first
    assert len(dbx.requests("dbfs/list")) == listings  # adopted before looking for the log
    assert {p["prediction_id"] for p in project_predictions(sync_server, project)} == {abandoned, first}
    record = read_record(url, api=api)
    (stored,) = [p for p in sync_server.predictions() if p["prediction_id"] == first]
    assert record is not None and record.platform is Platform.AWS_DATABRICKS
    assert (record.prediction_id, record.run_id, record.project_id) == (first, str(run.run_id), project)
    assert record.cluster_id == stored["configs"]["cluster"]["cluster_id"]


# ---------------------------------------------- the window between the create call and keeping its answer


@pytest.mark.parametrize(
    ("eventlog", "upload", "name"),
    [
        ("s3://b/emr/p/r/eventlog/application_1700000000000_0001", False, "application_1700000000000_0001"),
        (
            "s3://b/e/application_1700000000000_0001.lz4.inprogress",
            False,
            "application_1700000000000_0001.lz4.inprogress",
        ),
        ("s3://b/e/application_1700000000000_0001.zstd", True, "application_1700000000000_0001.zstd"),
        (
            "s3://b/e/eventlog_v2_application_1700000000000_0001/",
            True,
            "eventlog_v2_application_1700000000000_0001.zip",
        ),
        ("https://h.example/b/app%2B1.gz?X-Amz-Signature=abc", False, "app+1.gz"),
    ],
)
def test_the_name_sync_will_show_for_a_log(eventlog: str, upload: bool, name: str) -> None:
    assert expected_event_log_name(eventlog, upload=upload) == name


def test_the_name_of_an_uploaded_local_log(tmp_path: Path) -> None:
    folder = tmp_path / "1599518995754115354"
    folder.mkdir()
    (folder / "eventlog").write_text("{}\n")
    assert expected_event_log_name(folder, upload=True) == "1599518995754115354.zip"
    assert expected_event_log_name(folder / "eventlog", upload=True) == "eventlog"
    assert event_log_basename("a/b\\c.zip") == event_log_basename("https://h/x/c.zip?q=1") == "c.zip"


def test_the_record_file_format_stays_readable_and_takes_a_marker() -> None:
    legacy = {
        "prediction_id": str(uuid.uuid4()),
        "platform": "aws-emr",
        "cluster_id": "j-1",
        "project_id": None,
        "created_at": "2024-01-01T00:00:00Z",
    }
    record = RecordedPrediction.model_validate(legacy)
    assert record.prediction_id == legacy["prediction_id"] and record.creating is None

    marker = PendingCreate(started_at=datetime(2024, 1, 1), event_log="s3://b/k/application_1_0001")
    assert marker.started_at.tzinfo is UTC and marker.event_log == "application_1_0001"
    marked = RecordedPrediction(platform=Platform.AWS_EMR, cluster_id="j-1", creating=marker)
    again = RecordedPrediction.model_validate(json.loads(marked.model_dump_json()))
    assert again.prediction_id is None and again.creating == marker
    with pytest.raises(ValidationError, match="prediction_id or a creating marker"):
        RecordedPrediction.model_validate({"platform": "aws-emr", "cluster_id": "j-1"})


@pytest.mark.parametrize("kept_by", ["run-folder", "caller"])
def test_emr_a_crash_between_the_create_answer_and_keeping_it_adopts_that_prediction(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    kept_by: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kill matrix's EMR ``recording`` crash: Sync answered (and, in URL mode, has the log), the
    worker died before the id was kept anywhere. The retry finds the prediction by its marker."""
    project, run = emr_run(emr_client, s3, sync_client)
    storage_client = s3 if kept_by == "run-folder" else NoPredictionFile(s3)
    markers: list[PendingCreate] = []
    with pytest.raises(WorkerCrash) as crashed:
        emr.record_run(
            emr_client,
            storage_client,
            run.cluster_id,
            sync_client=sync_client,
            on_creating=markers.append,
            on_created=crash_on_created,
        )
    made = str(crashed.value)
    (marker,) = markers
    assert marker.log_sent_with_create and marker.event_log.startswith("application_")
    (stored,) = project_predictions(sync_server, project)
    assert stored["prediction_id"] == made and stored["event_log"] == marker.event_log
    if kept_by == "run-folder":
        recorded = RecordedPrediction.model_validate(recorded_file(s3, run))
        assert recorded.prediction_id is None and recorded.creating == marker
    else:
        with pytest.raises(s3.exceptions.NoSuchKey):
            recorded_file(s3, run)

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        again = emr.record_run(
            emr_client,
            storage_client,
            run.cluster_id,
            sync_client=sync_client,
            pending_create=marker if kept_by == "caller" else None,
        ).unwrap()
    assert again == made
    assert [p["prediction_id"] for p in project_predictions(sync_server, project)] == [made]
    (message,) = messages_starting(caplog, f"Adopting Sync prediction {made}")
    assert "died before keeping Sync's answer" in message and f"({marker.event_log})" in message
    if kept_by == "run-folder":
        assert recorded_file(s3, run)["prediction_id"] == made  # the next retry needs no search
    prediction = wait_for_prediction(made, timeout_s=30, poll=FAST, client=sync_client).unwrap()
    assert prediction.status == "SUCCESS"


def test_emr_a_create_call_that_never_reached_sync_is_made_on_retry(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    with monkeypatch.context() as patched:
        crash_before_the_create(patched)
        with pytest.raises(WorkerCrash):
            emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client)
    assert project_predictions(sync_server, project) == []
    marker = RecordedPrediction.model_validate(recorded_file(s3, run)).creating
    assert marker is not None

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        created = emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client).unwrap()
    (only,) = project_predictions(sync_server, project)
    assert only["prediction_id"] == created and only["event_log"] == marker.event_log
    assert any("so the call did not make one. Creating a prediction." in m for m in caplog.messages)
    assert recorded_file(s3, run)["prediction_id"] == created


def test_emr_a_prediction_of_another_run_is_not_adopted(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    with monkeypatch.context() as patched:
        crash_before_the_create(patched)
        with pytest.raises(WorkerCrash):
            emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client)
    marker = RecordedPrediction.model_validate(recorded_file(s3, run)).creating
    assert marker is not None
    # Another run of the same project is recorded after the marker (with its own log).
    other = launch(emr_client, s3, project_id=project)
    wait(emr_client, other.cluster_id).unwrap()
    theirs = emr.record_run(emr_client, s3, other.cluster_id, sync_client=sync_client).unwrap()

    mine = emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client).unwrap()
    assert mine != theirs
    names = {p["prediction_id"]: p["event_log"] for p in project_predictions(sync_server, project)}
    assert set(names) == {mine, theirs}
    assert names[mine] == marker.event_log != names[theirs]


def test_emr_an_upload_mode_create_whose_answer_was_lost_is_not_searched_for(
    sim: AwsSimulator,
    *,
    emr_client: Any,
    s3: Any,
    sync_client: Any,
    sync_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Uploaded after the create call, the log never reached that call's prediction: an orphan."""
    project, run = emr_run(emr_client, s3, sync_client)
    markers: list[PendingCreate] = []
    with pytest.raises(WorkerCrash) as crashed:
        emr.record_run(
            emr_client,
            s3,
            run.cluster_id,
            upload=True,
            sync_client=sync_client,
            on_creating=markers.append,
            on_created=crash_on_created,
        )
    orphan = str(crashed.value)
    (marker,) = markers
    assert not marker.log_sent_with_create

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        second = emr.record_run(emr_client, s3, run.cluster_id, upload=True, sync_client=sync_client).unwrap()
    assert second != orphan
    (warning,) = warnings_naming(caplog, "never got its log (an orphan")
    assert marker.event_log in warning and f"of project {project}" in warning
    names = {p["prediction_id"]: p["event_log"] for p in project_predictions(sync_server, project)}
    assert names == {orphan: None, second: marker.event_log}  # the marker named the uploaded file


def test_find_created_prediction_by_time_and_event_log(
    sim: AwsSimulator, *, emr_client: Any, s3: Any, sync_client: Any, sync_server: Any
) -> None:
    project, run = emr_run(emr_client, s3, sync_client)
    made = emr.record_run(emr_client, s3, run.cluster_id, sync_client=sync_client).unwrap()
    (stored,) = project_predictions(sync_server, project)
    name = str(stored["event_log"])
    now = datetime.now(UTC)
    elsewhere = create_project("elsewhere", "aws-emr", client=sync_client).unwrap().id

    def find(started_at: datetime, event_log: str = name, **options: Any) -> str | None:
        options.setdefault("project_id", project)
        marker = PendingCreate(started_at=started_at, event_log=event_log, log_sent_with_create=True)
        search = find_created_prediction(marker, client=sync_client, **options).unwrap()
        return search.prediction.prediction_id if search.prediction is not None else None

    assert find(now - timedelta(seconds=30)) == made
    assert find(now - timedelta(seconds=30), platform="aws-emr") == made
    assert find(now - timedelta(seconds=30), f"s3://{BUCKET}/some/prefix/{name}") == made
    assert find(now + CLOCK_SKEW - timedelta(seconds=20)) == made  # Sync's clock may be behind
    assert find(now + CLOCK_SKEW + timedelta(seconds=30)) is None  # created before the marker
    assert find(now - timedelta(seconds=30), "application_1_0001") is None
    assert find(now - timedelta(seconds=30), exclude=[made]) is None
    assert find(now - timedelta(seconds=30), platform="aws-databricks") is None
    assert find(now - timedelta(seconds=30), project_id=elsewhere) is None


def test_databricks_a_crash_between_the_create_answer_and_keeping_it_leaves_an_orphan(
    dbx: LocalDatabricks,
    *,
    api: Any,
    sync_client: Any,
    sync_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Databricks uploads the log after the create call: the lost call's prediction never gets it,
    and the retry creates one (warning about the orphan) instead of matching uploads by name."""
    project = create_project("once", "aws-databricks", cluster_log_url=DBFS, client=sync_client).unwrap().id
    run = run_to_end(api, project_id=project)
    options: dict[str, Any] = {"sync_client": sync_client, "log_poll": FAST, "log_timeout_s": 10}
    markers: list[PendingCreate] = []
    with pytest.raises(WorkerCrash) as crashed:
        record_databricks_run(
            api, run.run_id, on_creating=markers.append, on_created=crash_on_created, **options
        )
    orphan = str(crashed.value)
    (marker,) = markers
    recorded = read_record(f"{run.log_destination}/{PREDICTION_FILE}", api=api)
    assert recorded is not None and recorded.creating == marker and recorded.prediction_id is None

    with caplog.at_level(logging.INFO, logger="sync_provider"):
        second = record_databricks_run(api, run.run_id, **options).unwrap()
    assert second != orphan
    assert warnings_naming(caplog, "never got its log (an orphan")
    names = {p["prediction_id"]: p["event_log"] for p in project_predictions(sync_server, project)}
    assert names == {orphan: None, second: marker.event_log}
    assert marker.event_log.endswith(".zip")  # the log's parts, zipped under the Spark context id


@pytest.mark.parametrize("mode", ["missing_part", "incomplete"])
def test_databricks_record_run_uploads_an_incomplete_log_when_allowed(
    sync_client: Any, sync_server: Any, mode: str
) -> None:
    with make_dbx(rolled_parts=2) as server:
        api = server.client()
        server.add_run_rule("broken-*", log=mode)
        project = create_project("broken", "aws-databricks", cluster_log_url=DBFS, client=sync_client)
        run = run_to_end(api, run_name="broken-etl", project_id=project.unwrap().id)
        server.deliver_now(run.run_id)
        options: dict[str, Any] = {"sync_client": sync_client, "log_poll": FAST, "log_timeout_s": 0.5}

        refused = record_databricks_run(api, run.run_id, **options)
        assert refused.error is not None and refused.error.kind == EventLogError.__name__
        assert "allow_incomplete=True" in refused.error.message
        prediction_id = record_databricks_run(api, run.run_id, allow_incomplete=True, **options).unwrap()
        (stored,) = sync_server.predictions()
        assert stored["prediction_id"] == prediction_id and stored["event_log"]
        finish(server)
