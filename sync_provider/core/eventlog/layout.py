"""How the files of one event log are laid out, and in which order to read them.

Supported layouts, found in a local directory, an S3 prefix, a zip or a tar archive (archives may
also sit inside a directory):

* a single file (``application_..._0001``, ``app-...``, ``local-...``, ``*.inprogress``, any name);
* Spark 3's rolling directory: ``eventlog_v2_<appId>/events_<N>_<appId>[.<codec>]`` read in index
  order from the last ``.compact`` file on, plus the ``appstatus_<appId>[.inprogress]`` marker;
* Databricks' rolled log folder: ``eventlog-YYYY-MM-DD--HH-00[.gz]`` parts and the current
  ``eventlog``; each part starts with a ``DBCEventLoggingListenerMetadata`` line whose
  ``Rollover Number`` gives the order and whose ``SparkContext Id`` names the application.

Hidden files, ``__MACOSX/``, ``.DS_Store``, ``*.crc``, ``_SUCCESS`` and JSON files that are not event
logs (e.g. ``databricks_pricing.json``) are skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog import sources
from sync_provider.core.eventlog.codecs import ZIP_MAGIC, codec_from_name, decompressed_chunks
from sync_provider.core.eventlog.sources import Entry, RawStream

_ROLLING_RE = re.compile(r"^events_(\d+)_(.+)$")
_APPSTATUS_RE = re.compile(r"^appstatus_(.+)$")
_DATABRICKS_RE = re.compile(r"^eventlog(?:[-_.].*)?$")
_DATABRICKS_STAMP_RE = re.compile(r"^eventlog-(\d{4}-\d{2}-\d{2}--\d{2}-\d{2})")
_STRIP_SUFFIXES = (".inprogress", ".compact", ".gz", ".gzip", ".zstd", ".zst", ".lz4", ".snappy", ".lzf")
_MAX_FIRST_LINE = 4 * 1024 * 1024
_MAX_ARCHIVE_DEPTH = 2


@dataclass
class Part:
    """One file of an event log, in reading order.

    :param entry: the file.
    :param inprogress: whether its name ends with ``.inprogress``.
    :param index: rolling-log index (``events_<index>_...``).
    :param rollover: Databricks rollover number from the first line.
    :param context_id: Databricks SparkContext id from the first line.
    """

    entry: Entry
    inprogress: bool = False
    compact: bool = False
    index: int | None = None
    rollover: int | None = None
    context_id: int | None = None

    @property
    def name(self) -> str:
        """Name relative to the source."""
        return self.entry.name

    @property
    def where(self) -> str:
        """Full location, for messages."""
        return self.entry.where

    @property
    def codec(self) -> str | None:
        """Codec named by the file's suffix."""
        return codec_from_name(self.entry.basename)


@dataclass
class Layout:
    """The parts of one event log and what the layout alone says about its completeness.

    :param kind: ``single``, ``rolling`` or ``databricks``.
    :param source: the source as given, for messages.
    :param parts: files in reading order.
    :param problems: completeness problems seen in the layout (missing parts, in-progress markers...).
    :param mixed: set when the parts belong to more than one application (a problem sentence).
    :param skipped: files ignored, each ``"name: reason"``.
    :param app_id: the application id named by the files (rolling logs), if any.
    """

    kind: str
    source: str
    parts: list[Part]
    problems: list[str] = field(default_factory=list)
    mixed: str | None = None
    skipped: list[str] = field(default_factory=list)
    app_id: str | None = None


def _error(message: str, reason: str, where: str) -> EventLogError:
    return EventLogError(message, detail={"reason": reason, "part": where})


def split_suffixes(basename: str) -> tuple[str, bool, bool]:
    """Strip ``.inprogress``, ``.compact`` and codec suffixes from a file name.

    :param basename: the file name.
    :returns: the stem, whether it was in progress, whether it was a compacted file.
    """
    stem = basename
    inprogress = compact = False
    changed = True
    while changed:
        changed = False
        for suffix in _STRIP_SUFFIXES:
            if stem.lower().endswith(suffix) and len(stem) > len(suffix):
                stem = stem[: -len(suffix)]
                inprogress = inprogress or suffix == ".inprogress"
                compact = compact or suffix == ".compact"
                changed = True
    return stem, inprogress, compact


def _ignore_reason(entry: Entry) -> str | None:
    components = entry.name.split("/")
    if any(c == "__MACOSX" for c in components):
        return "macOS archive metadata"
    if any(c.startswith(".") for c in components if c):
        return "hidden file"
    base = entry.basename
    if base == "_SUCCESS" or base.endswith(".crc"):
        return "not an event log"
    return None


