"""What the stores offer (protocols) and the trigger-state models they exchange.

Two stores: the job registry (jobs, their runtime and results; also the queue) and the
trigger store (API tokens, webhook credentials, policies with schedule marks, deliveries).
Each has an SQLite adapter (one machine) and a DynamoDB adapter (the cloud), held to the
same contract tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from evaljobs.policies import Policy
from evaljobs.records import Accounting, BenchmarkResult, JobRecord, JobStatus, Runtime

__all__ = [
    "ALL_ENTITIES",
    "Delivery",
    "JobRegistry",
    "Principal",
    "SecretStore",
    "TriggerStore",
    "WebhookCredential",
    "hash_token",
]

ALL_ENTITIES = "*"


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who an API token belongs to and which entities it may act for."""

    name: str
    entities: frozenset[str]
    admin: bool = False
    """An entity admin's token: it also manages its entities' secrets and policies."""

    def can(self, entity: str) -> bool:
        """True when the token may start and read jobs of `entity`."""
        return ALL_ENTITIES in self.entities or entity in self.entities

    def administers(self, entity: str) -> bool:
        """True when the token may manage `entity`'s secrets and policies (the operator's `*` may)."""
        return ALL_ENTITIES in self.entities or (self.admin and entity in self.entities)

    def visible(self) -> Collection[str] | None:
        """Entities to filter listings by (None: every entity)."""
        return None if ALL_ENTITIES in self.entities else self.entities


@dataclass(frozen=True)
class WebhookCredential:
    """What an entity's W&B webhook authenticates with."""

    entity: str
    secret: str


class Delivery(BaseModel):
    """One event a trigger received (a webhook delivery or a schedule tick) and what it did."""

    id: int
    """Sequence number."""
    received_at: datetime
    """When it arrived."""
    source: str
    """`webhook` or `cron`."""
    entity: str
    """The entity it concerned."""
    payload: dict[str, Any]
    """The event as received (webhook body, or the tick)."""
    outcome: str
    """`started`, `duplicate`, `unmatched`, `rejected`."""
    policies: list[str] = Field(default_factory=list)
    """Policies that matched."""
    jobs: list[str] = Field(default_factory=list)
    """Jobs it started (or found already started, for duplicates)."""
    detail: str | None = None
    """Why it was rejected, when it was."""
    key: str | None = None
    """What makes another delivery a repeat of this one (for a webhook: its entity and a hash of
    the event and of what it did): a repeat is counted on this delivery instead of stored anew."""
    repeats: int = 0
    """How often the same event arrived again after this one (W&B retries, replays)."""
    last_received_at: datetime | None = None
    """When it last arrived again."""


class JobRegistry(Protocol):
    """What every registry adapter offers."""

    def create(self, record: JobRecord, idempotency_key: str | None = None) -> JobRecord: ...
    def get(self, job_id: str) -> JobRecord: ...
    def jobs(
        self,
        *,
        project: str | None = None,
        status: JobStatus | None = None,
        entities: Collection[str] | None = None,
        trigger: str | None = None,
        limit: int = 100,
        oldest_first: bool = False,
        include_shards: bool = False,
    ) -> list[JobRecord]: ...
    def transition(
        self, job_id: str, to: JobStatus, *, error: str | None = None, runtime: Runtime | None = None
    ) -> bool: ...
    def finish(
        self,
        job_id: str,
        status: JobStatus,
        results: list[BenchmarkResult],
        error: str | None,
        accounting: Accounting | None = None,
    ) -> bool: ...
    def update_runtime(
        self,
        job_id: str,
        patch: Runtime,
        *,
        versions: dict[str, str] | None = None,
        when: Callable[[JobRecord], bool] | None = None,
    ) -> bool: ...
    def request_cancel(self, job_id: str) -> None: ...
    def cancel_requested(self, job_id: str) -> bool: ...
    def projects(self) -> list[tuple[str, str]]: ...


class TriggerStore(Protocol):
    """What every trigger-state adapter offers."""

    def create_token(self, name: str, entities: Collection[str], admin: bool = False) -> str: ...
    def principal(self, token: str) -> Principal | None: ...
    def create_webhook(self, entity: str) -> tuple[str, str]: ...
    def webhook_credential(self, access_token: str) -> WebhookCredential | None: ...
    def put_policy(self, policy: Policy, now: datetime | None = None) -> None: ...
    def policy(self, entity: str, name: str) -> Policy | None: ...
    def policies(self, entities: Collection[str] | None = None) -> list[Policy]: ...
    def delete_policy(self, entity: str, name: str) -> bool: ...
    def schedule_mark(self, entity: str, name: str) -> datetime | None: ...
    def advance_schedule(self, entity: str, name: str, tick: datetime, expected: datetime | None) -> bool: ...
    def record_delivery(self, delivery: Delivery) -> Delivery: ...
    def deliveries(self, entities: Collection[str] | None = None, limit: int = 100) -> list[Delivery]: ...


class SecretStore(Protocol):
    """Named secrets per entity (like W&B team secrets). Admins write and list names; only the
    runner of one of the entity's jobs reads a value, and only its own entity's."""

    def put_secret(self, entity: str, name: str, value: str) -> None: ...
    def secret_names(self, entity: str) -> list[str]: ...
    def delete_secret(self, entity: str, name: str) -> bool: ...
    def secret_value(self, entity: str, name: str) -> str | None: ...
