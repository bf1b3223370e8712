"""`evaljobs serve` end to end: a signed W&B webhook starts a job that really runs.

Real HTTP server, real worker pool (a runner subprocess), real vLLM CPU server with the
embedded model (reached as a W&B artifact through the local artifact mirror), real data.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.serve import build_app
from tests.functions.test_webhook import sign
from tests.runners.test_end_to_end import _processes_mentioning, _wait_for
from tests.support.live_server import live_server

pytestmark = pytest.mark.vllm

POLICIES = """
policies:
  - name: evaluate-gemma
    entity: team-a
    match:
      collection: gemma-*
      event_type: [CREATE_ARTIFACT, ADD_ARTIFACT_ALIAS]
    job:
      project: evals
      limit: 3
      model: {checkpoint: {max_model_len: 1024}}
      benchmarks: [arc_easy, {id: boolq, scoring: generate}]
      generation: {temperature: 0, max_tokens: 8}
"""


def test_signed_webhook_runs_a_job_onto_the_leaderboard(
    home: Path, tmp_path: Path, embedded_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "artifacts"
    (mirror / "team-a" / "pretrain" / "gemma-270m").mkdir(parents=True)
    (mirror / "team-a" / "pretrain" / "gemma-270m" / "v3").symlink_to(embedded_model)
    monkeypatch.setenv("EVALJOBS_ARTIFACT_SOURCE", str(mirror))
    get_settings.cache_clear()
    settings = get_settings()
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    app = build_app(settings, workers=1, policies_file=policies, scheduler_poll_s=3600)
    store = SqliteTriggerStore(settings.db_path)
    hook_token, secret = store.create_webhook("team-a")
    api_token = store.create_token("ci", ["team-a"])
    event = {
        "event_type": "CREATE_ARTIFACT",
        "event_author": "alice",
        "alias": "",
        "artifact_version": "wandb-artifact://_id/QXJ0aWZhY3Q6Nzc=",
        "artifact_version_string": "team-a/pretrain/gemma-270m:v3",
        "artifact_collection_name": "gemma-270m",
        "project_name": "pretrain",
        "entity_name": "team-a",
    }
    body = json.dumps(event).encode()
    with live_server(app) as url:
        started = time.perf_counter()
        accepted = httpx.post(
            f"{url}/webhooks/wandb",
            content=body,
            headers={"Authorization": f"Bearer {hook_token}", "X-Wandb-Signature": sign(secret, body)},
        )
        assert accepted.status_code == 202, accepted.text
        assert time.perf_counter() - started < 5, "the webhook must answer without evaluating"
        [job_id] = accepted.json()["jobs"]
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_token}"}, timeout=30)
        deadline = time.monotonic() + 1200
        while (job := client.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(2)
        assert job["status"] == "succeeded", job["error"]
        assert job["trigger"]["kind"] == "webhook" and job["trigger"]["detail"]["policy"] == "evaluate-gemma"
        assert job["model"] == "gemma-270m:v3"
        assert job["runtime"]["checkpoint"] == str(embedded_model.resolve())
        assert [(r["benchmark"], r["samples_completed"]) for r in job["results"]] == [
            ("arc_easy", 3),
            ("boolq", 3),
        ]
        rows = client.get("/leaderboards/team-a/evals").json()
        assert {(r["benchmark"], r["job_id"], r["trigger"]) for r in rows} == {
            ("arc_easy", job_id, "webhook"),
            ("boolq", job_id, "webhook"),
        }
        assert all(r["stderr"] is not None for r in rows)

        # a job posted over HTTP, cancelled over HTTP while its runner serves the model
        name = f"cancel-me-{uuid.uuid4().hex[:8]}"
        doc = {
            "entity": "team-a",
            "project": "evals",
            "model": {"checkpoint": {"uri": str(embedded_model), "served_name": name, "max_model_len": 1024}},
            "benchmarks": ["boolq"],
        }
        created = client.post("/jobs", json=doc)
        assert created.status_code == 201, created.text
        second = created.json()["id"]
        assert _wait_for(lambda: _processes_mentioning(f"--served-model-name\0{name}"), 300), (
            "no vLLM started"
        )
        assert client.post(f"/jobs/{second}/cancel").status_code == 200
        assert _wait_for(lambda: client.get(f"/jobs/{second}").json()["status"] == "cancelled", 180)
        assert _processes_mentioning(f"--served-model-name\0{name}") == []
        assert client.get(f"/jobs/{second}").json()["trigger"]["kind"] == "http"
