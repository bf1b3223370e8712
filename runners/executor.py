"""Executors: where a recorded job runs. Chosen by `EVALJOBS_EXECUTOR`.

- `local`: a detached worker subprocess per job (`python -m runners.job ID`), so the CLI,
  an HTTP handler or a cron tick returns at once and the job survives them.
- `inline`: in the calling process (tests, `evaljobs run --inline`).
"""

from __future__ import annotations

import os
import signal
from typing import Protocol

from evaljobs.records import JobStatus, Runtime, this_host
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.processes import spawn_runner

__all__ = [
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "ModalExecutor",
    "cancel_job",
    "get_executor",
]


class Executor(Protocol):
    """Starts recorded jobs."""

    def dispatch(self, job_id: str) -> None: ...


class LocalExecutor:
    """One detached worker subprocess per job."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def dispatch(self, job_id: str) -> None:
        spawn_runner(self.settings, job_id)


class InlineExecutor:
    """Runs the job in this process, returning when it ends."""

    def __init__(self, registry: JobRegistry, settings: Settings) -> None:
        self.registry, self.settings = registry, settings

    def dispatch(self, job_id: str) -> None:
        from runners.job import run_job

        run_job(job_id, self.registry, self.settings)


class ModalExecutor:
    """Spawns the job on the deployed Modal app's GPU runner; records the call id."""

    def __init__(self, registry: JobRegistry, settings: Settings) -> None:
        self.registry, self.settings = registry, settings

    def dispatch(self, job_id: str) -> None:
        import modal

        runner = modal.Cls.from_name(self.settings.modal_app, "Runner")()
        call = runner.run.spawn(job_id)
        self.registry.update_runtime(job_id, Runtime(modal_call_id=call.object_id))

    def call_ended(self, call_id: str) -> str | None:
        """Why the Modal call is over (its error, or that it returned), or None while it runs."""
        import modal

        try:
            modal.FunctionCall.from_id(call_id).get(timeout=0)
        except TimeoutError:
            return None
        except Exception as exc:  # noqa: BLE001 - Modal's failure kinds vary; each means the call ended
            return f"{type(exc).__name__}: {exc}"[:300]
        return "its call returned without finishing the job"


def get_executor(settings: Settings, registry: JobRegistry, name: str | None = None) -> Executor:
    """The executor the settings (or `name`) choose."""
    choice = name or settings.executor
    if choice == "inline":
        return InlineExecutor(registry, settings)
    if choice == "modal":
        return ModalExecutor(registry, settings)
    return LocalExecutor(settings)


def _cancel_call(call_id: str) -> None:
    """Cancel a Modal call: a queued one leaves Modal's queue, a running input is interrupted."""
    import modal

    modal.FunctionCall.from_id(call_id).cancel()


def cancel_job(registry: JobRegistry, job_id: str) -> JobStatus:
    """Cancel a queued or running job; returns its status afterwards."""
    registry.request_cancel(job_id)
    job = registry.get(job_id)
    call_id = job.runtime.modal_call_id
    if job.status is JobStatus.QUEUED and registry.transition(job_id, JobStatus.CANCELLED, error="cancelled"):
        if call_id:  # its call may wait in Modal's queue: withdraw it before it rents GPUs
            _cancel_call(call_id)
        return JobStatus.CANCELLED
    if job.status is JobStatus.RUNNING and call_id:  # on Modal: stop the container's input
        _cancel_call(call_id)
        registry.finish(job_id, JobStatus.CANCELLED, [], "cancelled")
        return registry.get(job_id).status
    pid = job.runtime.pid
    if job.runtime.host not in (None, this_host()):
        return job.status  # its runner is on another host: a pid here names some other process
    if job.status is JobStatus.RUNNING and pid:
        try:
            os.kill(pid, signal.SIGTERM)  # the runner stops vLLM and records `cancelled`
        except ProcessLookupError:  # the runner is gone: nothing will record the end but us
            registry.finish(job_id, JobStatus.CANCELLED, [], "cancelled (runner was not running)")
    return registry.get(job_id).status
