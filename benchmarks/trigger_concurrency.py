"""How many SyncPredictionTriggers can one triggerer event loop run at once?

Starts the local Sync API server in a child process (so its threads do not compete with the event
loop for the GIL), creates N predictions that each take a few seconds, then runs N
``SyncPredictionTrigger.run()`` concurrently in ONE asyncio loop, as Airflow's triggerer does. A
monitor task sleeps 5 ms over and over and records how late it wakes up: the longest stall is the
longest time any coroutine blocked the loop. Reports wall time, longest stall (goal < 50 ms),
requests per trigger (from the server's counters) and whether every event was ``success``.

Usage::

    .venv/bin/python benchmarks/trigger_concurrency.py            # 1000 triggers
    .venv/bin/python benchmarks/trigger_concurrency.py -n 200 --processing-delay 2 --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

API_KEY_ID = "bench-key-id"
API_KEY_SECRET = "bench-key-secret"  # noqa: S105 - a local stand-in's key
MONITOR_INTERVAL_S = 0.005
STALL_GOAL_S = 0.050


class _GCTimer:
    """Adds up the time spent in CPython's garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            took = time.perf_counter() - self._started
            self.total += took
            self.longest = max(self.longest, took)


_GC = _GCTimer()


def _serve(conn: Any, processing_delay_s: float) -> None:
    """Child process: run the local Sync API server and answer ``stats``/``reset``/``stop``."""
    from sync_provider.testing.sync_api_server import LocalSyncServer

    server = LocalSyncServer(api_keys={API_KEY_ID: API_KEY_SECRET}, processing_delay_s=processing_delay_s)
    with server:
        conn.send(server.url)
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(server.stats.snapshot())
            elif command == "reset":
                server.stats.reset()
                conn.send("ok")
            elif command == "statuses":
                conn.send([p["status"] for p in server.predictions()])
            else:
                conn.send("bye")
                return


def _create_predictions(url: str, count: int, workdir: Path) -> list[str]:
    from sync_provider.core import predictions
    from sync_provider.core.client import SyncClient
    from sync_provider.core.config import load_settings
    from sync_provider.testing.eventlog_generator import emr_cluster_report, tiny_workload, write_event_log

    spec = tiny_workload()
    eventlog = write_event_log(spec, workdir / "eventlog")
    report = emr_cluster_report(spec)
    settings = load_settings(API_KEY_ID, API_KEY_SECRET, url, env={})
    clients = [SyncClient(settings) for _ in range(16)]

    def create(index: int) -> str:
        client = clients[index % len(clients)]
        return predictions.create_prediction("aws-emr", report, eventlog, client=client).unwrap()

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        ids = list(pool.map(create, range(count)))
    for client in clients:
        client.close()
    return ids


