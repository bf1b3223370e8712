"""`evaljobs serve`: the API, the webhook receiver, the scheduler and the worker pool in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from evaljobs.errors import ConfigError
from evaljobs.policies import load_policy_file
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry, open_registry, open_trigger_store
from functions.api import create_app
from functions.scheduler import Scheduler
from functions.services import Services
from functions.submit import policy_issues
from runners.executor import Executor
from runners.worker_pool import WorkerPool

__all__ = ["build_app", "build_services"]


def build_services(
    settings: Settings, registry: JobRegistry | None = None, local: Executor | None = None
) -> Services:
    """The adapters the settings choose; `local` is the executor when jobs run on this machine."""
    registry = registry or open_registry(settings)
    executor: Executor
    if settings.executor == "modal":
        from runners.executor import ModalExecutor

        executor = ModalExecutor(registry, settings)
    else:
        executor = local or WorkerPool(registry, settings, size=settings.workers)
    return Services(
        settings=settings, registry=registry, triggers=open_trigger_store(settings), executor=executor
    )


def build_app(
    settings: Settings,
    *,
    workers: int = 1,
    policies_file: Path | None = None,
    scheduler_poll_s: float = 30.0,
    run_scheduler: bool = True,
) -> FastAPI:
    """The served app; the worker pool (local executor) and the scheduler start and stop with it.

    `workers=0` queues jobs without running them (another process's pool, or a benchmark of
    the accept path). With `EVALJOBS_EXECUTOR=modal` jobs are spawned on Modal instead, and
    on Modal the scheduler is a `modal.Cron` function (`run_scheduler=False` here)."""
    registry = open_registry(settings)
    pool = WorkerPool(registry, settings, size=workers)
    services = build_services(settings, registry, pool)
    executor = services.executor
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
        if workers and executor is pool:
            pool.start()
        if run_scheduler:
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
