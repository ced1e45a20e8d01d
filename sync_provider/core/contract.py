"""The Sync REST API contract: endpoints, request bodies and the response envelope.

This is the only module that knows paths, payload keys and the envelope shape of the
"Autotuner" (predictions) generation of the API, so that a change of API generation touches one
place. Both the blocking client (:mod:`sync_provider.core.client`) and the asynchronous transport
used by Airflow triggers build requests and parse responses with these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync_provider.core.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    SyncAPIError,
)
from sync_provider.core.models import Platform, PredictionStatus, Preference

#: Largest part of an unexpected response body quoted in an error message.
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class Endpoint:
    """One API operation.

    :param method: HTTP method.
    :param path: path template with ``{name}`` placeholders.
    :param idempotent: whether repeating the request cannot create a second object; only such
        requests are retried after they may have reached the server.
    :param authenticated: whether the request carries the bearer token.
    """

    method: str
    path: str
    idempotent: bool
    authenticated: bool = True

    def format(self, **params: str) -> str:
        """Return the path with each placeholder replaced by a validated identifier."""
        return self.path.format(**{name: validate_id(value, name) for name, value in params.items()})


AUTH_TOKEN = Endpoint("POST", "/v1/auth/token", idempotent=True, authenticated=False)
PRODUCTS = Endpoint("GET", "/v1/autotuner/products", idempotent=True)
CREATE_PREDICTION = Endpoint("POST", "/v1/autotuner/predictions", idempotent=False)
LIST_PREDICTIONS = Endpoint("GET", "/v1/autotuner/predictions", idempotent=True)
GET_PREDICTION = Endpoint("GET", "/v1/autotuner/predictions/{prediction_id}", idempotent=True)
PREDICTION_STATUS = Endpoint("GET", "/v1/autotuner/predictions/{prediction_id}/status", idempotent=True)
CREATE_PROJECT = Endpoint("POST", "/v1/projects", idempotent=False)
LIST_PROJECTS = Endpoint("GET", "/v1/projects", idempotent=True)
GET_PROJECT = Endpoint("GET", "/v1/projects/{project_id}", idempotent=True)
UPDATE_PROJECT = Endpoint("PUT", "/v1/projects/{project_id}", idempotent=True)
DELETE_PROJECT = Endpoint("DELETE", "/v1/projects/{project_id}", idempotent=True)

#: HTTP status of a successful presigned-POST upload (S3's default).
UPLOAD_SUCCESS_STATUS = 204
#: Placeholder in ``upload_details.fields.key`` replaced by the uploaded file's name.
FILENAME_PLACEHOLDER = "${filename}"
#: Sync's web application, for links to predictions.
DEFAULT_APP_URL = "https://app.synccomputing.com"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def validate_id(value: object, name: str = "id") -> str:
    """Return ``value`` if it is a safe identifier for a URL path segment.

    :raises InvalidInputError: for empty values, path characters (``/``, ``..``, ``?``, ``%``,
        spaces) or more than 128 characters.
    """
    text = str(value) if value is not None else ""
    if not _ID_PATTERN.fullmatch(text) or ".." in text:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InvalidInputError(
            f"{name} {shown!r} is not a valid identifier: use letters, digits, '-', '_', '.' or ':' "
            "(at most 128 characters, no '/' or '..')."
        )
    return text


def parse_preference(value: Preference | str | None) -> Preference | None:
    """Return ``value`` as a :class:`Preference` (``None`` stays ``None``).

    :raises InvalidInputError: naming the valid choices.
    """
    if value is None or value == "":
        return None
    try:
        return Preference(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Preference)
        raise InvalidInputError(f"Unknown preference {value!r}; choose one of: {choices}.") from None


def parse_platform(value: Platform | str) -> Platform:
    """Return ``value`` as a :class:`Platform`.

    :raises InvalidInputError: naming the valid product codes.
    """
    try:
        return Platform(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Platform)
        raise InvalidInputError(f"Unknown platform {value!r}; choose one of: {choices}.") from None


def auth_body(api_key_id: str, api_key_secret: str) -> dict[str, str]:
    """Body of :data:`AUTH_TOKEN`."""
    return {"api_key_id": api_key_id, "api_key_secret": api_key_secret}


def create_prediction_body(
    platform: Platform,
    cluster_report: Mapping[str, Any],
    *,
    project_id: str | None = None,
    eventlog_url: str | None = None,
) -> dict[str, Any]:
    """Body of :data:`CREATE_PREDICTION`; without ``eventlog_url`` the API answers with upload details."""
    body: dict[str, Any] = {
        "product_code": platform.value,
        "configs": dict(cluster_report),
        "project_id": validate_id(project_id, "project_id") if project_id else None,
    }
    if eventlog_url is not None:
        body["eventlog_url"] = eventlog_url
    return body


def list_predictions_params(
    platforms: Sequence[Platform] | None = None,
    project_id: str | None = None,
    preference: Preference | None = None,
) -> list[tuple[str, str]]:
    """Query parameters of :data:`LIST_PREDICTIONS` (``products`` repeats)."""
    params = [("products", p.value) for p in platforms or ()]
    if project_id:
        params.append(("project_id", validate_id(project_id, "project_id")))
    if preference:
        params.append(("preference", preference.value))
    return params


PROJECT_FIELDS = (
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


def project_body(fields: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Body of :data:`CREATE_PROJECT` (``partial=False``) or :data:`UPDATE_PROJECT`.

    :raises InvalidInputError: for unknown fields, or a missing name/product code on create.
    """
    unknown = sorted(set(fields) - set(PROJECT_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"Unknown project field(s) {', '.join(unknown)}; valid fields: {', '.join(PROJECT_FIELDS)}."
        )
    body = {key: value for key, value in fields.items() if value is not None}
    if not partial:
        for required in ("name", "product_code"):
            if not body.get(required):
                raise InvalidInputError(f"A project needs a {required!r}.")
    if "product_code" in body:
        body["product_code"] = parse_platform(body["product_code"]).value
    if "prediction_preference" in body:
        preference = parse_preference(body["prediction_preference"])
        body["prediction_preference"] = preference.value if preference else None
    return body


def parse_status(result: Any) -> tuple[PredictionStatus, str | None]:
    """Read the result of :data:`PREDICTION_STATUS`: ``(status, Sync's message or None)``."""
    if isinstance(result, dict):
        message = result.get("message")
        return PredictionStatus.parse(str(result.get("status"))), str(message) if message else None
    return PredictionStatus.parse(str(result)), None


def prediction_app_url(prediction_id: str, app_url: str = DEFAULT_APP_URL) -> str:
    """Link to a prediction in Sync's web application."""
    return f"{app_url.rstrip('/')}/predictions/{validate_id(prediction_id, 'prediction_id')}"


def parse_envelope(status: int, body: bytes, *, what: str) -> Any:
    """Return the ``result`` of a response, or raise the typed error it carries.

    :param status: HTTP status code.
    :param body: raw response body.
    :param what: the operation, for messages (e.g. ``"GET /v1/autotuner/products"``).
    :raises AuthenticationError: on 401/403.
    :raises NotFoundError: on 404.
    :raises SyncAPIError: on any other error envelope or an unusable body.
    """
    if status == 204 or (200 <= status < 300 and not body.strip()):
        return "OK"
    try:
        payload = json.loads(body)
    except ValueError:
        excerpt = body[:_BODY_EXCERPT].decode("utf-8", "replace")
        raise SyncAPIError(
            f"{what} returned HTTP {status} with a body that is not JSON: {excerpt!r}", status=status
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        code = str(error.get("code") or "Sync API Error")
        message = str(error.get("message") or "no message")
        detail = error.get("detail")
        cls: type[SyncAPIError] = SyncAPIError
        if status in (401, 403):
            cls = AuthenticationError
        elif status == 404:
            cls = NotFoundError
        raise cls(f"{what} failed (HTTP {status}): {message}", code=code, detail=detail, status=status)
    if not 200 <= status < 300:
        raise SyncAPIError(f"{what} returned HTTP {status} without an error envelope.", status=status)
    if not isinstance(payload, dict) or "result" not in payload:
        raise SyncAPIError(f"{what} returned a body without 'result' (HTTP {status}).", status=status)
    return payload["result"]
