"""SQLite connections shared by the registry, the trigger store and the secret store: WAL, a
busy timeout, explicit write transactions. Safe for several processes on one machine. The file
holds webhook signing secrets and sealed entity secrets, so it is created 0600 (SQLite gives
its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
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


_OPEN_PER_THREAD = 8
"""Connections a thread keeps open (the registry, trigger and secret stores share one file)."""

_local = threading.local()


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection (WAL, foreign keys on), this thread's for `path`.

    Connections are kept per thread and reused: opening one (and SQLite's checkpoint when the
    last one to a file closes) cost more than the query in most API requests. One whose file
    was replaced or removed since (another inode) is closed and opened again; a forked child
    opens its own.
    """
    yield _thread_connection(path)


def _thread_connection(path: Path) -> sqlite3.Connection:
    cache: OrderedDict[str, tuple[sqlite3.Connection, int]] | None = getattr(_local, "cache", None)
    if cache is None or getattr(_local, "pid", None) != os.getpid():
        cache = _local.cache = OrderedDict()  # a parent's connections are not ours to touch
        _local.pid = os.getpid()
    key = str(path)
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        private_file(path)
        inode = os.stat(path).st_ino
    if key in cache:
        db, seen = cache[key]
        if seen == inode:
            cache.move_to_end(key)
            return db
        del cache[key]
        db.close()
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    cache[key] = (db, inode)
    while len(cache) > _OPEN_PER_THREAD:
        cache.popitem(last=False)[1][0].close()
    return db


_writers: dict[str, threading.Lock] = {}
_writers_lock = threading.Lock()


def _writer(path: Path) -> threading.Lock:
    key = str(path)
    if (lock := _writers.get(key)) is not None:
        return lock
    with _writers_lock:
        resolved = str(path.resolve())  # two spellings of one file share its lock
        lock = _writers.setdefault(resolved, threading.Lock())
        _writers[key] = lock
        return lock


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
