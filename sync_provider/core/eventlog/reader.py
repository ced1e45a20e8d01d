"""Streaming reader: the events of a Spark event log, one dict at a time, in constant memory.

Lines are split from decompressed chunks of bounded size and parsed one by one (with ``msgspec``
when it is installed, which is about three times faster than :func:`json.loads`, else with the
standard library). Malformed lines are counted and skipped; the log is rejected only when it is
unusable (see :func:`iter_events`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog.codecs import decompressed_chunks
from sync_provider.core.eventlog.layout import Layout, Part, open_layout

#: How many malformed lines are remembered (by number) in :attr:`ReadStats.malformed_examples`.
MAX_MALFORMED_EXAMPLES = 10
#: A log whose first this-many non-blank lines are all malformed is not a Spark event log.
MAX_LEADING_MALFORMED = 20

APP_START = "SparkListenerApplicationStart"
APP_END = "SparkListenerApplicationEnd"


@dataclass(frozen=True)
class MalformedLine:
    """Where a malformed line was (never its content, which may hold data).

    :param part: the part's name.
    :param line: 1-based line number in the decompressed part.
    :param reason: ``not JSON``, ``no Event key`` or ``cut last line``.
    """

    part: str
    line: int
    reason: str


@dataclass
class ReadStats:
    """Counters filled while a log is read (pass one to :func:`iter_events` and look after reading).

    :param files: part names in reading order.
    :param lines: non-blank lines read.
    :param events: events yielded.
    :param malformed_lines: lines skipped because they are not JSON objects with an ``Event`` key
        (including a last line cut in the middle).
    :param bytes_read: bytes read from the part files as stored (before decompression).
    :param malformed_examples: the first few malformed lines, by part and line number.
    :param cut_last_lines: parts whose last line was cut (the file was still being written).
    :param layout: ``single``, ``rolling`` or ``databricks``.
    :param codecs: codec of each part (``none``, ``gzip``, ``zstd``, ``lz4``, ``snappy``).
    :param skipped: files of the source that were ignored, each ``"name: reason"``.
    :param problems: completeness problems seen while reading (missing parts, in-progress files...).
    :param application_hint: the application id named by the layout (rolling folder name), if any.

    Use a new instance for every read: the checks at the end of a read look at the counters.
    """

    files: list[str] = field(default_factory=list)
    lines: int = 0
    events: int = 0
    malformed_lines: int = 0
    bytes_read: int = 0
    malformed_examples: list[MalformedLine] = field(default_factory=list)
    cut_last_lines: list[str] = field(default_factory=list)
    layout: str | None = None
    codecs: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    application_hint: str | None = None

    def add_bytes(self, count: int) -> None:
        """Add ``count`` to :attr:`bytes_read`."""
        self.bytes_read += count


def _decoder() -> Callable[[bytes], Any]:
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is optional
        return json.loads
    decode: Callable[[bytes], Any] = msgspec.json.Decoder().decode
    return decode


def _slow_decode(line: bytes) -> Any:
    """Standard-library fallback (accepts ``NaN``, lone surrogates...); ``None`` when not JSON."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def is_spark_event_name(name: object) -> bool:
    """Return whether an ``Event`` value looks like a Spark listener event.

    :param name: the value of the ``Event`` key.
    """
    return isinstance(name, str) and (
        "SparkListener" in name
        or name.startswith(("org.apache.spark.", "com.databricks.", "DBCEventLoggingListener"))
    )


def split_lines(chunks: Iterator[bytes], state: dict[str, Any]) -> Iterator[list[bytes]]:
    """Split decompressed chunks into batches of complete lines (without the newline).

    A last line without a newline is yielded alone, as the final batch, with ``state["tail"]`` set.

    :param chunks: decompressed chunks.
    :param state: receives ``tail`` (bool).
    """
    carry: list[bytes] = []
    for chunk in chunks:
        if chunk.find(b"\n") < 0:
            carry.append(chunk)
            continue
        if carry:
            carry.append(chunk)
            data = b"".join(carry)
            carry = []
        else:
            data = chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        if rest:
            carry.append(rest)
        yield lines
    if carry:
        tail = b"".join(carry)
        if tail.strip():
            state["tail"] = True
            yield [tail]


def part_batches(part: Part, stats: ReadStats, state: dict[str, Any]) -> Iterator[list[bytes]]:
    """Open one part and yield batches of its lines; the file is closed when the generator ends.

    :param part: the part.
    :param stats: receives ``bytes_read`` and the part's codec.
    :param state: receives ``codec``, ``tail`` and, for lz4, ``end_mark``.
    """
    stream = part.entry.opener()
    try:
        chunks = decompressed_chunks(
            stream, part.where, name_codec=part.codec, on_bytes=stats.add_bytes, state=state
        )
        stats.codecs[part.name] = str(state.get("codec", "none"))
        yield from split_lines(chunks, state)
    finally:
        stream.close()


