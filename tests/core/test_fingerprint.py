"""Code fingerprints: EMR (against moto's S3 server) and Databricks (against a fake DatabricksApi)."""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_provider.core import fingerprint as fp
from sync_provider.core.databricks import DatabricksAPIError
from sync_provider.core.errors import InvalidInputError
from sync_provider.core.models import Prediction
from sync_provider.testing.aws import AwsSimulator

CODE = "code-bucket"
VERSIONED = "versioned-code"
PROJECTS = "sync-projects"
PROJECT = "11111111-2222-3333-4444-555555555555"
RUN = "22222222-3333-4444-5555-666666666666"
RUN_PREFIX = f"s3://{PROJECTS}/runs/{PROJECT}/2026-01-01T00-00-00Z/{RUN}/"


@pytest.fixture(scope="module")
def simulator() -> Iterator[AwsSimulator]:
    with AwsSimulator(step_wall_s=0.1, bootstrap_wall_s=0.1) as sim:
        yield sim


@pytest.fixture
def s3(simulator: AwsSimulator) -> Any:
    simulator.reset()
    for bucket in (CODE, VERSIONED, PROJECTS):
        simulator.create_bucket(bucket)
    client = simulator.client("s3")
    client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=CODE, Key="jobs/etl.py", Body=b"print('etl v1')\n")
    client.put_object(Bucket=CODE, Key="jobs/deps.zip", Body=b"PK deps")
    client.put_object(Bucket=CODE, Key="jars/udfs.jar", Body=b"jar bytes")
    client.put_object(Bucket=CODE, Key="bootstrap/install.sh", Body=b"#!/bin/sh\npip install x\n")
    client.put_object(Bucket=VERSIONED, Key="jobs/etl.py", Body=b"print('etl v1')\n")
    return client


def step(args: list[str], jar: str = "command-runner.jar", name: str = "etl") -> dict[str, Any]:
    return {"Name": name, "ActionOnFailure": "TERMINATE_CLUSTER", "HadoopJarStep": {"Jar": jar, "Args": args}}


def job_flow(*steps: dict[str, Any], bucket: str = CODE) -> dict[str, Any]:
    return {
        "Name": "nightly",
        "Steps": list(steps)
        or [
            step(
                [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    "--py-files",
                    f"s3://{bucket}/jobs/deps.zip",
                    f"s3://{bucket}/jobs/etl.py",
                    "--input",
                    f"s3://{bucket}/data/2026-01-01/",
                ]
            )
        ],
        "BootstrapActions": [
            {
                "Name": "install",
                "ScriptBootstrapAction": {"Path": f"s3://{CODE}/bootstrap/install.sh", "Args": []},
            }
        ],
    }


def locations(fingerprint: fp.CodeFingerprint) -> dict[str, fp.CodeItem]:
    return {item.location: item for item in fingerprint.items}


# ------------------------------------------------------------------------------------------- EMR


def test_the_same_code_gives_the_same_hash_and_reads_only_code(s3: Any) -> None:
    first = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    second = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    assert first.hash == second.hash and len(first.hash) == 64
    assert not first.partial
    items = locations(first)
    assert set(items) == {
        "steps[0]",
        "bootstrap-actions[0]",
        f"s3://{CODE}/jobs/etl.py",
        f"s3://{CODE}/jobs/deps.zip",
        f"s3://{CODE}/bootstrap/install.sh",
    }  # the data folder is hashed as an argument, never read
    etl = items[f"s3://{CODE}/jobs/etl.py"]
    assert etl.how == "content-sha256" and etl.identity is not None and etl.identity.startswith("sha256:")
    assert items["steps[0]"].note == "etl"
    diff = fp.compare_fingerprints(first, second)
    assert diff.same and not diff.code_changed and diff.describe().endswith(": unchanged")


def test_changed_script_content_changes_the_hash_and_the_diff_names_it(s3: Any) -> None:
    before = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    s3.put_object(Bucket=CODE, Key="jobs/etl.py", Body=b"print('etl v2')\n")
    after = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    assert before.hash != after.hash
    diff = fp.compare_fingerprints(before, after)
    assert diff.code_changed and not diff.added and not diff.removed
    old = locations(before)[f"s3://{CODE}/jobs/etl.py"].identity
    new = locations(after)[f"s3://{CODE}/jobs/etl.py"].identity
    assert diff.changed == [f"s3-object s3://{CODE}/jobs/etl.py (etl): {old} -> {new}"]
    assert before.hash in diff.describe() and after.hash in diff.describe()


