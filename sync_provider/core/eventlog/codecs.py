"""Streaming decompression of Spark event-log files.

Spark writes event logs uncompressed or with one of its codecs, named by the file suffix: ``lz4``
(lz4-java's ``LZ4BlockOutputStream`` framing), ``snappy`` (snappy-java's ``SnappyOutputStream``
framing), ``zstd`` (standard zstd frames) and ``lzf``. Databricks and users add ``.gz``. Each decoder
here turns a byte stream into decompressed chunks of bounded size, so memory never grows with the
size of the log. The codec is taken from the magic bytes first and from the suffix second (an HTTP
server may already have removed a ``Content-Encoding: gzip``).

The codec libraries (``zstandard``, ``lz4``, ``cramjam``) are optional and imported only when a file
needs them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol

from sync_provider.core.errors import EventLogError

#: Size of the reads from the underlying (compressed) stream.
RAW_CHUNK = 256 * 1024
#: Upper bound (roughly) of one decompressed chunk handed to the line splitter.
OUT_CHUNK = 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_BLOCK_MAGIC = b"LZ4Block"
SNAPPY_MAGIC = b"\x82SNAPPY\x00"
LZF_MAGIC = b"ZV"
ZIP_MAGIC = b"PK\x03\x04"

#: File suffix -> codec name.
SUFFIX_CODECS: dict[str, str] = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zstd": "zstd",
    ".zst": "zstd",
    ".lz4": "lz4",
    ".snappy": "snappy",
    ".lzf": "lzf",
}

#: lz4-java's default seed for the block checksums (``LZ4BlockOutputStream.DEFAULT_SEED``).
LZ4_CHECKSUM_SEED = 0x9747B28C
_LZ4_HEADER = struct.Struct("<8sBiii")
_LZ4_METHOD_RAW = 0x10
_LZ4_METHOD_LZ4 = 0x20
_SNAPPY_HEADER = struct.Struct(">8sii")
_BE_INT = struct.Struct(">i")

_INSTALL_HINT = 'pip install "airflow-provider-sync-computing[codecs]"'


class Readable(Protocol):
    """The one method a byte stream must have: ``read(n)`` returning at most ``n`` bytes."""

    def read(self, size: int = ..., /) -> bytes:
        """Read at most ``size`` bytes; ``b""`` at the end."""
        ...


def _error(where: str, what: str, reason: str) -> EventLogError:
    return EventLogError(f"{where}: {what}", detail={"reason": reason, "part": where})


def import_codec_module(module: str, codec: str, where: str) -> ModuleType:
    """Import an optional codec library or raise a helpful :class:`EventLogError`.

    :param module: module to import, e.g. ``"zstandard"`` or ``"lz4.block"``.
    :param codec: codec name for the message.
    :param where: the file being read, for the message.
    :raises EventLogError: when the library is not installed.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", maxsplit=1)[0]
        raise EventLogError(
            f"{where} is compressed with {codec}, which needs the {package!r} package: {_INSTALL_HINT}",
            detail={"reason": "missing_codec", "codec": codec, "part": where},
        ) from exc


def codec_from_name(name: str) -> str | None:
    """Return the codec named by a file's suffix (``.inprogress`` ignored), or ``None``.

    :param name: file name or path.
    """
    base = name.rsplit("/", 1)[-1]
    if base.endswith(".inprogress"):
        base = base[: -len(".inprogress")]
    if base.endswith(".compact"):
        base = base[: -len(".compact")]
    dot = base.rfind(".")
    if dot < 0:
        return None
    return SUFFIX_CODECS.get(base[dot:].lower())


def sniff_codec(head: bytes) -> str | None:
    """Return the codec whose magic bytes start ``head``, or ``None`` for anything else.

    :param head: the first bytes of a file (8 or more for a reliable answer).
    """
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(LZ4_BLOCK_MAGIC):
        return "lz4"
    if head.startswith(SNAPPY_MAGIC):
        return "snappy"
    return None


