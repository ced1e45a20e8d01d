"""Uploading a local event log: the cheap check that it is a (whole) Spark event log, made before
anything is created at Sync."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core import predictions
from sync_provider.core.errors import EventLogError, InvalidInputError
from sync_provider.testing.eventlog_generator import emr_cluster_report, generate_events, tiny_workload

APP = "application_1700000000000_0001"


def spark_log() -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in generate_events(tiny_workload()))


LOG = spark_log()
LINES = LOG.splitlines(keepends=True)


@pytest.fixture
def report() -> dict[str, Any]:
    return emr_cluster_report(tiny_workload())


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def create(path: Path, report: dict[str, Any], client: Any, **kwargs: Any) -> Any:
    return predictions.create_prediction("aws-emr", report, path, client=client, **kwargs)


def refused(response: Any, sync_server: Any) -> str:
    assert response.error is not None, "expected the upload to be refused"
    assert response.error.kind == "EventLogError", response.error
    assert sync_server.predictions() == [], "a prediction was created before the check"
    with pytest.raises(EventLogError):
        response.unwrap()
    message: str = response.error.message
    return message


# ------------------------------------------------------------------------------- accepted uploads


@pytest.mark.parametrize(
    "case",
    [
        (APP, LOG),
        (APP + ".gz", gzip.compress(LOG)),
        (APP, LOG.rstrip(b"\n")),  # whole, only without the newline after the last event
        (APP, LOG + b"\n\n  \n"),  # trailing blank lines
    ],
    ids=["plain", "gzip", "no-final-newline", "trailing-blank-lines"],
)
def test_a_whole_spark_log_is_uploaded(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any, case: tuple[str, bytes]
) -> None:
    name, data = case
    prediction_id = create(write(tmp_path, name, data), report, sync_client).unwrap()
    assert [p["prediction_id"] for p in sync_server.predictions()] == [prediction_id]


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy"])
def test_spark_codecs_are_read_for_the_head(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any, codec: str
) -> None:
    from sync_provider.testing.spark_codecs import CODEC_SUFFIXES, compress

    good = write(tmp_path, APP + CODEC_SUFFIXES[codec], compress(LOG, codec))
    assert create(good, report, sync_client).unwrap()
    foreign = write(
        tmp_path / "foreign", APP + CODEC_SUFFIXES[codec], compress(b'{"user": "x"}\n' * 9, codec)
    )
    assert "is not a Spark event log" in refused_again(create(foreign, report, sync_client))


def refused_again(response: Any) -> str:
    assert response.error is not None and response.error.kind == "EventLogError", response.error
    message: str = response.error.message
    return message


def test_a_rolling_folder_is_checked_and_uploaded_as_a_zip(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any
) -> None:
    folder = tmp_path / f"eventlog_v2_{APP}"
    half = len(LINES) // 2
    write(folder, f"events_1_{APP}", b"".join(LINES[:half]))
    write(folder, f"events_2_{APP}", b"".join(LINES[half:]))
    write(folder, f"appstatus_{APP}", b"")
    assert create(folder, report, sync_client).unwrap()


# -------------------------------------------------------------------------------- refused uploads


@pytest.mark.parametrize(
    "case",
    [
        (bytes(range(256)) * 32, "is not a Spark event log (its first 20 lines are not JSON events)"),
        (b'{"user": "alice"}\n{"user": "bob"}\n', "is not a Spark event log (its first JSON object has no"),
        (b'{"Event": "UserLoggedIn"}\n', "is not a Spark event log (its first event is 'UserLoggedIn')"),
        (b"hello\nnot spark\n", "holds no Spark events"),
        (gzip.compress(bytes(range(256)) * 32), "is not a Spark event log"),
        (b"\x1f\x8b\x08\x00" + b"garbage" * 40, "the gzip data is corrupt"),
    ],
    ids=["binary", "foreign-json", "foreign-event", "plain-text", "gzipped-binary", "corrupt-gzip"],
)
def test_what_is_not_a_spark_log_is_refused_before_anything_is_created(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any, case: tuple[bytes, str]
) -> None:
    data, needle = case
    name = APP + (".gz" if data.startswith(b"\x1f\x8b") else "")
    message = refused(create(write(tmp_path, name, data), report, sync_client), sync_server)
    assert needle in message


def test_allow_incomplete_does_not_let_a_foreign_file_through(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any
) -> None:
    path = write(tmp_path, APP, b'{"user": "alice"}\n')
    message = refused(create(path, report, sync_client, allow_incomplete=True), sync_server)
    assert "is not a Spark event log" in message


def test_a_cut_last_line_is_refused_unless_allowed(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any
) -> None:
    cut = b"".join(LINES[: len(LINES) // 2]) + LINES[len(LINES) // 2][:20]
    path = write(tmp_path, APP, cut)
    message = refused(create(path, report, sync_client), sync_server)
    assert f"The event log {path} is incomplete: last line of {APP} is cut off" in message
    assert "allow_incomplete=True" in message
    assert create(path, report, sync_client, allow_incomplete=True).unwrap()


def test_a_cut_line_longer_than_one_read_step_is_still_found(tmp_path: Path) -> None:
    long_line = b'{"Event": "SparkListenerEnvironmentUpdate", "x": "' + b"a" * (300 * 1024)
    path = write(tmp_path, APP, LINES[0] + long_line)
    with pytest.raises(EventLogError, match="is cut off"):
        predictions._check_local_eventlog(str(path), allow_incomplete=False)


def test_an_in_progress_file_and_a_missing_rolled_part_are_refused_unless_allowed(
    tmp_path: Path, report: dict[str, Any], sync_server: Any, sync_client: Any
) -> None:
    inprogress = write(tmp_path, APP + ".inprogress", LOG)
    assert f"in-progress file {APP}.inprogress" in refused(
        create(inprogress, report, sync_client), sync_server
    )

    folder = tmp_path / f"eventlog_v2_{APP}"
    third = len(LINES) // 3
    write(folder, f"events_1_{APP}", b"".join(LINES[:third]))
    write(folder, f"events_3_{APP}", b"".join(LINES[2 * third :]))
    assert "missing rolled parts 2" in refused(create(folder, report, sync_client), sync_server)
    assert create(folder, report, sync_client, allow_incomplete=True).unwrap()


def test_a_missing_or_empty_file_is_still_an_invalid_input(
    tmp_path: Path, report: dict[str, Any], sync_client: Any
) -> None:
    missing = create(tmp_path / "nowhere", report, sync_client)
    assert missing.error is not None and missing.error.kind == "InvalidInputError"
    assert "does not exist" in missing.error.message
    with pytest.raises(InvalidInputError, match="is empty"):
        create(write(tmp_path, APP, b""), report, sync_client).unwrap()


# ------------------------------------------------------------------------------------------ cheap


def test_only_the_ends_of_a_large_log_are_read(tmp_path: Path) -> None:
    """A 1 GiB log (sparse: its middle is NUL bytes a whole read would reject) is checked at once."""
    path = tmp_path / APP
    with path.open("wb") as handle:
        handle.write(b"".join(LINES[:5]))
        handle.seek(1024**3)
        handle.write(b"\n" + LINES[-1])
    assert os.path.getsize(path) > 1024**3
    started = time.monotonic()
    predictions._check_local_eventlog(str(path), allow_incomplete=False)
    assert time.monotonic() - started < 1.0


def test_the_reader_would_reject_what_the_cheap_check_lets_through(tmp_path: Path) -> None:
    """The check is about the form of the log; its content is Sync's (and the full reader's) to judge."""
    from sync_provider.core.eventlog import iter_events

    middle = b"not json\n" * 200
    path = write(tmp_path, APP, b"".join(LINES[:5]) + middle + b"".join(LINES[5:]))
    predictions._check_local_eventlog(str(path), allow_incomplete=False)
    with pytest.raises(EventLogError, match="too many malformed lines"):
        for _ in iter_events(path):
            pass
