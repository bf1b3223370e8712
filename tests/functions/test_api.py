"""The HTTP API over real HTTP: jobs, auth scoping, errors as JSON pointers, leaderboards, policies."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import yaml

from evaljobs.records import BenchmarkResult, JobStatus, MetricValue
from tests.functions.conftest import Api


def job(entity: str = "team-a", **extra: Any) -> dict[str, Any]:
    return {
        "entity": entity,
        "project": "nightly",
        "model": {"api": {"model": "openai-api/local/gemma", "base_url": "http://127.0.0.1:9/v1"}},
        "benchmarks": ["boolq", {"id": "arc_easy", "limit": 5}],
        "limit": 10,
        **extra,
    }


def test_health_needs_no_token(api: Api) -> None:
    response = api.client().get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_post_job_queues_it_and_records_http_trigger(api: Api) -> None:
    response = api.client(api.token_a).post("/jobs", json=job())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued" and response.headers["location"] == f"/jobs/{body['id']}"
    stored = api.registry.get(body["id"])
    assert stored.trigger.kind == "http" and stored.trigger.detail == {"token": "a"}
    assert stored.entity == "team-a" and stored.spec.limit == 10


def test_invalid_job_gives_422_with_every_pointer_and_stores_nothing(api: Api) -> None:
    bad = job(limit=0, benchmarks=["boolq", "no_such_benchmark"])
    response = api.client(api.token_a).post("/jobs", json=bad)
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert "/limit" in pointers, response.json()
    assert api.registry.jobs() == []
    bad = job(benchmarks=["no_such_benchmark"])
    errors = api.client(api.token_a).post("/jobs", json=bad).json()["errors"]
    assert errors[0]["pointer"] == "/benchmarks/0" and "catalog" in errors[0]["message"]


def test_malformed_bodies_are_4xx(api: Api) -> None:
    client = api.client(api.token_a)
    assert (
        client.post("/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/jobs", json=[1, 2]).status_code == 422
    assert client.get("/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/jobs", params={"limit": "-3"}).status_code == 422


def test_no_token_or_unknown_token_is_401(api: Api) -> None:
    assert api.client().post("/jobs", json=job()).status_code == 401
    assert api.client("ej_forged").get("/jobs").status_code == 401


def test_a_token_cannot_start_or_read_another_entitys_jobs(api: Api) -> None:
    a, b = api.client(api.token_a), api.client(api.token_b)
    assert a.post("/jobs", json=job(entity="team-b")).status_code == 403
    b_job = b.post("/jobs", json=job(entity="team-b")).json()["id"]
    a_job = a.post("/jobs", json=job()).json()["id"]
    assert a.get(f"/jobs/{b_job}").status_code == 404
    assert a.post(f"/jobs/{b_job}/cancel").status_code == 404
    assert a.post(f"/jobs/{b_job}/rerun").status_code == 404
    assert a.get(f"/jobs/{b_job}/config.yaml").status_code == 404
    assert [j["id"] for j in a.get("/jobs").json()] == [a_job]
    assert [j["id"] for j in b.get("/jobs").json()] == [b_job]
    assert a.get("/leaderboards/team-b/nightly").status_code == 403
    assert api.registry.get(b_job).status is JobStatus.QUEUED


def test_list_filters_cancel_rerun_and_config(api: Api) -> None:
    client = api.client(api.token_a)
    first = client.post("/jobs", json=job()).json()["id"]
    client.post("/jobs", json=job(project="other"))
    assert [j["id"] for j in client.get("/jobs", params={"project": "nightly"}).json()] == [first]
    cancelled = client.post(f"/jobs/{first}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert [j["id"] for j in client.get("/jobs", params={"status": "cancelled"}).json()] == [first]
    assert len(client.get("/jobs", params={"trigger": "http"}).json()) == 2
    assert client.get("/jobs", params={"trigger": "webhook"}).json() == []
    again = client.post(f"/jobs/{first}/rerun")
    assert again.status_code == 201
    assert api.registry.get(again.json()["id"]).trigger.detail == {"rerun_of": first}
    config = client.get(f"/jobs/{first}/config.yaml")
    assert config.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(config.text)["tasks"] == ["boolq", "arc_easy"]
    assert client.get("/jobs/job-000000000000").status_code == 404


def test_catalog(api: Api) -> None:
    entries = api.client(api.token_a).get("/catalog").json()
    assert len(entries) == 105 and {"arc_easy", "boolq"} <= {e["id"] for e in entries}


def test_leaderboard_in_three_formats(api: Api) -> None:
    client = api.client(api.token_a)
    job_id = client.post("/jobs", json=job()).json()["id"]
    api.registry.transition(job_id, JobStatus.RUNNING)
    result = BenchmarkResult(
        benchmark="boolq",
        task="inspect_evals/boolq",
        status="success",
        metrics=[MetricValue(name="choice/accuracy", value=0.6, stderr=0.1)],
        primary_metric="choice/accuracy",
        samples_total=10,
        samples_completed=10,
    )
    api.registry.finish(job_id, JobStatus.SUCCEEDED, [result], None)
    rows = client.get("/leaderboards/team-a/nightly").json()
    assert len(rows) == 1 and rows[0]["value"] == 0.6 and rows[0]["stderr"] == 0.1
    assert round(rows[0]["ci95_low"], 4) == round(0.6 - 1.959963984540054 * 0.1, 4)
    lines = client.get("/leaderboards/team-a/nightly", params={"format": "jsonl"}).text.splitlines()
    assert [json.loads(x)["job_id"] for x in lines] == [job_id]
    table = list(csv.DictReader(io.StringIO(client.get("/leaderboards/team-a/nightly?format=csv").text)))
    assert table[0]["benchmark"] == "boolq" and float(table[0]["value"]) == 0.6
    assert client.get("/leaderboards/team-a/nightly", params={"format": "xml"}).status_code == 422


def test_policies_are_validated_scoped_and_removable(api: Api) -> None:
    a, b = api.client(api.token_a), api.client(api.token_b)
    policy = {
        "name": "new-checkpoints",
        "entity": "team-a",
        "match": {"collection": "gemma-*", "event_type": "CREATE_ARTIFACT"},
        "job": {"benchmarks": ["arc_easy"], "limit": 20},
    }
    assert a.put("/policies/new-checkpoints", json=policy).status_code == 200
    assert a.get("/policies").json()[0]["match"]["collection"] == ["gemma-*"]
    assert b.get("/policies").json() == []
    assert b.get("/policies/new-checkpoints").status_code == 404
    assert b.put("/policies/new-checkpoints", json=policy).status_code == 403  # team-a's: not b's to write
    # names are per entity: team-b's policy of the same name is its own and leaves team-a's alone
    assert b.put("/policies/new-checkpoints", json={**policy, "entity": "team-b"}).status_code == 200
    assert a.get("/policies/new-checkpoints").json()["entity"] == "team-a"
    assert b.delete("/policies/new-checkpoints").status_code == 204
    bad = {**policy, "job": {"benchmarks": ["nope"], "limit": 20}}
    response = a.put("/policies/new-checkpoints", json=bad)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/job/benchmarks/0"
    bad_cron = {"name": "nightly", "entity": "team-a", "schedule": "every night", "job": job()}
    assert a.put("/policies/nightly", json=bad_cron).status_code == 422
    assert a.put("/policies/other-name", json=policy).status_code == 422
    assert a.delete("/policies/new-checkpoints").status_code == 204
    assert a.get("/policies").json() == []


def test_a_token_of_several_entities_names_the_policys(api: Api) -> None:
    """Names are per entity: a token of one entity needs nothing more; one of several (or the
    operator's `*`) says whose with ?entity=, and an entity it does not hold is a plain 404."""
    policy = {"name": "nightly", "entity": "team-a", "match": {}, "job": {"benchmarks": ["boolq"]}}
    assert api.client(api.token_a).put("/policies/nightly", json=policy).status_code == 200
    theirs_too = {**policy, "entity": "team-b"}
    assert api.client(api.token_b).put("/policies/nightly", json=theirs_too).status_code == 200
    both = api.client(api.triggers.create_token("ac", ["team-a", "team-c"], admin=True))
    operator = api.client(api.triggers.create_token("op", ["*"]))
    for client in (both, operator):
        unnamed = client.get("/policies/nightly")
        assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["pointer"] == "query/entity"
        assert client.get("/policies/nightly", params={"entity": "team-a"}).json()["entity"] == "team-a"
    theirs = both.get("/policies/nightly", params={"entity": "team-b"})
    missing = both.get("/policies/nightly", params={"entity": "team-zzz"})
    assert theirs.status_code == missing.status_code == 404 and theirs.text == missing.text
    assert both.delete("/policies/nightly", params={"entity": "team-b"}).status_code == 404
    assert operator.delete("/policies/nightly", params={"entity": "team-b"}).status_code == 204
    assert [(p.entity, p.name) for p in api.triggers.policies()] == [("team-a", "nightly")]


def test_openapi_is_served_and_committed(api: Api) -> None:
    from pathlib import Path

    served = api.client().get("/openapi.json").json()
    committed = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "openapi.json").read_text())
    assert served == committed, "schemas/openapi.json is out of date: run `evaljobs schema`"


