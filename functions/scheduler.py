"""Cron policies: each due tick starts one job; after downtime only the latest missed tick runs.

The store keeps a mark per policy (the last tick run; its creation time before that). A tick
is due when the latest scheduled time at or before now is after the mark. The job is submitted
under the key `cron:POLICY:TICK` first and the mark advanced after, so a crash in between
re-submits the same key (nothing new), and two schedulers cannot both start a tick.
"""

from __future__ import annotations

import logging
import threading

from evaljobs.errors import EvalJobError
from evaljobs.policies import latest_tick, missed_ticks
from evaljobs.records import JobRecord, Trigger
from evaljobs.stores import Delivery
from functions.services import Services
from functions.submit import submit_job_once

__all__ = ["Scheduler"]

log = logging.getLogger("evaljobs.scheduler")


class Scheduler:
    """Fires due cron policies; `tick()` once, or `start()` a loop."""

    def __init__(self, services: Services, poll_s: float = 30.0) -> None:
        self.services, self.poll_s = services, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[JobRecord]:
        """Start the jobs of every cron policy due now; returns the jobs started."""
        now = self.services.clock()
        started = []
        for policy in self.services.triggers.policies():
            if policy.schedule is None or not policy.enabled:
                continue
            mark = self.services.triggers.schedule_mark(policy.name)
            due = latest_tick(policy.schedule, now)
            if mark is not None and due <= mark:
                continue
            missed = missed_ticks(policy.schedule, mark, due) if mark else 0
            detail = {
                "policy": policy.name,
                "schedule": policy.schedule,
                "tick": due.isoformat(),
                "missed": missed,
            }
            outcome, jobs, problem = "started", [], None
            try:
                job, created = submit_job_once(
                    policy.job_for_tick(),
                    key=f"cron:{policy.name}:{due.isoformat()}",
                    trigger=Trigger(kind="cron", detail=detail),
                    registry=self.services.registry,
                    executor=self.services.executor,
                    settings=self.services.settings,
                )
                jobs = [job.id]
                if created:
                    started.append(job)
                else:
                    outcome = "duplicate"
            except EvalJobError as exc:  # the tick is spent either way: retrying every poll helps no one
                outcome, problem = "rejected", str(exc)
            if not self.services.triggers.advance_schedule(policy.name, due, mark):
                continue  # another scheduler ran this tick; the key kept it to one job
            self.services.triggers.record_delivery(
                Delivery(
                    id=0,
                    received_at=now,
                    source="cron",
                    entity=policy.entity,
                    payload=detail,
                    outcome=outcome,
                    policies=[policy.name],
                    jobs=jobs,
                    detail=problem,
                )
            )
        return started

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
