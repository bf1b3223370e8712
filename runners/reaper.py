"""Jobs that nothing would finish: found by the cloud's cron tick, ended or started again.

- queued, with no runner call after `stale_after` (its dispatch failed, and a redelivery hits
  the idempotency key instead of dispatching): dispatched again;
- running, whose runner call has ended (a timeout, an OOM kill, a container lost for good):
  ended `failed` with the reason, and its sinks run, so the completion event goes out.

A preempted call is not among them: Modal runs it again and the runner resumes the job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from evaljobs.records import JobStatus
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.executor import Executor
from runners.sinks import SinkContext, default_sinks, run_sinks

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
    for job in registry.jobs(status=JobStatus.QUEUED, limit=10_000, oldest_first=True):
        if job.runtime.modal_call_id is None and job.created_at < now - stale_after:
            log.warning("job %s was never dispatched; dispatching it again", job.id)
            executor.dispatch(job.id)
            touched.append(job.id)
    for job in registry.jobs(status=JobStatus.RUNNING, limit=10_000):
        call = job.runtime.modal_call_id
        why = watcher.call_ended(call) if call else None
        if why is None:
            continue
        if registry.finish(job.id, JobStatus.FAILED, [], f"its runner is gone ({why}); run it again"):
            log.warning("job %s: runner call %s ended (%s); marked failed", job.id, call, why)
            folder = settings.jobs_dir / job.id
            run_sinks(default_sinks(settings), job.id, SinkContext(registry, settings, folder, log.info))
            touched.append(job.id)
    return touched
