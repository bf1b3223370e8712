"""Forged, unsigned, misdirected and replayed W&B deliveries: refused before anything is stored,
and a replayed valid delivery never starts a second job."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.conftest import Planted, Server, artifact_event, webhook_policy

REPLAYS = 20
REPLAY_BUDGET_S = 30.0


@pytest.fixture
def policies(server: Server) -> None:
    """Each entity has a webhook policy that takes its gemma-* artifacts."""
    for tenant in (server.a, server.b):
        with server.client(tenant.admin_token) as admin:
            answer = admin.put(
                f"/policies/{tenant.entity}-new",
                json=webhook_policy(tenant.entity, f"{tenant.entity}-new"),
            )
            assert answer.status_code == 200, answer.text


def assert_401(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert "X-Wandb-Signature" in answer.json()["detail"]  # says what a valid delivery carries


def no_credential_in(server: Server, answer: httpx.Response) -> None:
    for value in (
        server.a.webhook_token,
        server.a.webhook_secret,
        server.b.webhook_token,
        server.b.webhook_secret,
    ):
        assert value not in answer.text and value not in str(answer.headers)


def test_unsigned_delivery_is_401_and_leaves_no_row(server: Server, planted: Planted, policies: None) -> None:
    before = server.snapshot()
    answer = server.deliver(server.a, artifact_event(), secret=None)
    assert_401(answer)
    no_credential_in(server, answer)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


@pytest.mark.parametrize(
    "signature",
    [
        "wrong-secret",
        "other-entitys-secret",
        "garbage",
        "empty",
        "hex-of-wrong-secret",
        "signature-of-empty-body",
    ],
)
def test_forged_signature_is_401_and_leaves_no_row(
    server: Server, planted: Planted, policies: None, signature: str
) -> None:
    body = json.dumps(artifact_event()).encode()

    def mac(key: str, data: bytes) -> bytes:
        return hmac.new(key.encode(), data, hashlib.sha256).digest()

    header = {
        "wrong-secret": base64.b64encode(mac("wrong-secret", body)).decode(),
        "other-entitys-secret": base64.b64encode(mac(server.b.webhook_secret, body)).decode(),
        "garbage": "sha256=not-a-signature",
        "empty": "",
        "hex-of-wrong-secret": mac("wrong-secret", body).hex(),
        "signature-of-empty-body": base64.b64encode(mac(server.a.webhook_secret, b"")).decode(),
    }[signature]
    before = server.snapshot()
    with server.client() as client:
        answer = client.post(
            "/webhooks/wandb",
            content=body,
            headers={
                "Authorization": f"Bearer {server.a.webhook_token}",
                "X-Wandb-Signature": header,
                "Content-Type": "application/json",
            },
        )
    assert_401(answer)
    no_credential_in(server, answer)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_a_tampered_body_under_a_valid_signature_is_401(
    server: Server, planted: Planted, policies: None
) -> None:
    body = json.dumps(artifact_event()).encode()
    signature = base64.b64encode(hmac.new(server.a.webhook_secret.encode(), body, hashlib.sha256).digest())
    before = server.snapshot()
    with server.client() as client:
        answer = client.post(
            "/webhooks/wandb",
            content=body.replace(b":v3", b":v4"),
            headers={
                "Authorization": f"Bearer {server.a.webhook_token}",
                "X-Wandb-Signature": signature.decode(),
            },
        )
    assert_401(answer)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


@pytest.mark.parametrize("bearer", ["unknown", "api-token", "other-entitys-webhook-token", "none"])
def test_wrong_bearer_is_401_even_when_the_body_is_signed_with_the_right_secret(
    server: Server, planted: Planted, policies: None, bearer: str
) -> None:
    token = {
        "unknown": "ejw_" + "x" * 43,
        "api-token": server.a.token,
        "other-entitys-webhook-token": server.b.webhook_token,
        "none": None,
    }[bearer]
    body = json.dumps(artifact_event()).encode()
    signature = base64.b64encode(hmac.new(server.a.webhook_secret.encode(), body, hashlib.sha256).digest())
    headers = {"X-Wandb-Signature": signature.decode(), "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    before = server.snapshot()
    with server.client() as client:
        answer = client.post("/webhooks/wandb", content=body, headers=headers)
    assert_401(answer)
    no_credential_in(server, answer)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_another_entitys_event_with_valid_credentials_is_403_and_leaves_no_row(
    server: Server, planted: Planted, policies: None
) -> None:
    """team-a's correctly signed delivery of a team-b event starts none of team-b's policies."""
    before = server.snapshot()
    answer = server.deliver(server.a, artifact_event("team-b"))
    assert answer.status_code == 403, answer.text
    detail = answer.json()["detail"]
    assert "team-a" in detail and "team-b" in detail  # whose webhook it is, whose the event is
    no_credential_in(server, answer)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_an_event_of_ones_own_entity_naming_another_entitys_artifact_starts_nothing(
    server: Server, planted: Planted, policies: None
) -> None:
    """`entity_name` says team-a, the artifact is team-b's: no job serves team-b's model."""
    event = {
        **artifact_event("team-a"),
        "artifact_version_string": "team-b/pretrain/gemma-270m:v3",
        "artifact_version": "wandb-artifact://_id/stolen",
    }
    answer = server.deliver(server.a, event)
    assert answer.status_code in (202, 403, 422), answer.text
    if answer.status_code == 202:
        assert answer.json()["outcome"] == "rejected" and answer.json()["jobs"] == []
        assert "may not read" in answer.json()["detail"]
    assert server.registry.jobs() == [] and server.executor.dispatched == []
    planted.assert_not_leaked()


def test_a_valid_delivery_replayed_concurrently_starts_exactly_one_job(
    server: Server, planted: Planted, policies: None
) -> None:
    body = json.dumps(artifact_event()).encode()
    started = time.monotonic()
    with ThreadPoolExecutor(REPLAYS) as pool:
        answers = list(pool.map(lambda _: server.deliver(server.a, body), range(REPLAYS)))
    assert time.monotonic() - started < REPLAY_BUDGET_S
    assert [a.status_code for a in answers] == [202] * REPLAYS, [a.text for a in answers]
    assert {a.json()["outcome"] for a in answers} <= {"started", "duplicate"}
    [job] = server.registry.jobs()
    assert {tuple(a.json()["jobs"]) for a in answers} == {(job.id,)}
    assert server.executor.dispatched == [job.id]
    # later, one at a time, with the other signature encoding: still that one job
    again = server.deliver(server.a, body, encoding="hex")
    assert again.status_code == 202 and again.json()["jobs"] == [job.id]
    assert len(server.registry.jobs()) == 1 and server.executor.dispatched == [job.id]
    planted.assert_not_leaked()


def test_replays_of_a_valid_delivery_are_counted_not_stored_again(
    server: Server, planted: Planted, policies: None
) -> None:
    """A captured delivery replayed without end must not grow the store without end (W&B's
    signature has no timestamp, so a replay cannot be told from a retry by its signature)."""
    body = json.dumps(artifact_event()).encode()
    with ThreadPoolExecutor(REPLAYS) as pool:
        answers = list(pool.map(lambda _: server.deliver(server.a, body), range(REPLAYS)))
    assert [a.status_code for a in answers] == [202] * REPLAYS
    with server.client(server.a.token) as a:
        deliveries = a.get("/deliveries").json()
    assert len(deliveries) == 1, f"{len(deliveries)} delivery rows for one event"
    planted.assert_not_leaked()


def test_an_oversized_delivery_is_413_before_its_credentials_are_checked(
    server: Server, planted: Planted, policies: None
) -> None:
    before = server.snapshot()
    with server.client() as client:
        answer = client.post(
            "/webhooks/wandb",
            content=b"{" + b" " * (2 << 20) + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413, answer.text
    assert len(answer.content) < 1024
    server.assert_unchanged(before)
    planted.assert_not_leaked()
