"""One Airflow task try in a process of its own, run the way Airflow 3.3 runs it (the kill matrix's child).

A *worker* try builds the operator and calls ``execute`` (or, after a deferral, the resume method with
the trigger's event). Like Airflow's task runner, SIGTERM calls ``task.on_kill()`` and nothing else:
the try goes on until it ends or the supervisor's SIGKILL comes (``kills.ESCALATION_S`` later).

A *triggerer* try rebuilds the trigger from its serialised form and runs it until its first event.
SIGTERM stands for a user clearing or marking the deferred task: like Airflow's triggerer, the
trigger's coroutine is cancelled and ``trigger.on_kill()`` awaited.

At a named *stage* the child tells the parent (``("stage", name)``) and holds for ``hold_s`` seconds,
so that the parent's signal lands exactly there:

- ``submitting``: the launch call (RunJobFlow / runs/submit) is about to be sent;
- ``launched``: the launch call was answered, the task has not seen the answer yet;
- ``waiting``: the task waits for the cluster/run in the worker;
- ``deferred``: the trigger runs (triggerer);
- ``recording``: Sync answered the create-prediction call, the event log is not sent yet;
- ``recorded``: the run is recorded (prediction created, log sent), the task has not finished.

The last message is ``("done", result, xcoms)``, ``("deferred", classpath, kwargs, method_name)``,
``("event", payload)``, ``("killed",)`` or ``("error", type name, message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["execute", "resume", "trigger"]


@dataclass(frozen=True)
class TaskCall:
    """What one child process runs (picklable)."""

    kind: Kind
    #: ``"module:Class"`` of the operator (execute/resume) or the trigger (trigger).
    classpath: str
    kwargs: dict[str, Any]
    env: dict[str, str]
    log_path: str
    dag_id: str = "kill_matrix"
    run_id: str = "manual__kill"
    try_number: int = 1
    #: A JSON file standing in for ``task_state_store`` (shared by the tries of one task).
    store_path: str = ""
    pause_at: str | None = None
    hold_s: float = 1.0
    method_name: str = "execute_complete"
    event: Any = None
    platform: str = "emr"
    extra: dict[str, Any] = field(default_factory=dict)


class FileStateStore:
    """``task_state_store`` backed by a JSON file (written atomically), surviving the process."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
            return data
        except FileNotFoundError:
            return {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._read().get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        data = self._read()
        data[key] = json.loads(json.dumps(value))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)

    def delete(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            self.path.write_text(json.dumps(data))


class TaskInstance:
    """What the operators read of a task instance: ids, try number, XCom pushes."""

    def __init__(self, call: TaskCall, task_id: str) -> None:
        self.dag_id = call.dag_id
        self.task_id = task_id
        self.run_id = call.run_id
        self.map_index = -1
        self.try_number = call.try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))


def _load(classpath: str) -> Any:
    module, _, name = classpath.partition(":")
    return getattr(importlib.import_module(module), name)


def _send(conn: Any, *message: Any) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: nothing left to tell
        conn.send(message)


def _install_stage(call: TaskCall, conn: Any) -> None:
    """Patch the core function the stage is about, so the child stops there and tells the parent."""
    stage = call.pause_at
    if stage is None or stage == "deferred":
        return

    def reached() -> None:
        _send(conn, "stage", stage)
        time.sleep(call.hold_s)  # the parent's signal lands here; on_kill runs, then the sleep goes on

    def around(module_name: str, attribute: str, *, before: bool) -> None:
        module = importlib.import_module(module_name)
        real: Callable[..., Any] = getattr(module, attribute)

        def patched(*args: Any, **kwargs: Any) -> Any:
            if before:
                reached()
                return real(*args, **kwargs)
            result = real(*args, **kwargs)
            reached()
            return result

        setattr(module, attribute, patched)

    core = "sync_provider.core.emr" if call.platform == "emr" else "sync_provider.core.databricks"
    launch = "launch_job_flow" if call.platform == "emr" else "submit_run"
    wait = "wait_for_cluster" if call.platform == "emr" else "wait_for_run"
    if stage == "submitting":
        around(core, launch, before=True)
    elif stage == "launched":
        around(core, launch, before=False)
    elif stage == "waiting":
        around(core, wait, before=True)
    elif stage == "recorded":
        around(core, "record_run", before=False)
    elif stage == "recording":
        from sync_provider.core import contract
        from sync_provider.core.client import SyncClient

        real_request = SyncClient.request

        def request(self: Any, endpoint: Any, **kwargs: Any) -> Any:
            result = real_request(self, endpoint, **kwargs)
            if endpoint == contract.CREATE_PREDICTION:
                reached()
            return result

        SyncClient.request = request  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown stage {stage!r}")