def test_versioned_buckets_use_the_version_id(s3: Any) -> None:
    request = job_flow(step(["spark-submit", f"s3://{VERSIONED}/jobs/etl.py"]))
    before = fp.fingerprint_emr(request, s3_client=s3).unwrap()
    item = locations(before)[f"s3://{VERSIONED}/jobs/etl.py"]
    head = s3.head_object(Bucket=VERSIONED, Key="jobs/etl.py")
    assert item.how == "s3-version-id" and item.identity == f"version:{head['VersionId']}"
    s3.put_object(Bucket=VERSIONED, Key="jobs/etl.py", Body=b"print('etl v2')\n")
    after = fp.fingerprint_emr(request, s3_client=s3).unwrap()
    newer = s3.head_object(Bucket=VERSIONED, Key="jobs/etl.py")["VersionId"]
    diff = fp.compare_fingerprints(before, after)
    assert diff.changed == [
        f"s3-object s3://{VERSIONED}/jobs/etl.py (etl): version:{head['VersionId']} -> version:{newer}"
    ]


class DenyingS3:
    """An S3 client that answers AccessDenied for one key (moto's server does not enforce IAM)."""

    def __init__(self, client: Any, denied_key: str) -> None:
        self.client, self.denied_key = client, denied_key

    def head_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"] == self.denied_key:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")
        return self.client.head_object(**kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        return self.client.get_object(**kwargs)


def test_missing_and_denied_objects_are_listed_and_make_it_partial(s3: Any) -> None:
    request = job_flow(
        step(["spark-submit", "--jars", f"s3://{CODE}/jars/udfs.jar", f"s3://{CODE}/jobs/missing.py"]),
        step(["bash", "-c", "aws s3 cp s3://nope-bucket/x.sh . && sh x.sh"], name="shell"),
    )
    fingerprint = fp.fingerprint_emr(request, s3_client=DenyingS3(s3, "jars/udfs.jar")).unwrap()
    assert fingerprint.partial
    joined = " | ".join(fingerprint.unreadable)
    assert f"s3://{CODE}/jobs/missing.py (etl): not found (404)" in joined
    assert f"s3://{CODE}/jars/udfs.jar (etl): access denied (403)" in joined
    assert "s3://nope-bucket/x.sh (shell): " in joined
    assert locations(fingerprint)[f"s3://{CODE}/jobs/missing.py"].identity is None
    # Unreadable both times: the same hash, and the comparison says it could not compare them.
    again = fp.fingerprint_emr(request, s3_client=DenyingS3(s3, "jars/udfs.jar")).unwrap()
    assert again.hash == fingerprint.hash
    diff = fp.compare_fingerprints(fingerprint, again)
    assert not diff.code_changed
    assert any("jobs/missing.py (etl) (unreadable before and now)" in u for u in diff.unknown)
    # Readable now: not a change either, but noted.
    s3.put_object(Bucket=CODE, Key="jobs/missing.py", Body=b"x")
    readable = fp.fingerprint_emr(request, s3_client=s3).unwrap()
    diff = fp.compare_fingerprints(fingerprint, readable)
    assert not diff.code_changed and any("(unreadable before)" in u for u in diff.unknown)


def test_step_kinds_jars_script_runner_and_large_objects(s3: Any) -> None:
    s3.put_object(Bucket=CODE, Key="jobs/run.sh", Body=b"echo ok")
    request = job_flow(
        step(["com.example.Main", "arg"], jar=f"s3://{CODE}/jars/udfs.jar", name="jar"),
        step(
            [f"s3://{CODE}/jobs/run.sh", "x"],
            jar="s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar",
            name="script",
        ),
        step(
            ["spark-submit --py-files s3://code-bucket/jobs/deps.zip s3://code-bucket/jobs/etl.py"],
            name="one",
        ),
    )
    fingerprint = fp.fingerprint_emr(request, s3_client=s3, max_content_bytes=8).unwrap()
    items = locations(fingerprint)
    assert "s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar" not in items
    assert items[f"s3://{CODE}/jobs/run.sh"].how == "content-sha256"  # 7 bytes: read
    assert items[f"s3://{CODE}/jars/udfs.jar"].how == "s3-etag"  # 9 bytes > 8: identified by ETag
    assert items[f"s3://{CODE}/jars/udfs.jar"].identity == "etag:" + s3.head_object(
        Bucket=CODE, Key="jars/udfs.jar"
    )["ETag"].strip('"')
    assert {f"s3://{CODE}/jobs/etl.py", f"s3://{CODE}/jobs/deps.zip"} <= set(items)


def test_include_args_false_ignores_changing_arguments(s3: Any) -> None:
    def run(day: str, jars: str) -> fp.CodeFingerprint:
        args = ["spark-submit", "--jars", jars, f"s3://{CODE}/jobs/etl.py", "--date", day]
        return fp.fingerprint_emr(job_flow(step(args)), s3_client=s3, include_args=False).unwrap()

    jar_a, jar_b = f"s3://{CODE}/jars/udfs.jar", f"s3://{CODE}/jobs/deps.zip"
    assert run("2026-01-01", f"{jar_a},{jar_b}").hash == run("2026-01-02", f"{jar_b},{jar_a}").hash
    with_args = fp.fingerprint_emr(
        job_flow(step(["spark-submit", f"s3://{CODE}/jobs/etl.py", "--date", "2026-01-01"])), s3_client=s3
    ).unwrap()
    other_day = fp.fingerprint_emr(
        job_flow(step(["spark-submit", f"s3://{CODE}/jobs/etl.py", "--date", "2026-01-02"])), s3_client=s3
    ).unwrap()
    assert with_args.hash != other_day.hash
    assert (
        fp.compare_fingerprints(with_args, other_day)
        .changed[0]
        .startswith("emr-step steps[0] (etl): sha256:")
    )


def test_a_cluster_report_fingerprints_like_its_request(s3: Any) -> None:
    request = job_flow()
    report = {
        "Cluster": {
            "BootstrapActions": [
                {"Name": "install", "ScriptPath": f"s3://{CODE}/bootstrap/install.sh", "Args": []}
            ]
        },
        "Steps": [{"Name": s["Name"], "Config": s["HadoopJarStep"]} for s in request["Steps"]],
    }
    assert (
        fp.fingerprint_emr(report, s3_client=s3).unwrap().hash
        == fp.fingerprint_emr(request, s3_client=s3).unwrap().hash
    )
    assert fp.fingerprint_emr([], s3_client=s3).error is not None  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(6))))
