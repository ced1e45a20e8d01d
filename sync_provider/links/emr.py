"""Extra link from a task to its EMR cluster in the AWS console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

#: Console domain of each AWS partition (the commercial one is the default).
_CONSOLE_DOMAINS = {
    "aws": "aws.amazon.com",
    "aws-cn": "amazonaws.cn",
    "aws-us-gov": "amazonaws-us-gov.com",
}


def emr_cluster_console_url(cluster_id: str, region_name: str | None, partition: str | None = None) -> str:
    """Return ``https://console.aws.amazon.com/emr/home?region=<region>#/clusterDetails/<id>``.

    :param cluster_id: the EMR cluster (job flow) id.
    :param region_name: the cluster's region (``us-east-1`` when unknown).
    :param partition: the AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``; default ``aws``).
    """
    domain = _CONSOLE_DOMAINS.get(partition or "aws", _CONSOLE_DOMAINS["aws"])
    region = quote(region_name or "us-east-1", safe="-")
    return f"https://console.{domain}/emr/home?region={region}#/clusterDetails/{quote(cluster_id, safe='-')}"


class SyncEmrClusterLink(BaseOperatorLink):
    """``EMR Cluster (Sync)`` button: the cluster's page in the AWS console.

    The EMR operators and the sensor call :meth:`persist` while they run; it stores the finished URL
    in XCom under :attr:`key` (``sync_emr_cluster``), from which :meth:`get_link` reads it.
    """

    name = "EMR Cluster (Sync)"
    key: ClassVar[str] = "sync_emr_cluster"

    @classmethod
    def persist(
        cls,
        context: Context,
        operator: BaseOperator,
        *,
        cluster_id: str,
        region_name: str | None,
        partition: str | None = None,
    ) -> None:
        """Store the link of ``cluster_id`` for this task instance (no-op without XCom push).

        Failures are logged, never raised: a missing link must not fail the task.
        """
        if not operator.do_xcom_push:
            return
        try:
            url = emr_cluster_console_url(cluster_id, region_name, partition)
            context["ti"].xcom_push(
                key=cls.key, value={"cluster_id": cluster_id, "region_name": region_name, "url": url}
            )
        except Exception as exc:
            operator.log.warning("Could not store the EMR cluster link: %s", exc)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the stored URL, or ``""`` when the task stored none."""
        try:
            from airflow.sdk.execution_time.xcom import XCom

            value: Any = XCom.get_value(key=self.key, ti_key=ti_key)
        except Exception:
            return ""
        if isinstance(value, dict):
            return str(value.get("url") or "")
        return ""
