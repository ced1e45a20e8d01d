"""Shared pieces of the EMR core: names, locations, models and AWS error handling.

Nothing here imports boto3 or botocore; AWS clients are passed in by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sync_provider.core import contract
from sync_provider.core.errors import EMRError, InvalidInputError, register_error_kind

#: Tag naming the Sync project of a cluster.
PROJECT_TAG = "sync:project-id"
#: Tag naming the run (one cluster launch) inside the project.
RUN_TAG = "sync:run-id"
#: EMR configuration classification holding Spark's defaults.
SPARK_DEFAULTS = "spark-defaults"
EVENTLOG_ENABLED = "spark.eventLog.enabled"
EVENTLOG_DIR = "spark.eventLog.dir"
#: Folder of the Spark event log inside a run folder.
EVENTLOG_FOLDER = "eventlog/"
#: The RunJobFlow request as submitted, saved in the run folder.
REQUEST_FILE = "run-job-flow-request.json"
#: The cluster report, saved in the run folder.
REPORT_FILE = "emr-cluster-report.json"
#: UTC time of a run folder (no ``:`` so that keys stay easy to handle).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z"

#: Cluster states that are not final.
ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
#: Final cluster states.
TERMINAL_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")
#: The state change reason of a cluster that finished all its steps.
SUCCESS_REASON = "ALL_STEPS_COMPLETED"

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_PAGES = 10_000


@register_error_kind
class EMRTimeoutError(EMRError):
    """A cluster did not reach a final state in time; it was left as it was (not terminated)."""

    code = "EMR Timeout"


@dataclass(frozen=True)
class ProjectLocation:
    """An ``s3://bucket[/prefix]`` folder holding a project's runs.

    :param bucket: the bucket.
    :param prefix: the key prefix without leading or trailing ``/`` (``""`` for the bucket root).
    """

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        """The normalised ``s3://bucket[/prefix]`` form (no trailing slash)."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, *parts: str) -> str:
        """Join ``parts`` under the prefix with ``/``."""
        return "/".join(p for p in (self.prefix, *parts) if p)


