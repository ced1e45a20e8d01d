"""Airflow operators that create Sync predictions and fetch their results."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException

from sync_provider.core import contract
from sync_provider.core.backoff import Backoff
from sync_provider.core.errors import SyncError
from sync_provider.core.models import Preference
from sync_provider.hooks.sync import SyncHook, to_airflow_error
from sync_provider.links.sync import SyncPredictionLink
from sync_provider.operators._deferral import defer_until, successful_event
from sync_provider.operators._launch import prediction_choice, successful_prediction, validated_id

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Default overall wait for a prediction, in seconds.
DEFAULT_TIMEOUT_S = 3600.0

_S3_SCHEMES = ("s3://", "s3a://", "s3n://")


def check_event(event: Mapping[str, Any] | None, *, what: str) -> str:
    """Return the prediction id of a successful ``SyncPredictionTrigger`` event.

    :raises AirflowException: for a missing event or any status other than ``success``.
    """
    return str(successful_event(event, "prediction_id", what=what, finished="the prediction finished"))


class SyncCreatePredictionOperator(BaseOperator):
    """Create a Sync prediction from a finished Spark run's cluster report and event log.

    Pushes the prediction id as the return value and stores a link to the prediction (XCom key
    ``sync_prediction``). With ``wait_for_completion`` the task also waits for the prediction to
    finish, either blocking a worker slot or, with ``deferrable``, in the triggerer.

    .. seealso::
        :ref:`howto/operator:SyncCreatePredictionOperator`

    :param platform: the Sync product, ``aws-emr`` or ``aws-databricks``. (templated)
    :param cluster_report: the run's cluster report: a dict, or a JSON string (e.g. rendered from
        an XCom), parsed when the task runs. (templated)
    :param eventlog: where the Spark event log is: ``s3://bucket/key``, an ``https://`` URL, or a
        local file or folder on the worker. (templated)
    :param upload: ``None`` (default) uploads local paths and lets Sync fetch URLs; ``True`` uploads
        an ``s3://`` object through Sync's presigned POST instead of sending a presigned GET URL.
    :param project_id: the Sync project to attach the prediction to. (templated)
    :param sync_conn_id: the ``sync`` connection. (templated)
    :param aws_conn_id: the AWS connection used to read or presign ``s3://`` event logs. (templated)
    :param wait_for_completion: whether the task waits until the prediction succeeds.
    :param deferrable: wait in the triggerer instead of a worker slot (with ``wait_for_completion``).
    :param poll_interval: first delay between status checks, in seconds (grows to ``max_poll_interval``).
    :param max_poll_interval: largest delay between status checks, in seconds.
    :param timeout: how long to wait for the prediction, in seconds.
    """

    template_fields: Sequence[str] = (
        "platform",
        "cluster_report",
        "eventlog",
        "project_id",
        "sync_conn_id",
        "aws_conn_id",
    )
    template_fields_renderers = {"cluster_report": "json"}
    operator_extra_links = (SyncPredictionLink(),)
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        platform: str,
        cluster_report: dict[str, Any] | str,
        eventlog: str,
        upload: bool | None = None,
        project_id: str | None = None,
        sync_conn_id: str = SyncHook.default_conn_name,
        aws_conn_id: str | None = "aws_default",
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        timeout: float = DEFAULT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.platform = platform
        self.cluster_report = cluster_report
        self.eventlog = eventlog
        self.upload = upload
        self.project_id = project_id
        self.sync_conn_id = sync_conn_id
        self.aws_conn_id = aws_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout

    @cached_property
    def hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    def _parsed_cluster_report(self) -> dict[str, Any]:
        report: Any = self.cluster_report
        if isinstance(report, str | bytes):
            try:
                report = json.loads(report)
            except ValueError as exc:
                reason = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
                raise AirflowException(
                    f"cluster_report is a string but not valid JSON ({reason}); "
                    "pass a dict or a JSON object string."
                ) from None
        if not isinstance(report, Mapping) or not report:
            raise AirflowException(
                f"cluster_report must be a non-empty JSON object (dict), got {type(report).__name__}."
            )
        return dict(report)

    def _s3_client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def execute(self, context: Context) -> str:
        """Create the prediction (and wait for it when asked); return its id."""
        try:
            platform = contract.parse_platform(self.platform)
        except SyncError as exc:
            raise AirflowException(f"platform: {exc.message}") from exc
        if self.project_id:
            validated_id(self.project_id, "project_id")
        report = self._parsed_cluster_report()
        eventlog = str(self.eventlog or "").strip()
        if not eventlog:
            raise AirflowException(
                "eventlog is empty; give an s3:// object, an https:// URL or a local path."
            )
        s3_client = self._s3_client() if eventlog.startswith(_S3_SCHEMES) else None

        prediction_id = self.hook.create_prediction(
            platform.value,
            report,
            eventlog,
            project_id=self.project_id or None,
            upload=self.upload,
            s3_client=s3_client,
        )
        self.log.info(
            "Created Sync prediction %s (%s) from %s", prediction_id, platform.value, eventlog.split("?")[0]
        )
        SyncPredictionLink.persist(context, self, prediction_id=prediction_id, app_url=self.hook.app_url)
        if not self.wait_for_completion:
            return prediction_id
        if self.deferrable:
            from sync_provider.triggers.sync import SyncPredictionTrigger

            trigger = SyncPredictionTrigger(
                prediction_id=prediction_id,
                sync_conn_id=self.sync_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=time.time() + self.timeout,
            )
            defer_until(self, trigger, until=f"prediction {prediction_id} finishes", timeout=self.timeout)
        poll = Backoff(initial=self.poll_interval, maximum=max(self.poll_interval, self.max_poll_interval))
        self.hook.wait_for_prediction(prediction_id, timeout=self.timeout, poll=poll)
        self.log.info("Prediction %s succeeded", prediction_id)
        return prediction_id

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return the prediction id, or raise on any other outcome."""
        prediction_id = check_event(event, what=self.task_id)
        self.log.info("Prediction %s succeeded", prediction_id)
        return prediction_id


