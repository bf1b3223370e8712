"""`evaljobs serve`: the API, the webhook receiver, the scheduler and the worker pool in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from evaljobs.errors import ConfigError
from evaljobs.policies import load_policy_file
from evaljobs.registry import open_registry
from evaljobs.settings import Settings
from evaljobs.trigger_store import SqliteTriggerStore
from evaljobs.worker_pool import WorkerPool
from functions.api import create_app
from functions.scheduler import Scheduler
from functions.services import Services
from functions.submit import policy_issues

__all__ = ["build_app"]


def build_app(
    settings: Settings,
    *,
    workers: int = 1,
    policies_file: Path | None = None,
    scheduler_poll_s: float = 30.0,
) -> FastAPI:
    """The served app: the worker pool and the scheduler start and stop with it.

    `workers=0` queues jobs without running them (another process's pool, or a benchmark of
    the accept path)."""
    registry = open_registry(settings)
    pool = WorkerPool(registry, settings, size=workers)
    services = Services(
        settings=settings, registry=registry, triggers=SqliteTriggerStore(settings.db_path), executor=pool
    )
    if policies_file is not None:  # validated in full before any is stored
        policies = load_policy_file(policies_file)
        problems = [f"policy {p.name}: {issue}" for p in policies for issue in policy_issues(p, settings)]
        if problems:
            raise ConfigError(f"{policies_file}: " + "; ".join(problems))
        for policy in policies:
            services.triggers.put_policy(policy, services.clock())
    scheduler = Scheduler(services, poll_s=scheduler_poll_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if workers:
            pool.start()
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            pool.stop()

    app = create_app(services)
    app.router.lifespan_context = lifespan
    app.state.pool, app.state.scheduler = pool, scheduler
    return app