def test_the_hash_does_not_depend_on_item_order(order: list[int]) -> None:
    items = [
        fp.CodeItem(kind="library", location=f"pypi:pkg{i}", identity=f"pkg{i}==1.{i}", how="spec")
        for i in range(6)
    ]
    assert fp.CodeFingerprint.build([items[i] for i in order]).hash == fp.CodeFingerprint.build(items).hash


# ---------------------------------------------------------------------------- tags and run files


def test_tags_are_added_replaced_and_read_back() -> None:
    value = "a" * 64
    request = fp.add_code_hash_to_emr_request(
        {"Tags": [{"Key": "team", "Value": "x"}, {"Key": fp.CODE_HASH_TAG, "Value": "b" * 64}]}, value
    )
    assert request["Tags"] == [{"Key": "team", "Value": "x"}, {"Key": fp.CODE_HASH_TAG, "Value": value}]
    spec = fp.add_code_hash_to_databricks_spec({"custom_tags": {"team": "x"}}, value)
    assert spec["custom_tags"] == {"team": "x", fp.CODE_HASH_TAG: value}
    assert fp.code_hash_of(request) == value and fp.code_hash_of(spec) == value
    assert fp.code_hash_of({"Cluster": {"Tags": request["Tags"]}}) == value
    assert fp.code_hash_of({"cluster": {"custom_tags": spec["custom_tags"]}}) == value
    basis = Prediction.model_validate(
        {
            "prediction_id": "p",
            "basis": {"configuration": spec, "metrics": {"runtime": 1, "cost": 1}},
        }
    )
    assert fp.code_hash_of(basis) == value and fp.code_hash_of({}) is None
    with pytest.raises(InvalidInputError, match="64 lowercase hex digits"):
        fp.add_code_hash_to_emr_request({}, "short")


