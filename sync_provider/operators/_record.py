"""What the EMR and Databricks record operators share: remembering the prediction across tries.

The Sync API has no idempotency key, so a record task that dies after its create call answered
would, on retry, predict the same run twice. The record operators keep the new prediction's id in
``context["task_state_store"]`` (Airflow 3.3+) under :data:`STATE_KEY` — written from the core's
``on_created`` callback, before the event log is uploaded — and pass it back to ``record_run`` on
the next try, which returns it when Sync has its event log (see
:mod:`sync_provider.core.recording`).

Like the launch operators, a stored entry marked ``done`` means the task instance finished with
that prediction and was then cleared: a new run of the task, which records the run anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_provider.operators._launch import task_state_store

#: ``task_state_store`` key of the prediction a record task created.
STATE_KEY = "sync_prediction"


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
        return value if isinstance(value, Mapping) and value.get("prediction_id") else None

    def _write(self, prediction_id: str, *, done: bool) -> None:
        if self._store is None:
            return
        try:
            self._store.set(STATE_KEY, {**self.subject, "prediction_id": prediction_id, "done": done})
        except Exception as exc:
            self._log.warning("Could not keep prediction %s in task_state_store: %s", prediction_id, exc)

    def plan(self) -> tuple[str | None, bool]:
        """``(existing_prediction_id, adopt_recorded)`` for ``record_run``.

        - no store (Airflow < 3.3), nothing stored, or an entry of another cluster/run: ``(None,
          True)``: the run folder's ``sync-prediction.json`` is the only record of an earlier try;
        - an entry of an earlier try of this task instance: ``(its prediction, True)``;
        - an entry marked ``done`` (the task finished, then was cleared): ``(None, False)``, record anew.
        """
        if self._store is None:
            self._log.info(
                "No task_state_store (Airflow < 3.3): a retry adopts the prediction named in the run "
                "folder's sync-prediction.json"
            )
            return None, True
        stored = self._read()
        if stored is None:
            return None, True
        prediction_id = str(stored["prediction_id"])
        other = {key: stored.get(key) for key in self.subject if stored.get(key) != self.subject[key]}
        if other:
            self._log.info(
                "Ignoring prediction %s in task_state_store: it records %s, not %s",
                prediction_id,
                other,
                {key: self.subject[key] for key in other},
            )
            return None, True
        if stored.get("done"):
            self._log.info(
                "This task finished earlier with Sync prediction %s and was cleared: recording the run "
                "anew (a new prediction)",
                prediction_id,
            )
            return None, False
        self._log.info(
            "An earlier try created Sync prediction %s: adopting it if Sync has its event log",
            prediction_id,
        )
        return prediction_id, True

    def created(self, prediction_id: str) -> None:
        """``on_created`` for ``record_run``: keep the new prediction before its log is uploaded."""
        self._log.info("Created Sync prediction %s; sending its event log", prediction_id)
        self._write(prediction_id, done=False)

    def finished(self, prediction_id: str) -> None:
        """Mark the task instance finished with ``prediction_id`` (a later clear records anew)."""
        self._write(prediction_id, done=True)


__all__ = ["STATE_KEY", "RecordState"]