def location_problems(location: object) -> tuple[ProjectLocation | None, list[str]]:
    """Parse a project location; return it (or ``None``) and the problems found.

    A trailing ``/`` is ignored, so ``s3://b/p`` and ``s3://b/p/`` are the same location.
    """
    if not isinstance(location, str) or not location.startswith("s3://"):
        return None, [
            f"project_location {location!r} is not an S3 folder: use s3://bucket or s3://bucket/prefix"
        ]
    rest = location[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    problems: list[str] = []
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        problems.append(
            f"project_location {location!r}: {bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, '.' or '-')"
        )
    if any(ch in prefix for ch in "?#\\") or any(
        seg in ("", ".", "..") for seg in prefix.split("/") if prefix
    ):
        problems.append(
            f"project_location {location!r}: the prefix must be plain folder names separated by single "
            "'/' (no empty, '.' or '..' segments, no '?', '#' or '\\')"
        )
    return (None if problems else ProjectLocation(bucket, prefix)), problems


def parse_location(location: object) -> ProjectLocation:
    """Parse ``s3://bucket[/prefix]``.

    :raises InvalidInputError: naming the problem.
    """
    parsed, problems = location_problems(location)
    if parsed is None:
        raise InvalidInputError("; ".join(problems) + ".")
    return parsed


def id_problems(value: object, name: str) -> list[str]:
    """Return the problems of an identifier used as an S3 path segment (empty when fine)."""
    try:
        contract.validate_id(value, name)
    except InvalidInputError as exc:
        return [exc.message.rstrip(".")]
    return []


@dataclass(frozen=True)
class RunLocation:
    """Where one run keeps its files, derived from its event-log folder.

    :param bucket: the bucket.
    :param run_key: key of the run folder, ending with ``/``.
    :param run_id: the run folder's last segment.
    :param project_id: the segment two levels above the run id (the project, by Sync's layout).
    """

    bucket: str
    run_key: str
    run_id: str
    project_id: str

    @property
    def run_prefix(self) -> str:
        """``s3://bucket/.../<run id>/``."""
        return f"s3://{self.bucket}/{self.run_key}"

    @property
    def eventlog_key(self) -> str:
        """Key of the event-log folder (ends with ``/``)."""
        return self.run_key + EVENTLOG_FOLDER

    @property
    def eventlog_dir(self) -> str:
        """``s3a://`` form of the event-log folder, as Spark is configured with it."""
        return f"s3a://{self.bucket}/{self.eventlog_key}"


_RUN_DIR_RE = re.compile(
    r"^s3a?://(?P<bucket>[^/]+)/(?P<run_key>(?:.+/)?(?P<project>[^/]+)/"
    rf"{TIMESTAMP_PATTERN}/(?P<run>[^/]+)/)eventlog/?$"
)


def parse_run_eventlog_dir(eventlog_dir: str) -> RunLocation | None:
    """Return the run location of a Sync event-log folder, or ``None`` if it has another shape."""
    match = _RUN_DIR_RE.fullmatch(eventlog_dir)
    if match is None:
        return None
    return RunLocation(match["bucket"], match["run_key"], match["run"], match["project"])


class PreparedRun(BaseModel):
    """A RunJobFlow request with Sync's tags and event-log settings, and where the run keeps its files.

    :param request: the request to send to RunJobFlow.
    :param project_id: the Sync project.
    :param run_id: the run id (also the ``sync:run-id`` tag).
    :param timestamp: UTC time of the run folder (``%Y-%m-%dT%H-%M-%SZ``).
    :param run_prefix: ``s3://bucket/<prefix>/<project id>/<time>/<run id>/``.
    :param eventlog_dir: ``s3a://`` form of ``<run prefix>eventlog/`` (what Spark is given).
    :param eventlog_dir_s3: the same folder in ``s3://`` form.
    """

    model_config = ConfigDict(frozen=True)

    request: dict[str, Any]
    project_id: str
    run_id: str
    timestamp: str
    run_prefix: str
    eventlog_dir: str
    eventlog_dir_s3: str

    @property
    def request_url(self) -> str:
        """Where :func:`~sync_provider.core.emr.create_run_folder` saves the request."""
        return self.run_prefix + REQUEST_FILE


class LaunchedRun(BaseModel):
    """A cluster started (or found again) for a run.

    :param cluster_id: the EMR cluster (job flow) id.
    :param run_id: the run id (``sync:run-id`` tag).
    :param project_id: the Sync project.
    :param run_prefix: ``s3://`` folder of the run.
    :param eventlog_dir: ``s3a://`` event-log folder given to Spark.
    :param region: the EMR client's region.
    :param attached: ``True`` when an existing cluster of this run was found and no new one started.
    """

    cluster_id: str
    run_id: str
    project_id: str
    run_prefix: str
    eventlog_dir: str
    region: str | None = None
    attached: bool = False


class StepFailure(BaseModel):
    """The step that failed on a cluster.

    :param step_id: the step id.
    :param name: the step name.
    :param state: the step state (``FAILED``).
    :param reason: EMR's short reason.
    :param message: EMR's message (often the exception of the Spark driver).
    :param log_file: where EMR says the step's log is.
    """

    step_id: str
    name: str | None = None
    state: str = "FAILED"
    reason: str | None = None
    message: str | None = None
    log_file: str | None = None

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> StepFailure:
        """Build it from a ListSteps item."""
        status = step.get("Status") or {}
        details = status.get("FailureDetails") or {}
        return cls(
            step_id=str(step.get("Id", "?")),
            name=step.get("Name"),
            state=str(status.get("State", "FAILED")),
            reason=details.get("Reason"),
            message=details.get("Message"),
            log_file=details.get("LogFile"),
        )

    def describe(self) -> str:
        """One sentence about the failed step."""
        text = f"step {self.name!r} ({self.step_id}) {self.state.lower()}"
        if self.reason:
            text += f" ({self.reason.rstrip('.')})"
        if self.message:
            text += f": {self.message}"
        if self.log_file:
            text += f" (log: {self.log_file})"
        return text


class ClusterState(BaseModel):
    """A cluster's state and why it changed last.

    :param cluster_id: the cluster id.
    :param name: the cluster name.
    :param state: ``STARTING``, ``BOOTSTRAPPING``, ``RUNNING``, ``WAITING``, ``TERMINATING``,
        ``TERMINATED`` or ``TERMINATED_WITH_ERRORS``.
    :param reason_code: ``Status.StateChangeReason.Code`` (e.g. ``ALL_STEPS_COMPLETED``,
        ``STEP_FAILURE``, ``BOOTSTRAP_FAILURE``, ``USER_REQUEST``).
    :param reason_message: ``Status.StateChangeReason.Message``.
    :param failed_step: the failed step of a cluster that ended with errors, when there is one.
    """

    cluster_id: str
    name: str | None = None
    state: str
    reason_code: str | None = None
    reason_message: str | None = None
    failed_step: StepFailure | None = None

    @classmethod
    def from_description(
        cls, cluster: Mapping[str, Any], failed_steps: Sequence[Mapping[str, Any]] | None = None
    ) -> ClusterState:
        """Build it from DescribeCluster's ``Cluster`` and, optionally, ListSteps(FAILED) items.

        Pure: async code (an Airflow trigger with an aiobotocore client) fetches both itself and
        parses them here, so that it reports states and failures exactly as :func:`wait_for_cluster`.

        :param cluster: DescribeCluster's ``Cluster``.
        :param failed_steps: the cluster's failed steps, newest first (as ListSteps returns them).
        """
        status = cluster.get("Status") or {}
        reason = status.get("StateChangeReason") or {}
        failed = StepFailure.from_step(failed_steps[-1]) if failed_steps else None
        return cls(
            cluster_id=str(cluster.get("Id", "?")),
            name=cluster.get("Name"),
            state=str(status.get("State", "UNKNOWN")),
            reason_code=reason.get("Code"),
            reason_message=reason.get("Message"),
            failed_step=failed,
        )

    @property
    def terminal(self) -> bool:
        """Whether the cluster is in a final state."""
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        """Whether the cluster terminated after completing all its steps."""
        return self.state == "TERMINATED" and self.reason_code == SUCCESS_REASON

    def describe(self) -> str:
        """``STATE (CODE: message)``."""
        why = ": ".join(p for p in (self.reason_code, self.reason_message) if p)
        return f"{self.state} ({why})" if why else self.state

    def error(self) -> EMRError | None:
        """The error to raise for a cluster that ended without success; ``None`` otherwise."""
        if not self.terminal or self.succeeded:
            return None
        text = f"EMR cluster {self.cluster_id}"
        if self.name:
            text += f" ({self.name})"
        text += f" ended {self.describe()}"
        if self.failed_step is not None:
            text += f"; {self.failed_step.describe()}"
        if self.state == "TERMINATED":
            text += "; it was terminated before all its steps completed, so the run did not finish"
        return EMRError(
            text + ".",
            detail={
                "reason": "failed",
                "cluster_id": self.cluster_id,
                "state": self.state,
                "reason_code": self.reason_code,
                "reason_message": self.reason_message,
                "failed_step": self.failed_step.model_dump() if self.failed_step else None,
            },
        )


class ClusterOutcome(ClusterState):
    """A cluster that finished successfully, and how long waiting took.

    :param waited_s: seconds spent waiting.
    :param polls: how many times the state was read.
    """

    waited_s: float = Field(ge=0)
    polls: int = Field(ge=1)


# ------------------------------------------------------------------------------------------ AWS calls


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (else the exception's class name)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore ``ClientError`` (else ``str(exc)``)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(exc)


def emr_call(client: Any, operation: str, what: str, **params: Any) -> dict[str, Any]:
    """Call ``client.<operation>(**params)``; AWS failures become :class:`EMRError`.

    :param what: the subject for the message, e.g. ``"cluster j-123"``.
    """
    try:
        result: dict[str, Any] = getattr(client, operation)(**params)
    except Exception as exc:
        code = error_code(exc)
        api = "".join(part.title() for part in operation.split("_"))
        raise EMRError(
            f"EMR {api} for {what} failed ({code}): {error_message(exc)}",
            detail={"operation": api, "aws_error_code": code},
        ) from None
    return result


#: EMR error codes meaning "no such cluster".
_NOT_FOUND_CODES = ("InvalidRequestException", "ResourceNotFoundException")


def describe_cluster(client: Any, cluster_id: str) -> dict[str, Any]:
    """DescribeCluster's ``Cluster``; failures (unknown cluster, access denied) become :class:`EMRError`."""
    cluster = emr_call(client, "describe_cluster", f"cluster {cluster_id}", ClusterId=cluster_id).get(
        "Cluster"
    )
    if not isinstance(cluster, dict):
        raise EMRError(f"EMR DescribeCluster for cluster {cluster_id} returned no 'Cluster'.")
    return cluster


def is_not_found(error: EMRError) -> bool:
    """Whether an :class:`EMRError` from :func:`emr_call` says the cluster does not exist."""
    return isinstance(error.detail, dict) and error.detail.get("aws_error_code") in _NOT_FOUND_CODES


def paginate(
    client: Any, operation: str, result_key: str, what: str, **params: Any
) -> Iterator[dict[str, Any]]:
    """Yield every item of an EMR list call, following ``Marker`` through every page."""
    marker: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        page = emr_call(client, operation, what, **params, **({"Marker": marker} if marker else {}))
        yield from page.get(result_key) or []
        marker = page.get("Marker")
        if not marker:
            return
        if marker in seen:
            raise EMRError(f"EMR returned the same page marker twice while listing {what}; stopping.")
        seen.add(marker)
    raise EMRError(f"Listing {what} did not end after {_MAX_PAGES} pages; stopping.")


def region_of(client: Any) -> str | None:
    """The region a boto3 client is configured for, if it says."""
    meta = getattr(client, "meta", None)
    region = getattr(meta, "region_name", None)
    return str(region) if region else None


def json_safe(value: Any) -> Any:
    """Return ``value`` with datetimes as ISO strings and ``ResponseMetadata`` dropped."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def tags_of(cluster: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a DescribeCluster ``Cluster`` (or a RunJobFlow request) as a dict."""
    tags: dict[str, str] = {}
    for tag in cluster.get("Tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("Key"), str):
            tags[tag["Key"]] = str(tag.get("Value", ""))
    return tags


def spark_defaults(configurations: Any) -> dict[str, Any]:
    """The ``spark-defaults`` properties of an EMR ``Configurations`` list (``{}`` when absent)."""
    properties: dict[str, Any] = {}
    for entry in configurations or []:
        if isinstance(entry, Mapping) and entry.get("Classification") == SPARK_DEFAULTS:
            props = entry.get("Properties")
            if isinstance(props, Mapping):
                properties.update(props)
    return properties


def run_location_of(cluster: Mapping[str, Any]) -> RunLocation:
    """The run location of a cluster (DescribeCluster ``Cluster``) launched by Sync.

    :raises EMRError: when the cluster has no Sync event-log folder, or its run id does not match
        its ``sync:run-id`` tag.
    """
    cluster_id = cluster.get("Id", "?")
    eventlog_dir = spark_defaults(cluster.get("Configurations")).get(EVENTLOG_DIR)
    if not isinstance(eventlog_dir, str) or not eventlog_dir:
        raise EMRError(
            f"EMR cluster {cluster_id} has no {EVENTLOG_DIR} in its spark-defaults configuration: "
            "launch it with launch_job_flow (or prepare_run_job_flow) so that Spark writes its event "
            "log where Sync can find it."
        )
    location = parse_run_eventlog_dir(eventlog_dir)
    if location is None:
        raise EMRError(
            f"EMR cluster {cluster_id} writes its event log to {eventlog_dir}, which is not a Sync run "
            "folder (<project location>/<project id>/<time>/<run id>/eventlog/): launch it with "
            "launch_job_flow so that the run's files can be found."
        )
    run_tag = tags_of(cluster).get(RUN_TAG)
    if run_tag is not None and run_tag != location.run_id:
        raise EMRError(
            f"EMR cluster {cluster_id} is tagged {RUN_TAG}={run_tag} but its event-log folder belongs to "
            f"run {location.run_id}; fix the tag or the configuration."
        )
    return location


def s3_put(s3_client: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    """Write one S3 object; failures become :class:`StorageError`."""
    from sync_provider.core.errors import StorageError

    try:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except Exception as exc:
        code = error_code(exc)
        hint = {
            "NoSuchBucket": f"the bucket {bucket!r} does not exist; create it or fix the project location",
            "AccessDenied": "check that the credentials may s3:PutObject there",
        }.get(code, "check the bucket and the credentials")
        raise StorageError(
            f"Writing s3://{bucket}/{key} failed ({code}): {hint}.",
            detail={"aws_error_code": code, "url": f"s3://{bucket}/{key}"},
        ) from None