class SyncGetPredictionOperator(BaseOperator):
    """Fetch a finished prediction and return the configuration Sync recommends for a preference.

    The return value (XCom ``return_value``) is the chosen solution's ``configuration`` dict: a
    RunJobFlow request for EMR, a cluster spec for Databricks, ready for the launch operators. The
    solution's predicted ``metrics`` go to XCom key ``solution_metrics`` and the basis run's metrics
    to ``basis_metrics`` (``{"runtime": minutes, "cost": dollars}``).

    .. seealso::
        :ref:`howto/operator:SyncGetPredictionOperator`

    :param prediction_id: the prediction (usually ``SyncCreatePredictionOperator``'s output). (templated)
    :param preference: ``performance``, ``balanced`` or ``economy``. (templated)
    :param sync_conn_id: the ``sync`` connection. (templated)
    """

    template_fields: Sequence[str] = ("prediction_id", "preference", "sync_conn_id")
    operator_extra_links = (SyncPredictionLink(),)
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        prediction_id: str,
        preference: str = Preference.ECONOMY.value,
        sync_conn_id: str = SyncHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prediction_id = prediction_id
        self.preference = preference
        self.sync_conn_id = sync_conn_id

    @cached_property
    def hook(self) -> SyncHook:
        """The Sync hook of ``sync_conn_id``."""
        return SyncHook(sync_conn_id=self.sync_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        """Return the chosen solution's configuration; push its metrics and the basis metrics."""
        prediction_id, preference = prediction_choice(self.prediction_id, self.preference)

        prediction = self.hook.get_prediction(prediction_id, preference.value)
        SyncPredictionLink.persist(context, self, prediction_id=prediction_id, app_url=self.hook.app_url)
        prediction = successful_prediction(
            self.hook,
            prediction,
            prediction_id,
            preference,
            then="(or wait_for_completion=True) before fetching it.",
        )
        try:
            solution = prediction.solution(preference)
        except SyncError as exc:
            raise to_airflow_error(exc) from exc

        solution_metrics = solution.metrics.model_dump(mode="json")
        basis_metrics = prediction.basis.metrics.model_dump(mode="json") if prediction.basis else None
        self.log.info(
            "Prediction %s, %s solution: runtime %.1f min, cost $%.2f (basis: %s)",
            prediction_id,
            preference.value,
            solution.metrics.runtime,
            solution.metrics.cost,
            f"runtime {basis_metrics['runtime']:.1f} min, cost ${basis_metrics['cost']:.2f}"
            if basis_metrics
            else "unknown",
        )
        if self.do_xcom_push:
            context["ti"].xcom_push(key="solution_metrics", value=solution_metrics)
            context["ti"].xcom_push(key="basis_metrics", value=basis_metrics)
        return dict(solution.configuration)
