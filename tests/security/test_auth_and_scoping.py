"""A token of team-a against team-b's things: 404 like a missing thing, 403 to act for team-b,
nothing written, nothing of team-b's in any answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from evaljobs.records import BenchmarkResult, JobStatus, MetricValue
from tests.security.conftest import Planted, Server, api_job, artifact_event, webhook_policy

MISSING = "job-000000000000"
"""A well-formed job id nobody has."""


def finished_job(server: Server, client: httpx.Client, entity: str, project: str = "nightly") -> str:
    """A succeeded job of `entity` with a result and a job log, so a leak of either would show."""
    job_id: str = client.post("/jobs", json=api_job(entity, project=project)).json()["id"]
    server.registry.transition(job_id, JobStatus.RUNNING)
    result = BenchmarkResult(
        benchmark="boolq",
        task="inspect_evals/boolq",
        status="success",
        metrics=[MetricValue(name="accuracy", value=0.5, stderr=0.1)],
        primary_metric="accuracy",
        samples_total=2,
        samples_completed=2,
    )
    server.registry.finish(job_id, JobStatus.SUCCEEDED, [result], None)
    log = server.settings.jobs_dir / job_id / "job.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"{entity} private log line\n")
    return job_id


def same_answer(first: httpx.Response, second: httpx.Response, first_id: str, second_id: str) -> None:
    """Two answers that differ by nothing but the id they name."""
    assert (first.status_code, first.text.replace(first_id, "ID")) == (
        second.status_code,
        second.text.replace(second_id, "ID"),
    )


JOB_ROUTES = [
    ("GET", "/jobs/{id}", {}),
    ("GET", "/jobs/{id}/log", {}),
    ("GET", "/jobs/{id}/samples", {"benchmark": "boolq"}),
    ("GET", "/jobs/{id}/config.yaml", {}),
    ("POST", "/jobs/{id}/cancel", {}),
    ("POST", "/jobs/{id}/rerun", {}),
    ("POST", "/jobs/{id}/rerun", {"project": "stolen"}),
    ("GET", "/compare", {"a": "{own}", "b": "{id}"}),
    ("GET", "/compare", {"a": "{id}", "b": "{own}"}),
    ("GET", "/compare", {"b": "{id}"}),
]


@pytest.mark.parametrize(("method", "path", "params"), JOB_ROUTES)
def test_another_entitys_job_is_404_like_a_missing_one(
    server: Server, planted: Planted, method: str, path: str, params: dict[str, str]
) -> None:
    """Every job route answers team-b's job exactly as it answers an id nobody has."""
    a, b = server.client(server.a.token), server.client(server.b.token)
    theirs = finished_job(server, b, "team-b")
    own = finished_job(server, a, "team-a")
    before = server.snapshot()

    def ask(job_id: str) -> httpx.Response:
        query = {k: v.replace("{id}", job_id).replace("{own}", own) for k, v in params.items()}
        return a.request(method, path.replace("{id}", job_id), params=query)

    answer, missing = ask(theirs), ask(MISSING)
    assert answer.status_code == 404, answer.text
    assert "visible to this token" in answer.json()["detail"]
    same_answer(answer, missing, theirs, MISSING)
    assert "team-b" not in answer.text and "private log" not in answer.text
    server.assert_unchanged(before)
    assert server.registry.get(theirs).status is JobStatus.SUCCEEDED
    planted.assert_not_leaked()