# -------------------------------------------------------------------------------------------- archives


class _GuardedStream:
    """Turns archive read errors (bad CRC, cut member) into :class:`EventLogError`."""

    def __init__(self, stream: Any, where: str) -> None:
        self._stream = stream
        self._where = where

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise _error(
                f"{self._where}: the archive member is corrupt or truncated ({exc}); "
                "create the archive again from the original files.",
                "truncated" if isinstance(exc, EOFError) else "corrupt",
                self._where,
            ) from exc
        return data

    def close(self) -> None:
        self._stream.close()


def _archive_kind(entry: Entry) -> str | None:
    lower = entry.basename.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tgz", ".tar.gz", ".tar")):
        return "tar"
    if entry.local_path is not None and entry.size and entry.size >= 4:
        try:
            with open(entry.local_path, "rb") as handle:
                if handle.read(4) == ZIP_MAGIC:
                    return "zip"
        except OSError:
            return None
    return None


def _member_name(parent: Entry, member: str, single: bool) -> str:
    member = member.strip("/")
    return member if single else f"{parent.name}/{member}"


def _zip_entries(path: str, parent: Entry, single: bool, stack: contextlib.ExitStack) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _error(
            f"{parent.where} is not a valid zip archive ({exc}): it may be truncated; create it again.",
            "corrupt",
            parent.where,
        ) from exc
    stack.callback(archive.close)
    entries = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        where = f"{parent.where}!{info.filename}"

        def opener(info: zipfile.ZipInfo = info, where: str = where) -> RawStream:
            try:
                return _GuardedStream(archive.open(info), where)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise _error(
                    f"{where}: cannot read the zip member ({exc}); create the archive again with "
                    "standard deflate compression and no password.",
                    "corrupt",
                    where,
                ) from exc

        entries.append(
            Entry(
                name=_member_name(parent, info.filename, single),
                where=where,
                size=info.file_size,
                opener=opener,
            )
        )
    return entries


def _tar_entries(path: str, parent: Entry, single: bool, stack: contextlib.ExitStack) -> list[Entry]:
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the stack
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _error(
            f"{parent.where} is not a valid tar archive ({exc}): it may be truncated; create it again.",
            "corrupt",
            parent.where,
        ) from exc
    stack.callback(archive.close)
    entries = []
    for member in members:
        if not member.isfile():
            continue
        where = f"{parent.where}!{member.name}"

        def opener(member: tarfile.TarInfo = member, where: str = where) -> RawStream:
            handle = archive.extractfile(member)
            if handle is None:  # pragma: no cover - regular files always have a handle
                raise _error(
                    f"{where}: cannot read the tar member; create the archive again.", "corrupt", where
                )
            return _GuardedStream(handle, where)

        entries.append(
            Entry(
                name=_member_name(parent, member.name, single),
                where=where,
                size=member.size,
                opener=opener,
            )
        )
    return entries


def expand_archives(
    entries: list[Entry], stack: contextlib.ExitStack, tmpdir: Callable[[], str], depth: int = 0
) -> list[Entry]:
    """Replace zip and tar entries by their members (remote archives are spooled to disk first).

    :param entries: the source's files.
    :param stack: keeps the archives open; closing it closes them.
    :param tmpdir: returns a temporary directory for spooled archives.
    :param depth: nesting depth (archives inside archives are expanded twice at most).
    """
    out: list[Entry] = []
    single = len(entries) == 1 and depth == 0
    for entry in entries:
        kind = _archive_kind(entry) if _ignore_reason(entry) is None else None
        if kind is None or depth >= _MAX_ARCHIVE_DEPTH:
            out.append(entry)
            continue
        path = entry.local_path or sources.spool(entry, tmpdir())
        members = (
            _zip_entries(path, entry, single, stack)
            if kind == "zip"
            else _tar_entries(path, entry, single, stack)
        )
        out.extend(expand_archives(members, stack, tmpdir, depth + 1))
    return out


# --------------------------------------------------------------------------------------------- peeking


def first_line(entry: Entry) -> bytes:
    """Return the first non-blank line of a file (decompressed), or ``b""`` for an empty file.

    :param entry: the file.
    """
    stream = entry.opener()
    try:
        pieces: list[bytes] = []
        size = 0
        chunks = decompressed_chunks(stream, entry.where, name_codec=codec_from_name(entry.basename))
        try:
            for chunk in chunks:
                pieces.append(chunk)
                size += len(chunk)
                data = b"".join(pieces)
                for line in data.split(b"\n")[:-1]:
                    if line.strip():
                        return line
                if size > _MAX_FIRST_LINE:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return b"".join(pieces).strip()
    finally:
        stream.close()


