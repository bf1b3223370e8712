"""Cron policies under a controlled clock: once per tick, once after a gap, the tick recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evaljobs.policies import Policy, latest_tick, missed_ticks
from evaljobs.settings import get_settings
from evaljobs.stores import JobRegistry
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.scheduler import Scheduler
from functions.services import Services
from tests.functions.test_submit import RecordingExecutor

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NIGHTLY = Policy(
    name="nightly-hosted",
    entity="team-a",
    schedule="0 2 * * *",
    job={
        "project": "nightly",
        "model": {"api": {"model": "openai-api/local/gemma", "base_url": "http://127.0.0.1:9/v1"}},
        "benchmarks": ["boolq"],
        "limit": 50,
    },
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def scheduled(home: Path) -> tuple[Scheduler, Clock, Services, RecordingExecutor]:
    settings = get_settings()
    clock, executor = Clock(START), RecordingExecutor()
    services = Services(
        settings=settings,
        registry=SqliteRegistry(settings.db_path),
        triggers=SqliteTriggerStore(settings.db_path),
        executor=executor,
        clock=clock,
    )
    services.triggers.put_policy(NIGHTLY, now=START)
    return Scheduler(services), clock, services, executor


def test_latest_tick_and_missed_ticks() -> None:
    assert latest_tick("0 2 * * *", START) == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    on_tick = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    assert latest_tick("0 2 * * *", on_tick) == on_tick
    assert missed_ticks("0 2 * * *", START, on_tick + timedelta(days=3)) == 3


def test_fires_once_per_tick(scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor]) -> None:
    scheduler, clock, services, executor = scheduled
    assert scheduler.tick() == []  # created at noon: the 02:00 tick of that day is in the past
    clock.now = datetime(2026, 11, 2, 1, 59, tzinfo=UTC)
    assert scheduler.tick() == []
    clock.now = datetime(2026, 11, 2, 2, 0, 30, tzinfo=UTC)
    [job] = scheduler.tick()
    assert scheduler.tick() == []  # same tick again: nothing
    clock.now = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert scheduler.tick() == []
    clock.now = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    [second] = scheduler.tick()
    assert executor.dispatched == [job.id, second.id]
    assert job.trigger.kind == "cron"
    assert job.trigger.detail == {
        "policy": "nightly-hosted",
        "schedule": "0 2 * * *",
        "tick": "2026-11-02T02:00:00+00:00",
        "missed": 0,
    }
    assert (job.entity, job.project, job.spec.limit) == ("team-a", "nightly", 50)
    assert [d.outcome for d in services.triggers.deliveries()] == ["started", "started"]


def test_after_downtime_the_missed_ticks_run_once(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    scheduler, clock, _services, executor = scheduled
    clock.now = datetime(2026, 11, 2, 2, 5, tzinfo=UTC)
    assert len(scheduler.tick()) == 1
    clock.now = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)  # down for five nights
    [job] = scheduler.tick()
    assert job.trigger.detail["tick"] == "2026-11-07T02:00:00+00:00" and job.trigger.detail["missed"] == 4
    assert scheduler.tick() == []
    assert len(executor.dispatched) == 2


def test_two_schedulers_on_one_store_start_a_tick_once(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    scheduler, clock, services, _executor = scheduled
    twin = Scheduler(services)
    clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    assert len(scheduler.tick() + twin.tick()) == 1
    assert len(services.registry.jobs()) == 1


def test_a_tick_whose_job_is_invalid_is_recorded_rejected_and_spent(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    scheduler, clock, services, _ = scheduled
    broken = NIGHTLY.model_copy(update={"job": {**NIGHTLY.job, "benchmarks": ["gone"]}})
    services.triggers.put_policy(broken)
    clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    assert scheduler.tick() == [] and scheduler.tick() == []
    [delivery] = services.triggers.deliveries()
    assert delivery.outcome == "rejected" and "/benchmarks/0" in (delivery.detail or "")


def test_disabled_policies_do_not_fire(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    scheduler, clock, services, _ = scheduled
    services.triggers.put_policy(NIGHTLY.model_copy(update={"enabled": False}))
    clock.now = datetime(2026, 11, 9, tzinfo=UTC)
    assert scheduler.tick() == []


def stored_without_validation(**fields: Any) -> Policy:
    """A policy as an old row would hold it: written before its schedule was checked at save."""
    doc = {"match": None, "enabled": True, **fields}
    return Policy.model_construct(**doc)


def test_a_schedule_that_never_fires_does_not_stop_other_entities_policies(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    scheduler, clock, services, executor = scheduled
    poison = stored_without_validation(
        name="a-poison", entity="team-b", schedule="0 0 30 2 *", job=NIGHTLY.job
    )  # 30 February; sorted before team-a's policy, so it comes up first in every tick
    services.triggers.put_policy(poison, now=START - timedelta(days=300))
    clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    [job] = scheduler.tick()
    assert job.entity == "team-a" and executor.dispatched == [job.id]
    for minutes in range(1, 10):  # polls until the next night: reported once, not at every poll
        clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
        assert Scheduler(services).tick() == []  # a fresh scheduler each poll, as on Modal
    assert sorted(d.policies[0] for d in services.triggers.deliveries()) == ["a-poison", "nightly-hosted"]
    clock.now = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert len(scheduler.tick()) == 1  # the next night: team-a's job, and the reminder a day later
    deliveries = services.triggers.deliveries()
    assert [d.outcome for d in deliveries if d.entity == "team-a"] == ["started", "started"]
    refused = [d for d in deliveries if d.entity == "team-b"]
    assert [d.outcome for d in refused] == ["rejected", "rejected"]
    assert refused[0].policies == ["a-poison"]
    assert "0 0 30 2 *" in (refused[0].detail or "") and "never fires" in (refused[0].detail or "")


class FailingFor(RecordingExecutor):
    """An executor that breaks unexpectedly for one entity's jobs."""

    def __init__(self, registry: JobRegistry, entity: str) -> None:
        super().__init__()
        self.registry, self.entity = registry, entity

    def dispatch(self, job_id: str) -> None:
        if self.registry.get(job_id).entity == self.entity:
            raise RuntimeError("queue at /var/run/secret-path unavailable")
        super().dispatch(job_id)


