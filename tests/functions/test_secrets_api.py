"""An entity admin stores, lists and deletes its entity's secrets over HTTP; no answer ever holds
a value; members and other entities cannot touch them; jobs of the entity then validate."""

from __future__ import annotations

import uuid

from evaljobs.settings import get_settings
from evaljobs.stores import open_secret_store
from tests.functions.conftest import Api

VALUE = f"sk-planted-{uuid.uuid4().hex}"


def test_admins_manage_their_entitys_secrets_and_never_read_a_value(api: Api) -> None:
    answers = []
    with api.client(api.token_a) as admin:
        answers.append(admin.put("/secrets/team-a/OPENAI_KEY", json={"value": VALUE}))
        assert answers[-1].status_code == 204, answers[-1].text
        answers.append(admin.get("/secrets/team-a"))
        assert answers[-1].json() == {"entity": "team-a", "names": ["OPENAI_KEY"]}
        job = {
            "entity": "team-a",
            "model": {"api": {"model": "openai/gpt-4o-mini", "api_key": "secret://OPENAI_KEY"}},
            "benchmarks": ["boolq"],
        }
        answers.append(admin.post("/jobs", json=job))
        assert answers[-1].status_code == 201, answers[-1].text
        answers.append(admin.put("/secrets/team-a/bad name", json={"value": "x"}))
        assert answers[-1].status_code == 422
    with api.client(api.member_a) as member:
        answers.append(member.get("/secrets/team-a"))
        assert answers[-1].status_code == 403 and "admin token" in answers[-1].json()["detail"]
        answers.append(member.put("/secrets/team-a/OPENAI_KEY", json={"value": "overwrite"}))
        assert answers[-1].status_code == 403
    with api.client(api.token_b) as other:
        answers.append(other.get("/secrets/team-a"))
        answers.append(other.delete("/secrets/team-a/OPENAI_KEY"))
        assert [a.status_code for a in answers[-2:]] == [403, 403]
    assert open_secret_store(get_settings()).secret_value("team-a", "OPENAI_KEY") == VALUE
    assert all(VALUE not in a.text and VALUE not in str(a.headers) for a in answers)
    with api.client(api.token_a) as admin:
        assert admin.delete("/secrets/team-a/OPENAI_KEY").status_code == 204
        assert admin.delete("/secrets/team-a/OPENAI_KEY").status_code == 404
        assert admin.get("/secrets/team-a").json()["names"] == []


def test_policies_need_an_admin_token(api: Api) -> None:
    policy = {
        "name": "nightly",
        "entity": "team-a",
        "schedule": "0 2 * * *",
        "job": {"model": {"api": {"model": "openai/gpt-4o-mini"}}, "benchmarks": ["boolq"]},
    }
    with api.client(api.member_a) as member:
        assert member.put("/policies/nightly", json=policy).status_code == 403
    with api.client(api.token_a) as admin:
        assert admin.put("/policies/nightly", json=policy).status_code == 200
    with api.client(api.member_a) as member:
        assert member.get("/policies/nightly").status_code == 200  # members read
        assert member.delete("/policies/nightly").status_code == 403
    with api.client(api.token_b) as other:
        assert other.put("/policies/nightly", json=policy).status_code == 403  # team-a's
        assert other.delete("/policies/nightly", params={"entity": "team-a"}).status_code == 404
