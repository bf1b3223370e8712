"""The job registry's SQLite adapter.

Writes are whole: a job row appears only once it is valid, and a job's results and
final status land in one transaction, so a crash never leaves half a job behind.
Status changes are conditional on the current status (legal transitions only), the
same contract the DynamoDB adapter keeps with conditional writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from pathlib import Path

from evaljobs.errors import JobNotFoundError
from evaljobs.records import (
    Accounting,
    BenchmarkResult,
    JobRecord,
    JobStatus,
    Runtime,
    may_transition,
    transitioned,
    utcnow,
)
from evaljobs.stores.sqlite_db import connect, transaction

__all__ = ["SqliteRegistry"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    project TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_project ON jobs(entity, project, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    benchmark TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (job_id, benchmark)
);
"""


_ADDED_COLUMNS = {"trigger_kind": "TEXT", "idempotency_key": "TEXT", "parent": "TEXT"}
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_trigger ON jobs(trigger_kind);
"""


class SqliteRegistry:
    """Job registry in one SQLite file, safe for several processes (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for column in _ADDED_COLUMNS.keys() - columns:  # registries written before they existed
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {_ADDED_COLUMNS[column]}")
            db.execute(
                "UPDATE jobs SET trigger_kind = json_extract(doc, '$.trigger.kind')"
                " WHERE trigger_kind IS NULL"
            )
            db.executescript(_INDEXES)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    @staticmethod
    def _doc(record: JobRecord) -> str:
        return record.model_dump_json(exclude={"results"})

    def create(self, record: JobRecord, idempotency_key: str | None = None) -> JobRecord:
        """Insert a new job and return it; with a key already used, return that job instead.

        The check and the insert share one write transaction, so concurrent duplicates
        (a webhook delivered twice at once) create exactly one job.
        """
        with self._tx() as db:
            if idempotency_key is not None:
                row = db.execute(
                    "SELECT id, doc FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    return self._load(db, row)
            db.execute(
                "INSERT INTO jobs"
                " (id, entity, project, status, created_at, doc, trigger_kind, idempotency_key, parent)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.entity,
                    record.project,
                    record.status.value,
                    record.created_at.isoformat(),
                    self._doc(record),
                    record.trigger.kind,
                    idempotency_key,
                    record.shard.parent if record.shard else None,
                ),
            )
        return record

    def _load(self, db: sqlite3.Connection, row: tuple[str, str]) -> JobRecord:
        job_id, doc = row
        record = JobRecord.model_validate_json(doc)
        results = db.execute("SELECT doc FROM results WHERE job_id = ? ORDER BY rowid", (job_id,)).fetchall()
        record.results = [BenchmarkResult.model_validate_json(r[0]) for r in results]
        return record

    def get(self, job_id: str) -> JobRecord:
        """The job with that id, or JobNotFoundError."""
        with self._connect() as db:
            row = db.execute("SELECT id, doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r}; `evaljobs list` shows the jobs there are")
            return self._load(db, row)

    def jobs(
        self,
        *,
        project: str | None = None,
        status: JobStatus | None = None,
        entities: Collection[str] | None = None,
        trigger: str | None = None,
        limit: int = 100,
        oldest_first: bool = False,
        include_shards: bool = False,
    ) -> list[JobRecord]:
        """Newest jobs first (or oldest), filtered by project, status, entities and trigger kind;
        the shard jobs of fanned-out jobs only with `include_shards` (runners' queue, the reaper)."""
        where: list[str] = [] if include_shards else ["parent IS NULL"]
        args: list[str | int] = []
        for column, value in (("project", project), ("status", status), ("trigger_kind", trigger)):
            if value:
                where.append(f"{column} = ?")
                args.append(str(value))
        if entities is not None:
            where.append(f"entity IN ({','.join('?' * len(entities))})" if entities else "0")
            args.extend(entities)
        sql = "SELECT id, doc FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "ASC" if oldest_first else "DESC"
        sql += f" ORDER BY created_at {order}, rowid {order} LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
            return [self._load(db, row) for row in rows]

    def _update(self, db: sqlite3.Connection, record: JobRecord, expect: JobStatus) -> bool:
        cursor = db.execute(
            "UPDATE jobs SET status = ?, doc = ? WHERE id = ? AND status = ?",
            (record.status.value, self._doc(record), record.id, expect.value),
        )
        return cursor.rowcount == 1

    @staticmethod
    def _row(db: sqlite3.Connection, job_id: str) -> JobRecord:
        """The job's record (without results), inside the caller's transaction."""
        row = db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        return JobRecord.model_validate_json(row[0])

    def transition(
        self, job_id: str, to: JobStatus, *, error: str | None = None, runtime: Runtime | None = None
    ) -> bool:
        """Move a job to `to` if that is legal from its current status (merging `runtime` and
        setting `error` in the same write); False otherwise."""
        with self._tx() as db:
            record = self._row(db, job_id)
            current = record.status
            if not may_transition(record, to):
                return False
            return self._update(db, transitioned(record, to, error, runtime), current)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        results: list[BenchmarkResult],
        error: str | None,
        accounting: Accounting | None = None,
    ) -> bool:
        """Write the results and the final status together, or nothing."""
        with self._tx() as db:
            record = self._row(db, job_id)
            current = record.status
            if not status.terminal or not may_transition(record, status):
                return False
            db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            for result in results:
                db.execute(
                    "INSERT INTO results (job_id, benchmark, doc) VALUES (?,?,?)",
                    (job_id, result.benchmark, result.model_dump_json()),
                )
            record = record.model_copy(
                update={"status": status, "error": error, "finished_at": utcnow(), "accounting": accounting}
            )
            return self._update(db, record, current)

    def update_runtime(
        self,
        job_id: str,
        patch: Runtime,
        *,
        versions: dict[str, str] | None = None,
        when: Callable[[JobRecord], bool] | None = None,
    ) -> bool:
        """Merge the fields `patch` sets (and `versions`) into the job, in one write; with `when`,
        only if the job as it stands at that write passes it. Returns whether it wrote."""
        with self._tx() as db:
            record = self._row(db, job_id)
            if when is not None and not when(record):
                return False
            record = record.model_copy(
                update={
                    "runtime": record.runtime.merged(patch),
                    "versions": {**record.versions, **(versions or {})},
                }
            )
            db.execute("UPDATE jobs SET doc = ? WHERE id = ?", (self._doc(record), job_id))
            return True

    def request_cancel(self, job_id: str) -> None:
        """Flag a job for cancellation; its runner stops at the next check."""
        with self._tx() as db:
            cursor = db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            if cursor.rowcount == 0:
                raise JobNotFoundError(f"no job {job_id!r}")

    def cancel_requested(self, job_id: str) -> bool:
        """True once cancellation was requested."""
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return bool(row and row[0])

    def projects(self) -> list[tuple[str, str]]:
        """Every (entity, project) with at least one job."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT entity, project FROM jobs ORDER BY 1, 2").fetchall()
            return [(r[0], r[1]) for r in rows]
