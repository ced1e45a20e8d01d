"""Benchmark: streaming event-log reading against ``gzip -dc``, and the reader's peak memory.

For each size N (MB of uncompressed JSON) it writes a gzip event log into a temporary directory
(ApplicationStart first, then task-end events with varying ids and times taken from a real log, or a
synthetic one when ``../shared/eventlogs`` is absent, then ApplicationEnd) and measures:

* the wall time of ``gzip -dc FILE > /dev/null``;
* the wall time of ``iter_events`` over the file (counting events), in this process;
* the ratio of the two throughputs (ours / gzip; the goal is >= 0.5);
* the peak RSS of a fresh subprocess that only reads the file with ``iter_events`` (goal < 200 MB,
  flat in N), next to the peak RSS of a subprocess that only imports the package.

Usage::

    .venv/bin/python benchmarks/eventlog_read.py [--sizes 100,1000] [--tmpdir DIR]

Prints a markdown table; exits non-zero only when something crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REAL_LOG = REPO.parent / "shared" / "eventlogs" / "syncsparkpy" / "application_1678162862227_0001"

_NO_MSGSPEC = "import sys; sys.modules['msgspec'] = None\n"
_READER = """
import sys
from sync_provider.core.eventlog import iter_events
count = 0
for _ in iter_events(sys.argv[1]):
    count += 1
