"""DAG files using the Databricks classes stay cheap to parse and independent of the EMR modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.airflow

HEAVY = [
    "requests",
    "aiohttp",
    "boto3",
    "sync_provider.core.client",
    "sync_provider.core.databricks",
    "sync_provider.triggers.databricks",
    "airflow.providers.databricks.hooks.databricks",
]


def _loaded(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_importing_the_databricks_classes_stays_light() -> None:
    code = (
        "import sys, json\n"
        "import sync_provider.operators.databricks, sync_provider.sensors.databricks\n"
        "import sync_provider.hooks.databricks, sync_provider.links.databricks\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert _loaded(code) == []


def test_the_example_dag_imports_without_any_emr_module() -> None:
    code = (
        "import sys, json\n"
        "import sync_provider.example_dags.example_sync_databricks as example\n"
        "assert example.dag.dag_id == 'example_sync_databricks'\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('sync_provider') and 'emr' in m)))\n"
    )
    assert _loaded(code) == []
