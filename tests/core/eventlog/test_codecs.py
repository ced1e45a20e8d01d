"""Every codec Spark (and Databricks) use: round trips with files we produce, and damaged files."""

from __future__ import annotations

import gzip
import struct
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import ReadStats, check_completeness, iter_events
from sync_provider.core.eventlog.codecs import LZ4_CHECKSUM_SEED, codec_from_name, sniff_codec
from sync_provider.core.eventlog.xxhash32 import xxh32
from sync_provider.testing.spark_codecs import CODEC_SUFFIXES, CODECS, LZ4BlockWriter, compress

from .conftest import make_events, to_bytes


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_every_codec(
    tmp_path: Path, codec: str, sample_bytes: bytes, sample_events: list[Any]
) -> None:
    path = _write(tmp_path, "application_1_0001" + CODEC_SUFFIXES[codec], compress(sample_bytes, codec))
    stats = ReadStats()
    assert list(iter_events(path, stats=stats)) == sample_events
    assert stats.events == len(sample_events)
    assert stats.lines == len(sample_events)
    assert stats.malformed_lines == 0
    assert stats.bytes_read == path.stat().st_size
    assert stats.codecs == {path.name: codec}
    assert stats.problems == []


@pytest.mark.parametrize("codec", ["gzip", "zstd", "lz4", "snappy"])
def test_codec_found_by_magic_without_suffix(tmp_path: Path, codec: str, sample_bytes: bytes) -> None:
    path = _write(tmp_path, "application_1_0001", compress(sample_bytes, codec))
    stats = ReadStats()
    assert sum(1 for _ in iter_events(path, stats=stats)) == len(sample_bytes.splitlines())
    assert stats.codecs[path.name] == codec


def test_plain_file_named_gz_is_read_as_plain(tmp_path: Path, sample_bytes: bytes) -> None:
    # An HTTP client may already have removed a Content-Encoding: gzip.
    path = _write(tmp_path, "eventlog.json.gz", sample_bytes)
    assert sum(1 for _ in iter_events(path)) == len(sample_bytes.splitlines())


def test_codec_helpers() -> None:
    assert codec_from_name("events_1_app.zstd") == "zstd"
    assert codec_from_name("application_1.lz4.inprogress") == "lz4"
    assert codec_from_name("dir/eventlog-2022-01-14--17-00.gz") == "gzip"
    assert codec_from_name("application_1") is None
    assert sniff_codec(b"LZ4Block\x25") == "lz4"
    assert sniff_codec(b'{"Event"') is None


def test_xxh32_known_vectors() -> None:
    assert xxh32(b"") == 0x02CC5D05
    assert xxh32(b"a") == 0x550D7456
    assert xxh32(b"abc") == 0x32D153FF
    assert xxh32(b"Nobody inspects the spammish repetition") == 0xE2293B2F


def test_lz4_without_checksums_and_raw_blocks(tmp_path: Path, sample_bytes: bytes) -> None:
    # Random-looking data does not compress: lz4-java then stores the block raw (method 0x10).
    import random

    rng = random.Random(1)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3000))
    data = sample_bytes + to_bytes([{"Event": "SparkListenerLogStart", "Noise": noise}])
    path = _write(tmp_path, "app.lz4", compress(data, "lz4", block_size=64, checksum=False))
    assert sum(1 for _ in iter_events(path)) == len(data.splitlines())


