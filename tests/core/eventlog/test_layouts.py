"""Single files, Spark 3 rolling folders, Databricks rolled folders, and zip/tar archives of them."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import ReadStats, check_completeness, iter_events, iter_lines, summarize
from sync_provider.testing.spark_codecs import CODEC_SUFFIXES, compress

from .conftest import dbc_line, make_events, to_bytes

APP = "application_1700000000000_0001"


def _split(events: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    size = -(-len(events) // parts)
    return [events[i : i + size] for i in range(0, len(events), size)]


def _rolling_dir(root: Path, *, codec: str = "none", parts: int = 3, status: str | None = "") -> Path:
    folder = root / f"eventlog_v2_{APP}"
    folder.mkdir(parents=True)
    for index, chunk in enumerate(_split(make_events(APP), parts), start=1):
        (folder / f"events_{index}_{APP}{CODEC_SUFFIXES[codec]}").write_bytes(
            compress(to_bytes(chunk), codec)
        )
    if status is not None:
        (folder / f"appstatus_{APP}{status}").write_bytes(b"")
    return folder


@pytest.mark.parametrize("codec", ["none", "zstd", "lz4", "snappy", "gzip"])
def test_rolling_folder_read_in_index_order(tmp_path: Path, codec: str) -> None:
    folder = _rolling_dir(tmp_path, codec=codec, parts=12)  # 12 parts: "10" sorts before "2" by name
    stats = ReadStats()
    assert list(iter_events(folder, stats=stats)) == make_events(APP)
    assert stats.layout == "rolling"
    count = len(list(folder.glob("events_*")))
    assert count >= 10
    assert stats.files == [f"events_{i}_{APP}{CODEC_SUFFIXES[codec]}" for i in range(1, count + 1)]
    report = check_completeness(folder)
    assert report.complete, report.problems
    assert report.application_id == APP


def test_rolling_folder_problems(tmp_path: Path) -> None:
    folder = _rolling_dir(tmp_path, parts=4, status=".inprogress")
    (folder / f"events_2_{APP}").unlink()
    (folder / f"events_3_{APP}").unlink()
    report = check_completeness(folder)
    assert report.problems == ["missing rolled parts 2, 3", f"in-progress file appstatus_{APP}.inprogress"]
    assert not report.complete


def test_rolling_folder_from_compacted_file(tmp_path: Path) -> None:
    folder = tmp_path / f"eventlog_v2_{APP}"
    folder.mkdir()
    first, second, third = _split(make_events(APP), 3)
    (folder / f"events_1_{APP}").write_bytes(to_bytes(first))  # replaced by the compacted file
    (folder / f"events_2_{APP}.compact").write_bytes(to_bytes(first + second))
    (folder / f"events_3_{APP}").write_bytes(to_bytes(third))
    (folder / f"appstatus_{APP}").write_bytes(b"")
    stats = ReadStats()
    assert list(iter_events(folder, stats=stats)) == make_events(APP)
    assert stats.files == [f"events_2_{APP}.compact", f"events_3_{APP}"]
    assert check_completeness(folder).complete


def test_two_rolling_applications_in_one_folder_raise(tmp_path: Path) -> None:
    _rolling_dir(tmp_path / "a")
    other = tmp_path / "a" / "eventlog_v2_application_2_0002"
    other.mkdir()
    (other / "events_1_application_2_0002").write_bytes(to_bytes(make_events("application_2_0002")))
    with pytest.raises(
        EventLogError, match=r"holds more than one application: the folder holds rolling logs of 2"
    ):
        list(iter_events(tmp_path / "a"))


def _databricks_parts(events: list[dict[str, Any]], context_id: int = 77) -> list[bytes]:
    return [to_bytes([dbc_line(i, context_id), *chunk]) for i, chunk in enumerate(_split(events, 3))]


def _databricks_dir(root: Path) -> Path:
    folder = root / "cluster" / "eventlog"
    folder.mkdir(parents=True)
    first, second, third = _databricks_parts(make_events(APP, end=False))
    (folder / "eventlog-2024-01-01--10-00.gz").write_bytes(compress(first, "gzip"))
    (folder / "eventlog-2024-01-01--11-00.gz").write_bytes(compress(second, "gzip"))
    (folder / "eventlog").write_bytes(third)
    (folder / ".eventlog.crc").write_bytes(b"crc")
    return folder


def _without_dbc(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["Event"] != "DBCEventLoggingListenerMetadata"]


def test_databricks_folder(tmp_path: Path) -> None:
    folder = _databricks_dir(tmp_path)
    stats = ReadStats()
    events = list(iter_events(folder, stats=stats))
    assert _without_dbc(events) == make_events(APP, end=False)
    assert stats.layout == "databricks"
    assert stats.files == ["eventlog-2024-01-01--10-00.gz", "eventlog-2024-01-01--11-00.gz", "eventlog"]
    assert stats.skipped == [".eventlog.crc: hidden file"]
    report = check_completeness(folder)
    assert report.problems == ["no SparkListenerApplicationEnd event"]
    summary = summarize(folder)
    assert summary.platform.platform == "databricks"
    assert summary.end_inferred
    assert summary.duration_s == 20.0  # job end, the last timestamp


def test_databricks_parts_ordered_by_rollover_number(tmp_path: Path) -> None:
    first, second, third = _databricks_parts(make_events(APP))
    folder = tmp_path / "logs"
    folder.mkdir()
    # Names that sort the wrong way: the rollover number decides.
    (folder / "eventlog-2024-01-01--12-00").write_bytes(first)
    (folder / "eventlog-2024-01-01--09-00").write_bytes(second)
    (folder / "eventlog").write_bytes(third)
    assert _without_dbc(list(iter_events(folder))) == make_events(APP)


def test_databricks_mixed_context_ids_raise(tmp_path: Path) -> None:
    folder = _databricks_dir(tmp_path)
    (folder / "eventlog-2024-01-01--09-00").write_bytes(
        to_bytes([dbc_line(0, 99), *make_events("app-2")[:3]])
    )
    with pytest.raises(
        EventLogError, match=r"holds more than one application: parts have 2 different SparkContext Ids"
    ):
        list(iter_events(folder))
    report = check_completeness(folder)
    assert (
        "duplicate rolled parts 0 (eventlog-2024-01-01--09-00, eventlog-2024-01-01--10-00.gz)"
        in report.problems
    )


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_of_single_file_with_junk(tmp_path: Path) -> None:
    data = to_bytes(make_events(APP))
    archive = _zip(
        tmp_path / "log.zip",
        {
            f"logs/{APP}": data,
            "__MACOSX/logs/._x": b"\x00\x05",
            "logs/.DS_Store": b"\x00\x00",
            "logs/pricing.json": json.dumps({"plan_type": "premium", "compute_type": "jobs"}).encode(),
        },
    )
    stats = ReadStats()
    assert list(iter_events(archive, stats=stats)) == make_events(APP)
    assert stats.files == [f"logs/{APP}"]
    assert "logs/pricing.json: JSON without an 'Event' key (not an event log)" in stats.skipped


def test_zip_of_rolling_folder_and_zip_of_databricks_folder(tmp_path: Path) -> None:
    folder = _rolling_dir(tmp_path / "r", codec="zstd")
    members = {f"{folder.name}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    assert list(iter_events(_zip(tmp_path / "rolling.zip", members))) == make_events(APP)

    dbx = _databricks_dir(tmp_path / "d")
    members = {f"eventlog/{p.name}": p.read_bytes() for p in sorted(dbx.iterdir())}
    members["eventlog/databricks_pricing.json"] = b'{"plan_type": "premium"}'
    stats = ReadStats()
    assert _without_dbc(list(iter_events(_zip(tmp_path / "dbx.zip", members), stats=stats))) == make_events(
        APP, end=False
    )
    assert stats.files[-1] == "eventlog/eventlog"
    assert "eventlog/databricks_pricing.json: not a Databricks event-log part" in stats.skipped


def test_tar_gz_and_zip_inside_a_folder(tmp_path: Path) -> None:
    data = to_bytes(make_events(APP))
    tar_path = tmp_path / "in" / "log.tgz"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w:gz") as archive:
        info = tarfile.TarInfo(f"x/{APP}.lz4")
        payload = compress(data, "lz4")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    stats = ReadStats()
    assert list(iter_events(tmp_path / "in", stats=stats)) == make_events(APP)
    assert stats.files == [f"x/{APP}.lz4"]  # the only file of the folder: named inside the archive


def test_zip_member_is_streamed_and_crc_checked(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "log.zip", {APP: to_bytes(make_events(APP))})
    raw = bytearray(archive.read_bytes())
    # Flip bytes in the stored data: zipfile's CRC check must turn into an EventLogError.
    with zipfile.ZipFile(archive) as z:
        offset = z.infolist()[0].header_offset + 30 + len(APP) + 10
    raw[offset : offset + 4] = b"\x00\x00\x00\x00"
    archive.write_bytes(bytes(raw))
    with pytest.raises(EventLogError, match=r"log\.zip!application_1700000000000_0001"):
        list(iter_events(archive))


def test_in_progress_single_file(tmp_path: Path) -> None:
    path = tmp_path / f"{APP}.inprogress"
    path.write_bytes(to_bytes(make_events(APP, end=False)))
    report = check_completeness(path)
    assert report.problems == [f"in-progress file {APP}.inprogress", "no SparkListenerApplicationEnd event"]


def test_folder_with_two_logs_raises(tmp_path: Path) -> None:
    (tmp_path / "application_1_0001").write_bytes(to_bytes(make_events("application_1_0001")))
    (tmp_path / "application_1_0002").write_bytes(to_bytes(make_events("application_1_0002")))
    (tmp_path / "README.txt").write_bytes(b"notes\n")
    with pytest.raises(EventLogError, match=r"holds 2 event logs \(application_1_0001, application_1_0002\)"):
        list(iter_events(tmp_path))


def test_folder_without_logs_raises(tmp_path: Path) -> None:
    (tmp_path / ".hidden").write_bytes(b"x")
    with pytest.raises(EventLogError, match=r"no Spark event log found in .*\.hidden: hidden file"):
        list(iter_events(tmp_path))


def test_iter_lines_yields_raw_lines(tmp_path: Path) -> None:
    folder = _rolling_dir(tmp_path, codec="snappy")
    lines = list(iter_lines(folder))
    assert [json.loads(line) for line in lines] == make_events(APP)


def test_rolling_folder_without_first_part_names_the_application(tmp_path: Path) -> None:
    folder = _rolling_dir(tmp_path, parts=3)
    (folder / f"events_1_{APP}").unlink()
    report = check_completeness(folder)
    assert report.application_id == APP
    assert report.problems == ["missing rolled parts 1", "no SparkListenerApplicationStart event"]
