"""A tenant's job may name only its own entity's secrets, and reach no metadata address.

The server runs with planted deployment keys in its environment and an entity secret stored
for each of team-a and team-b. team-a's job naming a server variable, a deployment key,
team-b's secret or a name nobody has gets the same 422, so the answer does not tell which
exist; nothing is queued, and no planted value appears in any answer, file or log. A
listener stands in as the job's model server: once the runner has run, a refused job has sent it
nothing, and an accepted one sends team-a's own key and nothing else of the server's.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from evaljobs.records import JobStatus
from tests.security.conftest import Listener, Planted, Server, api_job

OUTSIDE_NAMES = [
    "AWS_SECRET_ACCESS_KEY",
    "WANDB_API_KEY",
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "HOME",
    "PATH",
    "ONLY_B",  # team-b's entity secret
]
"""Names team-a's jobs must not resolve: server variables, deployment keys, another entity's."""


def with_secret(pointer: str, ref: str, base_url: str = "http://127.0.0.1:9/v1") -> dict[str, Any]:
    """team-a's job with `ref` at `pointer`."""
    grader = {"model": "openai/gpt-4o-mini", "base_url": base_url}
    if pointer == "/model/api/api_key":
        return api_job(
            model={"api": {"model": "openai-api/local/gemma", "base_url": base_url, "api_key": ref}}
        )
    if pointer == "/grader/api_key":
        return api_job(grader={**grader, "api_key": ref})
    return api_job(secrets={pointer.rsplit("/", 1)[1]: ref})


POINTERS = ["/model/api/api_key", "/grader/api_key", "/secrets/hf_token", "/secrets/scorer_api_key"]


@pytest.mark.parametrize("pointer", POINTERS)
def test_secret_refs_outside_the_entity_are_refused_alike(
    server: Server, planted: Planted, pointer: str
) -> None:
    """The same 422 for every name outside team-a's store: no oracle of what the server has."""
    nobody = f"NO_SUCH_{uuid.uuid4().hex[:8].upper()}"
    before = server.snapshot()
    with server.client(server.a.token) as a:
        reference = a.post("/jobs", json=with_secret(pointer, f"secret://{nobody}"))
        assert reference.status_code == 422, reference.text
        [issue] = reference.json()["errors"]
        assert issue["pointer"] == pointer
        # says what to fix: who stores it, and how
        assert f"evaljobs secret set --entity team-a {nobody}" in issue["message"]
        for name in OUTSIDE_NAMES:
            answer = a.post("/jobs", json=with_secret(pointer, f"secret://{name}"))
            assert answer.status_code == 422, (name, answer.text)
            assert answer.text.replace(name, "NAME") == reference.text.replace(nobody, "NAME"), name
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_environment_values_are_not_in_the_refusal(server: Server, planted: Planted) -> None:
    """secret://HOME and secret://PATH: neither value is quoted back."""
    home, path = os.environ["HOME"], os.environ["PATH"]
    with server.client(server.a.token) as a:
        for name in ("HOME", "PATH"):
            answer = a.post("/jobs", json=with_secret("/model/api/api_key", f"secret://{name}"))
            assert answer.status_code == 422
            assert (
                path not in answer.text and f"'{home}'" not in answer.text and f" {home}" not in answer.text
            )
    planted.assert_not_leaked()


@pytest.mark.parametrize("pointer", POINTERS)
def test_the_entitys_own_secret_is_accepted_by_name_only(
    server: Server, planted: Planted, pointer: str
) -> None:
    """The control: team-a's own secret is accepted, and every view of the job shows its name only."""
    with server.client(server.a.token) as a:
        created = a.post("/jobs", json=with_secret(pointer, "secret://A_KEY"))
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        shown = [a.get(f"/jobs/{job_id}"), a.get(f"/jobs/{job_id}/config.yaml"), a.get("/jobs")]
    assert all(r.status_code == 200 for r in shown)
    assert "A_KEY" in shown[0].text and "A_KEY" in shown[1].text
    planted.assert_not_leaked()


