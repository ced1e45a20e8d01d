"""The EMR demo: the ``example_sync_emr`` DAG run end to end by Airflow on this machine.

It starts the local AWS simulator (moto's server with EMR cluster lifecycles) and the local Sync API
stand-in on loopback ports, creates the project bucket and a Sync project, and runs
``airflow dags test example_sync_emr`` in a subprocess with a fresh ``AIRFLOW_HOME`` in the work
folder (``airflow db migrate`` first; connections as ``AIRFLOW_CONN_*`` variables). The DAG launches
a cluster, records the run as a prediction, launches the next cluster from the prediction and
records that run too. The demo then prints both runs' clusters and, for the second run, the
predicted runtime and cost against the recorded ones. Nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sync_provider.cli._airflow_subprocess import airflow_env, run_airflow, sync_connection_json
from sync_provider.cli.main import _table
from sync_provider.testing import SIMULATOR_ACCESS_KEY_ID, SIMULATOR_SECRET_ACCESS_KEY

DAG_ID = "example_sync_emr"
BUCKET = "sync-demo-projects"
PROJECT_LOCATION = f"s3://{BUCKET}/emr"
KEY_ID, KEY_SECRET = "demo-key-id", "demo-key-secret"
#: How often the DAG's tasks check the simulated cluster and the predictions, in seconds.
POLL_S = 0.25


def _airflow_env(workdir: Path, aws_connection: str, endpoint_url: str, sync_url: str) -> dict[str, str]:
    return airflow_env(
        workdir / "airflow-home",
        {
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection,
            "AIRFLOW_CONN_SYNC_DEFAULT": sync_connection_json(sync_url, KEY_ID, KEY_SECRET),
            # Anything that bypasses the connection still reaches the simulator, never AWS.
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": SIMULATOR_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SIMULATOR_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SYNC_EXAMPLE_POLL_SECONDS": str(POLL_S),
        },
    )


def _airflow(args: list[str], env: dict[str, str], log: Path, what: str) -> None:
    """Run ``airflow <args>``, appending its output to ``log``; raise with the log's tail on failure."""
    code = run_airflow(args, env, log)
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"{what} failed (exit code {code}); the end of {log}:\n{tail}")


def _ratio(recorded: float, predicted: float) -> str:
    return f"{recorded / predicted:.2f}x" if predicted else "n/a"


def comparison_table(first: Any, second: Any, preference: str) -> str:
    """Both runs' clusters; for the second, predicted (first prediction) against recorded (its basis).

    :param first: the prediction of the first run (a :class:`~sync_provider.core.models.Prediction`).
    :param second: the prediction of the second run.
    :param preference: the solution the second run was launched from.
    """
    from sync_provider.core.configurations import describe_configuration

    if first.basis is None or second.basis is None:
        raise RuntimeError("A prediction has no basis (the recorded run); cannot compare.")
    predicted = first.solution(preference)
    rows = [
        [
            "1",
            "recorded",
            describe_configuration(first.basis.configuration),
            f"{first.basis.metrics.runtime:.2f}",
            f"{first.basis.metrics.cost:.4f}",
        ],
        [
            "2",
            f"predicted ({preference}, from run 1)",
            describe_configuration(predicted.configuration),
            f"{predicted.metrics.runtime:.2f}",
            f"{predicted.metrics.cost:.4f}",
        ],
        [
            "2",
            "recorded",
            describe_configuration(second.basis.configuration),
            f"{second.basis.metrics.runtime:.2f}",
            f"{second.basis.metrics.cost:.4f}",
        ],
        [
            "2",
            "recorded / predicted",
            "",
            _ratio(second.basis.metrics.runtime, predicted.metrics.runtime),
            _ratio(second.basis.metrics.cost, predicted.metrics.cost),
        ],
    ]
    return _table(rows, ["run", "", "cluster", "runtime (min)", "cost (USD)"])


def run(workdir: Path, *, quiet: bool = False, preference: str = "economy") -> int:
    """Run the EMR demo in ``workdir``; return the process exit code."""
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings
    from sync_provider.core.predictions import get_prediction
    from sync_provider.core.projects import create_project
    from sync_provider.testing.aws import AwsSimulator
    from sync_provider.testing.sync_api_server import LocalSyncServer

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "airflow.log"
    simulator = AwsSimulator(step_wall_s=1.0, bootstrap_wall_s=0.5)
    server = LocalSyncServer(
        api_keys={KEY_ID: KEY_SECRET}, processing_delay_s=0.2, data_dir=workdir / "sync-api"
    )
    try:
        simulator.start()
        server.start()
        say(f"AWS simulator (moto) on {simulator.endpoint_url}; local Sync API on {server.url}")
        simulator.create_bucket(BUCKET)
        with SyncClient(load_settings(KEY_ID, KEY_SECRET, server.url, env={})) as client:
            project = create_project(
                "nightly-etl", "aws-emr", cluster_log_url=PROJECT_LOCATION, client=client
            ).unwrap()
            say(f"Created bucket s3://{BUCKET} and Sync project {project.id}")

            env = _airflow_env(workdir, simulator.aws_connection_json(), simulator.endpoint_url, server.url)
            say(f"airflow db migrate (AIRFLOW_HOME={env['AIRFLOW_HOME']})")
            _airflow(["db", "migrate"], env, log, "airflow db migrate")
            conf = {"project_id": project.id, "project_location": PROJECT_LOCATION, "preference": preference}
            say(f"airflow dags test {DAG_ID} (log: {log})")
            dag_started = time.monotonic()
            _airflow(
                ["dags", "test", DAG_ID, "--conf", json.dumps(conf)], env, log, f"airflow dags test {DAG_ID}"
            )
            say(f"  the DAG run succeeded in {time.monotonic() - dag_started:.1f} s")

            left = simulator.running_clusters()
            if left:
                simulator.terminate_all()
                raise RuntimeError(f"The DAG left EMR clusters running: {', '.join(left)} (now terminated).")
            records = server.predictions()
            if len(records) != 2 or simulator.run_job_flow_count() != 2:
                raise RuntimeError(
                    f"Expected two clusters and two predictions, got {simulator.run_job_flow_count()} and "
                    f"{len(records)}."
                )
            first, second = (get_prediction(r["prediction_id"], client=client).unwrap() for r in records)
    finally:
        server.stop()
        simulator.stop()
    print()
    print(
        f"Two EMR runs of 'nightly-etl' (predictions {first.prediction_id} and {second.prediction_id}); "
        "no cluster left running."
    )
    print(comparison_table(first, second, preference))
    say(f"\nThe EMR demo took {time.monotonic() - started:.1f} s.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync_provider.cli.demo_emr``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quiet", action="store_true", help="print only the result table")
    parser.add_argument(
        "--preference",
        default="economy",
        choices=["performance", "balanced", "economy"],
        help="solution to apply",
    )
    args = parser.parse_args(argv)
    from sync_provider.core.errors import SyncError

    with tempfile.TemporaryDirectory(prefix="sync-demo-emr-") as tmp:
        try:
            return run(Path(tmp), quiet=args.quiet, preference=args.preference)
        except (SyncError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
