"""Jobs that nothing would finish: found by the cloud's cron tick, ended or started again.

- queued, claimed by a dispatcher `stale_after` ago with no runner call (its spawn failed, and
  a redelivery hits the idempotency key instead of dispatching): dispatched again; a queued
  job that fans out and never did: fanned out (a job merely waiting for a free runner is the
  executor's `fill`, which the tick runs);
- running, whose runner call has ended (a timeout, an OOM kill, a container lost for good):
  ended `failed` with the reason, and its sinks run, so the completion event goes out;
- a shard of a fanned-out job that failed with a try left: queued and dispatched again, alone;
  a fanned-out job whose shards have all ended: ended (runners/shards.py), if no shard did it;
- an ended job still owed result sinks long after it ended (what ran them was killed): they
  run again, the ones that ran skipped (`runners.sinks.sinks_cut_off`).

A preempted call is not among them: Modal runs it again and the runner resumes the job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal, Protocol

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.cancel import complete_parent
from runners.executor import Executor, finisher, start_job
from runners.shards import fans_out, publish, requeue
from runners.sinks import owed_sinks, run_sinks_of, sinks_cut_off

__all__ = ["CallWatcher", "reap"]

log = logging.getLogger("evaljobs.reaper")


class CallWatcher(Protocol):
    """Knows the runner calls an executor started."""

    def call_ended(self, call_id: str) -> str | None:
        """Why the call is over, or None while it still runs."""
        ...


def reap(
    registry: JobRegistry,
    executor: Executor,
    watcher: CallWatcher,
    settings: Settings,
    *,
    now: datetime,
    stale_after: timedelta = timedelta(minutes=10),
) -> list[str]:
    """Dispatch stranded queued jobs again and end jobs whose runner is gone; returns their ids."""
    touched = []
    for job in registry.jobs(status=JobStatus.QUEUED, limit=10_000, oldest_first=True, include_shards=True):
        claimed = job.runtime.dispatched_at
        if job.runtime.modal_call_id is not None:
            continue
        if fans_out(job, settings) and job.created_at < now - stale_after:  # its fan-out failed
            log.warning("job %s was never fanned out; fanning it out again", job.id)
            start_job(registry, settings, executor, job)
            touched.append(job.id)
        elif claimed is not None and claimed < now - stale_after and _unclaim(registry, job.id, claimed):
            log.warning("job %s: its runner call was never spawned; dispatching it again", job.id)
            executor.dispatch(job.id)
            touched.append(job.id)
    running = registry.jobs(status=JobStatus.RUNNING, limit=10_000, include_shards=True)
    for job in running:
        call = job.runtime.modal_call_id
        why = watcher.call_ended(call) if call else None
        if why is None:
            continue
        if registry.finish(job.id, JobStatus.FAILED, [], f"its runner is gone ({why}); run it again"):
            log.warning("job %s: runner call %s ended (%s); marked failed", job.id, call, why)
            touched.append(job.id)
            if job.shard is None:  # a shard's sinks never run: its job's do (on Modal in `finish`)
                run_sinks_of(registry, settings, job.id, elsewhere=finisher(executor))
    touched.extend(_shards(registry, executor, watcher, settings, [j for j in running if j.runtime.shards]))
    for job in sinks_cut_off(registry, settings, now):
        log.warning(
            "job %s: its sinks were cut off (%s owed); running them again", job.id, owed_sinks(job, settings)
        )
        run_sinks_of(registry, settings, job.id, elsewhere=finisher(executor))
        touched.append(job.id)
    return touched


def _unclaim(registry: JobRegistry, job_id: str, claimed: datetime) -> bool:
    """Take back a dispatcher's claim on a job that never got its call (the spawn raised, or its
    container died between the two writes), unless it got one meanwhile."""

    def stranded(job: JobRecord) -> bool:
        return (
            job.status is JobStatus.QUEUED
            and job.runtime.dispatched_at == claimed
            and not job.runtime.modal_call_id
        )

    return registry.update_runtime(job_id, Runtime(dispatched_at=None), when=stranded)


def _shards(
    registry: JobRegistry,
    executor: Executor,
    watcher: CallWatcher,
    settings: Settings,
    parents: list[JobRecord],
) -> list[str]:
    """Fanned-out jobs: a failed shard with a try left goes again; a shard whose runner ended after
    it succeeded counts as published (what it committed is all there will be); then each job
    ends if its shards have."""
    touched: list[str] = []
    finish = finisher(executor)

    def finish_elsewhere(job_id: str, step: Literal["merge", "sinks"]) -> None:
        assert finish is not None
        finish(job_id, step)
        touched.append(job_id)  # ended there (a merge), or here with its sinks there

    for parent in parents:
        for shard_id in parent.runtime.shards:
            shard = registry.get(shard_id)
            if shard.status is JobStatus.FAILED and requeue(registry, settings, shard):
                log.warning("shard %s failed (%s); running it again", shard.id, shard.error)
                executor.dispatch(shard.id)
                touched.append(shard.id)
            elif shard.status is JobStatus.SUCCEEDED and not shard.runtime.published:
                call = shard.runtime.modal_call_id
                if call and watcher.call_ended(call) is not None:
                    publish(registry, shard.id)
        ended = complete_parent(
            registry, parent.id, settings, finish_elsewhere=finish_elsewhere if finish else None
        )
        if ended and parent.id not in touched:
            touched.append(parent.id)
    return touched
