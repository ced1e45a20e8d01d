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
4. **Recorded delays** (see :class:`Replayer`'s ``recorded_delays``). Three kinds of time inside a
   group are not task time and do not depend on the number of slots; they are read from the
   recording and replayed unchanged:

   * a *stage delay*: from the moment a stage was runnable in the recording (the group's start for
     a root stage, else its last in-group parent's last task finish) to its first task launch, the
     time during which the recorded cluster had an idle core. That is the DAG scheduler's
     submission, the task scheduler's delay and locality waits (``spark.locality.wait``); time in
     which every core was busy is queueing, which the replay models itself, and is not counted. In
     the replay a stage's tasks may start only this long after the stage became runnable.
   * a *group tail*: from the group's last task finish to its end (the driver completing the jobs:
     result handling, output commit), added to the group's makespan.
   * *executor start-up*: tasks start no earlier than the recorded first executor registration
     (``ExecutorAdded``, or an executor's first task launch if earlier), counted from the group's
     recorded start. It matters only for jobs submitted before the executors came up.

5. **Tasks.** Every task attempt keeps its recorded duration (finish minus launch). Failed and
   killed attempts and speculative copies are replayed like any other task, because they held a
   slot in the recorded run; a retry is not made to wait for the attempt it replaces. Tasks are
   list-scheduled: whenever a slot is free, it takes the next task (by task index, then attempt) of
   the runnable stage submitted first (FIFO). One task occupies one slot (one core).
6. **Monotone runtime.** Greedy list scheduling has Graham's anomalies: one more slot can make a
   schedule longer. A cluster with ``S`` slots can always run the schedule found for ``S' < S``
   slots (leaving slots idle), so each group's makespan at ``S`` is the smallest greedy makespan
   among the slot counts ``S' <= S`` evaluated in the same call of :meth:`Replayer.replay`. More
   slots therefore never predict a slower run. The recorded delays are the same for every slot
   count, so they keep this property.

:meth:`Replayer.replay` gives a candidate cluster ``S`` slots for the whole run (from executor
start-up on). :meth:`Replayer.replay_recorded` checks the method on the recorded cluster instead: it
replays onto the recorded *executor timeline*: each executor's cores become slots when the executor
was added and stop taking tasks when it was removed (dynamic allocation, lost executors), counted
from each group's recorded start.

Two lower bounds come with every result: the *critical path* (driver time plus, per group, the
longest chain of stages weighted by their stage delay and longest task, plus start-up and tail: the
runtime with unlimited slots) and the *Amdahl bound* (driver time plus all task time divided by the
slots: perfect parallelism).

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

_FOREVER = 1 << 62  # a slot that is never removed


class ReplayResult(BaseModel):
    """The replayed runtime of one application on ``slots`` executor slots (times in seconds).

    :param slots: executor slots (cores) replayed onto (for :meth:`Replayer.replay_recorded`: the
        most the recorded executor timeline has at one time).
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
    """One job group, prepared once and replayed for every slot count (times in ms).

    Stage ``i`` has priority ``i`` (recorded submission order); every edge goes from a lower to a
    higher index, so index order is a topological order. ``delays``, ``tail_ms`` and ``startup_ms``
    are the recorded delays (all zero without ``recorded_delays``).
    """

    start_ms: int
    end_ms: int
    durations: list[list[int]]
    children: list[list[int]]
    parent_counts: list[int]
    longest: list[int]
    delays: list[int]
    tail_ms: int
    startup_ms: int
    tasks: int
    work_ms: int
    critical_path_ms: int


def _critical_path(
    longest: list[int], delays: list[int], children: list[list[int]], has_tasks: list[bool], startup: int
) -> int:
    """Return the makespan with unlimited slots (tail excluded)."""
    ready = [0] * len(longest)
    best = 0
    for i, weight in enumerate(longest):
        finish = max(ready[i] + delays[i], startup) + weight if has_tasks[i] else ready[i]
        best = max(best, finish)
        for child in children[i]:
            ready[child] = max(ready[child], finish)
    return best


def _simulate(group: _Group, free: list[tuple[int, int]]) -> int:
    """Return the greedy list-scheduling makespan of ``group`` in ms (tail excluded).

    :param free: one ``(free from, live until)`` pair per slot, relative to the group's start, as a
        heap. A task may start on a slot only before its ``live until``; the last slot left is
        kept regardless, so that every task can run.
    """
    durations = group.durations
    children = group.children
    delays = group.delays
    waiting = list(group.parent_counts)
    ready_at = [0] * len(durations)
    finish = [0] * len(durations)
    next_task = [0] * len(durations)
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
                        heapq.heappush(upcoming, (ready_at[child] + delays[child], child))
                    else:
                        finish[child] = ready_at[child]
                        stack.append(child)

    for stage in [i for i, count in enumerate(waiting) if count == 0]:  # roots, before any release
        if durations[stage]:
            heapq.heappush(upcoming, (delays[stage], stage))
        else:
            release(stage)
    left = group.tasks
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    now = 0  # no task starts earlier: nothing can become runnable before it
    while left:
        slot_free, live_until = free[0]
        start = slot_free if slot_free > now else now
        while upcoming and upcoming[0][0] <= start:
            heappush(runnable, heappop(upcoming)[1])
        if not runnable:
            start = upcoming[0][0]  # every free slot idles until the next stage is runnable
            while upcoming and upcoming[0][0] <= start:
                heappush(runnable, heappop(upcoming)[1])
        if start >= live_until and len(free) > 1:
            heappop(free)  # the slot's executor was removed before it could take this task
            continue
        now = start
        stage = runnable[0]
        tasks = durations[stage]
        index = next_task[stage]
        end = start + tasks[index]
        heapreplace(free, (end, live_until))
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


class _IdleTime:
    """When the recorded cluster had at least one idle core (cores minus running tasks > 0)."""

    def __init__(self, deltas: dict[int, int]) -> None:
        self.times: list[int] = []
        self.idle: list[bool] = []
        self.cumulative: list[int] = []  # idle ms before times[i]
        level = total = 0
        for time in sorted(deltas):
            if self.times:
                total += (time - self.times[-1]) * self.idle[-1]
            level += deltas[time]
            self.times.append(time)
            self.idle.append(level > 0)
            self.cumulative.append(total)

    def _before(self, time: int) -> int:
        i = bisect_right(self.times, time) - 1
        if i < 0:
            return 0
        return self.cumulative[i] + (time - self.times[i]) * self.idle[i]

    def between(self, start: int, end: int) -> int:
        """Return the idle milliseconds in ``[start, end]`` (0 when ``end <= start``)."""
        return self._before(end) - self._before(start) if end > start else 0


def _max_concurrency(intervals: list[tuple[int, int]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    level = best = 0
    for _, delta in events:  # at equal times a finish (-1) sorts before a launch (+1)
        level += delta
        best = max(best, level)
    return best


class Replayer:
    """Replays one application's recorded tasks onto candidate slot counts.

    Built once per event log (stage task lists, dependencies and recorded delays are prepared here)
    and reused for every slot count.

    :param summary: the application's event-log summary.
    :param recorded_delays: replay the recorded delays that do not depend on the cluster size (stage
        delays, group tails, executor start-up; see the module documentation). ``False`` gives the
        plain list schedule of the task durations.
    :raises InvalidInputError: the summary has no application span (no start or no events).
    """

    def __init__(self, summary: EventLogSummary, *, recorded_delays: bool = True) -> None:
        self.application_name = summary.application_name
        self.recorded_slots = summary.max_concurrent_cores()
        self.recorded_delays = recorded_delays
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

        # The recorded executor timeline, and when the recorded cluster had an idle core.
        self.executor_cores = self._executor_timeline(summary, columns[4], columns[5])
        idle = self._idle_time(columns[4], columns[5])
        first_live = min((start for start, _, _ in self.executor_cores), default=None)

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
            delays = [0] * len(group_members)
            recorded_finish = [start] * len(group_members)  # last task finish, as recorded
            last_finish = start
            for i, (_start, stage_id, _attempt, key) in enumerate(group_members):
                parents = {p for parent_id in nodes[key][2] for p in by_stage.get(parent_id, ()) if p < i}
                parents.update(p for p in by_stage[stage_id] if p < i)  # earlier attempts
                for parent in parents:
                    children[parent].append(i)
                parent_counts[i] = len(parents)
                own = sorted(rows.get(key, []))
                durations.append([row[3] for row in own])
                ready = max([start, *(recorded_finish[p] for p in parents)])
                if own:
                    recorded_finish[i] = max(row[2] + row[3] for row in own)
                    last_finish = max(last_finish, recorded_finish[i])
                    delays[i] = idle.between(ready, min(row[2] for row in own))
                else:
                    recorded_finish[i] = ready
            tail = end - last_finish
            startup = 0 if first_live is None else max(0, first_live - start)
            if not recorded_delays:
                delays, tail, startup = [0] * len(group_members), 0, 0
            longest = [max(d, default=0) for d in durations]
            has_tasks = [bool(d) for d in durations]
            self.groups.append(
                _Group(
                    start_ms=start,
                    end_ms=end,
                    durations=durations,
                    children=children,
                    parent_counts=parent_counts,
                    longest=longest,
                    delays=delays,
                    tail_ms=tail,
                    startup_ms=startup,
                    tasks=sum(len(d) for d in durations),
                    work_ms=sum(sum(d) for d in durations),
                    critical_path_ms=_critical_path(longest, delays, children, has_tasks, startup) + tail,
                )
            )
        inside = sum(max(0, min(end, app_end) - max(start, app_start)) for start, end in spans)
        self.driver_ms = max(0, (app_end - app_start) - inside)
        self.tasks = len(tasks)
        self.work_ms = sum(group.work_ms for group in self.groups)
        self.critical_path_ms = self.driver_ms + sum(group.critical_path_ms for group in self.groups)
        self.stage_delay_ms = sum(sum(group.delays) for group in self.groups)
        self.tail_ms = sum(group.tail_ms for group in self.groups)

    @staticmethod
    def _executor_timeline(
        summary: EventLogSummary, launches: list[int], finishes: list[int]
    ) -> list[tuple[int, int, int]]:
        """Return ``(live from, live until, cores)`` per executor, in ms.

        An executor is live from its ExecutorAdded (the application start if not logged) until its
        ExecutorRemoved (never, if not logged), widened to cover the tasks it ran: a log whose
        executor events disagree with its tasks is corrected by the tasks. Executors that ran tasks
        without an ExecutorAdded event (or with no cores) count as many cores as they ran tasks at
        once.
        """
        ran: dict[str, list[tuple[int, int]]] = {}
        for executor_id, launch, finish in zip(
            summary.tasks.column("executor_id"), launches, finishes, strict=True
        ):
            ran.setdefault(executor_id, []).append((launch, max(launch, finish)))
        app_start = summary.start_time_ms or 0
        timeline: list[tuple[int, int, int]] = []
        known: set[str] = set()
        for executor in summary.executors:
            if executor.total_cores <= 0:
                continue
            known.add(executor.executor_id)
            own = ran.get(executor.executor_id, [])
            start = executor.added_ms if executor.added_ms is not None else app_start
            until = executor.removed_ms if executor.removed_ms is not None else _FOREVER
            if own:
                start = min(start, *(launch for launch, _ in own))
                until = max(until, *(finish for _, finish in own))
            timeline.append((start, until, executor.total_cores))
        for executor_id, own in ran.items():
            if executor_id not in known:
                start = min(launch for launch, _ in own)
                until = max(finish for _, finish in own)
                timeline.append((start, until, max(1, _max_concurrency(own))))
        timeline.sort()
        return timeline

    def _idle_time(self, launches: list[int], finishes: list[int]) -> _IdleTime:
        deltas: dict[int, int] = {}
        for launch, finish in zip(launches, finishes, strict=True):
            if finish > launch:
                deltas[launch] = deltas.get(launch, 0) - 1
                deltas[finish] = deltas.get(finish, 0) + 1
        for start, until, cores in self.executor_cores:
            deltas[start] = deltas.get(start, 0) + cores
            if until != _FOREVER:
                deltas[until] = deltas.get(until, 0) - cores
        return _IdleTime(deltas)

    @property
    def job_groups(self) -> int:
        """Number of job groups."""
        return len(self.groups)

    def _constant(self, group: _Group, count: int) -> int:
        if count >= group.tasks:
            # Every task starts as soon as its stage is runnable: the critical path.
            return group.critical_path_ms
        free = [(group.startup_ms, _FOREVER)] * count
        return _simulate(group, free) + group.tail_ms

    def replay(self, slots: Iterable[int]) -> dict[int, ReplayResult]:
        """Replay onto each slot count; runtimes are monotone over the counts given together.

        Every count is a constant number of slots, available from the recorded executor start-up on.

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
                makespan = self._constant(group, count)
                previous = best[g]
                kept = makespan if previous is None or makespan < previous else previous
                best[g] = kept
                greedy_ms += makespan
                monotone_ms += kept
            results[count] = self._result(count, greedy_ms, monotone_ms)
        return results

    def runtime(self, slots: int) -> ReplayResult:
        """Replay onto one slot count (no envelope: it equals the greedy schedule).

        :param slots: slot count (>= 1).
        """
        return self.replay([slots])[slots]

    def replay_recorded(self) -> ReplayResult:
        """Replay onto the recorded executor timeline: the self-check of the method.

        Each executor's cores are slots from the time it was added until it was removed, as recorded,
        relative to each group's recorded start (a task can only start on a live executor; one
        that is running when its executor is removed runs to its end). ``slots`` in the result is
        the most cores the recording has at one time.

        :raises InvalidInputError: the log shows no executor cores.
        """
        if not self.executor_cores or not self.recorded_slots:
            raise InvalidInputError("The event log shows no executor cores: there is no recorded timeline.")
        total = self.driver_ms
        for group in self.groups:
            if not group.tasks:
                total += group.critical_path_ms
                continue
            offset = group.start_ms
            free = [
                (max(0, start - offset), until - offset if until != _FOREVER else _FOREVER)
                for start, until, cores in self.executor_cores
                if until > offset
                for _ in range(cores)
            ]
            if not free:  # no executor is live at or after the group (inconsistent log): keep them all
                free = [(0, _FOREVER) for _, _, cores in self.executor_cores for _ in range(cores)]
            heapq.heapify(free)
            total += _simulate(group, free) + group.tail_ms
        return self._result(self.recorded_slots, total, total)

    def _result(self, count: int, greedy_ms: int, monotone_ms: int) -> ReplayResult:
        return ReplayResult(
            slots=count,
            runtime_s=monotone_ms / 1000.0,
            greedy_runtime_s=greedy_ms / 1000.0,
            driver_s=self.driver_ms / 1000.0,
            critical_path_s=self.critical_path_ms / 1000.0,
            amdahl_s=(self.driver_ms + self.work_ms / count) / 1000.0,
        )
