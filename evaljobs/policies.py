"""Evaluation policies: which events start which jobs.

A policy belongs to one entity and is either a *webhook* policy (`match:` selects W&B artifact
events by project, collection, alias, tag and event type; the event's artifact version is the
model) or a *cron* policy (`schedule:` a cron expression in UTC; `job.model` names the model,
e.g. a W&B artifact alias such as `production` or a hosted API). `job` is the job template:
any job field except `entity`, which is the policy's.

Policies come from a YAML file (`policies: [...]`) and the API; both end in the trigger store.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evaljobs.errors import ConfigError, issues_from_pydantic

__all__ = [
    "ArtifactEvent",
    "EventMatch",
    "EventType",
    "Policy",
    "latest_tick",
    "load_policy_file",
    "missed_ticks",
    "schedule_problem",
]


class EventType(StrEnum):
    """W&B automation event types that concern artifact versions."""

    CREATE_ARTIFACT = "CREATE_ARTIFACT"
    ADD_ARTIFACT_ALIAS = "ADD_ARTIFACT_ALIAS"
    ADD_ARTIFACT_TAG = "ADD_ARTIFACT_TAG"
    LINK_MODEL = "LINK_MODEL"
    LINK_ARTIFACT = "LINK_ARTIFACT"


class ArtifactEvent(BaseModel):
    """A W&B artifact event, as the webhook payload template in the README sends it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    event_type: EventType
    """`CREATE_ARTIFACT`, `ADD_ARTIFACT_ALIAS`, `ADD_ARTIFACT_TAG` or `LINK_MODEL`."""
    event_author: str | None = Field(default=None, max_length=200)
    """Who caused the event."""
    alias: str | None = Field(default=None, max_length=200)
    """The alias added (alias events)."""
    tag: str | None = Field(default=None, max_length=200)
    """The tag added (tag events), when the payload template carries it."""
    artifact_version: str | None = Field(default=None, max_length=500)
    """W&B's id of the artifact version (`wandb-artifact://_id/…`)."""
    artifact_version_string: str = Field(pattern=r"^[\w.-]+/[\w.-]+/[\w.-]+:[\w.-]+$", max_length=500)
    """`entity/project/name:version-or-alias`: what the job evaluates."""
    artifact_collection_name: str | None = Field(default=None, max_length=200)
    """The artifact collection (the name without version)."""
    project_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=200)
    """The project the event happened in."""
    entity_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=200)
    """The entity (team or user) the event happened in."""

    @model_validator(mode="before")
    @classmethod
    def _unfilled_to_none(cls, data: Any) -> Any:
        """W&B leaves `${alias}` etc. unsubstituted or empty when an event has no such value."""
        if isinstance(data, dict):
            return {
                k: None if isinstance(v, str) and (not v or (v.startswith("${") and v.endswith("}"))) else v
                for k, v in data.items()
            }
        return data

    @property
    def collection(self) -> str:
        """The collection name, from the payload or the version string."""
        return self.artifact_collection_name or self.artifact_version_string.split("/")[-1].split(":")[0]

    @property
    def version_key(self) -> str:
        """What identifies the artifact version across events (alias and tag events included)."""
        return self.artifact_version or self.artifact_version_string


