"""``make demo``: the closed loop run end to end on this machine, with no account anywhere.

By default it runs the EMR loop and then the Databricks loop: each runs an example DAG with
``airflow dags test`` against local stand-ins (AWS simulator or Databricks stand-in, and the Sync API
stand-in), launching a run, recording it as a Sync prediction, launching the next run from the
prediction and comparing predicted with recorded runtime and cost. ``--only prediction`` runs the
quick core-only part: a generated event log uploaded as a prediction and printed as a table.
``--only cross-platform`` runs the cross-platform example instead: a job run on EMR, then on
Databricks from the EMR run's prediction (``allow_cross_platform=True``).
Nothing is left running and nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sync_provider.cli.main import prediction_table


def run(workdir: Path, *, quiet: bool = False) -> int:
    """Run the demo in ``workdir``; return the process exit code."""
    from sync_provider.core import predictions
    from sync_provider.core.backoff import Backoff
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings
    from sync_provider.core.models import Platform
    from sync_provider.testing.eventlog_generator import demo_workload, emr_cluster_report, write_event_log
    from sync_provider.testing.sync_api_server import LocalSyncServer

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    workload = demo_workload()
    eventlog = write_event_log(workload, workdir / f"{workload.resolved_app_id}.gz", codec="gzip")
    report = emr_cluster_report(workload)
    say(f"Generated a Spark event log for '{workload.app_name}': {eventlog.name}")

    key_id, secret = "demo-key-id", "demo-key-secret"
    with LocalSyncServer(
        api_keys={key_id: secret}, processing_delay_s=1.0, data_dir=workdir / "sync-api"
    ) as server:
        say(f"Local Sync API stand-in listening on {server.url}")
        with SyncClient(load_settings(key_id, secret, server.url, env={})) as client:
            prediction_id = predictions.create_prediction(
                Platform.AWS_EMR, report, eventlog, client=client
            ).unwrap()
            say(f"Created prediction {prediction_id}; uploading the log and waiting for it")

            def progress(status: object, waited: float) -> None:
                say(f"  status {getattr(status, 'value', status)} after {waited:.1f} s")

            prediction = predictions.wait_for_prediction(
                prediction_id,
                client=client,
                timeout_s=120,
                poll=Backoff(initial=0.25, maximum=1.0),
                on_status=progress,
            ).unwrap()
    print()
    print(prediction_table(prediction))
    for note in prediction.basis.assumptions if prediction.basis else []:
        print(f"note: {note}")
    return 0


PARTS = ("emr", "databricks", "prediction", "cross-platform")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync_provider.cli.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quiet", action="store_true", help="print only the result tables")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); default emr, databricks",
    )
    args = parser.parse_args(argv)
    from sync_provider.core.errors import SyncError

    parts = args.only or ["emr", "databricks"]
    worst = 0
    for part in parts:
        print(f"\n=== {part} ===\n", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"sync-demo-{part}-") as tmp:
            try:
                if part == "emr":
                    from sync_provider.cli import demo_emr

                    code = demo_emr.run(Path(tmp), quiet=args.quiet)
                elif part == "databricks":
                    from sync_provider.cli import demo_databricks

                    code = demo_databricks.run(Path(tmp), quiet=args.quiet)
                elif part == "cross-platform":
                    from sync_provider.cli import demo_crossplatform

                    code = demo_crossplatform.run(Path(tmp), quiet=args.quiet)
                else:
                    code = run(Path(tmp), quiet=args.quiet)
            except SyncError as exc:
                print(f"error: {exc}", file=sys.stderr)
                code = 1
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
