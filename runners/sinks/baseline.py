"""Compare a succeeded job with the baseline it names (`baseline:`), and record the verdicts."""

from __future__ import annotations

from evaljobs.compare import compare_with_baseline
from evaljobs.records import JobRecord, JobStatus, Runtime
from runners.sinks.base import SinkContext

__all__ = ["BaselineSink"]


class BaselineSink:
    """The paired comparison with the job's baseline; the completion event then says `regressed`."""

    name = "baseline"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        if job.status is not JobStatus.SUCCEEDED or not job.spec.baseline:
            return None
        comparison = compare_with_baseline(job, ctx.registry)
        if comparison is None:
            return None
        verdicts = ", ".join(f"{b.benchmark}: {b.verdict}" for b in comparison.benchmarks)
        ctx.say(f"against baseline {comparison.baseline}: {verdicts or comparison.note}")
        return Runtime(comparison=comparison)