def test_lz4_concatenated_streams(tmp_path: Path, sample_bytes: bytes) -> None:
    half = sample_bytes.index(b"\n", len(sample_bytes) // 2) + 1
    data = compress(sample_bytes[:half], "lz4") + compress(sample_bytes[half:], "lz4")
    path = _write(tmp_path, "app.lz4", data)
    assert sum(1 for _ in iter_events(path)) == len(sample_bytes.splitlines())


def test_snappy_concatenated_streams(tmp_path: Path, sample_bytes: bytes) -> None:
    half = sample_bytes.index(b"\n", len(sample_bytes) // 2) + 1
    data = compress(sample_bytes[:half], "snappy") + compress(sample_bytes[half:], "snappy")
    path = _write(tmp_path, "app.snappy", data)
    assert sum(1 for _ in iter_events(path)) == len(sample_bytes.splitlines())


def test_gzip_multi_member(tmp_path: Path, sample_bytes: bytes) -> None:
    half = sample_bytes.index(b"\n", len(sample_bytes) // 2) + 1
    data = gzip.compress(sample_bytes[:half]) + gzip.compress(sample_bytes[half:])
    path = _write(tmp_path, "app.gz", data)
    assert sum(1 for _ in iter_events(path)) == len(sample_bytes.splitlines())


def test_lz4_without_end_mark_is_readable_but_incomplete(tmp_path: Path) -> None:
    import io

    out = io.BytesIO()
    writer = LZ4BlockWriter(out)
    writer.write(to_bytes(make_events()))
    writer.close(end_mark=False)
    path = _write(tmp_path, "application_1700000000000_0001.lz4", out.getvalue())
    stats = ReadStats()
    assert sum(1 for _ in iter_events(path, stats=stats)) == len(make_events())
    assert stats.problems == [f"lz4 stream of {path.name} has no end mark (the file was not closed)"]
    report = check_completeness(path)
    assert not report.complete
    assert report.problems == [f"lz4 stream of {path.name} has no end mark (the file was not closed)"]


@pytest.mark.parametrize("codec", ["gzip", "zstd", "lz4", "snappy"])
def test_truncated_stream_raises(tmp_path: Path, codec: str, sample_bytes: bytes) -> None:
    data = compress(sample_bytes, codec)
    path = _write(tmp_path, "app" + CODEC_SUFFIXES[codec], data[: len(data) * 2 // 3])
    with pytest.raises(EventLogError, match=r"truncated") as info:
        list(iter_events(path))
    assert str(path) in info.value.message
    assert "copy the complete file again" in info.value.message
    assert info.value.detail["reason"] == "truncated"


@pytest.mark.parametrize("codec", ["gzip", "zstd", "lz4", "snappy"])
def test_truncated_stream_is_a_completeness_problem(tmp_path: Path, codec: str, sample_bytes: bytes) -> None:
    data = compress(sample_bytes, codec)
    path = _write(tmp_path, "app" + CODEC_SUFFIXES[codec], data[: len(data) * 2 // 3])
    report = check_completeness(path)
    assert not report.complete
    assert any("truncated" in problem for problem in report.problems)


def test_corrupt_gzip_raises(tmp_path: Path, sample_bytes: bytes) -> None:
    data = bytearray(compress(sample_bytes, "gzip"))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    path = _write(tmp_path, "app.gz", bytes(data))
    with pytest.raises(EventLogError, match=r"app\.gz: the gzip data is corrupt"):
        list(iter_events(path))


def test_lz4_first_block_checksum_is_verified(tmp_path: Path, sample_bytes: bytes) -> None:
    data = bytearray(compress(sample_bytes, "lz4"))
    # Header: magic (8), token (1), compressed length, original length, checksum (int32 LE each).
    struct.pack_into("<i", data, 17, 12345)
    path = _write(tmp_path, "app.lz4", bytes(data))
    with pytest.raises(EventLogError, match=r"app\.lz4: the lz4 data is corrupt \(block checksum mismatch\)"):
        list(iter_events(path))


def _second_block_offset(data: bytes) -> int:
    (compressed_length,) = struct.unpack_from("<i", data, 9)
    return 21 + compressed_length


def test_lz4_every_block_checksum_verified_with_xxhash_package(
    tmp_path: Path, sample_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytearray(compress(sample_bytes, "lz4"))
    struct.pack_into("<i", data, _second_block_offset(bytes(data)) + 17, 12345)
    path = _write(tmp_path, "app.lz4", bytes(data))
    # Without the optional package only the first block is checked...
    monkeypatch.setitem(sys.modules, "xxhash", None)
    assert len(list(iter_events(path))) > 0
    # ...with it (here a stand-in with the package's API) every block is.
    fake = types.ModuleType("xxhash")
    fake.xxh32_intdigest = xxh32  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "xxhash", fake)
    with pytest.raises(EventLogError, match=r"block checksum mismatch"):
        list(iter_events(path))
    assert xxh32(b"x" * 100, LZ4_CHECKSUM_SEED) == fake.xxh32_intdigest(b"x" * 100, LZ4_CHECKSUM_SEED)


def test_suffix_codec_with_foreign_content_is_corrupt(tmp_path: Path) -> None:
    path = _write(tmp_path, "events_1_app.lz4", b"\x00\x01\x02\x03garbage-garbage")
    with pytest.raises(
        EventLogError, match=r"named as lz4-compressed but does not start with the lz4 header"
    ):
        list(iter_events(path))


def test_lzf_is_reported_as_unsupported(tmp_path: Path) -> None:
    path = _write(tmp_path, "application_1.lzf", b"ZV\x00\x00\x10" + b"x" * 20)
    with pytest.raises(EventLogError, match=r"lzf codec, which this reader does not support"):
        list(iter_events(path))


@pytest.mark.parametrize(
    "case",
    [("zstd", "zstandard", "zstandard"), ("lz4", "lz4.block", "lz4"), ("snappy", "cramjam", "cramjam")],
)
def test_missing_codec_library_names_the_extra(
    tmp_path: Path, sample_bytes: bytes, monkeypatch: pytest.MonkeyPatch, case: tuple[str, str, str]
) -> None:
    codec, module, package = case
    path = _write(tmp_path, "app" + CODEC_SUFFIXES[codec], compress(sample_bytes, codec))
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(EventLogError) as info:
        list(iter_events(path))
    message = info.value.message
    assert f"compressed with {codec}" in message
    assert f"'{package}' package" in message
    assert 'pip install "airflow-provider-sync-computing[codecs]"' in message
