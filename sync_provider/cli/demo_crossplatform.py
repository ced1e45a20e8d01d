"""The cross-platform demo: the ``example_sync_cross_platform`` DAG run end to end on this machine.

It starts the local AWS simulator (moto's server with EMR cluster lifecycles; its S3 holds the
project folders and the job's script ``s3://my-code/etl.py``), a local Databricks workspace
delivering logs to that S3, and the local Sync API, creates a Sync project, and runs
``airflow dags test example_sync_cross_platform`` in a subprocess with a fresh ``AIRFLOW_HOME`` in
the work folder. The DAG runs the job on EMR, records the run as an ``aws-emr`` prediction and runs
the same script on Databricks on the prediction's solution translated to a Databricks cluster
(``allow_cross_platform=True``), comparing the code fingerprints of both runs first. The demo then
prints the EMR run, the Databricks cluster and what the translation could not carry over. Nothing is
left running.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sync_provider.cli._airflow_subprocess import airflow_env, run_airflow, sync_connection_json
from sync_provider.cli.main import _table
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY

DAG_ID = "example_sync_cross_platform"
PREFERENCE = "economy"
BUCKET = "sync-demo-projects"
EMR_LOCATION = f"s3://{BUCKET}/emr"
DATABRICKS_LOCATION = f"s3://{BUCKET}/databricks"
#: The example's script (``SCRIPT`` in the DAG file), run by the EMR step and the Databricks task.
SCRIPT_BUCKET, SCRIPT_KEY = "my-code", "etl.py"
KEY_ID, KEY_SECRET = "demo-key-id", "demo-key-secret"
#: How often the DAG's tasks check the cluster, the run and the prediction, in seconds.
POLL_SECONDS = 0.25
_NOTE = re.compile(r"Cross-platform translation: (.*?)(?:\s+\[airflow\.task\.\S+\].*)?$")


def translation_notes(log_text: str) -> list[str]:
    """The ``Cross-platform translation: …`` warnings in Airflow's output, in order, once each."""
    notes: list[str] = []
    for line in log_text.splitlines():
        found = _NOTE.search(line)
        if found and found.group(1) not in notes:
            notes.append(found.group(1))
    return notes


def result_table(prediction: Any, cluster: dict[str, Any]) -> str:
    """The recorded EMR run, the prediction's solution, and the Databricks cluster launched from it.

    :param prediction: the ``aws-emr`` prediction of the EMR run (a
        :class:`~sync_provider.core.models.Prediction`).
    :param cluster: ``clusters/get`` of the Databricks run's cluster.
    """
    from sync_provider.core.configurations import describe_configuration

    if prediction.basis is None:
        raise RuntimeError("The EMR prediction has no basis (the recorded run); cannot compare.")
    solution = prediction.solution(PREFERENCE)
    rows = [
        [
            "EMR",
            "recorded",
            describe_configuration(prediction.basis.configuration),
            f"{prediction.basis.metrics.runtime:.2f}",
            f"{prediction.basis.metrics.cost:.4f}",
        ],
        [
            "EMR",
            f"predicted ({PREFERENCE})",
            describe_configuration(solution.configuration),
            f"{solution.metrics.runtime:.2f}",
            f"{solution.metrics.cost:.4f}",
        ],
        ["Databricks", "launched from the EMR prediction", describe_configuration(cluster), "", ""],
    ]
    return _table(rows, ["platform", "", "cluster", "runtime (min)", "cost (USD)"])


