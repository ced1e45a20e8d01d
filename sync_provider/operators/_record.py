"""What the EMR and Databricks record operators share: remembering the prediction across tries.

The Sync API has no idempotency key, so a record task that dies after its create call answered
would, on retry, predict the same run twice. The record operators keep, in
``context["task_state_store"]`` (Airflow 3.3+) under :data:`STATE_KEY`, first the creating marker
(written from the core's ``on_creating`` callback, just before the create call), then the new
prediction's id (from ``on_created``, before the event log is uploaded), and pass it back to
``record_run`` on the next try: an id is returned when Sync has its event log; a marker alone
makes ``record_run`` look for the prediction that create call made (see
:mod:`sync_provider.core.recording`).

Like the launch operators, a stored entry marked ``done`` means the task instance finished with
that prediction and was then cleared: a new run of the task, which records the run anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sync_provider.core.recording import PendingCreate
from sync_provider.operators._launch import task_state_store

#: ``task_state_store`` key of the prediction a record task created.
STATE_KEY = "sync_prediction"


@dataclass(frozen=True)
class RecordPlan:
    """What an earlier try left, for ``record_run``.

    :param existing_prediction_id: the prediction an earlier try created.
    :param pending_create: the creating marker of an earlier try that did not keep the answer.
    :param adopt_recorded: whether the run folder's ``sync-prediction.json`` may be adopted.
    """

    existing_prediction_id: str | None = None
    pending_create: PendingCreate | None = None
    adopt_recorded: bool = True


class RecordState:
    """The prediction this task instance created, in ``task_state_store`` (or nothing before 3.3).

    :param context: the task context.
    :param log: the operator's logger.
    :param subject: what is recorded, e.g. ``{"cluster_id": "j-1"}``; a stored entry of another
        subject (the upstream task was cleared and launched a new cluster) is ignored.
    """

    def __init__(self, context: Any, log: Any, subject: Mapping[str, Any]) -> None:
        self._store = task_state_store(context)
        self._log = log
        self.subject = dict(subject)

    def _read(self) -> Mapping[str, Any] | None:
        if self._store is None:
            return None
        try:
            value = self._store.get(STATE_KEY)
        except Exception as exc:
            self._log.warning("Could not read %r from task_state_store: %s", STATE_KEY, exc)
            return None
        if not isinstance(value, Mapping):
            return None
        return value if value.get("prediction_id") or isinstance(value.get("creating"), Mapping) else None

    def _set(self, entry: dict[str, Any], what: str) -> None:
        if self._store is None:
            return
        try:
            self._store.set(STATE_KEY, {**self.subject, **entry})
        except Exception as exc:
            self._log.warning("Could not keep %s in task_state_store: %s", what, exc)

    def _write(self, prediction_id: str, *, done: bool) -> None:
        self._set({"prediction_id": prediction_id, "done": done}, f"prediction {prediction_id}")

    def _marker(self, stored: Mapping[str, Any]) -> PendingCreate | None:
        try:
            return PendingCreate.model_validate(stored["creating"])
        except ValidationError as exc:
            self._log.warning(
                "Ignoring the creating marker in task_state_store: %s", str(exc).splitlines()[0]
            )
            return None

    def plan(self) -> RecordPlan:
        """What to pass to ``record_run``.

        - no store (Airflow < 3.3), nothing stored, or an entry of another cluster/run: nothing of
          its own, adopting the run folder's ``sync-prediction.json`` (the only record of an
          earlier try);
        - an entry of an earlier try of this task instance: its prediction, or its creating marker
          (the try died between the create call and keeping the answer);
        - an entry marked ``done`` (the task finished, then was cleared): ``adopt_recorded=False``,
          record anew.
        """
        if self._store is None:
            self._log.info(
                "No task_state_store (Airflow < 3.3): a retry adopts the prediction named in the run "
                "folder's sync-prediction.json"
            )
            return RecordPlan()
        stored = self._read()
        if stored is None:
            return RecordPlan()
        prediction_id = str(stored["prediction_id"]) if stored.get("prediction_id") else None
        what = f"prediction {prediction_id}" if prediction_id else "a creating marker"
        other = {key: stored.get(key) for key in self.subject if stored.get(key) != self.subject[key]}
        if other:
            self._log.info(
                "Ignoring %s in task_state_store: it records %s, not %s",
                what,
                other,
                {key: self.subject[key] for key in other},
            )
            return RecordPlan()
        if stored.get("done"):
            self._log.info(
                "This task finished earlier with Sync prediction %s and was cleared: recording the run "
                "anew (a new prediction)",
                prediction_id,
            )
            return RecordPlan(adopt_recorded=False)
        if prediction_id is None:
            marker = self._marker(stored)
            if marker is not None:
                self._log.info(
                    "An earlier try began creating a Sync prediction at %s (event log %s) and did not "
                    "keep the answer: looking for the prediction it made",
                    marker.started_at.isoformat(),
                    marker.event_log,
                )
            return RecordPlan(pending_create=marker)
        self._log.info(
            "An earlier try created Sync prediction %s: adopting it if Sync has its event log",
            prediction_id,
        )
        return RecordPlan(existing_prediction_id=prediction_id)

    def creating(self, pending: PendingCreate) -> None:
        """``on_creating`` for ``record_run``: keep the creating marker before the create call."""
        self._set(
            {"creating": pending.model_dump(mode="json"), "done": False},
            f"the creating marker (event log {pending.event_log})",
        )

    def created(self, prediction_id: str) -> None:
        """``on_created`` for ``record_run``: keep the new prediction before its log is uploaded."""
        self._log.info("Created Sync prediction %s; sending its event log", prediction_id)
        self._write(prediction_id, done=False)

    def finished(self, prediction_id: str) -> None:
        """Mark the task instance finished with ``prediction_id`` (a later clear records anew)."""
        self._write(prediction_id, done=True)


__all__ = ["STATE_KEY", "RecordPlan", "RecordState"]
