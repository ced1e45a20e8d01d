"""Recording a run once: adopting the prediction an earlier attempt created instead of a duplicate.

The Sync API has no idempotency key: every create call makes a new prediction, and Sync predicts
(and bills) each one. A recording that dies after its create call answered — the worker crashed,
the task was killed — leaves a prediction behind, and a retry that simply creates again predicts
the same run twice. The ``record_run`` functions of both platforms therefore

1. just before the create call, save a *creating marker* (:class:`PendingCreate`: when the call
   started and the name Sync will show as the prediction's ``event_log``): to the caller
   (``on_creating``) and in the run's folder (:data:`PREDICTION_FILE`);
2. report the new prediction's id as soon as the create call answered, before the event log is
   uploaded: to the caller (``on_created``) and in the run's folder (replacing the marker);
3. on a later ``record_run`` of the same run, look at that earlier prediction first
   (:func:`check_earlier_prediction`) and return it when Sync already has its event log, instead of
   creating another;
4. failing that, when an earlier attempt left only a marker (it died between the create call and
   keeping its answer), look for the prediction that call made (:func:`find_created_prediction`):
   the newest prediction of the project, created at or after the marker's time (less
   :data:`CLOCK_SKEW`), whose ``event_log`` is the marker's name and which has its event log. It
   is adopted; when there is none (the call never reached Sync), a prediction is created.

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
only a marker, the log's URL went with the create call     adopts the prediction the marker finds,
                                                           else creates a new one
only a marker, the log was to be uploaded afterwards       creates a new one, warning that a
                                                           prediction the earlier call may have
                                                           made never got its log (an orphan)
=========================================================  ========================================

A marker is searched for only when the log's URL went with the create call (EMR's default): only
then can the prediction of a call whose answer was lost hold the run's log. After an upload-mode
create the upload comes after the id was kept, so that prediction never got its log; and an
uploaded log's name need not name the run (a Databricks log part is called ``eventlog``), so
matching by name could adopt another run's prediction.

Nothing here imports Airflow or boto3.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from sync_provider.core import contract
from sync_provider.core.client import SyncClient
from sync_provider.core.errors import NotFoundError, SyncError
from sync_provider.core.models import Platform, Prediction, PredictionStatus
from sync_provider.core.predictions import get_prediction, list_predictions, returns_response

log = logging.getLogger(__name__)

#: Name of the file, in a run's folder, that names the prediction recorded from the run.
PREDICTION_FILE = "sync-prediction.json"
#: Largest ``sync-prediction.json`` read (it is a few hundred bytes).
_MAX_FILE_BYTES = 64 * 1024

#: How much earlier than a creating marker's time Sync's clock may date the prediction the
#: marked create call made (the marker's time is the worker's clock).
CLOCK_SKEW = timedelta(minutes=2)


class PendingCreate(BaseModel):
    """A *creating marker*: a create call an attempt began, whose answer it may not live to keep.

    Saved just before the create call (in the run folder's :data:`PREDICTION_FILE`, and by the
    caller through ``on_creating``); replaced by the prediction's id once the call answered. A later
    ``record_run`` that finds only a marker looks for the prediction the call made (see
    :func:`find_created_prediction`).

    :param started_at: when the create call started (UTC, the worker's clock).
    :param event_log: the name Sync shows as the prediction's ``event_log``: the file name of the
        log's URL (the S3 key's last segment), or the name the log is uploaded under.
    :param log_sent_with_create: whether the create call carried the log's URL (EMR's presigned-URL
        mode) rather than the log being uploaded after it.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    started_at: datetime
    event_log: str
    log_sent_with_create: bool = False

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("event_log")
    @classmethod
    def _named(cls, value: str) -> str:
        name = event_log_basename(value)
        if not name:
            raise ValueError("event_log must name a file")
        return name


#: What ``record_run`` calls with the prediction id as soon as the create call answered.
OnCreated = Callable[[str], None]
#: What ``record_run`` calls with the creating marker just before the create call.
OnCreating = Callable[[PendingCreate], None]


