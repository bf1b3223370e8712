"""Helpers to submit jobs in tests."""

from __future__ import annotations

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.stores import JobRegistry


class Deferred:
    """An executor that only remembers what was dispatched: the test runs the job itself."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.ids.append(job_id)


def ended_job(
    registry: JobRegistry,
    job_id: str,
    *,
    sinks_done: list[str] | None,
    status: JobStatus = JobStatus.SUCCEEDED,
    error: str | None = None,
) -> None:
    """Record a job that ran and ended, its sinks tracked with `sinks_done` as those that ran
    (None: untracked, as rows from before the tracking are)."""
    spec = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}
    runtime = Runtime(sinks_done=sinks_done)
    registry.create(JobRecord(id=job_id, entity="e", project="p", model="m", spec=spec, runtime=runtime))
    registry.transition(job_id, JobStatus.RUNNING)
    registry.finish(job_id, status, [], error)
