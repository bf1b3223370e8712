"""The W&B webhook over real HTTP: signatures, payload errors, policies, idempotency."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from evaljobs.policies import Policy
from functions.auth import signature_valid
from tests.functions.conftest import Api

EVENT = {
    "event_type": "CREATE_ARTIFACT",
    "event_author": "alice",
    "alias": "${alias}",
    "artifact_version": "wandb-artifact://_id/QXJ0aWZhY3Q6MTIzNA==",
    "artifact_version_string": "team-a/pretrain/gemma-270m:v3",
    "artifact_collection_name": "gemma-270m",
    "project_name": "pretrain",
    "entity_name": "team-a",
}
POLICY = Policy(
    name="evaluate-new-checkpoints",
    entity="team-a",
    match={"collection": "gemma-*", "event_type": ["CREATE_ARTIFACT", "ADD_ARTIFACT_ALIAS"]},  # type: ignore[arg-type]
    job={"benchmarks": ["arc_easy", "boolq"], "limit": 20, "project": "evals"},
)


def sign(secret: str, body: bytes, encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


@pytest.fixture
def hook(api: Api) -> tuple[str, str]:
    """The team-a webhook's access token and signing secret, and the policy in place."""
    api.triggers.put_policy(POLICY)
    return api.triggers.create_webhook("team-a")


def deliver(
    api: Api, token: str, secret: str | None, payload: Any, encoding: str = "base64"
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if secret is not None:
        headers["X-Wandb-Signature"] = sign(secret, body, encoding)
    return httpx.post(f"{api.url}/webhooks/wandb", content=body, headers=headers, timeout=60)


def test_signature_accepts_base64_and_hex_and_nothing_else() -> None:
    body = b'{"a": 1}'
    assert signature_valid("s3cret", body, sign("s3cret", body))
    assert signature_valid("s3cret", body, sign("s3cret", body, "hex"))
    assert signature_valid("s3cret", body, "sha256=" + sign("s3cret", body, "hex"))
    assert not signature_valid("s3cret", body + b" ", sign("s3cret", body))
    assert not signature_valid("other", body, sign("s3cret", body))
    assert not signature_valid("s3cret", body, None)
    assert not signature_valid("s3cret", body, "not a signature")


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_signed_event_for_a_matching_policy_starts_one_job(
    api: Api, hook: tuple[str, str], encoding: str
) -> None:
    response = deliver(api, *hook, EVENT, encoding)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["outcome"] == "started" and body["policies"] == [POLICY.name]
    job = api.registry.get(body["jobs"][0])
    assert job.trigger.kind == "webhook" and job.trigger.detail["event"] == EVENT
    assert job.spec.checkpoint is not None and job.spec.checkpoint.uri == "team-a/pretrain/gemma-270m:v3"
    assert (job.entity, job.project, job.spec.limit) == ("team-a", "evals", 20)
    assert job.model == "gemma-270m:v3"


def test_forged_or_unsigned_deliveries_are_401_and_touch_nothing(api: Api, hook: tuple[str, str]) -> None:
    token, secret = hook
    assert deliver(api, token, "wrong-secret", EVENT).status_code == 401
    assert deliver(api, token, None, EVENT).status_code == 401
    assert deliver(api, "ejw_unknown", secret, EVENT).status_code == 401
    body = json.dumps(EVENT).encode()
    tampered = httpx.post(
        f"{api.url}/webhooks/wandb",
        content=body.replace(b"v3", b"v4"),
        headers={"Authorization": f"Bearer {token}", "X-Wandb-Signature": sign(secret, body)},
    )
    assert tampered.status_code == 401
    assert api.registry.jobs() == [] and api.triggers.deliveries() == []


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        ({k: v for k, v in EVENT.items() if k != "artifact_version_string"}, "/artifact_version_string"),
        ({**EVENT, "surprise": 1}, "/surprise"),
        ({**EVENT, "event_type": "DELETE_EVERYTHING"}, "/event_type"),
        ({**EVENT, "artifact_version_string": "not a version"}, "/artifact_version_string"),
    ],
)
def test_bad_payloads_are_422_with_the_field(
    api: Api, hook: tuple[str, str], payload: dict[str, Any], pointer: str
) -> None:
    response = deliver(api, *hook, payload)
    assert response.status_code == 422
    assert pointer in {e["pointer"] for e in response.json()["errors"]}
    assert api.registry.jobs() == []


def test_non_json_body_is_422(api: Api, hook: tuple[str, str]) -> None:
    assert deliver(api, *hook, b"\xff not json").status_code == 422
    assert deliver(api, *hook, b"[1]").status_code == 422


def test_event_of_another_entity_is_403(api: Api, hook: tuple[str, str]) -> None:
    other = {**EVENT, "entity_name": "team-b", "artifact_version_string": "team-b/p/gemma-270m:v1"}
    assert deliver(api, *hook, other).status_code == 403
    assert api.registry.jobs() == []


