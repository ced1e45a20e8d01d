"""Unusable inputs raise EventLogError with a clear message; damaged lines are counted, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import MalformedLine, ReadStats, check_completeness, iter_events, summarize

from .conftest import make_events, to_bytes

APP = "application_1700000000000_0001"


def _log(tmp_path: Path, data: bytes, name: str = APP) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match=r"event log .*nope does not exist: check the location") as info:
        list(iter_events(tmp_path / "nope"))
    assert info.value.detail["reason"] == "not_found"
    with pytest.raises(EventLogError, match=r"does not exist"):
        check_completeness(tmp_path / "nope")


@pytest.mark.parametrize("source", ["gs://bucket/log", "dbfs://cluster-logs/x", "ftp://host/log"])
def test_unsupported_scheme(source: str) -> None:
    with pytest.raises(EventLogError, match=r"unsupported event-log location .*use a local path, s3://"):
        list(iter_events(source))


def test_empty_file(tmp_path: Path) -> None:
    path = _log(tmp_path, b"")
    with pytest.raises(EventLogError, match=rf"{APP} is empty: it holds no events") as info:
        list(iter_events(path))
    assert info.value.detail["reason"] == "empty"
    with pytest.raises(EventLogError, match=r"is empty"):
        check_completeness(path)
    with pytest.raises(EventLogError, match=r"is empty"):
        list(iter_events(_log(tmp_path, b"\n\n  \n", "blank")))


def test_empty_gzip_file(tmp_path: Path) -> None:
    import gzip

    with pytest.raises(EventLogError, match=r"is empty"):
        list(iter_events(_log(tmp_path, gzip.compress(b""), "x.gz")))


def test_json_that_is_not_an_event_log(tmp_path: Path) -> None:
    path = _log(tmp_path, json.dumps({"plan_type": "premium"}).encode() + b"\n", "pricing.json")
    with pytest.raises(
        EventLogError, match=r"pricing\.json is not a Spark event log \(its first JSON object"
    ):
        list(iter_events(path))
    with pytest.raises(EventLogError, match=r"is not a Spark event log"):
        check_completeness(path)


def test_events_that_are_not_spark(tmp_path: Path) -> None:
    path = _log(tmp_path, b'{"Event": "UserLoggedIn", "user": "x"}\n', "audit.log")
    with pytest.raises(
        EventLogError, match=r"audit\.log is not a Spark event log \(its first event is 'UserLoggedIn'\)"
    ):
        list(iter_events(path))


def test_text_that_is_not_json(tmp_path: Path) -> None:
    path = _log(tmp_path, b"".join(b"line %d of a text file\n" % i for i in range(50)), "notes.txt")
    with pytest.raises(
        EventLogError, match=r"notes\.txt is not a Spark event log \(its first 20 lines are not JSON"
    ):
        list(iter_events(path))
    with pytest.raises(
        EventLogError, match=r"notes\.txt is not a Spark event log \(its first lines are not JSON"
    ):
        check_completeness(path)


def test_binary_garbage(tmp_path: Path) -> None:
    path = _log(tmp_path, bytes(range(256)) * 40, "blob")
    with pytest.raises(EventLogError, match=r"not a Spark event log"):
        list(iter_events(path))


def test_two_applications_in_one_file(tmp_path: Path) -> None:
    data = to_bytes(make_events(APP)) + to_bytes(make_events("application_1700000000000_0002"))
    path = _log(tmp_path, data, "both")
    with pytest.raises(
        EventLogError,
        match=r"holds more than one application: SparkListenerApplicationStart for "
        r"application_1700000000000_0001 \(in both\) and application_1700000000000_0002 \(in both\)",
    ) as info:
        list(iter_events(path))
    assert info.value.detail["reason"] == "mixed_applications"
    report = check_completeness(path)
    assert report.problems == [
        "more than one application: SparkListenerApplicationStart events for "
        "application_1700000000000_0001, application_1700000000000_0002"
    ]


def test_cut_last_line_is_malformed_not_fatal(tmp_path: Path) -> None:
    data = to_bytes(make_events(APP, end=False)) + b'{"Event":"SparkListenerTaskEnd","Stage ID":1,"Task'
    path = _log(tmp_path, data, f"{APP}.inprogress")
    stats = ReadStats()
    events = list(iter_events(path, stats=stats, max_malformed_ratio=0.0))
    assert events == make_events(APP, end=False)
    assert stats.malformed_lines == 1
    assert stats.malformed_examples == [MalformedLine(f"{APP}.inprogress", len(events) + 1, "cut last line")]
    assert stats.cut_last_lines == [f"{APP}.inprogress"]
    report = check_completeness(path)
    assert report.problems == [
        f"in-progress file {APP}.inprogress",
        f"last line of {APP}.inprogress is cut off (the file was still being written)",
        "no SparkListenerApplicationEnd event",
    ]
    assert summarize(path).malformed_lines == 1


def test_last_line_without_newline_but_complete_is_fine(tmp_path: Path) -> None:
    path = _log(tmp_path, to_bytes(make_events(APP)).rstrip(b"\n"))
    stats = ReadStats()
    assert list(iter_events(path, stats=stats)) == make_events(APP)
    assert stats.malformed_lines == 0
    assert check_completeness(path).complete


def test_malformed_lines_counted_with_line_numbers(tmp_path: Path) -> None:
    lines = to_bytes(make_events(APP, n_tasks=200)).splitlines()
    lines.insert(10, b"this is not json")
    lines.insert(20, b'{"no event": 1}')
    lines.insert(30, b"")
    path = _log(tmp_path, b"\n".join(lines) + b"\n")
    stats = ReadStats()
    events = list(iter_events(path, stats=stats))
    assert events == make_events(APP, n_tasks=200)
    assert stats.malformed_lines == 2
    assert stats.lines == len(lines) - 1  # the blank line is not counted
    assert stats.malformed_examples == [
        MalformedLine(APP, 11, "not JSON"),
        MalformedLine(APP, 21, "no Event key"),
    ]


def test_too_many_malformed_lines(tmp_path: Path) -> None:
    lines = to_bytes(make_events(APP, n_tasks=40)).splitlines()
    for position in range(5, 80, 10):
        lines.insert(position, b"{broken")
    path = _log(tmp_path, b"\n".join(lines) + b"\n")
    with pytest.raises(
        EventLogError, match=r"has too many malformed lines: 8 of 100 \(8\.0%, allowed 1\.0%\)"
    ) as info:
        list(iter_events(path))
    assert f"{APP} line 6" in info.value.message
    assert len(list(iter_events(path, max_malformed_ratio=0.1))) == 92


def test_nan_and_big_numbers_fall_back_to_the_standard_parser(tmp_path: Path) -> None:
    extra = b'{"Event":"SparkListenerLogStart","x":NaN,"big":123456789012345678901234567890}\n'
    path = _log(tmp_path, extra + to_bytes(make_events(APP)))
    events = list(iter_events(path))
    assert events[0]["big"] == 123456789012345678901234567890
    assert events[0]["x"] != events[0]["x"]  # NaN


def test_a_few_malformed_lines_only(tmp_path: Path) -> None:
    path = _log(tmp_path, b"{broken\n{also broken\n", "half")
    with pytest.raises(EventLogError, match=r"half holds no Spark events \(2 malformed lines\)"):
        list(iter_events(path))
    with pytest.raises(EventLogError, match=r"half holds no Spark events: it is not a Spark event log"):
        check_completeness(path)


def test_stats_can_be_reused(tmp_path: Path) -> None:
    path = _log(tmp_path, to_bytes(make_events(APP)))
    stats = ReadStats()
    first = len(list(iter_events(path, stats=stats)))
    assert len(list(iter_events(path, stats=stats))) == first
    assert stats.events == 2 * first
    assert stats.files == [APP, APP]