class ByteReader:
    """Buffered exact-size reads over a :class:`Readable`, counting the bytes pulled from it.

    :param stream: the underlying stream.
    :param head: bytes already read from ``stream`` that must be served first.
    :param on_bytes: called with the size of every read from ``stream``.
    """

    __slots__ = ("_buf", "_eof", "_on_bytes", "_pos", "_stream")

    def __init__(self, stream: Readable, head: bytes = b"", on_bytes: Callable[[int], None] | None = None):
        self._stream = stream
        self._buf = head
        self._pos = 0
        self._eof = False
        self._on_bytes = on_bytes

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(RAW_CHUNK)
        if not data:
            self._eof = True
            return False
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        rest = self._buf[self._pos :]
        self._buf = rest + data if rest else data
        self._pos = 0
        return True

    def read_chunk(self) -> bytes:
        """Return the buffered bytes, or the next raw chunk; ``b""`` at the end."""
        if self._pos < len(self._buf):
            data = self._buf[self._pos :] if self._pos else self._buf
            self._buf = b""
            self._pos = 0
            return data
        if not self._fill():
            return b""
        data = self._buf
        self._buf = b""
        return data

    def read_exact(self, size: int) -> bytes:
        """Return exactly ``size`` bytes, or fewer only at the end of the stream."""
        while len(self._buf) - self._pos < size:
            if not self._fill():
                break
        end = self._pos + size
        data = self._buf[self._pos : end]
        self._pos = min(end, len(self._buf))
        return data

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` next bytes without consuming them."""
        while len(self._buf) - self._pos < size:
            if not self._fill():
                break
        return self._buf[self._pos : self._pos + size]

    def at_eof(self) -> bool:
        """Return whether no byte is left."""
        return self._pos >= len(self._buf) and not self._fill()


def _coalesce(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Join small decompressed pieces into chunks of about :data:`OUT_CHUNK` bytes."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= OUT_CHUNK:
            yield b"".join(pending) if len(pending) > 1 else pending[0]
            pending = []
            size = 0
    if pending:
        yield b"".join(pending)


def _plain(reader: ByteReader) -> Iterator[bytes]:
    while True:
        chunk = reader.read_chunk()
        if not chunk:
            return
        yield chunk


def _gzip(reader: ByteReader, where: str) -> Iterator[bytes]:
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    pending = b""
    while True:
        if not pending:
            pending = reader.read_chunk()
            if not pending:
                break
        if decomp.eof:
            # A new gzip member may follow (concatenated gzip files are valid gzip); zero padding is
            # tolerated, anything else is an error.
            if pending[:1] != GZIP_MAGIC[:1]:
                if pending.strip(b"\x00"):
                    raise _error(
                        where,
                        "unexpected data after the end of the gzip stream; the file is corrupt: "
                        "copy it again from where Spark wrote it.",
                        "corrupt",
                    )
                pending = b""
                continue
            decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        started = True
        try:
            out = decomp.decompress(pending, OUT_CHUNK)
            if out:
                yield out
            pending = decomp.unused_data if decomp.eof else decomp.unconsumed_tail
            # Output may still be pending inside zlib when the output limit was reached.
            while not pending and not decomp.eof and len(out) == OUT_CHUNK:
                out = decomp.decompress(b"", OUT_CHUNK)
                if out:
                    yield out
                pending = decomp.unused_data if decomp.eof else decomp.unconsumed_tail
        except zlib.error as exc:
            raise _error(
                where,
                f"the gzip data is corrupt ({exc}): copy the file again from where Spark wrote it.",
                "corrupt",
            ) from exc
    if started and not decomp.eof:
        raise _error(
            where,
            "the gzip stream is truncated (it ends before the gzip end marker): the file was cut "
            "while being written or copied; copy the complete file again.",
            "truncated",
        )


def _zstd(reader: ByteReader, where: str) -> Iterator[bytes]:
    zstandard = import_codec_module("zstandard", "zstd", where)
    dctx = zstandard.ZstdDecompressor()
    decomp = dctx.decompressobj()
    in_frame = False
    while True:
        data = reader.read_chunk()
        if not data:
            break
        # Feed at most 64 KiB at a time so that one call cannot expand without bound.
        for start in range(0, len(data), 65536):
            piece = data[start : start + 65536]
            while piece:
                in_frame = True
                try:
                    out = decomp.decompress(piece)
                except zstandard.ZstdError as exc:
                    raise _error(
                        where,
                        f"the zstd data is corrupt ({exc}): copy the file again from where Spark wrote it.",
                        "corrupt",
                    ) from exc
                if out:
                    yield out
                piece = b""
                if decomp.eof:
                    in_frame = False
                    rest = decomp.unused_data
                    decomp = dctx.decompressobj()
                    piece = rest
    if in_frame:
        raise _error(
            where,
            "the zstd stream is truncated (its last frame is incomplete): the file was cut while being "
            "written or copied; copy the complete file again.",
            "truncated",
        )


def _lz4_block(reader: ByteReader, where: str, state: dict[str, Any]) -> Iterator[bytes]:
    """Decode lz4-java's ``LZ4BlockOutputStream`` framing.

    Each block: ``b"LZ4Block"``, a token byte (method ``0x10`` raw or ``0x20`` lz4, or'ed with the
    compression level), then little-endian int32 compressed length, decompressed length and checksum
    (xxhash32 seeded with ``0x9747b28c`` of the decompressed bytes, masked with ``0x0FFFFFFF``; 0 when
    the writer had checksums off). An empty block (both lengths 0) ends a stream; another stream may
    follow. The checksum of the first block of every stream is always verified (in pure Python);
    every block's is verified when the ``xxhash`` package is installed.
    """
    lz4_block = import_codec_module("lz4.block", "lz4", where)
    try:
        import xxhash as _xxhash  # type: ignore[import-not-found,unused-ignore]

        fast_hash: Callable[[bytes, int], int] | None = _xxhash.xxh32_intdigest
    except ImportError:
        fast_hash = None
    from sync_provider.core.eventlog.xxhash32 import xxh32

    header_size = _LZ4_HEADER.size
    first_block = True
    state["end_mark"] = False
    while True:
        header = reader.read_exact(header_size)
        if not header:
            return
        if len(header) < header_size:
            raise _error(
                where,
                f"the lz4 stream is truncated (a block header has {len(header)} of {header_size} bytes): "
                "copy the complete file again.",
                "truncated",
            )
        magic, token, comp_len, orig_len, check = _LZ4_HEADER.unpack(header)
        if magic != LZ4_BLOCK_MAGIC:
            raise _error(
                where,
                "the lz4 data is corrupt (a block does not start with 'LZ4Block'): copy the file again.",
                "corrupt",
            )
        method = token & 0xF0
        if comp_len < 0 or orig_len < 0 or method not in (_LZ4_METHOD_RAW, _LZ4_METHOD_LZ4):
            raise _error(
                where, "the lz4 data is corrupt (invalid block header): copy the file again.", "corrupt"
            )
        if orig_len == 0 and comp_len == 0:
            state["end_mark"] = True
            first_block = True
            continue
        state["end_mark"] = False
        block = reader.read_exact(comp_len)
        if len(block) < comp_len:
            raise _error(
                where,
                f"the lz4 stream is truncated (a block has {len(block)} of {comp_len} bytes): the file was "
                "cut while being written or copied; copy the complete file again.",
                "truncated",
            )
        if method == _LZ4_METHOD_RAW:
            out = block
            if comp_len != orig_len:
                raise _error(
                    where, "the lz4 data is corrupt (raw block sizes differ): copy the file again.", "corrupt"
                )
        else:
            try:
                out = lz4_block.decompress(block, uncompressed_size=orig_len)
            except Exception as exc:
                raise _error(
                    where, f"the lz4 data is corrupt ({exc}): copy the file again.", "corrupt"
                ) from exc
            if len(out) != orig_len:
                raise _error(
                    where,
                    "the lz4 data is corrupt (wrong decompressed size): copy the file again.",
                    "corrupt",
                )
        if check != 0:
            actual: int | None = None
            if fast_hash is not None:
                actual = fast_hash(out, LZ4_CHECKSUM_SEED)
            elif first_block:
                actual = xxh32(out, LZ4_CHECKSUM_SEED)
            if actual is not None and (actual & 0x0FFFFFFF) != check:
                raise _error(
                    where,
                    "the lz4 data is corrupt (block checksum mismatch): copy the file again.",
                    "corrupt",
                )
        first_block = False
        yield out


def _snappy(reader: ByteReader, where: str) -> Iterator[bytes]:
    """Decode snappy-java's ``SnappyOutputStream`` framing.

    Header: ``b"\\x82SNAPPY\\x00"``, big-endian int32 version and compatible version; then repeated
    big-endian int32 length and a raw snappy block. Concatenated streams (a new header) are accepted.
    """
    cramjam = import_codec_module("cramjam", "snappy", where)
    decompress_raw = cramjam.snappy.decompress_raw
    header = reader.read_exact(_SNAPPY_HEADER.size)
    if len(header) < _SNAPPY_HEADER.size or not header.startswith(SNAPPY_MAGIC):
        raise _error(
            where,
            "the snappy stream is truncated or has no snappy-java header: copy the complete file again.",
            "truncated",
        )
    while True:
        size_bytes = reader.read_exact(4)
        if not size_bytes:
            return
        if len(size_bytes) < 4:
            raise _error(
                where,
                "the snappy stream is truncated (a block length is cut): copy the complete file again.",
                "truncated",
            )
        if size_bytes == SNAPPY_MAGIC[:4]:
            rest = reader.read_exact(_SNAPPY_HEADER.size - 4)
            if len(rest) < _SNAPPY_HEADER.size - 4 or rest[:4] != SNAPPY_MAGIC[4:]:
                raise _error(
                    where, "the snappy data is corrupt (bad stream header): copy the file again.", "corrupt"
                )
            continue
        (size,) = _BE_INT.unpack(size_bytes)
        if size < 0:
            raise _error(
                where, "the snappy data is corrupt (negative block length): copy the file again.", "corrupt"
            )
        block = reader.read_exact(size)
        if len(block) < size:
            raise _error(
                where,
                f"the snappy stream is truncated (a block has {len(block)} of {size} bytes): the file was "
                "cut while being written or copied; copy the complete file again.",
                "truncated",
            )
        try:
            out = bytes(decompress_raw(block))
        except Exception as exc:
            raise _error(
                where, f"the snappy data is corrupt ({exc}): copy the file again.", "corrupt"
            ) from exc
        yield out


def decompressed_chunks(
    stream: Readable,
    where: str,
    *,
    name_codec: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    state: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``stream`` in chunks of bounded size.

    :param stream: the raw (possibly compressed) byte stream.
    :param where: the file's location, used in error messages.
    :param name_codec: the codec named by the file's suffix (see :func:`codec_from_name`).
    :param on_bytes: called with the number of raw bytes read, for statistics.
    :param state: receives ``codec`` and, for lz4, ``end_mark`` (whether the stream was closed).
    :raises EventLogError: on a missing codec library, corrupt or truncated data.
    """
    state = state if state is not None else {}
    reader = ByteReader(stream, on_bytes=on_bytes)
    head = reader.peek(8)
    codec = sniff_codec(head)
    if codec is None and name_codec is not None and head:
        if name_codec == "lzf" and head.startswith(LZF_MAGIC):
            raise EventLogError(
                f"{where} is compressed with Spark's lzf codec, which this reader does not support: "
                "set spark.eventLog.compression.codec to zstd, lz4 or snappy, or decompress the file first.",
                detail={"reason": "unsupported_codec", "codec": "lzf", "part": where},
            )
        if head.lstrip()[:1] not in (b"{", b""):
            raise _error(
                where,
                f"the file is named as {name_codec}-compressed but does not start with the {name_codec} "
                "header: it is corrupt or was written by another codec.",
                "corrupt",
            )
    state["codec"] = codec or "none"
    if codec is None:
        return _plain(reader)
    if codec == "gzip":
        return _gzip(reader, where)
    if codec == "zstd":
        return _zstd(reader, where)
    if codec == "lz4":
        return _coalesce(_lz4_block(reader, where, state))
    return _coalesce(_snappy(reader, where))
