"""Bad-input corpus: malformed and hostile inputs end in a typed error naming the problem, and nothing
is launched or written.

Each case calls a public entry point (core function, client constructor, or Airflow hook/operator)
with one bad input and checks:

1. the error (raised, or in ``Response.error``) is the expected typed error;
2. its message contains a fragment naming the problem;
3. nothing was launched or written: Sync predictions and projects, EMR ``RunJobFlow`` calls (counted
   on the wire, before moto), Databricks ``runs/submit`` calls, S3 objects and DBFS files are as
   they were before the call.

The AWS and Databricks stand-ins accept requests the real services refuse (a cluster of a billion
nodes, a NUL in a name), so guards in front of them refuse those the way AWS and Databricks do; a
request refused there still counts as *launched* for check 3: the product should have refused it
first. Cases the product does not handle yet are marked ``xfail`` with the issue (``KNOWN``).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from sync_provider.core import emr
from sync_provider.core.client import SyncClient
from sync_provider.core.config import configure, load_settings
from sync_provider.core.databricks import (
    DatabricksAPIError,
    DatabricksRestClient,
    cancel_run,
    cluster_spec_from_prediction,
    collect_eventlog,
    get_cluster_report,
    idempotency_token_for,
    submit_run,
    wait_for_run,
)
from sync_provider.core.databricks import record_run as record_databricks_run
from sync_provider.core.errors import (
    AuthenticationError,
    ConfigurationError,
    DatabricksError,
    EventLogError,
    InvalidInputError,
    PredictionError,
    StorageError,
)
from sync_provider.core.models import Metrics, Prediction, Response, Solution
from sync_provider.core.predictions import (
    create_prediction,
    create_prediction_from_url,
    get_prediction,
    get_prediction_status,
    list_predictions,
    wait_for_prediction,
)
from sync_provider.core.projects import create_project, delete_project, get_project, update_project
from tests.reliability.loops import DBX_SPEC, DBX_TASK, EMR_SPEC, POLL

BUCKET = "sync-corpus"
LOCATION = f"s3://{BUCKET}/emr"
DBFS = "dbfs:/corpus"
KEY_ID = "corpus-key"
KEY_SECRET = "corpus-secret-Hn47Wd"
DBX_TOKEN = "dapi-corpus-8Kq2"
KNOWN_ENDPOINT = "https://169.254.169.254/latest/meta-data/"

# ------------------------------------------------------------------------------------------- guards


class EmrGuard:
    """Counts ``RunJobFlow`` calls on the wire and refuses, as EMR does, the ones moto would accept."""

    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self, request: Any, **_: Any) -> Any:
        self.attempts += 1
        body = json.loads(request.body or b"{}")
        problem = _emr_refusal(body)
        if problem is None:
            return None
        from botocore.awsrequest import AWSResponse

        payload = json.dumps({"__type": "ValidationException", "message": problem}).encode()
        from botocore.compat import HTTPHeaders

        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(request.url, 400, headers, _Raw(payload))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _emr_refusal(body: Mapping[str, Any]) -> str | None:
    name = str(body.get("Name", ""))
    if len(name) > 256 or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", name):
        return "Name must be at most 256 printable characters."
    instances = body.get("Instances") or {}
    groups, fleets = instances.get("InstanceGroups"), instances.get("InstanceFleets")
    if groups and fleets:
        return "Specify either instance groups or instance fleets, not both."
    if not groups and not fleets and not instances.get("MasterInstanceType"):
        return "The cluster has no master node."
    counts = [g.get("InstanceCount", 0) for g in groups or []]
    counts += [f.get(k, 0) for f in fleets or [] for k in ("TargetOnDemandCapacity", "TargetSpotCapacity")]
    if any(not isinstance(c, int) or c < 0 or c > 500 for c in counts):
        return "Instance counts must be between 0 and 500 (service quota)."
    return None


class DatabricksGuard:
    """A ``DatabricksApi`` that counts ``runs/submit`` calls and refuses huge clusters as Databricks does."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.submits = 0

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool) -> Any:
        if path.endswith("jobs/runs/submit"):
            self.submits += 1
            for task in (body or {}).get("tasks") or []:
                workers = (task.get("new_cluster") or {}).get("num_workers", 0)
                if isinstance(workers, int) and workers > 100_000:
                    raise DatabricksAPIError(
                        "INVALID_PARAMETER_VALUE: num_workers must be at most 100000.",
                        error_code="INVALID_PARAMETER_VALUE",
                        status=400,
                    )
        return self.inner.call(method, path, body, idempotent=idempotent)


# ------------------------------------------------------------------------------------------ context


@dataclass
class Ctx:
    """Everything the cases use; one per module."""

    sim: Any
    emr: Any
    s3: Any
    emr_guard: EmrGuard
    server: Any
    sync: SyncClient
    dbx: Any
    api: DatabricksGuard
    project_id: str
    tmp: Path
    report: dict[str, Any]
    emr_cluster: Any = None
    dbx_run: Any = None
    monkeypatch: Any = None

    def bad_sync(self, key_id: str = KEY_ID, secret: str = KEY_SECRET + "-wrong") -> SyncClient:
        return SyncClient(
            load_settings(key_id, secret, self.server.url, env={}), timeout=(2.0, 5.0), retries=0
        )

    def logfile(self, name: str, data: bytes) -> Path:
        path = self.tmp / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    from sync_provider.testing.aws import AwsSimulator
    from sync_provider.testing.databricks import LocalDatabricks
    from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload
    from sync_provider.testing.sync_api_server import LocalSyncServer

    tmp = tmp_path_factory.mktemp("corpus")
    with (
        AwsSimulator(step_wall_s=0.1, bootstrap_wall_s=0.05, eventlog_mode="missing") as sim,
        LocalSyncServer(api_keys={KEY_ID: KEY_SECRET}, processing_delay_s=0.05) as server,
        LocalDatabricks(token=DBX_TOKEN, phase_s=0.1, log_delivery_delay_s=0.05, seed=3) as dbx,
    ):
        sim.create_bucket(BUCKET)
        guard = EmrGuard()
        emr_client = sim.client("emr")
        emr_client.meta.events.register("before-send.emr.RunJobFlow", guard)
        settings = load_settings(KEY_ID, KEY_SECRET, server.url, env={})
        with SyncClient(settings, timeout=(2.0, 10.0), retries=1, backoff_factor=0.01) as sync:
            project = create_project("corpus", "aws-emr", cluster_log_url=LOCATION, client=sync).unwrap()
            with dbx.client(timeout=(2.0, 5.0), retries=1, backoff_factor=0.01) as rest:
                yield Ctx(
                    sim=sim,
                    emr=emr_client,
                    s3=sim.client("s3"),
                    emr_guard=guard,
                    server=server,
                    sync=sync,
                    dbx=dbx,
                    api=DatabricksGuard(rest),
                    project_id=project.id,
                    tmp=tmp,
                    report=emr_cluster_report(tiny_workload()),
                )


