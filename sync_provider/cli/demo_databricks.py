"""The Databricks example DAG end to end on this machine, with no account anywhere.

It starts a local Databricks workspace (runs take a few seconds, logs are delivered to DBFS late,
as Databricks does) and the local Sync API in this process, creates a Sync project, and runs
``airflow dags test example_sync_databricks`` in a subprocess with a fresh ``AIRFLOW_HOME`` in the
work folder (after ``airflow db migrate``), the installed ``sync_provider/example_dags`` as the dags
folder and the connections as environment variables. Deferred tasks run their triggers inline, so no
scheduler or triggerer is needed. Then it prints the two runs' clusters and, for the second run, the
predicted against the recorded runtime and cost. Nothing is left running: the servers stop in any
case, and the demo fails if a run or a cluster is still active at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sync_provider.cli._airflow_subprocess import airflow_env, run_airflow, sync_connection_json

DAG_ID = "example_sync_databricks"
PREFERENCE = "economy"
PROJECT_LOCATION = "dbfs:/sync/projects"
_KEY_ID, _KEY_SECRET = "demo-key-id", "demo-key-secret"


def _table(rows: Sequence[Sequence[Any]]) -> str:
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _size(cluster: Mapping[str, Any]) -> str:
    autoscale = cluster.get("autoscale")
    if isinstance(autoscale, Mapping):
        return f"{autoscale.get('min_workers')}-{autoscale.get('max_workers')} (autoscale)"
    return str(cluster.get("num_workers"))


def result_tables(runs: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]) -> str:
    """The two runs' clusters, and the second run predicted against recorded.

    :param runs: ``clusters/get`` of the first and the second run's cluster.
    :param predictions: the local Sync API's records of the first and the second run's prediction.
    """
    first, second = runs
    clusters = _table(
        [
            ["", "first run (your spec)", f"second run ({PREFERENCE} prediction)"],
            ["node type", first.get("node_type_id"), second.get("node_type_id")],
            ["driver node type", first.get("driver_node_type_id"), second.get("driver_node_type_id")],
            ["workers", _size(first), _size(second)],
            ["Spark runtime", first.get("spark_version"), second.get("spark_version")],
            ["cluster id", first.get("cluster_id"), second.get("cluster_id")],
        ]
    )
    predicted = predictions[0]["all_solutions"][PREFERENCE]["metrics"]
    recorded_first = predictions[0]["basis"]["metrics"]
    recorded = predictions[1]["basis"]["metrics"]
    comparison = _table(
        [
            ["second run", "predicted", "recorded", "recorded / predicted", "first run (recorded)"],
            [
                "runtime (min)",
                f"{predicted['runtime']:.1f}",
                f"{recorded['runtime']:.1f}",
                f"{recorded['runtime'] / predicted['runtime']:.2f}",
                f"{recorded_first['runtime']:.1f}",
            ],
            [
                "cost ($)",
                f"{predicted['cost']:.2f}",
                f"{recorded['cost']:.2f}",
                f"{recorded['cost'] / predicted['cost']:.2f}",
                f"{recorded_first['cost']:.2f}",
            ],
        ]
    )
    return f"{clusters}\n\n{comparison}"


def run(workdir: Path, *, quiet: bool = False) -> int:
    """Run the demo in ``workdir`` (it holds ``AIRFLOW_HOME`` and ``airflow.log``); return the exit code."""
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings
    from sync_provider.core.projects import create_project
    from sync_provider.testing.databricks import LocalDatabricks
    from sync_provider.testing.sync_api_server import LocalSyncServer

    say: Callable[[str], None] = (lambda _: None) if quiet else (lambda text: print(text, flush=True))
    started = time.monotonic()
    log = workdir / "airflow.log"
    workspace = LocalDatabricks(phase_s=1.0, log_delivery_delay_s=1.0, seed=7)
    sync = LocalSyncServer(
        api_keys={_KEY_ID: _KEY_SECRET}, processing_delay_s=0.5, data_dir=workdir / "sync-api"
    )
    try:
        workspace.start()
        sync.start()
        say(f"Local Databricks workspace on {workspace.url}; local Sync API on {sync.url}")
        with SyncClient(load_settings(_KEY_ID, _KEY_SECRET, sync.url, env={})) as client:
            project = create_project(
                "nightly-etl", "aws-databricks", cluster_log_url=PROJECT_LOCATION, client=client
            ).unwrap()
        env = airflow_env(
            workdir / "airflow",
            {
                "AIRFLOW_CONN_DATABRICKS_DEFAULT": workspace.connection_json(),
                "AIRFLOW_CONN_SYNC_DEFAULT": sync_connection_json(sync.url, _KEY_ID, _KEY_SECRET),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "SYNC_EXAMPLE_POLL_SECONDS": "0.5",
            },
        )
        say(f"Preparing a fresh Airflow metadata database in {workdir / 'airflow'}")
        if run_airflow(["db", "migrate"], env, log) != 0:
            print(f"error: airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        conf = {"project_id": project.id, "project_location": PROJECT_LOCATION, "preference": PREFERENCE}
        say(f"Running `airflow dags test {DAG_ID}` (two Databricks runs, two predictions)")
        if run_airflow(["dags", "test", DAG_ID, "-c", json.dumps(conf)], env, log) != 0:
            tail = log.read_text(errors="replace").splitlines()[-30:]
            print("\n".join(tail), file=sys.stderr)
            print(f"error: the DAG run failed; the whole log is {log}", file=sys.stderr)
            return 1

        leftover_runs, leftover_clusters = workspace.active_runs(), workspace.running_clusters()
        if leftover_runs or leftover_clusters:
            print(
                f"error: runs {leftover_runs} and clusters {leftover_clusters} were left running",
                file=sys.stderr,
            )
            return 1
        records = sync.predictions()
        api = workspace.client()
        by_cluster = {str(p["configs"]["cluster"]["cluster_id"]): p for p in records}
        listed = api.call("GET", "2.1/jobs/runs/list", {"limit": 25}, idempotent=True)["runs"]
        ordered = sorted(listed, key=lambda r: r["start_time"])
        clusters = [
            api.call(
                "GET",
                "2.0/clusters/get",
                {"cluster_id": r["cluster_instance"]["cluster_id"]},
                idempotent=True,
            )
            for r in ordered
        ]
        if len(clusters) != 2 or len(records) != 2:
            print(
                f"error: expected 2 runs and 2 predictions, found {len(clusters)} and {len(records)}",
                file=sys.stderr,
            )
            return 1
        predictions = [by_cluster[str(cluster["cluster_id"])] for cluster in clusters]
    finally:
        sync.stop()
        workspace.stop()
    print()
    print(result_tables(clusters, predictions))
    say(f"\nDone in {time.monotonic() - started:.0f} s; nothing left running. Airflow's output: {log}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync_provider.cli.demo_databricks``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quiet", action="store_true", help="print only the result tables")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    from sync_provider.core.errors import SyncError

    try:
        if args.keep:
            folder = Path(args.keep)
            folder.mkdir(parents=True, exist_ok=True)
            return run(folder, quiet=args.quiet)
        with tempfile.TemporaryDirectory(prefix="sync-demo-databricks-") as tmp:
            return run(Path(tmp), quiet=args.quiet)
    except (SyncError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
