"""Entity secrets in the registry's SQLite file, encrypted at rest (AES-256-GCM).

Each value is sealed with a fresh nonce and the (entity, name) it belongs to as associated
data, so a row copied under another entity or name does not decrypt. The key comes from
`EVALJOBS_SECRETS_KEY`, or from `secrets.key` in the evaljobs home (created 0600 on first use).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from evaljobs.errors import SecretError
from evaljobs.records import utcnow
from evaljobs.stores.sqlite_db import connect, private_file, transaction

__all__ = ["SqliteSecretStore", "load_or_create_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    entity TEXT NOT NULL, name TEXT NOT NULL, sealed BLOB NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (entity, name)
);
"""
_NONCE = 12


def load_or_create_key(configured: str | None, key_file: Path) -> bytes:
    """The 32-byte key: the configured one, else the key file's (made 0600 when absent)."""
    text = configured
    if text is None:
        if not key_file.exists():
            private_file(key_file, base64.urlsafe_b64encode(os.urandom(32)).decode())
        text = key_file.read_text().strip()
    try:
        key = base64.urlsafe_b64decode(text)
    except ValueError as exc:
        raise SecretError("EVALJOBS_SECRETS_KEY is not urlsafe base64") from exc
    if len(key) != 32:
        raise SecretError(
            "EVALJOBS_SECRETS_KEY must encode 32 bytes: make one with `python -c "
            '"import os, base64; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`'
        )
    return key


class SqliteSecretStore:
    """Named secrets per entity; values go in, names come out, values only to the runner."""

    def __init__(self, path: Path, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.path = path
        self._aead = AESGCM(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with connect(path) as db:
            db.executescript(_SCHEMA)

    @staticmethod
    def _context(entity: str, name: str) -> bytes:
        return f"{entity}\0{name}".encode()

    def put_secret(self, entity: str, name: str, value: str) -> None:
        """Store (or replace) `name` for `entity`."""
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, value.encode(), self._context(entity, name))
        with transaction(self.path) as db:
            db.execute(
                "INSERT INTO secrets (entity, name, sealed, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (entity, name)"
                " DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                (entity, name, sealed, utcnow().isoformat()),
            )

    def secret_names(self, entity: str) -> list[str]:
        """The names `entity` has stored, sorted."""
        with connect(self.path) as db:
            rows = db.execute("SELECT name FROM secrets WHERE entity = ? ORDER BY name", (entity,)).fetchall()
        return [row[0] for row in rows]

    def delete_secret(self, entity: str, name: str) -> bool:
        """Remove it; False when there was none."""
        with transaction(self.path) as db:
            cursor = db.execute("DELETE FROM secrets WHERE entity = ? AND name = ?", (entity, name))
        return cursor.rowcount == 1

    def secret_value(self, entity: str, name: str) -> str | None:
        """The value, for the runner of one of `entity`'s jobs; None when not stored."""
        from cryptography.exceptions import InvalidTag

        with connect(self.path) as db:
            row = db.execute(
                "SELECT sealed FROM secrets WHERE entity = ? AND name = ?", (entity, name)
            ).fetchone()
        if row is None:
            return None
        sealed: bytes = row[0]
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], self._context(entity, name))
        except InvalidTag as exc:
            raise SecretError(f"secret {name} of {entity} does not decrypt with this key") from exc
        return plain.decode()