def test_an_unexpected_error_in_one_policy_is_recorded_and_the_others_still_fire(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, clock, services, _ = scheduled
    executor = FailingFor(services.registry, "team-b")
    services = replace(services, executor=executor)
    services.triggers.put_policy(NIGHTLY.model_copy(update={"name": "a-other", "entity": "team-b"}), START)
    clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    [job] = Scheduler(services).tick()
    assert job.entity == "team-a" and executor.dispatched == [job.id]
    [failed] = [d for d in services.triggers.deliveries() if d.entity == "team-b"]
    assert failed.outcome == "error" and failed.policies == ["a-other"]
    assert "secret-path" not in (failed.detail or "")  # the tenant sees that it failed, the log says why
    assert "a-other" in caplog.text and "secret-path" in caplog.text


def test_two_entities_policies_of_one_name_each_start_their_own_job(
    scheduled: tuple[Scheduler, Clock, Services, RecordingExecutor],
) -> None:
    """Names are per entity, and so are the ticks' idempotency keys: team-b's `nightly-hosted`
    neither shares team-a's tick nor learns of its job."""
    scheduler, clock, services, _ = scheduled
    services.triggers.put_policy(NIGHTLY.model_copy(update={"entity": "team-b"}), now=START)
    clock.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    started = scheduler.tick()
    assert sorted(j.entity for j in started) == ["team-a", "team-b"]
    outcomes = {d.entity: (d.outcome, d.jobs) for d in services.triggers.deliveries()}
    assert outcomes == {j.entity: ("started", [j.id]) for j in started}
