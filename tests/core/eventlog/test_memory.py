"""Reading streams: memory does not grow with the size of the log."""

from __future__ import annotations

import json
import tracemalloc
import zlib
from pathlib import Path

from sync_provider.core.eventlog import ReadStats, iter_events

from .conftest import make_events

APP = "application_1700000000000_0001"


def _big_gzip_log(path: Path, size: int) -> int:
    events = make_events(APP, n_tasks=1)
    head = [e for e in events if e["Event"] != "SparkListenerApplicationEnd"]
    task = next(e for e in events if e["Event"] == "SparkListenerTaskEnd")
    task["Accumulables"] = [{"ID": i, "Name": f"metric {i}", "Update": i, "Value": i * 3} for i in range(30)]
    template = json.dumps(task, separators=(",", ":")).replace('"Task ID":0,', '"Task ID":%d,') + "\n"
    lines = 0
    written = 0
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        out.write(compressor.compress(b"".join(json.dumps(e).encode() + b"\n" for e in head)))
        task_id = 0
        while written < size:
            batch = "".join(template % (task_id + i) for i in range(1000)).encode()
            task_id += 1000
            written += len(batch)
            out.write(compressor.compress(batch))
        end = json.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": 1_700_000_100_000}) + "\n"
        out.write(compressor.compress(end.encode()))
        out.write(compressor.flush())
        lines = len(head) + task_id + 1
    return lines


def test_memory_stays_flat_on_a_50_mb_log(tmp_path: Path) -> None:
    path = tmp_path / f"{APP}.gz"
    expected = _big_gzip_log(path, 50 * 1024 * 1024)
    stats = ReadStats()
    tracemalloc.start()
    try:
        count = 0
        for _ in iter_events(path, stats=stats):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == expected == stats.events
    assert stats.bytes_read == path.stat().st_size
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"
