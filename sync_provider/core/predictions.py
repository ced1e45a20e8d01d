"""Sync predictions: create (from a URL or by upload), status, wait, get, list.

Every public function returns :class:`~sync_provider.core.models.Response`: the result or a typed
error, never both. ``Response.unwrap()`` gives the result or raises the typed exception.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sync_provider.core import contract, storage
from sync_provider.core.backoff import Backoff, Deadline
from sync_provider.core.client import SyncClient
from sync_provider.core.errors import (
    EventLogError,
    InvalidInputError,
    PredictionError,
    PredictionTimeoutError,
    StorageError,
    SyncError,
)
from sync_provider.core.models import (
    CreatedPrediction,
    Platform,
    Prediction,
    PredictionStatus,
    Preference,
    Response,
    UploadDetails,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Default overall limit when waiting for a prediction.
DEFAULT_WAIT_TIMEOUT_S = 3600.0
#: Default polling policy when waiting for a prediction.
DEFAULT_POLL = Backoff(initial=2.0, maximum=30.0, factor=1.5, jitter=0.1)


def returns_response(func: Callable[P, R]) -> Callable[P, Response[R]]:
    """Run ``func`` and wrap its result, or the :class:`SyncError` it raised, in a ``Response``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response[R]:
        try:
            return Response[R].of(func(*args, **kwargs))
        except SyncError as exc:
            return Response[R].fail(exc)

    return wrapper


def _client(client: SyncClient | None) -> SyncClient:
    return client if client is not None else SyncClient.from_config()