def test_rerun_in_another_project_and_rerun_last(api: Api) -> None:
    client = api.client(api.token_a)
    first = client.post("/jobs", json=job()).json()["id"]
    second = client.post("/jobs", json=job(name="latest")).json()["id"]
    # import a job's config into another project
    moved = client.post(f"/jobs/{first}/rerun", params={"project": "sandbox"})
    assert moved.status_code == 201, moved.text
    copy = api.registry.get(moved.json()["id"])
    assert copy.project == "sandbox" and copy.trigger.detail == {"rerun_of": first}
    assert copy.spec.model_dump(exclude={"project"}) == api.registry.get(first).spec.model_dump(
        exclude={"project"}
    )
    # ... but not into another entity's
    assert client.post(f"/jobs/{first}/rerun", params={"entity": "team-b"}).status_code == 403
    # re-run the project's last job
    last = client.post("/projects/team-a/nightly/rerun-last")
    assert last.status_code == 201
    assert api.registry.get(last.json()["id"]).trigger.detail == {"rerun_of": second}
    assert client.post("/projects/team-a/empty/rerun-last").status_code == 404
    assert client.post("/projects/team-b/nightly/rerun-last").status_code == 403
    assert {"entity": "team-a", "project": "sandbox"} in client.get("/projects").json()
    assert api.client(api.token_b).get("/projects").json() == []


def test_job_log_samples_and_compare_say_what_is_missing(api: Api) -> None:
    client = api.client(api.token_a)
    job_id = client.post("/jobs", json=job()).json()["id"]
    assert client.get(f"/jobs/{job_id}/log").status_code == 404
    missing = client.get(f"/jobs/{job_id}/samples", params={"benchmark": "boolq"})
    assert missing.status_code == 404 and "no results for 'boolq'" in missing.text
    api.registry.transition(job_id, JobStatus.RUNNING)
    api.registry.finish(
        job_id,
        JobStatus.SUCCEEDED,
        [BenchmarkResult(benchmark="boolq", task="boolq", status="success", log_path="/nonexistent.eval")],
        None,
    )
    gone = client.get(f"/jobs/{job_id}/samples", params={"benchmark": "boolq"})
    assert gone.status_code == 404 and "not on this server" in gone.text
    no_baseline = client.get("/compare", params={"b": job_id})
    assert no_baseline.status_code == 404 and "no project baseline" in no_baseline.text
    assert api.client(api.token_b).get("/compare", params={"b": job_id}).status_code == 404
