"""Where an event log lives: a local path, an S3 object or prefix, or an HTTP(S) URL.

A source is turned into a flat list of :class:`Entry` objects (files, with a name relative to the
source and a way to open them as a byte stream). Archives and layouts are handled by
:mod:`sync_provider.core.eventlog.layout`. ``boto3`` and ``requests`` are imported only when an S3
or HTTP source is read.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog.codecs import RAW_CHUNK

#: Read timeout (seconds) for HTTP downloads: (connect, read between bytes).
HTTP_TIMEOUT = (10.0, 300.0)


class RawStream(Protocol):
    """A readable, closable byte stream."""

    def read(self, size: int = ..., /) -> bytes:
        """Read at most ``size`` bytes; ``b""`` at the end."""
        ...

    def close(self) -> None:
        """Release the stream."""
        ...


@dataclass(frozen=True)
class Entry:
    """One file of an event-log source.

    :param name: path relative to the source, ``/``-separated (the base name for a single file).
    :param where: full location for messages (``/dir/x.zip!member``, ``s3://b/k``...).
    :param size: size in bytes when known.
    :param opener: opens the file as a :class:`RawStream`.
    :param local_path: the file's path on disk, when it is a local file (random access possible).
    """

    name: str
    where: str
    size: int | None
    opener: Callable[[], RawStream]
    local_path: str | None = None

    @property
    def basename(self) -> str:
        """The last component of :attr:`name`."""
        return self.name.rsplit("/", 1)[-1]


def _not_found(where: str, hint: str = "") -> EventLogError:
    return EventLogError(
        f"event log {where} does not exist{hint}: check the location (a local file or directory, "
        "s3://bucket/key or prefix, or an http(s):// URL).",
        detail={"reason": "not_found", "part": where},
    )


def classify(source: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(kind, location)`` for a source: kind is ``local``, ``s3`` or ``http``.

    :param source: path or URL.
    :raises EventLogError: for an unsupported URL scheme.
    """
    text = os.fspath(source)
    if "://" not in text:
        return "local", text
    scheme = text.split("://", 1)[0].lower()
    if scheme in ("s3", "s3a", "s3n"):
        return "s3", text
    if scheme in ("http", "https"):
        return "http", text
    if scheme == "file":
        return "local", unquote(urlsplit(text).path)
    raise EventLogError(
        f"unsupported event-log location {text!r}: the scheme {scheme}:// is not supported; use a local "
        "path, s3://bucket/key, or an http(s):// URL (copy the log there first, e.g. from DBFS).",
        detail={"reason": "unsupported_scheme", "part": text},
    )


# --------------------------------------------------------------------------------------------- local


def local_entries(path: str) -> list[Entry]:
    """List a local file, or every file under a local directory (sorted, symlinks not followed).

    :param path: file or directory.
    :raises EventLogError: when the path does not exist.
    """
    if os.path.isfile(path):
        return [_local_entry(path, os.path.basename(path) or path)]
    if not os.path.isdir(path):
        raise _not_found(path)
    entries: list[Entry] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for fname in sorted(files):
            full = os.path.join(root, fname)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            entries.append(_local_entry(full, rel))
    return entries


def _local_entry(full: str, name: str) -> Entry:
    def opener() -> RawStream:
        try:
            return open(full, "rb")
        except OSError as exc:
            raise EventLogError(
                f"cannot open {full}: {exc.strerror or exc}; check the file's permissions.",
                detail={"reason": "unreadable", "part": full},
            ) from exc

    try:
        size: int | None = os.path.getsize(full)
    except OSError:
        size = None
    return Entry(name=name, where=full, size=size, opener=opener, local_path=full)


# ------------------------------------------------------------------------------------------------ s3


def split_s3(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key.

    :param url: an ``s3://`` (or ``s3a://``/``s3n://``) URL.
    :raises EventLogError: when there is no bucket.
    """
    parts = urlsplit(url)
    bucket = parts.netloc
    key = unquote(parts.path.lstrip("/"))
    if not bucket:
        raise EventLogError(
            f"{url!r} has no bucket: use s3://bucket/key.", detail={"reason": "invalid", "part": url}
        )
    return bucket, key


def _s3_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class _S3Body:
    """Wraps a botocore ``StreamingBody`` so read errors become :class:`EventLogError`."""

    def __init__(self, body: Any, where: str) -> None:
        self._body = body
        self._where = where

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except Exception as exc:
            raise EventLogError(
                f"reading {self._where} failed: {exc}; retry, or copy the log locally first.",
                detail={"reason": "read_failed", "part": self._where},
            ) from exc
        return data

    def close(self) -> None:
        self._body.close()


def s3_entries(url: str, client: Any, page_size: int | None = None) -> list[Entry]:
    """List an S3 object, or every object under an S3 prefix (all pages).

    ``s3://b/k`` is the object ``k`` when it exists, else the prefix ``k/``; ``s3://b/k/`` is always
    a prefix.

    :param url: the S3 URL.
    :param client: a boto3 S3 client.
    :param page_size: objects per ``ListObjectsV2`` page (default: S3's 1000).
    :raises EventLogError: when nothing is there or access is denied.
    """
    bucket, key = split_s3(url)
    scheme = url.split("://", 1)[0]
    base = f"{scheme}://{bucket}/"
    config: dict[str, Any] = {"PageSize": page_size} if page_size else {}
    found: list[tuple[str, int]] = []
    exact: int | None = None
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, PaginationConfig=config):
            for obj in page.get("Contents", []) or []:
                okey = str(obj["Key"])
                size = int(obj.get("Size", 0))
                if okey == key and key and not key.endswith("/"):
                    exact = size
                elif not key or key.endswith("/") or okey.startswith(key + "/"):
                    found.append((okey, size))
    except EventLogError:
        raise
    except Exception as exc:
        code = _s3_code(exc)
        if code in ("AccessDenied", "AllAccessDisabled") and key and not key.endswith("/"):
            # Listing may be forbidden while reading is allowed: treat the key as one object.
            return [_s3_entry(client, bucket, key, name=key.rsplit("/", 1)[-1], base=base, size=None)]
        if code == "NoSuchBucket":
            raise _not_found(url, f" (no bucket {bucket!r})") from exc
        raise EventLogError(
            f"listing {url} failed: {exc}; check the AWS credentials and the bucket policy.",
            detail={"reason": "read_failed", "part": url},
        ) from exc
    if exact is not None:
        return [_s3_entry(client, bucket, key, name=key.rsplit("/", 1)[-1], base=base, size=exact)]
    root = key if (not key or key.endswith("/")) else key + "/"
    entries = [
        _s3_entry(client, bucket, okey, name=okey[len(root) :], base=base, size=size)
        for okey, size in sorted(found)
        if not okey.endswith("/")
    ]
    if not entries:
        raise _not_found(url)
    return entries


def _s3_entry(client: Any, bucket: str, key: str, *, name: str, base: str, size: int | None) -> Entry:
    where = f"{base}{key}"

    def opener() -> RawStream:
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            code = _s3_code(exc)
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise _not_found(where) from exc
            raise EventLogError(
                f"reading {where} failed: {exc}; check the AWS credentials and the bucket policy.",
                detail={"reason": "read_failed", "part": where},
            ) from exc
        return _S3Body(response["Body"], where)

    return Entry(name=name, where=where, size=size, opener=opener)


def default_s3_client() -> Any:
    """Create a boto3 S3 client with the default credential chain."""
    import boto3

    return boto3.client("s3")


# ---------------------------------------------------------------------------------------------- http


class _HttpBody:
    """Reads a streamed ``requests`` response chunk by chunk."""

    def __init__(self, response: Any, where: str) -> None:
        self._response = response
        self._where = where
        self._chunks = response.iter_content(chunk_size=RAW_CHUNK)
        self._buf = b""

    def read(self, size: int = -1, /) -> bytes:
        if not self._buf:
            try:
                self._buf = next(self._chunks, b"")
            except Exception as exc:
                raise EventLogError(
                    f"downloading {self._where} failed: {exc}; retry, or download the log first.",
                    detail={"reason": "read_failed", "part": self._where},
                ) from exc
        if size < 0 or size >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def close(self) -> None:
        self._response.close()


def display_url(url: str) -> str:
    """Return ``url`` without its query string and fragment (presigned URLs carry credentials there).

    :param url: an HTTP(S) URL.
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def http_entries(url: str, session: Any) -> list[Entry]:
    """Return the single file at an HTTP(S) URL (directories are not listed over HTTP).

    :param url: the URL.
    :param session: a ``requests.Session`` (or anything with a compatible ``get``).
    """
    parts = urlsplit(url)
    name = unquote(posixpath.basename(parts.path)) or parts.netloc
    where = display_url(url)

    def opener() -> RawStream:
        try:
            response = session.get(url, stream=True, timeout=HTTP_TIMEOUT)
        except Exception as exc:
            raise EventLogError(
                f"downloading {where} failed: {exc}; check the URL and the network.",
                detail={"reason": "read_failed", "part": where},
            ) from exc
        status = int(response.status_code)
        if status >= 400:
            response.close()
            if status == 404:
                raise _not_found(where, " (HTTP 404)")
            hint = " (a presigned URL may have expired)" if status == 403 else ""
            raise EventLogError(
                f"downloading {where} failed with HTTP {status}{hint}: check the URL.",
                detail={"reason": "read_failed", "part": where, "status": status},
            )
        return _HttpBody(response, where)

    return [Entry(name=name, where=where, size=None, opener=opener)]


def default_http_session() -> Any:
    """Create a ``requests`` session."""
    import requests

    return requests.Session()


# ------------------------------------------------------------------------------------------- helpers


def spool(entry: Entry, directory: str) -> str:
    """Copy an entry to a file in ``directory`` in chunks and return the file's path.

    :param entry: the entry to copy.
    :param directory: an existing directory (a temporary one, deleted by the caller).
    """
    if entry.local_path is not None:
        return entry.local_path
    target = os.path.join(directory, f"{len(os.listdir(directory))}-{entry.basename or 'spool'}")
    stream = entry.opener()
    try:
        with open(target, "wb") as out:
            shutil.copyfileobj(stream, out, RAW_CHUNK)
    finally:
        stream.close()
    return target