async def _run_triggers(
    prediction_ids: Sequence[str], poll_interval: float, max_poll_interval: float, timeout: float
) -> tuple[list[dict[str, Any]], list[tuple[float, float, float]], float, float]:
    from sync_provider.triggers.sync import SyncPredictionTrigger

    lateness: list[tuple[float, float, float]] = []
    stop = asyncio.Event()

    async def monitor() -> None:
        # Wall-clock lateness; how much of it this thread spent on the CPU (on a loaded machine the OS
        # may deschedule the whole process, lateness the loop's code did not cause); and how much of
        # it CPython's cyclic garbage collector took (a full collection scans every object of the
        # process, most of them Airflow's).
        while not stop.is_set():
            before, cpu_before, gc_before = time.perf_counter(), time.thread_time(), _GC.total
            await asyncio.sleep(MONITOR_INTERVAL_S)
            late = max(0.0, time.perf_counter() - before - MONITOR_INTERVAL_S)
            on_cpu = min(late, time.thread_time() - cpu_before)
            lateness.append((late, on_cpu, max(0.0, on_cpu - (_GC.total - gc_before))))

    async def one(prediction_id: str) -> dict[str, Any]:
        trigger = SyncPredictionTrigger(
            prediction_id=prediction_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            end_time=time.time() + timeout,
        )
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1, f"expected exactly one event, got {len(events)}"
        payload: dict[str, Any] = events[0]
        return payload

    # A triggerer has Airflow's secrets machinery loaded before it runs triggers; here the first
    # connection lookup imports it (one-off, measured separately).
    from airflow.sdk import BaseHook

    warmup = time.perf_counter()
    await BaseHook.aget_connection("sync_default")
    warmup_s = time.perf_counter() - warmup

    watcher = asyncio.ensure_future(monitor())
    await asyncio.sleep(0.05)  # let the monitor settle
    started = time.perf_counter()
    events = await asyncio.gather(*(one(p) for p in prediction_ids))
    wall = time.perf_counter() - started
    stop.set()
    await watcher
    return events, lateness, wall, warmup_s


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 when every event is ``success`` and the longest stall meets the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--triggers", type=int, default=1000, help="concurrent triggers (default 1000)")
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=3.0,
        help="seconds each prediction stays RUNNING (default 3)",
    )
    parser.add_argument("--poll-interval", type=float, default=1.0, help="first poll delay (default 1 s)")
    parser.add_argument(
        "--max-poll-interval", type=float, default=2.0, help="largest poll delay (default 2 s)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per-trigger deadline (default 300 s)")
    parser.add_argument(
        "--pool-connections",
        type=int,
        default=None,
        help="connections shared per event loop (default: the hook's)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the start-up objects before running the triggers",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="sync-bench-airflow-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        }
    )
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, args.processing_delay), daemon=True
    )
    server.start()
    try:
        url = parent.recv()
        os.environ["AIRFLOW_CONN_SYNC_DEFAULT"] = json.dumps(
            {"conn_type": "sync", "host": url, "login": API_KEY_ID, "password": API_KEY_SECRET}
        )
        logging.disable(logging.INFO)  # one log line per created prediction would dominate the output
        import sync_provider.hooks.sync as sync_hooks
        import sync_provider.triggers.sync  # noqa: F401 - the triggerer imports it before running triggers

        if args.pool_connections:
            sync_hooks.POOL_CONNECTIONS = args.pool_connections

        created_at = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
            prediction_ids = _create_predictions(url, args.triggers, Path(tmp))
        create_s = time.perf_counter() - created_at
        parent.send("reset")
        parent.recv()

        gc.collect()
        if args.gc_freeze:
            gc.freeze()  # what a long-running process can do once its start-up objects exist
        _GC.longest = _GC.total = 0.0
        gc.callbacks.append(_GC)
        events, lateness, wall, warmup_s = asyncio.run(
            _run_triggers(prediction_ids, args.poll_interval, args.max_poll_interval, args.timeout)
        )
        parent.send("stats")
        stats = parent.recv()
        parent.send("statuses")
        server_statuses = parent.recv()
    finally:
        parent.send("stop")
        parent.recv()
        server.join(10)

    wall_late = [late for late, _, _ in lateness]
    cpu_late = [cpu for _, cpu, _ in lateness]
    code_late = [code for _, _, code in lateness]
    statuses: dict[str, int] = {}
    for event in events:
        statuses[event["status"]] = statuses.get(event["status"], 0) + 1
    requests = stats["requests"]
    result = {
        "triggers": args.triggers,
        "gc_freeze": args.gc_freeze,
        "pool_connections": sync_hooks.POOL_CONNECTIONS,
        "processing_delay_s": args.processing_delay,
        "create_predictions_s": round(create_s, 2),
        "first_connection_lookup_ms": round(warmup_s * 1000, 1),
        "wall_s": round(wall, 2),
        "longest_stall_ms": round(max(wall_late) * 1000, 1),
        "longest_on_cpu_stall_ms": round(max(cpu_late) * 1000, 1),
        "longest_gc_pause_ms": round(_GC.longest * 1000, 1),
        "longest_stall_without_gc_ms": round(max(code_late) * 1000, 1),
        "p99_stall_ms": round(statistics.quantiles(wall_late, n=100)[98] * 1000, 1),
        "requests_per_trigger": round(sum(requests.values()) / args.triggers, 2),
        "status_polls_per_trigger": round(
            requests.get("GET /v1/autotuner/predictions/{id}/status", 0) / args.triggers, 2
        ),
        "token_requests": requests.get("POST /v1/auth/token", 0),
        "events": statuses,
        "server_statuses": {s: server_statuses.count(s) for s in set(server_statuses)},
        "all_success": statuses == {"success": args.triggers},
        "stall_goal_met": max(wall_late) < STALL_GOAL_S,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0 if result["all_success"] and result["stall_goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
