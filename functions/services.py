"""What the handlers, the scheduler and the webhook work with, built once from the settings.

The API reaches it through `functions.api.deps.ServicesDep`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from evaljobs.records import utcnow
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry, TriggerStore
from runners.executor import Executor

__all__ = ["Services"]


@dataclass
class Services:
    """The adapters one deployment uses (chosen by settings, never by code forks)."""

    settings: Settings
    registry: JobRegistry
    triggers: TriggerStore
    executor: Executor
    clock: Callable[[], datetime] = field(default=utcnow)
    """The scheduler's notion of now (tests control it)."""
