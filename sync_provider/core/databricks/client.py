"""Databricks REST access: the :class:`DatabricksApi` protocol and a ``requests`` implementation.

The core talks to a workspace only through :class:`DatabricksApi`, one method that takes the HTTP
method, the path after ``/api/`` (e.g. ``"2.1/jobs/runs/get"``), a JSON body and whether repeating
the call is safe. :class:`DatabricksRestClient` implements it with :mod:`requests`; the Airflow layer
wraps the Databricks provider's ``DatabricksHook`` in the same protocol.

Rules :class:`DatabricksRestClient` keeps:

- every call has a ``(connect, read)`` timeout;
- calls marked ``idempotent`` (reads, ``runs/cancel``, ``clusters/delete``, ``runs/submit`` with an
  ``idempotency_token``) are repeated with exponential backoff on 429/500/502/503/504 and on
  connection errors, honouring ``Retry-After`` (whole or decimal seconds, or an HTTP date; an
  unreadable value falls back to the backoff); other calls are repeated only when the connection
  could not be opened (the request never left);
- errors carry Databricks' ``error_code``: the message is ``"<error_code>: <message>"`` and the HTTP
  status is in ``detail``;
- the token never appears in logs, reprs or error messages.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import platform
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from sync_provider import __version__
from sync_provider.core._http_retry import LenientRetry
from sync_provider.core.errors import DatabricksError, InvalidInputError, register_error_kind

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-sync-computing/{__version__} Python/{platform.python_version()}"
#: HTTP statuses repeated for idempotent calls.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_MESSAGE = 500
_NO_METHODS = frozenset({"(none)"})


class DatabricksApi(Protocol):
    """What the core needs from a Databricks workspace: one JSON call.

    Implementations: :class:`DatabricksRestClient` (``requests``); the Airflow layer adapts
    ``DatabricksHook._do_api_call``.
    """

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON object.

        :param method: ``GET`` or ``POST``.
        :param path: the path after ``/api/``, e.g. ``"2.1/jobs/runs/get"``.
        :param body: for ``GET`` the query parameters, for ``POST`` the JSON body.
        :param idempotent: whether repeating the call cannot change anything (reads, cancel,
            delete, a submit with an idempotency token). Only such calls may be retried after they
            reached the server.
        :raises DatabricksError: (or :class:`DatabricksAPIError`) when the call failed.
        """
        ...


class DatabricksAPIError(DatabricksError):
    """Databricks answered with an error status.

    :param error_code: Databricks' ``error_code`` (or the HTTP status when the body had none).
    :param status: the HTTP status.
    """

    def __init__(
        self,
        message: str,
        *,
        detail: Any = None,
        code: str | None = None,
        error_code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, detail=detail, code=code)
        known = detail if isinstance(detail, dict) else {}
        self.error_code: str | None = error_code or known.get("error_code")
        raw_status = status if status is not None else known.get("http_status")
        self.status: int | None = int(raw_status) if isinstance(raw_status, int) else None


class DatabricksTimeoutError(DatabricksError):
    """A Databricks run, cluster or log delivery did not reach the expected state in time."""

    code = "Databricks Timeout"


register_error_kind(DatabricksAPIError)
register_error_kind(DatabricksTimeoutError)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_host(host: str) -> str:
    """Return the workspace base URL ``scheme://host[:port]`` for ``host``.

    ``dbc-123.cloud.databricks.com`` becomes ``https://dbc-123.cloud.databricks.com``; plain
    ``http://`` is accepted only for loopback hosts (local stand-ins), because the token would
    otherwise travel in clear text.

    :param host: the workspace URL or host name.
    :raises InvalidInputError: for an empty host, another scheme, or ``http://`` to a remote host.
    """
    text = (host or "").strip()
    if not text:
        raise InvalidInputError("The Databricks host is empty: give the workspace URL, e.g. https://dbc-….")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    name = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not name:
        raise InvalidInputError(
            f"The Databricks host {host!r} is not a workspace URL; use https://<workspace host>."
        )
    if parts.scheme == "http" and not _is_loopback(name):
        raise InvalidInputError(
            f"The Databricks host {parts.scheme}://{name} uses plain http; only https:// is accepted "
            "(plain http is allowed for loopback stand-ins only)."
        )
    netloc = f"[{name}]" if ":" in name else name
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


