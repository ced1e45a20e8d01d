"""SyncCreatePredictionOperator and SyncGetPredictionOperator: execute() against the local Sync API server."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from sync_provider.hooks.sync import DEFER_TIMEOUT_GRACE_S
from sync_provider.operators.sync import SyncCreatePredictionOperator, SyncGetPredictionOperator
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY
from sync_provider.triggers.sync import SyncPredictionTrigger
from tests.airflow.conftest import (
    FakeTI,
    create_pending_prediction,
    create_prediction,
    wait_until_finished,
)

pytestmark = pytest.mark.airflow


def create_op(**kwargs: Any) -> SyncCreatePredictionOperator:
    values: dict[str, Any] = {"task_id": "create", "platform": "aws-emr", "poll_interval": 0.05}
    values.update(kwargs)
    return SyncCreatePredictionOperator(**values)


# -- construction -----------------------------------------------------------------------------------


def test_init_only_stores_arguments() -> None:
    # Templated values are not validated (or even looked at) before execute().
    op = create_op(platform="{{ params.p }}", cluster_report="{{ ti.xcom_pull('x') }}", eventlog="{{ x }}")
    assert op.platform == "{{ params.p }}"
    get = SyncGetPredictionOperator(task_id="get", prediction_id="{{ x }}", preference="{{ params.pref }}")
    assert get.preference == "{{ params.pref }}"


def test_template_fields_cover_every_conn_id_and_input() -> None:
    assert set(SyncCreatePredictionOperator.template_fields) >= {
        "platform",
        "cluster_report",
        "eventlog",
        "project_id",
        "sync_conn_id",
        "aws_conn_id",
    }
    assert set(SyncGetPredictionOperator.template_fields) == {"prediction_id", "preference", "sync_conn_id"}
    assert SyncCreatePredictionOperator.template_fields_renderers == {"cluster_report": "json"}
    ops = [
        create_op(cluster_report={}, eventlog="x"),
        SyncGetPredictionOperator(task_id="get", prediction_id="p"),
    ]
    for op in ops:
        for name in op.template_fields:
            assert hasattr(op, name)


# -- create ----------------------------------------------------------------------------------------


def test_create_uploads_a_local_log(
    sync_conn: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any, ti: FakeTI
) -> None:
    prediction_id = create_op(cluster_report=cluster_report, eventlog=str(eventlog)).execute(context)
    (record,) = sync_conn.predictions()
    assert record["prediction_id"] == prediction_id
    assert record["configs"] == cluster_report
    assert sync_conn.stats.uploads_received == 1
    assert ti.xcoms["sync_prediction"] == {
        "prediction_id": prediction_id,
        "url": f"{sync_conn.url}/predictions/{prediction_id}",
    }


def test_templated_json_string_cluster_report_is_parsed_in_execute(
    sync_conn: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    op = create_op(cluster_report="{{ report_json }}", eventlog="{{ log_path }}", project_id=None)
    values: Any = {"report_json": json.dumps(cluster_report), "log_path": str(eventlog)}
    op.render_template_fields(values)
    assert isinstance(op.cluster_report, str)
    op.execute(context)
    assert sync_conn.predictions()[0]["configs"] == cluster_report


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"platform": "gcp"}, "platform: Unknown platform 'gcp'"),
        ({"cluster_report": "{not json"}, "cluster_report is a string but not valid JSON"),
        ({"cluster_report": "[1, 2]"}, "cluster_report must be a non-empty JSON object"),
        ({"cluster_report": {}}, "cluster_report must be a non-empty JSON object"),
        ({"eventlog": ""}, "eventlog is empty"),
        ({"project_id": "../etc"}, "project_id '../etc' is not a valid identifier"),
        ({"upload": False}, "is a local path; it can only be uploaded"),
        ({"eventlog": "ftp://host/log"}, "scheme 'ftp' is not supported"),
        ({"eventlog": "/nonexistent/eventlog"}, "does not exist"),
    ],
)
def test_create_refuses_bad_input_naming_it(
    sync_conn: Any,
    *,
    eventlog: Path,
    cluster_report: dict[str, Any],
    context: Any,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    values: dict[str, Any] = {"cluster_report": cluster_report, "eventlog": str(eventlog)}
    values.update(kwargs)
    with pytest.raises(AirflowException, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        create_op(**values).execute(context)
    assert sync_conn.predictions() == []


def test_create_and_wait_blocking(
    sync_conn: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    op = create_op(cluster_report=cluster_report, eventlog=str(eventlog), wait_for_completion=True)
    prediction_id = op.execute(context)
    assert sync_conn.predictions()[0]["status"] == "SUCCESS"
    assert prediction_id == sync_conn.predictions()[0]["prediction_id"]


def test_create_and_wait_blocking_fails_with_syncs_message(
    sync_conn: Any, not_a_log: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    op = create_op(cluster_report=cluster_report, eventlog=str(not_a_log), wait_for_completion=True)
    with pytest.raises(AirflowException, match=r"Prediction Error: Prediction \S+ failed: ") as info:
        op.execute(context)
    assert sync_conn.predictions()[0]["status_message"] in str(info.value)


def test_create_deferrable_defers_with_trigger_kwargs_and_timeout(
    sync_conn: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any, ti: FakeTI
) -> None:
    op = create_op(
        cluster_report=cluster_report,
        eventlog=str(eventlog),
        wait_for_completion=True,
        deferrable=True,
        poll_interval=3,
        max_poll_interval=45,
        timeout=600,
        sync_conn_id="sync_default",
    )
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    deferred = info.value
    assert isinstance(deferred.trigger, SyncPredictionTrigger)
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=600 + DEFER_TIMEOUT_GRACE_S)
    _, kwargs = deferred.trigger.serialize()
    prediction_id = ti.xcoms["sync_prediction"]["prediction_id"]
    assert kwargs["end_time"] == pytest.approx(time.time() + 600, abs=5)
    assert kwargs == {
        "prediction_id": prediction_id,
        "sync_conn_id": "sync_default",
        "poll_interval": 3.0,
        "max_poll_interval": 45.0,
        "end_time": kwargs["end_time"],
    }


def test_create_without_waiting_never_defers(
    sync_conn: Any, eventlog: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    op = create_op(cluster_report=cluster_report, eventlog=str(eventlog), deferrable=True)
    assert op.execute(context) == sync_conn.predictions()[0]["prediction_id"]


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"status": "failure", "prediction_id": "p", "message": "Prediction p failed: bad log"}, "bad log"),
        ({"status": "timeout", "prediction_id": "p", "message": "Prediction p was still RUNNING"}, "RUNNING"),
        ({"status": "error", "prediction_id": "p", "message": "Prediction p: Not Found"}, "Not Found"),
        ({"status": "success"}, "status 'success'"),
        (None, "resumed without a trigger event"),
    ],
)
def test_execute_complete_raises_on_anything_but_success(
    context: Any, event: dict[str, Any] | None, fragment: str
) -> None:
    with pytest.raises(AirflowException, match=fragment):
        create_op(cluster_report={}, eventlog="x").execute_complete(context, event)


def test_execute_complete_returns_the_id(context: Any) -> None:
    event = {"status": "success", "prediction_id": "p-1", "message": "ok"}
    assert create_op(cluster_report={}, eventlog="x").execute_complete(context, event) == "p-1"


def test_create_from_s3_presigns_with_the_aws_connection(
    sync_conn: Any,
    eventlog: Path,
    cluster_report: dict[str, Any],
    context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_LOGS",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": SIMULATOR_ACCESS_KEY_ID,
                    "password": SIMULATOR_SECRET_ACCESS_KEY,
                    "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
                }
            ),
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=SIMULATOR_ACCESS_KEY_ID,
            aws_secret_access_key=SIMULATOR_SECRET_ACCESS_KEY,
        )
        s3.create_bucket(Bucket="logs")
        s3.upload_file(str(eventlog), "logs", "runs/1/eventlog/app")
        op = create_op(
            cluster_report=cluster_report,
            eventlog="s3://logs/runs/1/eventlog/app",
            aws_conn_id="aws_logs",
            wait_for_completion=True,
        )
        op.execute(context)
        (record,) = sync_conn.predictions()
        assert record["source"] == "url" and record["status"] == "SUCCESS"
        assert record["eventlog_url"].startswith(endpoint + "/logs/runs/1/eventlog/app?")
    finally:
        server.stop()


# -- get -------------------------------------------------------------------------------------------


def test_get_returns_the_configuration_and_pushes_metrics(
    sync_conn: Any,
    *,
    sync_client: Any,
    eventlog: Path,
    cluster_report: dict[str, Any],
    context: Any,
    ti: FakeTI,
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    stored = sync_conn.predictions()[0]
    op = SyncGetPredictionOperator(task_id="get", prediction_id=prediction_id, preference=" Balanced ")
    configuration = op.execute(context)
    assert configuration == stored["all_solutions"]["balanced"]["configuration"]
    assert ti.xcoms["solution_metrics"] == stored["all_solutions"]["balanced"]["metrics"]
    assert ti.xcoms["basis_metrics"] == stored["basis"]["metrics"]
    assert ti.xcoms["sync_prediction"]["prediction_id"] == prediction_id
    assert set(ti.xcoms["solution_metrics"]) >= {"runtime", "cost"}


def test_get_refuses_a_bad_preference(context: Any) -> None:
    op = SyncGetPredictionOperator(task_id="get", prediction_id="abc", preference="cheapest")
    with pytest.raises(AirflowException, match="preference: Unknown preference 'cheapest'; choose one of"):
        op.execute(context)
    with pytest.raises(AirflowException, match="preference is empty"):
        SyncGetPredictionOperator(task_id="get", prediction_id="abc", preference="").execute(context)


def test_get_refuses_an_unfinished_prediction(
    sync_conn: Any, sync_client: Any, cluster_report: dict[str, Any], context: Any
) -> None:
    prediction_id = create_pending_prediction(sync_client, cluster_report)
    op = SyncGetPredictionOperator(task_id="get", prediction_id=prediction_id)
    with pytest.raises(AirflowException, match=f"Prediction {prediction_id} is PENDING, not SUCCESS"):
        op.execute(context)


def test_get_reports_a_failed_prediction_with_syncs_message(
    sync_conn: Any, sync_client: Any, not_a_log: Path, cluster_report: dict[str, Any], context: Any
) -> None:
    prediction_id = create_prediction(sync_client, not_a_log, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    message = sync_conn.predictions()[0]["status_message"]
    op = SyncGetPredictionOperator(task_id="get", prediction_id=prediction_id)
    with pytest.raises(AirflowException, match="is FAILURE, not SUCCESS") as info:
        op.execute(context)
    assert message in str(info.value)


def test_get_unknown_prediction(sync_conn: Any, context: Any) -> None:
    op = SyncGetPredictionOperator(task_id="get", prediction_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(AirflowException, match="Not Found"):
        op.execute(context)


def test_get_does_not_push_extras_without_xcom_push(
    sync_conn: Any,
    *,
    sync_client: Any,
    eventlog: Path,
    cluster_report: dict[str, Any],
    context: Any,
    ti: FakeTI,
) -> None:
    prediction_id = create_prediction(sync_client, eventlog, cluster_report)
    wait_until_finished(sync_client, prediction_id)
    op = SyncGetPredictionOperator(task_id="get", prediction_id=prediction_id, do_xcom_push=False)
    assert op.execute(context)
    assert ti.xcoms == {}
