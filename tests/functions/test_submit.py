from pathlib import Path
from typing import Any

import pytest

from evaljobs.errors import JobValidationError
from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from tests.conftest import write_checkpoint


class RecordingExecutor:
    """An executor that only remembers what it was asked to run."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.dispatched.append(job_id)


def submit(doc: dict[str, Any], registry: SqliteRegistry, executor: RecordingExecutor) -> Any:
    return submit_job(
        doc,
        trigger=Trigger(kind="cli"),
        registry=registry,
        executor=executor,
        settings=get_settings(),
    )


def test_valid_job_is_recorded_then_dispatched(home: Path, tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "ckpt")
    registry, executor = SqliteRegistry(tmp_path / "r.sqlite3"), RecordingExecutor()
    job = submit(
        {"model": {"checkpoint": {"uri": str(ckpt)}}, "benchmarks": ["boolq"], "project": "demo"},
        registry,
        executor,
    )
    assert executor.dispatched == [job.id]
    stored = registry.get(job.id)
    assert stored.status is JobStatus.QUEUED and stored.trigger.kind == "cli" and stored.model == "ckpt"


@pytest.mark.parametrize(
    ("make", "pointer", "needle"),
    [
        (
            lambda d: {"model": {"checkpoint": {"uri": str(d / "nope")}}, "benchmarks": ["boolq"]},
            "/model/checkpoint/uri",
            "not a folder",
        ),
        (
            lambda d: {"model": {"checkpoint": {"uri": str(d)}}, "benchmarks": ["boolq"]},
            "/model/checkpoint/uri",
            "no config.json",
        ),
        (
            lambda d: {
                "model": {
                    "checkpoint": {
                        "uri": str(write_checkpoint(d / "big", layers=2000)),
                        "max_model_len": 131072,
                    }
                },
                "benchmarks": ["boolq"],
            },
            "/model/checkpoint/uri",
            "over the 86 GiB cap",
        ),
        (
            lambda d: {
                "model": {"checkpoint": {"uri": str(write_checkpoint(d / "c"))}},
                "benchmarks": ["nope"],
            },
            "/benchmarks/0",
            "unknown benchmark",
        ),
        (
            lambda d: {
                "model": {"api": {"model": "openai/x", "api_key": "secret://ABSENT_KEY"}},
                "benchmarks": ["boolq"],
            },
            "/model/api/api_key",
            "ABSENT_KEY is not set",
        ),
    ],
    ids=["missing-folder", "not-a-checkpoint", "over-the-cap", "unknown-benchmark", "missing-secret"],
)
def test_rejected_jobs_write_nothing(
    home: Path, tmp_path: Path, make: Any, pointer: str, needle: str
) -> None:
    registry, executor = SqliteRegistry(tmp_path / "r.sqlite3"), RecordingExecutor()
    with pytest.raises(JobValidationError) as info:
        submit(make(tmp_path), registry, executor)
    messages = {i.pointer: i.message for i in info.value.issues}
    assert needle in messages[pointer]
    assert registry.jobs() == [] and executor.dispatched == []


def test_wandb_config_form_is_accepted(home: Path, tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "ckpt")
    registry, executor = SqliteRegistry(tmp_path / "r.sqlite3"), RecordingExecutor()
    job = submit({"tasks": ["boolq", "piqa"], "limit": 3, "artifact_path": str(ckpt)}, registry, executor)
    assert registry.get(job.id).spec.benchmarks == ["boolq", "piqa"]


def test_a_baseline_of_another_entity_is_as_unknown_as_a_missing_one(home: Path, tmp_path: Path) -> None:
    registry, executor = SqliteRegistry(tmp_path / "r.sqlite3"), RecordingExecutor()
    api = {"api": {"model": "openai/m", "base_url": "http://127.0.0.1:9/v1"}}
    theirs = submit({"entity": "team-b", "model": api, "benchmarks": ["boolq"]}, registry, executor)
    answers = []
    for baseline in (theirs.id, "job-000000000000"):
        with pytest.raises(JobValidationError) as caught:
            submit(
                {"entity": "team-a", "model": api, "benchmarks": ["boolq"], "baseline": baseline},
                registry,
                executor,
            )
        [issue] = caught.value.issues
        answers.append((issue.pointer, issue.message.replace(baseline, "ID")))
    assert answers[0] == answers[1] == ("/baseline", "no job ID in team-a; `evaljobs list` shows them")
    mine = submit({"entity": "team-a", "model": api, "benchmarks": ["boolq"]}, registry, executor)
    ok = submit(
        {"entity": "team-a", "model": api, "benchmarks": ["boolq"], "baseline": mine.id}, registry, executor
    )
    assert ok.spec.baseline == mine.id and len(registry.jobs()) == 3
