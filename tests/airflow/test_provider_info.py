"""Provider metadata: schema, entry point, listed modules and classes, ProvidersManager discovery."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import json
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sync_provider.get_provider_info import get_provider_info

pytestmark = pytest.mark.airflow

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "sync_provider"
DISTRIBUTION = "airflow-provider-sync-computing"


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((importlib.resources.files("airflow") / name).read_text())
    return schema


def test_validates_against_airflow_schema() -> None:
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_ui_field_behaviour_validates() -> None:
    (connection,) = get_provider_info()["connection-types"]
    behaviour = {k.replace("-", "_"): v for k, v in connection["ui-field-behaviour"].items()}
    jsonschema.validate(behaviour, _schema("customized_form_field_behaviours.schema.json"))
    assert behaviour["relabeling"] == {
        "host": "API URL",
        "schema": "Scheme (http or https)",
        "login": "API key ID",
        "password": "API key secret",
    }
    assert behaviour["placeholders"]["host"] == "https://api.synccomputing.com"


def test_entry_point_resolves_to_our_function_and_names_the_distribution() -> None:
    (ep,) = [
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.value.startswith("sync_provider.")
    ]
    assert ep.load() is get_provider_info
    assert ep.dist is not None and ep.dist.name == DISTRIBUTION
    assert get_provider_info()["package-name"] == DISTRIBUTION


@pytest.mark.parametrize("kind", ["hooks", "operators", "sensors", "triggers"])
def test_listed_modules_match_files_on_disk(kind: str) -> None:
    listed = {m for entry in get_provider_info()[kind] for m in entry["python-modules"]}
    on_disk = {  # private modules (``_launch.py``) hold shared helpers, not classes to list
        f"sync_provider.{kind}.{p.stem}"
        for p in (PACKAGE_DIR / kind).glob("*.py")
        if not p.stem.startswith("_")
    }
    assert listed == on_disk
    for module in listed:
        importlib.import_module(module)


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def test_listed_classes_import_and_agree() -> None:
    info = get_provider_info()
    (connection,) = info["connection-types"]
    hook = _import_class(connection["hook-class-name"])
    assert hook.conn_type == connection["connection-type"] == "sync"  # type: ignore[attr-defined]
    assert hook.hook_name == connection["hook-name"]  # type: ignore[attr-defined]
    assert hook.default_conn_name == "sync_default"  # type: ignore[attr-defined]
    from airflow.sdk import BaseOperatorLink

    names = set()
    for link in info["extra-links"]:
        instance = _import_class(link)()
        assert isinstance(instance, BaseOperatorLink)
        names.add(instance.name)
    assert names == {"Sync Prediction", "EMR Cluster (Sync)", "Databricks Run"}


def test_hook_python_field_behaviour_matches_the_declared_one() -> None:
    from sync_provider.hooks.sync import SyncHook

    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert SyncHook.get_ui_field_behaviour() == {k.replace("-", "_"): v for k, v in declared.items()}


def test_providers_manager_discovers_hook_and_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()  # type: ignore[no-untyped-call]
    assert DISTRIBUTION in manager.providers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # core's .hooks defers to the task runtime
        hook_info = manager.hooks["sync"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "sync_provider.hooks.sync.SyncHook"
    assert hook_info.connection_id_attribute_name == "sync_conn_id"
    assert manager.field_behaviours["sync"]["relabeling"]["login"] == "API key ID"
    assert "extra__sync__app_url" in manager.connection_form_widgets


def test_task_runtime_providers_manager_resolves_the_hook() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["sync"]  # type: ignore[no-untyped-call]
    assert hook_info is not None and hook_info.hook_class_name == "sync_provider.hooks.sync.SyncHook"
