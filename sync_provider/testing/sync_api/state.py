"""Thread-safe state of the local Sync API server: tokens, projects, predictions and statistics."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PRODUCTS: dict[str, str] = {"aws-emr": "Spark + EMR", "aws-databricks": "Databricks on AWS"}
PREFERENCES: tuple[str, ...] = ("performance", "balanced", "economy")

PENDING, RUNNING, SUCCESS, FAILURE = "PENDING", "RUNNING", "SUCCESS", "FAILURE"

PROJECT_FIELDS: tuple[str, ...] = (
    "name",
    "product_code",
    "description",
    "app_id",
    "job_id",
    "cluster_path",
    "workspace_id",
    "cluster_log_url",
    "prediction_preference",
    "prediction_params",
)


def utc_now() -> datetime:
    """Return the current time in UTC, without microseconds."""
    return datetime.now(UTC).replace(microsecond=0)


def iso_z(value: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with a ``Z`` suffix.

    :param value: the datetime.
    """
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_uuid(value: str) -> str | None:
    """Return ``value`` as a canonical UUID string, or ``None`` if it is not a UUID.

    :param value: text from a request path or body.
    """
    if len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class ServerStats:
    """Counters of what the server saw; safe to read while the server runs.

    ``requests`` counts requests per ``(method, route template)``, e.g.
    ``("GET", "/v1/autotuner/predictions/{id}/status")``; unmatched paths count as ``"<unknown>"``.
    ``faults`` counts injected faults per kind: ``status``, ``latency``, ``drop_before``, ``drop_after``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.responses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.predictions_created = 0
        self.uploads_received = 0
        self.dropped_connections = 0
        self.injected_errors = 0
        self.tokens_issued = 0

    def count_request(self, method: str, template: str) -> None:
        """Count one request.

        :param method: the HTTP method.
        :param template: the matched route template.
        """
        with self._lock:
            self.requests[(method, template)] += 1

    def count_response(self, status: int) -> None:
        """Count one response by status.

        :param status: the HTTP status sent.
        """
        with self._lock:
            self.responses[status] += 1

    def count_fault(self, kind: str) -> None:
        """Count one injected fault.

        :param kind: ``status``, ``latency``, ``drop_before`` or ``drop_after``.
        """
        with self._lock:
            self.faults[kind] += 1
            if kind == "status":
                self.injected_errors += 1
            elif kind.startswith("drop"):
                self.dropped_connections += 1

    def incr(self, name: str, amount: int = 1) -> None:
        """Add to one of the integer counters.

        :param name: ``predictions_created``, ``uploads_received``, ``dropped_connections``,
            ``injected_errors`` or ``tokens_issued``.
        :param amount: how much to add.
        """
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def total_requests(self) -> int:
        """All requests counted so far."""
        with self._lock:
            return sum(self.requests.values())

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of every counter as plain data."""
        with self._lock:
            return {
                "requests": {f"{m} {t}": n for (m, t), n in self.requests.items()},
                "responses": dict(self.responses),
                "faults": dict(self.faults),
                "predictions_created": self.predictions_created,
                "uploads_received": self.uploads_received,
                "dropped_connections": self.dropped_connections,
                "injected_errors": self.injected_errors,
                "tokens_issued": self.tokens_issued,
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.requests.clear()
            self.responses.clear()
            self.faults.clear()
            self.predictions_created = self.uploads_received = self.dropped_connections = 0
            self.injected_errors = self.tokens_issued = 0


@dataclass
class PredictionRecord:
    """A prediction as the server keeps it."""

    prediction_id: str
    product_code: str
    configs: dict[str, Any]
    project_id: str | None
    created_at: datetime
    source: str  # "url", "upload" or "s3"
    eventlog_url: str | None = None
    event_log: str | None = None
    eventlog_path: Path | None = None
    status: str = PENDING
    status_message: str | None = None
    error: dict[str, str] | None = None
    application_name: str | None = None
    basis: dict[str, Any] | None = None
    solutions: dict[str, Any] = field(default_factory=dict)
    upload_expires_at: float | None = None

    def to_api(self, preference: str | None = None) -> dict[str, Any]:
        """Return the prediction object of the API.

        :param preference: when given, ``solutions`` has only that key.
        """
        solutions = self.solutions if self.status == SUCCESS else {}
        if preference is not None:
            solutions = {k: v for k, v in solutions.items() if k == preference}
        return {
            "prediction_id": self.prediction_id,
            "project_id": self.project_id,
            "application_name": self.application_name,
            "created_at": iso_z(self.created_at),
            "product_code": self.product_code,
            "product_name": PRODUCTS.get(self.product_code, self.product_code),
            "event_log": self.event_log,
            "status": self.status,
            "error": dict(self.error) if self.error else None,
            "basis": self.basis if self.status == SUCCESS else None,
            "solutions": dict(solutions),
        }


class Store:
    """Tokens, projects and predictions behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tokens: dict[str, float] = {}
        self._projects: dict[str, dict[str, Any]] = {}
        self._predictions: dict[str, PredictionRecord] = {}

    # tokens

    def issue_token(self, ttl_s: float) -> tuple[str, datetime]:
        """Create an access token valid for ``ttl_s`` seconds.

        :param ttl_s: lifetime in seconds.
        :returns: the token and its expiry.
        """
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = now + ttl_s
        with self.lock:
            # Forget tokens that expired more than an hour ago; keep recent ones to say "expired".
            stale = [t for t, exp in self._tokens.items() if exp < now - 3600]
            for t in stale:
                del self._tokens[t]
            self._tokens[token] = expires
        return token, datetime.fromtimestamp(expires, UTC).replace(microsecond=0)

    def token_problem(self, token: str) -> str | None:
        """Return ``None`` for a valid token, else ``"invalid"`` or ``"expired"``.

        :param token: the bearer token sent.
        """
        with self.lock:
            expires = self._tokens.get(token)
        if expires is None:
            return "invalid"
        if expires <= time.time():
            return "expired"
        return None

    def expire_tokens(self) -> None:
        """Make every issued token expired."""
        now = time.time()
        with self.lock:
            for token in self._tokens:
                self._tokens[token] = min(self._tokens[token], now)

    # projects

    def add_project(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a project from validated fields and return a copy.

        :param fields: the project fields given by the client.
        """
        now = iso_z(utc_now())
        project: dict[str, Any] = {"id": str(uuid.uuid4())}
        project.update(dict.fromkeys(PROJECT_FIELDS))
        project.update(fields)
        project.update({"project_model_id": "AUTOTUNER", "created_at": now, "updated_at": now})
        with self.lock:
            self._projects[project["id"]] = project
            return dict(project)

    def get_project(self, project_id: str) -> dict[str, Any] | None:
        """Return a copy of a project, or ``None``.

        :param project_id: canonical project id.
        """
        with self.lock:
            project = self._projects.get(project_id)
            return dict(project) if project is not None else None

    def has_project(self, project_id: str) -> bool:
        """Whether the project exists.

        :param project_id: canonical project id.
        """
        with self.lock:
            return project_id in self._projects

    def list_projects(self, app_id: str | None = None) -> list[dict[str, Any]]:
        """Return copies of the projects in creation order.

        :param app_id: only projects with this ``app_id``.
        """
        with self.lock:
            return [dict(p) for p in self._projects.values() if app_id is None or p.get("app_id") == app_id]

    def update_project(self, project_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply validated changes; return the updated project or ``None`` if it does not exist.

        :param project_id: canonical project id.
        :param changes: fields to change.
        """
        with self.lock:
            project = self._projects.get(project_id)
            if project is None:
                return None
            project.update(changes)
            project["updated_at"] = iso_z(utc_now())
            return dict(project)

    def delete_project(self, project_id: str) -> bool:
        """Delete a project; return whether it existed.

        :param project_id: canonical project id.
        """
        with self.lock:
            return self._projects.pop(project_id, None) is not None

    # predictions

    def add_prediction(self, record: PredictionRecord) -> None:
        """Store a new prediction.

        :param record: the prediction.
        """
        with self.lock:
            self._predictions[record.prediction_id] = record

    @staticmethod
    def _expire_upload(record: PredictionRecord) -> PredictionRecord:
        # A prediction whose upload never arrived fails once the upload URL has expired.
        if (
            record.status == PENDING
            and record.eventlog_path is None
            and record.upload_expires_at is not None
            and time.time() > record.upload_expires_at
        ):
            message = "No event log was uploaded before the upload URL expired."
            record.status, record.status_message = FAILURE, message
            record.error = {"code": "Prediction Failed", "message": message}
        return record

    def prediction_api(self, prediction_id: str, preference: str | None = None) -> dict[str, Any] | None:
        """Return the API object of a prediction, or ``None``.

        :param prediction_id: canonical prediction id.
        :param preference: keep only this solution.
        """
        with self.lock:
            record = self._predictions.get(prediction_id)
            return self._expire_upload(record).to_api(preference) if record is not None else None

    def prediction_status(self, prediction_id: str) -> dict[str, Any] | None:
        """Return ``{"status", "message"}`` of a prediction, or ``None``.

        :param prediction_id: canonical prediction id.
        """
        with self.lock:
            record = self._predictions.get(prediction_id)
            if record is None:
                return None
            self._expire_upload(record)
            return {"status": record.status, "message": record.status_message}

    def list_predictions(
        self, products: list[str] | None, project_id: str | None, preference: str | None
    ) -> list[dict[str, Any]]:
        """Return API objects of matching predictions, newest first.

        :param products: only these product codes (``None`` for all).
        :param project_id: only this project.
        :param preference: keep only this solution in each.
        """
        with self.lock:
            return [
                self._expire_upload(r).to_api(preference)
                for r in reversed(self._predictions.values())
                if (not products or r.product_code in products)
                and (project_id is None or r.project_id == project_id)
            ]

    def snapshot_predictions(self) -> list[dict[str, Any]]:
        """Return every prediction with its internal fields, in creation order."""
        with self.lock:
            out = []
            for r in self._predictions.values():
                item = r.to_api()
                item.update(
                    configs=r.configs,
                    source=r.source,
                    eventlog_url=r.eventlog_url,
                    eventlog_path=str(r.eventlog_path) if r.eventlog_path else None,
                    status_message=r.status_message,
                    all_solutions=dict(r.solutions),
                )
                out.append(item)
            return out

    def get_record(self, prediction_id: str) -> PredictionRecord | None:
        """Return the live record (callers hold :attr:`lock` while changing it).

        :param prediction_id: canonical prediction id.
        """
        with self.lock:
            return self._predictions.get(prediction_id)

    def update_prediction(self, prediction_id: str, **changes: Any) -> None:
        """Change fields of a prediction.

        :param prediction_id: canonical prediction id.
        :param changes: field names and new values.
        """
        with self.lock:
            record = self._predictions[prediction_id]
            for name, value in changes.items():
                setattr(record, name, value)

    def claim_log(self, prediction_id: str, path: Path, filename: str) -> bool:
        """Attach the event log to a prediction still waiting for one.

        :param prediction_id: canonical prediction id.
        :param path: where the log was written.
        :param filename: the log's file name.
        :returns: ``False`` if the prediction already has a log (a repeated upload).
        """
        with self.lock:
            record = self._predictions.get(prediction_id)
            if record is None or record.eventlog_path is not None or record.status != PENDING:
                return False
            record.eventlog_path = path
            record.event_log = filename
            return True