def _check_report(cluster_report: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(cluster_report, Mapping) or not cluster_report:
        raise InvalidInputError("The cluster report must be a non-empty JSON object (a mapping).")
    try:
        json.dumps(cluster_report, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"The cluster report is not JSON-serialisable: {exc}.") from None
    return dict(cluster_report)


def _is_remote(eventlog: str) -> bool:
    return "://" in eventlog


@returns_response
def get_products(*, client: SyncClient | None = None) -> list[str]:
    """List the product codes the API accepts (e.g. ``aws-emr``, ``aws-databricks``)."""
    result = _client(client).request(contract.PRODUCTS)
    if not isinstance(result, list):
        raise PredictionError("The products endpoint returned something other than a list.")
    return [str(item) for item in result]


@returns_response
def create_prediction_from_url(
    platform: Platform | str,
    cluster_report: Mapping[str, Any],
    eventlog_url: str,
    *,
    project_id: str | None = None,
    client: SyncClient | None = None,
    s3_client: Any = None,
    on_created: Callable[[str], None] | None = None,
) -> str:
    """Create a prediction from an event log Sync fetches itself; return the prediction id.

    ``s3://`` objects become presigned HTTPS GET URLs (valid one hour); ``https://`` URLs are passed
    as they are; other schemes are refused before anything is sent.

    :param platform: ``aws-emr`` or ``aws-databricks``.
    :param cluster_report: the run's cluster report (see the EMR and Databricks modules).
    :param eventlog_url: ``s3://bucket/key`` or ``https://...``.
    :param project_id: Sync project to attach the prediction to.
    :param s3_client: boto3 S3 client for presigning (default: boto3's default chain).
    :param on_created: called with the prediction id as soon as the create call answered.
    """
    product = contract.parse_platform(platform)
    report = _check_report(cluster_report)
    if eventlog_url.startswith(("s3://", "s3a://", "s3n://")):
        url = storage.presign_s3_object(eventlog_url, s3_client=s3_client)
    else:
        url = storage.check_fetchable_url(eventlog_url)
    body = contract.create_prediction_body(product, report, project_id=project_id, eventlog_url=url)
    created = CreatedPrediction.model_validate(_client(client).request(contract.CREATE_PREDICTION, json=body))
    if on_created is not None:
        on_created(created.prediction_id)
    log.info("Created Sync prediction %s from %s", created.prediction_id, eventlog_url.split("?", 1)[0])
    return created.prediction_id


#: Bytes read at a time, from the end, when looking for the last line of an uncompressed log.
_TAIL_STEP = 64 * 1024
#: A last line longer than this (without a newline) is not judged: the log is given the benefit.
_TAIL_LIMIT = 8 * 1024 * 1024


def _tail_line(path: str) -> bytes | None:
    """The last line of an uncompressed file when no newline follows it; ``None`` otherwise.

    Reads backwards from the end in steps of ``_TAIL_STEP``, at most ``_TAIL_LIMIT`` bytes. A file
    that starts with a compression or zip magic is not looked at (its last bytes are not text).
    """
    from sync_provider.core.eventlog.codecs import ZIP_MAGIC, sniff_codec

    with open(path, "rb") as handle:
        head = handle.read(8)
        if sniff_codec(head) is not None or head.startswith(ZIP_MAGIC):
            return None
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        window = b""
        position = size
        while position > 0 and len(window) < _TAIL_LIMIT:
            step = min(_TAIL_STEP, position)
            position -= step
            handle.seek(position)
            window = handle.read(step) + window
            newline = window.rfind(b"\n")
            if newline >= 0:
                return window[newline + 1 :]
        return window if position == 0 else None


def _check_local_eventlog(eventlog: str, *, allow_incomplete: bool) -> None:
    """Refuse a local file or folder that is not a Spark event log, or that Spark had not finished.

    Cheap: only the ends of the log are read. The head goes through the event-log reader (every
    codec it supports, archives, rolling and Databricks folders) up to its first event, which must
    be a Spark listener event; the layout alone says whether parts are missing or in progress; the
    end of the last part, when it is an uncompressed file, says whether its last line was cut off.
    A missing path or an empty file is left to :func:`storage.open_upload_source`, which says so.

    :raises EventLogError: when the log is not a Spark event log (empty, binary, other JSON, parts
        of several applications, corrupt compressed data) or, unless ``allow_incomplete``, when it
        is incomplete.
    """
    from sync_provider.core.eventlog.codecs import codec_from_name
    from sync_provider.core.eventlog.layout import open_layout, parse_json_object
    from sync_provider.core.eventlog.reader import ReadStats, iter_layout_events

    path = Path(eventlog).expanduser()
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    with open_layout(path) as layout:
        events = iter_layout_events(layout, ReadStats())
        try:
            next(events, None)  # raises when the head is not that of a Spark event log
        finally:
            close = getattr(events, "close", None)  # a generator: closing it closes the part's file
            if close is not None:
                close()
        problems = list(layout.problems)
        last = layout.parts[-1]
        if last.entry.local_path is not None and codec_from_name(last.entry.basename) is None:
            tail = _tail_line(last.entry.local_path)
            if tail is not None and tail.strip():
                event = parse_json_object(tail)
                if event is None or "Event" not in event:
                    problems.append(f"last line of {last.name} is cut off (the file was still being written)")
    if problems and not allow_incomplete:
        raise EventLogError(
            f"The event log {path} is incomplete: {'; '.join(problems)}. Spark may not have finished "
            "writing it (the application failed or is still running): upload the finished log, or pass "
            "allow_incomplete=True to predict from it anyway.",
            detail={"reason": "incomplete", "eventlog": str(path), "problems": problems},
        )
    if problems:
        log.warning("Uploading the incomplete event log %s: %s", path, "; ".join(problems))


#: Attempts of the presigned POST (the same object key: repeating it cannot duplicate anything).
UPLOAD_ATTEMPTS = 4
UPLOAD_BACKOFF = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.2)


def _retry_upload(
    first: StorageError,
    details: UploadDetails,
    eventlog: str | os.PathLike[str],
    prediction_id: str,
    *,
    s3_client: Any,
    sleep: Callable[[float], None],
) -> None:
    """Repeat a failed presigned POST (re-opening the source) while the failure is retryable."""
    error = first
    delays = UPLOAD_BACKOFF.delays()
    for attempt in range(2, UPLOAD_ATTEMPTS + 1):
        if not (isinstance(error.detail, dict) and error.detail.get("retryable")):
            break
        log.warning("Event-log upload for prediction %s failed (%s); try %d", prediction_id, error, attempt)
        sleep(next(delays))
        try:
            with storage.open_upload_source(eventlog, s3_client=s3_client) as (filename, stream):
                storage.upload_to_presigned_post(details, filename, stream)
            return
        except StorageError as exc:
            error = exc
    error.detail = {"prediction_id": prediction_id}
    error.message += f" Prediction {prediction_id} was created without its event log."
    raise error


