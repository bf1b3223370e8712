"""run_job's bookkeeping, without a model server."""

from pathlib import Path

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.job import run_job

API_JOB = {
    "model": {"api": {"model": "vllm/nothing", "base_url": "http://127.0.0.1:9/v1"}},
    "benchmarks": ["boolq"],
    "limit": 1,
    "retries": 0,
}


def test_a_job_whose_runner_died_is_taken_over(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-dead", entity="local", project="p", model="m", spec=API_JOB))
    registry.transition("job-dead", JobStatus.RUNNING)
    registry.update_runtime("job-dead", Runtime(pid=2**22 + 12345))  # no such process
    status = run_job("job-dead", registry, settings)
    assert status is JobStatus.FAILED  # nothing listens on port 9; the point is it ran again
    log = (settings.jobs_dir / "job-dead" / "job.log").read_text()
    assert "resuming job job-dead" in log


def test_a_finished_job_is_not_run_again(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-done", entity="local", project="p", model="m", spec=API_JOB))
    registry.transition("job-done", JobStatus.RUNNING)
    registry.finish("job-done", JobStatus.SUCCEEDED, [], None)
    assert run_job("job-done", registry, settings) is JobStatus.SUCCEEDED
    assert not (settings.jobs_dir / "job-done" / "job.log").exists()
