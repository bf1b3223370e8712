"""The secret store contract, held by both adapters: sealed SQLite rows and AWS Secrets Manager
(against a moto server). Values go in; names come out per entity; a value only of its entity."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from evaljobs.errors import SecretError
from evaljobs.settings import Settings
from evaljobs.stores import SecretStore
from evaljobs.stores.sqlite_secrets import SqliteSecretStore, load_or_create_key

PLANTED = "sk-planted-" + "7" * 24


@pytest.fixture(params=["sqlite", "aws"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStore:
    if request.param == "sqlite":
        return SqliteSecretStore(tmp_path / "r.sqlite3", load_or_create_key(None, tmp_path / "secrets.key"))
    from evaljobs.stores.aws_secrets import AwsSecretStore

    endpoint = request.getfixturevalue("aws_endpoint")
    return AwsSecretStore(f"test-{uuid.uuid4().hex[:8]}", Settings(aws_endpoint_url=endpoint))


def test_values_in_names_out_per_entity(store: SecretStore) -> None:
    store.put_secret("team-a", "OPENAI_API_KEY", PLANTED)
    store.put_secret("team-a", "HF_TOKEN", "hf-a")
    store.put_secret("team-b", "OPENAI_API_KEY", "sk-b")
    assert store.secret_names("team-a") == ["HF_TOKEN", "OPENAI_API_KEY"]
    assert store.secret_names("team-b") == ["OPENAI_API_KEY"]
    assert store.secret_names("team") == []  # a prefix of an entity is not that entity
    assert store.secret_value("team-a", "OPENAI_API_KEY") == PLANTED
    assert store.secret_value("team-b", "OPENAI_API_KEY") == "sk-b"
    assert store.secret_value("team-b", "HF_TOKEN") is None  # team-a's, not team-b's


def test_replace_and_delete(store: SecretStore) -> None:
    store.put_secret("team-a", "KEY", "one")
    store.put_secret("team-a", "KEY", "two")
    assert store.secret_value("team-a", "KEY") == "two" and store.secret_names("team-a") == ["KEY"]
    assert store.delete_secret("team-a", "KEY") is True
    assert store.delete_secret("team-a", "KEY") is False
    assert store.secret_value("team-a", "KEY") is None and store.secret_names("team-a") == []


def test_sqlite_values_are_sealed_bound_to_their_entity_and_the_files_private(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    store = SqliteSecretStore(db, load_or_create_key(None, tmp_path / "secrets.key"))
    store.put_secret("team-a", "KEY", PLANTED)
    for path in (db, tmp_path / "secrets.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert all(PLANTED.encode() not in p.read_bytes() for p in tmp_path.iterdir())
    # a sealed row moved under another entity does not open there
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE secrets SET entity = 'team-b'")
    with pytest.raises(SecretError, match="does not decrypt"):
        store.secret_value("team-b", "KEY")
    # another key cannot open it either
    other = SqliteSecretStore(db, base64.urlsafe_b64decode(base64.urlsafe_b64encode(os.urandom(32))))
    with pytest.raises(SecretError):
        other.secret_value("team-b", "KEY")


def test_a_configured_key_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        load_or_create_key(base64.urlsafe_b64encode(b"short").decode(), tmp_path / "k")
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert load_or_create_key(key, tmp_path / "k") == base64.urlsafe_b64decode(key)
    assert not (tmp_path / "k").exists()  # a configured key writes no key file
