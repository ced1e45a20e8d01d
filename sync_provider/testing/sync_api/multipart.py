"""A streaming ``multipart/form-data`` reader.

The body is read in fixed-size chunks and parts are handed out as iterators of chunks, so a part of
hundreds of megabytes is never held in memory (the stdlib ``email`` parser reads the whole body).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHUNK_SIZE = 64 * 1024
_MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not valid ``multipart/form-data``."""


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header such as ``form-data; name="file"; filename="a.gz"`` into value and parameters.

    :param value: the header value.
    :returns: the lower-cased main value and the parameters (names lower-cased, quotes removed).
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(rest[i])
                i += 1
            i += 1  # closing quote
            params[name] = "".join(chars)
        else:
            end = rest.find(";", i)
            end = n if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    return main.strip().lower(), params


@dataclass
class Part:
    """One part of the body: its headers and, while it is current, its data.

    :param headers: header names (lower-cased) to values.
    """

    headers: dict[str, str]
    _reader: MultipartReader

    @property
    def name(self) -> str | None:
        """The form field name from ``Content-Disposition``."""
        return parse_header_params(self.headers.get("content-disposition", ""))[1].get("name")

    @property
    def filename(self) -> str | None:
        """The file name from ``Content-Disposition``, if the part is a file."""
        return parse_header_params(self.headers.get("content-disposition", ""))[1].get("filename")

    def iter_chunks(self) -> Iterator[bytes]:
        """Yield the part's data in chunks; each part can be read once."""
        return self._reader._iter_part_data()

    def read_all(self, limit: int) -> bytes:
        """Return the whole part's data.

        :param limit: maximum size in bytes.
        :raises MultipartError: when the part is larger than ``limit``.
        """
        data = bytearray()
        for chunk in self.iter_chunks():
            data += chunk
            if len(data) > limit:
                raise MultipartError(f"Form field is larger than {limit} bytes.")
        return bytes(data)


class MultipartReader:
    """Reads the parts of a ``multipart/form-data`` body one after the other.

    :param read: a function returning up to ``n`` bytes of the body, ``b""`` at its end.
    :param boundary: the boundary from the ``Content-Type`` header.
    """

    def __init__(self, read: Callable[[int], bytes], boundary: str) -> None:
        if not boundary or len(boundary) > 200:
            raise MultipartError("Missing or invalid multipart boundary.")
        self._read = read
        self._delimiter = b"--" + boundary.encode("latin-1")
        self._buf = b""
        self._eof = False
        self._finished = False
        self._part_open = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(CHUNK_SIZE)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def parts(self) -> Iterator[Part]:
        """Yield the parts; an unread part's data is skipped when the next part is requested."""
        # Preamble: everything up to the first delimiter.
        while True:
            idx = self._buf.find(self._delimiter)
            if idx >= 0:
                self._buf = self._buf[idx + len(self._delimiter) :]
                break
            self._buf = self._buf[-len(self._delimiter) :]
            if not self._fill():
                raise MultipartError("The body has no multipart boundary.")
        while True:
            if self._after_delimiter_is_end():
                self._finished = True
                return
            part = Part(headers=self._read_headers(), _reader=self)
            self._part_open = True
            yield part
            if self._part_open:
                for _ in self._iter_part_data():
                    pass

    def _after_delimiter_is_end(self) -> bool:
        while len(self._buf) < 2:
            if not self._fill():
                raise MultipartError("The multipart body ended early.")
        if self._buf.startswith(b"--"):
            return True
        # Transport padding (spaces/tabs) may follow the delimiter before CRLF.
        while True:
            crlf = self._buf.find(b"\r\n")
            if crlf >= 0:
                if self._buf[:crlf].strip(b" \t"):
                    raise MultipartError("Malformed multipart delimiter line.")
                self._buf = self._buf[crlf + 2 :]
                return False
            if len(self._buf) > 1024 or not self._fill():
                raise MultipartError("Malformed multipart delimiter line.")

    def _read_headers(self) -> dict[str, str]:
        while True:
            if self._buf.startswith(b"\r\n"):  # a part without headers
                self._buf = self._buf[2:]
                return {}
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEADER_BYTES or not self._fill():
                raise MultipartError("Malformed or oversized part headers.")
        raw, self._buf = self._buf[:end], self._buf[end + 4 :]
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", errors="replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                raise MultipartError("Malformed part header line.")
            headers[name.strip().lower()] = value.strip()
        return headers

    def _iter_part_data(self) -> Iterator[bytes]:
        if not self._part_open:
            return
        marker = b"\r\n" + self._delimiter
        keep = len(marker) - 1
        while True:
            idx = self._buf.find(marker)
            if idx >= 0:
                data, self._buf = self._buf[:idx], self._buf[idx + len(marker) :]
                self._part_open = False
                if data:
                    yield data
                return
            if len(self._buf) > keep:
                data, self._buf = self._buf[:-keep], self._buf[-keep:]
                yield data
            if not self._fill():
                self._part_open = False
                raise MultipartError("The multipart body ended inside a part.")
