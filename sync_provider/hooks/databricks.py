"""The Databricks provider's ``DatabricksHook`` as the core's ``DatabricksApi``.

The core reaches a workspace through one method, ``call(method, path, body=None, *, idempotent)``.
:class:`DatabricksHookApi` implements it on ``DatabricksHook._do_api_call`` (blocking, for operators
and sensors) and :class:`AsyncDatabricksHookApi` on ``DatabricksHook._a_do_api_call`` (aiohttp, for
triggers), so the operators use ordinary ``databricks`` connections (``databricks_conn_id``) with
every authentication method the Databricks provider supports; there is no Sync-specific
Databricks connection type.

What the adapters add to the hook:

- **Bodies are sent as given.** The provider's operators pass their JSON through
  ``normalise_json_content``, which turns every number into a string (``num_workers: 2`` becomes
  ``"2"``); the adapters never do, so cluster specs keep their types and the core's validation and
  the run's recorded spec agree. For ``GET`` the body becomes query parameters: ``None`` values
  are dropped and booleans become ``true``/``false`` (the async hook sends them as a JSON body).
- **Retries follow the core's rule.** The hook repeats a call on 429, 5xx and connection errors
  (``databricks_retry_limit`` tries with ``databricks_retry_delay``). Calls the core marks
  ``idempotent=False`` go through a copy of the hook limited to one try, so a request that may have
  created something is never repeated.
- **Errors become the core's.** The provider's ``DatabricksApiError`` becomes
  :class:`~sync_provider.core.databricks.DatabricksAPIError` with ``error_code`` (from the response
  body on the blocking path; the async hook keeps only the HTTP status, which then serves as the
  code) and ``status``; the hook's other failures (retries exhausted, no token, a missing
  connection) become :class:`~sync_provider.core.errors.DatabricksError` with the hook's message.

Importing this module is cheap: the Databricks provider (``requests``, ``aiohttp``) and the core's
Databricks package are imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    from sync_provider.core.databricks.client import DatabricksAPIError
    from sync_provider.core.errors import DatabricksError

#: The Databricks provider's default connection id.
DEFAULT_DATABRICKS_CONN_ID = "databricks_default"
#: The ``caller`` our hooks report in Databricks' User-Agent.
DEFAULT_CALLER = "SyncComputing"


def databricks_hook(
    databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
    *,
    retry_limit: int = 3,
    retry_delay: float = 1.0,
    retry_args: dict[Any, Any] | None = None,
    timeout_seconds: int = 180,
    caller: str = DEFAULT_CALLER,
) -> DatabricksHook:
    """Build the Databricks provider's ``DatabricksHook`` (imported here, not at module import).

    :param databricks_conn_id: the ``databricks`` connection.
    :param retry_limit: tries per call (at least 1) on 429, 5xx and connection errors.
    :param retry_delay: first delay between tries, in seconds (then exponential).
    :param retry_args: ``tenacity`` arguments replacing the default retry policy.
    :param timeout_seconds: timeout of each HTTP request.
    :param caller: the name reported in the User-Agent.
    """
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    return DatabricksHook(
        databricks_conn_id=databricks_conn_id,
        timeout_seconds=timeout_seconds,
        retry_limit=retry_limit,
        retry_delay=retry_delay,
        retry_args=retry_args,
        caller=caller,
    )


def parse_run_id(value: Any, name: str = "run_id") -> int:
    """Return a templated Databricks run id as an ``int``.

    :raises AirflowException: when it is not a positive whole number.
    """
    from airflow.sdk.exceptions import AirflowException

    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number <= 0:
        raise AirflowException(f"{name} {value!r} is not a Databricks run id (a positive whole number).")
    return number


def _single_try(hook: DatabricksHook) -> DatabricksHook:
    """A copy of ``hook`` that tries each call once (for calls that must not be repeated)."""
    once = databricks_hook(
        hook.databricks_conn_id,
        retry_limit=1,
        retry_delay=hook.retry_delay,
        timeout_seconds=hook.timeout_seconds,
        caller=hook.caller,
    )
    if "databricks_conn" in hook.__dict__:  # share the connection already fetched
        once.__dict__["databricks_conn"] = hook.__dict__["databricks_conn"]
    return once


def _clean_path(path: str) -> str:
    return path.strip().lstrip("/").removeprefix("api/")


def _query(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """``GET`` parameters: ``None`` dropped, booleans as ``true``/``false``, lists kept (repeated)."""
    params: dict[str, Any] = {}
    for key, value in (body or {}).items():
        if value is None:
            continue
        params[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return params


def _status_of(exc: BaseException | None) -> int | None:
    response = getattr(exc, "response", None)  # requests.HTTPError
    status = getattr(response, "status_code", None) if response is not None else getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _http_error(cause: BaseException | None, status: int, method: str, path: str) -> DatabricksAPIError:
    """The core error for an HTTP error answer (``requests`` keeps the body, ``aiohttp`` does not)."""
    from sync_provider.core.databricks.client import api_error

    response = getattr(cause, "response", None)
    content = getattr(response, "content", b"") if response is not None else b""
    reason = str(getattr(cause, "message", "") or getattr(response, "reason", "") or "")
    return api_error(method, path, status, content if isinstance(content, bytes) else b"", reason)


def _last_try(exc: BaseException) -> tuple[BaseException | None, int]:
    """The last error and the number of tries behind the hook's "failed N times" exception."""
    retry = exc.__cause__
    last_attempt = getattr(retry, "last_attempt", None)  # tenacity.RetryError
    if last_attempt is None:
        return None, 1
    try:
        return last_attempt.exception(), int(last_attempt.attempt_number)
    except Exception:
        return None, 1