def emr_prediction(tags: list[dict[str, str]]) -> Prediction:
    configuration = {
        "Instances": {},
        "Tags": tags,
        "Configurations": [
            {
                "Classification": "spark-defaults",
                "Properties": {"spark.eventLog.dir": RUN_PREFIX.replace("s3://", "s3a://") + "eventlog/"},
            }
        ],
    }
    return Prediction.model_validate(
        {
            "prediction_id": "pred-1",
            "basis": {"configuration": configuration, "metrics": {"runtime": 1, "cost": 1}},
        }
    )


def test_basis_fingerprint_from_the_run_folder_and_the_code_change_check(
    s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    url = fp.save_fingerprint(before, RUN_PREFIX, s3_client=s3).unwrap()
    assert url == RUN_PREFIX + fp.FINGERPRINT_FILE
    assert fp.load_fingerprint(url, s3_client=s3).unwrap() == before
    pred = emr_prediction([{"Key": fp.CODE_HASH_TAG, "Value": before.hash}])
    basis = fp.basis_fingerprint(pred, s3_client=s3).unwrap()
    assert basis.fingerprint == before and basis.url == url and basis.problem is None

    caplog.set_level(logging.INFO, logger="sync_provider.core.fingerprint")
    assert not fp.check_code_change(basis, before).code_changed  # type: ignore[union-attr]
    assert "Code unchanged" in caplog.text

    s3.put_object(Bucket=CODE, Key="jobs/etl.py", Body=b"print('etl v2')\n")
    after = fp.fingerprint_emr(job_flow(), s3_client=s3).unwrap()
    caplog.clear()
    diff = fp.check_code_change(basis, after)
    assert diff is not None and diff.code_changed
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING).getMessage()
    assert before.hash in warning and after.hash in warning and f"s3://{CODE}/jobs/etl.py" in warning
    with pytest.raises(fp.CodeChangedError, match=r"jobs/etl\.py") as info:
        fp.check_code_change(basis, after, on_code_change="fail")
    assert before.hash in info.value.message and after.hash in info.value.message
    assert info.value.detail["previous_hash"] == before.hash

    # A tag that disagrees with the file: the file wins, and the problem says so.
    other_tag = emr_prediction([{"Key": fp.CODE_HASH_TAG, "Value": "c" * 64}])
    mismatch = fp.basis_fingerprint(other_tag, s3_client=s3).unwrap()
    assert mismatch.fingerprint == before and "differs from" in str(mismatch.problem)
    # Only the tag: the hashes differ, but what changed cannot be named.
    s3.delete_object(Bucket=PROJECTS, Key=url.split(f"{PROJECTS}/", 1)[1])
    tag_only = fp.basis_fingerprint(
        emr_prediction([{"Key": fp.CODE_HASH_TAG, "Value": "c" * 64}]), s3_client=s3
    )
    result = tag_only.unwrap()
    assert (
        result.fingerprint is None and result.hash == "c" * 64 and "could not be read" in str(result.problem)
    )
    with pytest.raises(fp.CodeChangedError, match="only its sync:code-hash tag"):
        fp.check_code_change(result, after, on_code_change="fail")
    # No fingerprint at all: nothing to compare, never fails.
    caplog.clear()
    assert fp.check_code_change(None, after, on_code_change="fail") is None
    assert "no recorded code fingerprint" in caplog.text
    with pytest.raises(InvalidInputError, match="'warn' or 'fail'"):
        fp.check_code_change(before, after, on_code_change="ignore")


# ------------------------------------------------------------------------------------ Databricks


