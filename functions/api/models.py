"""Request and response bodies of the HTTP API (the stored records are the core's)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from evaljobs.records import BenchmarkComparison, JobRecord, JobStatus
from evaljobs.stores import Delivery

__all__ = [
    "Comparison",
    "Health",
    "JobCreated",
    "JobPublic",
    "LeaderboardFormat",
    "ProjectRef",
    "ShardState",
    "WebhookAccepted",
    "job_links",
]


def job_links(job: JobRecord) -> dict[str, str]:
    """Where to follow and act on a job."""
    base = f"/jobs/{job.id}"
    return {
        "self": base,
        "config": f"{base}/config.yaml",
        "cancel": f"{base}/cancel",
        "rerun": f"{base}/rerun",
        "leaderboard": f"/leaderboards/{job.entity}/{job.project}",
    }


class ShardState(BaseModel):
    """Where one shard of a fanned-out job is."""

    id: str
    status: JobStatus
    attempt: int
    """Which try it is on (a failed shard runs again alone)."""
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_record(cls, shard: JobRecord) -> ShardState:
        """The shard job's state."""
        return cls(
            id=shard.id,
            status=shard.status,
            attempt=shard.runtime.attempt,
            error=shard.error,
            started_at=shard.started_at,
            finished_at=shard.finished_at,
        )


class JobPublic(JobRecord):
    """A job, with links to act on it."""

    links: dict[str, str] = Field(default_factory=dict)
    """self, config, cancel, rerun, leaderboard."""
    shard_states: list[ShardState] = Field(default_factory=list)
    """A fanned-out job's shards (`runtime.shards`), in order, where each is (on its detail only)."""

    @classmethod
    def from_record(cls, job: JobRecord, shards: list[JobRecord] | None = None) -> JobPublic:
        """The stored job with its links (and its shards' states when given)."""
        states = [ShardState.from_record(s) for s in shards or []]
        return cls(**job.model_dump(), links=job_links(job), shard_states=states)


class JobCreated(BaseModel):
    """A job accepted and queued."""

    id: str
    """Job id."""
    status: JobStatus
    """`queued` (the job runs elsewhere)."""
    links: dict[str, str]
    """Where to follow it."""

    @classmethod
    def from_record(cls, job: JobRecord) -> JobCreated:
        """What a submission answers."""
        return cls(id=job.id, status=job.status, links=job_links(job))


class LeaderboardFormat(StrEnum):
    """Leaderboard encodings."""

    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class ProjectRef(BaseModel):
    """A project with jobs."""

    entity: str
    project: str


class Comparison(BaseModel):
    """B relative to A."""

    a: str
    """The baseline job."""
    b: str
    """The candidate job."""
    threshold: float
    """Smallest difference that counts as a change."""
    benchmarks: list[BenchmarkComparison]
    """Per benchmark: shared samples, A, B, B − A, its stderr and 95% interval, verdict."""


class Health(BaseModel):
    """Liveness."""

    status: str
    version: str


class WebhookAccepted(BaseModel):
    """What a delivery did."""

    delivery: int
    """Sequence number of the recorded delivery (`GET /deliveries`)."""
    outcome: str
    """`started`, `duplicate` (this version already has its job), `unmatched` or `rejected`."""
    policies: list[str]
    """Policies that matched."""
    jobs: list[str]
    """Jobs started, or already started by an earlier delivery of the same version."""
    detail: str | None = None
    """Why a matched policy could not start its job."""

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> WebhookAccepted:
        """The answer to the delivery just recorded."""
        return cls(
            delivery=delivery.id,
            outcome=delivery.outcome,
            policies=delivery.policies,
            jobs=delivery.jobs,
            detail=delivery.detail,
        )