def run(workdir: Path, *, quiet: bool = False) -> int:
    """Run the cross-platform demo in ``workdir``; return the process exit code."""
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings
    from sync_provider.core.predictions import get_prediction
    from sync_provider.core.projects import create_project
    from sync_provider.testing.aws import AwsSimulator
    from sync_provider.testing.databricks import LocalDatabricks
    from sync_provider.testing.sync_api_server import LocalSyncServer

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "airflow.log"
    simulator = AwsSimulator(step_wall_s=0.5, bootstrap_wall_s=0.3)
    workspace: LocalDatabricks | None = None
    server = LocalSyncServer(
        api_keys={KEY_ID: KEY_SECRET}, processing_delay_s=0.2, data_dir=workdir / "sync-api"
    )
    try:
        simulator.start()
        workspace = LocalDatabricks(
            phase_s=0.5, log_delivery_delay_s=0.5, s3_client=simulator.client("s3"), seed=7
        ).start()
        server.start()
        say(
            f"AWS simulator (moto) on {simulator.endpoint_url}; local Databricks on {workspace.url}; "
            f"local Sync API on {server.url}"
        )
        simulator.create_bucket(BUCKET)
        simulator.create_bucket(SCRIPT_BUCKET)
        simulator.client("s3").put_object(Bucket=SCRIPT_BUCKET, Key=SCRIPT_KEY, Body=b"print('etl')\n")
        with SyncClient(load_settings(KEY_ID, KEY_SECRET, server.url, env={})) as client:
            project = create_project(
                "nightly-etl", "aws-emr", cluster_log_url=EMR_LOCATION, client=client
            ).unwrap()
            say(f"Created s3://{BUCKET}, s3://{SCRIPT_BUCKET}/{SCRIPT_KEY} and Sync project {project.id}")
            env = airflow_env(
                workdir / "airflow-home",
                {
                    "AIRFLOW_CONN_AWS_DEFAULT": simulator.aws_connection_json(),
                    "AIRFLOW_CONN_DATABRICKS_DEFAULT": workspace.connection_json(),
                    "AIRFLOW_CONN_SYNC_DEFAULT": sync_connection_json(server.url, KEY_ID, KEY_SECRET),
                    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                    # Anything that bypasses the connection still reaches the simulator, never AWS.
                    "AWS_ENDPOINT_URL": simulator.endpoint_url,
                    "AWS_ACCESS_KEY_ID": SIMULATOR_ACCESS_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": SIMULATOR_SECRET_ACCESS_KEY,
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "SYNC_EXAMPLE_POLL_SECONDS": str(POLL_SECONDS),
                },
            )
            say(f"airflow db migrate (AIRFLOW_HOME={env['AIRFLOW_HOME']})")
            if run_airflow(["db", "migrate"], env, log) != 0:
                print(f"error: airflow db migrate failed; see {log}", file=sys.stderr)
                return 1
            conf = {
                "project_id": project.id,
                "project_location": EMR_LOCATION,
                "databricks_project_location": DATABRICKS_LOCATION,
                "preference": PREFERENCE,
            }
            say(f"airflow dags test {DAG_ID} (log: {log})")
            if run_airflow(["dags", "test", DAG_ID, "--conf", json.dumps(conf)], env, log) != 0:
                print("\n".join(log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
                print(f"error: the DAG run failed; the whole log is {log}", file=sys.stderr)
                return 1

            left = [
                *simulator.running_clusters(),
                *(f"run {run_id}" for run_id in workspace.active_runs()),
                *workspace.running_clusters(),
            ]
            if left:
                print(f"error: the DAG left {left} running", file=sys.stderr)
                return 1
            records = server.predictions()
            api = workspace.client()
            runs = api.call("GET", "2.1/jobs/runs/list", {"limit": 25}, idempotent=True).get("runs", [])
            if len(records) != 1 or simulator.run_job_flow_count() != 1 or len(runs) != 1:
                print(
                    f"error: expected one EMR cluster, one prediction and one Databricks run, got "
                    f"{simulator.run_job_flow_count()}, {len(records)} and {len(runs)}",
                    file=sys.stderr,
                )
                return 1
            prediction = get_prediction(records[0]["prediction_id"], client=client).unwrap()
            cluster_id = runs[0]["cluster_instance"]["cluster_id"]
            cluster = api.call("GET", "2.0/clusters/get", {"cluster_id": cluster_id}, idempotent=True)
    finally:
        server.stop()
        if workspace is not None:
            workspace.stop()
        simulator.stop()
    print()
    print(
        f"'nightly-etl' ran on EMR (prediction {prediction.prediction_id}), then on Databricks from "
        "that prediction; nothing left running."
    )
    print(result_table(prediction, cluster))
    notes = translation_notes(log.read_text(errors="replace"))
    if notes:
        print("\nWhat the translation to Databricks did not carry over:")
        for note in notes:
            print(f"- {note}")
    say(f"\nThe cross-platform demo took {time.monotonic() - started:.1f} s.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync_provider.cli.demo_crossplatform``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quiet", action="store_true", help="print only the result table")
    args = parser.parse_args(argv)
    from sync_provider.core.errors import SyncError

    with tempfile.TemporaryDirectory(prefix="sync-demo-cross-platform-") as tmp:
        try:
            return run(Path(tmp), quiet=args.quiet)
        except (SyncError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
