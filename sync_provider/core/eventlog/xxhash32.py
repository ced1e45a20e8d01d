"""A small pure-Python xxHash32, used to check lz4-java block checksums.

Pure Python hashes about 18 MB/s, so the reader checks the first block of every lz4 stream with it
and every block only when the optional ``xxhash`` package is installed.
"""

from __future__ import annotations

import struct

_P1 = 0x9E3779B1
_P2 = 0x85EBCA77
_P3 = 0xC2B2AE3D
_P4 = 0x27D4EB2F
_P5 = 0x165667B1
_M = 0xFFFFFFFF
_U32 = struct.Struct("<I")


def xxh32(data: bytes, seed: int = 0) -> int:
    """Return the 32-bit xxHash of ``data``.

    :param data: the bytes to hash.
    :param seed: the hash seed (lz4-java uses ``0x9747b28c`` for block checksums).
    """
    n = len(data)
    i = 0
    if n >= 16:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        stripes = n // 16
        words = struct.unpack_from(f"<{stripes * 4}I", data)
        for j in range(0, stripes * 4, 4):
            v1 = (v1 + words[j] * _P2) & _M
            v1 = (((v1 << 13) | (v1 >> 19)) & _M) * _P1 & _M
            v2 = (v2 + words[j + 1] * _P2) & _M
            v2 = (((v2 << 13) | (v2 >> 19)) & _M) * _P1 & _M
            v3 = (v3 + words[j + 2] * _P2) & _M
            v3 = (((v3 << 13) | (v3 >> 19)) & _M) * _P1 & _M
            v4 = (v4 + words[j + 3] * _P2) & _M
            v4 = (((v4 << 13) | (v4 >> 19)) & _M) * _P1 & _M
        h = (
            ((v1 << 1) | (v1 >> 31))
            + ((v2 << 7) | (v2 >> 25))
            + ((v3 << 12) | (v3 >> 20))
            + ((v4 << 18) | (v4 >> 14))
        ) & _M
        i = stripes * 16
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 4 <= n:
        (word,) = _U32.unpack_from(data, i)
        h = (h + word * _P3) & _M
        h = (((h << 17) | (h >> 15)) & _M) * _P4 & _M
        i += 4
    while i < n:
        h = (h + data[i] * _P5) & _M
        h = (((h << 11) | (h >> 21)) & _M) * _P1 & _M
        i += 1
    h ^= h >> 15
    h = (h * _P2) & _M
    h ^= h >> 13
    h = (h * _P3) & _M
    h ^= h >> 16
    return h
