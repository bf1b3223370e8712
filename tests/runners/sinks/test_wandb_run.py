"""The W&B run of a job whose model is a W&B artifact: it names the version that was scored
(config, exported config.yaml, and online the artifact use that draws the model's lineage),
and goes to the job's entity, never to the `local` placeholder."""

from __future__ import annotations

from pathlib import Path

import yaml

from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, ModelArtifact, Runtime
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.wandb_config import wandb_entity
from runners.sinks import SinkContext, WandbSink
from runners.sinks.wandb_run import declare_model
from tests.support.wandb_log import read_offline_run

SCORED = ModelArtifact(
    requested="team-a/models/gemma:latest", resolved="team-a/models/gemma:v3", version="v3", digest="d1g35t"
)


def finished(entity: str | None) -> JobRecord:
    spec = {
        "model": {"checkpoint": {"uri": "wandb-artifact://team-a/models/gemma:latest"}},
        "benchmarks": ["boolq"],
        **({"entity": entity} if entity else {}),
    }
    record = JobRecord(
        id="job-0123456789ab",
        entity=entity or "local",
        project="evaljobs",
        model="gemma:latest",
        spec=spec,
        status=JobStatus.SUCCEEDED,
        results=[BenchmarkResult(benchmark="boolq", task="boolq", status="success")],
    )
    return record.model_copy(update={"runtime": Runtime(model_artifact=SCORED)})


def write_offline(job: JobRecord, home: Path) -> Path:
    settings = get_settings()
    context = SinkContext(SqliteRegistry(settings.db_path), settings, home / job.id, lambda _: None)
    patch = WandbSink().write(job, context)
    assert patch is not None and patch.wandb is not None and patch.wandb.mode == "offline"
    return Path(patch.wandb.dir)


def test_the_run_names_the_scored_version_and_the_jobs_entity(home: Path) -> None:
    run_dir = write_offline(finished("team-a"), home)
    run = read_offline_run(run_dir)
    assert run.entity == "team-a"  # `wandb sync` uploads it to the job's entity
    assert run.config["model"]["checkpoint"]["uri"] == "team-a/models/gemma:latest"  # as submitted
    assert run.config["model_artifact"] == SCORED.model_dump(mode="json")
    exported = yaml.safe_load((run_dir / "files" / "evaljobs" / "config.yaml").read_text())
    assert exported["artifact_path"] == "wandb-artifact://team-a/models/gemma:v3"
    assert exported["evaljobs"]["model"]["checkpoint"]["uri"] == "wandb-artifact://team-a/models/gemma:v3"


def test_the_local_placeholder_is_never_sent_as_an_entity(home: Path) -> None:
    assert wandb_entity("local") is None and wandb_entity("team-a") == "team-a"
    assert read_offline_run(write_offline(finished(None), home)).entity == ""  # W&B's default entity


class RecordingRun:
    def __init__(self) -> None:
        self.used: list[str] = []

    def use_artifact(self, name: str) -> None:
        self.used.append(name)


def test_online_the_run_uses_the_scored_version_for_lineage() -> None:
    online, offline = RecordingRun(), RecordingRun()
    declare_model(online, SCORED, "online")
    declare_model(offline, SCORED, "offline")  # the SDK raises on use_artifact offline
    declare_model(online, None, "online")  # not a W&B artifact: no input to declare
    assert online.used == ["team-a/models/gemma:v3"] and offline.used == []
