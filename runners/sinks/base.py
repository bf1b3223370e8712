"""Result sinks: what happens to a job's results after the registry holds them.

A sink gets the finished job (status, results, accounting, runtime) and returns what to merge
into the job's runtime, or None. Sinks run in order, each seeing what the earlier ones
recorded (the completion event, last, carries the W&B run and the comparison). One error
policy for all of them, here: a sink that raises is recorded on the job
(`runtime.sink_failures`, with its traceback, secrets scrubbed) and said in the job log;
the job's status stands and the next sink runs.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from evaljobs.records import JobRecord, Runtime, SinkFailure
from evaljobs.secrets import redact
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry

__all__ = ["ResultSink", "SinkContext", "run_sinks"]

log = logging.getLogger("evaljobs.sinks")


@dataclass(frozen=True)
class SinkContext:
    """What a sink may use besides the job itself."""

    registry: JobRegistry
    settings: Settings
    folder: Path
    """The job's folder (job.log, eval logs)."""
    say: Callable[[str], None]
    """Appends a line to the job log."""
    secrets: Sequence[str] = ()
    """Secret values to scrub from anything recorded."""


class ResultSink(Protocol):
    """One destination of a finished job's results."""

    name: str

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        """Send the job's results; return what to record on the job (None: nothing)."""
        ...


def run_sinks(sinks: Sequence[ResultSink], job_id: str, ctx: SinkContext) -> JobRecord:
    """Run every sink in order under the one error policy; returns the job as they left it.

    On a job whose sinks are tracked (`Runtime.sinks_done`), each one's end is recorded in the
    same write as what it returned, and a sink recorded before (this is a run again after the
    last was cut off) is skipped: each runs to its end once, or, if its process was killed
    inside it, again (at least once)."""
    job = ctx.registry.get(job_id)
    done = job.runtime.sinks_done
    for sink in sinks:
        if done is not None and sink.name in done:
            continue
        try:
            patch = sink.write(job, ctx)
        except Exception as exc:
            error = redact(f"{type(exc).__name__}: {exc}", ctx.secrets)[:2000]
            log.warning("sink %s failed for %s: %s", sink.name, job_id, error, exc_info=True)
            ctx.say(f"{sink.name} failed (the job's status stands): {error}")
            failure = SinkFailure(
                sink=sink.name, error=error, traceback=redact(traceback.format_exc(), ctx.secrets)[-8000:]
            )
            patch = Runtime(sink_failures=[failure])
        if done is not None:
            done = [*done, sink.name]
            patch = (patch or Runtime()).model_copy(update={"sinks_done": done})
        if patch is not None:
            ctx.registry.update_runtime(job_id, patch)
            job = ctx.registry.get(job_id)
    return job
