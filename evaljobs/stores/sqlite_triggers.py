"""State the triggers keep: API tokens, webhook credentials, policies, schedule marks, deliveries.

Tokens and webhook access tokens are stored as SHA-256 hashes (they are 256-bit random
values, so a plain hash is enough); a webhook's signing secret is stored as is, because
HMAC verification needs it. Same SQLite file as the job registry, its own tables.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from evaljobs.errors import EvalJobError
from evaljobs.policies import Policy
from evaljobs.records import utcnow
from evaljobs.stores.base import Delivery, Principal, WebhookCredential, hash_token
from evaljobs.stores.sqlite_db import connect, transaction

__all__ = ["SqliteTriggerStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, entities TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_credentials (
    token_hash TEXT PRIMARY KEY, entity TEXT NOT NULL, secret TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entity_policies (
    entity TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, schedule_mark TEXT,
    PRIMARY KEY (entity, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT NOT NULL, doc TEXT NOT NULL
);
"""


class SqliteTriggerStore:
    """Trigger state in the registry's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with connect(path) as db:
            db.executescript(_SCHEMA)
        # stores written by earlier versions, upgraded by one writer at a time (two processes
        # starting at once must not both alter a table)
        with self._tx() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(api_tokens)")}
            if "admin" not in columns:  # stores written before token roles: every token a member
                db.execute("ALTER TABLE api_tokens ADD COLUMN admin INTEGER NOT NULL DEFAULT 0")
            if "event_key" not in {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}:
                db.execute("ALTER TABLE deliveries ADD COLUMN event_key TEXT")
            db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_event_key ON deliveries(event_key)"
                " WHERE event_key IS NOT NULL"
            )
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'policies'").fetchone():
                # stores from before per-entity names: keep every policy and its schedule mark
                db.execute(
                    "INSERT OR IGNORE INTO entity_policies (entity, name, doc, schedule_mark)"
                    " SELECT entity, name, doc, schedule_mark FROM policies"
                )
                db.execute("DROP TABLE policies")

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def create_token(self, name: str, entities: Collection[str], admin: bool = False) -> str:
        """A new API token for `entities` (`*`: all), an admin's or a member's; only its hash is kept."""
        if not entities:
            raise EvalJobError("a token needs at least one entity (or `*` for all)")
        token = "ej_" + secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO api_tokens (hash, name, entities, created_at, admin) VALUES (?,?,?,?,?)",
                (hash_token(token), name, json.dumps(sorted(entities)), utcnow().isoformat(), int(admin)),
            )
        return token

    def principal(self, token: str) -> Principal | None:
        """The token's owner, or None for an unknown token."""
        with connect(self.path) as db:
            row = db.execute(
                "SELECT name, entities, admin FROM api_tokens WHERE hash = ?", (hash_token(token),)
            ).fetchone()
        return Principal(row[0], frozenset(json.loads(row[1])), bool(row[2])) if row else None

    def create_webhook(self, entity: str) -> tuple[str, str]:
        """A new (access token, signing secret) pair for the entity's W&B webhook."""
        token, secret = "ejw_" + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO webhook_credentials (token_hash, entity, secret, created_at) VALUES (?,?,?,?)",
                (hash_token(token), entity, secret, utcnow().isoformat()),
            )
        return token, secret

    def webhook_credential(self, access_token: str) -> WebhookCredential | None:
        """The entity and signing secret behind a webhook access token."""
        with connect(self.path) as db:
            row = db.execute(
                "SELECT entity, secret FROM webhook_credentials WHERE token_hash = ?",
                (hash_token(access_token),),
            ).fetchone()
        return WebhookCredential(row[0], row[1]) if row else None

    def put_policy(self, policy: Policy, now: datetime | None = None) -> None:
        """Create or replace the entity's policy of that name; a new one's schedule starts at `now`,
        a replaced one keeps its mark."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO entity_policies (entity, name, doc, schedule_mark) VALUES (?,?,?,?) "
                "ON CONFLICT(entity, name) DO UPDATE SET doc = excluded.doc",
                (policy.entity, policy.name, policy.model_dump_json(), (now or utcnow()).isoformat()),
            )

    def policy(self, entity: str, name: str) -> Policy | None:
        """The entity's policy of that name."""
        with connect(self.path) as db:
            row = db.execute(
                "SELECT doc FROM entity_policies WHERE entity = ? AND name = ?", (entity, name)
            ).fetchone()
        return Policy.model_validate_json(row[0]) if row else None

    def policies(self, entities: Collection[str] | None = None) -> list[Policy]:
        """Every policy, or those of some entities, by entity and name."""
        with connect(self.path) as db:
            rows = db.execute("SELECT entity, doc FROM entity_policies ORDER BY entity, name").fetchall()
        return [Policy.model_validate_json(d) for e, d in rows if entities is None or e in entities]

    def delete_policy(self, entity: str, name: str) -> bool:
        """Remove the entity's policy; False when there was none."""
        with self._tx() as db:
            cursor = db.execute("DELETE FROM entity_policies WHERE entity = ? AND name = ?", (entity, name))
            return cursor.rowcount == 1

    def schedule_mark(self, entity: str, name: str) -> datetime | None:
        """The last tick a cron policy ran (its creation time before the first)."""
        with connect(self.path) as db:
            row = db.execute(
                "SELECT schedule_mark FROM entity_policies WHERE entity = ? AND name = ?", (entity, name)
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def advance_schedule(self, entity: str, name: str, tick: datetime, expected: datetime | None) -> bool:
        """Move the mark to `tick` if it still is `expected` (one scheduler wins a tick)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT schedule_mark FROM entity_policies WHERE entity = ? AND name = ?", (entity, name)
            ).fetchone()
            current = datetime.fromisoformat(row[0]) if row and row[0] else None
            if row is None or current != expected:
                return False
            db.execute(
                "UPDATE entity_policies SET schedule_mark = ? WHERE entity = ? AND name = ?",
                (tick.isoformat(), entity, name),
            )
            return True

    def record_delivery(self, delivery: Delivery) -> Delivery:
        """Append a delivery and return it with its sequence number; the same event again (same
        `key`) is counted on the first one, in the same transaction, and that one is returned.
        Whichever of them started a job gives the event its outcome (`started`)."""
        with self._tx() as db:
            if delivery.key is not None:
                row = db.execute(
                    "SELECT id, doc FROM deliveries WHERE event_key = ?", (delivery.key,)
                ).fetchone()
                if row is not None:
                    seen = Delivery.model_validate_json(row[1])
                    seen = seen.model_copy(
                        update={
                            "id": row[0],
                            "repeats": seen.repeats + 1,
                            "last_received_at": delivery.received_at,
                            # the twin that created the job may record after one that found it done
                            "outcome": "started" if delivery.outcome == "started" else seen.outcome,
                        }
                    )
                    db.execute("UPDATE deliveries SET doc = ? WHERE id = ?", (seen.model_dump_json(), row[0]))
                    return seen
            cursor = db.execute(
                "INSERT INTO deliveries (entity, doc, event_key) VALUES (?, ?, ?)",
                (delivery.entity, delivery.model_dump_json(), delivery.key),
            )
        return delivery.model_copy(update={"id": cursor.lastrowid})

    def deliveries(self, entities: Collection[str] | None = None, limit: int = 100) -> list[Delivery]:
        """Newest deliveries first."""
        where = "" if entities is None else f"WHERE entity IN ({','.join('?' * len(entities))})"
        with connect(self.path) as db:
            rows = db.execute(
                f"SELECT id, doc FROM deliveries {where} ORDER BY id DESC LIMIT ?", (*(entities or ()), limit)
            ).fetchall()
        # the row id is the sequence number; the doc was written before it existed
        return [Delivery.model_validate_json(doc).model_copy(update={"id": row_id}) for row_id, doc in rows]
