"""What a job may reach, by who submits it: secrets, URLs, models and baselines.

A tenant's job (HTTP API, W&B webhook, cron policy) reaches only its own entity's things:
`secret://NAME` names a secret stored for the job's entity (never the server's environment),
`base_url` must pass `evaljobs.reach`, a W&B artifact must be of the job's entity (or one the
operator lets it read), an `s3://` bucket must be granted to it, a local folder must lie under
a root the operator configured. The operator's own CLI on the deployment's machine may serve
any model it can name and reach any host but link-local and metadata addresses, and, with
`EVALJOBS_SECRETS_FROM_ENV`, resolve secrets from its environment.
Messages never tell a tenant whether something it may not reach exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evaljobs.errors import ValidationIssue
from evaljobs.reach import url_problem
from evaljobs.secrets import ref_name
from evaljobs.settings import Settings, get_settings
from evaljobs.spec import JobSpec

__all__ = ["Access", "ModelSource", "access_issues", "entity_grants", "model_source"]

WANDB_ARTIFACT = re.compile(r"^(wandb-artifact://)?([\w.-]+)/[\w.-]+/[\w.-]+:[\w.-]+$")
"""`entity/project/name:alias`, optionally prefixed `wandb-artifact://`."""


@dataclass(frozen=True)
class ModelSource:
    """Where a checkpoint uri points."""

    kind: Literal["s3", "wandb", "local"]
    owner: str
    """The bucket, the W&B entity, or the local path."""


def model_source(uri: str) -> ModelSource:
    """Classify a checkpoint uri by its form alone (never by what exists on this machine)."""
    if uri.startswith("s3://"):
        return ModelSource("s3", uri.removeprefix("s3://").split("/", 1)[0])
    if match := WANDB_ARTIFACT.match(uri):
        return ModelSource("wandb", match.group(2))
    return ModelSource("local", uri.removeprefix("file://"))


def entity_grants(setting: str, entity: str) -> list[str]:
    """The values of an `entity:value,*:value` setting that apply to `entity`."""
    found = []
    for item in filter(None, (i.strip() for i in setting.split(","))):
        scope, sep, value = item.partition(":")
        if sep and scope in (entity, "*"):
            found.append(value)
    return found


def _no_names(entity: str) -> Collection[str]:
    return ()


@dataclass(frozen=True)
class Access:
    """Who submits, and so what the job may reach."""

    secret_names: Callable[[str], Collection[str]] = _no_names
    """Names stored for an entity in its secret store."""
    env: Mapping[str, str] | None = None
    """Single-user CLI with `secrets_from_env`: `secret://NAME` may also read this environment."""
    operator: bool = False
    """The operator's CLI on the deployment's machine: any model, any host but metadata."""
    settings: Settings = field(default_factory=get_settings)


def _secret_issues(spec: JobSpec, access: Access) -> list[ValidationIssue]:
    refs = spec.secret_refs()
    if not refs:
        return []
    stored = set(access.secret_names(spec.entity))
    issues = []
    for pointer, ref in refs.items():
        name = ref_name(ref)
        if name in stored or (access.env is not None and access.env.get(name)):
            continue
        fix = f"an admin of {spec.entity} stores it with `evaljobs secret set --entity {spec.entity} {name}`"
        if access.env is not None:
            fix += f", or `export {name}=…` for this single-user run"
        issues.append(ValidationIssue(pointer, f"secret {name} is not set for entity {spec.entity}: {fix}"))
    return issues


def _url_issues(spec: JobSpec, settings: Settings, operator: bool) -> list[ValidationIssue]:
    urls = {"/model/api/base_url": spec.api.base_url if spec.api else None}
    urls["/grader/base_url"] = spec.grader.base_url if spec.grader else None
    return [
        ValidationIssue(pointer, f"base_url refused: {problem}")
        for pointer, url in urls.items()
        if url and (problem := url_problem(url, spec.entity, settings, operator=operator))
    ]


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _model_issues(spec: JobSpec, access: Access) -> list[ValidationIssue]:
    if spec.checkpoint is None or access.operator:
        return []
    settings, entity, pointer = access.settings, spec.entity, "/model/checkpoint/uri"
    source = model_source(spec.checkpoint.uri)
    if source.kind == "wandb":
        if any(part in (".", "..") for part in re.split(r"[/:]", spec.checkpoint.uri.split("://")[-1])):
            return [ValidationIssue(pointer, "a W&B artifact path has no `.` or `..` parts")]
        readable = {entity, *entity_grants(settings.model_entities, entity)}
        if source.owner not in readable:
            return [ValidationIssue(pointer, f"{entity} may not read W&B artifacts of {source.owner[:100]}")]
    elif source.kind == "s3":
        if source.owner not in entity_grants(settings.s3_buckets, entity):
            return [
                ValidationIssue(
                    pointer, f"bucket {source.owner[:100]} is not granted to {entity} (EVALJOBS_S3_BUCKETS)"
                )
            ]
    else:
        # resolved first, so neither `..` nor a symlink leads out of a root
        path = Path(source.owner).expanduser()
        roots = [Path(r).expanduser().resolve() for r in settings.local_model_roots.split(",") if r.strip()]
        roots = roots or [settings.models_dir.resolve()]
        if not _under(path.resolve(), roots):
            return [
                ValidationIssue(
                    pointer,
                    "local folders are served only from the operator's model roots "
                    "(EVALJOBS_LOCAL_MODEL_ROOTS); give a W&B artifact or an s3:// prefix",
                )
            ]
    return []


def _template_issues(spec: JobSpec, access: Access) -> list[ValidationIssue]:
    """A chat template of one line without `{` is read as a file by the runner: the operator's only."""
    template = spec.checkpoint.chat_template if spec.checkpoint else None
    if access.operator or template is None or "\n" in template or "{" in template:
        return []
    return [
        ValidationIssue(
            "/model/checkpoint/chat_template",
            "give the template's Jinja text; a job may not name a file on the runner",
        )
    ]


def access_issues(spec: JobSpec, access: Access) -> list[ValidationIssue]:
    """Everything the job names that its submitter may not reach, each at its pointer."""
    return [
        *_secret_issues(spec, access),
        *_template_issues(spec, access),
        *_url_issues(spec, access.settings, access.operator),
        *_model_issues(spec, access),
    ]