def parse_json_object(line: bytes) -> dict[str, Any] | None:
    """Parse one line as a JSON object, or return ``None``.

    :param line: the line.
    """
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -------------------------------------------------------------------------------------------- layouts


def _number_list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _rolling(parts_in: list[tuple[Entry, str, int, bool, bool]], markers: list[Entry], source: str) -> Layout:
    app_ids = sorted({app for _, app, _, _, _ in parts_in})
    layout = Layout(kind="rolling", source=source, parts=[])
    if len(app_ids) > 1:
        layout.mixed = f"the folder holds rolling logs of {len(app_ids)} applications ({', '.join(app_ids)})"
    else:
        layout.app_id = app_ids[0]
    compact_indexes = [index for _, _, index, _, compact in parts_in if compact]
    start = max(compact_indexes) if compact_indexes else 1
    by_index: dict[int, list[Part]] = {}
    for entry, _app, index, inprogress, compact in sorted(parts_in, key=lambda p: (p[2], p[0].name)):
        if index < start or (index == start and compact_indexes and not compact):
            layout.skipped.append(f"{entry.name}: replaced by the compacted file events_{start}")
            continue
        part = Part(entry=entry, inprogress=inprogress, compact=compact, index=index)
        by_index.setdefault(index, []).append(part)
        layout.parts.append(part)
    if by_index:
        missing = [n for n in range(start, max(by_index) + 1) if n not in by_index]
        if missing:
            layout.problems.append(f"missing rolled parts {_number_list(missing)}")
        _add_duplicates(layout, by_index)
    for part in layout.parts:
        if part.inprogress:
            layout.problems.append(f"in-progress file {part.entry.basename}")
    for marker in markers:
        if marker.basename.endswith(".inprogress"):
            layout.problems.append(f"in-progress file {marker.basename}")
    return layout


def _add_duplicates(layout: Layout, by_number: dict[int, list[Part]]) -> None:
    duplicates = sorted(n for n, parts in by_number.items() if len(parts) > 1)
    if duplicates:
        if len(duplicates) == 1:
            detail = ", ".join(p.name for p in by_number[duplicates[0]])
        else:
            detail = "; ".join(f"{n}: {', '.join(p.name for p in by_number[n])}" for n in duplicates)
        layout.problems.append(f"duplicate rolled parts {_number_list(duplicates)} ({detail})")


def _databricks_key(entry: Entry) -> tuple[int, str, str]:
    stem, _, _ = split_suffixes(entry.basename)
    match = _DATABRICKS_STAMP_RE.match(stem)
    # Dated parts first, in time order; then other names; the current "eventlog" last.
    if match:
        return (0, match.group(1), entry.name)
    return (2, "", entry.name) if stem == "eventlog" else (1, stem, entry.name)


def _databricks(entries: list[Entry], source: str) -> Layout:
    layout = Layout(kind="databricks", source=source, parts=[])
    parts: list[Part] = []
    for entry in sorted(entries, key=_databricks_key):
        _, inprogress, _ = split_suffixes(entry.basename)
        part = Part(entry=entry, inprogress=inprogress)
        meta = parse_json_object(first_line(entry))
        if meta is not None and meta.get("Event") == "DBCEventLoggingListenerMetadata":
            number = meta.get("Rollover Number")
            context = meta.get("SparkContext Id")
            part.rollover = number if isinstance(number, int) else None
            part.context_id = context if isinstance(context, int) else None
        parts.append(part)
    with_number = [p for p in parts if p.rollover is not None]
    if with_number:
        if len(with_number) == len(parts):
            parts.sort(key=lambda p: (p.rollover or 0, _databricks_key(p.entry)))
        for part in parts:
            if part.rollover is None:
                layout.problems.append(f"part {part.name} has no DBCEventLoggingListenerMetadata event")
        by_number: dict[int, list[Part]] = {}
        for part in with_number:
            by_number.setdefault(part.rollover or 0, []).append(part)
        missing = [n for n in range(0, max(by_number) + 1) if n not in by_number]
        if missing:
            layout.problems.append(f"missing rolled parts {_number_list(missing)}")
        _add_duplicates(layout, by_number)
        contexts: dict[int, list[str]] = {}
        for part in with_number:
            if part.context_id is not None:
                contexts.setdefault(part.context_id, []).append(part.name)
        if len(contexts) > 1:
            detail = "; ".join(f"{cid}: {', '.join(names)}" for cid, names in contexts.items())
            layout.mixed = f"parts have {len(contexts)} different SparkContext Ids ({detail})"
            layout.problems.append(layout.mixed)
    layout.parts = parts
    for part in parts:
        if part.inprogress:
            layout.problems.append(f"in-progress file {part.entry.basename}")
    return layout