class FakeDatabricks:
    """A DatabricksApi with workspace objects, DBFS files and per-path failures."""

    def __init__(self) -> None:
        self.workspace: dict[str, tuple[str, bytes, int]] = {}  # path -> (object type, content, modified_at)
        self.dbfs: dict[str, bytes] = {}
        self.denied: set[str] = set()
        self.export_denied: set[str] = set()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @staticmethod
    def error(status: int, code: str, message: str) -> DatabricksAPIError:
        return DatabricksAPIError(f"{code}: {message}", error_code=code, status=status)

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        params = dict(body or {})
        self.calls.append((path, params))
        target = params.get("path", "")
        if target in self.denied:
            raise self.error(403, "PERMISSION_DENIED", f"no access to {target}")
        if path == "2.0/workspace/export":
            if target in self.export_denied:
                raise self.error(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", "too large to export")
            if target not in self.workspace:
                raise self.error(404, "RESOURCE_DOES_NOT_EXIST", f"{target} does not exist")
            return {"content": base64.b64encode(self.workspace[target][1]).decode(), "file_type": "py"}
        if path == "2.0/workspace/get-status":
            if target not in self.workspace:
                raise self.error(404, "RESOURCE_DOES_NOT_EXIST", f"{target} does not exist")
            kind, _, modified = self.workspace[target]
            return {"path": target, "object_type": kind, "object_id": 42, "modified_at": modified}
        if path == "2.0/dbfs/get-status":
            if target not in self.dbfs:
                raise self.error(
                    404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {target}."
                )
            return {
                "path": target,
                "is_dir": False,
                "file_size": len(self.dbfs[target]),
                "modification_time": 7,
            }
        if path == "2.0/dbfs/read":
            assert params["length"] <= 1024 * 1024
            data = self.dbfs[target][params["offset"] : params["offset"] + params["length"]]
            return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}
        if path == "2.0/dbfs/put":
            self.dbfs[target] = base64.b64decode(params["contents"])
            return {}
        raise self.error(404, "ENDPOINT_NOT_FOUND", path)


@pytest.fixture
def api() -> FakeDatabricks:
    fake = FakeDatabricks()
    fake.workspace["/Users/me/etl.py"] = ("FILE", b"print('v1')\n", 1000)
    fake.workspace["/Users/me/Report"] = ("NOTEBOOK", b"# Databricks notebook source\nx = 1\n", 2000)
    fake.dbfs["/FileStore/jars/udfs.jar"] = random.Random(0).randbytes(2 * 1024 * 1024 + 17)
    fake.dbfs["/FileStore/wheels/lib-1.0-py3-none-any.whl"] = b"wheel"
    return fake


def python_task(**extra: Any) -> dict[str, Any]:
    return {
        "task_key": "etl",
        "spark_python_task": {
            "python_file": "/Workspace/Users/me/etl.py",
            "parameters": ["--date", "2026-01-01"],
        },
        "libraries": [
            {"jar": "dbfs:/FileStore/jars/udfs.jar"},
            {"whl": "dbfs:/FileStore/wheels/lib-1.0-py3-none-any.whl"},
            {"pypi": {"package": "pandas==2.0.3"}},
            {"maven": {"coordinates": "com.example:udf:1.2"}},
        ],
        **extra,
    }


def test_databricks_unchanged_and_library_order(api: FakeDatabricks) -> None:
    first = fp.fingerprint_databricks(python_task(), api=api).unwrap()
    task = python_task()
    task["libraries"].reverse()
    second = fp.fingerprint_databricks(task, api=api).unwrap()
    assert first.hash == second.hash and not first.partial
    items = locations(first)
    assert items["/Workspace/Users/me/etl.py"].how == "workspace-export-sha256"
    assert items["dbfs:/FileStore/jars/udfs.jar"].how == "content-sha256"
    assert items["pypi:pandas"].identity == "pandas==2.0.3"
    assert items["maven:com.example:udf"].identity == "com.example:udf:1.2"
    reads = [
        p for p, params in api.calls if p == "2.0/dbfs/read" and params["path"] == "/FileStore/jars/udfs.jar"
    ]
    assert len(reads) >= 3  # streamed in chunks of at most 1 MiB
    exports = [params["path"] for p, params in api.calls if p == "2.0/workspace/export"]
    assert "/Users/me/etl.py" in exports  # the /Workspace prefix is the FUSE path, not the API's


