"""Replay of a recorded Spark application onto a different number of executor slots.

The method (after Sparklens' scheduler simulation and Ousterhout et al.'s replay of measured task
times) works on an :class:`~sync_provider.core.eventlog.EventLogSummary`:

1. **Job groups.** Every job (submission to completion) and every stage that ran (submission, or
   first task launch, to completion, or last task finish) is an interval; intervals that overlap
   (strictly: touching ones do not) merge into a *job group*. Jobs that ran at the same time are
   replayed together; groups run one after the other, as they did.
2. **Driver time.** The application span (start to end; without an ApplicationEnd, to the last event)
   minus the union of the group intervals is time the driver spent outside jobs. It is added
   unchanged: it does not depend on the executors.
3. **Stages.** Within a group every stage attempt that ran is a node, ordered by its recorded
   submission time. A node becomes runnable when its parent stages *that ran in the same group* and
   earlier attempts of the same stage have finished; parents that were skipped or ran in an earlier
   group are done. Root stages are runnable at the start of the group.
4. **Tasks.** Every task attempt keeps its recorded duration (finish minus launch). Failed and
   killed attempts and speculative copies are replayed like any other task, because they held a slot
   in the recorded run; a retry is not made to wait for the attempt it replaces. Tasks are
   list-scheduled: whenever a slot is free, it takes the next task (by task index, then attempt) of
   the runnable stage submitted first (FIFO). One task occupies one slot (one core).
5. **Monotone runtime.** Greedy list scheduling has Graham's anomalies: one more slot can make a
   schedule longer. A cluster with ``S`` slots can always run the schedule found for ``S' < S``
   slots (leaving slots idle), so each group's makespan at ``S`` is the smallest greedy makespan
   among the slot counts ``S' <= S`` evaluated in the same call of :meth:`Replayer.replay`. More
   slots therefore never predict a slower run.

Two lower bounds come with every result: the *critical path* (driver time plus, per group, the
longest chain of stages weighted by their longest task: the runtime with unlimited slots) and the
*Amdahl bound* (driver time plus all task time divided by the slots: perfect parallelism).

Importing this module is cheap (pydantic and the standard library).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from sync_provider.core.errors import InvalidInputError

if TYPE_CHECKING:
    from sync_provider.core.eventlog.summary import EventLogSummary

__all__ = ["ReplayResult", "Replayer"]


class ReplayResult(BaseModel):
    """The replayed runtime of one application on ``slots`` executor slots (times in seconds).

    :param slots: executor slots (cores) replayed onto.
    :param runtime_s: the predicted runtime: driver time plus the monotone makespan of every group.
    :param greedy_runtime_s: the same with each group's plain greedy makespan at ``slots`` (before
        the monotone envelope; equal to ``runtime_s`` unless a Graham anomaly was removed).
    :param driver_s: time outside jobs, added unchanged.
    :param critical_path_s: lower bound with unlimited slots.
    :param amdahl_s: lower bound with perfect parallelism (driver + task time / slots).
    """

    model_config = ConfigDict(frozen=True)

    slots: int
    runtime_s: float
    greedy_runtime_s: float
    driver_s: float
    critical_path_s: float
    amdahl_s: float


@dataclass(frozen=True, slots=True)
class _Group:
    """One job group, prepared once and replayed for every slot count.

    Stage ``i`` has priority ``i`` (recorded submission order); every edge goes from a lower to a
    higher index, so index order is a topological order.
    """

    start_ms: int
    end_ms: int
    durations: list[list[int]]
    children: list[list[int]]
    parent_counts: list[int]
    longest: list[int]
    tasks: int
    work_ms: int
    critical_path_ms: int


def _critical_path(longest: list[int], children: list[list[int]]) -> int:
    ready = [0] * len(longest)
    best = 0
    for i, weight in enumerate(longest):
        finish = ready[i] + weight
        best = max(best, finish)
        for child in children[i]:
            ready[child] = max(ready[child], finish)
    return best


def _simulate(group: _Group, slots: int) -> int:
    """Return the greedy list-scheduling makespan of ``group`` on ``slots`` slots, in ms."""
    if slots >= group.tasks:
        # Every task starts as soon as its stage is runnable: the critical path.
        return group.critical_path_ms
    durations = group.durations
    children = group.children
    waiting = list(group.parent_counts)
    ready_at = [0] * len(durations)
    finish = [0] * len(durations)
    next_task = [0] * len(durations)
    free = [0] * slots  # a heap of the times the slots become free
    runnable: list[int] = []  # heap of stage indices runnable now
    upcoming: list[tuple[int, int]] = []  # heap of (runnable at, stage index)
    makespan = 0

    def release(stage: int) -> None:
        """Stage ``stage`` is fully scheduled: unlock its children (stages without tasks cascade)."""
        nonlocal makespan
        stack = [stage]
        while stack:
            done = stack.pop()
            end = finish[done]
            makespan = max(makespan, end)
            for child in children[done]:
                ready_at[child] = max(ready_at[child], end)
                waiting[child] -= 1
                if waiting[child] == 0:
                    if durations[child]:
                        heapq.heappush(upcoming, (ready_at[child], child))
                    else:
                        finish[child] = ready_at[child]
                        stack.append(child)

    for stage in [i for i, count in enumerate(waiting) if count == 0]:  # roots, before any release
        if durations[stage]:
            heapq.heappush(upcoming, (0, stage))
        else:
            release(stage)
    left = group.tasks
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    now = 0  # no task starts earlier: nothing can become runnable before it
    while left:
        start = max(free[0], now)
        while upcoming and upcoming[0][0] <= start:
            heappush(runnable, heappop(upcoming)[1])
        if not runnable:
            start = upcoming[0][0]  # every free slot idles until the next stage is runnable
            while upcoming and upcoming[0][0] <= start:
                heappush(runnable, heappop(upcoming)[1])
        now = start
        stage = runnable[0]
        tasks = durations[stage]
        index = next_task[stage]
        end = start + tasks[index]
        heapreplace(free, end)
        finish[stage] = max(finish[stage], end)
        index += 1
        next_task[stage] = index
        left -= 1
        if index == len(tasks):
            heappop(runnable)
            release(stage)
    return makespan


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


class Replayer:
    """Replays one application's recorded tasks onto candidate slot counts.

    Built once per event log (stage task lists and dependencies are prepared here) and reused for
    every slot count.

    :param summary: the application's event-log summary.
    :raises InvalidInputError: the summary has no application span (no start or no events).
    """

    def __init__(self, summary: EventLogSummary) -> None:
        self.application_name = summary.application_name
        self.recorded_slots = summary.max_concurrent_cores()
        if summary.duration_s is None or summary.start_time_ms is None:
            raise InvalidInputError(
                "The event log gives no application span (no ApplicationStart, or no events after it), "
                "so its runtime cannot be replayed."
            )
        self.recorded_runtime_s = float(summary.duration_s)
        self.end_inferred = summary.end_inferred
        app_start = summary.start_time_ms
        app_end = app_start + round(self.recorded_runtime_s * 1000)

        # Tasks per stage attempt, in replay order (task index, then attempt, then launch).
        rows: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
        tasks = summary.tasks
        columns = [
            tasks.column(name)
            for name in ("stage_id", "stage_attempt", "index", "attempt", "launch_ms", "finish_ms")
        ]
        for stage_id, stage_attempt, index, attempt, launch, finish in zip(*columns, strict=True):
            rows.setdefault((stage_id, stage_attempt), []).append(
                (index, attempt, launch, max(0, finish - launch))
            )

        # Stage attempts that ran, with their intervals and parents.
        nodes: dict[tuple[int, int], tuple[int, int, list[int]]] = {}
        for stage in summary.stages:
            key = (stage.stage_id, stage.attempt)
            own = rows.get(key, [])
            start = stage.submission_ms
            if start is None and own:
                start = min(row[2] for row in own)
            end = stage.completion_ms
            if own:
                last = max(row[2] + row[3] for row in own)
                end = last if end is None else max(end, last)
            if start is None or end is None:
                continue  # neither times nor tasks: nothing to replay
            nodes[key] = (start, max(start, end), list(stage.parent_ids))
        for key, own in rows.items():
            if key not in nodes:  # tasks of a stage the log never submitted or completed
                start = min(row[2] for row in own)
                nodes[key] = (start, max(row[2] + row[3] for row in own), [])

        intervals = [(start, end) for start, end, _ in nodes.values()]
        for job in summary.jobs:
            if job.submission_ms is not None and job.completion_ms is not None:
                intervals.append((job.submission_ms, max(job.submission_ms, job.completion_ms)))
        spans = _merge(intervals)
        starts = [start for start, _ in spans]
        members: list[list[tuple[int, int, int, tuple[int, int]]]] = [[] for _ in spans]
        for key, (start, _end, _parents) in nodes.items():
            members[bisect_right(starts, start) - 1].append((start, key[0], key[1], key))

        self.groups: list[_Group] = []
        for (start, end), group_members in zip(spans, members, strict=True):
            group_members.sort()
            by_stage: dict[int, list[int]] = {}
            for i, member in enumerate(group_members):
                by_stage.setdefault(member[1], []).append(i)
            children: list[list[int]] = [[] for _ in group_members]
            parent_counts = [0] * len(group_members)
            durations: list[list[int]] = []
            for i, (_start, stage_id, _attempt, key) in enumerate(group_members):
                parents = {p for parent_id in nodes[key][2] for p in by_stage.get(parent_id, ()) if p < i}
                parents.update(p for p in by_stage[stage_id] if p < i)  # earlier attempts
                for parent in parents:
                    children[parent].append(i)
                parent_counts[i] = len(parents)
                durations.append([row[3] for row in sorted(rows.get(key, []))])
            longest = [max(d, default=0) for d in durations]
            self.groups.append(
                _Group(
                    start_ms=start,
                    end_ms=end,
                    durations=durations,
                    children=children,
                    parent_counts=parent_counts,
                    longest=longest,
                    tasks=sum(len(d) for d in durations),
                    work_ms=sum(sum(d) for d in durations),
                    critical_path_ms=_critical_path(longest, children),
                )
            )
        inside = sum(max(0, min(end, app_end) - max(start, app_start)) for start, end in spans)
        self.driver_ms = max(0, (app_end - app_start) - inside)
        self.tasks = len(tasks)
        self.work_ms = sum(group.work_ms for group in self.groups)
        self.critical_path_ms = self.driver_ms + sum(group.critical_path_ms for group in self.groups)

    @property
    def job_groups(self) -> int:
        """Number of job groups."""
        return len(self.groups)

    def replay(self, slots: Iterable[int]) -> dict[int, ReplayResult]:
        """Replay onto each slot count; runtimes are monotone over the counts given together.

        :param slots: slot counts (each >= 1).
        :raises InvalidInputError: a slot count below 1.
        :returns: one result per distinct slot count.
        """
        counts = sorted(set(slots))
        if counts and counts[0] < 1:
            raise InvalidInputError(f"Slot counts must be at least 1 (got {counts[0]}).")
        best: list[int | None] = [None] * len(self.groups)
        results: dict[int, ReplayResult] = {}
        for count in counts:
            greedy_ms = monotone_ms = self.driver_ms
            for g, group in enumerate(self.groups):
                makespan = _simulate(group, count)
                previous = best[g]
                kept = makespan if previous is None or makespan < previous else previous
                best[g] = kept
                greedy_ms += makespan
                monotone_ms += kept
            results[count] = ReplayResult(
                slots=count,
                runtime_s=monotone_ms / 1000.0,
                greedy_runtime_s=greedy_ms / 1000.0,
                driver_s=self.driver_ms / 1000.0,
                critical_path_s=self.critical_path_ms / 1000.0,
                amdahl_s=(self.driver_ms + self.work_ms / count) / 1000.0,
            )
        return results

    def runtime(self, slots: int) -> ReplayResult:
        """Replay onto one slot count (no envelope: it equals the greedy schedule).

        :param slots: slot count (>= 1).
        """
        return self.replay([slots])[slots]
