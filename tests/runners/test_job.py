"""run_job's bookkeeping, without a model server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.job import run_job
from tests.support.jobs import ended_job

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


class InputCancellation(BaseException):
    """What Modal raises into a running input when its call is cancelled (a BaseException)."""


def test_a_cancellation_from_outside_ends_the_job_with_its_sinks(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runners.job as job_module

    def cancelled(*args: object, **kwargs: object) -> object:
        raise InputCancellation

    monkeypatch.setattr(job_module, "_evaluate", cancelled)
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-cancelled", entity="local", project="p", model="m", spec=API_JOB))
    assert run_job("job-cancelled", registry, settings) is JobStatus.CANCELLED
    job = registry.get("job-cancelled")
    assert job.status is JobStatus.CANCELLED and "InputCancellation" in (job.error or "")
    outbox = settings.home / "outbox" / "job-cancelled.jsonl"
    events = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(e["job_id"], e["status"]) for e in events] == [("job-cancelled", "cancelled")]


def test_cancel_never_signals_a_pid_of_another_host(home: Path) -> None:
    from runners.executor import cancel_job

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        registry.create(JobRecord(id="job-elsewhere", entity="local", project="p", model="m", spec=API_JOB))
        registry.transition(
            "job-elsewhere", JobStatus.RUNNING, runtime=Runtime(pid=bystander.pid, host="another-container")
        )
        cancel_job(registry, "job-elsewhere")
        assert bystander.poll() is None  # same pid number, other host: not ours to signal
        assert registry.cancel_requested("job-elsewhere")
    finally:
        bystander.kill()
        bystander.wait()


def test_cancelling_a_queued_modal_job_withdraws_its_call(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spawned call waits in Modal's queue (max_containers): cancelled, it must leave the queue
    rather than start a GPU container later only to find the job cancelled."""
    import modal

    from runners.executor import cancel_job

    cancelled: list[str] = []

    class Call:
        def __init__(self, call_id: str) -> None:
            self.call_id = call_id

        def cancel(self, terminate_containers: bool = False) -> None:
            cancelled.append(self.call_id)

    monkeypatch.setattr(modal.FunctionCall, "from_id", Call)
    registry = SqliteRegistry(get_settings().db_path)
    registry.create(JobRecord(id="job-waiting", entity="local", project="p", model="m", spec=API_JOB))
    registry.update_runtime("job-waiting", Runtime(modal_call_id="fc-waiting"))
    assert cancel_job(registry, "job-waiting") is JobStatus.CANCELLED
    assert cancelled == ["fc-waiting"]


def test_a_job_cancelled_before_it_ran_still_sends_its_completion_event(home: Path) -> None:
    """No runner will run its sinks: the cancel does (on Modal, `finish` does, as asked); the
    same for a running job whose runner had vanished."""
    from runners.executor import cancel_job

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-early", entity="local", project="p", model="m", spec=API_JOB))
    assert cancel_job(registry, "job-early") is JobStatus.CANCELLED
    outbox = settings.home / "outbox" / "job-early.jsonl"
    events = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(e["status"], e["usage"]) for e in events] == [("cancelled", None)]
    assert "job job-early cancelled: cancelled" in (settings.jobs_dir / "job-early" / "job.log").read_text()

    registry.create(JobRecord(id="job-orphan", entity="local", project="p", model="m", spec=API_JOB))
    registry.transition(
        "job-orphan", JobStatus.RUNNING, runtime=Runtime(pid=2**22 + 12345)
    )  # no such process
    handed: list[tuple[str, str]] = []
    finish = lambda job_id, step: handed.append((job_id, step))  # noqa: E731 - Modal's `finish`, recorded
    assert cancel_job(registry, "job-orphan", finish_elsewhere=finish) is JobStatus.CANCELLED
    assert handed == [("job-orphan", "sinks")]
    assert not (settings.home / "outbox" / "job-orphan.jsonl").exists()  # not here: there


def test_a_rerun_of_the_same_dispatch_resumes_a_job_left_running(home: Path) -> None:
    """Modal re-runs a preempted input in another container: the recorded pid and host say
    nothing there, so the runner is told it is the same dispatch and takes the job over."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-preempted", entity="local", project="p", model="m", spec=API_JOB))
    registry.transition("job-preempted", JobStatus.RUNNING, runtime=Runtime(pid=1, host="gone-container"))
    assert run_job("job-preempted", registry, settings) is JobStatus.RUNNING  # not ours to judge
    assert registry.get("job-preempted").status is JobStatus.RUNNING
    assert (
        run_job("job-preempted", registry, settings, rerun=True) is JobStatus.FAILED
    )  # ran: no server on :9
    job = registry.get("job-preempted")
    assert job.runtime.resumed and job.runtime.host != "gone-container" and job.finished_at is not None


def test_a_rerun_of_a_job_ended_before_its_sinks_ran_runs_them(home: Path) -> None:
    """Preempted between the job's end and its sinks: Modal's re-run of the input finds the job
    ended, and runs the sinks it still owes instead of nothing."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ended_job(registry, "job-ended", sinks_done=[])
    outbox = settings.home / "outbox" / "job-ended.jsonl"
    assert run_job("job-ended", registry, settings) is JobStatus.SUCCEEDED and not outbox.exists()

    assert run_job("job-ended", registry, settings, rerun=True) is JobStatus.SUCCEEDED
    assert [json.loads(line)["status"] for line in outbox.read_text().splitlines()] == ["succeeded"]
    run_job("job-ended", registry, settings, rerun=True)  # owed nothing now: not sent twice
    assert len(outbox.read_text().splitlines()) == 1
