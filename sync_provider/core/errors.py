"""Typed errors raised inside the core.

Every error carries the Sync-style triple ``code``, ``message`` and ``detail`` so it converts
losslessly into :class:`sync_provider.core.models.Error` at the public boundary (see
:meth:`SyncError.to_error`) and back (see :func:`error_from_model`).

Messages name what is wrong and how to fix it. They never contain secrets: callers pass secret
values through :func:`sync_provider.core.secrets.redact` before formatting them into a message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SyncError(Exception):
    """Base class of every error the core raises.

    :param message: what went wrong and how to fix it, in one or two sentences.
    :param detail: optional machine-readable detail (JSON types only).
    :param code: overrides the class's default code (used for errors coming from the Sync API).
    """

    code: ClassVar[str] = "Sync Error"

    def __init__(self, message: str, *, detail: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            # Instance attribute shadows the class default; used for server-sent codes.
            self.code = code  # type: ignore[misc]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_error(self) -> Any:
        """Return this error as a :class:`~sync_provider.core.models.Error` model."""
        from sync_provider.core.models import Error

        return Error(code=self.code, message=self.message, detail=self.detail, kind=type(self).__name__)


class ConfigurationError(SyncError):
    """A setting is missing or invalid (API key, URL, configuration file)."""

    code = "Configuration Error"


class InvalidInputError(SyncError, ValueError):
    """An argument given by the caller is invalid; nothing was sent or written."""

    code = "Invalid Input"


class SyncAPIError(SyncError):
    """The Sync API answered with an error envelope or an unusable response.

    :param status: the HTTP status code, when there was a response.
    """

    code = "Sync API Error"

    def __init__(
        self, message: str, *, detail: Any = None, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, detail=detail, code=code)
        self.status = status


class AuthenticationError(SyncAPIError):
    """The API key was refused, or no access token could be obtained."""

    code = "Authentication Error"


class NotFoundError(SyncAPIError):
    """The requested Sync object (prediction, project) does not exist."""

    code = "Not Found"


class TransportError(SyncAPIError):
    """The Sync API could not be reached, or the connection failed after the retries allowed."""

    code = "Transport Error"


class PredictionError(SyncError):
    """A prediction could not be created, failed on the Sync side, or has no such solution."""

    code = "Prediction Error"


class PredictionTimeoutError(PredictionError):
    """A prediction did not reach a terminal status within the allowed time."""

    code = "Prediction Timeout"


class ProjectError(SyncError):
    """A project operation failed."""

    code = "Project Error"


class EventLogError(SyncError):
    """An event log is missing, unreadable, incomplete or not a Spark event log."""

    code = "Event Log Error"


class StorageError(SyncError):
    """Reading from or writing to S3 (or an upload target) failed."""

    code = "Storage Error"


class EMRError(SyncError):
    """An EMR operation failed."""

    code = "EMR Error"


class DatabricksError(SyncError):
    """A Databricks operation failed."""

    code = "Databricks Error"


_ERROR_KINDS: dict[str, type[SyncError]] = {
    cls.__name__: cls
    for cls in (
        SyncError,
        ConfigurationError,
        InvalidInputError,
        SyncAPIError,
        AuthenticationError,
        NotFoundError,
        TransportError,
        PredictionError,
        PredictionTimeoutError,
        ProjectError,
        EventLogError,
        StorageError,
        EMRError,
        DatabricksError,
    )
}


def error_class(kind: str | None) -> type[SyncError]:
    """Return the exception class registered under ``kind`` (falls back to :class:`SyncError`)."""
    return _ERROR_KINDS.get(kind or "", SyncError)


def register_error_kind(cls: type[SyncError]) -> type[SyncError]:
    """Register an additional :class:`SyncError` subclass so responses can round-trip it."""
    _ERROR_KINDS[cls.__name__] = cls
    return cls