def finished_emr_cluster(ctx: Ctx) -> Any:
    """A terminated cluster whose event-log folder is empty (the simulator wrote no log)."""
    if ctx.emr_cluster is None:
        run = emr.launch_job_flow(
            ctx.emr, ctx.s3, _job_flow(), project_id=ctx.project_id, project_location=LOCATION
        ).unwrap()
        emr.wait_for_cluster(ctx.emr, run.cluster_id, timeout_s=30, poll=POLL).unwrap()
        report = emr.get_cluster_report(ctx.emr, run.cluster_id).unwrap()
        emr.save_cluster_report(ctx.s3, report).unwrap()  # record_run rewrites it: no new object
        ctx.emr_cluster = run
    return ctx.emr_cluster


def finished_dbx_run(ctx: Ctx) -> tuple[int, str]:
    """A finished Databricks run whose log was never delivered, and where its current part goes."""
    if ctx.dbx_run is None:
        ctx.dbx.add_run_rule("corpus-nolog", log="none")
        api = ctx.api.inner
        run = submit_run(
            api,
            DBX_SPEC,
            DBX_TASK,
            project_id="corpus-project",
            project_location=DBFS,
            run_name="corpus-nolog",
            idempotency_token=idempotency_token_for("corpus", "nolog"),
        ).unwrap()
        wait_for_run(api, run.run_id, timeout_s=30, poll=POLL).unwrap()
        report = get_cluster_report(api, run.run_id).unwrap()
        cluster_id = report["cluster"]["cluster_id"]
        context = report["tasks"][0]["cluster_instance"]["spark_context_id"]
        folder = run.log_destination.removeprefix("dbfs:")
        ctx.dbx_run = (run.run_id, f"{folder}/{cluster_id}/eventlog/{cluster_id}_10_0_0_1/{context}/eventlog")
    result: tuple[int, str] = ctx.dbx_run
    return result