print(count)
"""
_IMPORT_ONLY = "import sync_provider.core.eventlog, msgspec, json"
_RSS_WRAPPER = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _synthetic_task_end() -> dict[str, Any]:
    return {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": 3,
        "Stage Attempt ID": 0,
        "Task Type": "ShuffleMapTask",
        "Task End Reason": {"Reason": "Success"},
        "Task Info": {
            "Task ID": 1,
            "Index": 1,
            "Attempt": 0,
            "Launch Time": 1678163000000,
            "Executor ID": "3",
            "Host": "ip-172-31-100-1.ec2.internal",
            "Locality": "PROCESS_LOCAL",
            "Speculative": False,
            "Getting Result Time": 0,
            "Finish Time": 1678163001234,
            "Failed": False,
            "Killed": False,
            "Accumulables": [
                {"ID": i, "Name": f"internal.metrics.metric{i}", "Update": i * 17, "Value": i * 1000}
                for i in range(20)
            ],
        },
        "Task Executor Metrics": {"JVMHeapMemory": 123456789, "JVMOffHeapMemory": 98765432},
        "Task Metrics": {
            "Executor Deserialize Time": 12,
            "Executor Deserialize CPU Time": 11000000,
            "Executor Run Time": 1200,
            "Executor CPU Time": 1100000000,
            "Peak Execution Memory": 0,
            "Result Size": 2500,
            "JVM GC Time": 20,
            "Result Serialization Time": 1,
            "Memory Bytes Spilled": 0,
            "Disk Bytes Spilled": 0,
            "Shuffle Read Metrics": {"Remote Bytes Read": 1000, "Local Bytes Read": 2000},
            "Shuffle Write Metrics": {"Shuffle Bytes Written": 3000, "Shuffle Write Time": 400000},
            "Input Metrics": {"Bytes Read": 64000000, "Records Read": 100000},
            "Output Metrics": {"Bytes Written": 0, "Records Written": 0},
            "Updated Blocks": [],
        },
    }


def _templates() -> tuple[list[bytes], list[dict[str, Any]], bytes, int]:
    """Return header lines, task-end templates, the ApplicationEnd line and the start time."""
    if REAL_LOG.is_file():
        header: list[bytes] = []
        tasks: list[dict[str, Any]] = []
        end = b""
        with REAL_LOG.open("rb") as handle:
            for line in handle:
                event = json.loads(line)
                name = event["Event"]
                if name == "SparkListenerTaskEnd":
                    tasks.append(event)
                elif name == "SparkListenerApplicationEnd":
                    end = line.rstrip(b"\n")
                elif name in (
                    "SparkListenerLogStart",
                    "SparkListenerEnvironmentUpdate",
                    "SparkListenerApplicationStart",
                    "SparkListenerExecutorAdded",
                ):
                    header.append(line.rstrip(b"\n"))
        start = next(json.loads(h)["Timestamp"] for h in header if b"ApplicationStart" in h)
        return header, tasks, end, start
    start = 1678162950000
    header = [
        json.dumps({"Event": "SparkListenerLogStart", "Spark Version": "3.3.0"}).encode(),
        json.dumps(
            {
                "Event": "SparkListenerApplicationStart",
                "App Name": "benchmark",
                "App ID": "application_1_0001",
                "Timestamp": start,
                "User": "bench",
            }
        ).encode(),
    ]
    end = json.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": start + 3_600_000}).encode()
    return header, [_synthetic_task_end()], end, start


def generate_log(path: Path, size_mb: int) -> tuple[int, int]:
    """Write a gzip event log of about ``size_mb`` MB uncompressed.

    :param path: the file to write.
    :param size_mb: target uncompressed size in MB (10**6 bytes).
    :returns: uncompressed bytes and number of lines written.
    """
    header, tasks, end, start = _templates()
    # Split every template around its task id so each line gets its own id and times.
    pieces = []
    for task in tasks:
        text = json.dumps(task, separators=(",", ":"))
        marker = f'"Task ID":{task["Task Info"]["Task ID"]},'
        launch = f'"Launch Time":{task["Task Info"]["Launch Time"]},'
        before, after = text.split(marker, 1)
        middle, rest = after.split(launch, 1)
        pieces.append((before + '"Task ID":', "," + middle + '"Launch Time":', "," + rest + "\n"))
    target = size_mb * 1_000_000
    written = 0
    lines = 0
    with open(path, "wb") as raw:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        batch: list[str] = []
        for line in header:
            batch.append(line.decode() + "\n")
        task_id = 0
        while written < target:
            for before, middle, rest in pieces:
                task_id += 1
                batch.append(f"{before}{task_id}{middle}{start + task_id * 7}{rest}")
            if len(batch) >= 2000:
                data = "".join(batch).encode()
                written += len(data)
                lines += len(batch)
                raw.write(compressor.compress(data))
                batch = []
        batch.append(end.decode() + "\n")
        data = "".join(batch).encode()
        written += len(data)
        lines += len(batch)
        raw.write(compressor.compress(data))
        raw.write(compressor.flush())
    return written, lines


def _time_gzip(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["gzip", "-dc", str(path)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _time_reader(path: Path, stdlib_json: bool = False) -> tuple[float, int]:
    from sync_provider.core.eventlog import iter_events

    saved = sys.modules.get("msgspec")
    if stdlib_json:
        sys.modules["msgspec"] = None  # type: ignore[assignment]
    try:
        return _timed_count(iter_events, path)
    finally:
        if stdlib_json:
            if saved is None:
                sys.modules.pop("msgspec", None)
            else:
                sys.modules["msgspec"] = saved


def _timed_count(iter_events: Any, path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    for _ in iter_events(path):
        count += 1
    return time.perf_counter() - started, count


def _peak_rss_mb(code: str, *args: str) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, code, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return int(out.strip().splitlines()[-1]) / 1024.0  # ru_maxrss is in KiB on Linux


def run(sizes: list[int], tmpdir: str | None = None, *, stdlib_json: bool = False) -> list[dict[str, Any]]:
    """Run the benchmark for each size and return one result dict per size.

    :param sizes: uncompressed sizes in MB.
    :param tmpdir: where to write the generated logs (a new temporary directory by default).
    :param stdlib_json: parse with :func:`json.loads` even when ``msgspec`` is installed.
    """
    prefix = _NO_MSGSPEC if stdlib_json else ""
    results = []
    baseline = _peak_rss_mb(_IMPORT_ONLY)
    workdir = tempfile.mkdtemp(prefix="eventlog-bench-", dir=tmpdir)
    try:
        for size in sizes:
            path = Path(workdir) / f"application_bench_{size}mb.gz"
            started = time.perf_counter()
            raw_bytes, lines = generate_log(path, size)
            generated = time.perf_counter() - started
            gzip_s = _time_gzip(path)
            ours_s, events = _time_reader(path, stdlib_json)
            rss = _peak_rss_mb(prefix + _READER, str(path))
            mb = raw_bytes / 1e6
            results.append(
                {
                    "size_mb": size,
                    "uncompressed_mb": mb,
                    "compressed_mb": path.stat().st_size / 1e6,
                    "lines": lines,
                    "events": events,
                    "generate_s": generated,
                    "gzip_s": gzip_s,
                    "ours_s": ours_s,
                    "gzip_mb_s": mb / gzip_s,
                    "ours_mb_s": mb / ours_s,
                    "ratio": gzip_s / ours_s,
                    "peak_rss_mb": rss,
                    "baseline_rss_mb": baseline,
                }
            )
            path.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    """Return the results as a markdown table.

    :param results: from :func:`run`.
    """
    rows = [
        "| size (MB, raw) | gzip (MB) | events | gzip -dc s (MB/s) | iter_events s (MB/s) "
        "| ours/gzip | peak RSS reader (MB) | RSS import only (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['uncompressed_mb']:.0f} | {r['compressed_mb']:.1f} | {r['events']:,} "
            f"| {r['gzip_s']:.2f} ({r['gzip_mb_s']:.0f}) | {r['ours_s']:.2f} ({r['ours_mb_s']:.0f}) "
            f"| {r['ratio']:.2f} | {r['peak_rss_mb']:.0f} | {r['baseline_rss_mb']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000", help="uncompressed sizes in MB, comma-separated")
    parser.add_argument("--tmpdir", default=None, help="directory for the generated logs")
    parser.add_argument(
        "--stdlib-json", action="store_true", help="parse with json.loads even when msgspec is installed"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if shutil.which("gzip") is None:
        print("gzip is not installed: cannot compare with gzip -dc", file=sys.stderr)
        return 1
    source = "real log " + str(REAL_LOG) if REAL_LOG.is_file() else "synthetic task-end events"
    parser_name = "json.loads" if args.stdlib_json else "msgspec when installed, else json.loads"
    print(f"Generating gzip logs from {source}; Python {sys.version.split()[0]}; parser: {parser_name}")
    results = run(sizes, args.tmpdir, stdlib_json=args.stdlib_json)
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