def test_a_policy_naming_a_server_secret_is_refused_like_a_missing_one(
    server: Server, planted: Planted
) -> None:
    def policy(name: str) -> dict[str, Any]:
        job = with_secret("/model/api/api_key", f"secret://{name}")
        job.pop("entity")
        return {"name": "nightly", "entity": "team-a", "schedule": "0 2 * * *", "job": job}

    before = server.snapshot()
    with server.client(server.a.admin_token) as admin:
        theirs = admin.put("/policies/nightly", json=policy("AWS_SECRET_ACCESS_KEY"))
        nobody = admin.put("/policies/nightly", json=policy("NO_SUCH_NAME"))
    assert theirs.status_code == nobody.status_code == 422, theirs.text
    assert [e["pointer"] for e in theirs.json()["errors"]] == ["/job/model/api/api_key"]
    assert theirs.text.replace("AWS_SECRET_ACCESS_KEY", "N") == nobody.text.replace("NO_SUCH_NAME", "N")
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def _listener_job(listener: Listener, **api: Any) -> dict[str, Any]:
    return api_job(model={"api": {"model": "openai-api/custom/m", "base_url": listener.url, **api}})


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "ONLY_B"])
def test_a_refused_job_sends_nothing_to_its_base_url(
    server: Server, planted: Planted, listener: Listener, name: str
) -> None:
    """A job naming a server or another entity's secret is refused at submit:
    the listener standing in for its model server hears nothing."""
    before = server.snapshot()
    with server.client(server.a.token) as a:
        answer = a.post("/jobs", json=_listener_job(listener, api_key=f"secret://{name}"))
        grader = a.post(
            "/jobs",
            json=api_job(
                grader={
                    "model": "openai/gpt-4o-mini",
                    "base_url": listener.url,
                    "api_key": f"secret://{name}",
                }
            ),
        )
    assert server.executor.run_dispatched() == []  # the runner: nothing to run
    assert answer.status_code == grader.status_code == 422, answer.text
    assert answer.json()["errors"][0]["pointer"] == "/model/api/api_key"
    assert grader.json()["errors"][0]["pointer"] == "/grader/api_key"
    assert listener.requests == []
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_an_accepted_job_sends_its_own_key_and_nothing_of_the_servers(
    server: Server, planted: Planted, listener: Listener
) -> None:
    """The control for the listener, with a real runner: team-a's key reaches its base_url (so the
    listener does hear a job), and no deployment key or team-b secret does, nor does a job
    without a key get the server's OPENAI_API_KEY from a provider's fallback."""
    with server.client(server.a.token) as a:
        keyed = a.post("/jobs", json=_listener_job(listener, api_key="secret://A_KEY"))
        assert keyed.status_code == 201, keyed.text
        keyless = a.post("/jobs", json=_listener_job(listener))
        assert keyless.status_code == 201, keyless.text
        assert server.executor.run_dispatched() == [keyed.json()["id"], keyless.json()["id"]]
        seen = [a.get(f"/jobs/{r.json()['id']}{view}") for r in (keyed, keyless) for view in ("", "/log")]
    assert all(server.registry.get(r.json()["id"]).status.terminal for r in (keyed, keyless))
    assert server.registry.get(keyed.json()["id"]).status is JobStatus.FAILED  # the listener is no model
    heard = "\n".join(listener.requests)
    own = planted.entity_secrets[("team-a", "A_KEY")]
    assert f"Bearer {own}" in heard, "the keyed job never reached its base_url"
    others = [v for v in planted.values if v != own]
    assert not [v for v in others if v in heard], "a server or team-b value reached team-a's base_url"
    assert [r.status_code for r in seen] == [200] * 4, [r.text[:200] for r in seen]
    planted.assert_not_leaked()  # team-a's own key included: never in an answer, file or log


METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fe80::1]/v1",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one decimal number
    "http://user:pass@127.0.0.1:9/v1",
]


@pytest.mark.parametrize("field", ["/model/api/base_url", "/grader/base_url"])
def test_metadata_and_link_local_base_urls_are_refused(server: Server, planted: Planted, field: str) -> None:
    before = server.snapshot()
    with server.client(server.a.token) as a:
        for url in METADATA_URLS:
            if field == "/model/api/base_url":
                doc = api_job(model={"api": {"model": "openai-api/local/gemma", "base_url": url}})
            else:
                doc = api_job(grader={"model": "openai/gpt-4o-mini", "base_url": url})
            answer = a.post("/jobs", json=doc)
            assert answer.status_code == 422, (url, answer.text)
            [issue] = answer.json()["errors"]
            assert issue["pointer"] == field, (url, issue)
            assert issue["message"].startswith("base_url refused: "), issue
            if "169.254" in url or "metadata" in url or "fe80" in url:
                assert "link-local and cloud metadata" in issue["message"], (url, issue)
    server.assert_unchanged(before)
    planted.assert_not_leaked()
