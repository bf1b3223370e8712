"""Executors: where a recorded job runs. Chosen by `EVALJOBS_EXECUTOR`.

- `local`: a detached worker subprocess per job (`python -m runners.job ID`), so the CLI,
  an HTTP handler or a cron tick returns at once and the job survives them.
- `inline`: in the calling process (tests, `evaljobs run --inline`).
- `modal`: a call of the deployed app's GPU `Runner`.

`start_job` is how every trigger starts a recorded job: a job with shards is fanned out and
its shards are dispatched instead (runners/shards.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal, Protocol

from evaljobs.records import JobRecord, JobStatus, Runtime, utcnow
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.cancel import cancel_job
from runners.processes import spawn_runner
from runners.shards import Finisher, fan_out, fans_out
from runners.worker_pool import fair_queue

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
    """Spawns jobs on the deployed Modal app's GPU runner, `modal_max_runners` calls at a time;
    records each call's id.

    As with the local worker pool, the registry is the queue: `dispatch` fills the free runner
    slots from it, each time with the oldest job of the entity with the fewest calls in flight
    (`fair_queue`), so a team's burst of jobs (or a job of many shards) waits in the registry
    instead of in Modal's first-come queue ahead of every other team's. A slot frees when a
    runner's job ends (the `Runner` fills again) and at every tick.
    """

    def __init__(self, registry: JobRegistry, settings: Settings) -> None:
        self.registry, self.settings = registry, settings

    def dispatch(self, job_id: str) -> None:
        """The job is queued in the registry: fill the free runner slots (it may wait its turn)."""
        self.fill()

    def fill(self, now: datetime | None = None) -> list[str]:
        """Spawn runner calls for queued jobs while fewer than `modal_max_runners` are in
        flight; returns the ids spawned. Each job is claimed (`dispatched_at`, a conditional
        write) before its call is spawned, so two dispatchers at once never spawn one job twice;
        they may together pass the limit by what they spawn at the same moment, which Modal's
        `max_containers` then queues."""
        queued = self.registry.jobs(
            status=JobStatus.QUEUED, limit=10_000, oldest_first=True, include_shards=True
        )
        running = self.registry.jobs(status=JobStatus.RUNNING, limit=10_000, include_shards=True)
        in_flight = {
            j.id: j for j in [*running, *queued] if j.runtime.modal_call_id or j.runtime.dispatched_at
        }
        waiting = [j for j in queued if j.id not in in_flight and not fans_out(j, self.settings)]
        free = self.settings.modal_max_runners - len(in_flight)
        spawned: list[str] = []
        runners = Counter(j.entity for j in in_flight.values())
        for job_id in fair_queue(self.registry, waiting, runners, free):
            if len(spawned) >= free:
                break
            if self._claim(job_id, now or utcnow()):
                self._spawn(job_id)
                spawned.append(job_id)
        return spawned

    def _claim(self, job_id: str, now: datetime) -> bool:
        unclaimed = lambda job: (  # noqa: E731
            job.status is JobStatus.QUEUED
            and job.runtime.dispatched_at is None
            and not job.runtime.modal_call_id
        )
        return self.registry.update_runtime(job_id, Runtime(dispatched_at=now), when=unclaimed)

    def _spawn(self, job_id: str) -> None:
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
