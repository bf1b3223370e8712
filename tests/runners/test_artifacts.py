"""W&B artifact checkpoints: downloaded once, straight into the model cache, and the alias
resolved to the version that was scored.

W&B is unreachable here, so `wandb.Api().artifact()` returns a small stand-in with the
attributes the SDK's `Artifact` has after fetching `entity/project/name:alias` (its `name`
keeps the alias; `version` is the concrete `vN`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evaljobs.records import ModelArtifact
from runners.artifacts import download_wandb_artifact
from runners.checkpoint import resolve_checkpoint
from tests.conftest import write_checkpoint


class FakeArtifact:
    entity, project, name, version, digest = "team", "models", "gemma:latest", "v3", "d1g35t"

    def __init__(self) -> None:
        self.downloads: list[dict[str, Any]] = []

    def download(self, root: str | None = None, skip_cache: bool | None = None) -> str:
        self.downloads.append({"root": root, "skip_cache": skip_cache})
        assert root is not None
        write_checkpoint(Path(root))
        return root


@pytest.fixture
def artifact(monkeypatch: pytest.MonkeyPatch) -> FakeArtifact:
    import wandb

    fake = FakeArtifact()
    asked: list[str] = []

    class Api:
        def artifact(self, path: str) -> FakeArtifact:
            asked.append(path)
            return fake

    monkeypatch.setattr(wandb, "Api", Api)
    return fake


def test_download_goes_straight_into_the_model_cache_once(artifact: FakeArtifact, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    path, _ = download_wandb_artifact("team/models/gemma:latest", cache)
    assert path == cache / "wandb" / "d1g35t" and (path / "config.json").exists()
    assert artifact.downloads == [{"root": str(path), "skip_cache": True}]  # no second copy in W&B's cache
    assert download_wandb_artifact("team/models/gemma:latest", cache)[0] == path
    assert len(artifact.downloads) == 1  # same digest: served from the cache


def test_the_alias_is_resolved_to_the_version_downloaded(artifact: FakeArtifact, tmp_path: Path) -> None:
    resolved = resolve_checkpoint("wandb-artifact://team/models/gemma:latest", tmp_path)
    assert resolved.artifact == ModelArtifact(
        requested="team/models/gemma:latest", resolved="team/models/gemma:v3", version="v3", digest="d1g35t"
    )


def test_the_mirror_resolves_an_alias_to_the_version_folder_it_points_at(tmp_path: Path) -> None:
    versions = tmp_path / "mirror" / "team" / "models" / "gemma"
    write_checkpoint(versions / "v7")
    (versions / "prod").symlink_to("v7")
    resolved = resolve_checkpoint("team/models/gemma:prod", tmp_path / "cache", str(tmp_path / "mirror"))
    assert resolved.path == (versions / "v7").resolve()
    assert resolved.artifact == ModelArtifact(
        requested="team/models/gemma:prod", resolved="team/models/gemma:v7", version="v7"
    )
