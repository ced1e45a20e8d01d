"""The core never imports Airflow and stays cheap to import (Airflow parses DAG files constantly)."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "sync_provider.core",
    "sync_provider.core.client",
    "sync_provider.core.config",
    "sync_provider.core.contract",
    "sync_provider.core.predictions",
    "sync_provider.core.projects",
    "sync_provider.core.storage",
    "sync_provider.core.models",
    "sync_provider.core.pricing",
    "sync_provider.core.eventlog",
    "sync_provider.core.estimator",
    "sync_provider.core.databricks",
    "sync_provider.core.emr",
    "sync_provider.core.crossplatform",
    "sync_provider.core.fingerprint",
]


def test_core_never_loads_airflow() -> None:
    code = (
        "import sys, importlib\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_core_reads_no_files_and_loads_no_boto3() -> None:
    code = (
        "import sys, builtins\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1]\n"
        "import sync_provider.core.predictions, sync_provider.core.config\n"
        "assert not [f for f in opened if '.sync' in f], opened\n"
        "assert 'boto3' not in sys.modules, 'boto3 is imported lazily'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