def _stream_problems(part: Part, state: dict[str, Any], stats: ReadStats, cut: bool) -> None:
    if cut:
        stats.cut_last_lines.append(part.name)
        stats.problems.append(f"last line of {part.name} is cut off (the file was still being written)")
    if state.get("codec") == "lz4" and state.get("end_mark") is False:
        stats.problems.append(f"lz4 stream of {part.name} has no end mark (the file was not closed)")


def _record_malformed(stats: ReadStats, part: Part, lineno: int, reason: str) -> None:
    stats.malformed_lines += 1
    if len(stats.malformed_examples) < MAX_MALFORMED_EXAMPLES:
        stats.malformed_examples.append(MalformedLine(part.name, lineno, reason))


def _not_spark(part: Part, why: str) -> EventLogError:
    return EventLogError(
        f"{part.where} is not a Spark event log ({why}): pass the file Spark wrote to "
        "spark.eventLog.dir (JSON lines starting with a SparkListenerLogStart event).",
        detail={"reason": "not_spark", "part": part.where},
    )


def _mixed(layout: Layout) -> EventLogError:
    return EventLogError(
        f"{layout.source} holds more than one application: {layout.mixed}; pass the log folder "
        "of one application (one SparkContext).",
        detail={"reason": "mixed_applications", "part": layout.source},
    )


def _start_layout(layout: Layout, stats: ReadStats) -> None:
    stats.layout = layout.kind
    stats.application_hint = layout.app_id
    stats.skipped.extend(layout.skipped)
    stats.problems.extend(layout.problems)


def _finish_checks(
    layout: Layout,
    stats: ReadStats,
    max_malformed_ratio: float,
    cut_malformed: int,
    base: tuple[int, int, int],
) -> None:
    events = stats.events - base[0]
    lines = stats.lines - base[1]
    malformed = stats.malformed_lines - base[2]
    if events == 0:
        where = layout.parts[0].where if len(layout.parts) == 1 else layout.source
        if lines == 0:
            raise EventLogError(
                f"{where} is empty: it holds no events. Check that Spark finished writing it, "
                "or pass another log.",
                detail={"reason": "empty", "part": where},
            )
        raise EventLogError(
            f"{where} holds no Spark events ({malformed} malformed lines): "
            "it is not a Spark event log or it is corrupt.",
            detail={"reason": "not_spark", "part": where},
        )
    counted = malformed - cut_malformed
    if counted > max_malformed_ratio * lines:
        examples = ", ".join(f"{m.part} line {m.line}" for m in stats.malformed_examples[:5])
        raise EventLogError(
            f"{layout.source} has too many malformed lines: {counted} of {lines} "
            f"({counted / lines:.1%}, allowed {max_malformed_ratio:.1%}), e.g. {examples}; "
            "the log is corrupt: copy it again from where Spark wrote it, or raise max_malformed_ratio.",
            detail={"reason": "malformed", "part": layout.source, "malformed_lines": counted},
        )


def iter_layout_events(
    layout: Layout, stats: ReadStats, max_malformed_ratio: float = 0.01
) -> Iterator[dict[str, Any]]:
    """Yield the events of an already resolved layout (see :func:`iter_events`).

    :param layout: the resolved layout.
    :param stats: filled while reading.
    :param max_malformed_ratio: largest accepted share of malformed lines.
    :raises EventLogError: when the log is unusable.
    """
    if layout.mixed:
        raise _mixed(layout)
    _start_layout(layout, stats)
    decode = _decoder()
    first_checked = False
    leading_malformed = 0
    cut_malformed = 0
    app_id: str | None = None
    app_part = ""
    events = stats.events
    base = (stats.events, stats.lines, stats.malformed_lines)
    for part in layout.parts:
        stats.files.append(part.name)
        state: dict[str, Any] = {}
        lineno = 0
        cut = False
        try:
            for lines in part_batches(part, stats, state):
                stats.lines += len(lines)
                for line in lines:
                    lineno += 1
                    try:
                        event = decode(line)
                    except Exception:
                        event = _slow_decode(line)
                    if event.__class__ is dict and "Event" in event:
                        name = event["Event"]
                        if not first_checked:
                            if not is_spark_event_name(name):
                                raise _not_spark(part, f"its first event is {str(name)[:80]!r}")
                            first_checked = True
                        if name == APP_START:
                            started = event.get("App ID")
                            if app_id is None:
                                app_id, app_part = started, part.name
                            elif started is not None and started != app_id:
                                raise EventLogError(
                                    f"{layout.source} holds more than one application: "
                                    f"SparkListenerApplicationStart for {app_id} (in {app_part}) and "
                                    f"{started} (in {part.name}); pass the log of one application.",
                                    detail={"reason": "mixed_applications", "part": part.where},
                                )
                        events += 1
                        yield event
                        continue
                    if not line.strip():
                        stats.lines -= 1
                        continue
                    is_tail = bool(state.get("tail")) and len(lines) == 1
                    if event.__class__ is dict and not first_checked:
                        raise _not_spark(part, "its first JSON object has no 'Event' key")
                    reason = (
                        "cut last line" if is_tail else ("no Event key" if event is not None else "not JSON")
                    )
                    _record_malformed(stats, part, lineno, reason)
                    if is_tail:
                        cut = True
                        cut_malformed += 1
                    if not first_checked:
                        leading_malformed += 1
                        if leading_malformed >= MAX_LEADING_MALFORMED:
                            raise _not_spark(part, f"its first {leading_malformed} lines are not JSON events")
                stats.events = events
        finally:
            stats.events = events
        _stream_problems(part, state, stats, cut)
    _finish_checks(layout, stats, max_malformed_ratio, cut_malformed, base)


