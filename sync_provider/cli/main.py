"""``sync-cli``: the core's functions from the command line.

Errors are one line on standard error and a non-zero exit code; ``--json`` prints results as JSON.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sync_provider import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A problem worth one line on standard error."""


def _client(args: argparse.Namespace) -> Any:
    from sync_provider.core.client import SyncClient

    overrides = {"api_url": args.api_url} if args.api_url else {}
    return SyncClient.from_config(**overrides)


def _emit(args: argparse.Namespace, value: Any, human: Callable[[Any], str] | None = None) -> None:
    from pydantic import BaseModel

    def plain(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json", exclude_none=True)
        if isinstance(item, list):
            return [plain(i) for i in item]
        return item

    data = plain(value)
    if args.json or human is None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(human(value))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_report(source: str) -> dict[str, Any]:
    """Read a cluster report from a local JSON file or an ``s3://`` object."""
    try:
        if source.startswith("s3://"):
            from sync_provider.core.storage import default_s3_client, parse_s3_url

            location = parse_s3_url(source)
            body = default_s3_client().get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
            data = json.loads(body)
        else:
            data = json.loads(Path(source).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"cluster report {source} does not exist") from None
    except ValueError as exc:
        raise CliError(f"cluster report {source} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CliError(f"cluster report {source} must hold a JSON object")
    return data


def prediction_table(prediction: Any) -> str:
    """Render a prediction's basis and solutions as a table."""
    from sync_provider.core.configurations import describe_configuration

    rows = []
    entries = ([("basis", prediction.basis)] if prediction.basis else []) + list(prediction.solutions.items())
    for name, solution in entries:
        rows.append(
            [
                name,
                describe_configuration(solution.configuration),
                f"{solution.metrics.runtime:.2f}",
                f"{solution.metrics.cost:.4f}",
            ]
        )
    header = (
        f"Prediction {prediction.prediction_id} ({prediction.product_code or '?'}, "
        f"application {prediction.application_name or '?'})"
    )
    return header + "\n" + _table(rows, ["configuration", "cluster", "runtime (min)", "cost (USD)"])


# -- commands -----------------------------------------------------------------------------------------


def cmd_configure(args: argparse.Namespace) -> None:
    from sync_provider.core.config import configure

    interactive = sys.stdin.isatty()
    key_id = args.api_key_id or (input("Sync API key ID: ").strip() if interactive else "")
    secret = args.api_key_secret or os.environ.get("SYNC_API_KEY_SECRET") or ""
    if not secret and interactive:
        secret = getpass.getpass("Sync API key secret: ").strip()
    if not key_id or not secret:
        raise CliError(
            "configure needs --api-key-id and a secret (--api-key-secret, SYNC_API_KEY_SECRET, or a prompt)"
        )
    folder = configure(key_id, secret, args.api_url, default_preference=args.preference)
    print(f"Wrote {folder / 'credentials'} and {folder / 'config'} (mode 0600).")


def cmd_products(args: argparse.Namespace) -> None:
    from sync_provider.core.predictions import get_products

    products = get_products(client=_client(args)).unwrap()
    _emit(args, products, "\n".join)


def _project_rows(items: Sequence[Any]) -> str:
    return _table(
        [[p.id, p.name, p.product_code, p.cluster_log_url, p.prediction_preference] for p in items],
        ["id", "name", "product", "cluster log url", "preference"],
    )


def cmd_projects(args: argparse.Namespace) -> None:
    from sync_provider.core import projects

    client = _client(args)
    if args.projects_command == "list":
        _emit(args, projects.list_projects(app_id=args.app_id, client=client).unwrap(), _project_rows)
    elif args.projects_command == "get":
        _emit(
            args, projects.get_project(args.project_id, client=client).unwrap(), lambda p: _project_rows([p])
        )
    elif args.projects_command == "create":
        fields = _project_fields(args)
        created = projects.create_project(args.name, args.product_code, client=client, **fields).unwrap()
        _emit(args, created, lambda p: f"Project ID: {p.id}")
    elif args.projects_command == "update":
        fields = _project_fields(args)
        if args.name:
            fields["name"] = args.name
        updated = projects.update_project(args.project_id, client=client, **fields).unwrap()
        _emit(args, updated, lambda p: _project_rows([p]))
    elif args.projects_command == "delete":
        _emit(args, projects.delete_project(args.project_id, client=client).unwrap(), str)


def _project_fields(args: argparse.Namespace) -> dict[str, Any]:
    names = ("description", "cluster_log_url", "app_id", "job_id")
    fields = {name: getattr(args, name) for name in names if getattr(args, name, None)}
    if getattr(args, "preference", None):
        fields["prediction_preference"] = args.preference
    return fields


def _progress(args: argparse.Namespace) -> Callable[[Any, float], None]:
    tty = sys.stderr.isatty()

    def show(status: Any, waited: float) -> None:
        if args.quiet:
            return
        line = f"Waiting for prediction: {status.value} ({waited:.0f} s)"
        if tty:
            sys.stderr.write("\r" + line.ljust(60))
            if status.is_terminal:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show


def _wait(args: argparse.Namespace, client: Any, prediction_id: str) -> Any:
    from sync_provider.core.predictions import wait_for_prediction

    return wait_for_prediction(
        prediction_id,
        args.preference,
        timeout_s=args.timeout,
        on_status=_progress(args),
        client=client,
    ).unwrap()


def cmd_predictions(args: argparse.Namespace) -> None:
    from sync_provider.core import predictions

    client = _client(args)
    command = args.predictions_command
    if command == "create":
        report = _load_report(args.report)
        prediction_id = predictions.create_prediction(
            args.platform, report, args.eventlog, project_id=args.project, upload=args.upload, client=client
        ).unwrap()
        if not args.wait:
            _emit(args, {"prediction_id": prediction_id}, lambda r: f"Prediction ID: {r['prediction_id']}")
            return
        _emit(args, _wait(args, client, prediction_id), prediction_table)
    elif command == "status":
        status = predictions.get_prediction_status(args.prediction_id, client=client).unwrap()
        _emit(args, {"prediction_id": args.prediction_id, "status": status.value}, lambda r: r["status"])
    elif command == "get":
        prediction = predictions.get_prediction(args.prediction_id, args.preference, client=client).unwrap()
        _emit(args, prediction, prediction_table)
    elif command == "wait":
        _emit(args, _wait(args, client, args.prediction_id), prediction_table)
    elif command == "list":
        items = predictions.list_predictions(
            platforms=args.platform, project_id=args.project, preference=args.preference, client=client
        ).unwrap()
        rows = [[p.prediction_id, p.product_code, p.application_name, p.status, p.created_at] for p in items]
        _emit(args, items, lambda _: _table(rows, ["id", "product", "application", "status", "created"]))


def cmd_serve(args: argparse.Namespace) -> None:
    from sync_provider.testing.sync_api_server import run_server

    run_server(
        args.host,
        args.port,
        api_keys={args.api_key_id: args.api_key_secret},
        processing_delay_s=args.processing_delay,
    )


# -- parser -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the ``sync-cli`` argument parser."""
    parser = argparse.ArgumentParser(prog="sync-cli", description="Sync Computing predictions for Spark.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--api-url", help="Sync API URL (default: configuration, then Sync's public API)")
    parser.add_argument("--debug", action="store_true", help="log HTTP calls (never secrets) to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    configure = sub.add_parser("configure", help="write ~/.sync/credentials and ~/.sync/config")
    configure.add_argument("--api-key-id")
    configure.add_argument("--api-key-secret", help="prefer the prompt or SYNC_API_KEY_SECRET")
    configure.add_argument("--preference", choices=["performance", "balanced", "economy"])
    configure.set_defaults(func=cmd_configure)

    sub.add_parser("products", help="list product codes").set_defaults(func=cmd_products)

    projects = sub.add_parser("projects", help="create, list, show, update and delete projects")
    projects.set_defaults(func=cmd_projects)
    psub = projects.add_subparsers(dest="projects_command", required=True, metavar="ACTION")
    plist = psub.add_parser("list")
    plist.add_argument("--app-id")
    psub.add_parser("get").add_argument("project_id")
    pcreate = psub.add_parser("create")
    pcreate.add_argument("name")
    pcreate.add_argument("product_code", choices=["aws-emr", "aws-databricks"])
    pupdate = psub.add_parser("update")
    pupdate.add_argument("project_id")
    pupdate.add_argument("--name")
    for p in (pcreate, pupdate):
        p.add_argument("--description")
        p.add_argument("--cluster-log-url", help="s3:// (or dbfs:/) folder for this project's runs")
        p.add_argument("--app-id")
        p.add_argument("--job-id")
        p.add_argument("--preference", choices=["performance", "balanced", "economy"])
    psub.add_parser("delete").add_argument("project_id")

    preds = sub.add_parser("predictions", help="create, follow and read predictions")
    preds.set_defaults(func=cmd_predictions)
    prsub = preds.add_subparsers(dest="predictions_command", required=True, metavar="ACTION")
    create = prsub.add_parser("create", help="create a prediction from an event log and a cluster report")
    create.add_argument("platform", choices=["aws-emr", "aws-databricks"])
    create.add_argument("-e", "--eventlog", required=True, help="local path, s3:// object or https:// URL")
    create.add_argument("-r", "--report", required=True, help="cluster report: JSON file or s3:// object")
    create.add_argument("--project", help="Sync project id")
    create.add_argument("--upload", action="store_true", default=None, help="upload an s3:// log via Sync")
    create.add_argument("--wait", action="store_true", help="wait for the prediction and print it")
    prsub.add_parser("status").add_argument("prediction_id")
    get = prsub.add_parser("get")
    get.add_argument("prediction_id")
    wait = prsub.add_parser("wait")
    wait.add_argument("prediction_id")
    plist2 = prsub.add_parser("list")
    plist2.add_argument("--platform", action="append", choices=["aws-emr", "aws-databricks"])
    plist2.add_argument("--project")
    for p in (create, get, wait, plist2):
        p.add_argument("-p", "--preference", choices=["performance", "balanced", "economy"])
    for p in (create, wait):
        p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    serve = sub.add_parser("serve", help="run the local Sync API stand-in (for tests and demos)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key-id", default="local-key-id")
    serve.add_argument("--api-key-secret", default="local-key-secret")
    serve.add_argument("--processing-delay", type=float, default=1.0, help="seconds a prediction runs")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sync-cli``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    from sync_provider.core.errors import SyncError

    try:
        args.func(args)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
