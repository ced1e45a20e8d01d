"""Running ``airflow`` in a subprocess for the demos: a clean environment and a logged command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Longest a single ``airflow`` command of a demo may take.
AIRFLOW_TIMEOUT_S = 300
#: Caller settings that must not leak into a demo's Airflow (it talks to local stand-ins only).
_DROPPED_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AWS_", "SYNC_API_")


def sync_connection_json(sync_url: str, key_id: str, key_secret: str) -> str:
    """``AIRFLOW_CONN_SYNC_DEFAULT`` for a local Sync API stand-in at ``http://HOST:PORT``."""
    host, _, port = sync_url.removeprefix("http://").partition(":")
    return json.dumps(
        {
            "conn_type": "sync",
            "host": host,
            "schema": "http",
            "port": int(port),
            "login": key_id,
            "password": key_secret,
        }
    )


def airflow_env(airflow_home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without inherited Airflow/AWS/Sync settings, plus ``extra``.

    The DAGs folder is the installed ``sync_provider/example_dags``; examples are not loaded.
    """
    from sync_provider import example_dags

    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k != "AIRFLOW_HOME"}
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(example_dags.__file__).parent),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **extra,
        }
    )
    return env


def run_airflow(args: Sequence[str], env: Mapping[str, str], log: Path) -> int:
    """Run ``airflow <args>`` with its output appended to ``log``; return the exit code."""
    with log.open("ab") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run(  # noqa: S603 - this interpreter running airflow with fixed arguments
            [sys.executable, "-m", "airflow", *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=AIRFLOW_TIMEOUT_S,
            check=False,
        )
    return done.returncode
