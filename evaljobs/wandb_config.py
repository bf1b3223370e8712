"""W&B LLM Evaluation Jobs' config.yaml, both ways.

W&B's checkpoint job: `tasks` (1–4 ids), `limit` (0/blank = all), `artifact_path`,
`create_leaderboard`, `hf_token`, `scorer_api_key`; its hosted-model job has
`model: {model_name, base_url, api_key_var}` instead of `artifact_path`. We export that
form, plus an `evaljobs` key holding our whole job so a re-run loses nothing; we import
either form.
"""

from __future__ import annotations

from typing import Any

from evaljobs.records import ModelArtifact
from evaljobs.spec import LOCAL_ENTITY, CheckpointModelRef, JobSpec

__all__ = ["from_wandb_config", "is_wandb_config", "to_wandb_config", "wandb_entity"]

_WANDB_KEYS = {"tasks", "artifact_path", "create_leaderboard", "hf_token", "scorer_api_key"}


def _secret(value: str | None) -> str | None:
    if not value:
        return None
    return value if value.startswith("secret://") else f"secret://{value}"


def _secret_name(ref: str | None) -> str:
    """W&B's form names a secret (`HF_TOKEN`); ours references it (`secret://HF_TOKEN`)."""
    return (ref or "").removeprefix("secret://")


def is_wandb_config(doc: dict[str, Any]) -> bool:
    """True for W&B's config form (it has `tasks`, never `benchmarks`)."""
    return "benchmarks" not in doc and bool(_WANDB_KEYS & doc.keys())


def from_wandb_config(doc: dict[str, Any]) -> dict[str, Any]:
    """Our job document from a W&B config.yaml (ours embedded under `evaljobs` wins)."""
    if isinstance(doc.get("evaljobs"), dict):
        return dict(doc["evaljobs"])
    job: dict[str, Any] = {"benchmarks": list(doc.get("tasks") or [])}
    if doc.get("limit"):
        job["limit"] = int(doc["limit"])
    if "create_leaderboard" in doc:
        job["leaderboard"] = bool(doc["create_leaderboard"])
    secrets = {k: _secret(doc.get(k)) for k in ("hf_token", "scorer_api_key") if doc.get(k)}
    if secrets:
        job["secrets"] = secrets
    hosted = doc.get("model")
    if isinstance(hosted, dict):
        api: dict[str, Any] = {"model": hosted.get("model_name")}
        if hosted.get("base_url"):
            api["base_url"] = hosted["base_url"]
        if hosted.get("api_key_var"):
            api["api_key"] = _secret(hosted["api_key_var"])
        job["model"] = {"api": api}
    elif doc.get("artifact_path"):
        job["model"] = {"checkpoint": {"uri": doc["artifact_path"]}}
    for key in ("entity", "project", "name"):
        if doc.get(key):
            job[key] = doc[key]
    return job


def wandb_entity(entity: str) -> str | None:
    """The entity to hand W&B and Weave for a job's `entity`: None for the `local` placeholder,
    which lets W&B choose as it always does (`WANDB_ENTITY`, else the API key's default entity)."""
    return None if entity == LOCAL_ENTITY else entity


def _pinned(spec: JobSpec, scored: ModelArtifact) -> JobSpec:
    """The job with its W&B artifact named at the version that was scored, not by its alias."""
    if spec.checkpoint is None or scored.requested not in spec.checkpoint.uri:
        return spec
    uri = spec.checkpoint.uri.replace(scored.requested, scored.resolved)
    model = CheckpointModelRef(checkpoint=spec.checkpoint.model_copy(update={"uri": uri}))
    return spec.model_copy(update={"model": model})


def to_wandb_config(spec: JobSpec, scored: ModelArtifact | None = None) -> dict[str, Any]:
    """W&B's config form of the job (secrets by name), with ours under `evaljobs` (by reference).

    With `scored` (the artifact version the job served), both forms name that version, so a
    re-run from the exported file evaluates the same weights whatever the alias points at now.
    """
    spec = _pinned(spec, scored) if scored else spec
    out: dict[str, Any] = {"tasks": [b.id for b in spec.benchmark_refs()], "limit": spec.limit or 0}
    if spec.checkpoint:
        out["artifact_path"] = spec.checkpoint.uri
    elif spec.api:
        out["model"] = {
            "model_name": spec.api.model,
            "base_url": spec.api.base_url or "",
            "api_key_var": _secret_name(spec.api.api_key),
        }
    out["create_leaderboard"] = spec.leaderboard
    if spec.secrets.hf_token:
        out["hf_token"] = _secret_name(spec.secrets.hf_token)
    if spec.secrets.scorer_api_key:
        out["scorer_api_key"] = _secret_name(spec.secrets.scorer_api_key)
    out["evaljobs"] = spec.model_dump(mode="json", exclude_none=True)
    return out
