"""A retried record task does not predict the same run twice.

SyncEmrRecordRunOperator and SyncDatabricksRecordRunOperator against the AWS simulator (moto), the
local Databricks workspace and the local Sync API server: the worker dies after the prediction was
created and its event log sent, or between the create call and the upload; the retry (a new
operator instance, the same task state store — or none, as on Airflow < 3.3) adopts or replaces
the earlier prediction; a cleared task records anew. The worker also dies between Sync's answer to
the create call and keeping it: the retry finds that prediction by the creating marker.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from sync_provider.core import contract
from sync_provider.core.client import SyncClient
from sync_provider.operators._record import STATE_KEY, RecordState
from sync_provider.operators.databricks import SyncDatabricksRecordRunOperator
from sync_provider.operators.emr import SyncEmrRecordRunOperator
from sync_provider.testing.aws import AwsSimulator
from sync_provider.testing.databricks import LocalDatabricks
from tests.airflow import databricks_fixtures as dbx_fx
from tests.airflow import emr_fixtures as emr_fx
from tests.airflow.test_databricks_operators import record_op, submit_op
from tests.airflow.test_emr_operator import launch_op

pytestmark = pytest.mark.airflow

simulator, emr_project = emr_fx.simulator, emr_fx.project  # ``sim`` is tests/conftest.py's
dbx, dbx_project, fast_hook_retries = dbx_fx.dbx, dbx_fx.project, dbx_fx.fast_hook_retries
__all__ = ["dbx", "dbx_project", "emr_project", "fast_hook_retries", "simulator"]


class WorkerCrash(BaseException):
    """Stands in for the worker process dying (nothing in the task gets to clean up)."""


class CrashingTI(emr_fx.FakeTI):
    """A task instance whose worker dies when the task stores the prediction link: after
    ``record_run`` returned, i.e. after the prediction was created and its event log sent."""

    def xcom_push(self, key: str, value: Any) -> None:
        if key == "sync_prediction":
            raise WorkerCrash(value["prediction_id"])
        super().xcom_push(key, value)


def crash_the_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    """The presigned-POST upload kills the worker: the prediction exists, its log never arrives."""

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise WorkerCrash("died before the upload")

    monkeypatch.setattr("sync_provider.core.storage.upload_to_presigned_post", crash)


def project_predictions(server: Any, project_id: str) -> dict[str, dict[str, Any]]:
    return {p["prediction_id"]: p for p in server.predictions() if p["project_id"] == project_id}


def warnings_naming(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and needle in r.getMessage()
    ]


def task_log(capsys: pytest.CaptureFixture[str]) -> str:
    """What the operators logged (Airflow's task loggers write to stdout, not to ``caplog``)."""
    return capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ EMR


def finished_cluster(project: str) -> str:
    cluster_id: str = launch_op(project, wait_for_completion=True).execute(
        emr_fx.make_context(emr_fx.FakeTI(run_id="run-1"))
    )
    return cluster_id


def emr_record(cluster_id: str, **kwargs: Any) -> SyncEmrRecordRunOperator:
    return SyncEmrRecordRunOperator(task_id="record", cluster_id=cluster_id, **kwargs)


def emr_context(store: emr_fx.FakeStateStore | None, ti: emr_fx.FakeTI | None = None) -> Any:
    return emr_fx.make_context(ti or emr_fx.FakeTI(run_id="run-1", task_id="record"), store)


@pytest.mark.parametrize("upload", [False, True], ids=["presigned-url", "upload"])
@pytest.mark.parametrize("with_store", [True, False], ids=["task-state-store", "airflow-before-3.3"])
def test_emr_a_retry_after_the_log_was_sent_adopts_the_prediction(
    sim: AwsSimulator, sync_server: Any, emr_project: str, *, upload: bool, with_store: bool
) -> None:
    cluster_id = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore() if with_store else None
    with pytest.raises(WorkerCrash) as crashed:
        emr_record(cluster_id, upload=upload).execute(emr_context(store, CrashingTI(task_id="record")))
    first = str(crashed.value)
    if store is not None:
        assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": first, "done": False}

    ti = emr_fx.FakeTI(run_id="run-1", task_id="record")
    retried = emr_record(cluster_id, upload=upload).execute(emr_context(store, ti))
    assert retried == first and list(project_predictions(sync_server, emr_project)) == [first]
    assert ti.xcoms["sync_prediction"]["prediction_id"] == first
    if store is not None:
        assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": first, "done": True}


@pytest.mark.parametrize("with_store", [True, False], ids=["task-state-store", "airflow-before-3.3"])
def test_emr_a_retry_after_a_crash_before_the_upload_creates_a_new_prediction(
    sim: AwsSimulator,
    sync_server: Any,
    emr_project: str,
    *,
    with_store: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster_id = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore() if with_store else None
    with monkeypatch.context() as patched:
        crash_the_upload(patched)
        with pytest.raises(WorkerCrash):
            emr_record(cluster_id, upload=True).execute(emr_context(store))
    (abandoned,) = project_predictions(sync_server, emr_project)
    if store is not None:
        assert store.get(STATE_KEY)["prediction_id"] == abandoned

    caplog.set_level(logging.INFO)
    second = emr_record(cluster_id, upload=True).execute(emr_context(store))
    assert second != abandoned
    (warning,) = warnings_naming(caplog, abandoned)
    assert "is abandoned: it is PENDING without its event log (the upload never finished)" in warning
    predictions = project_predictions(sync_server, emr_project)
    assert set(predictions) == {abandoned, second}
    assert predictions[abandoned]["event_log"] is None and predictions[second]["event_log"]
    if store is not None:
        assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": second, "done": True}


def test_emr_a_cleared_task_records_anew_and_a_stored_prediction_of_another_cluster_is_ignored(
    sim: AwsSimulator,
    sync_server: Any,
    emr_project: str,
    *,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    cluster_id = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore()
    stale = str(uuid.uuid4())  # the upstream task was cleared: this was recorded from its old cluster
    store.set(STATE_KEY, {"cluster_id": "j-OLDCLUSTER", "prediction_id": stale, "done": False})
    first = emr_record(cluster_id).execute(emr_context(store))
    assert f"Ignoring prediction {stale} in task_state_store" in task_log(capsys)
    assert not warnings_naming(caplog, stale)  # not even looked up
    assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": first, "done": True}

    # Cleared after it finished: a new run of the task, a new prediction (not the run folder's).
    rerun = emr_record(cluster_id).execute(emr_context(store))
    assert rerun != first and set(project_predictions(sync_server, emr_project)) == {first, rerun}
    assert "was cleared: recording the run anew" in task_log(capsys)
    assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": rerun, "done": True}
    # A retry of the rerun adopts the rerun's prediction.
    store.set(STATE_KEY, {**store.get(STATE_KEY), "done": False})
    assert emr_record(cluster_id).execute(emr_context(store)) == rerun
    assert len(project_predictions(sync_server, emr_project)) == 2


# ------------------------------------------------------------------------------------------ Databricks


def finished_run(project: str) -> int:
    run_id: int = submit_op(project_id=project, wait_for_completion=True, deferrable=False).execute(
        dbx_fx.make_context()
    )
    return run_id


def dbx_context(store: dbx_fx.FakeStateStore | None, ti: Any = None) -> dict[str, Any]:
    return dbx_fx.make_context(ti or dbx_fx.FakeTI(task_id="record"), store)


def dbx_record(run_id: int) -> SyncDatabricksRecordRunOperator:
    return record_op(run_id)


@pytest.mark.parametrize("with_store", [True, False], ids=["task-state-store", "airflow-before-3.3"])
def test_databricks_a_retry_after_the_log_was_sent_adopts_the_prediction(
    dbx: LocalDatabricks, sync_server: Any, dbx_project: str, *, with_store: bool
) -> None:
    run_id = finished_run(dbx_project)
    store = dbx_fx.FakeStateStore() if with_store else None
    with pytest.raises(WorkerCrash) as crashed:
        dbx_record(run_id).execute(dbx_context(store, CrashingTI(task_id="record")))
    first = str(crashed.value)
    if store is not None:
        assert store.get(STATE_KEY) == {
            "run_id": run_id,
            "cluster_id": None,
            "prediction_id": first,
            "done": False,
        }

    listings = len(dbx.requests("dbfs/list"))
    ti = dbx_fx.FakeTI(task_id="record")
    assert dbx_record(run_id).execute(dbx_context(store, ti)) == first
    assert len(dbx.requests("dbfs/list")) == listings  # adopted without looking for the log again
    assert list(project_predictions(sync_server, dbx_project)) == [first]
    assert ti.xcoms["sync_prediction"]["prediction_id"] == first
    if store is not None:
        assert store.get(STATE_KEY)["done"] is True


def test_databricks_a_crash_before_the_upload_then_a_clear(
    dbx: LocalDatabricks,
    sync_server: Any,
    dbx_project: str,
    *,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id = finished_run(dbx_project)
    store = dbx_fx.FakeStateStore()
    with monkeypatch.context() as patched:
        crash_the_upload(patched)
        with pytest.raises(WorkerCrash):
            dbx_record(run_id).execute(dbx_context(store))
    (abandoned,) = project_predictions(sync_server, dbx_project)
    assert store.get(STATE_KEY)["prediction_id"] == abandoned

    caplog.set_level(logging.INFO)
    second = dbx_record(run_id).execute(dbx_context(store))
    assert second != abandoned
    assert "is abandoned: it is PENDING without its event log" in warnings_naming(caplog, abandoned)[0]
    assert store.get(STATE_KEY)["prediction_id"] == second and store.get(STATE_KEY)["done"] is True

    rerun = dbx_record(run_id).execute(dbx_context(store))  # cleared after it finished
    assert rerun not in (abandoned, second)
    assert set(project_predictions(sync_server, dbx_project)) == {abandoned, second, rerun}


# ---------------------------------------------- the window between the create call and keeping its answer


def crash_when_the_answer_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies right after Sync answered the create call, before the task kept the id."""

    def crash(_self: RecordState, prediction_id: str) -> None:
        raise WorkerCrash(prediction_id)

    monkeypatch.setattr(RecordState, "created", crash)


def crash_before_the_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies just before the create call is sent: Sync never hears of it."""
    real = SyncClient.request

    def request(self: SyncClient, endpoint: Any, **kwargs: Any) -> Any:
        if endpoint == contract.CREATE_PREDICTION:
            raise WorkerCrash("died before the create call was sent")
        return real(self, endpoint, **kwargs)

    monkeypatch.setattr(SyncClient, "request", request)


@pytest.mark.parametrize("with_store", [True, False], ids=["task-state-store", "airflow-before-3.3"])
def test_emr_a_crash_before_the_answer_was_kept_is_adopted_on_retry(
    sim: AwsSimulator,
    sync_server: Any,
    emr_project: str,
    *,
    with_store: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kill matrix's EMR ``recording`` crash, in process: the retry finds the prediction by the
    creating marker (in the task state store, or the run folder's file) and creates nothing."""
    cluster_id = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore() if with_store else None
    with monkeypatch.context() as patched:
        crash_when_the_answer_is_kept(patched)
        with pytest.raises(WorkerCrash) as crashed:
            emr_record(cluster_id).execute(emr_context(store))
    made = str(crashed.value)
    (stored,) = project_predictions(sync_server, emr_project).values()
    assert stored["prediction_id"] == made and stored["event_log"]
    if store is not None:
        entry = store.get(STATE_KEY)
        assert set(entry) == {"cluster_id", "creating", "done"} and entry["done"] is False
        assert entry["creating"]["event_log"] == stored["event_log"]
        assert entry["creating"]["log_sent_with_create"] is True

    caplog.set_level(logging.INFO)
    ti = emr_fx.FakeTI(run_id="run-1", task_id="record")
    assert emr_record(cluster_id).execute(emr_context(store, ti)) == made
    assert list(project_predictions(sync_server, emr_project)) == [made]
    assert ti.xcoms["sync_prediction"]["prediction_id"] == made
    assert any(m.startswith(f"Adopting Sync prediction {made}") for m in caplog.messages)
    if store is not None:
        assert "did not keep the answer: looking for the prediction it made" in task_log(capsys)
        assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": made, "done": True}


def test_emr_a_create_call_that_never_reached_sync_is_made_on_retry(
    sim: AwsSimulator, sync_server: Any, emr_project: str, *, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_id = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore()
    with monkeypatch.context() as patched:
        crash_before_the_create(patched)
        with pytest.raises(WorkerCrash):
            emr_record(cluster_id).execute(emr_context(store))
    assert project_predictions(sync_server, emr_project) == {}
    marker = store.get(STATE_KEY)["creating"]

    created = emr_record(cluster_id).execute(emr_context(store))
    (only,) = project_predictions(sync_server, emr_project).values()
    assert only["prediction_id"] == created and only["event_log"] == marker["event_log"]
    assert store.get(STATE_KEY) == {"cluster_id": cluster_id, "prediction_id": created, "done": True}


def test_emr_a_prediction_of_another_run_made_after_the_marker_is_not_adopted(
    sim: AwsSimulator, sync_server: Any, emr_project: str, *, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine_cluster = finished_cluster(emr_project)
    store = emr_fx.FakeStateStore()
    with monkeypatch.context() as patched:
        crash_before_the_create(patched)
        with pytest.raises(WorkerCrash):
            emr_record(mine_cluster).execute(emr_context(store))
    marker = store.get(STATE_KEY)["creating"]
    # Another run of the same project, recorded by another task after the marker was written.
    other_cluster = finished_cluster(emr_project)
    theirs = emr_record(other_cluster).execute(emr_context(emr_fx.FakeStateStore()))

    mine = emr_record(mine_cluster).execute(emr_context(store))
    assert mine != theirs
    names = {key: p["event_log"] for key, p in project_predictions(sync_server, emr_project).items()}
    assert set(names) == {mine, theirs} and names[mine] == marker["event_log"] != names[theirs]


def test_databricks_a_crash_before_the_answer_was_kept_leaves_an_orphan(
    dbx: LocalDatabricks,
    sync_server: Any,
    dbx_project: str,
    *,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Databricks uploads the log after the create call: that call's prediction never got it, so the
    retry creates one and warns about the orphan (the matrix counts it, as acceptable)."""
    run_id = finished_run(dbx_project)
    store = dbx_fx.FakeStateStore()
    with monkeypatch.context() as patched:
        crash_when_the_answer_is_kept(patched)
        with pytest.raises(WorkerCrash) as crashed:
            dbx_record(run_id).execute(dbx_context(store))
    orphan = str(crashed.value)
    assert store.get(STATE_KEY)["creating"]["log_sent_with_create"] is False

    caplog.set_level(logging.INFO)
    second = dbx_record(run_id).execute(dbx_context(store))
    assert second != orphan and warnings_naming(caplog, "never got its log (an orphan")
    predictions = project_predictions(sync_server, dbx_project)
    assert set(predictions) == {orphan, second}
    assert predictions[orphan]["event_log"] is None and predictions[second]["event_log"]
    assert store.get(STATE_KEY) == {
        "run_id": run_id,
        "cluster_id": None,
        "prediction_id": second,
        "done": True,
    }
