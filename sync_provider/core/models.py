"""Data models shared by the core, the Airflow layer and the CLI.

Sync API objects allow unknown fields (``extra="allow"``) so that a field added on the server does
not break older clients; everything we rely on is declared and typed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_provider.core.errors import SyncError, error_class

T = TypeVar("T")
U = TypeVar("U")


class Platform(StrEnum):
    """The Sync product a prediction is made for."""

    AWS_EMR = "aws-emr"
    AWS_DATABRICKS = "aws-databricks"


class Preference(StrEnum):
    """Which predicted solution to choose."""

    PERFORMANCE = "performance"
    BALANCED = "balanced"
    ECONOMY = "economy"


class PredictionStatus(StrEnum):
    """Prediction status values. ``SUCCESS`` and ``FAILURE`` are terminal; anything else is in progress."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def is_terminal(self) -> bool:
        """Whether the prediction will not change any more."""
        return self in (PredictionStatus.SUCCESS, PredictionStatus.FAILURE)

    @classmethod
    def parse(cls, value: str) -> PredictionStatus:
        """Parse a status sent by the API; unknown values count as in progress (``RUNNING``)."""
        try:
            return cls(value.upper())
        except ValueError:
            return cls.RUNNING


class Error(BaseModel):
    """An error in the Sync envelope shape: ``code``, ``message`` and optional ``detail``.

    ``kind`` names the :class:`~sync_provider.core.errors.SyncError` subclass it came from, so that
    :meth:`Response.unwrap` re-raises the same type.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    detail: Any = None
    kind: str | None = Field(default=None, exclude=True)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_exception(self) -> SyncError:
        """Build the typed exception this error describes."""
        return error_class(self.kind)(self.message, detail=self.detail, code=self.code)


class Response(BaseModel, Generic[T]):
    """The result of a public core call: exactly one of ``result`` or ``error``.

    A falsy result (``[]``, ``""``, ``0``) is a valid result; only ``None`` counts as absent.
    """

    result: T | None = None
    error: Error | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.result is None) == (self.error is None):
            raise ValueError("a Response holds exactly one of 'result' or 'error'")
        return self

    @property
    def ok(self) -> bool:
        """Whether this response holds a result."""
        return self.error is None

    def unwrap(self) -> T:
        """Return the result, or raise the typed :class:`~sync_provider.core.errors.SyncError`."""
        if self.error is not None:
            raise self.error.to_exception()
        assert self.result is not None
        return self.result

    @classmethod
    def of(cls, result: T) -> Response[T]:
        """Wrap a result."""
        return cls(result=result)

    @classmethod
    def fail(cls, error: SyncError | Error) -> Response[T]:
        """Wrap an error (a typed exception or an :class:`Error`)."""
        return cls(error=error.to_error() if isinstance(error, SyncError) else error)


class Metrics(BaseModel):
    """Runtime in minutes and cost in US dollars of one configuration."""

    model_config = ConfigDict(extra="allow")

    runtime: float = Field(description="Runtime in minutes.")
    cost: float = Field(description="Cost in US dollars.")


class Solution(BaseModel):
    """One cluster configuration with its (predicted or recorded) metrics.

    For EMR ``configuration`` is a RunJobFlow request; for Databricks a (partial) cluster spec.
    """

    model_config = ConfigDict(extra="allow")

    configuration: dict[str, Any]
    metrics: Metrics
    assumptions: list[str] = Field(default_factory=list)


class Prediction(BaseModel):
    """A Sync prediction: the basis run and the solutions keyed by preference."""

    model_config = ConfigDict(extra="allow")

    prediction_id: str
    project_id: str | None = None
    application_name: str | None = None
    created_at: datetime | None = None
    product_code: str | None = None
    product_name: str | None = None
    event_log: str | None = None
    status: str | None = None
    basis: Solution | None = None
    solutions: dict[str, Solution] = Field(default_factory=dict)

    def solution(self, preference: Preference | str) -> Solution:
        """Return the solution for ``preference``.

        :raises PredictionError: when the prediction has no solution for it; the message lists
            the preferences it has.
        """
        from sync_provider.core.errors import PredictionError

        key = str(Preference(preference)) if isinstance(preference, Preference) else str(preference)
        if key not in self.solutions:
            have = ", ".join(sorted(self.solutions)) or "none"
            raise PredictionError(
                f"Prediction {self.prediction_id} has no '{key}' solution (it has: {have}). "
                "Choose one of those preferences."
            )
        return self.solutions[key]


class UploadDetails(BaseModel):
    """A presigned S3 POST: form ``fields`` to send with the file to ``url``."""

    url: str
    fields: dict[str, str]


class CreatedPrediction(BaseModel):
    """What creating a prediction returns: its id and, for uploads, where to send the log."""

    model_config = ConfigDict(extra="allow")

    prediction_id: str
    upload_details: UploadDetails | None = None


class Project(BaseModel):
    """A Sync project: a named Spark application whose runs are predicted over time."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    description: str | None = None
    product_code: str | None = None
    app_id: str | None = None
    job_id: str | None = None
    cluster_path: str | None = None
    workspace_id: str | None = None
    cluster_log_url: str | None = None
    prediction_preference: str | None = None
    prediction_params: dict[str, Any] | None = None
    project_model_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AccessToken(BaseModel):
    """A bearer token and its expiry. The token's value never appears in ``repr``."""

    model_config = ConfigDict(frozen=True)

    access_token: str = Field(repr=False)
    expires_at_utc: datetime
