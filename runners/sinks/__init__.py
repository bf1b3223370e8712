"""Where a finished job's results go, in order: W&B, Weave, the eval-log copy, the baseline
comparison, and last the completion event (which carries what the others recorded)."""

from collections.abc import Callable
from pathlib import Path

from evaljobs.records import JobStatus
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.sinks.base import ResultSink, SinkContext, run_sinks
from runners.sinks.baseline import BaselineSink
from runners.sinks.completion_event import CompletionEventSink
from runners.sinks.eval_logs import EvalLogCopySink
from runners.sinks.wandb_run import WandbSink
from runners.sinks.weave_eval import WeaveSink

__all__ = [
    "BaselineSink",
    "CompletionEventSink",
    "EvalLogCopySink",
    "ResultSink",
    "SinkContext",
    "WandbSink",
    "WeaveSink",
    "default_sinks",
    "job_log_lines",
    "run_sinks",
    "run_sinks_of",
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


def run_sinks_of(registry: JobRegistry, settings: Settings, job_id: str) -> None:
    """The sinks of a job that ended where no runner runs them (a cancel before it ran; on Modal,
    a process without the sinks' keys), after how it ended as a line of its log."""
    job = registry.get(job_id)
    if not job.status.terminal:
        raise ValueError(f"{job_id} is {job.status.value}: only an ended job's sinks run")
    folder = settings.jobs_dir / job_id
    say = job_log_lines(folder)  # the error was redacted when it was recorded
    say(_ended_line(job_id, job.status, job.error))
    run_sinks(default_sinks(settings), job_id, SinkContext(registry, settings, folder, say))
