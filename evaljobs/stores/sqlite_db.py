"""SQLite connections shared by the registry and the trigger store: WAL, a busy timeout,
explicit write transactions. Safe for several processes on one machine."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "transaction"]


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection (WAL, foreign keys on), closed at the end of the block."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        yield db
    finally:
        db.close()


_writers: dict[Path, threading.Lock] = {}
_writers_lock = threading.Lock()


def _writer(path: Path) -> threading.Lock:
    with _writers_lock:
        return _writers.setdefault(path.resolve(), threading.Lock())


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A write transaction taken at the start (`BEGIN IMMEDIATE`): check-then-write is atomic.

    Threads of one process queue on a lock first: SQLite's busy handler would otherwise make
    them poll for the write lock with growing sleeps (the API's tail latency under load).
    Other processes still meet SQLite's own lock and busy timeout.
    """
    with connect(path) as db, _writer(path):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