class RecordedPrediction(BaseModel):
    """The contents of :data:`PREDICTION_FILE`: the prediction recorded from a run, or the marker
    of a create call that began.

    Written just before the create call (``creating`` set, no ``prediction_id``), then right after
    it answered, before the event log is uploaded (``prediction_id`` set), so it may name a
    prediction that never got its log (see :func:`check_earlier_prediction`) or only a call whose
    answer was lost (see :func:`find_created_prediction`). Files of earlier versions (an id, no
    marker) read as they are.

    :param prediction_id: the Sync prediction (``None`` in a marker).
    :param platform: ``aws-emr`` or ``aws-databricks``.
    :param cluster_id: the EMR or Databricks cluster of the run.
    :param run_id: the Databricks run id (``None`` for EMR).
    :param project_id: the Sync project the prediction was (to be) created in.
    :param created_at: when the create call answered (UTC; ``None`` in a marker).
    :param creating: the creating marker (``None`` once the id is known).
    """

    model_config = ConfigDict(extra="allow")

    prediction_id: str | None = None
    platform: Platform
    cluster_id: str
    run_id: str | None = None
    project_id: str | None = None
    created_at: datetime | None = None
    creating: PendingCreate | None = None

    @field_validator("prediction_id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return contract.validate_id(value, "prediction_id")
        except SyncError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _id_or_marker(self) -> RecordedPrediction:
        if self.prediction_id is None and self.creating is None:
            raise ValueError("a prediction record names a prediction_id or a creating marker")
        return self

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


def event_log_basename(name: str) -> str:
    """The file name in ``name`` (a URL, an ``s3://`` key, a path or a bare name), percent-decoded.

    How a prediction's ``event_log`` and a marker's name are compared: ``…/application_1.lz4``,
    ``https://host/bucket/application_1.lz4?X-Amz-…`` and ``application_1.lz4`` are the same log.
    """
    path = urlsplit(name).path if "://" in name else name
    return unquote(path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def expected_event_log_name(eventlog: str | os.PathLike[str], *, upload: bool) -> str:
    """The name Sync will show as the ``event_log`` of a prediction created from ``eventlog``.

    With the log's URL in the create call, Sync names the log after the URL's file name (an
    ``s3://`` object is sent as a presigned URL of the same key). Uploaded, the log goes under the
    name :func:`~sync_provider.core.storage.open_upload_source` gives it: a file's own name, a
    folder's name with ``.zip``.

    :param eventlog: an ``s3://`` object or folder (ending with ``/``), an ``https://`` URL, or a
        local file or folder.
    :param upload: whether the log is uploaded after the create call.
    """
    text = os.fspath(eventlog)
    name = event_log_basename(text)
    if not upload:
        return name
    if "://" in text:
        return name + ".zip" if text.endswith("/") else name
    return name + ".zip" if Path(text).expanduser().is_dir() else name


def creating_marker(eventlog: str | os.PathLike[str], *, upload: bool) -> PendingCreate:
    """The creating marker of a create call about to start (now) for ``eventlog``.

    :param eventlog: the log as given to the create call (see :func:`expected_event_log_name`).
    :param upload: whether the log is uploaded after the create call.
    """
    return PendingCreate(
        started_at=datetime.now(UTC).replace(microsecond=0),
        event_log=expected_event_log_name(eventlog, upload=upload),
        log_sent_with_create=not upload,
    )


class MarkerSearch(BaseModel):
    """What :func:`find_created_prediction` found.

    :param prediction: the prediction the marked create call made, or ``None``.
    :param listed: how many predictions were looked at.
    """

    model_config = ConfigDict(frozen=True)

    prediction: Prediction | None = None
    listed: int = 0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@returns_response
def find_created_prediction(
    pending: PendingCreate,
    *,
    platform: Platform | str | None = None,
    project_id: str | None = None,
    exclude: Iterable[str] = (),
    client: SyncClient | None = None,
) -> MarkerSearch:
    """Look for the prediction a marked create call made among the project's predictions.

    The project's predictions (of ``platform``, when given) are listed, and the newest one is
    returned that

    - was created at or after the marker's ``started_at`` less :data:`CLOCK_SKEW` (one without
      ``created_at`` is not considered),
    - has the marker's ``event_log`` (compared by file name, see :func:`event_log_basename`),
    - and has its event log (:func:`has_event_log`).

    ``prediction`` is ``None`` when there is none (the call never reached Sync). A failure to list
    is an error, so that nothing is created while it is unknown whether the call made a prediction.

    :param pending: the marker an earlier attempt left.
    :param platform: only predictions of this product.
    :param project_id: the project the call was for (``None``: every prediction of the account).
    :param exclude: prediction ids not to return (e.g. already judged and abandoned).
    :param client: the Sync API client (default: from configuration).
    :raises SyncAPIError: Sync could not be asked.
    """
    platforms = [contract.parse_platform(platform)] if platform is not None else None
    listed = list_predictions(platforms=platforms, project_id=project_id, client=client).unwrap()
    since = pending.started_at - CLOCK_SKEW
    skip = set(exclude)
    matches = [
        prediction
        for prediction in listed
        if prediction.created_at is not None
        and _aware(prediction.created_at) >= since
        and prediction.event_log
        and event_log_basename(prediction.event_log) == pending.event_log
        and has_event_log(prediction)
        and prediction.prediction_id not in skip
    ]
    # Newest first (the API lists newest first; sorting keeps its order among equal times).
    matches.sort(key=lambda prediction: _aware(prediction.created_at or since), reverse=True)
    return MarkerSearch(prediction=matches[0] if matches else None, listed=len(listed))


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


def _in_project(project_id: str | None) -> str:
    return f" of project {project_id}" if project_id else ""


def adopt_marked(
    markers: Iterable[PendingCreate | None],
    *,
    subject: str,
    platform: Platform | None,
    project_id: str | None,
    exclude: Iterable[str] = (),
    client: SyncClient | None,
) -> str | None:
    """The prediction a marked create call made, to adopt; ``None`` for none (logging why).

    A building block of the ``record_run`` functions: a marker whose log went with the create call
    is searched for with :func:`find_created_prediction` (whose :class:`SyncError` it raises); a
    marker of an upload-mode call is not (see the module's docstring) and only warned about.

    :param markers: creating markers of earlier attempts (``None`` entries and repeats are skipped).
    :param subject: the run, for messages (e.g. ``"EMR cluster j-1"``).
    :param exclude: prediction ids not to adopt (already judged and abandoned).
    """
    seen: set[tuple[datetime, str]] = set()
    for marker in markers:
        if marker is None or (marker.started_at, marker.event_log) in seen:
            continue
        seen.add((marker.started_at, marker.event_log))
        started = marker.started_at.isoformat()
        if not marker.log_sent_with_create:
            log.warning(
                "An earlier attempt to record %s began creating a Sync prediction at %s and did not keep "
                "Sync's answer. Its event log %s was to be uploaded after that call, so a prediction the "
                "call may have made never got its log (an orphan%s, PENDING until its upload expires). "
                "Creating a new prediction.",
                subject,
                started,
                marker.event_log,
                _in_project(project_id),
            )
            continue
        search = find_created_prediction(
            marker, platform=platform, project_id=project_id, exclude=exclude, client=client
        ).unwrap()
        found = search.prediction
        if found is not None:
            log.info(
                "Adopting Sync prediction %s to record %s: an earlier attempt began creating a prediction "
                "at %s with the event log's URL and died before keeping Sync's answer; %s is the newest "
                "prediction%s created since then (at %s) with that event log (%s), and Sync has it (%s). "
                "Not creating another.",
                found.prediction_id,
                subject,
                started,
                found.prediction_id,
                _in_project(project_id),
                found.created_at.isoformat() if found.created_at else "?",
                marker.event_log,
                found.status or "status unknown",
            )
            return found.prediction_id
        log.info(
            "An earlier attempt to record %s began creating a Sync prediction at %s but did not keep "
            "Sync's answer; none of the %d predictions%s listed was created since then (allowing %d s "
            "of clock skew) with its event log %s, so the call did not make one. Creating a prediction.",
            subject,
            started,
            search.listed,
            _in_project(project_id),
            int(CLOCK_SKEW.total_seconds()),
            marker.event_log,
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
    pending: PendingCreate | None = None,
    platform: Platform | None = None,
) -> str | None:
    """The earlier prediction a ``record_run`` returns instead of creating one, or ``None``.

    Looks at ``existing_prediction_id`` (the caller's own record of an earlier attempt), then, with
    ``adopt_recorded``, at the prediction named in the run folder's :data:`PREDICTION_FILE` when
    that file is of this cluster (and Databricks run). When neither is adopted, looks for the
    prediction of a create call whose answer was lost: that of ``pending`` (the caller's marker)
    and, with ``adopt_recorded``, that of the file's marker (see :func:`adopt_marked`). Raises
    like :func:`first_adoptable`.

    :param run_folder: the run's folder (``s3://…`` or ``dbfs:/…``), or ``None`` when unknown.
    :param pending: a creating marker the caller kept from an earlier attempt (``on_creating``).
    :param platform: the run's platform (lists only its predictions when looking for a marker's).
    """
    candidates = [existing_prediction_id]
    markers = [pending]
    if adopt_recorded and run_folder:
        url = prediction_file_url(run_folder)
        recorded = read_record(url, s3_client=s3_client, api=api)
        if recorded is not None and not recorded.names(cluster_id, run_id):
            log.info(
                "%s names %s of cluster %s, not of %s; ignoring it",
                url,
                _what(recorded),
                recorded.cluster_id,
                subject,
            )
        elif recorded is not None and recorded.prediction_id is not None:
            candidates.append(recorded.prediction_id)
        elif recorded is not None:
            markers.append(recorded.creating)
    adopted = first_adoptable(
        candidates,
        subject=subject,
        project_id=project_id,
        log_sent_with_create=log_sent_with_create,
        client=client,
    )
    if adopted is not None:
        return adopted
    found = adopt_marked(
        markers,
        subject=subject,
        platform=platform,
        project_id=project_id,
        exclude=[candidate for candidate in candidates if candidate],
        client=client,
    )
    if found is not None and platform is not None:
        # The file now names the prediction, as if the earlier attempt had kept the answer.
        keep = announcer(
            None,
            run_folder,
            platform,
            cluster_id,
            run_id=run_id,
            project_id=project_id,
            s3_client=s3_client,
            api=api,
        )
        keep(found)
    return found


def _save(
    run_folder: str,
    platform: Platform,
    cluster_id: str,
    *,
    run_id: str | None,
    project_id: str | None,
    s3_client: Any,
    api: Any,
    **fields: Any,
) -> None:
    """Write the run folder's :data:`PREDICTION_FILE` (best effort, see :func:`write_record`)."""
    record = RecordedPrediction(
        platform=platform, cluster_id=cluster_id, run_id=run_id, project_id=project_id, **fields
    )
    write_record(prediction_file_url(run_folder), record, s3_client=s3_client, api=api)


def announce_creating(
    pending: PendingCreate,
    on_creating: OnCreating | None,
    run_folder: str | None,
    platform: Platform,
    cluster_id: str,
    *,
    run_id: str | None = None,
    project_id: str | None = None,
    s3_client: Any = None,
    api: Any = None,
) -> None:
    """Save the creating marker just before a ``record_run``'s create call.

    Calls the caller's ``on_creating`` (whose exception propagates: nothing is created), then saves
    the marker as :data:`PREDICTION_FILE` in the run folder (best effort, see :func:`write_record`).
    """
    if on_creating is not None:
        on_creating(pending)
    if run_folder:
        _save(
            run_folder,
            platform,
            cluster_id,
            run_id=run_id,
            project_id=project_id,
            s3_client=s3_client,
            api=api,
            creating=pending,
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
            _save(
                run_folder,
                platform,
                cluster_id,
                run_id=run_id,
                project_id=project_id,
                s3_client=s3_client,
                api=api,
                prediction_id=prediction_id,
                created_at=datetime.now(UTC).replace(microsecond=0),
            )

    return created


def _what(record: RecordedPrediction) -> str:
    """What a record names, for messages."""
    if record.prediction_id is not None or record.creating is None:
        return f"prediction {record.prediction_id}"
    marker = record.creating
    return f"a create call begun at {marker.started_at.isoformat()} (event log {marker.event_log})"


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
            "Could not save %s naming %s (%s); a repeated record_run of this run will not find it there",
            url,
            _what(record),
            getattr(exc, "message", None) or exc,
        )
        return False
    log.info("Saved %s naming %s", url, _what(record))
    return True


__all__ = [
    "CLOCK_SKEW",
    "PREDICTION_FILE",
    "EarlierPrediction",
    "MarkerSearch",
    "OnCreated",
    "OnCreating",
    "PendingCreate",
    "RecordedPrediction",
    "adopt_earlier",
    "adopt_marked",
    "announce_creating",
    "announcer",
    "check_earlier_prediction",
    "creating_marker",
    "event_log_basename",
    "expected_event_log_name",
    "find_created_prediction",
    "first_adoptable",
    "has_event_log",
    "prediction_file_url",
    "read_record",
    "write_record",
]