@returns_response
def create_prediction_with_upload(
    platform: Platform | str,
    cluster_report: Mapping[str, Any],
    eventlog: str | os.PathLike[str],
    *,
    project_id: str | None = None,
    client: SyncClient | None = None,
    s3_client: Any = None,
    upload_sleep: Callable[[float], None] = time.sleep,
    on_created: Callable[[str], None] | None = None,
    allow_incomplete: bool = False,
) -> str:
    """Create a prediction and upload its event log through the presigned POST Sync returns.

    The log (a local file or folder, or an ``s3://`` object) is streamed, never read whole into
    memory; a folder is zipped first. The source is opened before the prediction is created, so
    a missing file creates nothing.

    A local log is checked before anything is created, reading only its ends: its first event
    must be a Spark listener event (an empty, binary or foreign file is refused) and, unless
    ``allow_incomplete``, no part may be missing or in progress and its last line must not be cut
    off. An ``s3://`` log is not checked here (``record_run`` checks the whole log before it
    uploads).

    A failed upload (connection error, 429 or 5xx) is repeated up to ``UPLOAD_ATTEMPTS`` times
    with backoff: the presigned POST writes one object key, so repeating it duplicates nothing.

    :param on_created: called with the prediction id as soon as the create call answered, before
        the upload (so that a caller can remember a prediction whose upload it may not live to finish).
    :param allow_incomplete: upload a local log that Spark had not finished writing.
    :raises EventLogError: when a local log is not a Spark event log, or is incomplete.
    :raises StorageError: when the upload is not answered with HTTP 204; the error's ``detail``
        holds the prediction id that was created without a log.
    """
    product = contract.parse_platform(platform)
    report = _check_report(cluster_report)
    if not _is_remote(os.fspath(eventlog)):
        _check_local_eventlog(os.fspath(eventlog), allow_incomplete=allow_incomplete)
    sync = _client(client)
    with storage.open_upload_source(eventlog, s3_client=s3_client) as (filename, stream):
        body = contract.create_prediction_body(product, report, project_id=project_id)
        created = CreatedPrediction.model_validate(sync.request(contract.CREATE_PREDICTION, json=body))
        if on_created is not None:
            on_created(created.prediction_id)
        if created.upload_details is None:
            raise PredictionError(
                f"Prediction {created.prediction_id} was created but the API sent no upload details.",
                detail={"prediction_id": created.prediction_id},
            )
        details = created.upload_details
        try:
            storage.upload_to_presigned_post(details, filename, stream)
        except StorageError as first:
            _retry_upload(
                first, details, eventlog, created.prediction_id, s3_client=s3_client, sleep=upload_sleep
            )
    log.info("Created Sync prediction %s and uploaded %s", created.prediction_id, filename)
    return created.prediction_id


def create_prediction(
    platform: Platform | str,
    cluster_report: Mapping[str, Any],
    eventlog: str | os.PathLike[str],
    *,
    project_id: str | None = None,
    upload: bool | None = None,
    client: SyncClient | None = None,
    s3_client: Any = None,
    on_created: Callable[[str], None] | None = None,
    allow_incomplete: bool = False,
) -> Response[str]:
    """Create a prediction from an event log given as a URL, an ``s3://`` object or a local path.

    :param upload: ``None`` (default) uploads local paths and ``s3://`` folders (ending in ``/``) and
        passes other URLs; ``True`` uploads an ``s3://`` object through Sync's presigned POST
        instead of sending a presigned GET URL.
    :param on_created: called with the prediction id as soon as the create call answered (before
        an upload); an exception it raises propagates.
    :param allow_incomplete: upload a local log that Spark had not finished writing (a local log is
        checked before anything is created: see :func:`create_prediction_with_upload`).
    """
    text = os.fspath(eventlog)
    if upload is False and not _is_remote(text):
        return Response[str].fail(
            InvalidInputError(f"{text!r} is a local path; it can only be uploaded (upload=True).")
        )
    if upload or not _is_remote(text) or (text.startswith("s3") and text.endswith("/")):
        return create_prediction_with_upload(
            platform,
            cluster_report,
            text,
            project_id=project_id,
            client=client,
            s3_client=s3_client,
            on_created=on_created,
            allow_incomplete=allow_incomplete,
        )
    return create_prediction_from_url(
        platform,
        cluster_report,
        text,
        project_id=project_id,
        client=client,
        s3_client=s3_client,
        on_created=on_created,
    )


