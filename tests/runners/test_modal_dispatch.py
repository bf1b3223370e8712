"""The modal executor's queue: at most `modal_max_runners` runner calls in flight, a free one going
to the entity with the fewest, each job spawned once however many dispatchers fill at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from evaljobs.records import JobRecord, JobStatus, Runtime, utcnow
from evaljobs.settings import Settings, get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.executor import ModalExecutor
from runners.reaper import reap

SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}


class Spawning(ModalExecutor):
    """The Modal executor with `Runner.run.spawn` stood in: each spawn is recorded, with a call id."""

    spawned: list[str]
    lock = threading.Lock()

    def __init__(self, registry: SqliteRegistry, settings: Settings, spawned: list[str]) -> None:
        super().__init__(registry, settings)
        self.spawned = spawned

    def _spawn(self, job_id: str) -> None:
        with self.lock:
            self.spawned.append(job_id)
        self.registry.update_runtime(job_id, Runtime(modal_call_id=f"fc-{job_id}"))

    def call_ended(self, call_id: str) -> str | None:
        return None


def _queue(registry: SqliteRegistry, entity: str, count: int) -> list[str]:
    ids = [f"job-{entity}-{i}" for i in range(count)]
    for job_id in ids:
        registry.create(JobRecord(id=job_id, entity=entity, project="p", model="m", spec=SPEC))
    return ids


def test_a_team_s_burst_waits_in_the_registry_and_a_free_runner_goes_to_the_team_with_fewest(
    home: Path,
) -> None:
    settings = get_settings().model_copy(update={"modal_max_runners": 2})
    registry = SqliteRegistry(settings.db_path)
    a = _queue(registry, "team-a", 4)  # a burst, submitted first
    b = _queue(registry, "team-b", 2)
    spawned: list[str] = []
    modal = Spawning(registry, settings, spawned)

    assert modal.fill() == [a[0], b[0]]  # not a[0], a[1]: b's job is not queued behind a's burst
    assert modal.fill() == []  # both runners busy: the rest wait, not in Modal's queue
    assert all(registry.get(j).runtime.modal_call_id is None for j in [*a[1:], b[1]])

    def ends(job_id: str) -> None:
        registry.transition(job_id, JobStatus.RUNNING)
        registry.finish(job_id, JobStatus.SUCCEEDED, [], None)

    ends(a[0])  # a runner frees (the Runner fills again as its job ends): team-a has none now
    assert modal.fill() == [a[1]]
    ends(b[0])
    assert modal.fill() == [b[1]]  # team-b's second job before team-a's third
    ends(a[1])
    assert modal.fill() == [a[2]]
    assert spawned == [a[0], b[0], a[1], b[1], a[2]]


def test_with_one_runner_the_teams_take_turns(home: Path) -> None:
    """Each time the runner frees, neither team has one running: it goes to the team served
    least lately, not to the oldest job (team-a's burst would otherwise run to its end first)."""
    settings = get_settings().model_copy(update={"modal_max_runners": 1})
    registry = SqliteRegistry(settings.db_path)
    a = _queue(registry, "team-a", 3)
    b = _queue(registry, "team-b", 2)
    spawned: list[str] = []
    modal = Spawning(registry, settings, spawned)

    for _ in range(5):
        [job_id] = modal.fill()
        registry.transition(job_id, JobStatus.RUNNING)
        registry.finish(job_id, JobStatus.SUCCEEDED, [], None)

    assert spawned == [a[0], b[0], a[1], b[1], a[2]]


def test_dispatchers_filling_at_once_spawn_each_job_once(home: Path) -> None:
    """The api (each submission), runners (each ended job) and the tick fill concurrently."""
    settings = get_settings().model_copy(update={"modal_max_runners": 6})
    registry = SqliteRegistry(settings.db_path)
    jobs = _queue(registry, "team-a", 4) + _queue(registry, "team-b", 4)
    spawned: list[str] = []

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: Spawning(registry, settings, spawned).fill(), range(8)))

    assert len(spawned) == len(set(spawned)) >= 6  # never twice; at most each filler's share over the limit
    assert set(spawned) <= set(jobs)


def test_a_claim_whose_spawn_never_landed_is_taken_back_by_the_tick(home: Path) -> None:
    """The spawn raised (Modal unreachable) after the claim: the job is neither in flight nor
    waiting until the reaper takes the claim back; then it is dispatched like any waiting job."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    [job] = _queue(registry, "team-a", 1)
    spawned: list[str] = []
    modal = Spawning(registry, settings, spawned)
    registry.update_runtime(job, Runtime(dispatched_at=utcnow() - timedelta(minutes=30)))
    assert modal.fill() == []  # claimed: another dispatcher's, as far as this one can tell

    assert reap(registry, modal, modal, settings, now=utcnow()) == [job]

    assert spawned == [job] and registry.get(job).runtime.modal_call_id == f"fc-{job}"
