"""The local executor of `evaljobs serve`: queued jobs run in worker processes, N at a time,
shared fairly between entities.

`dispatch` only wakes the pool; the registry is the queue. So jobs queued by any process
(the API, a webhook, a cron tick, the CLI) are picked up in order, and after a restart the
pool takes the queue up again and resumes running jobs whose runner died (and, once a
minute, runs again the sinks of ended jobs whose sinks were cut off). Runners are
detached sessions: stopping the pool does not stop jobs, and a restarted pool counts the
live ones against its limit.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from evaljobs.records import JobRecord, JobStatus, utcnow
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.processes import runner_alive, spawn_runner
from runners.shards import fan_out, fans_out
from runners.sinks import sinks_cut_off

__all__ = ["WorkerPool", "fair_order", "fair_queue", "last_served"]

log = logging.getLogger("runners.worker_pool")


SINKS_LOOK_S = 60.0
"""How often the pool looks for ended jobs whose sinks were cut off."""

FAIR_WINDOW = 256
"""Queued jobs the pool looks at each time it fills (oldest first)."""


def last_served(registry: JobRegistry) -> dict[str, datetime]:
    """When each entity's newest jobs last got a runner (dispatched or started), from the
    `FAIR_WINDOW` newest jobs: an entity with none among them is served before any that has."""
    served: dict[str, datetime] = {}
    for job in registry.jobs(limit=FAIR_WINDOW, include_shards=True):
        when = max((t for t in (job.runtime.dispatched_at, job.started_at) if t), default=None)
        if when and (job.entity not in served or when > served[job.entity]):
            served[job.entity] = when
    return served


def fair_queue(
    registry: JobRegistry, jobs: Sequence[JobRecord], runners: Counter[str], free: int
) -> list[str]:
    """`fair_order` when `free` runners are to be handed out; the registry is asked when each
    entity was last served only when more than one entity is waiting."""
    if free <= 0:
        return []
    several = len({job.entity for job in jobs}) > 1
    return fair_order(jobs, runners, last_served(registry) if several else None)


def fair_order(
    jobs: Sequence[JobRecord], runners: Counter[str], served: Mapping[str, datetime] | None = None
) -> list[str]:
    """Queued jobs in the order they get a runner: each time, the oldest job of the entity
    with the fewest runners (those already running counted), so entities share the pool;
    between entities with as many, the one served least lately (`served`: when each last got
    a runner, `last_served`), so that one runner freeing goes round the teams instead of to
    the oldest job; then queue order."""
    pending: dict[str, deque[JobRecord]] = {}
    for job in jobs:  # oldest first
        pending.setdefault(job.entity, deque()).append(job)
    counts = Counter(runners)
    never = datetime.min.replace(tzinfo=UTC)
    latest = dict(served or {})
    order = []
    while pending:
        entity = min(pending, key=lambda e: (counts[e], latest.get(e, never), pending[e][0].created_at))
        job = pending[entity].popleft()
        order.append(job.id)
        counts[entity] += 1
        latest[entity] = datetime.max.replace(tzinfo=UTC)  # served now: after every other
        if not pending[entity]:
            del pending[entity]
    return order


class WorkerPool:
    """Runs queued jobs with at most `size` runners at once."""

    def __init__(
        self,
        registry: JobRegistry,
        settings: Settings,
        size: int,
        poll_s: float = 2.0,
        spawn: Callable[[Settings, str], subprocess.Popen[bytes]] = spawn_runner,
    ) -> None:
        self.registry, self.settings, self.size, self.poll_s = registry, settings, size, poll_s
        self._spawn = spawn
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._resumed: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def dispatch(self, job_id: str) -> None:
        """The job is queued in the registry already: look at the queue now."""
        self._wake.set()

    def fill(self) -> list[str]:
        """Start runners for interrupted and queued jobs up to the limit; returns the ids started."""
        self._children = {j: p for j, p in self._children.items() if p.poll() is None}
        running = self.registry.jobs(status=JobStatus.RUNNING, limit=10_000, include_shards=True)
        busy = set(self._children)
        orphans = []
        for job in running:
            if job.id in busy:
                continue
            pid = job.runtime.pid
            if runner_alive(pid):
                busy.add(job.id)  # a runner from before a restart, still working
            elif pid and job.id not in self._resumed:
                orphans.append(job.id)  # its runner died: resume it (once per pool lifetime)
        # a runner just started has not claimed its job yet: it is still queued, but not free.
        # The window looks past the pool's size so that one entity's long queue (a job of many
        # shards, a burst of submissions) cannot hide another entity's job behind it.
        waiting = self.registry.jobs(
            status=JobStatus.QUEUED, limit=FAIR_WINDOW + len(busy), oldest_first=True, include_shards=True
        )
        # a job that fans out is not run itself: its shards are queued in its place
        fanned_out = set()
        for job in waiting:
            if fans_out(job, self.settings):
                fanned_out.add(job.id)
                if fan_out(self.registry, self.settings, job):
                    self._wake.set()
        entity_of = {j.id: j.entity for j in [*running, *waiting]}
        runners = Counter(entity_of.get(job_id, "") for job_id in busy)
        free = [j for j in waiting if j.id not in busy and j.id not in fanned_out]
        queued = fair_queue(self.registry, free, runners, self.size - len(busy) - len(orphans))
        started = []
        for job_id in orphans + queued:
            if len(busy) >= self.size:
                break
            self._children[job_id] = self._spawn(self.settings, job_id)
            if job_id in orphans:
                self._resumed.add(job_id)
            busy.add(job_id)
            started.append(job_id)
            log.info("started runner for %s", job_id)
        return started

    def redrive_sinks(self, now: datetime | None = None) -> list[str]:
        """Run again, each in a process of its own, the sinks of ended jobs whose sinks were cut
        off (`runners.sinks.sinks_cut_off`); returns their ids."""
        jobs = sinks_cut_off(self.registry, self.settings, now or utcnow())
        for job in jobs:
            log.warning("job %s: its sinks were cut off; running them again", job.id)
            spawn_runner(self.settings, job.id, "--sinks")
        return [job.id for job in jobs]

    def _loop(self) -> None:
        last_sinks_look = 0.0
        while not self._stop.is_set():
            try:
                self.fill()
                if time.monotonic() - last_sinks_look > SINKS_LOOK_S:
                    last_sinks_look = time.monotonic()
                    self.redrive_sinks()
            except Exception:
                log.exception("worker pool: filling failed; retrying")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def start(self) -> None:
        """Run the pool in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="evaljobs-worker-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop taking jobs (running runners go on; a restarted pool adopts them)."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the runners this pool started (tests, shutdown)."""
        for proc in list(self._children.values()):
            proc.wait(timeout)