def _query(body: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in (body or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            params.append((key, text))
    return params


def api_error(method: str, path: str, status: int, content: bytes, reason: str = "") -> DatabricksAPIError:
    """Build the error for a non-2xx Databricks response.

    :param method: the request method.
    :param path: the path after ``/api/``.
    :param status: the HTTP status.
    :param content: the response body (a JSON ``{"error_code", "message"}`` envelope, usually).
    :param reason: the HTTP reason phrase.
    """
    error_code = str(status)
    message = reason or "no message"
    try:
        payload = json.loads(content.decode("utf-8")) if content else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict):
        error_code = str(payload.get("error_code") or error_code)
        message = str(payload.get("message") or payload.get("error") or message)
    elif content:
        message = content.decode("utf-8", "replace").strip()[:_MAX_MESSAGE] or message
    return DatabricksAPIError(
        f"{error_code}: {message}",
        detail={"error_code": error_code, "http_status": status, "endpoint": f"{method} /api/{path}"},
        error_code=error_code,
        status=status,
    )


class _DatabricksRetry(LenientRetry):
    """urllib3 retry policy of :class:`DatabricksRestClient`: reads decimal ``Retry-After`` seconds
    and ignores unreadable values (see :class:`~sync_provider.core._http_retry.LenientRetry`)."""

    service = "Databricks"
    logger = log


class DatabricksRestClient:
    """A :class:`DatabricksApi` on :mod:`requests` with a personal access token.

    :param host: workspace URL (``https://…``; ``http://127.0.0.1:P`` for the local stand-in).
    :param token: a personal access token (or OAuth access token); kept as a secret.
    :param timeout: ``(connect, read)`` timeout in seconds for every call.
    :param retries: how many times a retryable call is repeated.
    :param backoff_factor: base of the exponential backoff in seconds.
    :param backoff_max: largest wait between tries in seconds (``Retry-After`` may ask for more).
    :raises InvalidInputError: for an unusable host or an empty token.
    """

    _IDEMPOTENT_METHODS: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})

    def __init__(
        self,
        host: str,
        token: str | SecretStr,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        retries: int = 5,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.host = normalize_host(host)
        secret = token if isinstance(token, SecretStr) else SecretStr(token or "")
        if not secret.get_secret_value().strip():
            raise InvalidInputError("The Databricks token is empty: give a personal access token.")
        self._token = secret
        self.timeout = timeout
        common: dict[str, Any] = {
            "other": 0,
            "backoff_factor": backoff_factor,
            "backoff_max": backoff_max,
            "backoff_jitter": backoff_factor,
            "respect_retry_after_header": True,
            "raise_on_status": False,
            "raise_on_redirect": False,
        }
        repeatable = _DatabricksRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            allowed_methods=self._IDEMPOTENT_METHODS,
            status_forcelist=RETRY_STATUSES,
            **common,
        )
        # A call that may create something is repeated only when the connection could not be opened
        # (urllib3 retries connect errors whatever the method). No method we send is listed: an
        # empty set would mean "every method" to urllib3.
        once = _DatabricksRetry(
            total=retries,
            connect=retries,
            read=0,
            status=0,
            allowed_methods=_NO_METHODS,
            **{**common, "respect_retry_after_header": False},
        )
        self._repeatable = requests.Session()
        self._once = requests.Session()
        for session, policy in ((self._repeatable, repeatable), (self._once, once)):
            session.headers["User-Agent"] = USER_AGENT
            session.mount(self.host, HTTPAdapter(max_retries=policy))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> DatabricksRestClient:
        """Build a client from ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN``.

        :param env: the environment (default ``os.environ``).
        :param options: other :class:`DatabricksRestClient` arguments.
        :raises InvalidInputError: when a variable is missing.
        """
        source = os.environ if env is None else env
        host, token = source.get("DATABRICKS_HOST", ""), source.get("DATABRICKS_TOKEN", "")
        missing = [
            name for name, value in (("DATABRICKS_HOST", host), ("DATABRICKS_TOKEN", token)) if not value
        ]
        if missing:
            raise InvalidInputError(f"Set {' and '.join(missing)} to reach a Databricks workspace.")
        return cls(host, token, **options)

    def __repr__(self) -> str:
        return f"DatabricksRestClient(host={self.host!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._repeatable.close()
        self._once.close()

    def __enter__(self) -> DatabricksRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        """Send one request (see :meth:`DatabricksApi.call`)."""
        verb = method.upper()
        if verb not in ("GET", "POST"):
            raise InvalidInputError(f"Databricks calls are GET or POST, not {method!r}.")
        clean = path.strip().lstrip("/")
        clean = clean.removeprefix("api/")
        url = f"{self.host}/api/{clean}"
        session = self._repeatable if idempotent else self._once
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._token.get_secret_value()}",
        }
        options: dict[str, Any] = {"params": _query(body)} if verb == "GET" else {"json": dict(body or {})}
        try:
            response = session.request(verb, url, headers=headers, timeout=self.timeout, **options)
        except requests.RequestException as exc:
            raise self._transport_error(verb, clean, idempotent, exc) from None
        log.debug("%s /api/%s -> HTTP %s", verb, clean, response.status_code)
        return self._decode(verb, clean, response)

    def _transport_error(self, verb: str, path: str, idempotent: bool, exc: Exception) -> DatabricksError:
        cause = exc.args[0] if exc.args else None
        cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the last error
        reason = type(cause).__name__ if isinstance(cause, Exception) else type(exc).__name__
        never_sent = isinstance(cause, NewConnectionError) or isinstance(exc, requests.ConnectTimeout)
        if idempotent or never_sent:
            message = f"{verb} /api/{path}: could not reach Databricks at {self.host} ({reason})."
        else:
            message = (
                f"{verb} /api/{path}: the connection to {self.host} failed after the request may have "
                f"reached Databricks ({reason}). It was not repeated, so that nothing is created twice; "
                "check whether it took effect before trying again."
            )
        return DatabricksError(message, detail={"endpoint": f"{verb} /api/{path}", "reason": reason})

    @staticmethod
    def _decode(verb: str, path: str, response: requests.Response) -> dict[str, Any]:
        if not 200 <= response.status_code < 300:
            raise api_error(verb, path, response.status_code, response.content, response.reason or "")
        if not response.content.strip():
            return {}
        try:
            payload = response.json()
        except ValueError:
            raise DatabricksError(
                f"{verb} /api/{path} answered HTTP {response.status_code} with a body that is not JSON.",
                detail={"endpoint": f"{verb} /api/{path}", "http_status": response.status_code},
            ) from None
        if not isinstance(payload, dict):
            raise DatabricksError(
                f"{verb} /api/{path} answered with JSON that is not an object.",
                detail={"endpoint": f"{verb} /api/{path}", "http_status": response.status_code},
            )
        return payload


__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "DatabricksAPIError",
    "DatabricksApi",
    "DatabricksRestClient",
    "DatabricksTimeoutError",
    "api_error",
    "normalize_host",
]
