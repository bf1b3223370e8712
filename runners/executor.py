"""Executors: where a recorded job runs. Chosen by `EVALJOBS_EXECUTOR`.

- `local`: a detached worker subprocess per job (`python -m runners.job ID`), so the CLI,
  an HTTP handler or a cron tick returns at once and the job survives them.
- `inline`: in the calling process (tests, `evaljobs run --inline`).
- `modal`: a call of the deployed app's GPU `Runner`.

`start_job` is how every trigger starts a recorded job: a job with shards is fanned out and
its shards are dispatched instead (runners/shards.py).
"""

from __future__ import annotations

from typing import Literal, Protocol

from evaljobs.records import JobRecord, Runtime
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.cancel import cancel_job
from runners.processes import spawn_runner
from runners.shards import Finisher, fan_out, fans_out

__all__ = [
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "ModalExecutor",
    "cancel_job",
    "finisher",
    "get_executor",
    "start_job",
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

    def finish(self, job_id: str, step: Literal["merge", "sinks"]) -> None:
        """A step of a job's ending (`runners.shards.Finisher`) in the app's `finish` function: a
        container of the runner's image with the eval-log Volume (the shards' logs to merge) and
        the runner's secrets (the sinks' W&B key), which the `api` and `tick` containers, where a
        cancel or the reaper ends a job, do not have."""
        import modal

        modal.Function.from_name(self.settings.modal_app, "finish").spawn(job_id, step)

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


def finisher(executor: Executor) -> Finisher | None:
    """Where this process hands the parts of a job's ending it cannot do itself: on Modal, the
    app's `finish` function; None: it does them itself."""
    return executor.finish if isinstance(executor, ModalExecutor) else None


def get_executor(settings: Settings, registry: JobRegistry, name: str | None = None) -> Executor:
    """The executor the settings (or `name`) choose."""
    choice = name or settings.executor
    if choice == "inline":
        return InlineExecutor(registry, settings)
    if choice == "modal":
        return ModalExecutor(registry, settings)
    return LocalExecutor(settings)


def start_job(registry: JobRegistry, settings: Settings, executor: Executor, record: JobRecord) -> None:
    """Dispatch a recorded, queued job, or, when it fans out over several runners, its shards."""
    if fans_out(record, settings):
        for shard_id in fan_out(registry, settings, record):  # [] when another dispatcher did it
            executor.dispatch(shard_id)
        return
    executor.dispatch(record.id)