def test_listings_never_show_another_entitys_jobs_projects_deliveries_or_policies(
    server: Server, planted: Planted
) -> None:
    a, b = server.client(server.a.token), server.client(server.b.token)
    b_admin = server.client(server.b.admin_token)
    assert b_admin.put("/policies/b-only", json=webhook_policy("team-b", "b-only")).status_code == 200
    theirs = {finished_job(server, b, "team-b"), finished_job(server, b, "team-b", "secret-project")}
    assert server.deliver(server.b, {"event_type": "nonsense"}).status_code == 422
    unmatched = server.deliver(
        server.b, {**artifact_event("team-b"), "artifact_collection_name": "tokenizer"}
    )
    assert unmatched.status_code == 202
    own = a.post("/jobs", json=api_job()).json()["id"]
    before = server.snapshot()
    texts = []
    for params in ({}, {"project": "nightly"}, {"status": "succeeded"}, {"trigger": "http"}, {"limit": 1000}):
        response = a.get("/jobs", params=params)
        assert response.status_code == 200
        assert {j["id"] for j in response.json()} <= {own}
        texts.append(response.text)
    projects = a.get("/projects")
    assert projects.json() == [{"entity": "team-a", "project": "nightly"}]
    deliveries, policies = a.get("/deliveries"), a.get("/policies")
    assert deliveries.status_code == 200 and deliveries.json() == []
    assert policies.status_code == 200 and policies.json() == []
    for text in [*texts, projects.text, deliveries.text, policies.text]:
        assert "team-b" not in text and "secret-project" not in text
        assert not [job_id for job_id in theirs if job_id in text]
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_starting_a_job_for_another_entity_is_403_before_validation(server: Server, planted: Planted) -> None:
    """A valid and an invalid team-b job get the same 403: validation (which would tell team-a
    about team-b's secrets, models and baselines) never runs."""
    a = server.client(server.a.token)
    before = server.snapshot()
    valid = a.post("/jobs", json=api_job("team-b"))
    invalid = a.post(
        "/jobs",
        json=api_job(
            "team-b",
            benchmarks=["no_such_benchmark"],
            model={"api": {"model": "openai/gpt-4o-mini", "api_key": "secret://ONLY_B"}},
            baseline=MISSING,
        ),
    )
    assert valid.status_code == invalid.status_code == 403, invalid.text
    assert valid.json() == invalid.json()
    body = valid.json()
    assert not body.get("errors"), "validation ran for another entity's job"
    assert "team-b" in body["detail"] and "use one of that entity's" in body["detail"]
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_rerun_and_rerun_last_cannot_move_work_into_another_entity(server: Server, planted: Planted) -> None:
    a, b = server.client(server.a.token), server.client(server.b.token)
    own = a.post("/jobs", json=api_job()).json()["id"]
    b.post("/jobs", json=api_job("team-b"))
    before = server.snapshot()
    moved = a.post(f"/jobs/{own}/rerun", params={"entity": "team-b"})
    assert moved.status_code == 403 and "team-b" in moved.json()["detail"]
    last = a.post("/projects/team-b/nightly/rerun-last")
    empty = a.post("/projects/team-b/no-such-project/rerun-last")
    assert last.status_code == empty.status_code == 403
    assert last.json() == empty.json(), "rerun-last tells team-a which of team-b's projects have jobs"
    server.assert_unchanged(before)
    planted.assert_not_leaked()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_another_entitys_leaderboard_is_closed(server: Server, planted: Planted, fmt: str) -> None:
    a, b = server.client(server.a.token), server.client(server.b.token)
    finished_job(server, b, "team-b")
    assert b.get("/leaderboards/team-b/nightly", params={"format": fmt}).status_code == 200
    before = server.snapshot()
    theirs = a.get("/leaderboards/team-b/nightly", params={"format": fmt})
    nobody = a.get("/leaderboards/team-zzz/nightly", params={"format": fmt})
    assert theirs.status_code == nobody.status_code == 403
    assert theirs.text.replace("team-b", "E") == nobody.text.replace("team-zzz", "E")
    assert "boolq" not in theirs.text
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_another_entitys_policy_is_404_like_a_missing_one(server: Server, planted: Planted) -> None:
    b_admin = server.client(server.b.admin_token)
    a, a_admin = server.client(server.a.token), server.client(server.a.admin_token)
    assert b_admin.put("/policies/b-only", json=webhook_policy("team-b", "b-only")).status_code == 200
    before = server.snapshot()
    for client in (a, a_admin):
        for method in ("GET", "DELETE"):
            theirs = client.request(method, "/policies/b-only")
            missing = client.request(method, "/policies/nobodys")
            assert theirs.status_code == 404, theirs.text
            same_answer(theirs, missing, "b-only", "nobodys")
    server.assert_unchanged(before)
    assert b_admin.get("/policies/b-only").json()["entity"] == "team-b"
    planted.assert_not_leaked()


