"""What the registry stores about a job and its benchmarks (pydantic: persisted)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "Accounting",
    "BenchmarkResult",
    "JobRecord",
    "JobStatus",
    "MetricValue",
    "Rates",
    "Trigger",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class JobStatus(StrEnum):
    """Lifecycle of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class Trigger(BaseModel):
    """What started a job."""

    kind: str = "cli"
    """cli, http, webhook or cron (a re-run records `rerun_of` in its detail)."""
    detail: dict[str, Any] = Field(default_factory=dict)
    """The event behind it (e.g. the webhook payload or the schedule tick)."""


class MetricValue(BaseModel):
    """One metric of one scorer, with its standard error when the task reports one."""

    name: str
    """`scorer/metric`, e.g. `choice/accuracy`."""
    value: float
    """The metric's value."""
    stderr: float | None = None
    """Standard error of the value, when reported."""


class BenchmarkResult(BaseModel):
    """The outcome of one benchmark of a job."""

    benchmark: str
    """Catalog id."""
    task: str
    """inspect-ai task name that ran."""
    scoring: str = "generate"
    """generate or loglikelihood."""
    status: str
    """inspect-ai log status: success, error, cancelled."""
    metrics: list[MetricValue] = Field(default_factory=list)
    """Every metric with its stderr."""
    primary_metric: str | None = None
    """The metric a leaderboard sorts by."""
    samples_total: int = 0
    """Samples the benchmark was asked to run (after the limit)."""
    samples_completed: int = 0
    """Samples that completed."""
    input_tokens: int = 0
    """Prompt tokens used."""
    output_tokens: int = 0
    """Completion tokens used."""
    wall_time_s: float | None = None
    """Seconds from the benchmark's start to its end."""
    model_server_s: float | None = None
    """Its share of the model server's time (by tokens; benchmarks share one server)."""
    cost_usd: float | None = None
    """Estimated cost of its share (see `JobRecord.accounting.rates`); None when unknown."""
    log_path: str | None = None
    """The inspect-ai eval log."""
    error: str | None = None
    """Error message when the benchmark did not succeed."""

    def primary(self) -> MetricValue | None:
        """The primary metric, or the first one."""
        for metric in self.metrics:
            if metric.name == self.primary_metric:
                return metric
        return self.metrics[0] if self.metrics else None


class Rates(BaseModel):
    """The prices a cost estimate used (USD)."""

    server_hour_usd: float | None = None
    """One hour of the model server (all its GPUs), for a served checkpoint."""
    input_per_mtok_usd: float | None = None
    """A million prompt tokens, for a hosted API."""
    output_per_mtok_usd: float | None = None
    """A million completion tokens, for a hosted API."""
    basis: str
    """Where the prices came from, for a person."""


class Accounting(BaseModel):
    """A job's totals (its benchmarks carry their own shares)."""

    input_tokens: int
    output_tokens: int
    wall_time_s: float | None
    """Runner start to end of evaluation."""
    model_server_s: float | None
    """vLLM start to stop, loading included (none for a hosted API)."""
    model_server_startup_s: float | None
    """Of which loading the model until the server answered."""
    cost_usd: float | None
    """Estimated; None when the prices are unknown."""
    rates: Rates


class JobRecord(BaseModel):
    """A job as the registry holds it."""

    id: str
    """Job id (`job-` + 12 hex)."""
    name: str | None = None
    """Human-readable name."""
    entity: str
    """Destination entity."""
    project: str
    """Destination project."""
    model: str
    """Display name of the model under test."""
    status: JobStatus = JobStatus.QUEUED
    """Lifecycle status."""
    spec: dict[str, Any]
    """The job as submitted, secrets by reference only."""
    trigger: Trigger = Field(default_factory=Trigger)
    """What started it."""
    created_at: datetime = Field(default_factory=utcnow)
    """When it was recorded."""
    started_at: datetime | None = None
    """When a runner picked it up."""
    finished_at: datetime | None = None
    """When it ended."""
    error: str | None = None
    """Why it failed, for a person."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Versions that shape results: inspect-ai, inspect_evals, vLLM, datasets."""
    runtime: dict[str, Any] = Field(default_factory=dict)
    """Runner facts: pid, job dir, W&B run dir, server args."""
    results: list[BenchmarkResult] = Field(default_factory=list)
    """Per-benchmark results, written once when the job ends."""
    accounting: Accounting | None = None
    """Tokens, times and estimated cost of the whole job, written with the results."""
