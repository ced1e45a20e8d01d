"""Airflow hook for the Sync Computing API.

:class:`SyncHook` turns a ``sync`` Airflow connection into the core's blocking
:class:`~sync_provider.core.client.SyncClient` (for operators and sensors) and offers a non-blocking
``aiohttp`` path (``aget_*``) for triggers. Both paths use :mod:`sync_provider.core.contract` for
paths, bodies and response parsing.

The connection:

- ``login``: API key ID; ``password``: API key secret;
- ``host``: API URL, either ``https://api.synccomputing.com`` or a bare host name combined with
  ``schema`` (``http`` or ``https``, default ``https``) and ``port``; empty means Sync's public API;
- extra ``app_url``: base URL of Sync's web application for links (default: derived from the API URL).

Importing this module is cheap: the core client (``requests``) and ``aiohttp`` are imported on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

from sync_provider.core import contract
from sync_provider.core.backoff import Backoff
from sync_provider.core.config import DEFAULT_API_URL
from sync_provider.core.errors import AuthenticationError, SyncAPIError, SyncError, TransportError
from sync_provider.core.models import AccessToken, PredictionStatus, Response

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import aiohttp

    from sync_provider.core.client import SyncClient
    from sync_provider.core.models import Prediction

T = TypeVar("T")

#: Extra time Airflow waits for a deferred task beyond the trigger's own deadline, so that the
#: trigger's clear ``timeout`` event normally arrives first; Airflow's deferral timeout is the backstop.
DEFER_TIMEOUT_GRACE_S = 60.0
#: Delays between repeats of a failed async call (429, 5xx, connection error).
DEFAULT_RETRY_BACKOFF = Backoff(initial=0.5, maximum=10.0, factor=2.0, jitter=0.2)
#: Largest ``Retry-After`` honoured by the async path (seconds).
_MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class SyncConnectionInfo:
    """What a ``sync`` connection resolves to. The secret never appears in ``repr``.

    :param api_url: the API base URL without a trailing slash.
    :param api_key_id: the API key ID.
    :param api_key_secret: the API key secret.
    :param app_url: the web application's base URL, for links.
    """

    api_url: str
    api_key_id: str
    api_key_secret: str = field(repr=False)
    app_url: str


def resolve_api_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """Return the API base URL from a connection's ``host``, ``schema`` and ``port``.

    ``host`` may be a full URL (``https://api.synccomputing.com``; then ``schema`` is ignored and
    ``port`` only fills in a missing port) or a bare host name (``127.0.0.1``), combined with
    ``schema`` (``http``/``https``, default ``https``) and ``port``. An empty host gives Sync's
    public API.

    :raises AirflowException: when the result is not an absolute http(s) URL.
    """
    text = (host or "").strip()
    if not text:
        return DEFAULT_API_URL
    if "://" in text:
        parts = urlsplit(text)
        scheme, netloc, path = parts.scheme.lower(), parts.netloc, parts.path
        try:
            has_port = parts.port is not None
        except ValueError:
            raise AirflowException(f"Sync API URL {text!r} has an invalid port.") from None
        if port and not has_port:
            netloc = f"{netloc}:{port}"
    else:
        scheme = (schema or "https").strip().lower()
        netloc, slash, rest = text.partition("/")
        path = slash + rest
        if port and not _has_port(netloc):
            netloc = f"{netloc}:{port}"
    if scheme not in ("http", "https"):
        raise AirflowException(
            f"Sync connection scheme {scheme!r} is not supported; use 'https' (or 'http' for a local "
            "stand-in) as the connection's schema, or give the host as a full URL."
        )
    url = urlunsplit((scheme, netloc, path.rstrip("/"), "", ""))
    if not urlsplit(url).hostname:
        raise AirflowException(f"Sync API URL {url!r} has no host name.")
    return url


def _has_port(netloc: str) -> bool:
    if netloc.startswith("["):  # [IPv6]:port
        return "]:" in netloc
    return ":" in netloc


def derive_app_url(api_url: str, app_url: str | None = None) -> str:
    """Return the web application's base URL for links.

    ``app_url`` wins when given; otherwise an ``api.`` host becomes ``app.`` (Sync's own naming);
    otherwise the API URL itself (a local stand-in serves both).
    """
    if app_url and str(app_url).strip():
        return str(app_url).strip().rstrip("/")
    parts = urlsplit(api_url)
    if parts.netloc.startswith("api."):
        return urlunsplit((parts.scheme, "app." + parts.netloc[4:], "", "", ""))
    return api_url.rstrip("/") or contract.DEFAULT_APP_URL


def parse_connection(
    conn_id: str,
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
) -> SyncConnectionInfo:
    """Resolve a ``sync`` connection's fields into :class:`SyncConnectionInfo`.

    :raises AirflowException: naming the missing or invalid field (never its secret value).
    """
    missing = [
        name
        for name, value in (("login (API key ID)", login), ("password (API key secret)", password))
        if not value
    ]
    if missing:
        raise AirflowException(
            f"Sync connection {conn_id!r} has no {' and no '.join(missing)}. Set them to your Sync API "
            "key (Sync web app: Account > API keys)."
        )
    api_url = resolve_api_url(host, schema, port)
    app_url = extra.get("app_url") or extra.get("extra__sync__app_url")
    return SyncConnectionInfo(
        api_url=api_url,
        api_key_id=str(login),
        api_key_secret=str(password),
        app_url=derive_app_url(api_url, app_url),
    )


def to_airflow_error(exc: SyncError) -> AirflowException:
    """Return the :class:`AirflowException` that reports a core error (same message)."""
    return AirflowException(str(exc))


class SyncHook(BaseHook):
    """Interact with the Sync Computing API.

    :param sync_conn_id: the ``sync`` connection to use.
    :param timeout: read timeout of every API call, in seconds.
    :param retries: how often a retryable call (429, 5xx, connection error) is repeated.
    :param retry_backoff: delays between those repeats (default 0.5 s growing to 10 s).
    """

    conn_name_attr = "sync_conn_id"
    default_conn_name = "sync_default"
    conn_type = "sync"
    hook_name = "Sync Computing"

    def __init__(
        self,
        sync_conn_id: str = default_conn_name,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        retry_backoff: Backoff | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.sync_conn_id = sync_conn_id
        self.timeout = timeout
        self.retries = retries
        self._retry_backoff = retry_backoff
        self._client: SyncClient | None = None
        self._async: _AsyncTransport | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sync_conn_id={self.sync_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form behaviour for Airflow < 3.2 (newer versions read the provider info)."""
        from sync_provider.get_provider_info import get_provider_info

        behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
        return {key.replace("-", "_"): value for key, value in behaviour.items()}

    # -- connection -------------------------------------------------------------------------------

    @cached_property
    def connection_info(self) -> SyncConnectionInfo:
        """The resolved connection (fetched once per hook)."""
        conn = self.get_connection(self.sync_conn_id)
        return parse_connection(
            self.sync_conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=conn.extra_dejson,
        )

    @property
    def api_url(self) -> str:
        """The API base URL of the connection."""
        return self.connection_info.api_url

    @property
    def app_url(self) -> str:
        """The web application's base URL, for links."""
        return self.connection_info.app_url

    def prediction_url(self, prediction_id: str) -> str:
        """Link to a prediction in Sync's web application."""
        return contract.prediction_app_url(prediction_id, self.app_url)

    # -- blocking path (operators, sensors) ------------------------------------------------------

    def get_conn(self) -> SyncClient:
        """Return the core client (same as :meth:`get_client`)."""
        return self.get_client()

    def get_client(self) -> SyncClient:
        """Return a :class:`~sync_provider.core.client.SyncClient` for the connection (cached)."""
        if self._client is None:
            from pydantic import SecretStr

            from sync_provider.core.client import SyncClient
            from sync_provider.core.config import SyncSettings

            info = self.connection_info
            try:
                settings = SyncSettings(
                    api_key_id=info.api_key_id,
                    api_key_secret=SecretStr(info.api_key_secret),
                    api_url=info.api_url,
                )
            except ValueError:
                raise AirflowException(f"Sync API URL {info.api_url!r} is not valid.") from None
            backoff = self._retry_backoff or DEFAULT_RETRY_BACKOFF
            self._client = SyncClient(
                settings,
                timeout=(10.0, self.timeout),
                retries=self.retries,
                backoff_factor=backoff.initial,
                backoff_max=backoff.maximum,
            )
        return self._client

    def close(self) -> None:
        """Close the blocking client's pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Exchange the API key for a token and list the products; never reveals the secret."""
        try:
            from sync_provider.core import predictions

            products = predictions.get_products(client=self.get_client()).unwrap()
        except Exception as exc:
            return False, self._redact(str(exc))
        info = self.connection_info
        return True, (
            f"Connected to the Sync API at {info.api_url} with API key ID {info.api_key_id!r}; "
            f"products: {', '.join(products)}."
        )

    def _redact(self, text: str) -> str:
        try:
            secret = self.connection_info.api_key_secret
        except Exception:
            return text
        return text.replace(secret, "***") if secret else text

    def create_prediction(
        self,
        platform: str,
        cluster_report: Mapping[str, Any],
        eventlog: str,
        *,
        project_id: str | None = None,
        upload: bool | None = None,
        s3_client: Any = None,
    ) -> str:
        """Create a prediction (see :func:`sync_provider.core.predictions.create_prediction`).

        :raises AirflowException: with the core's message.
        """
        from sync_provider.core import predictions

        response = predictions.create_prediction(
            platform,
            cluster_report,
            eventlog,
            project_id=project_id,
            upload=upload,
            client=self.get_client(),
            s3_client=s3_client,
        )
        return self._unwrap(response)

    def get_prediction_status(self, prediction_id: str) -> tuple[PredictionStatus, str | None]:
        """Return the prediction's status and Sync's status message.

        :raises AirflowException: with the core's message.
        """
        from sync_provider.core import predictions

        response = predictions.get_prediction_status_message(prediction_id, client=self.get_client())
        return self._unwrap(response)

    def get_prediction(self, prediction_id: str, preference: str | None = None) -> Prediction:
        """Fetch a prediction, optionally with only the ``preference`` solution.

        :raises AirflowException: with the core's message.
        """
        from sync_provider.core import predictions

        return self._unwrap(predictions.get_prediction(prediction_id, preference, client=self.get_client()))

    def wait_for_prediction(
        self, prediction_id: str, *, timeout: float | None, poll: Backoff | None = None
    ) -> Prediction:
        """Block until the prediction succeeds (see ``core.predictions.wait_for_prediction``).

        :raises AirflowException: on ``FAILURE`` (with Sync's message) or when ``timeout`` passes.
        """
        from sync_provider.core import predictions

        def progress(status: PredictionStatus, waited: float) -> None:
            self.log.info("Prediction %s is %s after %.0f s", prediction_id, status.value, waited)

        response = predictions.wait_for_prediction(
            prediction_id,
            timeout_s=timeout,
            poll=poll or predictions.DEFAULT_POLL,
            on_status=progress,
            client=self.get_client(),
        )
        return self._unwrap(response)

    @staticmethod
    def _unwrap(response: Response[T]) -> T:
        try:
            return response.unwrap()
        except SyncError as exc:
            raise to_airflow_error(exc) from exc

    # -- non-blocking path (triggers) ------------------------------------------------------------

    async def aget_connection_info(self) -> SyncConnectionInfo:
        """Resolve the connection without blocking the event loop."""
        if self._async is None:
            conn = await self.aget_connection(self.sync_conn_id)
            aextra = getattr(conn, "aextra_dejson", None)
            extra = await aextra() if aextra is not None else conn.extra_dejson
            info = parse_connection(
                self.sync_conn_id,
                host=conn.host,
                schema=conn.schema,
                port=conn.port,
                login=conn.login,
                password=conn.password,
                extra=extra,
            )
            if self._async is None:  # concurrent callers may have resolved it during the awaits
                self._async = _AsyncTransport(
                    info, timeout=self.timeout, retries=self.retries, backoff=self._retry_backoff
                )
        return self._async.info

    async def _atransport(self) -> _AsyncTransport:
        await self.aget_connection_info()
        assert self._async is not None
        return self._async

    async def aget_products(self) -> list[str]:
        """List the product codes (async).

        :raises SyncError: typed core errors (the caller decides how to report them).
        """
        result = await (await self._atransport()).request(contract.PRODUCTS)
        return [str(item) for item in result] if isinstance(result, list) else []

    async def aget_prediction_status(self, prediction_id: str) -> tuple[PredictionStatus, str | None]:
        """Return the prediction's status and Sync's message without blocking the loop.

        :raises SyncError: typed core errors (``TransportError`` after the retries, ``NotFoundError``...).
        """
        transport = await self._atransport()
        result = await transport.request(
            contract.PREDICTION_STATUS, path_params={"prediction_id": prediction_id}
        )
        return contract.parse_status(result)

    async def aget_prediction(self, prediction_id: str, preference: str | None = None) -> dict[str, Any]:
        """Fetch a prediction as the API's JSON object (async).

        :raises SyncError: typed core errors.
        """
        pref = contract.parse_preference(preference)
        params = [("preference", pref.value)] if pref else []
        transport = await self._atransport()
        result = await transport.request(
            contract.GET_PREDICTION, path_params={"prediction_id": prediction_id}, params=params
        )
        if not isinstance(result, dict):
            raise SyncAPIError(
                f"Prediction {prediction_id} came back as {type(result).__name__}, not an object."
            )
        return result

    async def aclose(self) -> None:
        """Close the async HTTP session (safe to call more than once)."""
        if self._async is not None:
            await self._async.close()

    async def __aenter__(self) -> SyncHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _TokenSlot:
    """A bearer token shared by the transports of one event loop that use the same API key."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.valid_until = 0.0  # time.monotonic()
        self.lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"_TokenSlot(valid={self.token is not None and time.monotonic() < self.valid_until})"


class _LoopPool:
    """TCP connections and tokens shared by the async transports running in one event loop.

    A triggerer runs every trigger in one loop; without sharing, 1000 waiting predictions mean 1000
    TCP connections and 1000 token exchanges. Each transport still has its own session, retries and
    deadlines; only the connector (at most :data:`POOL_CONNECTIONS` connections) and the token cache
    are shared. The pool is reference counted: when the last transport of the loop closes, the
    connector is closed and the tokens are forgotten.
    """

    def __init__(self) -> None:
        self.users = 0
        self.connector: aiohttp.TCPConnector | None = None
        self.tokens: dict[tuple[str, str, str], _TokenSlot] = {}

    def __repr__(self) -> str:
        return f"_LoopPool(users={self.users}, tokens={len(self.tokens)})"

    def acquire(self) -> aiohttp.TCPConnector:
        import aiohttp

        self.users += 1
        if self.connector is None or self.connector.closed:
            self.connector = aiohttp.TCPConnector(limit=POOL_CONNECTIONS, limit_per_host=0)
        return self.connector

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            connector, self.connector = self.connector, None
            self.tokens.clear()
            loop = asyncio.get_running_loop()
            if _POOLS.get(loop) is self:
                del _POOLS[loop]
            if connector is not None and not connector.closed:
                await connector.close()

    def token_slot(self, info: SyncConnectionInfo) -> _TokenSlot:
        digest = hashlib.sha256(info.api_key_secret.encode()).hexdigest()
        return self.tokens.setdefault((info.api_url, info.api_key_id, digest), _TokenSlot())


#: Most TCP connections the async transports of one event loop open to the Sync API together.
POOL_CONNECTIONS = 100
_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = weakref.WeakKeyDictionary()


def _loop_pool() -> _LoopPool:
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = _LoopPool()
    return pool


class _AsyncTransport:
    """An aiohttp session with token reuse, one refresh on 401 and retries of idempotent calls.

    Requests are built and parsed with :mod:`sync_provider.core.contract`, like the blocking client.
    Connections and tokens are shared with the other transports of the event loop (:class:`_LoopPool`).
    """

    def __init__(
        self, info: SyncConnectionInfo, *, timeout: float, retries: int, backoff: Backoff | None
    ) -> None:
        self.info = info
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff or DEFAULT_RETRY_BACKOFF
        self._session: aiohttp.ClientSession | None = None
        self._pool: _LoopPool | None = None

    def __repr__(self) -> str:
        return f"_AsyncTransport(api_url={self.info.api_url!r}, api_key_id={self.info.api_key_id!r})"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            from sync_provider.core.client import USER_AGENT

            if self._pool is None:
                self._pool = _loop_pool()
                connector = self._pool.acquire()
            else:
                assert self._pool.connector is not None
                connector = self._pool.connector
            self._session = aiohttp.ClientSession(
                connector=connector,
                connector_owner=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout, sock_connect=10.0),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        pool, self._pool = self._pool, None
        if session is not None and not session.closed:
            await session.close()
        if pool is not None:
            await pool.release()

    async def _send(
        self,
        endpoint: contract.Endpoint,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        token: str | None = None,
    ) -> tuple[int, bytes]:
        """Send one request, repeating it on 429/5xx/connection errors (only idempotent endpoints)."""
        import aiohttp

        from sync_provider.core.client import RETRY_STATUSES

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        delays = self._backoff.delays()
        attempts = self._retries + 1 if endpoint.idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                async with self._get_session().request(
                    endpoint.method,
                    self.info.api_url + path,
                    params=list(params or ()),
                    json=json,
                    headers=headers,
                ) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt >= attempts:
                    raise TransportError(
                        f"{endpoint.method} {path}: could not reach the Sync API at {self.info.api_url} "
                        f"({type(exc).__name__}) after {attempt} attempt(s)."
                    ) from None
                await asyncio.sleep(next(delays))
                continue
            if status in RETRY_STATUSES and attempt < attempts:
                await asyncio.sleep(_retry_delay(next(delays), retry_after))
                continue
            return status, body
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_token(self, *, force_refresh: bool = False, stale: str | None = None) -> str:
        self._get_session()  # joins the loop's pool
        assert self._pool is not None
        slot = self._pool.token_slot(self.info)
        async with slot.lock:
            # Another request may have refreshed the token while this one waited for the lock.
            fresh = slot.token is not None and time.monotonic() < slot.valid_until
            if fresh and not (force_refresh and slot.token == stale):
                assert slot.token is not None
                return slot.token
            slot.token, slot.valid_until = await self._fetch_token()
            return slot.token

    async def _fetch_token(self) -> tuple[str, float]:
        from datetime import UTC, datetime

        from sync_provider.core.client import TOKEN_REFRESH_MARGIN

        endpoint = contract.AUTH_TOKEN
        what = f"{endpoint.method} {endpoint.path}"
        body = contract.auth_body(self.info.api_key_id, self.info.api_key_secret)
        status, content = await self._send(endpoint, endpoint.path, json=body)
        try:
            result = contract.parse_envelope(status, content, what=what)
        except SyncAPIError as exc:
            raise AuthenticationError(
                f"The Sync API refused API key ID {self.info.api_key_id!r} ({exc.message}). "
                "Check the key ID and secret of the Airflow connection.",
                code=exc.code,
                status=exc.status,
            ) from None
        try:
            token = AccessToken.model_validate(result)
        except ValueError:
            raise AuthenticationError(f"{what} returned no usable access token.") from None
        lifetime = (token.expires_at_utc - TOKEN_REFRESH_MARGIN - datetime.now(UTC)).total_seconds()
        return token.access_token, time.monotonic() + max(0.0, lifetime)

    async def request(
        self,
        endpoint: contract.Endpoint,
        *,
        path_params: dict[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        """Call an idempotent endpoint and return the envelope's ``result``.

        :raises SyncError: (typed) the API's error, or ``TransportError`` after the retries.
        """
        path = endpoint.format(**(path_params or {}))
        what = f"{endpoint.method} {endpoint.path}"
        token = await self._get_token() if endpoint.authenticated else None
        status, body = await self._send(endpoint, path, params=params, token=token)
        if status == 401 and endpoint.authenticated:
            token = await self._get_token(force_refresh=True, stale=token)
            status, body = await self._send(endpoint, path, params=params, token=token)
        return contract.parse_envelope(status, body, what=what)


def _retry_delay(backoff_delay: float, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(max(backoff_delay, float(retry_after)), _MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    return backoff_delay