@returns_response
def get_prediction_status(prediction_id: str, *, client: SyncClient | None = None) -> PredictionStatus:
    """Return the prediction's status (``SUCCESS`` and ``FAILURE`` are terminal)."""
    return _status(_client(client), prediction_id)[0]


@returns_response
def get_prediction_status_message(
    prediction_id: str, *, client: SyncClient | None = None
) -> tuple[PredictionStatus, str | None]:
    """Return the prediction's status with Sync's message (e.g. why it failed), or ``None``."""
    return _status(_client(client), prediction_id)


def _status(sync: SyncClient, prediction_id: str) -> tuple[PredictionStatus, str | None]:
    result = sync.request(contract.PREDICTION_STATUS, path_params={"prediction_id": prediction_id})
    return contract.parse_status(result)


@returns_response
def get_prediction(
    prediction_id: str,
    preference: Preference | str | None = None,
    *,
    client: SyncClient | None = None,
) -> Prediction:
    """Fetch a prediction, optionally with only the solution for ``preference``."""
    pref = contract.parse_preference(preference)
    params = [("preference", pref.value)] if pref else []
    result = _client(client).request(
        contract.GET_PREDICTION, path_params={"prediction_id": prediction_id}, params=params
    )
    return Prediction.model_validate(result)


@returns_response
def list_predictions(
    *,
    platforms: Sequence[Platform | str] | None = None,
    project_id: str | None = None,
    preference: Preference | str | None = None,
    client: SyncClient | None = None,
) -> list[Prediction]:
    """List predictions, newest first, filtered by platform(s), project and preference."""
    params = contract.list_predictions_params(
        [contract.parse_platform(p) for p in platforms or ()],
        project_id,
        contract.parse_preference(preference),
    )
    result = _client(client).request(contract.LIST_PREDICTIONS, params=params)
    if not isinstance(result, list):
        raise PredictionError("The predictions endpoint returned something other than a list.")
    return [Prediction.model_validate(item) for item in result]


@returns_response
def wait_for_prediction(
    prediction_id: str,
    preference: Preference | str | None = None,
    *,
    timeout_s: float | None = DEFAULT_WAIT_TIMEOUT_S,
    poll: Backoff = DEFAULT_POLL,
    on_status: Callable[[PredictionStatus, float], None] | None = None,
    client: SyncClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Prediction:
    """Poll until the prediction succeeds or fails, then fetch it.

    :param timeout_s: overall limit in seconds (``None`` waits without limit).
    :param poll: delays between polls (exponential backoff with jitter).
    :param on_status: called with each status and the seconds waited so far (progress display).
    :raises PredictionError: when the prediction ends in ``FAILURE``, with Sync's message.
    :raises PredictionTimeoutError: when ``timeout_s`` passes first.
    """
    pref = contract.parse_preference(preference)
    contract.validate_id(prediction_id, "prediction_id")
    sync = _client(client)
    deadline = Deadline(timeout_s)
    started = time.monotonic()
    delays = poll.delays()
    while True:
        status, message = _status(sync, prediction_id)
        if on_status is not None:
            on_status(status, time.monotonic() - started)
        if status is PredictionStatus.SUCCESS:
            return get_prediction(prediction_id, pref, client=sync).unwrap()
        if status is PredictionStatus.FAILURE:
            raise PredictionError(
                f"Prediction {prediction_id} failed: {message or 'no reason given'}",
                detail={"prediction_id": prediction_id},
            )
        if deadline.expired:
            raise PredictionTimeoutError(
                f"Prediction {prediction_id} was still {status.value} after {timeout_s:g} s; wait longer "
                "or check it later with get_prediction_status.",
                detail={"prediction_id": prediction_id, "status": status.value},
            )
        sleep(deadline.clip(next(delays)))