def test_databricks_changes_are_named(api: FakeDatabricks) -> None:
    before = fp.fingerprint_databricks(python_task(), api=api).unwrap()
    api.workspace["/Users/me/etl.py"] = ("FILE", b"print('v2')\n", 3000)
    task = python_task()
    task["libraries"][2] = {"pypi": {"package": "pandas==2.1.0"}}
    task["libraries"].append({"pypi": {"package": "pyarrow>=14"}})
    after = fp.fingerprint_databricks(task, api=api).unwrap()
    diff = fp.compare_fingerprints(before, after)
    assert diff.code_changed and before.hash != after.hash
    changed = " | ".join(diff.changed)
    assert "workspace-file /Workspace/Users/me/etl.py (task etl): sha256:" in changed
    assert "library pypi:pandas: pandas==2.1.0" not in changed and "pandas==2.0.3 -> pandas==2.1.0" in changed
    assert diff.added == ["library pypi:pyarrow (pyarrow>=14 by spec)"]


def test_databricks_unreadable_items_and_fallbacks(api: FakeDatabricks) -> None:
    api.export_denied.add("/Users/me/Report")
    api.denied.add("/FileStore/wheels/lib-1.0-py3-none-any.whl")
    task = python_task(task_key="etl")
    task["spark_python_task"]["python_file"] = "dbfs:/FileStore/missing.py"
    tasks = {
        "tasks": [
            task,
            {"task_key": "report", "notebook_task": {"notebook_path": "/Users/me/Report"}},
            {"task_key": "vol", "spark_python_task": {"python_file": "/Volumes/main/default/code/job.py"}},
            {"task_key": "s3", "spark_python_task": {"python_file": "s3://code/job.py"}},
            {"task_key": "sql", "sql_task": {"query": {"query_id": "q1"}, "warehouse_id": "w"}},
        ]
    }
    fingerprint = fp.fingerprint_databricks(tasks, api=api).unwrap()
    assert fingerprint.partial
    joined = " | ".join(fingerprint.unreadable)
    assert "dbfs:/FileStore/missing.py (task etl): not found (404)" in joined
    assert "dbfs:/FileStore/wheels/lib-1.0-py3-none-any.whl (whl library): access denied (403)" in joined
    assert "/Volumes/main/default/code/job.py (task vol): Unity Catalog volume files" in joined
    assert "s3://code/job.py (task s3): no S3 client was given" in joined
    assert "task sql: sql_task is fingerprinted by its settings only" in joined
    notebook = locations(fingerprint)["/Users/me/Report"]
    assert notebook.how == "workspace-modified-at" and notebook.identity == "revision:42@2000"
    assert fp.fingerprint_databricks("task", api=api).error is not None  # type: ignore[arg-type]


def test_git_sources_pin_by_commit_and_branches_are_partial(api: FakeDatabricks) -> None:
    notebook = {"task_key": "nb", "notebook_task": {"notebook_path": "notebooks/etl", "source": "GIT"}}
    pinned = {"git_url": "https://github.com/acme/etl", "git_provider": "gitHub", "git_commit": "abc123"}
    first = fp.fingerprint_databricks({"tasks": [notebook], "git_source": pinned}, api=api).unwrap()
    assert not first.partial
    assert locations(first)["https://github.com/acme/etl"].identity == "commit:abc123"
    moved = fp.fingerprint_databricks(
        notebook, api=api, git_source={**pinned, "git_commit": "def456"}
    ).unwrap()
    assert fp.compare_fingerprints(first, moved).changed == [
        "git-source https://github.com/acme/etl: commit:abc123 -> commit:def456"
    ]
    branch = {"git_url": "https://github.com/acme/etl", "git_provider": "gitHub", "git_branch": "main"}
    floating = fp.fingerprint_databricks(notebook, api=api, git_source=branch).unwrap()
    assert floating.partial and "is not pinned to a commit" in floating.unreadable[0]
    diff = fp.compare_fingerprints(floating, floating)
    assert not diff.code_changed and "branch:main is not pinned" in diff.unknown[0]
    assert not any(path == "2.0/workspace/export" for path, _ in api.calls)
    # An absolute workspace path is read from the workspace even when the job has a git_source.
    workspace_task = {"task_key": "py", "spark_python_task": {"python_file": "/Users/me/etl.py"}}
    mixed = fp.fingerprint_databricks(workspace_task, api=api, git_source=pinned).unwrap()
    assert locations(mixed)["/Users/me/etl.py"].how == "workspace-export-sha256"


