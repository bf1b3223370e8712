"""What the handlers work with, built once from the settings and reached through the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from evaljobs.records import utcnow
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry, TriggerStore
from runners.executor import Executor

__all__ = ["Services", "ServicesDep"]


@dataclass
class Services:
    """The adapters one deployment uses (chosen by settings, never by code forks)."""

    settings: Settings
    registry: JobRegistry
    triggers: TriggerStore
    executor: Executor
    clock: Callable[[], datetime] = field(default=utcnow)
    """The scheduler's notion of now (tests control it)."""


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
