"""Recording a run once: adopting the prediction an earlier attempt created instead of a duplicate.

The Sync API has no idempotency key: every create call makes a new prediction, and Sync predicts
(and bills) each one. A recording that dies after its create call answered — the worker crashed,
the task was killed — leaves a prediction behind, and a retry that simply creates again predicts
the same run twice. The ``record_run`` functions of both platforms therefore

1. report the new prediction's id as soon as the create call answered, before the event log is
   uploaded: to the caller (``on_created``) and in the run's folder (:data:`PREDICTION_FILE`);
2. on a later ``record_run`` of the same run, look at that earlier prediction first
   (:func:`check_earlier_prediction`) and return it when Sync already has its event log, instead of
   creating another.

Which earlier prediction is adopted:

=========================================================  ========================================
the earlier prediction                                     ``record_run``
=========================================================  ========================================
has its event log, or is ``RUNNING`` / ``SUCCESS``         adopts it (creates nothing)
``FAILURE`` with its event log                             adopts it: Sync failed to predict from
                                                           this very log and would fail again; the
                                                           wait step reports Sync's reason
``PENDING`` created with the log's URL                     adopts it (the log went with the create
                                                           call; Sync fetches it)
``PENDING`` without a log, after an upload-mode create     creates a new one, warning that the
                                                           earlier one is abandoned (its upload
                                                           never finished)
``FAILURE`` without a log (the log never reached Sync)     creates a new one, warning likewise
unknown to Sync, or of another project                     creates a new one, warning likewise
=========================================================  ========================================

Nothing here imports Airflow or boto3.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from sync_provider.core import contract
from sync_provider.core.client import SyncClient
from sync_provider.core.errors import NotFoundError, SyncError
from sync_provider.core.models import Platform, Prediction, PredictionStatus
from sync_provider.core.predictions import get_prediction, returns_response

log = logging.getLogger(__name__)

#: Name of the file, in a run's folder, that names the prediction recorded from the run.
PREDICTION_FILE = "sync-prediction.json"
#: Largest ``sync-prediction.json`` read (it is a few hundred bytes).
_MAX_FILE_BYTES = 64 * 1024

#: What ``record_run`` calls with the prediction id as soon as the create call answered.
OnCreated = Callable[[str], None]


class RecordedPrediction(BaseModel):
    """The contents of :data:`PREDICTION_FILE`: the prediction recorded from a run.

    Written right after the create call answered, before the event log is uploaded, so it may
    name a prediction that never got its log (see :func:`check_earlier_prediction`).

    :param prediction_id: the Sync prediction.
    :param platform: ``aws-emr`` or ``aws-databricks``.
    :param cluster_id: the EMR or Databricks cluster of the run.
    :param run_id: the Databricks run id (``None`` for EMR).
    :param project_id: the Sync project the prediction was created in.
    :param created_at: when the create call answered (UTC).
    """

    model_config = ConfigDict(extra="allow")

    prediction_id: str
    platform: Platform
    cluster_id: str
    run_id: str | None = None
    project_id: str | None = None
    created_at: datetime

    @field_validator("prediction_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        try:
            return contract.validate_id(value, "prediction_id")
        except SyncError as exc:
            raise ValueError(exc.message) from None

    def names(self, cluster_id: str, run_id: str | None = None) -> bool:
        """Whether this record is of the cluster (and Databricks run) given."""
        return self.cluster_id == cluster_id and (run_id is None or self.run_id == run_id)


class EarlierPrediction(BaseModel):
    """The verdict on a prediction an earlier attempt created (see :func:`check_earlier_prediction`).

    :param prediction_id: the prediction looked at.
    :param adopt: whether to return it instead of creating a new prediction.
    :param reason: why (a phrase for log messages, e.g. ``"it is RUNNING"``).
    :param status: its status, or ``None`` when Sync does not know it.
    """

    model_config = ConfigDict(frozen=True)

    prediction_id: str
    adopt: bool
    reason: str
    status: PredictionStatus | None = None


def has_event_log(prediction: Prediction) -> bool:
    """Whether Sync holds the prediction's event log: it names one, or it is ``RUNNING``/``SUCCESS``.

    A ``PENDING`` prediction without ``event_log`` is still waiting for its upload; a ``FAILURE``
    without one never got its log (an upload that expired, a URL Sync could not fetch).
    """
    if prediction.event_log:
        return True
    status = PredictionStatus.parse(prediction.status or PredictionStatus.PENDING.value)
    return status in (PredictionStatus.RUNNING, PredictionStatus.SUCCESS)


def _verdict(prediction: Prediction, project_id: str | None, log_sent_with_create: bool) -> EarlierPrediction:
    status = PredictionStatus.parse(prediction.status or PredictionStatus.PENDING.value)
    found = {"prediction_id": prediction.prediction_id, "status": status}
    if project_id and prediction.project_id and prediction.project_id.lower() != project_id.lower():
        reason = f"it belongs to project {prediction.project_id}, not {project_id}"
        return EarlierPrediction(adopt=False, reason=reason, **found)
    if has_event_log(prediction):
        return EarlierPrediction(adopt=True, reason=f"it has its event log and is {status.value}", **found)
    if status is PredictionStatus.PENDING and log_sent_with_create:
        reason = "it is PENDING and its event log's URL went with the create call"
        return EarlierPrediction(adopt=True, reason=reason, **found)
    if status is PredictionStatus.FAILURE:
        reason = "it FAILED without an event log (the log never reached Sync)"
    else:
        reason = f"it is {status.value} without its event log (the upload never finished)"
    return EarlierPrediction(adopt=False, reason=reason, **found)


@returns_response
def check_earlier_prediction(
    prediction_id: str,
    *,
    project_id: str | None = None,
    log_sent_with_create: bool = False,
    client: SyncClient | None = None,
) -> EarlierPrediction:
    """Decide whether a prediction an earlier attempt created can stand for this run's recording.

    See the module's table. A prediction Sync does not know (``404``) is not adopted; any other
    failure to read it is an error, so that nothing is created while the earlier prediction's
    state is unknown.

    :param prediction_id: the earlier prediction.
    :param project_id: the project this recording is for; a prediction of another is not adopted.
    :param log_sent_with_create: whether the earlier create call carried the event log's URL (EMR's
        presigned-URL mode) rather than uploading it afterwards.
    :param client: the Sync API client (default: from configuration).
    :raises InvalidInputError: ``prediction_id`` is not an identifier.
    :raises SyncAPIError: Sync could not be asked (other than ``404``).
    """
    contract.validate_id(prediction_id, "prediction_id")
    try:
        prediction = get_prediction(prediction_id, client=client).unwrap()
    except NotFoundError:
        return EarlierPrediction(
            prediction_id=prediction_id, adopt=False, reason="Sync does not know it (404)"
        )
    return _verdict(prediction, project_id, log_sent_with_create)


def first_adoptable(
    candidates: Iterable[str | None],
    *,
    subject: str,
    project_id: str | None,
    log_sent_with_create: bool,
    client: SyncClient | None,
) -> str | None:
    """The first candidate to adopt, logging why each earlier one is not; ``None`` for none.

    A building block of the ``record_run`` functions: it raises the :class:`SyncError` of
    :func:`check_earlier_prediction` instead of returning a ``Response``.

    :param candidates: prediction ids of earlier attempts (``None`` entries and repeats are skipped).
    :param subject: the run, for messages (e.g. ``"EMR cluster j-1"``).
    """
    seen: set[str] = set()
    for candidate in candidates:
        if not candidate or candidate in seen:
            continue
        seen.add(candidate)
        verdict = check_earlier_prediction(
            candidate, project_id=project_id, log_sent_with_create=log_sent_with_create, client=client
        ).unwrap()
        if verdict.adopt:
            log.info(
                "Adopting Sync prediction %s of an earlier attempt to record %s (%s); not creating another",
                candidate,
                subject,
                verdict.reason,
            )
            return candidate
        log.warning(
            "Sync prediction %s of an earlier attempt to record %s is abandoned: %s. Creating a new "
            "prediction.",
            candidate,
            subject,
            verdict.reason,
        )
    return None


def adopt_earlier(
    *,
    existing_prediction_id: str | None,
    adopt_recorded: bool,
    run_folder: str | None,
    subject: str,
    cluster_id: str,
    run_id: str | None = None,
    project_id: str | None,
    log_sent_with_create: bool,
    client: SyncClient | None,
    s3_client: Any = None,
    api: Any = None,
) -> str | None:
    """The earlier prediction a ``record_run`` returns instead of creating one, or ``None``.

    Looks at ``existing_prediction_id`` (the caller's own record of an earlier attempt), then, with
    ``adopt_recorded``, at the prediction named in the run folder's :data:`PREDICTION_FILE` when
    that file is of this cluster (and Databricks run). Raises like :func:`first_adoptable`.

    :param run_folder: the run's folder (``s3://…`` or ``dbfs:/…``), or ``None`` when unknown.
    """
    candidates = [existing_prediction_id]
    if adopt_recorded and run_folder:
        url = prediction_file_url(run_folder)
        recorded = read_record(url, s3_client=s3_client, api=api)
        if recorded is not None and not recorded.names(cluster_id, run_id):
            log.info(
                "%s names prediction %s of cluster %s, not of %s; ignoring it",
                url,
                recorded.prediction_id,
                recorded.cluster_id,
                subject,
            )
        elif recorded is not None:
            candidates.append(recorded.prediction_id)
    return first_adoptable(
        candidates,
        subject=subject,
        project_id=project_id,
        log_sent_with_create=log_sent_with_create,
        client=client,
    )


def announcer(
    on_created: OnCreated | None,
    run_folder: str | None,
    platform: Platform,
    cluster_id: str,
    *,
    run_id: str | None = None,
    project_id: str | None = None,
    s3_client: Any = None,
    api: Any = None,
) -> OnCreated:
    """The ``on_created`` a ``record_run`` passes to the create call.

    It calls the caller's ``on_created`` (whose exception propagates: the upload does not happen),
    then saves :data:`PREDICTION_FILE` in the run folder (best effort, see :func:`write_record`).
    """

    def created(prediction_id: str) -> None:
        if on_created is not None:
            on_created(prediction_id)
        if run_folder:
            record = RecordedPrediction(
                prediction_id=prediction_id,
                platform=platform,
                cluster_id=cluster_id,
                run_id=run_id,
                project_id=project_id,
                created_at=datetime.now(UTC).replace(microsecond=0),
            )
            write_record(prediction_file_url(run_folder), record, s3_client=s3_client, api=api)

    return created


def prediction_file_url(run_folder: str) -> str:
    """``<run folder>/sync-prediction.json`` (``s3://…`` or ``dbfs:/…``)."""
    return run_folder.rstrip("/") + "/" + PREDICTION_FILE


def _dbfs_path(url: str) -> str:
    return "/" + url.removeprefix("dbfs:").lstrip("/")


def _missing(exc: BaseException) -> bool:
    """Whether S3 or DBFS said the object does not exist."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("NoSuchKey", "404", "NotFound") or status == 404
    return (
        getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST" or getattr(exc, "status", None) == 404
    )


def _read_bytes(url: str, s3_client: Any, api: Any) -> bytes:
    if url.startswith("s3://"):
        from sync_provider.core.storage import default_s3_client, parse_s3_url

        location = parse_s3_url(url)
        body = (s3_client or default_s3_client()).get_object(Bucket=location.bucket, Key=location.key)["Body"]
        try:
            data: bytes = body.read(_MAX_FILE_BYTES)
        finally:
            body.close()
        return data
    answer = api.call(
        "GET",
        "2.0/dbfs/read",
        {"path": _dbfs_path(url), "offset": 0, "length": _MAX_FILE_BYTES},
        idempotent=True,
    )
    return base64.b64decode(answer.get("data") or "")


def read_record(url: str, *, s3_client: Any = None, api: Any = None) -> RecordedPrediction | None:
    """Read ``sync-prediction.json`` at ``url``; ``None`` when it is absent or unusable (logged).

    Best effort: a read that fails, or a file that does not parse, is logged as a warning and
    counts as absent (the recording then goes on as a first one).

    :param url: ``s3://…`` (with ``s3_client``, default boto3's chain) or ``dbfs:/…`` (with ``api``).
    """
    if not url.startswith(("s3://", "dbfs:")) or (url.startswith("dbfs:") and api is None):
        log.warning(
            "Cannot read %s (no client for it); an earlier recording of this run is not looked for", url
        )
        return None
    try:
        data = _read_bytes(url, s3_client, api)
    except Exception as exc:
        if _missing(exc):
            return None
        log.warning(
            "Could not read %s (%s): an earlier recording of this run is not looked for",
            url,
            getattr(exc, "message", None) or type(exc).__name__,
        )
        return None
    try:
        return RecordedPrediction.model_validate(json.loads(data))
    except (ValueError, ValidationError) as exc:
        log.warning("Ignoring %s: it is not a prediction record (%s)", url, str(exc).splitlines()[0])
        return None


def write_record(url: str, record: RecordedPrediction, *, s3_client: Any = None, api: Any = None) -> bool:
    """Write ``sync-prediction.json`` at ``url``; return whether it was written.

    Best effort: a failure is logged as a warning (a later ``record_run`` of this run then cannot
    find this prediction in the run folder), never raised.
    """
    body = record.model_dump_json(indent=2).encode()
    try:
        if url.startswith("s3://"):
            from sync_provider.core.emr._common import s3_put
            from sync_provider.core.storage import default_s3_client, parse_s3_url

            location = parse_s3_url(url)
            s3_put(s3_client or default_s3_client(), location.bucket, location.key, body, "application/json")
        elif url.startswith("dbfs:") and api is not None:
            contents = base64.b64encode(body).decode("ascii")
            api.call(
                "POST",
                "2.0/dbfs/put",
                {"path": _dbfs_path(url), "contents": contents, "overwrite": True},
                idempotent=True,
            )
        else:
            raise ValueError("no client for it")
    except Exception as exc:
        log.warning(
            "Could not save %s naming prediction %s (%s); a repeated record_run of this run will not "
            "find it there",
            url,
            record.prediction_id,
            getattr(exc, "message", None) or exc,
        )
        return False
    log.info("Saved %s naming Sync prediction %s", url, record.prediction_id)
    return True


__all__ = [
    "PREDICTION_FILE",
    "EarlierPrediction",
    "OnCreated",
    "RecordedPrediction",
    "adopt_earlier",
    "announcer",
    "check_earlier_prediction",
    "first_adoptable",
    "has_event_log",
    "prediction_file_url",
    "read_record",
    "write_record",
]