def test_databricks_fingerprints_save_to_dbfs_and_are_found_from_the_basis(api: FakeDatabricks) -> None:
    fingerprint = fp.fingerprint_databricks(python_task(), api=api).unwrap()
    destination = f"dbfs:/sync/{PROJECT}/{RUN}"
    url = fp.save_fingerprint(fingerprint, destination, api=api).unwrap()
    assert url == f"{destination}/{fp.FINGERPRINT_FILE}"
    spec = fp.add_code_hash_to_databricks_spec(
        {"node_type_id": "m5.xlarge", "custom_tags": {"sync:project-id": PROJECT, "sync:run-id": RUN}},
        fingerprint,
    )
    pred = Prediction.model_validate(
        {"prediction_id": "p", "basis": {"configuration": spec, "metrics": {"runtime": 1, "cost": 1}}}
    )
    basis = fp.basis_fingerprint(pred, project_location="dbfs:/sync", api=api).unwrap()
    assert basis.fingerprint == fingerprint and basis.url == url
    no_api = fp.basis_fingerprint(pred, project_location="dbfs:/sync").unwrap()
    assert no_api.hash == fingerprint.hash and no_api.fingerprint is None and "no api" in str(no_api.problem)
    nowhere = fp.basis_fingerprint(pred).unwrap()
    assert nowhere.hash == fingerprint.hash and "does not say where" in str(nowhere.problem)
    assert fp.save_fingerprint(fingerprint, "gs://x/y", api=api).error is not None


def test_fingerprints_of_different_platforms_compare_only_shared_items(
    s3: Any, api: FakeDatabricks, caplog: pytest.LogCaptureFixture
) -> None:
    emr_side = fp.fingerprint_emr(job_flow(step(["spark-submit", f"s3://{CODE}/jobs/etl.py"])), s3_client=s3)
    task = {"task_key": "etl", "spark_python_task": {"python_file": f"s3://{CODE}/jobs/etl.py"}}
    dbx_side = fp.fingerprint_databricks(task, api=api, s3_client=s3).unwrap()
    diff = fp.compare_fingerprints(emr_side.unwrap(), dbx_side)
    assert diff.cross_platform and not diff.code_changed
    assert any("only on aws-emr: not comparable across platforms" in u for u in diff.unknown)
    s3.put_object(Bucket=CODE, Key="jobs/etl.py", Body=b"print('etl v2')\n")
    changed = fp.fingerprint_databricks(task, api=api, s3_client=s3).unwrap()
    diff = fp.compare_fingerprints(emr_side.unwrap(), changed)
    assert diff.code_changed and diff.changed[0].startswith(f"s3-object s3://{CODE}/jobs/etl.py")
    # Only the other platform's hash: cannot be compared, never a failure.
    basis = fp.BasisFingerprint(platform="aws-emr", hash=emr_side.unwrap().hash)
    caplog.set_level(logging.WARNING, logger="sync_provider.core.fingerprint")
    diff_or_none = fp.check_code_change(basis, changed, on_code_change="fail")
    assert diff_or_none is not None and not diff_or_none.code_changed
    assert "other platform" in caplog.text


def test_an_unchanged_cross_platform_check_notes_the_platform_only_items_without_a_warning(
    s3: Any, api: FakeDatabricks, caplog: pytest.LogCaptureFixture
) -> None:
    emr_side = fp.fingerprint_emr(
        job_flow(step(["spark-submit", f"s3://{CODE}/jobs/etl.py"])), s3_client=s3
    ).unwrap()
    task = {"task_key": "etl", "spark_python_task": {"python_file": f"s3://{CODE}/jobs/etl.py"}}
    dbx_side = fp.fingerprint_databricks(task, api=api, s3_client=s3).unwrap()
    caplog.set_level(logging.INFO, logger="sync_provider.core.fingerprint")
    basis = fp.BasisFingerprint(platform="aws-emr", hash=emr_side.hash, fingerprint=emr_side)
    diff = fp.check_code_change(basis, dbx_side, on_code_change="fail")
    assert diff is not None and not diff.code_changed and diff.unknown
    noted = [r for r in caplog.records if "could not be compared" in r.getMessage()]
    assert [r.levelno for r in noted] == [logging.INFO]
    assert fp.NOT_COMPARABLE_ACROSS_PLATFORMS in noted[0].getMessage()
