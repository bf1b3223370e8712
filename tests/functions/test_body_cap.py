"""Request bodies are capped before they are read: 413 on a declared length at once, and past
the cap on a streamed one; also on the webhook, before its credentials are looked at. Nothing
is stored. Every response carries the UI's security headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.functions.conftest import Api

CAP = 1024 * 1024


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/jobs", "/webhooks/wandb"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "token"])
def test_an_oversized_body_is_refused_before_it_is_read(
    api: Api, path: str, streamed: bool, signed_in: bool
) -> None:
    body: bytes | Iterator[bytes] = chunks(5 * CAP) if streamed else b" " * (5 * CAP)
    headers = {"Content-Type": "application/json"}
    token = None
    if signed_in and path == "/jobs":
        token = api.token_a
    elif signed_in:  # the entity's real webhook token; the signature is never reached
        token, _ = api.triggers.create_webhook("team-a")
        headers["X-Wandb-Signature"] = "c2lnbmVk"
    with api.client(token) as client:
        answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"] == "request body too large"
    assert api.registry.jobs() == [] and api.triggers.deliveries() == []


def test_a_body_under_the_cap_is_read_as_before(api: Api) -> None:
    with api.client(api.token_a) as client:
        answer = client.post("/jobs", json={"entity": "team-a", "benchmarks": ["boolq"]})
    assert answer.status_code == 422  # read and validated: no model
    assert any("model" in e["message"] for e in answer.json()["errors"]), answer.text


@pytest.mark.parametrize("path", ["/", "/ui/", "/health", "/jobs", "/openapi.json"])
def test_every_response_carries_the_security_headers(api: Api, path: str) -> None:
    answer = httpx.get(api.url + path, follow_redirects=False, timeout=30)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def test_no_third_party_script_page_on_the_tokens_origin(api: Api) -> None:
    assert httpx.get(api.url + "/docs", timeout=30).status_code == 404
    assert httpx.get(api.url + "/openapi.json", timeout=30).status_code == 200
