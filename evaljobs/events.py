"""Completion events: what the runner announces when a job ends.

`CompletionEvent` is the source of `schemas/completion-event.schema.json` (committed,
drift-checked); every event is validated against the committed schema before any sink
sees it. Secrets never enter an event: the job's spec is not in it, only its model name,
benchmarks and results.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from evaljobs.errors import EvalJobError
from evaljobs.records import JobRecord

__all__ = [
    "BenchmarkOutcome",
    "CompletionEvent",
    "EventTimings",
    "completion_event",
    "event_schema_path",
    "generate_event_schema",
    "validate_event",
]

EVENT_SCHEMA_FILE = "completion-event.schema.json"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Metric(_Event):
    """One metric with its standard error."""

    name: str
    value: float
    stderr: float | None
    """Standard error, when the task reports one."""


class BenchmarkOutcome(_Event):
    """One benchmark of the job."""

    benchmark: str
    scoring: Literal["generate", "loglikelihood"]
    status: str
    """inspect-ai's: success, error, cancelled."""
    primary_metric: str | None
    metrics: list[Metric]
    samples: int
    """Samples completed."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """Estimated cost of this benchmark; None when the prices are unknown."""
    grader_input_tokens: int = 0
    grader_output_tokens: int = 0
    """A model-graded benchmark's grader tokens (never in the model's)."""
    grader_cost_usd: float | None = None
    """The grader's tokens at the job's `grader.pricing`; None without it or without grading."""


class EventUsage(_Event):
    """What the whole job used (see the job's `accounting`)."""

    input_tokens: int
    output_tokens: int
    model_server_s: float | None
    """vLLM start to stop (none for a hosted API)."""
    cost_usd: float | None
    """Estimated; None when the prices are unknown."""
    cost_basis: str
    grader_input_tokens: int = 0
    grader_output_tokens: int = 0
    """The grader's tokens over the job (never in `input_tokens`/`output_tokens`)."""
    grader_cost_usd: float | None = None
    """The grader's tokens at the job's `grader.pricing`; None without it or without grading."""


class EventTimings(_Event):
    """When the job moved, and for how long it ran."""

    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wall_time_s: float | None
    """finished_at - started_at."""


class CompletionEvent(_Event):
    """A job reached a final status."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        title="CompletionEvent",
        json_schema_extra={"$id": "https://evaljobs.dev/schemas/completion-event.schema.json"},
    )

    event_id: str = Field(pattern=r"^evt-[0-9a-f]{32}$")
    """Unique per event (receivers deduplicate by it)."""
    type: Literal["job.completed"] = "job.completed"
    job_id: str
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None
    """Why it failed, secrets redacted."""
    entity: str
    project: str
    model: str
    """The model's display name."""
    trigger: str
    """What started the job: cli, http, webhook or cron."""
    trigger_ref: dict[str, str] = Field(default_factory=dict)
    """The event behind it, summarised: policy, artifact version, tick, re-run of."""
    benchmarks: list[BenchmarkOutcome]
    baseline: str | None = None
    """The job the results were compared with, when the job named a baseline."""
    regressed: bool | None = None
    """True when a benchmark regressed against the baseline; None without a comparison."""
    links: dict[str, str]
    """The job in the API and its leaderboard (paths relative to the API's base URL)."""
    timings: EventTimings
    usage: EventUsage | None = None
    """Tokens, model-server time and estimated cost; None for a job that never ran."""


def _trigger_ref(job: JobRecord) -> dict[str, str]:
    detail = job.trigger.detail
    ref: dict[str, str] = {k: str(detail[k]) for k in ("policy", "tick", "rerun_of", "file") if k in detail}
    event = detail.get("event")
    if isinstance(event, dict):
        ref.update({k: str(event[k]) for k in ("artifact_version_string", "event_type") if event.get(k)})
    return ref


def completion_event(job: JobRecord) -> CompletionEvent:
    """The event for a job in a final status."""
    if not job.status.terminal:
        raise EvalJobError(f"{job.id} is {job.status.value}; only finished jobs have a completion event")
    wall = (job.finished_at - job.started_at).total_seconds() if job.started_at and job.finished_at else None
    return CompletionEvent(
        event_id=f"evt-{uuid.uuid4().hex}",
        job_id=job.id,
        status=job.status.value,  # type: ignore[arg-type]
        error=job.error,
        entity=job.entity,
        project=job.project,
        model=job.model,
        trigger=job.trigger.kind,
        trigger_ref=_trigger_ref(job),
        benchmarks=[
            BenchmarkOutcome(
                benchmark=r.benchmark,
                scoring=r.scoring,  # type: ignore[arg-type]
                status=r.status,
                primary_metric=r.primary_metric,
                metrics=[Metric(name=m.name, value=m.value, stderr=m.stderr) for m in r.metrics],
                samples=r.samples_completed,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
                grader_input_tokens=r.grader_input_tokens,
                grader_output_tokens=r.grader_output_tokens,
                grader_cost_usd=r.grader_cost_usd,
            )
            for r in job.results
        ],
        baseline=job.runtime.comparison.baseline if job.runtime.comparison else None,
        regressed=job.runtime.comparison.regressed if job.runtime.comparison else None,
        links={"job": f"/jobs/{job.id}", "leaderboard": f"/leaderboards/{job.entity}/{job.project}"},
        timings=EventTimings(
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            wall_time_s=wall,
        ),
        usage=None
        if job.accounting is None
        else EventUsage(
            input_tokens=job.accounting.input_tokens,
            output_tokens=job.accounting.output_tokens,
            model_server_s=job.accounting.model_server_s,
            cost_usd=job.accounting.cost_usd,
            cost_basis=job.accounting.rates.basis,
            grader_input_tokens=job.accounting.grader_input_tokens,
            grader_output_tokens=job.accounting.grader_output_tokens,
            grader_cost_usd=job.accounting.grader_cost_usd,
        ),
    )


def generate_event_schema() -> dict[str, Any]:
    """The completion event's JSON Schema, from the pydantic model."""
    schema = CompletionEvent.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def event_schema_path() -> Path:
    """The committed schema (schemas/completion-event.schema.json)."""
    return Path(str(resources.files("schemas").joinpath(EVENT_SCHEMA_FILE)))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(event_schema_path().read_text()))


def validate_event(payload: dict[str, Any]) -> None:
    """Raise EvalJobError naming every violation of the committed schema."""
    errors = sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        detail = "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
        raise EvalJobError(f"completion event does not match its schema: {detail}")
