"""Stranded jobs end or start again: a queued job whose spawn failed after its claim is
dispatched again; a running job whose runner call ended is failed with the reason, and its
completion event goes out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from evaljobs.records import JobRecord, JobStatus, Runtime, utcnow
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.reaper import reap
from tests.support.jobs import ended_job

SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}


class FakeModal:
    """Dispatches by recording; knows which calls have ended."""

    def __init__(self, ended: dict[str, str]) -> None:
        self.ended: dict[str, str] = ended
        self.dispatched: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.dispatched.append(job_id)

    def call_ended(self, call_id: str) -> str | None:
        return self.ended.get(call_id)


def test_stranded_jobs_are_dispatched_again_or_failed_with_the_reason(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    old, now = utcnow() - timedelta(hours=1), utcnow()

    def job(job_id: str, created: datetime | None = None) -> None:
        registry.create(
            JobRecord(id=job_id, entity="e", project="p", model="m", spec=SPEC, created_at=created or now)
        )

    job("job-stranded", old)  # its spawn raised after the claim: no call recorded
    registry.update_runtime("job-stranded", Runtime(dispatched_at=old))
    job("job-just-queued")  # the executor may not have recorded its call yet
    registry.update_runtime("job-just-queued", Runtime(dispatched_at=now))
    job("job-waiting", old)  # waiting for a free runner: the executor's fill, not the reaper
    job("job-spawned", old)
    registry.update_runtime("job-spawned", Runtime(modal_call_id="fc-queued"))
    for job_id, call in (("job-lost", "fc-oom"), ("job-alive", "fc-running")):
        job(job_id, old)
        registry.transition(job_id, JobStatus.RUNNING, runtime=Runtime(modal_call_id=call, pid=1, host="c"))
    modal = FakeModal({"fc-oom": "ContainerOOM: out of memory"})

    touched = reap(registry, modal, modal, settings, now=now)

    assert sorted(touched) == ["job-lost", "job-stranded"] and modal.dispatched == ["job-stranded"]
    lost = registry.get("job-lost")
    assert lost.status is JobStatus.FAILED and "ContainerOOM" in (lost.error or "")
    assert registry.get("job-alive").status is JobStatus.RUNNING
    outbox = sorted((settings.home / "outbox").glob("*.jsonl"))
    events = [json.loads(line) for path in outbox for line in path.read_text().splitlines()]
    assert [(e["job_id"], e["status"]) for e in events] == [("job-lost", "failed")]
    assert registry.get("job-stranded").runtime.dispatched_at is None  # the fill's to claim again
    assert reap(registry, modal, modal, settings, now=now) == []


def test_sinks_cut_off_run_again_once_their_hour_has_passed(home: Path) -> None:
    """A job ended but its sinks' process was killed after the W&B run (the completion event never
    went out): the tick runs the rest, once per `sinks_retry_after_s`, at most SINKS_RETRIES times;
    a job whose sinks may still be running, and a row that does not track its sinks, are left."""
    from runners.sinks import SINKS_RETRIES

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ended_job(registry, "job-cut", sinks_done=["wandb", "weave"])
    ended_job(registry, "job-untracked", sinks_done=None)
    modal = FakeModal({})
    wait = timedelta(seconds=settings.sinks_retry_after_s)
    outbox = settings.home / "outbox" / "job-cut.jsonl"

    assert reap(registry, modal, modal, settings, now=utcnow()) == []  # its sinks may still be running
    assert reap(registry, modal, modal, settings, now=utcnow() + wait + timedelta(minutes=1)) == ["job-cut"]

    [event] = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert event["status"] == "succeeded"
    job = registry.get("job-cut")
    assert job.runtime.sinks_done == ["wandb", "weave", "baseline", "completion-event"]
    assert not job.runtime.sink_failures  # the W&B run was not written again
    assert "cut off after wandb, weave" in (settings.jobs_dir / "job-cut" / "job.log").read_text()
    assert reap(registry, modal, modal, settings, now=utcnow() + 5 * wait) == []  # nothing owed now

    registry.update_runtime("job-cut", Runtime(sinks_done=["wandb"]))  # killed again, and again
    later = [utcnow() + k * 2 * wait for k in range(2, 2 + SINKS_RETRIES + 1)]
    for now in later:
        reap(registry, modal, modal, settings, now=now)
        registry.update_runtime("job-cut", Runtime(sinks_done=["wandb"]))
    assert len(registry.get("job-cut").runtime.sinks_retries) == SINKS_RETRIES
