"""Blocking Sync API client on :mod:`requests` with urllib3 retries.

Rules it keeps:

- API key -> bearer token (``POST /v1/auth/token``); the token is reused until 30 s before it
  expires; a 401 on a call refreshes it once and repeats that call once (a 401 means the server
  did not act on the request, so repeating even a POST cannot duplicate anything).
- Every call has a timeout.
- Idempotent calls (GET, PUT, DELETE and the token exchange) are retried with exponential
  backoff and jitter on 429/500/502/503/504 and on connection errors, honouring ``Retry-After``
  (whole or decimal seconds, or an HTTP date; an unreadable value falls back to the backoff).
- A POST that creates something is retried only when it cannot have reached the server
  (connection refused) or was refused with 429. A POST whose response is lost is never repeated:
  the caller gets a :class:`~sync_provider.core.errors.TransportError` saying so.
- The API key secret and the token never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from sync_provider import __version__
from sync_provider.core import contract
from sync_provider.core._http_retry import LenientRetry
from sync_provider.core.config import SyncSettings, load_settings
from sync_provider.core.errors import AuthenticationError, SyncAPIError, TransportError
from sync_provider.core.models import AccessToken

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-sync-computing/{__version__} Python/{platform.python_version()}"
#: A token is renewed this long before it expires.
TOKEN_REFRESH_MARGIN = timedelta(seconds=30)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _SyncRetry(LenientRetry):
    """urllib3 retry policy that also repeats a POST refused with 429 (the server did not act), and
    reads any ``Retry-After`` it can instead of failing on the ones urllib3 cannot (see
    :class:`~sync_provider.core._http_retry.LenientRetry`)."""

    service = "the Sync API"
    logger = log

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and status_code == 429:
            return bool(self.total)
        return bool(super().is_retry(method, status_code, has_retry_after))


def build_retry(
    *, attempts: int, backoff_factor: float, backoff_max: float, methods: frozenset[str]
) -> Retry:
    """Return the urllib3 retry policy used by :class:`SyncClient`.

    :param attempts: retries after the first try.
    :param backoff_factor: base of the exponential backoff in seconds.
    :param backoff_max: largest wait between tries in seconds (``Retry-After`` may ask for more).
    :param methods: methods that may be repeated after they reached the server.
    """
    return _SyncRetry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=methods,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


class SyncClient:
    """A connection to the Sync API.

    :param settings: API key and URL (see :func:`sync_provider.core.config.load_settings`).
    :param timeout: ``(connect, read)`` timeout in seconds for every call.
    :param retries: how many times a retryable call is repeated.
    :param backoff_factor: base of the exponential backoff in seconds.
    :param backoff_max: largest wait between tries in seconds.
    :param session: a :class:`requests.Session` to use (adapters are mounted on it).
    """

    def __init__(
        self,
        settings: SyncSettings,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        retries: int = 5,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        base = settings.api_url

        def retry(methods: frozenset[str]) -> Retry:
            return build_retry(
                attempts=retries, backoff_factor=backoff_factor, backoff_max=backoff_max, methods=methods
            )

        # requests picks the adapter with the longest matching prefix, so the token exchange (a POST
        # that creates nothing) gets a policy that may repeat it.
        self.session.mount(base, HTTPAdapter(max_retries=retry(_IDEMPOTENT_METHODS)))
        self.session.mount(
            base + contract.AUTH_TOKEN.path,
            HTTPAdapter(max_retries=retry(_IDEMPOTENT_METHODS | {"POST"})),
        )

    @classmethod
    def from_config(cls, **overrides: Any) -> SyncClient:
        """Build a client from arguments, environment and ``~/.sync`` files (see ``load_settings``)."""
        setting_keys = ("api_key_id", "api_key_secret", "api_url")
        settings = load_settings(**{k: overrides.pop(k) for k in setting_keys if k in overrides})
        return cls(settings, **overrides)

    @property
    def api_url(self) -> str:
        """The API base URL."""
        return self.settings.api_url

    def __repr__(self) -> str:
        return f"SyncClient(api_url={self.api_url!r}, api_key_id={self.settings.api_key_id!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- authentication -------------------------------------------------------------------------

    def _token_valid(self) -> bool:
        token = self._token
        return token is not None and token.expires_at_utc - TOKEN_REFRESH_MARGIN > datetime.now(UTC)

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Return a valid access token, exchanging the API key for a new one when needed.

        :raises AuthenticationError: when the API key is refused.
        """
        with self._lock:
            if force_refresh or not self._token_valid():
                self._token = self._fetch_token()
            assert self._token is not None
            return self._token

    def _fetch_token(self) -> AccessToken:
        body = contract.auth_body(self.settings.api_key_id, self.settings.api_key_secret.get_secret_value())
        what = f"{contract.AUTH_TOKEN.method} {contract.AUTH_TOKEN.path}"
        response = self._send(contract.AUTH_TOKEN, contract.AUTH_TOKEN.path, json=body, token=None)
        try:
            result = contract.parse_envelope(response.status_code, response.content, what=what)
        except SyncAPIError as exc:
            if exc.status not in (400, 401, 403):
                # An outage (5xx after the retries) is not a wrong key: say what really happened.
                raise
            raise AuthenticationError(
                f"The Sync API refused API key ID {self.settings.api_key_id!r} ({exc.message}). "
                "Check the key ID and secret (`sync-cli configure`, or the Airflow connection).",
                code=exc.code,
                status=exc.status,
            ) from None
        try:
            token = AccessToken.model_validate(result)
        except ValueError:
            raise AuthenticationError(f"{what} returned no usable access token.") from None
        log.debug("Obtained a Sync access token valid until %s", token.expires_at_utc.isoformat())
        return token

    # -- requests ---------------------------------------------------------------------------------

    def _send(
        self,
        endpoint: contract.Endpoint,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        token: AccessToken | None,
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.access_token}"
        started = time.monotonic()
        try:
            response = self.session.request(
                endpoint.method,
                self.api_url + path,
                params=list(params or ()),
                json=json,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise self._transport_error(endpoint, path, exc) from None
        log.debug(
            "%s %s -> HTTP %s in %.0f ms",
            endpoint.method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _transport_error(self, endpoint: contract.Endpoint, path: str, exc: Exception) -> TransportError:
        cause = exc.args[0] if exc.args else None
        cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the last error
        reason = type(cause).__name__ if isinstance(cause, Exception) else type(exc).__name__
        connect_failed = isinstance(cause, NewConnectionError) or isinstance(exc, requests.ConnectTimeout)
        if endpoint.idempotent or connect_failed:
            message = f"{endpoint.method} {path}: could not reach the Sync API at {self.api_url} ({reason})."
        else:
            message = (
                f"{endpoint.method} {path}: the connection failed after the request may have reached "
                f"the Sync API ({reason}). It was not repeated, so that nothing is created twice; "
                "check whether it took effect (e.g. list predictions) before trying again."
            )
        return TransportError(message)

    def request(
        self,
        endpoint: contract.Endpoint,
        *,
        path_params: dict[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
    ) -> Any:
        """Call ``endpoint`` and return the envelope's ``result``.

        :param path_params: values for the path placeholders (validated identifiers).
        :param params: query parameters (repeatable keys allowed).
        :param json: JSON body.
        :raises SyncAPIError: (or a subclass) carrying the API's error code and message.
        """
        path = endpoint.format(**(path_params or {}))
        what = f"{endpoint.method} {endpoint.path}"
        token = self.access_token() if endpoint.authenticated else None
        response = self._send(endpoint, path, params=params, json=json, token=token)
        if response.status_code == 401 and endpoint.authenticated:
            log.info("Sync access token rejected; obtaining a new one and repeating %s once", what)
            token = self.access_token(force_refresh=True)
            response = self._send(endpoint, path, params=params, json=json, token=token)
        return contract.parse_envelope(response.status_code, response.content, what=what)
