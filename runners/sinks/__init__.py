"""Where a finished job's results go, in order: W&B, Weave, the eval-log copy, the baseline
comparison, and last the completion event (which carries what the others recorded)."""

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.sinks.base import ResultSink, SinkContext, run_sinks
from runners.sinks.baseline import BaselineSink
from runners.sinks.completion_event import CompletionEventSink
from runners.sinks.eval_logs import EvalLogCopySink
from runners.sinks.wandb_run import WandbSink
from runners.sinks.weave_eval import WeaveSink

__all__ = [
    "SINKS_RETRIES",
    "BaselineSink",
    "CompletionEventSink",
    "EvalLogCopySink",
    "ResultSink",
    "SinkContext",
    "WandbSink",
    "WeaveSink",
    "default_sinks",
    "job_log_lines",
    "owed_sinks",
    "run_sinks",
    "run_sinks_of",
    "sinks_cut_off",
]


def default_sinks(settings: Settings) -> list[ResultSink]:
    """The sinks of a deployment, in the order they run."""
    sinks: list[ResultSink] = [WandbSink(), WeaveSink()]
    if settings.eval_logs_bucket:
        sinks.append(EvalLogCopySink(settings.eval_logs_bucket))
    return [*sinks, BaselineSink(), CompletionEventSink()]


def job_log_lines(folder: Path) -> Callable[[str], None]:
    """Appends a line at a time to the job log in `folder` (a process other than the runner's)."""

    def say(line: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "job.log").open("a") as log:
            log.write(line + "\n")

    return say


def _ended_line(job_id: str, status: JobStatus, error: str | None) -> str:
    """The job log's line before its sinks run."""
    return f"job {job_id} {status.value}" + (f": {error}" if error else "")


def run_sinks_of(
    registry: JobRegistry,
    settings: Settings,
    job_id: str,
    elsewhere: Callable[[str, Literal["sinks"]], object] | None = None,
) -> None:
    """The sinks of a job that ended where no runner runs them (a cancel before it ran, the
    reaper, the last shard), after how it ended as a line of its log; with `elsewhere`
    (`runners.shards.Finisher`: Modal's `finish`, from a process without the sinks' keys),
    handed to it, which runs this there."""
    if elsewhere is not None:
        elsewhere(job_id, "sinks")
        return
    job = registry.get(job_id)
    if not job.status.terminal:
        raise ValueError(f"{job_id} is {job.status.value}: only an ended job's sinks run")
    folder = settings.jobs_dir / job_id
    say = job_log_lines(folder)  # the error was redacted when it was recorded
    say(_ended_line(job_id, job.status, job.error))
    if job.runtime.sinks_done:
        say(f"its sinks were cut off after {', '.join(job.runtime.sinks_done)}: running the others")
    run_sinks(default_sinks(settings), job_id, SinkContext(registry, settings, folder, say))


def owed_sinks(job: JobRecord, settings: Settings) -> list[str]:
    """The deployment's sinks an ended job has not had run to their end (its sinks tracked)."""
    done = job.runtime.sinks_done
    if not job.status.terminal or job.shard is not None or done is None:
        return []
    return [sink.name for sink in default_sinks(settings) if sink.name not in done]


SINKS_RETRIES = 3
"""Times the sinks of one job are run again: a sink that kills its process every time (memory)
is not run for ever."""


def sinks_cut_off(registry: JobRegistry, settings: Settings, now: datetime) -> list[JobRecord]:
    """Ended jobs whose sinks are to run again now, recorded as retried: they are owed sinks
    `sinks_retry_after_s` after they ended (or after their last retry), so what ran their sinks
    (a runner, `finish`, a cancel) was killed and the completion event, the W&B run or the
    leaderboard row would never come. The newest jobs of each end state are looked at."""
    wait = timedelta(seconds=settings.sinks_retry_after_s)
    due = []
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        for job in registry.jobs(status=status, limit=2000):
            tries = job.runtime.sinks_retries
            last = tries[-1] if tries else job.finished_at
            if last and last < now - wait and len(tries) < SINKS_RETRIES and owed_sinks(job, settings):
                registry.update_runtime(job.id, Runtime(sinks_retries=[*tries, now]))
                due.append(job)
    return due
