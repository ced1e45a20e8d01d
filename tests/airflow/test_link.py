"""SyncPredictionLink: persisted at run time, read back from XCom."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from sync_provider.links.sync import SyncPredictionLink
from sync_provider.operators.sync import SyncCreatePredictionOperator, SyncGetPredictionOperator
from sync_provider.sensors.sync import SyncPredictionSensor
from tests.airflow.conftest import FakeTI

pytestmark = pytest.mark.airflow

XCOM_GET = "airflow.sdk.execution_time.xcom.XCom.get_value"


def operator(**kwargs: Any) -> SyncGetPredictionOperator:
    return SyncGetPredictionOperator(task_id="get", prediction_id="p", **kwargs)


def test_every_task_class_carries_the_link() -> None:
    for cls in (SyncCreatePredictionOperator, SyncGetPredictionOperator, SyncPredictionSensor):
        assert [type(link) for link in cls.operator_extra_links] == [SyncPredictionLink]
    assert SyncPredictionLink().name == "Sync Prediction"
    assert SyncPredictionLink.key == "sync_prediction"


def test_persist_stores_the_url(context: Any, ti: FakeTI) -> None:
    SyncPredictionLink.persist(context, operator(), prediction_id="abc-1", app_url="https://app.example.com/")
    assert ti.xcoms == {
        "sync_prediction": {"prediction_id": "abc-1", "url": "https://app.example.com/predictions/abc-1"}
    }


def test_persist_respects_do_xcom_push(context: Any, ti: FakeTI) -> None:
    SyncPredictionLink.persist(context, operator(do_xcom_push=False), prediction_id="a", app_url="https://x")
    assert ti.xcoms == {}


def test_persist_never_fails_the_task(context: Any, ti: FakeTI) -> None:
    op = operator()
    with mock.patch.object(op.log, "warning") as warning:
        SyncPredictionLink.persist(context, op, prediction_id="../bad", app_url="https://x")
    assert ti.xcoms == {}
    warning.assert_called_once()


def test_get_link_reads_xcom() -> None:
    ti_key = mock.Mock()
    stored = {"prediction_id": "abc-1", "url": "https://app.example.com/predictions/abc-1"}
    with mock.patch(XCOM_GET, return_value=stored) as get_value:
        assert SyncPredictionLink().get_link(operator(), ti_key=ti_key) == stored["url"]
    get_value.assert_called_once_with(key="sync_prediction", ti_key=ti_key)


@pytest.mark.parametrize("stored", [None, "not-a-dict", {"prediction_id": "x"}])
def test_get_link_without_a_stored_link_is_empty(stored: Any) -> None:
    with mock.patch(XCOM_GET, return_value=stored):
        assert SyncPredictionLink().get_link(operator(), ti_key=mock.Mock()) == ""


def test_get_link_swallows_xcom_errors() -> None:
    with mock.patch(XCOM_GET, side_effect=RuntimeError("no supervisor")):
        assert SyncPredictionLink().get_link(operator(), ti_key=mock.Mock()) == ""


def test_console_link_url() -> None:
    from sync_provider.links.emr import SyncEmrClusterLink, emr_cluster_console_url

    assert (
        emr_cluster_console_url("j-2AXXXXXXGAPLF", "eu-west-1")
        == "https://console.aws.amazon.com/emr/home?region=eu-west-1#/clusterDetails/j-2AXXXXXXGAPLF"
    )
    assert emr_cluster_console_url("j-1", "cn-north-1", "aws-cn").startswith("https://console.amazonaws.cn/")
    assert emr_cluster_console_url("j-1", None).endswith("?region=us-east-1#/clusterDetails/j-1")
    assert SyncEmrClusterLink.name == "EMR Cluster (Sync)" and SyncEmrClusterLink.key == "sync_emr_cluster"
