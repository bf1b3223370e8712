"""An evaljobs API served over real HTTP (uvicorn on a local port) with its own registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.serve import build_app
from tests.support.live_server import live_server


@dataclass
class Api:
    """A running API and handles on its state."""

    url: str
    registry: SqliteRegistry
    triggers: SqliteTriggerStore
    token_a: str
    """An admin token of entity `team-a`."""
    token_b: str
    """An admin token of entity `team-b`."""
    member_a: str
    """A member (not admin) token of entity `team-a`."""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def api(home: Path) -> Iterator[Api]:
    """`evaljobs serve`'s app with no workers (jobs stay queued) and a scheduler that waits."""
    settings = get_settings()
    app = build_app(settings, workers=0, scheduler_poll_s=3600)
    triggers = SqliteTriggerStore(settings.db_path)
    token_a = triggers.create_token("a", ["team-a"], admin=True)
    token_b = triggers.create_token("b", ["team-b"], admin=True)
    member_a = triggers.create_token("a-member", ["team-a"])
    with live_server(app) as url:
        yield Api(url, SqliteRegistry(settings.db_path), triggers, token_a, token_b, member_a)