def _job_flow(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(json.dumps(EMR_SPEC))
    request["Name"] = "corpus-etl"
    request.update(overrides)
    return request


def _groups(**changes: Any) -> dict[str, Any]:
    request = _job_flow()
    request["Instances"]["InstanceGroups"][1].update(changes)
    return request


def _props(**properties: Any) -> dict[str, Any]:
    request = _job_flow()
    request["Configurations"][0]["Properties"].update(properties)
    return request


def _launch(request: Any, **kwargs: Any) -> Callable[[Ctx], Any]:
    def call(ctx: Ctx) -> Any:
        options = {"project_id": ctx.project_id, "project_location": LOCATION, **kwargs}
        return emr.launch_job_flow(ctx.emr, ctx.s3, request, **options)

    return call


def _submit(spec: Any = None, task: Any = None, **kwargs: Any) -> Callable[[Ctx], Any]:
    def call(ctx: Ctx) -> Any:
        options = {
            "project_id": "corpus-project",
            "project_location": DBFS,
            "run_name": "corpus",
            "idempotency_token": None,
            **kwargs,
        }
        return submit_run(
            ctx.api, DBX_SPEC if spec is None else spec, DBX_TASK if task is None else task, **options
        )

    return call


def _dbx(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(json.dumps(DBX_SPEC))
    for key, value in changes.items():
        if value is _DROP:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


_DROP = object()


def _prediction(product: str, configuration: dict[str, Any]) -> Prediction:
    return Prediction(
        prediction_id="corpus-prediction",
        product_code=product,
        status="SUCCESS",
        solutions={"economy": Solution(configuration=configuration, metrics=Metrics(runtime=1.0, cost=1.0))},
    )


_DBX_SOLUTION = {"node_type_id": "m5.2xlarge", "driver_node_type_id": "m5.xlarge", "num_workers": 4}
_EMR_SOLUTION = {"Instances": EMR_SPEC["Instances"]}


def _from_url(url: str) -> Callable[[Ctx], Any]:
    return lambda ctx: create_prediction_from_url(
        "aws-emr", ctx.report, url, client=ctx.sync, s3_client=ctx.s3
    )


def _record_emr(objects: dict[str, bytes]) -> Callable[[Ctx], Any]:
    """Put ``objects`` (name -> bytes) in the finished cluster's event-log folder, then record it."""

    def prepare(ctx: Ctx) -> None:
        run = finished_emr_cluster(ctx)
        folder = run.eventlog_dir.replace("s3a://", "s3://").removeprefix(f"s3://{BUCKET}/")
        for name, data in objects.items():
            ctx.s3.put_object(Bucket=BUCKET, Key=folder + name, Body=data)

    def call(ctx: Ctx) -> Any:
        return emr.record_run(ctx.emr, ctx.s3, ctx.emr_cluster.cluster_id, sync_client=ctx.sync)

    def cleanup(ctx: Ctx) -> None:
        folder = ctx.emr_cluster.eventlog_dir.replace("s3a://", "s3://").removeprefix(f"s3://{BUCKET}/")
        for name in objects:
            ctx.s3.delete_object(Bucket=BUCKET, Key=folder + name)

    call.prepare = prepare  # type: ignore[attr-defined]
    call.cleanup = cleanup  # type: ignore[attr-defined]
    return call


def _record_dbx(data: bytes) -> Callable[[Ctx], Any]:
    """Put ``data`` where Databricks would deliver the finished run's log, then record the run."""

    def prepare(ctx: Ctx) -> None:
        _run_id, path = finished_dbx_run(ctx)
        ctx.dbx.put_dbfs(path, data)

    def call(ctx: Ctx) -> Any:
        run_id, _path = finished_dbx_run(ctx)
        return record_databricks_run(ctx.api, run_id, sync_client=ctx.sync, log_timeout_s=0.5, log_poll=POLL)

    call.prepare = prepare  # type: ignore[attr-defined]
    return call


def _upload(name: str, data: bytes) -> Callable[[Ctx], Any]:
    return lambda ctx: create_prediction("aws-emr", ctx.report, ctx.logfile(name, data), client=ctx.sync)


def _spark_log() -> bytes:
    from sync_provider.testing.eventlog_generator import generate_events, tiny_workload

    return b"".join(json.dumps(e).encode() + b"\n" for e in generate_events(tiny_workload()))


_LOG = _spark_log()
_LINES = _LOG.splitlines(keepends=True)
_TRUNCATED = b"".join(_LINES[: len(_LINES) // 2]) + _LINES[len(_LINES) // 2][:20]
_FOREIGN = b'{"user": "alice", "action": "login"}\n{"user": "bob", "action": "logout"}\n'
_BINARY = bytes(range(256)) * 32
_MIXED = _LOG + _LOG.replace(b"application_", b"application_9")


def _with_env(variables: dict[str, str], call: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    def wrapped(ctx: Ctx) -> Any:
        for name, value in variables.items():
            ctx.monkeypatch.setenv(name, value.replace("{tmp}", str(ctx.tmp / "empty-config")))
        for name in ("SYNC_API_KEY_ID", "SYNC_API_KEY_SECRET", "SYNC_API_URL"):
            ctx.monkeypatch.delenv(name, raising=False)
        return call(ctx)

    return wrapped


def _config_dir(ctx: Ctx, name: str, credentials: str | None) -> Path:
    folder = ctx.tmp / name
    folder.mkdir(exist_ok=True)
    if credentials is not None:
        (folder / "credentials").write_text(credentials)
    return folder


# -------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One bad input: the call, the typed error expected, a fragment of its message."""

    id: str
    category: str
    call: Callable[[Ctx], Any]
    expected: type[BaseException] | str
    fragment: str
    known: str | None = None


EMR_CASES = [
    Case(
        "missing-instances",
        "RunJobFlow",
        _launch({k: v for k, v in _job_flow().items() if k != "Instances"}),
        InvalidInputError,
        "missing required field 'Instances'",
    ),
    Case(
        "instances-not-object",
        "RunJobFlow",
        _launch(_job_flow(Instances="m5.xlarge")),
        InvalidInputError,
        "Instances: has type str",
    ),
    Case(
        "count-is-string",
        "RunJobFlow",
        _launch(_groups(InstanceCount="2")),
        InvalidInputError,
        "InstanceCount: has type str, expected int",
    ),
    Case(
        "count-huge",
        "RunJobFlow",
        _launch(_groups(InstanceCount=10**9)),
        InvalidInputError,
        "Instances.InstanceGroups[1].InstanceCount: is 1000000000, outside 0..10000",
    ),
    Case(
        "count-negative",
        "RunJobFlow",
        _launch(_groups(InstanceCount=-3)),
        InvalidInputError,
        "Instances.InstanceGroups[1].InstanceCount: is -3, outside 0..10000",
    ),
    Case(
        "fleet-capacity-string",
        "RunJobFlow",
        _launch(
            _job_flow(
                Instances={
                    "InstanceFleets": [
                        {
                            "InstanceFleetType": "MASTER",
                            "TargetOnDemandCapacity": "1",
                            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
                        }
                    ]
                }
            )
        ),
        InvalidInputError,
        "TargetOnDemandCapacity: has type str",
    ),
    Case(
        "name-with-nul-and-shell",
        "RunJobFlow",
        _launch(_job_flow(Name="etl\x00; rm -rf / #")),
        InvalidInputError,
        "Name: has the control character U+0000 at position 3",
    ),
    Case(
        "name-too-long",
        "RunJobFlow",
        _launch(_job_flow(Name="n" * 300)),
        InvalidInputError,
        "Name: is 300 characters long but EMR allows at most 256",
    ),
    Case(
        "no-nodes",
        "RunJobFlow",
        _launch(_job_flow(Instances={"KeepJobFlowAliveWhenNoSteps": False})),
        InvalidInputError,
        "Instances: describes no nodes",
    ),
    Case(
        "groups-and-fleets",
        "RunJobFlow",
        _launch(
            _job_flow(
                Instances={
                    **EMR_SPEC["Instances"],
                    "InstanceFleets": [
                        {
                            "InstanceFleetType": "MASTER",
                            "TargetOnDemandCapacity": 1,
                            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}],
                        }
                    ],
                }
            )
        ),
        InvalidInputError,
        "Instances: describes the nodes 2 ways (InstanceGroups and InstanceFleets)",
    ),
    Case(
        "run-id-shell-injection",
        "RunJobFlow",
        _launch(_job_flow(), run_id="$(reboot)"),
        InvalidInputError,
        "run_id '$(reboot)' is not a valid identifier",
    ),
    Case(
        "run-id-traversal",
        "RunJobFlow",
        _launch(_job_flow(), run_id="../../other-project"),
        InvalidInputError,
        "run_id '../../other-project' is not a valid identifier",
    ),
    Case(
        "project-id-slash",
        "RunJobFlow",
        _launch(_job_flow(), project_id="team/../x"),
        InvalidInputError,
        "project_id 'team/../x' is not a valid identifier",
    ),
    Case(
        "eventlog-dir-conflict",
        "RunJobFlow",
        _launch(_props(**{"spark.eventLog.dir": "s3a://elsewhere/logs/"})),
        InvalidInputError,
        "spark.eventLog.dir is 's3a://elsewhere/logs/' but Sync needs",
    ),
    Case(
        "eventlog-disabled",
        "RunJobFlow",
        _launch(_props(**{"spark.eventLog.enabled": "false"})),
        InvalidInputError,
        "spark.eventLog.enabled is 'false'",
    ),
    Case(
        "nested-eventlog-conflict",
        "RunJobFlow",
        _launch(
            _groups(
                Configurations=[
                    {
                        "Classification": "spark-defaults",
                        "Properties": {"spark.eventLog.dir": "hdfs:///tmp/spark"},
                    }
                ]
            )
        ),
        InvalidInputError,
        "Instances.InstanceGroups[1].Configurations[spark-defaults]",
    ),
    Case(
        "two-spark-defaults",
        "RunJobFlow",
        _launch(_job_flow(Configurations=[{"Classification": "spark-defaults", "Properties": {}}] * 2)),
        InvalidInputError,
        "2 entries have the classification 'spark-defaults'",
    ),
    Case(
        "unknown-key", "RunJobFlow", _launch(_job_flow(Bogus=1)), InvalidInputError, "unknown field 'Bogus'"
    ),
    Case(
        "tags-not-list",
        "RunJobFlow",
        _launch(_job_flow(Tags={"team": "x"})),
        InvalidInputError,
        "Tags: has type dict",
    ),
    Case(
        "project-tag-conflict",
        "RunJobFlow",
        _launch(_job_flow(Tags=[{"Key": "sync:project-id", "Value": "another"}])),
        InvalidInputError,
        "sync:project-id is 'another'",
    ),
    Case(
        "run-tag-conflict",
        "RunJobFlow",
        _launch(_job_flow(Tags=[{"Key": "sync:run-id", "Value": "r-1"}]), run_id="r-2"),
        InvalidInputError,
        "sync:run-id is 'r-1' but the run id is 'r-2'",
    ),
    Case(
        "request-not-object",
        "RunJobFlow",
        _launch(["Name", "etl"]),
        InvalidInputError,
        "must be a JSON object (a mapping), not list",
    ),
    Case(
        "steps-not-list",
        "RunJobFlow",
        _launch(_job_flow(Steps="spark-submit etl.py")),
        InvalidInputError,
        "Steps: has type str",
    ),
    Case(
        "property-not-string",
        "RunJobFlow",
        _launch(_props(**{"spark.executor.cores": 4})),
        InvalidInputError,
        "spark.executor.cores: has type int, expected str",
    ),
    Case(
        "release-label-int",
        "RunJobFlow",
        _launch(_job_flow(ReleaseLabel=6)),
        InvalidInputError,
        "ReleaseLabel: has type int",
    ),
    Case(
        "bool-as-string",
        "RunJobFlow",
        _launch(_job_flow(VisibleToAllUsers="yes")),
        InvalidInputError,
        "VisibleToAllUsers: has type str, expected bool",
    ),
    Case(
        "location-not-s3",
        "RunJobFlow",
        _launch(_job_flow(), project_location="https://bucket/x"),
        InvalidInputError,
        "is not an S3 folder",
    ),
    Case(
        "location-bad-bucket",
        "RunJobFlow",
        _launch(_job_flow(), project_location="s3://Bad_Bucket/x"),
        InvalidInputError,
        "is not a valid S3 bucket name",
    ),
    Case(
        "location-traversal",
        "RunJobFlow",
        _launch(_job_flow(), project_location=f"s3://{BUCKET}/a/../b"),
        InvalidInputError,
        "the prefix must be plain folder names",
    ),
    Case(
        "location-missing-bucket",
        "RunJobFlow",
        _launch(_job_flow(), project_location="s3://no-such-corpus-bucket/x"),
        StorageError,
        "the bucket 'no-such-corpus-bucket' does not exist",
    ),
    Case(
        "wait-empty-cluster-id",
        "RunJobFlow",
        lambda ctx: emr.wait_for_cluster(ctx.emr, "", timeout_s=1),
        InvalidInputError,
        "cluster_id must be a non-empty EMR cluster id",
    ),
    Case(
        "wait-zero-timeout",
        "RunJobFlow",
        lambda ctx: emr.wait_for_cluster(ctx.emr, "j-1", timeout_s=0),
        InvalidInputError,
        "timeout_s must be a positive number",
    ),
    Case(
        "apply-databricks-prediction",
        "RunJobFlow",
        lambda ctx: emr.run_job_flow_from_prediction(
            _prediction("aws-databricks", _DBX_SOLUTION),
            "economy",
            _job_flow(),
            project_id=ctx.project_id,
            project_location=LOCATION,
        ),
        InvalidInputError,
        "is for 'aws-databricks', not 'aws-emr'",
    ),
    Case(
        "apply-unknown-preference",
        "RunJobFlow",
        lambda ctx: emr.run_job_flow_from_prediction(
            _prediction("aws-emr", _EMR_SOLUTION),
            "fastest",
            _job_flow(),
            project_id=ctx.project_id,
            project_location=LOCATION,
        ),
        PredictionError,
        "has no 'fastest' solution (it has: economy)",
    ),
    Case(
        "apply-base-not-object",
        "RunJobFlow",
        lambda ctx: emr.run_job_flow_from_prediction(
            _prediction("aws-emr", _EMR_SOLUTION),
            "economy",
            cast(Any, "Name=etl"),
            project_id=ctx.project_id,
            project_location=LOCATION,
        ),
        InvalidInputError,
        "base RunJobFlow request must be a JSON object",
    ),
]

DATABRICKS_CASES = [
    Case(
        "workers-and-autoscale",
        "cluster spec",
        _submit(_dbx(autoscale={"min_workers": 1, "max_workers": 4})),
        InvalidInputError,
        "give num_workers or autoscale, not both",
    ),
    Case(
        "missing-spark-version",
        "cluster spec",
        _submit(_dbx(spark_version=_DROP)),
        InvalidInputError,
        "spark_version is required",
    ),
    Case(
        "no-node-type",
        "cluster spec",
        _submit(_dbx(node_type_id=_DROP)),
        InvalidInputError,
        "give node_type_id or instance_pool_id",
    ),
    Case(
        "no-size",
        "cluster spec",
        _submit(_dbx(num_workers=_DROP)),
        InvalidInputError,
        "give num_workers (a fixed size) or autoscale",
    ),
    Case(
        "workers-string",
        "cluster spec",
        _submit(_dbx(num_workers="2")),
        InvalidInputError,
        "num_workers must be a whole number >= 0 (got '2')",
    ),
    Case(
        "workers-negative",
        "cluster spec",
        _submit(_dbx(num_workers=-1)),
        InvalidInputError,
        "num_workers must be a whole number >= 0 (got -1)",
    ),
    Case(
        "workers-bool",
        "cluster spec",
        _submit(_dbx(num_workers=True)),
        InvalidInputError,
        "num_workers must be a whole number >= 0 (got True)",
    ),
    Case(
        "workers-huge",
        "cluster spec",
        _submit(_dbx(num_workers=10**9)),
        InvalidInputError,
        "num_workers must be at most 100000 (got 1000000000)",
    ),
    Case(
        "autoscale-min-above-max",
        "cluster spec",
        _submit(_dbx(num_workers=_DROP, autoscale={"min_workers": 8, "max_workers": 2})),
        InvalidInputError,
        "autoscale.min_workers (8) is larger than autoscale.max_workers (2)",
    ),
    Case(
        "autoscale-unknown-field",
        "cluster spec",
        _submit(_dbx(num_workers=_DROP, autoscale={"min_workers": 1, "max_workers": 2, "target": 9})),
        InvalidInputError,
        "autoscale has unknown fields: target",
    ),
    Case(
        "tag-not-string",
        "cluster spec",
        _submit(_dbx(custom_tags={"team": 7})),
        InvalidInputError,
        "custom_tags['team'] must be a string",
    ),
    Case(
        "spark-conf-not-object",
        "cluster spec",
        _submit(_dbx(spark_conf="a=b")),
        InvalidInputError,
        "spark_conf must be an object of strings",
    ),
    Case(
        "unknown-field-typo",
        "cluster spec",
        _submit(_dbx(num_worker=2)),
        InvalidInputError,
        "unknown field 'num_worker' (did you mean 'num_workers'?)",
    ),
    Case(
        "spec-not-object",
        "cluster spec",
        _submit(["spark_version", "13.3"]),
        InvalidInputError,
        "the cluster spec must be an object (got list)",
    ),
    Case(
        "availability-unknown",
        "cluster spec",
        _submit(_dbx(aws_attributes={"availability": "CHEAP"})),
        InvalidInputError,
        "aws_attributes.availability must be one of",
    ),
    Case(
        "ebs-negative",
        "cluster spec",
        _submit(_dbx(aws_attributes={"ebs_volume_size": -100})),
        InvalidInputError,
        "aws_attributes.ebs_volume_size must be a whole number >= 0",
    ),
    Case(
        "log-conf-elsewhere",
        "cluster spec",
        _submit(_dbx(cluster_log_conf={"dbfs": {"destination": "dbfs:/somewhere/else"}})),
        InvalidInputError,
        "cluster_log_conf.dbfs.destination is 'dbfs:/somewhere/else' but the Sync project needs",
    ),
    Case(
        "log-conf-two-kinds",
        "cluster spec",
        _submit(
            _dbx(cluster_log_conf={"dbfs": {"destination": "dbfs:/a"}, "s3": {"destination": "s3://b/c"}})
        ),
        InvalidInputError,
        "cluster_log_conf must have exactly one of s3, dbfs or volumes",
    ),
    Case(
        "two-task-types",
        "cluster spec",
        _submit(
            task={"notebook_task": {"notebook_path": "/a"}, "spark_python_task": {"python_file": "b.py"}}
        ),
        InvalidInputError,
        "give exactly one task type",
    ),
    Case(
        "task-on-existing-cluster",
        "cluster spec",
        _submit(task={**DBX_TASK, "existing_cluster_id": "0101-abc"}),
        InvalidInputError,
        "remove existing_cluster_id",
    ),
    Case(
        "task-not-object",
        "cluster spec",
        _submit(task="notebook_task"),
        InvalidInputError,
        "The task must be an object",
    ),
    Case(
        "run-name-empty",
        "cluster spec",
        _submit(run_name=""),
        InvalidInputError,
        "run_name must be a non-empty string",
    ),
    Case(
        "token-too-long",
        "cluster spec",
        _submit(idempotency_token="t" * 65),
        InvalidInputError,
        "idempotency token must have 1 to 64 characters (got 65)",
    ),
    Case(
        "run-settings-with-tasks",
        "cluster spec",
        _submit(run_settings={"tasks": []}),
        InvalidInputError,
        "run_settings must not contain tasks",
    ),
    Case(
        "location-http",
        "cluster spec",
        _submit(project_location="http://logs.example.com/x"),
        InvalidInputError,
        "is not supported for Databricks log delivery",
    ),
    Case(
        "location-dbfs-root",
        "cluster spec",
        _submit(project_location="dbfs:/"),
        InvalidInputError,
        "Project location 'dbfs:/' is not supported",
    ),
    Case(
        "s3-log-without-region",
        "cluster spec",
        _submit(
            _dbx(aws_attributes={"availability": "ON_DEMAND"}),
            project_location=f"s3://{BUCKET}/dbx",
            region=None,
        ),
        InvalidInputError,
        "the S3 log destination needs the bucket's AWS region",
    ),
    Case(
        "project-tag-conflict",
        "cluster spec",
        _submit(_dbx(custom_tags={"sync:project-id": "another"})),
        InvalidInputError,
        "custom_tags['sync:project-id'] is 'another'",
    ),
    Case(
        "project-id-traversal",
        "cluster spec",
        _submit(project_id="../x"),
        InvalidInputError,
        "project_id '../x' must be 1-128 letters",
    ),
    Case(
        "wait-run-id-text",
        "cluster spec",
        lambda ctx: wait_for_run(ctx.api, "abc"),
        InvalidInputError,
        "Databricks run id 'abc' is not a positive whole number",
    ),
    Case(
        "wait-run-id-negative",
        "cluster spec",
        lambda ctx: wait_for_run(ctx.api, -5),
        InvalidInputError,
        "Databricks run id -5 is not a positive whole number",
    ),
    Case(
        "cancel-run-id-bool",
        "cluster spec",
        lambda ctx: cancel_run(ctx.api, True),
        InvalidInputError,
        "Databricks run id True is not a positive whole number",
    ),
    Case(
        "apply-emr-prediction",
        "cluster spec",
        lambda ctx: cluster_spec_from_prediction(
            _prediction("aws-emr", _EMR_SOLUTION),
            "economy",
            DBX_SPEC,
            project_id="corpus-project",
            project_location=DBFS,
        ),
        PredictionError,
        "is for aws-emr, not aws-databricks",
    ),
    Case(
        "host-plain-http-remote",
        "cluster spec",
        lambda ctx: DatabricksRestClient("http://dbc-1.cloud.databricks.com", DBX_TOKEN),
        InvalidInputError,
        "uses plain http; only https:// is accepted",
    ),
    Case(
        "host-other-scheme",
        "cluster spec",
        lambda ctx: DatabricksRestClient("ftp://dbc-1", DBX_TOKEN),
        InvalidInputError,
        "is not a workspace URL",
    ),
    Case(
        "empty-token",
        "credentials",
        lambda ctx: DatabricksRestClient(ctx.dbx.url, " "),
        InvalidInputError,
        "The Databricks token is empty",
    ),
    Case(
        "wrong-token",
        "credentials",
        lambda ctx: submit_run(
            DatabricksGuard(DatabricksRestClient(ctx.dbx.url, "dapi-wrong", retries=0)),
            DBX_SPEC,
            DBX_TASK,
            project_id="p",
            project_location=DBFS,
            run_name="corpus",
            idempotency_token=None,
        ),
        DatabricksError,
        "UNAUTHENTICATED: Invalid access token",
    ),
]

PREFERENCE_CASES = [
    Case(
        "unknown-platform",
        "preference/platform",
        lambda ctx: create_prediction("aws-dataproc", ctx.report, KNOWN_ENDPOINT, client=ctx.sync),
        InvalidInputError,
        "Unknown platform 'aws-dataproc'; choose one of: aws-emr, aws-databricks",
    ),
    Case(
        "empty-platform",
        "preference/platform",
        lambda ctx: create_prediction("", ctx.report, ctx.logfile("p.log", _LOG), client=ctx.sync),
        InvalidInputError,
        "Unknown platform ''",
    ),
    Case(
        "get-unknown-preference",
        "preference/platform",
        lambda ctx: get_prediction("corpus-prediction", "fastest", client=ctx.sync),
        InvalidInputError,
        "Unknown preference 'fastest'; choose one of: performance, balanced, economy",
    ),
    Case(
        "wait-unknown-preference",
        "preference/platform",
        lambda ctx: wait_for_prediction("corpus-prediction", "cheapest", client=ctx.sync, timeout_s=1),
        InvalidInputError,
        "Unknown preference 'cheapest'",
    ),
    Case(
        "list-preference-number",
        "preference/platform",
        lambda ctx: list_predictions(preference=cast(Any, 42), client=ctx.sync),
        InvalidInputError,
        "Unknown preference 42",
    ),
    Case(
        "list-unknown-platform",
        "preference/platform",
        lambda ctx: list_predictions(platforms=["gcp-dataproc"], client=ctx.sync),
        InvalidInputError,
        "Unknown platform 'gcp-dataproc'",
    ),
    Case(
        "project-unknown-preference",
        "preference/platform",
        lambda ctx: create_project("p", "aws-emr", prediction_preference="turbo", client=ctx.sync),
        InvalidInputError,
        "Unknown preference 'turbo'",
    ),
    Case(
        "project-unknown-platform",
        "preference/platform",
        lambda ctx: create_project("p", "azure-hdinsight", client=ctx.sync),
        InvalidInputError,
        "Unknown platform 'azure-hdinsight'",
    ),
    Case(
        "settings-unknown-preference",
        "preference/platform",
        lambda ctx: load_settings("id", "secret", default_preference="max", env={}, directory=ctx.tmp),
        ConfigurationError,
        "Invalid Sync setting: 'max' is not a valid Preference",
    ),
    Case(
        "configure-unknown-preference",
        "preference/platform",
        lambda ctx: configure("id", "secret", default_preference="fastest", directory=ctx.tmp / "never"),
        InvalidInputError,
        "Unknown preference 'fastest'",
    ),
]

_IDS: list[tuple[str, str, Callable[..., Any]]] = [
    ("slash", "a/b", get_prediction),
    ("dot-dot", "..", get_prediction_status),
    ("encoded-dot-dot", "%2e%2e", get_prediction),
    ("query", "x?y=1", get_prediction_status),
    ("nul", "a\x00b", get_prediction),
    ("very-long", "p" * 300, get_prediction),
    ("empty", "", get_prediction_status),
    ("leading-space", " id", get_project),
    ("api-traversal", "../../v1/projects", delete_project),
    ("fragment", "id#frag", get_project),
    ("non-ascii", "prédiction", get_prediction),
    ("inner-dot-dot", "a..b", lambda value, client: update_project(value, name="x", client=client)),
]


def _id_call(value: str, function: Callable[..., Any]) -> Callable[[Ctx], Any]:
    return lambda ctx: function(value, client=ctx.sync)


ID_CASES = [
    Case(
        f"id-{name}",
        "ids",
        _id_call(value, function),
        InvalidInputError,
        "is not a valid identifier",
    )
    for name, value, function in _IDS
] + [
    Case(
        "create-project-id-traversal",
        "ids",
        lambda ctx: create_prediction(
            "aws-emr", ctx.report, ctx.logfile("i.log", _LOG), project_id="../other", client=ctx.sync
        ),
        InvalidInputError,
        "project_id '../other' is not a valid identifier",
    ),
    Case(
        "list-project-id-slash",
        "ids",
        lambda ctx: list_predictions(project_id="a/b", client=ctx.sync),
        InvalidInputError,
        "project_id 'a/b' is not a valid identifier",
    ),
    Case(
        "wait-id-traversal",
        "ids",
        lambda ctx: wait_for_prediction("../x", client=ctx.sync, timeout_s=1),
        InvalidInputError,
        "prediction_id '../x' is not a valid identifier",
    ),
]

URL_CASES = [
    Case("url-file", "event-log URL", _from_url("file:///etc/passwd"), InvalidInputError, "scheme 'file'"),
    Case(
        "url-ftp",
        "event-log URL",
        _from_url("ftp://logs.example.com/app.log"),
        InvalidInputError,
        "scheme 'ftp'",
    ),
    Case(
        "url-gopher",
        "event-log URL",
        _from_url("gopher://logs.example.com/1"),
        InvalidInputError,
        "scheme 'gopher'",
    ),
    Case("url-data", "event-log URL", _from_url("data:text/plain,{}"), InvalidInputError, "scheme 'data'"),
    Case(
        "url-javascript",
        "event-log URL",
        _from_url("javascript:alert(1)"),
        InvalidInputError,
        "scheme 'javascript'",
    ),
    Case(
        "url-plain-http-remote",
        "event-log URL",
        _from_url("http://logs.example.com/app.log"),
        InvalidInputError,
        "uses plain http; only https:// is accepted",
    ),
    Case(
        "url-metadata-v4",
        "event-log URL",
        _from_url(KNOWN_ENDPOINT),
        InvalidInputError,
        "'169.254.169.254' is a link-local or metadata address",
    ),
    Case(
        "url-metadata-http",
        "event-log URL",
        _from_url("http://169.254.169.254/latest/user-data"),
        InvalidInputError,
        "is a link-local or metadata address",
    ),
    Case(
        "url-link-local-v6",
        "event-log URL",
        _from_url("https://[fe80::1]/app.log"),
        InvalidInputError,
        "'fe80::1' is a link-local or metadata address",
    ),
    Case(
        "url-gcp-metadata",
        "event-log URL",
        _from_url("https://metadata.google.internal/computeMetadata/v1/"),
        InvalidInputError,
        "'metadata.google.internal' is a link-local or metadata address",
    ),
    Case(
        "url-metadata-upper-case",
        "event-log URL",
        _from_url("HTTPS://169.254.169.254/latest"),
        InvalidInputError,
        "is a link-local or metadata address",
    ),
    Case(
        "url-mapped-v6-metadata",
        "event-log URL",
        _from_url("https://[::ffff:169.254.169.254]/latest"),
        InvalidInputError,
        "link-local or metadata",
    ),
    Case(
        "url-trailing-dot-metadata",
        "event-log URL",
        _from_url("https://169.254.169.254./latest"),
        InvalidInputError,
        "link-local or metadata",
    ),
    Case(
        "url-trailing-dot-gcp",
        "event-log URL",
        _from_url("https://metadata.google.internal./computeMetadata"),
        InvalidInputError,
        "link-local or metadata",
    ),
    Case(
        "url-decimal-metadata",
        "event-log URL",
        _from_url("https://2852039166/latest"),
        InvalidInputError,
        "link-local or metadata",
    ),
    Case(
        "url-aws-imds-v6",
        "event-log URL",
        _from_url("https://[fd00:ec2::254]/latest"),
        InvalidInputError,
        "link-local or metadata",
    ),
    Case(
        "url-s3-missing-object",
        "event-log URL",
        _from_url(f"s3://{BUCKET}/missing/application_1_1"),
        StorageError,
        f"Cannot read event log s3://{BUCKET}/missing/application_1_1 (404)",
    ),
    Case(
        "url-s3-no-key",
        "event-log URL",
        _from_url(f"s3://{BUCKET}"),
        InvalidInputError,
        "is not an S3 object URL",
    ),
    Case(
        "local-missing",
        "event-log URL",
        lambda ctx: create_prediction("aws-emr", ctx.report, ctx.tmp / "no-such-log", client=ctx.sync),
        InvalidInputError,
        "does not exist",
    ),
    Case(
        "local-with-upload-false",
        "event-log URL",
        lambda ctx: create_prediction(
            "aws-emr", ctx.report, "/var/log/app.log", upload=False, client=ctx.sync
        ),
        InvalidInputError,
        "is a local path; it can only be uploaded",
    ),
]

EVENTLOG_CASES = [
    Case("emr-no-log", "event log", _record_emr({}), EventLogError, "No Spark event log in"),
    Case(
        "emr-empty",
        "event log",
        _record_emr({"application_1_0001": b""}),
        EventLogError,
        "is empty: it holds no events",
    ),
    Case(
        "emr-truncated",
        "event log",
        _record_emr({"application_1_0001": _TRUNCATED}),
        EventLogError,
        "is cut off",
    ),
    Case(
        "emr-no-end",
        "event log",
        _record_emr({"application_1_0001": b"".join(x for x in _LINES if b"ApplicationEnd" not in x)}),
        EventLogError,
        "no SparkListenerApplicationEnd event",
    ),
    Case(
        "emr-inprogress",
        "event log",
        _record_emr({"application_1_0001.inprogress": _LOG}),
        EventLogError,
        "in-progress file application_1_0001.inprogress",
    ),
    Case(
        "emr-foreign-json",
        "event log",
        _record_emr({"application_1_0001": _FOREIGN}),
        EventLogError,
        "is not a Spark event log",
    ),
    Case(
        "emr-binary",
        "event log",
        _record_emr({"application_1_0001": _BINARY}),
        EventLogError,
        "is not a Spark event log",
    ),
    Case(
        "emr-plain-text",
        "event log",
        _record_emr({"application_1_0001": b"hello\nnot spark\n"}),
        EventLogError,
        "holds no Spark events",
    ),
    Case(
        "emr-corrupt-gzip",
        "event log",
        _record_emr({"application_1_0001.gz": b"\x1f\x8b\x08\x00" + b"garbage" * 40}),
        EventLogError,
        "the gzip data is corrupt",
    ),
    Case(
        "emr-mixed-applications",
        "event log",
        _record_emr({"application_1_0001": _MIXED}),
        EventLogError,
        "more than one application",
    ),
    Case(
        "emr-two-applications",
        "event log",
        _record_emr({"application_1_0001": _LOG, "application_1_0002": gzip.compress(_LOG)}),
        EventLogError,
        "holds event logs of 2 Spark applications",
    ),
    Case("dbx-binary", "event log", _record_dbx(_BINARY), EventLogError, "is not a Spark event log"),
    Case("dbx-foreign-json", "event log", _record_dbx(_FOREIGN), EventLogError, "is not a Spark event log"),
    Case("dbx-truncated", "event log", _record_dbx(_TRUNCATED), EventLogError, "is incomplete after waiting"),
    Case("upload-empty", "event log", _upload("application_1_0001", b""), InvalidInputError, "is empty"),
    Case(
        "upload-binary",
        "event log",
        _upload("application_1_0002", _BINARY),
        EventLogError,
        "is not a Spark event log",
    ),
    Case(
        "upload-foreign-json",
        "event log",
        _upload("application_1_0003", _FOREIGN),
        EventLogError,
        "is not a Spark event log",
    ),
    Case(
        "upload-truncated",
        "event log",
        _upload("application_1_0004", _TRUNCATED),
        EventLogError,
        "last line of application_1_0004 is cut off",
    ),
]

CONFIG_CASES = [
    Case(
        "settings-missing",
        "configuration",
        lambda ctx: load_settings(env={}, directory=_config_dir(ctx, "cfg-empty", None)),
        ConfigurationError,
        "Missing Sync setting: API key ID",
    ),
    Case(
        "settings-missing-secret",
        "configuration",
        lambda ctx: load_settings("id", env={}, directory=_config_dir(ctx, "cfg-empty", None)),
        ConfigurationError,
        "API key secret (argument 'api_key_secret'",
    ),
    Case(
        "credentials-not-json",
        "configuration",
        lambda ctx: load_settings(env={}, directory=_config_dir(ctx, "cfg-bad", "{not json")),
        ConfigurationError,
        "is not valid JSON",
    ),
    Case(
        "credentials-not-object",
        "configuration",
        lambda ctx: load_settings(env={}, directory=_config_dir(ctx, "cfg-list", "[1, 2]")),
        ConfigurationError,
        "must hold a JSON object",
    ),
    Case(
        "settings-url-scheme",
        "configuration",
        lambda ctx: load_settings("id", "secret", "ftp://api.example.com", env={}, directory=ctx.tmp),
        ConfigurationError,
        "Invalid Sync setting: api_url",
    ),
    Case(
        "no-client-no-config",
        "configuration",
        _with_env(
            {"SYNC_CONFIG_DIR": "{tmp}"},
            lambda ctx: create_prediction("aws-emr", ctx.report, ctx.logfile("c.log", _LOG)),
        ),
        ConfigurationError,
        "Missing Sync setting",
    ),
    Case(
        "configure-empty-secret",
        "configuration",
        lambda ctx: configure("id", "", directory=ctx.tmp / "never"),
        InvalidInputError,
        "Both an API key ID and an API key secret are required",
    ),
    Case(
        "wrong-secret",
        "credentials",
        lambda ctx: create_prediction(
            "aws-emr", ctx.report, ctx.logfile("w.log", _LOG), client=ctx.bad_sync()
        ),
        AuthenticationError,
        "The Sync API refused API key ID 'corpus-key'",
    ),
    Case(
        "unknown-key-id",
        "credentials",
        lambda ctx: list_predictions(client=ctx.bad_sync("someone-else", KEY_SECRET)),
        AuthenticationError,
        "refused API key ID 'someone-else'",
    ),
    Case(
        "report-not-object",
        "cluster report",
        lambda ctx: create_prediction(
            "aws-emr", cast(Any, [1, 2]), ctx.logfile("r.log", _LOG), client=ctx.sync
        ),
        InvalidInputError,
        "The cluster report must be a non-empty JSON object",
    ),
    Case(
        "report-empty",
        "cluster report",
        lambda ctx: create_prediction("aws-emr", {}, ctx.logfile("r.log", _LOG), client=ctx.sync),
        InvalidInputError,
        "The cluster report must be a non-empty JSON object",
    ),
    Case(
        "report-nan",
        "cluster report",
        lambda ctx: create_prediction(
            "aws-emr", {"Cluster": {"x": float("nan")}}, ctx.logfile("r.log", _LOG), client=ctx.sync
        ),
        InvalidInputError,
        "The cluster report is not JSON-serialisable",
    ),
    Case(
        "report-set",
        "cluster report",
        lambda ctx: create_prediction_from_url(
            "aws-emr", {"Cluster": {"ids": {1, 2}}}, KNOWN_ENDPOINT, client=ctx.sync
        ),
        InvalidInputError,
        "The cluster report is not JSON-serialisable",
    ),
    Case(
        "report-cluster-not-object",
        "cluster report",
        lambda ctx: emr.save_cluster_report(ctx.s3, {"Cluster": "j-1"}),
        InvalidInputError,
        "The cluster report has no 'Cluster' object",
    ),
    Case(
        "dbx-report-not-object",
        "cluster report",
        lambda ctx: collect_eventlog(ctx.api, cast(Any, "cluster-1")),
        InvalidInputError,
        "The cluster report has no cluster",
    ),
]

CASES = EMR_CASES + DATABRICKS_CASES + PREFERENCE_CASES + ID_CASES + URL_CASES + EVENTLOG_CASES + CONFIG_CASES


# ------------------------------------------------------------------------------------------ checks


def _keys(ctx: Ctx) -> frozenset[str]:
    keys: set[str] = set()
    for page in ctx.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys |= {item["Key"] for item in page.get("Contents", [])}
    return frozenset(keys)


def snapshot(ctx: Ctx) -> dict[str, Any]:
    """What a bad input must not change."""
    return {
        "Sync predictions": len(ctx.server.predictions()),
        "Sync projects": len(ctx.server.projects()),
        "EMR RunJobFlow calls": ctx.emr_guard.attempts,
        "EMR clusters": ctx.sim.run_job_flow_count(),
        "Databricks runs/submit calls": ctx.api.submits,
        "Databricks runs": ctx.dbx.submit_count(),
        "S3 objects": _keys(ctx),
        "DBFS files": frozenset(ctx.dbx.dbfs_files()),
        "local config": sorted(p.name for p in ctx.tmp.glob("never*")),
    }


def error_of(outcome: Any) -> BaseException | None:
    """The typed error a call produced: raised, or carried in a ``Response``."""
    if isinstance(outcome, Response):
        return None if outcome.ok else outcome.error.to_exception()  # type: ignore[union-attr]
    return None


def _params(cases: list[Case]) -> list[Any]:
    params = []
    for case in cases:
        marks = [pytest.mark.xfail(reason=case.known, strict=True)] if case.known else []
        params.append(pytest.param(case, id=f"{case.category}:{case.id}", marks=marks))
    return params


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_is_refused_with_a_typed_error_and_nothing_happens(
    ctx: Ctx, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.monkeypatch = monkeypatch
    prepare = getattr(case.call, "prepare", None)
    if prepare is not None:
        prepare(ctx)
    before = snapshot(ctx)
    try:
        try:
            outcome = case.call(ctx)
        except Exception as exc:
            error: BaseException | None = exc
        else:
            error = error_of(outcome)
            assert error is not None, f"accepted: {outcome!r}"[:500]
        after = snapshot(ctx)
    finally:
        cleanup = getattr(case.call, "cleanup", None)
        if cleanup is not None:
            cleanup(ctx)
    assert isinstance(error, case.expected if isinstance(case.expected, type) else Exception), (
        f"expected {case.expected}, got {type(error).__name__}: {error}"
    )
    message = getattr(error, "message", None) or str(error)
    assert case.fragment in message, f"{case.fragment!r} not in {message!r}"
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    assert not changed, f"something was launched or written: {changed}"


def test_the_corpus_has_at_least_60_cases_in_every_category() -> None:
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.category] = counts.get(case.category, 0) + 1
    assert len({(c.category, c.id) for c in CASES}) == len(CASES), "case ids repeat"
    assert len(CASES) >= 60, counts
    for category in (
        "RunJobFlow",
        "cluster spec",
        "preference/platform",
        "ids",
        "event-log URL",
        "event log",
        "configuration",
        "credentials",
        "cluster report",
    ):
        assert counts.get(category, 0) >= 2, (category, counts)


# ---------------------------------------------------------------------------------- Airflow level


@pytest.fixture
def airflow_conns(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    pytest.importorskip("airflow")
    host, port = ctx.server.url.removeprefix("http://").split(":")
    base = {"conn_type": "sync", "host": host, "schema": "http", "port": int(port), "login": KEY_ID}
    conns = {
        "corpus_wrong_secret": {**base, "password": KEY_SECRET + "-wrong"},
        "corpus_no_secret": dict(base),
        "corpus_bad_scheme": {**base, "schema": "ftp", "password": KEY_SECRET},
        "corpus_ok": {**base, "password": KEY_SECRET},
    }
    for conn_id, fields in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    monkeypatch.delenv("AIRFLOW_CONN_CORPUS_MISSING", raising=False)
    return {k: k for k in conns}


def _hook(conn_id: str) -> Callable[[Ctx], Any]:
    def call(ctx: Ctx) -> Any:
        from sync_provider.hooks.sync import SyncHook

        return SyncHook(conn_id).get_client()

    return call


def _operator(conn_id: str, **kwargs: Any) -> Callable[[Ctx], Any]:
    def call(ctx: Ctx) -> Any:
        from sync_provider.operators.sync import SyncCreatePredictionOperator

        options = {
            "platform": "aws-emr",
            "cluster_report": ctx.report,
            "eventlog": str(ctx.logfile("af.log", _LOG)),
            **kwargs,
        }
        operator = SyncCreatePredictionOperator(task_id="corpus", sync_conn_id=conn_id, **options)
        return operator.execute({})

    return call


def _get_operator(prediction_id: str) -> Callable[[Ctx], Any]:
    def call(ctx: Ctx) -> Any:
        from sync_provider.operators.sync import SyncGetPredictionOperator

        return SyncGetPredictionOperator(
            task_id="corpus", sync_conn_id="corpus_ok", prediction_id=prediction_id
        ).execute({})

    return call


AIRFLOW_CASES = [
    Case("unknown-connection", "Airflow", _hook("corpus_missing"), "AirflowException", "corpus_missing"),
    Case(
        "connection-without-secret",
        "Airflow",
        _hook("corpus_no_secret"),
        "AirflowException",
        "has no password (API key secret)",
    ),
    Case(
        "connection-bad-scheme",
        "Airflow",
        _hook("corpus_bad_scheme"),
        "AirflowException",
        "scheme 'ftp' is not supported",
    ),
    Case(
        "operator-wrong-secret",
        "Airflow",
        _operator("corpus_wrong_secret"),
        "AirflowException",
        "refused API key ID 'corpus-key'",
    ),
    Case(
        "operator-unknown-platform",
        "Airflow",
        _operator("corpus_ok", platform="gcp-dataproc"),
        "AirflowException",
        "Unknown platform 'gcp-dataproc'",
    ),
    Case(
        "operator-metadata-url",
        "Airflow",
        _operator("corpus_ok", eventlog=KNOWN_ENDPOINT),
        "AirflowException",
        "is a link-local or metadata address",
    ),
    Case(
        "get-operator-traversal-id",
        "Airflow",
        _get_operator("../../v1/projects"),
        "AirflowException",
        "is not a valid identifier",
    ),
]


@pytest.mark.airflow
@pytest.mark.parametrize("case", _params(AIRFLOW_CASES))
def test_bad_airflow_input_is_an_airflow_exception_with_the_core_message(
    ctx: Ctx, case: Case, airflow_conns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowException

    ctx.monkeypatch = monkeypatch
    before = snapshot(ctx)
    with pytest.raises(AirflowException) as raised:
        case.call(ctx)
    assert case.fragment in str(raised.value), str(raised.value)
    after = snapshot(ctx)
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    assert not changed, f"something was launched or written: {changed}"


def corpus_counts() -> dict[str, int]:
    """Cases per category (for the documentation)."""
    counts: dict[str, int] = {}
    for case in CASES + AIRFLOW_CASES:
        counts[case.category] = counts.get(case.category, 0) + 1
    return counts
