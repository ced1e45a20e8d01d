"""DAG files importing our operators must not pay for the HTTP clients, boto3 or the triggers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.airflow

HEAVY = ["requests", "aiohttp", "boto3", "sync_provider.core.client", "sync_provider.triggers.sync"]


def test_importing_operators_sensors_and_hooks_stays_light() -> None:
    code = (
        "import sys, json\n"
        "import sync_provider.operators.sync, sync_provider.sensors.sync, sync_provider.hooks.sync\n"
        "import sync_provider.links.sync\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


EMR_HEAVY = [
    "requests",
    "aiohttp",
    "boto3",
    "botocore",
    "aiobotocore",
    "airflow.providers.amazon.aws.hooks.emr",
    "sync_provider.core.client",
    "sync_provider.core.emr",
    "sync_provider.triggers.emr",
]


def test_importing_the_emr_operators_sensor_and_link_stays_light() -> None:
    code = (
        "import sys, json\n"
        "import sync_provider.operators.emr, sync_provider.sensors.emr, sync_provider.links.emr\n"
        f"print(json.dumps([m for m in {EMR_HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
