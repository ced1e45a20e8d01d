"""Event-log locations: URL checks, S3 presigning, and streaming uploads to a presigned POST.

boto3 is imported only when an S3 client has to be created, so importing this module is cheap.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from sync_provider.core import contract
from sync_provider.core.errors import InvalidInputError, StorageError
from sync_provider.core.models import UploadDetails

log = logging.getLogger(__name__)

#: Lifetime of presigned GET URLs handed to Sync.
PRESIGNED_URL_EXPIRY_S = 3600
_UPLOAD_TIMEOUT = (10.0, 300.0)
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


@dataclass(frozen=True)
class S3Location:
    """An ``s3://bucket/key`` location."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        """The ``s3://`` form."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The last path segment of the key."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]


def parse_s3_url(url: str) -> S3Location:
    """Split ``s3://bucket/key`` (``s3a://`` and ``s3n://`` too).

    :raises InvalidInputError: when the URL has no bucket or no key.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("s3", "s3a", "s3n") or not parts.netloc or not parts.path.strip("/"):
        raise InvalidInputError(f"{url!r} is not an S3 object URL; expected s3://bucket/key.")
    return S3Location(parts.netloc, parts.path.lstrip("/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: AWS's IPv6 instance-metadata address (a unique-local address, so not "link-local" to ipaddress).
_AWS_IMDS_V6 = ipaddress.ip_address("fd00:ec2::254")


def _host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host name spells, in any of its forms (decimal, IPv4-mapped IPv6)."""
    text = host.strip("[]")
    try:
        address = ipaddress.ip_address(int(text)) if text.isdigit() else ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_fetchable_url(url: str) -> str:
    """Return ``url`` if Sync may be asked to fetch it.

    ``https://`` is accepted for public hosts; plain ``http://`` only for loopback hosts (the local
    stand-ins). Link-local, cloud metadata, multicast and unspecified addresses are refused in every
    spelling (trailing dot, decimal IPv4, IPv4-mapped IPv6, AWS's IPv6 metadata address).

    :raises InvalidInputError: naming the problem.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInputError(
            f"Event log URL scheme {parts.scheme or '(none)'!r} is not supported; give an s3:// object, "
            "an https:// URL, or a local file to upload."
        )
    address = _host_address(host)
    if host in _METADATA_HOSTS or (
        address is not None
        and (
            address.is_link_local or address.is_multicast or address.is_unspecified or address == _AWS_IMDS_V6
        )
    ):
        raise InvalidInputError(f"Event log URL host {host!r} is a link-local or metadata address; refused.")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidInputError(
            f"Event log URL {parts.scheme}://{host}/... uses plain http; only https:// is accepted "
            "(plain http is allowed for loopback stand-ins only)."
        )
    return url


def default_s3_client() -> Any:
    """Create a boto3 S3 client from the default credential chain (imports boto3 lazily)."""
    import boto3

    return boto3.client("s3")


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def presign_s3_object(url: str, *, s3_client: Any = None, expires_in: int = PRESIGNED_URL_EXPIRY_S) -> str:
    """Check that an S3 object exists and return a presigned HTTPS GET URL for it.

    :raises StorageError: when the object is missing or not readable.
    """
    location = parse_s3_url(url)
    client = s3_client if s3_client is not None else default_s3_client()
    try:
        client.head_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        code = _client_error_code(exc)
        if code in ("404", "NoSuchKey", "NotFound") and list_s3_prefix(client, location):
            raise InvalidInputError(
                f"{location.url} is a folder of log parts, which cannot be sent as one URL; "
                "upload it instead (upload=True)."
            ) from None
        hint = "check the path" if code in ("404", "NoSuchKey", "NotFound") else "check the AWS permissions"
        raise StorageError(f"Cannot read event log {location.url} ({code}); {hint}.") from None
    presigned: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": location.bucket, "Key": location.key}, ExpiresIn=expires_in
    )
    return presigned


class _SizedStream:
    """A read-only stream that reports how many bytes are left, as a multipart encoder needs to
    compute Content-Length and to know when the part is finished."""

    def __init__(self, raw: Any, length: int) -> None:
        self._raw = raw
        self._left = length

    @property
    def len(self) -> int:
        """Bytes not read yet."""
        return self._left

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size if size is not None and size >= 0 else None)
        self._left -= len(data)
        if not data and self._left > 0:
            raise StorageError(f"The event log stream ended {self._left} bytes early; try again.")
        return data


def list_s3_prefix(client: Any, location: S3Location) -> list[tuple[str, int]]:
    """Every object below ``location`` as ``(key, size)``, all pages; folder markers skipped."""
    prefix = location.key if location.key.endswith("/") else location.key + "/"
    found: list[tuple[str, int]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            found.extend(
                (str(item["Key"]), int(item["Size"]))
                for item in page.get("Contents", [])
                if not str(item["Key"]).endswith("/")
            )
    except Exception as exc:
        raise StorageError(f"Cannot list {location.url} ({_client_error_code(exc)}).") from None
    return found


@contextmanager
def _zipped_folder(folder: Path, name: str) -> Iterator[tuple[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InvalidInputError(f"Event log folder {folder} holds no files.")
    with tempfile.TemporaryDirectory(prefix="sync-eventlog-zip-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for file in files:
                zf.write(file, (Path(name) / file.relative_to(folder)).as_posix())
        with archive.open("rb") as handle:
            yield archive.name, handle


@contextmanager
def _open_s3_source(location: S3Location, client: Any) -> Iterator[tuple[str, Any]]:
    """An S3 object streamed as is, or an S3 folder (prefix) downloaded and zipped."""
    if not location.key.endswith("/"):
        try:
            obj = client.get_object(Bucket=location.bucket, Key=location.key)
        except Exception as exc:
            code = _client_error_code(exc)
            if code not in ("NoSuchKey", "404", "NotFound"):
                raise StorageError(f"Cannot read event log {location.url} ({code}).") from None
        else:
            body = obj["Body"]
            try:
                yield location.name, _SizedStream(body, int(obj["ContentLength"]))
            finally:
                body.close()
            return
    objects = list_s3_prefix(client, location)
    if not objects:
        raise StorageError(f"Event log {location.url} does not exist (no object and no folder there).")
    prefix = location.key if location.key.endswith("/") else location.key + "/"
    with tempfile.TemporaryDirectory(prefix="sync-eventlog-s3-") as tmp:
        folder = Path(tmp) / location.name
        for key, _size in objects:
            target = folder / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                client.download_file(location.bucket, key, str(target))
            except Exception as exc:
                raise StorageError(
                    f"Cannot read s3://{location.bucket}/{key} ({_client_error_code(exc)})."
                ) from None
        with _zipped_folder(folder, location.name) as opened:
            yield opened


@contextmanager
def open_upload_source(source: str | os.PathLike[str], *, s3_client: Any = None) -> Iterator[tuple[str, Any]]:
    """Open an event log for upload: yields ``(file name, stream with a length)``.

    A local file is opened as is; a local folder (rolling or Databricks log parts) is zipped to a
    temporary file first; an ``s3://`` object is streamed from S3; an ``s3://`` folder (a prefix,
    e.g. a rolling ``eventlog_v2_*`` log) is downloaded to a temporary folder and zipped.

    :raises InvalidInputError: when a local path does not exist or is empty.
    :raises StorageError: when the S3 object or folder cannot be read.
    """
    text = os.fspath(source)
    if text.startswith(("s3://", "s3a://", "s3n://")):
        client = s3_client if s3_client is not None else default_s3_client()
        with _open_s3_source(parse_s3_url(text), client) as opened:
            yield opened
        return
    path = Path(text).expanduser()
    if not path.exists():
        raise InvalidInputError(f"Event log {path} does not exist.")
    if path.is_dir():
        with _zipped_folder(path, path.name) as opened:
            yield opened
        return
    if path.stat().st_size == 0:
        raise InvalidInputError(f"Event log {path} is empty.")
    with path.open("rb") as handle:
        yield path.name, handle


def upload_to_presigned_post(
    details: UploadDetails,
    filename: str,
    stream: IO[bytes] | Any,
    *,
    session: Any = None,
    timeout: tuple[float, float] = _UPLOAD_TIMEOUT,
) -> None:
    """Send ``stream`` to a presigned POST, streamed (never read whole into memory).

    The ``${filename}`` placeholder in the ``key`` field is replaced by ``filename``.

    :raises StorageError: unless the target answers HTTP 204.
    """
    import requests
    from requests_toolbelt import MultipartEncoder

    fields: list[tuple[str, Any]] = [
        (name, value.replace(contract.FILENAME_PLACEHOLDER, filename) if name == "key" else value)
        for name, value in details.fields.items()
    ]
    fields.append(("file", (filename, stream, "application/octet-stream")))
    encoder = MultipartEncoder(fields=fields)
    http = session if session is not None else requests
    target = urlsplit(details.url)
    try:
        response = http.post(
            details.url, data=encoder, headers={"Content-Type": encoder.content_type}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise StorageError(
            f"Uploading the event log to {target.scheme}://{target.netloc} failed ({type(exc).__name__}).",
            detail={"retryable": True},
        ) from None
    if response.status_code != contract.UPLOAD_SUCCESS_STATUS:
        raise StorageError(
            f"Uploading the event log to {target.scheme}://{target.netloc} failed: HTTP "
            f"{response.status_code} (expected {contract.UPLOAD_SUCCESS_STATUS}).",
            detail={"retryable": response.status_code == 429 or response.status_code >= 500},
        )
    log.info("Uploaded event log %s to %s://%s", filename, target.scheme, target.netloc)


__all__ = [
    "PRESIGNED_URL_EXPIRY_S",
    "S3Location",
    "check_fetchable_url",
    "default_s3_client",
    "list_s3_prefix",
    "open_upload_source",
    "parse_s3_url",
    "presign_s3_object",
    "upload_to_presigned_post",
]
