"""The local worker pool: concurrency limit, queue order, pickup after a restart.

Runners here are real processes that play a runner's part in the registry (claim the job
with their pid, sleep, finish), so the pool's bookkeeping meets real pids and exits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import Settings, get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.worker_pool import WorkerPool
from tests.support.jobs import ended_job

FAKE_RUNNER = """
import os, sys, time
from evaljobs.records import JobStatus, Runtime
from evaljobs.stores.sqlite_registry import SqliteRegistry
registry = SqliteRegistry(__import__("pathlib").Path(sys.argv[1]))
job = registry.get(sys.argv[2])
if not registry.transition(job.id, JobStatus.RUNNING, runtime=Runtime(pid=os.getpid())):
    registry.update_runtime(job.id, Runtime(pid=os.getpid(), resumed=True))
time.sleep(float(sys.argv[3]))
registry.finish(job.id, JobStatus.SUCCEEDED, [], None)
"""


def fake_spawn(seconds: float, spawned: list[str] | None = None):  # type: ignore[no-untyped-def]
    def spawn(settings: Settings, job_id: str) -> subprocess.Popen[bytes]:
        if spawned is not None:
            spawned.append(job_id)
        return subprocess.Popen(
            [sys.executable, "-c", FAKE_RUNNER, str(settings.db_path), job_id, str(seconds)]
        )

    return spawn


def queue(registry: SqliteRegistry, n: int, entity: str = "e", first: int = 0) -> list[str]:
    ids = []
    for i in range(first, first + n):
        record = JobRecord(
            id=f"job-{i:012d}",
            entity=entity,
            project="p",
            model="m",
            spec={"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]},
        )
        registry.create(record)
        ids.append(record.id)
        time.sleep(0.002)  # distinct created_at: queue order is creation order
    return ids


def wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def drain(pool: WorkerPool, registry: SqliteRegistry, ids: list[str]) -> None:
    """Fill the pool until every job of `ids` has run."""
    while any(registry.get(i).status is not JobStatus.SUCCEEDED for i in ids):
        pool.fill()
        time.sleep(0.05)


def test_runs_queued_jobs_in_order_never_more_than_the_limit(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ids = queue(registry, 5)
    spawned: list[str] = []
    pool = WorkerPool(registry, settings, size=2, spawn=fake_spawn(0.5, spawned))
    assert pool.fill() == ids[:2]
    assert pool.fill() == []  # both slots busy
    most = 0
    while any(registry.get(i).status is not JobStatus.SUCCEEDED for i in ids):
        pool.fill()
        running = len(registry.jobs(status=JobStatus.RUNNING))
        most = max(most, running)
        time.sleep(0.05)
    assert most <= 2
    assert spawned == ids  # queue order (two started together may claim in either order)


def test_a_restarted_pool_adopts_live_runners_resumes_dead_ones_and_takes_the_queue(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    live, dead, waiting = queue(registry, 3)
    first = WorkerPool(registry, settings, size=1, spawn=fake_spawn(3))
    assert first.fill() == [live]
    wait_for(lambda: registry.get(live).status is JobStatus.RUNNING)
    # `dead` was running under a runner that has since died (pid of a finished process)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    registry.transition(dead, JobStatus.RUNNING, runtime=Runtime(pid=gone.pid))

    restarted = WorkerPool(registry, settings, size=2, spawn=fake_spawn(0.2))  # the old pool is gone
    assert restarted.fill() == [dead]  # live runner counted against the limit; the orphan resumed first
    wait_for(lambda: registry.get(dead).status is JobStatus.SUCCEEDED)
    assert registry.get(dead).runtime.resumed is True
    restarted.wait(30)  # its runner has exited
    assert restarted.fill() == [waiting]
    restarted.wait(30)
    first.wait(30)
    assert {registry.get(i).status for i in (live, dead, waiting)} == {JobStatus.SUCCEEDED}


def test_dispatch_wakes_the_pool(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    pool = WorkerPool(registry, settings, size=1, poll_s=3600, spawn=fake_spawn(0))
    pool.start()
    try:
        [job_id] = queue(registry, 1)
        pool.dispatch(job_id)
        wait_for(lambda: registry.get(job_id).status is JobStatus.SUCCEEDED, timeout=30)
    finally:
        pool.stop()


def test_entities_share_the_pool_one_s_long_queue_does_not_hold_back_another_s_job(home: Path) -> None:
    """Before: strict queue order, so team-b's job waited for all of team-a's (a job of many
    shards, or a burst of submissions, filled the pool for as long as it lasted)."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    a = queue(registry, 6, entity="team-a")
    b = queue(registry, 2, entity="team-b", first=100)
    spawned: list[str] = []
    pool = WorkerPool(registry, settings, size=2, spawn=fake_spawn(0.3, spawned))
    assert pool.fill() == [a[0], b[0]]  # one runner each, oldest first within an entity
    drain(pool, registry, a + b)
    assert spawned.index(b[1]) < spawned.index(a[3])  # team-b's second job did not wait for all of a's
    assert [i for i in spawned if i in a] == a  # each entity's own jobs in its queue order


def test_a_pool_of_one_runner_goes_round_the_entities(home: Path) -> None:
    """Each time the one runner frees, neither entity has one running: the runner goes to the
    entity served least lately, not to the oldest job (team-a's burst would all run first)."""
    registry = SqliteRegistry(get_settings().db_path)
    a, b = queue(registry, 3, entity="team-a"), queue(registry, 2, entity="team-b", first=100)
    spawned: list[str] = []
    drain(WorkerPool(registry, get_settings(), size=1, spawn=fake_spawn(0.1, spawned)), registry, a + b)
    assert spawned == [a[0], b[0], a[1], b[1], a[2]]


def test_the_pool_runs_again_the_sinks_of_a_job_whose_runner_was_killed_inside_them(home: Path) -> None:
    import json
    from datetime import timedelta

    from evaljobs.records import utcnow

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ended_job(registry, "job-cut", sinks_done=["wandb"], status=JobStatus.FAILED, error="boom")
    pool = WorkerPool(registry, settings, size=1)
    assert pool.redrive_sinks() == []  # just ended: its runner may be in its sinks now

    later = utcnow() + timedelta(seconds=settings.sinks_retry_after_s + 60)
    assert pool.redrive_sinks(later) == ["job-cut"]

    outbox = settings.home / "outbox" / "job-cut.jsonl"
    deadline = time.monotonic() + 60
    while registry.get("job-cut").runtime.sinks_done != ["wandb", "weave", "baseline", "completion-event"]:
        assert time.monotonic() < deadline, (settings.jobs_dir / "job-cut" / "runner.out").read_text()
        time.sleep(0.2)
    assert [json.loads(line)["error"] for line in outbox.read_text().splitlines()] == ["boom"]
