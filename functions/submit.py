"""Submit a job: parse, validate, record, dispatch. Never evaluates anything itself.

Every trigger (CLI, HTTP, webhook, cron) goes through `submit_job`, so every job is
validated the same way and records what started it.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from evaljobs.errors import (
    CheckpointError,
    EvalJobError,
    JobNotFoundError,
    JobValidationError,
    ValidationIssue,
)
from evaljobs.policies import ArtifactEvent, EventType, Policy
from evaljobs.records import JobRecord, Runtime, Trigger
from evaljobs.settings import Settings
from evaljobs.spec import JobSpec
from evaljobs.stores import JobRegistry
from evaljobs.tenancy import Access
from evaljobs.validation import validate_job
from evaljobs.wandb_config import from_wandb_config, is_wandb_config
from runners.executor import Executor, start_job

__all__ = [
    "access_for",
    "as_job_doc",
    "check_local_checkpoint",
    "new_job_id",
    "policy_issues",
    "prepare_job",
    "rerun_doc",
    "submit_job",
    "submit_job_once",
]


def new_job_id() -> str:
    """`job-` and 12 hex digits."""
    return f"job-{uuid.uuid4().hex[:12]}"


def check_local_checkpoint(spec: JobSpec, settings: Settings) -> None:
    """Preflight a local checkpoint at submit time (files only, fast): fail before queueing."""
    from pathlib import Path

    from runners.checkpoint import is_wandb_artifact, preflight

    ckpt = spec.checkpoint
    if ckpt is None or ckpt.uri.startswith("s3://") or is_wandb_artifact(ckpt.uri):
        return  # remote: the runner preflights after download
    path = Path(ckpt.uri.removeprefix("file://")).expanduser()
    pointer = "/model/checkpoint/uri"
    if not path.is_dir():
        raise JobValidationError(
            [
                ValidationIssue(
                    pointer,
                    f"{path} is not a folder; give a checkpoint folder, s3:// prefix or W&B artifact path",
                )
            ]
        )
    try:
        preflight(
            path.resolve(),
            ckpt,
            settings.gpu_memory_cap_gb,
            settings.home / "tmp",
            check_architecture=False,  # needs vLLM; the runner checks it
        )
    except CheckpointError as exc:
        raise JobValidationError([ValidationIssue(pointer, str(exc))]) from exc


def access_for(trigger: Trigger, settings: Settings) -> Access:
    """What a submission may reach: the operator's CLI, or a tenant (HTTP, webhook, cron)."""
    from evaljobs.stores import open_secret_store

    names = open_secret_store(settings).secret_names
    if trigger.kind == "cli":
        env = dict(os.environ) if settings.secrets_from_env else None
        return Access(names, env=env, operator=True, settings=settings)
    return Access(names, settings=settings)


def as_job_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """Our job form of a document (W&B's config form converted; its embedded job wins)."""
    return from_wandb_config(doc) if is_wandb_config(doc) else doc


def prepare_job(
    doc: dict[str, Any], settings: Settings, access: Access | None = None, entity: str | None = None
) -> JobSpec:
    """Validate a job document (ours or W&B's config form) completely for its submitter (a tenant
    when `access` is absent), and, when `entity` is given, that the job is that entity's after
    conversion (W&B's form may embed a whole job); nothing is written."""
    doc = as_job_doc(doc)
    if entity is not None and doc.get("entity", "local") != entity:
        raise JobValidationError(
            [ValidationIssue("/entity", f"this job may only be for entity {entity}; set entity: {entity}")]
        )
    spec = validate_job(doc, access or Access(settings=settings))
    check_local_checkpoint(spec, settings)
    return spec


def _check_baseline(spec: JobSpec, registry: JobRegistry) -> None:
    """A baseline job must be one of the job's own entity (another's is as unknown as a missing one)."""
    if not spec.baseline or spec.baseline == "project":
        return
    try:
        found = registry.get(spec.baseline).entity == spec.entity
    except JobNotFoundError:
        found = False
    if not found:
        raise JobValidationError(
            [
                ValidationIssue(
                    "/baseline", f"no job {spec.baseline} in {spec.entity}; `evaljobs list` shows them"
                )
            ]
        )


def rerun_doc(spec: JobSpec, project: str | None = None, entity: str | None = None) -> dict[str, Any]:
    """A finished job's spec to submit again, moved to another project and/or entity when named
    (importing its config there)."""
    doc = spec.model_dump(mode="json", exclude_none=True)
    return {**doc, **{k: v for k, v in (("project", project), ("entity", entity)) if v}}


def submit_job(
    doc: dict[str, Any],
    *,
    trigger: Trigger,
    registry: JobRegistry,
    executor: Executor,
    settings: Settings,
    entity: str | None = None,
) -> JobRecord:
    """Validate, record (only once valid) and dispatch; returns the queued job. With `entity`,
    the job must be that entity's (see `prepare_job`)."""
    job, _ = submit_job_once(
        doc, trigger=trigger, registry=registry, executor=executor, settings=settings, key=None
    )
    return job


def submit_job_once(
    doc: dict[str, Any],
    *,
    key: str | None,
    trigger: Trigger,
    registry: JobRegistry,
    executor: Executor,
    settings: Settings,
    entity: str | None = None,
) -> tuple[JobRecord, bool]:
    """`submit_job` under an idempotency key: (the job, True) the first time; (the earlier job,
    False) for a key already used, and then nothing is recorded or dispatched."""
    spec = prepare_job(doc, settings, access_for(trigger, settings), entity)
    _check_baseline(spec, registry)
    record = JobRecord(
        id=new_job_id(),
        name=spec.name,
        entity=spec.entity,
        project=spec.project,
        model=spec.display_model(),
        spec=spec,
        trigger=trigger,
        runtime=Runtime(sinks_done=[]),  # its sinks are tracked, so ones cut off run again
    )
    stored = registry.create(record, key)
    created = stored.id == record.id
    if created:
        start_job(registry, settings, executor, stored)
    return stored, created


def policy_issues(policy: Policy, settings: Settings) -> list[ValidationIssue]:
    """What is wrong with the job a policy would start (pointers under `/job`); [] when valid.

    A webhook policy is checked with a stand-in event of its entity (the version is the model).
    """
    if policy.schedule:
        doc = policy.job_for_tick()
    else:
        doc = policy.job_for_event(
            ArtifactEvent(
                event_type=EventType.CREATE_ARTIFACT,
                artifact_version_string=f"{policy.entity}/project/model:v0",
                project_name="project",
                entity_name=policy.entity,
            )
        )
    try:
        kind = "cron" if policy.schedule else "webhook"
        prepare_job(doc, settings, access_for(Trigger(kind=kind), settings), policy.entity)
    except JobValidationError as exc:
        return [ValidationIssue(f"/job{i.pointer}", i.message) for i in exc.issues]
    except EvalJobError as exc:
        return [ValidationIssue("/job", str(exc))]
    return []