class EventMatch(BaseModel):
    """Which artifact events a webhook policy takes. Every field given must match (globs)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    project: list[str] = Field(default_factory=list)
    """Project name patterns; empty matches any."""
    collection: list[str] = Field(default_factory=list)
    """Artifact collection patterns; empty matches any."""
    alias: list[str] = Field(default_factory=list)
    """Alias patterns; empty matches any event, with or without an alias."""
    tag: list[str] = Field(default_factory=list)
    """Tag patterns; empty matches any."""
    event_type: list[EventType] = Field(default_factory=list)
    """Event types; empty matches any."""

    @field_validator("project", "collection", "alias", "tag", "event_type", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def matches(self, event: ArtifactEvent) -> bool:
        """True when the event passes every given pattern."""

        def ok(patterns: list[str], value: str | None) -> bool:
            return not patterns or (
                value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)
            )

        return (
            ok(self.project, event.project_name)
            and ok(self.collection, event.collection)
            and ok(self.alias, event.alias)
            and ok(self.tag, event.tag)
            and (not self.event_type or event.event_type in self.event_type)
        )


class Policy(BaseModel):
    """An evaluation policy: an event matcher or a cron schedule, and a job template."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    """Name, unique within its entity."""
    entity: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=200)
    """The entity whose events this policy takes and whose jobs it starts."""
    match: EventMatch | None = None
    """Webhook policy: the artifact events that start a job."""
    schedule: str | None = Field(default=None, max_length=100)
    """Cron policy: a cron expression (UTC), e.g. `0 2 * * *` for 02:00 every night."""
    job: dict[str, Any] = Field(default_factory=dict)
    """Job template (any job field but `entity`); a cron policy's must name the `model`."""
    enabled: bool = True
    """Disabled policies match nothing and never fire."""

    @field_validator("schedule", mode="after")
    @classmethod
    def _fires(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A schedule must be cron and fire. A stored policy (read back from JSON) is checked
        for form only: whether a schedule fires depends on the clock (a year field ends it),
        and one row that stopped firing must not make every policy unreadable; the scheduler
        records it on that policy's deliveries instead."""
        if value is None:
            return value
        if info.mode == "json":
            problem = None if croniter.is_valid(value) else NOT_CRON
        else:
            problem = schedule_problem(value, datetime.now(UTC))
        if problem:
            raise ValueError(f"schedule {value!r} {problem}")
        return value

    @model_validator(mode="after")
    def _kind(self) -> Policy:
        if (self.match is None) == (self.schedule is None):
            raise ValueError("give exactly one of `match` (webhook policy) or `schedule` (cron policy)")
        if "entity" in self.job:
            raise ValueError("job.entity is the policy's entity; remove it from the template")
        if self.schedule is not None and "model" not in self.job:
            raise ValueError("a cron policy's job must name the model (`job.model`)")
        return self

    def job_for_event(self, event: ArtifactEvent) -> dict[str, Any]:
        """The job document for an artifact event: the template, with the event's version as model."""
        doc = copy.deepcopy(self.job)
        checkpoint = dict((doc.get("model") or {}).get("checkpoint") or {})
        checkpoint["uri"] = event.artifact_version_string
        doc["model"] = {"checkpoint": checkpoint}
        doc["entity"] = self.entity
        doc.setdefault("project", event.project_name)
        return doc

    def job_for_tick(self) -> dict[str, Any]:
        """The job document a schedule tick starts."""
        return {**copy.deepcopy(self.job), "entity": self.entity}


NOT_CRON = "is not a cron expression (e.g. `0 2 * * *`)"
_RANDOM = re.compile(r"^r(\(\d+-\d+\))?(/\d+)?$", re.IGNORECASE)
"""croniter's `R` field syntax: a value drawn anew each time the expression is read."""


def schedule_problem(schedule: str, now: datetime) -> str | None:
    """Why a cron expression cannot be a policy's schedule at `now`, or None when it can.

    croniter accepts expressions that never fire (`0 0 30 2 *`, a year field that has passed)
    and only fails when asked for a fire time, so the next and the previous one are computed.
    """
    if not croniter.is_valid(schedule):
        return NOT_CRON
    if any(_RANDOM.match(part) for field in schedule.split() for part in field.split(",")):
        return (
            "uses R (random), which is drawn anew at every poll and would fire at random; give fixed values"
        )
    try:
        croniter(schedule, now).get_next(datetime)
        croniter(schedule, now).get_prev(datetime)
    except (ValueError, OverflowError):  # CroniterBadDateError is a ValueError
        return (
            "never fires: no date matches it before or after now (30 February, "
            "or a year field that leaves out the present); give a date that exists"
        )
    return None


def latest_tick(schedule: str, now: datetime) -> datetime:
    """The latest scheduled time at or before `now`."""
    tick: datetime = croniter(schedule, now + timedelta(seconds=1)).get_prev(datetime)  # includes `now`
    return tick


def missed_ticks(schedule: str, since: datetime, due: datetime, cap: int = 10_000) -> int:
    """Ticks after `since` and before `due` that were not run (downtime); counted, not run."""
    it, count = croniter(schedule, since), 0
    while count < cap and it.get_next(datetime) < due:
        count += 1
    return count


def load_policy_file(path: Path) -> list[Policy]:
    """Policies from a YAML file with a top-level `policies:` list."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read policies from {path}: {exc}") from exc
    items = (doc or {}).get("policies") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a top-level `policies:` list")
    policies = []
    for i, item in enumerate(items):
        try:
            policies.append(Policy.model_validate(item))
        except ValidationError as exc:
            issues = issues_from_pydantic(exc, prefix=f"/policies/{i}")
            raise ConfigError(f"{path}: " + "; ".join(map(str, issues))) from exc
    counts = Counter(f"{p.entity}/{p.name}" for p in policies)
    if dup := sorted(key for key, n in counts.items() if n > 1):
        raise ConfigError(f"{path}: policy name(s) used twice in one entity: {', '.join(dup)}")
    return policies