def classify_entries(entries: list[Entry], source: str) -> Layout:
    """Pick the layout of an event log from its files.

    :param entries: the files (archives already expanded).
    :param source: the source as given, for messages.
    :raises EventLogError: when there is no event log, or several unrelated ones.
    """
    skipped: list[str] = []
    candidates: list[Entry] = []
    for entry in entries:
        reason = _ignore_reason(entry)
        if reason is not None:
            skipped.append(f"{entry.name}: {reason}")
        else:
            candidates.append(entry)

    rolling: list[tuple[Entry, str, int, bool, bool]] = []
    markers: list[Entry] = []
    databricks: list[Entry] = []
    others: list[Entry] = []
    for entry in candidates:
        stem, inprogress, compact = split_suffixes(entry.basename)
        rolling_match = _ROLLING_RE.match(stem)
        if rolling_match:
            rolling.append((entry, rolling_match.group(2), int(rolling_match.group(1)), inprogress, compact))
        elif _APPSTATUS_RE.match(stem):
            markers.append(entry)
        elif _DATABRICKS_RE.match(stem):
            databricks.append(entry)
        else:
            others.append(entry)

    if rolling:
        layout = _rolling(rolling, markers, source)
        skipped.extend(f"{e.name}: not part of the rolling log" for e in databricks + others)
    elif databricks:
        layout = _databricks(databricks, source)
        skipped.extend(f"{e.name}: not a Databricks event-log part" for e in others)
    else:
        layout = _single(others, source, skipped)
    layout.skipped = skipped + layout.skipped
    return layout


def _single(others: list[Entry], source: str, skipped: list[str]) -> Layout:
    if len(others) > 1:
        kept: list[Entry] = []
        for entry in others:
            if entry.size == 0:
                skipped.append(f"{entry.name}: empty file")
                continue
            line = first_line(entry)
            obj = parse_json_object(line)
            if obj is None:
                skipped.append(f"{entry.name}: not JSON lines")
            elif "Event" not in obj:
                skipped.append(f"{entry.name}: JSON without an 'Event' key (not an event log)")
            else:
                kept.append(entry)
        if len(kept) > 1:
            names = ", ".join(e.name for e in kept)
            raise _error(
                f"{source} holds {len(kept)} event logs ({names}): pass the path of one of them.",
                "several_logs",
                source,
            )
        others = kept
    if not others:
        seen = "; ".join(skipped) if skipped else "no files"
        raise _error(
            f"no Spark event log found in {source} ({seen}): pass an event-log file, a rolling "
            "eventlog_v2_* folder, a Databricks eventlog folder, or a zip of one.",
            "no_event_log",
            source,
        )
    entry = others[0]
    _, inprogress, _ = split_suffixes(entry.basename)
    layout = Layout(kind="single", source=source, parts=[Part(entry=entry, inprogress=inprogress)])
    if inprogress:
        layout.problems.append(f"in-progress file {entry.basename}")
    return layout


@contextlib.contextmanager
def open_layout(
    source: str | os.PathLike[str],
    *,
    s3_client: Any = None,
    http_session: Any = None,
    s3_page_size: int | None = None,
) -> Iterator[Layout]:
    """Resolve a source into its :class:`Layout`; archives stay open until the block ends.

    :param source: local path, ``s3://`` URL or ``http(s)://`` URL.
    :param s3_client: boto3 S3 client (created with ``boto3.client("s3")`` when needed and not given).
    :param http_session: ``requests`` session (created when needed and not given).
    :param s3_page_size: page size for S3 listings.
    :raises EventLogError: when the source does not exist or holds no single event log.
    """
    kind, location = sources.classify(source)
    display = sources.display_url(location) if kind == "http" else location
    with contextlib.ExitStack() as stack:
        if kind == "local":
            entries = sources.local_entries(location)
        elif kind == "s3":
            client = s3_client if s3_client is not None else sources.default_s3_client()
            entries = sources.s3_entries(location, client, s3_page_size)
        else:
            session = http_session
            if session is None:
                session = sources.default_http_session()
                stack.callback(session.close)
            entries = sources.http_entries(location, session)

        tmp: list[str] = []

        def tmpdir() -> str:
            if not tmp:
                tmp.append(stack.enter_context(tempfile.TemporaryDirectory(prefix="sync-eventlog-")))
            return tmp[0]

        entries = expand_archives(entries, stack, tmpdir)
        yield classify_entries(entries, display)
