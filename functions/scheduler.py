"""Cron policies: each due tick starts one job; after downtime only the latest missed tick runs.

The store keeps a mark per policy (the last tick run; its creation time before that). A tick
is due when the latest scheduled time at or before now is after the mark. The job is submitted
under the key `cron:ENTITY:POLICY:TICK` first and the mark advanced after, so a crash in between
re-submits the same key (nothing new), and two schedulers cannot both start a tick.

Each policy fires on its own, so one tenant's broken policy never stops another's. A stored
schedule that cannot fire (saved before schedules were checked, or whose year field has
passed) is recorded `rejected` on its deliveries once a day, the mark moving to the time of
the report; an unexpected error is logged with its traceback and recorded `error`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from evaljobs.errors import EvalJobError
from evaljobs.policies import Policy, latest_tick, missed_ticks, schedule_problem
from evaljobs.records import JobRecord, Trigger
from evaljobs.stores import Delivery
from functions.services import Services
from functions.submit import submit_job_once

__all__ = ["Scheduler"]

log = logging.getLogger("evaljobs.scheduler")

UNEXPECTED = "the tick failed unexpectedly; the operator's log has the cause"
"""What a tenant sees of an unexpected error (its text may name internals); the log has the rest."""
REPORT_EVERY = timedelta(days=1)
"""How often a stored schedule that cannot fire (30 February, a past year) is reported again."""


class Scheduler:
    """Fires due cron policies; `tick()` once, or `start()` a loop."""

    def __init__(self, services: Services, poll_s: float = 30.0) -> None:
        self.services, self.poll_s = services, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: dict[str, str] = {}
        """Policies that failed unexpectedly at the last tick, and why: recorded again when that changes
        (per process: on Modal, where each tick is a new scheduler, each failing tick is recorded)."""

    def tick(self) -> list[JobRecord]:
        """Start the jobs of every cron policy due now; returns the jobs started.

        Each policy is fired on its own: whatever goes wrong with one (a schedule that stopped
        firing, an unexpected error) is recorded on its deliveries and logged, and the others fire.
        """
        now = self.services.clock()
        started, failing = [], {}
        for policy in self.services.triggers.policies():
            if policy.schedule is None or not policy.enabled:
                continue
            try:
                problem = schedule_problem(policy.schedule, now)
                if problem:
                    self._cannot_fire(policy, now, f"schedule {policy.schedule!r} {problem}")
                    continue
                job = self._fire(policy, policy.schedule, now)
            except Exception as exc:  # broad on purpose: one tenant's policy must never stop another's ticks
                failing[policy.name] = cause = repr(exc)
                if self._failing.get(policy.name) != cause:  # once while it repeats at every poll
                    log.exception("cron policy %s (entity %s) failed", policy.name, policy.entity)
                    self._failed(policy, now)
                continue
            if job is not None:
                started.append(job)
        self._failing = failing
        return started

    def _fire(self, policy: Policy, schedule: str, now: datetime) -> JobRecord | None:
        """Run the policy's tick when one is due; the job when one was started."""
        mark = self.services.triggers.schedule_mark(policy.entity, policy.name)
        due = latest_tick(schedule, now)
        if mark is not None and due <= mark:
            return None
        missed = missed_ticks(schedule, mark, due) if mark else 0
        detail = {"policy": policy.name, "schedule": schedule, "tick": due.isoformat(), "missed": missed}
        outcome, jobs, problem, started = "started", [], None, None
        try:
            job, created = submit_job_once(
                policy.job_for_tick(),
                key=f"cron:{policy.entity}:{policy.name}:{due.isoformat()}",
                trigger=Trigger(kind="cron", detail=detail),
                registry=self.services.registry,
                executor=self.services.executor,
                settings=self.services.settings,
                entity=policy.entity,  # the template's converted job must stay the policy's entity's
            )
            jobs = [job.id]
            if created:
                started = job
            else:
                outcome = "duplicate"
        except EvalJobError as exc:  # the tick is spent either way: retrying every poll helps no one
            outcome, problem = "rejected", str(exc)
        if not self.services.triggers.advance_schedule(policy.entity, policy.name, due, mark):
            return None  # another scheduler ran this tick; the key kept it to one job
        self._record(policy, now, detail, outcome, jobs, problem)
        return started

    def _cannot_fire(self, policy: Policy, now: datetime, detail: str) -> None:
        """Record that a stored schedule cannot fire, at most once per REPORT_EVERY: the mark
        moves to now when it is recorded (its compare-and-set keeps that to one scheduler)."""
        mark = self.services.triggers.schedule_mark(policy.entity, policy.name)
        if mark is not None and now - mark < REPORT_EVERY:
            return
        if self.services.triggers.advance_schedule(policy.entity, policy.name, now, mark):
            log.warning("cron policy %s (entity %s) cannot fire: %s", policy.name, policy.entity, detail)
            payload = {"policy": policy.name, "schedule": policy.schedule}
            self._record(policy, now, payload, "rejected", [], detail)

    def _failed(self, policy: Policy, now: datetime) -> None:
        """Record an unexpected error on the policy's deliveries (the log has its cause)."""
        try:
            payload = {"policy": policy.name, "schedule": policy.schedule}
            self._record(policy, now, payload, "error", [], UNEXPECTED)
        except Exception:  # the store failing is the operator's to see; the other policies go on
            log.exception("cannot record that cron policy %s failed", policy.name)

    def _record(
        self,
        policy: Policy,
        now: datetime,
        payload: dict[str, Any],
        outcome: str,
        jobs: list[str],
        detail: str | None,
    ) -> None:
        self.services.triggers.record_delivery(
            Delivery(
                id=0,
                received_at=now,
                source="cron",
                entity=policy.entity,
                payload=payload,
                outcome=outcome,
                policies=[policy.name],
                jobs=jobs,
                detail=detail,
            )
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        """Tick every `poll_s` seconds in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="evaljobs-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
