"""Results of the Databricks core functions, and the constants they share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Tag keys set in ``custom_tags`` (the same keys as Sync's own client and the EMR tags).
PROJECT_ID_TAG = "sync:project-id"
RUN_ID_TAG = "sync:run-id"
SYNC_TAGS = (PROJECT_ID_TAG, RUN_ID_TAG)

# API paths (after ``/api/``). Jobs use 2.1; clusters and DBFS 2.0, which every workspace serves.
RUNS_SUBMIT = "2.1/jobs/runs/submit"
RUNS_GET = "2.1/jobs/runs/get"
RUNS_CANCEL = "2.1/jobs/runs/cancel"
CLUSTERS_GET = "2.0/clusters/get"
CLUSTERS_EVENTS = "2.0/clusters/events"
DBFS_LIST = "2.0/dbfs/list"
DBFS_READ = "2.0/dbfs/read"
DBFS_GET_STATUS = "2.0/dbfs/get-status"

#: Life-cycle states after which a run never changes.
TERMINAL_LIFE_CYCLE_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
#: Task types of a Jobs API task; a task given to :func:`submit_run` has exactly one.
TASK_TYPES = (
    "notebook_task",
    "spark_python_task",
    "spark_jar_task",
    "python_wheel_task",
    "spark_submit_task",
    "pipeline_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
)
PLAN_TYPES = ("Standard", "Premium", "Enterprise")
COMPUTE_TYPES = ("All-Purpose Compute", "Jobs Compute", "Jobs Compute Light")


class PreparedCluster(BaseModel):
    """A cluster spec ready for a run Sync can predict.

    :param spec: the cluster spec to send as ``new_cluster`` (a new dict; the input is not changed).
    :param project_id: the Sync project (``sync:project-id`` tag).
    :param run_id: the Sync run id (``sync:run-id`` tag), a fresh UUID unless one was given.
    :param log_destination: where Databricks delivers the cluster's logs (``cluster_log_conf``).
    :param log_scheme: ``s3`` or ``dbfs``.
    """

    model_config = ConfigDict(frozen=True)

    spec: dict[str, Any]
    project_id: str
    run_id: str
    log_destination: str
    log_scheme: Literal["s3", "dbfs"]


class SubmittedRun(BaseModel):
    """A one-off run started by :func:`~sync_provider.core.databricks.submit_run`.

    :param run_id: the Databricks run id.
    :param run_page_url: the run's page in the workspace.
    :param sync_run_id: the run's ``sync:run-id`` tag (read back from Databricks: a replayed submit
        returns the first submission's tag).
    :param project_id: the Sync project.
    :param cluster_id: the job cluster's id, once Databricks has created it (``None`` before).
    :param log_destination: the cluster's log destination.
    :param idempotency_token: the token sent with the submission, if any.
    """

    run_id: int
    run_page_url: str | None = None
    sync_run_id: str
    project_id: str
    cluster_id: str | None = None
    log_destination: str
    idempotency_token: str | None = None


class RunState(BaseModel):
    """A run's state, as ``jobs/runs/get`` reports it.

    :param life_cycle_state: ``PENDING``, ``QUEUED``, ``RUNNING``, ``TERMINATING``, ``TERMINATED``,
        ``SKIPPED``, ``INTERNAL_ERROR``, ``BLOCKED`` or ``WAITING_FOR_RETRY``.
    :param result_state: ``SUCCESS``, ``FAILED``, ``TIMEDOUT``, ``CANCELED``… (absent while running).
    :param state_message: Databricks' explanation, often empty.
    """

    life_cycle_state: str
    result_state: str | None = None
    state_message: str = ""

    @property
    def is_terminal(self) -> bool:
        """Whether the run will not change any more."""
        return self.life_cycle_state in TERMINAL_LIFE_CYCLE_STATES

    @property
    def is_successful(self) -> bool:
        """Whether the run ended with ``TERMINATED`` / ``SUCCESS``."""
        return self.life_cycle_state == "TERMINATED" and self.result_state == "SUCCESS"

    def describe(self) -> str:
        """``"TERMINATED/FAILED: message"``."""
        text = self.life_cycle_state + (f"/{self.result_state}" if self.result_state else "")
        return f"{text}: {self.state_message}" if self.state_message else text


class RunOutcome(BaseModel):
    """A run that ended successfully.

    :param run_id: the Databricks run id.
    :param state: its final state.
    :param run_page_url: the run's page.
    :param cluster_ids: the clusters its tasks ran on.
    :param start_time: run start, epoch ms.
    :param end_time: run end, epoch ms.
    :param sync_run_id: the ``sync:run-id`` tag of its cluster, when there is one.
    :param project_id: the ``sync:project-id`` tag of its cluster, when there is one.
    """

    run_id: int
    state: RunState
    run_page_url: str | None = None
    cluster_ids: list[str] = Field(default_factory=list)
    start_time: int | None = None
    end_time: int | None = None
    sync_run_id: str | None = None
    project_id: str | None = None

    @property
    def cluster_id(self) -> str | None:
        """The run's cluster when it had exactly one."""
        return self.cluster_ids[0] if len(self.cluster_ids) == 1 else None


class EventLogPart(BaseModel):
    """One file of a delivered event log.

    :param name: file name (``eventlog`` or ``eventlog-YYYY-MM-DD--HH-00.gz``).
    :param size: bytes.
    :param modified_ms: last modification, epoch ms (S3: second precision).
    """

    name: str
    size: int
    modified_ms: int


class EventLogLocation(BaseModel):
    """Where a run's Spark event log is, once delivery is complete.

    :param url: an ``s3://…/<spark context id>/`` prefix, or a local folder with the downloaded
        DBFS parts (the caller owns and removes it).
    :param kind: ``s3`` or ``local``.
    :param source: where Databricks delivered it (``s3://…`` or ``dbfs:/…``).
    :param cluster_id: the cluster.
    :param spark_context_id: the Spark context whose log this is.
    :param parts: the files, in name order.
    :param complete: whether the completeness check found no problem.
    :param problems: the completeness problems (empty when complete).
    """

    url: str
    kind: Literal["s3", "local"]
    source: str
    cluster_id: str
    spark_context_id: str
    parts: list[EventLogPart]
    complete: bool
    problems: list[str] = Field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Size of all parts."""
        return sum(part.size for part in self.parts)


__all__ = [
    "CLUSTERS_EVENTS",
    "CLUSTERS_GET",
    "COMPUTE_TYPES",
    "DBFS_GET_STATUS",
    "DBFS_LIST",
    "DBFS_READ",
    "PLAN_TYPES",
    "PROJECT_ID_TAG",
    "RUNS_CANCEL",
    "RUNS_GET",
    "RUNS_SUBMIT",
    "RUN_ID_TAG",
    "SYNC_TAGS",
    "TASK_TYPES",
    "TERMINAL_LIFE_CYCLE_STATES",
    "EventLogLocation",
    "EventLogPart",
    "PreparedCluster",
    "RunOutcome",
    "RunState",
    "SubmittedRun",
]