def to_core_error(exc: BaseException, method: str, path: str) -> DatabricksError:
    """Return the core error for an exception raised by ``DatabricksHook`` during ``method path``.

    :param exc: what the hook raised.
    :param method: the request method.
    :param path: the path after ``/api/``.
    """
    from airflow.providers.databricks.exceptions import DatabricksApiError

    from sync_provider.core.errors import DatabricksError, SyncError

    if isinstance(exc, DatabricksError):
        return exc
    endpoint = f"{method} /api/{path}"
    if isinstance(exc, DatabricksApiError) and exc.http_status_code is not None:
        return _http_error(exc.__cause__, int(exc.http_status_code), method, path)
    last, tries = _last_try(exc)
    status = _status_of(last)
    if status is not None:  # the hook's retries ran out on 429/5xx
        error = _http_error(last, status, method, path)
        error.message += f" (gave up after {tries} tries)"
        return error
    if isinstance(exc, SyncError):
        return DatabricksError(exc.message, detail={"endpoint": endpoint})
    text = str(exc) or type(exc).__name__
    return DatabricksError(f"{endpoint} failed: {text}", detail={"endpoint": endpoint})


def _result(answer: Any, method: str, path: str) -> dict[str, Any]:
    from sync_provider.core.errors import DatabricksError

    if answer is None:
        return {}
    if not isinstance(answer, dict):
        raise DatabricksError(
            f"{method} /api/{path} answered with JSON that is not an object.",
            detail={"endpoint": f"{method} /api/{path}"},
        )
    return answer


class DatabricksHookApi:
    """The core's ``DatabricksApi`` on a ``DatabricksHook`` (blocking; operators and sensors).

    :param hook: the Databricks provider's hook (see :func:`databricks_hook`).
    """

    def __init__(self, hook: DatabricksHook) -> None:
        self.hook = hook

    @classmethod
    def from_conn_id(
        cls,
        databricks_conn_id: str = DEFAULT_DATABRICKS_CONN_ID,
        *,
        retry_limit: int = 3,
        retry_delay: float = 1.0,
        caller: str = DEFAULT_CALLER,
    ) -> DatabricksHookApi:
        """An adapter on a new hook for ``databricks_conn_id`` (see :func:`databricks_hook`)."""
        return cls(
            databricks_hook(
                databricks_conn_id, retry_limit=retry_limit, retry_delay=retry_delay, caller=caller
            )
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(databricks_conn_id={self.hook.databricks_conn_id!r})"

    @cached_property
    def _once(self) -> DatabricksHook:
        return _single_try(self.hook)

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        """Send one request through the hook (see ``DatabricksApi.call``).

        :raises DatabricksError: (or ``DatabricksAPIError``) when the call failed.
        """
        verb = method.upper()
        clean = _clean_path(path)
        payload = _query(body) if verb == "GET" else dict(body or {})
        try:
            hook = self.hook if idempotent or self.hook.retry_limit <= 1 else self._once
            answer = hook._do_api_call((verb, clean), payload)
        except Exception as exc:
            raise to_core_error(exc, verb, clean) from exc
        return _result(answer, verb, clean)


class AsyncDatabricksHookApi:
    """The core's ``DatabricksApi`` as coroutines on a ``DatabricksHook`` (aiohttp; triggers).

    Use it as an async context manager: it opens and closes the hook's ``aiohttp`` session (the
    hook's ``async with``). The connection is fetched without blocking the event loop.

    :param hook: the Databricks provider's hook (see :func:`databricks_hook`).
    """

    def __init__(self, hook: DatabricksHook) -> None:
        self.hook = hook
        self._once: DatabricksHook | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(databricks_conn_id={self.hook.databricks_conn_id!r})"

    async def __aenter__(self) -> AsyncDatabricksHookApi:
        await self.hook.__aenter__()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.hook.__aexit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]

    async def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        """Send one request through the hook's async path (see ``DatabricksApi.call``).

        :raises DatabricksError: (or ``DatabricksAPIError``) when the call failed.
        """
        verb = method.upper()
        clean = _clean_path(path)
        payload = _query(body) if verb == "GET" else dict(body or {})
        try:
            hook = self.hook
            if not idempotent and self.hook.retry_limit > 1:
                await self.hook._a_cache_databricks_conn()  # fetch the connection once, for both hooks
                if self._once is None:
                    self._once = _single_try(self.hook)
                self._once._session = self.hook._session  # share the open session
                hook = self._once
            answer = await hook._a_do_api_call((verb, clean), payload)
        except Exception as exc:
            raise to_core_error(exc, verb, clean) from exc
        return _result(answer, verb, clean)


__all__ = [
    "DEFAULT_DATABRICKS_CONN_ID",
    "AsyncDatabricksHookApi",
    "DatabricksHookApi",
    "databricks_hook",
    "parse_run_id",
    "to_core_error",
]
