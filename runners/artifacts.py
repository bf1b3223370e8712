"""Remote checkpoints: `s3://` prefixes and W&B artifacts, downloaded into a cache.

Kept thin: the SDKs do the transfer. A second job on the same version reuses the cache
(S3: keyed by the listing's ETags; W&B: keyed by the artifact digest). A W&B alias is
resolved to the version it pointed at when downloaded, for the job's record.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from evaljobs.errors import CheckpointError
from evaljobs.records import ModelArtifact

__all__ = ["download_s3_prefix", "download_wandb_artifact", "mirrored_wandb_artifact", "resolved_artifact"]


def download_s3_prefix(uri: str, cache_dir: Path) -> Path:
    """Mirror every object under an `s3://bucket/prefix` into the cache; returns the folder."""
    from botocore.exceptions import BotoCoreError, ClientError

    from evaljobs.stores.aws import aws_client

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    s3 = aws_client("s3")
    try:
        objects = [
            obj
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]
    except (BotoCoreError, ClientError) as exc:
        raise CheckpointError(f"cannot list {uri}: {exc}") from exc
    if not objects:
        raise CheckpointError(f"{uri} holds no objects; check the bucket and prefix")
    digest = hashlib.sha256("".join(sorted(o["ETag"] for o in objects)).encode()).hexdigest()[:16]
    target = cache_dir / "s3" / bucket / prefix.strip("/") / digest
    done = target / ".complete"
    if done.exists():
        return target
    for obj in objects:
        dest = target / obj["Key"][len(prefix) :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(dest))
    done.touch()
    return target


def resolved_artifact(requested: str, artifact: Any) -> ModelArtifact:
    """What a fetched `wandb.Artifact` says it is: its alias resolved to `vN`, and its digest.

    `artifact.qualified_name` keeps the alias the path asked for (`name:latest`), so the
    concrete name is built from the collection name and `artifact.version`.
    """
    collection = str(artifact.name).split(":", 1)[0]
    version = str(artifact.version)
    return ModelArtifact(
        requested=requested,
        resolved=f"{artifact.entity}/{artifact.project}/{collection}:{version}",
        version=version,
        digest=str(artifact.digest),
    )


def download_wandb_artifact(path: str, cache_dir: Path) -> tuple[Path, ModelArtifact]:
    """Download `entity/project/name:alias` with the W&B SDK into the cache, keyed by its digest;
    returns the folder and the version the alias pointed at."""
    import wandb

    try:
        artifact = wandb.Api().artifact(path)
    except Exception as exc:  # wandb raises bare CommError/ValueError kinds; translated here
        raise CheckpointError(f"cannot resolve W&B artifact {path}: {exc}") from exc
    target: Path = cache_dir / "wandb" / str(artifact.digest)
    done = target / ".complete"
    if not done.exists():
        # straight into our cache: W&B's own cache would hold a second copy (a 100 GB checkpoint twice)
        artifact.download(root=str(target), skip_cache=True)
        done.touch()
    return target, resolved_artifact(path, artifact)


def mirrored_wandb_artifact(path: str, root: Path) -> tuple[Path, ModelArtifact]:
    """`entity/project/name:alias` from a local folder laid out as `root/entity/project/name/alias/`.

    The offline stand-in for W&B (`EVALJOBS_ARTIFACT_SOURCE=<folder>`): aliases are folders
    or symlinks to a version's folder, as W&B's aliases point at versions; the version is the
    name of the folder the alias resolves to.
    """
    name, _, alias = path.partition(":")
    parts = [*name.split("/"), alias]
    folder = root.joinpath(*parts)
    if any(part in (".", "..") for part in parts) or not folder.is_dir():
        raise CheckpointError(
            f"W&B artifact {path} is not in the artifact mirror {root} (looked for {folder})"
        )
    resolved = folder.resolve()
    return resolved, ModelArtifact(requested=path, resolved=f"{name}:{resolved.name}", version=resolved.name)