def iter_events(
    source: str | os.PathLike[str],
    *,
    s3_client: Any = None,
    http_session: Any = None,
    stats: ReadStats | None = None,
    max_malformed_ratio: float = 0.01,
    s3_page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the events of a Spark event log as dicts, streaming, in reading order.

    The source may be a single file, a Spark 3 rolling ``eventlog_v2_*`` folder, a Databricks
    ``eventlog`` folder with rolled parts, or a zip/tar of one of those; local, on S3 (object or
    prefix) or at an HTTP(S) URL; uncompressed or gzip/zstd/lz4/snappy compressed. Errors are raised
    when iteration starts (the generator is lazy).

    :param source: local path, ``s3://bucket/key`` (object or prefix) or ``http(s)://`` URL.
    :param s3_client: boto3 S3 client (default: ``boto3.client("s3")``, created when needed).
    :param http_session: ``requests`` session (default: a new one, closed at the end).
    :param stats: filled while reading (files, lines, events, malformed lines, bytes read...).
    :param max_malformed_ratio: largest accepted share of malformed lines (a cut last line is not
        counted); above it the log is rejected at the end of the iteration.
    :param s3_page_size: page size of the S3 listing (default 1000).
    :raises EventLogError: when the location does not exist or has an unsupported scheme; when the
        log is empty, not a Spark event log, holds more than one application, is truncated or
        corrupt (compressed stream cut, bad block), or has too many malformed lines.
    """
    stats = stats if stats is not None else ReadStats()
    with open_layout(
        source, s3_client=s3_client, http_session=http_session, s3_page_size=s3_page_size
    ) as layout:
        yield from iter_layout_events(layout, stats, max_malformed_ratio)


def iter_layout_lines(layout: Layout, stats: ReadStats) -> Iterator[tuple[Part, list[bytes], bool]]:
    """Yield ``(part, lines, is_cut_tail)`` batches of raw lines, without parsing them.

    :param layout: the resolved layout.
    :param stats: filled while reading (``files``, ``lines``, ``bytes_read``, stream problems).
    """
    _start_layout(layout, stats)
    for part in layout.parts:
        stats.files.append(part.name)
        state: dict[str, Any] = {}
        cut = False
        for lines in part_batches(part, stats, state):
            stats.lines += len(lines)
            tail = bool(state.get("tail")) and len(lines) == 1
            if tail and _slow_decode(lines[0]) is None:
                cut = True
                stats.malformed_lines += 1
            yield part, lines, tail
        _stream_problems(part, state, stats, cut)


def iter_lines(
    source: str | os.PathLike[str],
    *,
    s3_client: Any = None,
    http_session: Any = None,
    stats: ReadStats | None = None,
    s3_page_size: int | None = None,
) -> Iterator[bytes]:
    """Yield the raw lines (bytes, no newline) of an event log, in reading order, without parsing.

    Much faster than :func:`iter_events` when only a few lines matter (search them with
    ``bytes.find`` first). Takes the same sources as :func:`iter_events`.

    :param source: local path, ``s3://`` URL or ``http(s)://`` URL.
    :param s3_client: boto3 S3 client.
    :param http_session: ``requests`` session.
    :param stats: filled while reading.
    :param s3_page_size: page size of the S3 listing.
    :raises EventLogError: when the location is unusable or a compressed stream is corrupt.
    """
    stats = stats if stats is not None else ReadStats()
    with open_layout(
        source, s3_client=s3_client, http_session=http_session, s3_page_size=s3_page_size
    ) as layout:
        if layout.mixed:
            raise _mixed(layout)
        for _part, lines, _tail in iter_layout_lines(layout, stats):
            yield from lines