def test_unmatched_event_is_acknowledged_and_recorded_and_starts_nothing(
    api: Api, hook: tuple[str, str]
) -> None:
    event = {
        **EVENT,
        "artifact_collection_name": "tokenizer",
        "artifact_version_string": "team-a/p/tokenizer:v1",
    }
    response = deliver(api, *hook, event)
    assert response.status_code == 202 and response.json()["outcome"] == "unmatched"
    assert api.registry.jobs() == []
    [delivery] = api.triggers.deliveries()
    assert delivery.outcome == "unmatched" and delivery.payload == event


def test_twenty_concurrent_duplicate_deliveries_make_exactly_one_job(api: Api, hook: tuple[str, str]) -> None:
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: deliver(api, *hook, EVENT), range(20)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    assert len({r.json()["jobs"][0] for r in responses}) == 1
    assert sorted(r.json()["outcome"] for r in responses) == ["duplicate"] * 19 + ["started"]
    assert len(api.registry.jobs()) == 1


def test_alias_added_later_to_the_same_version_starts_nothing_new(api: Api, hook: tuple[str, str]) -> None:
    first = deliver(api, *hook, EVENT).json()
    alias = {**EVENT, "event_type": "ADD_ARTIFACT_ALIAS", "alias": "production"}
    again = deliver(api, *hook, alias).json()
    assert again["outcome"] == "duplicate" and again["jobs"] == first["jobs"]
    newer = {
        **EVENT,
        "artifact_version": "wandb-artifact://_id/other",
        "artifact_version_string": "team-a/pretrain/gemma-270m:v4",
    }
    assert deliver(api, *hook, newer).json()["outcome"] == "started"
    assert len(api.registry.jobs()) == 2


def test_a_policy_whose_job_no_longer_validates_is_recorded_as_rejected(
    api: Api, hook: tuple[str, str]
) -> None:
    broken = POLICY.model_copy(update={"job": {"benchmarks": ["arc_easy"], "limit": 0}})
    api.triggers.put_policy(broken)  # stored behind the API's back (the API validates)
    body = deliver(api, *hook, EVENT).json()
    assert body["outcome"] == "rejected" and "/limit" in body["detail"]
    assert api.registry.jobs() == []


def test_replays_of_one_event_are_counted_not_stored_again(api: Api, hook: tuple[str, str]) -> None:
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: deliver(api, *hook, EVENT), range(20)))
    assert len({r.json()["delivery"] for r in responses}) == 1
    [delivery] = api.triggers.deliveries()
    assert delivery.repeats == 19 and delivery.outcome == "started" and delivery.last_received_at is not None
    other = {**EVENT, "event_type": "ADD_ARTIFACT_ALIAS", "alias": "production"}
    assert deliver(api, *hook, other).json()["outcome"] == "duplicate"  # another event: its own row
    assert len(api.triggers.deliveries()) == 2 and len(api.registry.jobs()) == 1


def test_a_replay_that_starts_a_job_is_its_own_delivery(api: Api, hook: tuple[str, str]) -> None:
    """Counted are replays that did what the first did; one that finally starts the job (its
    policy was fixed after it was rejected) is recorded, and later replays count on that one."""
    broken = POLICY.model_copy(update={"job": {"benchmarks": ["arc_easy"], "limit": 0}})
    api.triggers.put_policy(broken)
    assert deliver(api, *hook, EVENT).json()["outcome"] == "rejected"
    api.triggers.put_policy(POLICY)
    started = deliver(api, *hook, EVENT).json()
    assert started["outcome"] == "started"
    again = deliver(api, *hook, EVENT).json()
    assert again["outcome"] == "duplicate" and again["delivery"] == started["delivery"]
    newest, first = api.triggers.deliveries()
    assert (first.outcome, first.repeats) == ("rejected", 0)
    assert (newest.id, newest.outcome, newest.repeats, newest.jobs) == (
        started["delivery"],
        "started",
        1,
        started["jobs"],
    )


def test_another_entitys_event_with_the_same_version_id_starts_its_own_job(
    api: Api, hook: tuple[str, str]
) -> None:
    """The idempotency key carries the entity: team-b's policy of the same name, sent an event
    with team-a's artifact version id, neither blocks team-a's job nor is handed its id."""
    api.triggers.put_policy(POLICY.model_copy(update={"entity": "team-b"}))
    hook_b = api.triggers.create_webhook("team-b")
    event_b = {
        **EVENT,
        "entity_name": "team-b",
        "artifact_version_string": "team-b/pretrain/gemma-270m:v3",
    }
    first = deliver(api, *hook_b, event_b).json()
    second = deliver(api, *hook, EVENT).json()
    assert first["outcome"] == second["outcome"] == "started"
    assert api.registry.get(first["jobs"][0]).entity == "team-b"
    assert api.registry.get(second["jobs"][0]).entity == "team-a"
