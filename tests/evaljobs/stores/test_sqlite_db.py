"""Kept connections: reused within a thread, never writing into a file that is gone."""

import os
import threading
from pathlib import Path

from evaljobs.stores.sqlite_db import connect, transaction


def _rows(path: Path) -> list[tuple[int]]:
    with connect(path) as db:
        return db.execute("SELECT n FROM t ORDER BY n").fetchall()


def test_a_thread_reuses_its_connection_and_other_threads_get_their_own(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    with connect(path) as first, connect(path) as again:
        assert first is again
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(connect(path).__enter__()))
    thread.start()
    thread.join()
    assert seen[0] is not first
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_replaced_file_is_opened_again_not_written_through_the_old_handle(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    with transaction(path) as db:
        db.execute("CREATE TABLE t (n INTEGER)")
        db.execute("INSERT INTO t VALUES (1)")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # removed behind the process's back
    with transaction(path) as db:
        db.execute("CREATE TABLE t (n INTEGER)")  # a fresh file: the old table is not there
        db.execute("INSERT INTO t VALUES (2)")
    assert _rows(path) == [(2,)]


def test_a_failed_transaction_leaves_the_kept_connection_usable(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    with transaction(path) as db:
        db.execute("CREATE TABLE t (n INTEGER)")
    try:
        with transaction(path) as db:
            db.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("refused half way")
    except RuntimeError:
        pass
    with transaction(path) as db:
        db.execute("INSERT INTO t VALUES (3)")
    assert _rows(path) == [(3,)]
