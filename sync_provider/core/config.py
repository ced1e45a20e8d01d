"""Where the Sync API key and URL come from.

Precedence, highest first: explicit arguments, then the environment (``SYNC_API_KEY_ID``,
``SYNC_API_KEY_SECRET``, ``SYNC_API_URL``), then the JSON files ``~/.sync/credentials`` and
``~/.sync/config`` (the folder can be moved with ``SYNC_CONFIG_DIR``). Nothing is read at import time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from sync_provider.core.errors import ConfigurationError, InvalidInputError
from sync_provider.core.models import Preference

DEFAULT_API_URL = "https://api.synccomputing.com"
ENV_API_KEY_ID = "SYNC_API_KEY_ID"
ENV_API_KEY_SECRET = "SYNC_API_KEY_SECRET"  # noqa: S105 - the variable's name, not a secret
ENV_API_URL = "SYNC_API_URL"
ENV_CONFIG_DIR = "SYNC_CONFIG_DIR"
CREDENTIALS_FILE = "credentials"
CONFIG_FILE = "config"


def normalize_api_url(url: str) -> str:
    """Return ``url`` without a trailing slash, checking it is an absolute http(s) URL.

    :raises InvalidInputError: when the URL has another scheme or no host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(
            f"Sync API URL {url!r} is not an absolute http(s) URL; use e.g. {DEFAULT_API_URL!r}."
        )
    return url.strip().rstrip("/")


class SyncSettings(BaseModel):
    """Resolved settings for talking to the Sync API. The secret is a :class:`~pydantic.SecretStr`."""

    model_config = ConfigDict(frozen=True)

    api_key_id: str
    api_key_secret: SecretStr
    api_url: str = DEFAULT_API_URL
    default_preference: Preference = Preference.ECONOMY

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return normalize_api_url(value)


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the folder holding ``credentials`` and ``config`` (``$SYNC_CONFIG_DIR`` or ``~/.sync``)."""
    environ = os.environ if env is None else env
    override = environ.get(ENV_CONFIG_DIR)
    return Path(override).expanduser() if override else Path.home() / ".sync"


def _read_json_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"{path} is not valid JSON ({type(exc).__name__}); fix it or rewrite it with "
            "`sync-cli configure`."
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a JSON object; rewrite it with `sync-cli configure`.")
    return data


def load_settings(
    api_key_id: str | None = None,
    api_key_secret: str | None = None,
    api_url: str | None = None,
    *,
    default_preference: Preference | str | None = None,
    env: Mapping[str, str] | None = None,
    directory: Path | None = None,
) -> SyncSettings:
    """Resolve the settings from arguments, environment and files, in that order.

    :param api_key_id: Sync API key ID; overrides everything else.
    :param api_key_secret: Sync API key secret; overrides everything else.
    :param api_url: Sync API base URL; defaults to Sync's public API.
    :param default_preference: preference used when a caller does not name one.
    :param env: environment to read (defaults to ``os.environ``).
    :param directory: configuration folder (defaults to :func:`config_dir`).
    :raises ConfigurationError: naming each missing setting and how to provide it.
    """
    environ = os.environ if env is None else env
    folder = directory if directory is not None else config_dir(environ)
    credentials = _read_json_file(folder / CREDENTIALS_FILE)
    config = _read_json_file(folder / CONFIG_FILE)

    key_id = api_key_id or environ.get(ENV_API_KEY_ID) or credentials.get("api_key_id")
    secret = api_key_secret or environ.get(ENV_API_KEY_SECRET) or credentials.get("api_key_secret")
    url = api_url or environ.get(ENV_API_URL) or config.get("api_url") or DEFAULT_API_URL
    preference = default_preference or config.get("default_prediction_preference") or Preference.ECONOMY

    missing = [
        f"{name} (argument {arg!r}, environment variable {var}, or {folder / CREDENTIALS_FILE})"
        for name, arg, var, value in (
            ("API key ID", "api_key_id", ENV_API_KEY_ID, key_id),
            ("API key secret", "api_key_secret", ENV_API_KEY_SECRET, secret),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            "Missing Sync setting: " + "; ".join(missing) + ". Run `sync-cli configure` to write them."
        )
    try:
        return SyncSettings(
            api_key_id=str(key_id),
            api_key_secret=SecretStr(str(secret)),
            api_url=str(url),
            default_preference=Preference(str(preference)),
        )
    except ValueError as exc:
        # Only the offending field's name and message; pydantic's text never holds the secret
        # because the secret is a SecretStr and cannot fail validation.
        raise ConfigurationError(f"Invalid Sync setting: {_first_error(exc)}") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        return f"{where}: {first.get('msg')}"
    return str(exc)


def _write_private(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` with mode 0600, atomically (never world-readable, even briefly)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(data), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def configure(
    api_key_id: str,
    api_key_secret: str,
    api_url: str | None = None,
    *,
    default_preference: Preference | str | None = None,
    directory: Path | None = None,
) -> Path:
    """Write ``credentials`` and ``config`` (mode 0600, folder 0700) and return the folder.

    Existing keys in ``config`` that this call does not set are kept.

    :raises InvalidInputError: when a value is empty or the URL/preference is invalid.
    """
    if not api_key_id or not api_key_secret:
        raise InvalidInputError("Both an API key ID and an API key secret are required.")
    url = normalize_api_url(api_url) if api_url else None
    preference = None
    if default_preference is not None:
        try:
            preference = Preference(str(default_preference))
        except ValueError:
            choices = ", ".join(p.value for p in Preference)
            raise InvalidInputError(
                f"Unknown preference {default_preference!r}; choose one of: {choices}."
            ) from None
    folder = directory if directory is not None else config_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    _write_private(folder / CREDENTIALS_FILE, {"api_key_id": api_key_id, "api_key_secret": api_key_secret})
    config = _read_json_file(folder / CONFIG_FILE)
    if url:
        config["api_url"] = url
    if preference:
        config["default_prediction_preference"] = preference.value
    _write_private(folder / CONFIG_FILE, config)
    return folder