def test_a_policy_name_another_entity_uses_reveals_nothing_and_changes_nothing_of_theirs(
    server: Server, planted: Planted
) -> None:
    """Whether names are global (taken: refused) or per entity (team-a gets its own policy),
    team-a never learns who holds the name and team-b's policy stays as it was."""
    b_admin, a_admin = server.client(server.b.admin_token), server.client(server.a.admin_token)
    assert (
        b_admin.put("/policies/shared-name", json=webhook_policy("team-b", "shared-name")).status_code == 200
    )
    theirs = b_admin.get("/policies/shared-name").json()
    answer = a_admin.put("/policies/shared-name", json=webhook_policy("team-a", "shared-name"))
    assert answer.status_code < 500
    assert "team-b" not in answer.text, f"the answer tells team-a that team-b holds the name: {answer.text}"
    assert b_admin.get("/policies/shared-name").json() == theirs
    planted.assert_not_leaked()


def test_a_baseline_of_another_entity_is_as_unknown_as_a_missing_job(
    server: Server, planted: Planted
) -> None:
    a, b = server.client(server.a.token), server.client(server.b.token)
    theirs = finished_job(server, b, "team-b")
    before = server.snapshot()
    answer = a.post("/jobs", json=api_job(baseline=theirs))
    missing = a.post("/jobs", json=api_job(baseline=MISSING))
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/baseline"]
    same_answer(answer, missing, theirs, MISSING)
    server.assert_unchanged(before)
    planted.assert_not_leaked()


def test_the_project_baseline_is_never_another_entitys_job(server: Server, planted: Planted) -> None:
    """team-b's succeeded job in a project of the same name is not team-a's baseline."""
    a, b = server.client(server.a.token), server.client(server.b.token)
    finished_job(server, b, "team-b")
    own = a.post("/jobs", json=api_job()).json()["id"]
    before = server.snapshot()
    answer = a.get("/compare", params={"b": own})
    assert answer.status_code == 404 and "no project baseline" in answer.json()["detail"]
    server.assert_unchanged(before)
    planted.assert_not_leaked()


SMUGGLED = {
    "entity": "team-b",
    "project": "smuggled",
    "model": {"api": {"model": "openai-api/attacker/m", "base_url": "http://127.0.0.1:9/v1"}},
    "benchmarks": [{"id": "boolq", "scoring": "generate"}],
    "limit": 1,
}
"""A team-b job hidden inside W&B's config form, whose embedded `evaljobs` document wins."""


@pytest.mark.parametrize("route", ["POST /jobs", "PUT /policies (cron)", "PUT /policies (webhook)"])
def test_wandb_config_form_cannot_smuggle_a_job_into_another_entity(
    server: Server, planted: Planted, route: str
) -> None:
    a, a_admin = server.client(server.a.token), server.client(server.a.admin_token)
    inner = {
        **SMUGGLED,
        "model": {"api": {**SMUGGLED["model"]["api"], "api_key": "secret://ONLY_B"}},  # type: ignore[index]
    }
    before = server.snapshot()
    if route == "POST /jobs":
        answer = a.post("/jobs", json={"entity": "team-a", "tasks": ["boolq"], "evaljobs": inner})
    else:
        template: dict[str, Any] = {"tasks": ["boolq"], "evaljobs": inner}
        policy: dict[str, Any] = {"name": "smuggler", "entity": "team-a", "job": template}
        if "cron" in route:
            policy |= {"schedule": "0 2 * * *", "job": {**template, "model": inner["model"]}}
        else:
            policy |= {"match": {"collection": "gemma-*"}}
        answer = a_admin.put("/policies/smuggler", json=policy)
    assert answer.status_code in (403, 422), f"{route} accepted a team-b job from team-a: {answer.text}"
    server.assert_unchanged(before)
    assert server.registry.jobs(entities=["team-b"]) == []
    planted.assert_not_leaked()