def _run_task(call: TaskCall, conn: Any) -> None:
    operator_class = _load(call.classpath)
    operator = operator_class(**call.kwargs)
    ti = TaskInstance(call, operator.task_id)
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": call.run_id}
    if call.store_path:
        context["task_state_store"] = FileStateStore(call.store_path)

    def on_term(signum: int, frame: Any) -> None:  # Airflow 3.3's task runner: on_kill, nothing else
        logging.getLogger(__name__).info("SIGTERM: calling on_kill()")
        operator.on_kill()

    signal.signal(signal.SIGTERM, on_term)
    from airflow.sdk.exceptions import TaskDeferred

    try:
        if call.kind == "resume":
            result = getattr(operator, call.method_name)(context, call.event)
        else:
            result = operator.execute(context)
    except TaskDeferred as deferred:
        classpath, kwargs = deferred.trigger.serialize()
        module, _, name = classpath.rpartition(".")
        _send(conn, "deferred", f"{module}:{name}", kwargs, deferred.method_name)
        return
    except BaseException as exc:
        logging.getLogger(__name__).info("task raised %s: %s", type(exc).__name__, exc)
        _send(conn, "error", type(exc).__name__, str(exc))
        return
    _send(conn, "done", result, ti.xcoms)


def _run_trigger(call: TaskCall, conn: Any) -> None:
    trigger = _load(call.classpath)(**call.kwargs)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def first_event() -> Any:
            async for event in trigger.run():
                return event.payload
            return None

        task = asyncio.ensure_future(first_event())
        killed = asyncio.Event()

        def on_term() -> None:  # Airflow's triggerer on a user action: cancel, then on_kill()
            killed.set()
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, on_term)
        if call.pause_at == "deferred":
            await asyncio.sleep(0.2)  # the trigger has polled at least once
            _send(conn, "stage", "deferred")
        try:
            payload = await task
        except asyncio.CancelledError:
            if not killed.is_set():
                raise
            await trigger.on_kill()
            _send(conn, "killed")
            return
        _send(conn, "event", payload)

    asyncio.run(main())


def child_main(call: TaskCall, conn: Any) -> None:
    """Entry point of the child process."""
    os.environ.update(call.env)
    with open(call.log_path, "a", buffering=1) as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        sys.stdout = sys.stderr = log_file
        logging.basicConfig(
            level=logging.INFO,
            stream=log_file,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
            force=True,
        )
        try:
            _install_stage(call, conn)
            if call.kind == "trigger":
                _run_trigger(call, conn)
            else:
                _run_task(call, conn)
        except BaseException as exc:  # a defect of the harness: report it, never hang the parent
            logging.getLogger(__name__).exception("kill-matrix child failed")
            _send(conn, "error", type(exc).__name__, f"harness: {exc}")
        finally:
            conn.close()


#: Imported once by the fork server, so that children start in milliseconds instead of seconds.
PRELOAD = (
    "airflow.sdk",
    "sync_provider.operators.databricks",
    "sync_provider.operators.emr",
    "sync_provider.sensors.sync",
    "sync_provider.triggers.databricks",
    "sync_provider.triggers.emr",
    "sync_provider.triggers.sync",
    "tests.reliability.kill_worker",
)
