"""Configuration precedence, file modes and error messages."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sync_provider.core.config import DEFAULT_API_URL, configure, load_settings
from sync_provider.core.errors import ConfigurationError, InvalidInputError
from sync_provider.core.models import Preference


def write_files(folder: Path, credentials: dict[str, str], config: dict[str, str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "credentials").write_text(json.dumps(credentials))
    if config is not None:
        (folder / "config").write_text(json.dumps(config))


def test_arguments_beat_environment_beat_files(tmp_path: Path) -> None:
    write_files(
        tmp_path, {"api_key_id": "file-id", "api_key_secret": "file-secret"}, {"api_url": "https://file.test"}
    )
    env = {"SYNC_API_KEY_ID": "env-id", "SYNC_API_URL": "https://env.test/"}

    from_files_and_env = load_settings(env=env, directory=tmp_path)
    assert from_files_and_env.api_key_id == "env-id"
    assert from_files_and_env.api_key_secret.get_secret_value() == "file-secret"
    assert from_files_and_env.api_url == "https://env.test"  # trailing slash stripped

    explicit = load_settings("arg-id", "arg-secret", "https://arg.test", env=env, directory=tmp_path)
    assert (explicit.api_key_id, explicit.api_key_secret.get_secret_value(), explicit.api_url) == (
        "arg-id",
        "arg-secret",
        "https://arg.test",
    )


def test_defaults_when_only_credentials_exist(tmp_path: Path) -> None:
    write_files(tmp_path, {"api_key_id": "id", "api_key_secret": "secret"})
    settings = load_settings(env={}, directory=tmp_path)
    assert settings.api_url == DEFAULT_API_URL
    assert settings.default_preference is Preference.ECONOMY


def test_missing_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(env={}, directory=tmp_path)
    message = str(info.value)
    assert "API key ID" in message and "SYNC_API_KEY_ID" in message
    assert "API key secret" in message and "SYNC_API_KEY_SECRET" in message
    assert "sync-cli configure" in message

    with pytest.raises(ConfigurationError) as only_secret:
        load_settings(api_key_id="id", env={}, directory=tmp_path)
    assert "API key ID" not in str(only_secret.value)


def test_config_dir_comes_from_environment(tmp_path: Path) -> None:
    write_files(tmp_path / "custom", {"api_key_id": "id", "api_key_secret": "secret"})
    settings = load_settings(env={"SYNC_CONFIG_DIR": str(tmp_path / "custom")})
    assert settings.api_key_id == "id"


def test_invalid_url_and_broken_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="api_url"):
        load_settings("id", "secret", "ftp://nowhere", env={}, directory=tmp_path)
    tmp_path.joinpath("credentials").write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_settings(env={}, directory=tmp_path)


def test_configure_writes_private_files_and_keeps_other_config(tmp_path: Path) -> None:
    folder = tmp_path / "sync"
    write_files(folder, {"api_key_id": "old", "api_key_secret": "old"}, {"keep": "me"})
    written = configure(
        "new-id", "new-secret", "https://x.test/", default_preference="balanced", directory=folder
    )
    assert written == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("credentials", "config"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert json.loads((folder / "credentials").read_text()) == {
        "api_key_id": "new-id",
        "api_key_secret": "new-secret",
    }
    config = json.loads((folder / "config").read_text())
    assert config == {"keep": "me", "api_url": "https://x.test", "default_prediction_preference": "balanced"}
    settings = load_settings(env={}, directory=folder)
    assert settings.default_preference is Preference.BALANCED
    assert not list(folder.glob(".*")), "no temporary files are left behind"


def test_configure_rejects_bad_values_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="preference"):
        configure("id", "secret", default_preference="cheapest", directory=tmp_path / "a")
    with pytest.raises(InvalidInputError):
        configure("", "secret", directory=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_secret_never_in_repr(tmp_path: Path) -> None:
    settings = load_settings("id", "top-secret-value", env={}, directory=tmp_path)
    assert "top-secret-value" not in repr(settings)
    assert "top-secret-value" not in str(settings)
