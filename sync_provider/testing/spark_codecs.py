"""Writers for the compressed formats Spark uses for event logs, to *produce* test files.

* ``lz4``: lz4-java's ``LZ4BlockOutputStream`` framing, as Spark's ``LZ4CompressionCodec`` writes it
  (32 KiB blocks, xxhash32 block checksums seeded with ``0x9747b28c`` and masked to 28 bits, an empty
  end block on close);
* ``snappy``: snappy-java's ``SnappyOutputStream`` framing (``\\x82SNAPPY\\x00`` header, big-endian
  version 1 / compatible version 1, then big-endian length-prefixed raw snappy blocks);
* ``zstd``: a standard zstd frame; ``gzip``: a gzip member.

Needs the optional codec libraries (``lz4``, ``cramjam``, ``zstandard``).

Example::

    data = b"".join(lines)
    (tmp_path / "events_1_app.lz4").write_bytes(compress(data, "lz4"))
"""

from __future__ import annotations

import gzip
import struct
from typing import BinaryIO

from sync_provider.core.eventlog.codecs import LZ4_BLOCK_MAGIC, LZ4_CHECKSUM_SEED, SNAPPY_MAGIC
from sync_provider.core.eventlog.xxhash32 import xxh32

__all__ = [
    "CODECS",
    "CODEC_SUFFIXES",
    "LZ4BlockWriter",
    "SnappyStreamWriter",
    "compress",
]

#: Codec name -> file suffix Spark uses.
CODEC_SUFFIXES: dict[str, str] = {
    "none": "",
    "gzip": ".gz",
    "zstd": ".zstd",
    "lz4": ".lz4",
    "snappy": ".snappy",
}
CODECS = tuple(CODEC_SUFFIXES)

_DEFAULT_BLOCK = 32 * 1024


class LZ4BlockWriter:
    """Writes lz4-java's ``LZ4BlockOutputStream`` framing to a binary file.

    :param out: where to write.
    :param block_size: uncompressed bytes per block (Spark's default is 32 KiB).
    :param checksum: write xxhash32 checksums (``False`` writes 0, as lz4-java without a checksum).
    """

    def __init__(self, out: BinaryIO, *, block_size: int = _DEFAULT_BLOCK, checksum: bool = True) -> None:
        import lz4.block

        self._compress = lz4.block.compress
        self._out = out
        self._block_size = block_size
        self._checksum = checksum
        self._level = max(0, (block_size - 1).bit_length() - 10)
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        """Buffer ``data``, writing every full block.

        :param data: uncompressed bytes.
        """
        self._buffer += data
        while len(self._buffer) >= self._block_size:
            self._flush_block(bytes(self._buffer[: self._block_size]))
            del self._buffer[: self._block_size]
        return len(data)

    def _flush_block(self, block: bytes) -> None:
        compressed = self._compress(block, store_size=False)
        method = 0x20
        if len(compressed) >= len(block):
            method, compressed = 0x10, block
        check = (xxh32(block, LZ4_CHECKSUM_SEED) & 0x0FFFFFFF) if self._checksum else 0
        header = LZ4_BLOCK_MAGIC + struct.pack(
            "<Biii", method | self._level, len(compressed), len(block), check
        )
        self._out.write(header + compressed)

    def close(self, *, end_mark: bool = True) -> None:
        """Write the buffered bytes and, unless ``end_mark`` is false, the empty end block.

        :param end_mark: ``False`` leaves the stream as an unclosed (in-progress) writer would.
        """
        if self._buffer:
            self._flush_block(bytes(self._buffer))
            self._buffer.clear()
        if end_mark:
            self._out.write(LZ4_BLOCK_MAGIC + struct.pack("<Biii", 0x10 | self._level, 0, 0, 0))


class SnappyStreamWriter:
    """Writes snappy-java's ``SnappyOutputStream`` framing to a binary file.

    :param out: where to write.
    :param block_size: uncompressed bytes per block (Spark's default is 32 KiB).
    """

    def __init__(self, out: BinaryIO, *, block_size: int = _DEFAULT_BLOCK) -> None:
        import cramjam

        self._compress = cramjam.snappy.compress_raw
        self._out = out
        self._block_size = block_size
        self._buffer = bytearray()
        out.write(SNAPPY_MAGIC + struct.pack(">ii", 1, 1))

    def write(self, data: bytes) -> int:
        """Buffer ``data``, writing every full block.

        :param data: uncompressed bytes.
        """
        self._buffer += data
        while len(self._buffer) >= self._block_size:
            self._flush_block(bytes(self._buffer[: self._block_size]))
            del self._buffer[: self._block_size]
        return len(data)

    def _flush_block(self, block: bytes) -> None:
        compressed = bytes(self._compress(block))
        self._out.write(struct.pack(">i", len(compressed)) + compressed)

    def close(self) -> None:
        """Write the buffered bytes."""
        if self._buffer:
            self._flush_block(bytes(self._buffer))
            self._buffer.clear()


def compress(data: bytes, codec: str, *, block_size: int = _DEFAULT_BLOCK, checksum: bool = True) -> bytes:
    """Return ``data`` compressed as Spark (or Databricks, for gzip) would write it.

    :param data: uncompressed bytes.
    :param codec: one of :data:`CODECS`.
    :param block_size: block size for ``lz4`` and ``snappy``.
    :param checksum: write lz4 block checksums.
    :raises ValueError: for an unknown codec.
    """
    import io

    if codec == "none":
        return data
    if codec == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if codec == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor(level=3).compress(data))
    out = io.BytesIO()
    if codec == "lz4":
        lz4_writer = LZ4BlockWriter(out, block_size=block_size, checksum=checksum)
        lz4_writer.write(data)
        lz4_writer.close()
    elif codec == "snappy":
        snappy_writer = SnappyStreamWriter(out, block_size=block_size)
        snappy_writer.write(data)
        snappy_writer.close()
    else:
        raise ValueError(f"unknown codec {codec!r}; use one of {', '.join(CODECS)}")
    return out.getvalue()
