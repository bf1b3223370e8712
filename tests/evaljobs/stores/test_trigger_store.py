"""The trigger-store contract, held by both adapters: SQLite and DynamoDB (against moto)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evaljobs.policies import Policy
from evaljobs.records import utcnow
from evaljobs.settings import Settings
from evaljobs.stores import Delivery, TriggerStore
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TriggerStore:
    if request.param == "sqlite":
        return SqliteTriggerStore(tmp_path / "r.sqlite3")
    from evaljobs.stores.dynamodb_triggers import DynamoTriggerStore
    from tests.support.moto_server import new_table

    endpoint = request.getfixturevalue("aws_endpoint")
    return DynamoTriggerStore(new_table(endpoint), Settings(aws_endpoint_url=endpoint))


def cron(name: str = "nightly", entity: str = "a") -> Policy:
    return Policy(name=name, entity=entity, schedule="0 2 * * *", job={"model": {"api": {"model": "x/y"}}})


def test_tokens_and_webhook_credentials(store: TriggerStore) -> None:
    token = store.create_token("ci", ["a", "b"])
    principal = store.principal(token)
    assert (
        principal is not None
        and principal.entities == {"a", "b"}
        and principal.can("a")
        and not principal.can("c")
    )
    assert store.principal("ej_nope") is None
    access, secret = store.create_webhook("a")
    credential = store.webhook_credential(access)
    assert credential is not None and (credential.entity, credential.secret) == ("a", secret)
    assert store.webhook_credential(token) is None  # an API token is not a webhook token


def test_policies_keep_their_mark_when_replaced(store: TriggerStore) -> None:
    store.put_policy(cron(), now=T0)
    store.put_policy(cron("other", entity="b"), now=T0)
    assert [p.name for p in store.policies()] == ["nightly", "other"]
    assert [p.name for p in store.policies(["b"])] == ["other"]
    assert store.schedule_mark("a", "nightly") == T0
    store.put_policy(cron().model_copy(update={"enabled": False}), now=T0 + timedelta(days=9))
    replaced = store.policy("a", "nightly")
    assert store.schedule_mark("a", "nightly") == T0 and replaced is not None and replaced.enabled is False
    assert store.delete_policy("a", "nightly") and not store.delete_policy("a", "nightly")
    assert store.policy("a", "nightly") is None


def test_policy_names_are_per_entity(store: TriggerStore) -> None:
    store.put_policy(cron(), now=T0)
    store.put_policy(cron(entity="b"), now=T0 + timedelta(days=1))
    assert [(p.entity, p.name) for p in store.policies()] == [("a", "nightly"), ("b", "nightly")]
    assert store.advance_schedule("b", "nightly", T0 + timedelta(days=2), T0 + timedelta(days=1))
    assert store.schedule_mark("a", "nightly") == T0  # b's tick leaves a's mark alone
    assert store.delete_policy("b", "nightly") and store.policy("a", "nightly") is not None


def test_one_scheduler_wins_a_tick(store: TriggerStore) -> None:
    store.put_policy(cron(), now=T0)
    tick = T0 + timedelta(hours=2)
    assert store.advance_schedule("a", "nightly", tick, T0)
    assert not store.advance_schedule("a", "nightly", tick, T0)  # the mark moved: the twin loses
    assert store.schedule_mark("a", "nightly") == tick
    assert not store.advance_schedule("a", "missing", tick, T0)


def test_deliveries_are_numbered_newest_first_and_scoped(store: TriggerStore) -> None:
    for entity in ("a", "b", "a"):
        store.record_delivery(
            Delivery(
                id=0,
                received_at=utcnow(),
                source="webhook",
                entity=entity,
                payload={"e": entity},
                outcome="unmatched",
            )
        )
    everything = store.deliveries()
    assert [d.id for d in everything] == [3, 2, 1]
    assert [d.id for d in store.deliveries(["a"])] == [3, 1]
    assert [d.id for d in store.deliveries(limit=1)] == [3]


def test_tokens_are_members_unless_made_admins(store: TriggerStore) -> None:
    member, admin = store.create_token("m", ["a"]), store.create_token("adm", ["a"], admin=True)
    operator = store.create_token("op", ["*"])
    found = {name: store.principal(t) for name, t in (("m", member), ("adm", admin), ("op", operator))}
    assert found["m"] is not None and found["m"].can("a") and not found["m"].administers("a")
    assert found["adm"] is not None and found["adm"].administers("a") and not found["adm"].administers("b")
    assert found["op"] is not None and found["op"].administers("b")


def test_tokens_stored_before_roles_still_work_as_members(tmp_path: Path) -> None:
    import sqlite3

    from evaljobs.stores.base import hash_token

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE api_tokens"
            " (hash TEXT PRIMARY KEY, name TEXT NOT NULL, entities TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO api_tokens VALUES (?, 'old', '[\"a\"]', '2026-01-01')", (hash_token("ej_old"),)
        )
    principal = SqliteTriggerStore(path).principal("ej_old")
    assert principal is not None and principal.can("a") and not principal.administers("a")


def test_the_same_event_is_counted_on_its_first_delivery(store: TriggerStore) -> None:
    def delivery(key: str | None) -> Delivery:
        return Delivery(
            id=0, received_at=utcnow(), source="webhook", entity="a", payload={}, outcome="x", key=key
        )

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: store.record_delivery(delivery("webhook:a:1")).id, range(12)))
    store.record_delivery(delivery(None))
    store.record_delivery(delivery(None))
    assert len(ids) == 1
    rows = store.deliveries()
    assert sorted(d.repeats for d in rows) == [0, 0, 11] and len(rows) == 3


def test_policies_stored_before_per_entity_names_are_kept(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE policies (name TEXT PRIMARY KEY, entity TEXT NOT NULL, doc TEXT NOT NULL,"
            " schedule_mark TEXT)"
        )
        db.execute(
            "INSERT INTO policies VALUES ('nightly', 'a', ?, ?)", (cron().model_dump_json(), T0.isoformat())
        )
    store = SqliteTriggerStore(path)
    assert store.policy("a", "nightly") == cron() and store.schedule_mark("a", "nightly") == T0


def test_dynamodb_policies_stored_before_per_entity_names_are_kept(aws_endpoint: str) -> None:
    """Items under the old key (`policy#NAME`) move to `policy#ENTITY#NAME` with their marks:
    found by entity and name, listed once, replaced and deleted through the API's calls."""
    import boto3

    from evaljobs.stores.dynamodb_triggers import DynamoTriggerStore
    from tests.support.moto_server import new_table

    table = new_table(aws_endpoint)
    client = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name="us-east-1")
    for policy in (cron(), cron("other", entity="b")):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"policy#{policy.name}"},
                "kind": {"S": "policy"},
                "entity": {"S": policy.entity},
                "doc": {"S": policy.model_dump_json()},
                "mark": {"S": T0.isoformat()},
            },
        )
    store = DynamoTriggerStore(table, Settings(aws_endpoint_url=aws_endpoint))
    assert store.policy("a", "nightly") == cron() and store.schedule_mark("a", "nightly") == T0
    store.put_policy(cron().model_copy(update={"enabled": False}), now=T0 + timedelta(days=9))
    assert [(p.entity, p.name) for p in store.policies()] == [("a", "nightly"), ("b", "other")]
    assert store.schedule_mark("a", "nightly") == T0  # replaced, its mark kept
    assert store.delete_policy("b", "other") and store.policies(["b"]) == []


def test_the_delivery_that_started_a_job_gives_the_event_its_outcome_whichever_is_recorded_first(
    store: TriggerStore,
) -> None:
    """Replays race: the one that created the job may record after a twin that found it done."""

    def delivery(outcome: str) -> Delivery:
        return Delivery(
            id=0, received_at=utcnow(), source="webhook", entity="a", payload={}, outcome=outcome, key="k"
        )

    store.record_delivery(delivery("duplicate"))
    store.record_delivery(delivery("started"))
    store.record_delivery(delivery("duplicate"))
    [row] = store.deliveries()
    assert (row.outcome, row.repeats) == ("started", 2)
