"""SQLite connections shared by the registry, the trigger store and the secret store: WAL, a
busy timeout, explicit write transactions. Safe for several processes on one machine. The file
holds webhook signing secrets and sealed entity secrets, so it is created 0600 (SQLite gives
its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "private_file", "transaction"]


def private_file(path: Path, text: str = "") -> None:
    """Create `path` readable and writable by its owner only (0600); an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(text)


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection (WAL, foreign keys on), closed at the end of the block."""
    if not path.exists():
        private_file(path)
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
