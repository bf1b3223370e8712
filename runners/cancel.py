"""Cancel a job wherever its runner is: still queued, on this host, or on Modal.

A fanned-out job is cancelled through its shards; the last of them to end ends it.
"""

from __future__ import annotations

import os
import signal

from evaljobs.records import JobStatus, this_host
from evaljobs.settings import Settings, get_settings
from evaljobs.stores import JobRegistry
from runners.shards import Finisher, complete

__all__ = ["cancel_job", "complete_parent"]


def _cancel_call(call_id: str) -> None:
    """Cancel a Modal call: a queued one leaves Modal's queue, a running input is interrupted."""
    import modal

    modal.FunctionCall.from_id(call_id).cancel()


def cancel_job(registry: JobRegistry, job_id: str, finish_elsewhere: Finisher | None = None) -> JobStatus:
    """Cancel a queued or running job; returns its status afterwards. `finish_elsewhere`: as in
    `complete_parent`, for a fanned-out job whose shards this ends."""
    registry.request_cancel(job_id)
    job = registry.get(job_id)
    if job.runtime.shards and job.status is JobStatus.RUNNING:
        for shard_id in job.runtime.shards:
            if not registry.get(shard_id).status.terminal:
                registry.request_cancel(shard_id)
                _cancel_one(registry, shard_id)  # a shard's sinks never run: its job's do
        complete_parent(registry, job_id, finish_elsewhere=finish_elsewhere)
        return registry.get(job_id).status
    status, ended_here = _cancel_one(registry, job_id)
    if job.shard is not None and status.terminal:
        complete_parent(registry, job.shard.parent, finish_elsewhere=finish_elsewhere)
    elif ended_here:  # no runner will run its sinks: the completion event still goes out
        from runners.sinks import run_sinks_of

        run_sinks_of(registry, get_settings(), job_id, elsewhere=finish_elsewhere)
    return status


def complete_parent(
    registry: JobRegistry,
    parent_id: str,
    settings: Settings | None = None,
    finish_elsewhere: Finisher | None = None,
) -> JobStatus | None:
    """`shards.complete` for a fanned-out job, stopping running shards this way when one failed
    for good; the status it gave the job, or None. `finish_elsewhere` ends the job where its
    shards' logs and the sinks' keys are (`ModalExecutor.finish`, from the api and tick
    containers)."""
    stop = lambda shard_id: _cancel_one(registry, shard_id)[0]  # noqa: E731
    return complete(
        registry, settings or get_settings(), parent_id, cancel=stop, finish_elsewhere=finish_elsewhere
    )


def _cancel_one(registry: JobRegistry, job_id: str) -> tuple[JobStatus, bool]:
    """Its status afterwards, and whether this call ended it with no runner left to run its
    sinks (a queued job, a runner that was gone)."""
    job = registry.get(job_id)
    call_id = job.runtime.modal_call_id
    if job.status is JobStatus.QUEUED and registry.transition(job_id, JobStatus.CANCELLED, error="cancelled"):
        if call_id:  # its call may wait in Modal's queue: withdraw it before it rents GPUs
            _cancel_call(call_id)
        return JobStatus.CANCELLED, True
    if job.status is JobStatus.RUNNING and call_id:  # on Modal: stop the container's input
        _cancel_call(call_id)  # the runner, stopped, runs the sinks
        registry.finish(job_id, JobStatus.CANCELLED, [], "cancelled")
        return registry.get(job_id).status, False
    pid = job.runtime.pid
    if job.runtime.host not in (None, this_host()):
        return job.status, False  # its runner is on another host: a pid here names some other process
    if job.status is JobStatus.RUNNING and pid:
        try:
            os.kill(pid, signal.SIGTERM)  # the runner stops vLLM, records `cancelled`, runs the sinks
        except ProcessLookupError:  # the runner is gone: nothing will record the end but us
            ended = registry.finish(job_id, JobStatus.CANCELLED, [], "cancelled (runner was not running)")
            return registry.get(job_id).status, ended
    return registry.get(job_id).status, False
