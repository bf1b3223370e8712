"""The Modal deployment, rehearsed: a signed W&B webhook reaches the `api` container, which spawns a
`Runner` container that serves the checkpoint on vLLM (CPU here), is preempted half-way, resumes in
a new container with the same call, and ends; the results are read back through the api from where
the runner put them. Then the `tick` container runs, and a cancel goes through the api.

Every container is its own process, in its own folder, with only its image's files and its
secrets' environment (tests/support/rehearsal.py says how, and what stands in for what).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
import pytest

from infra.aws_resources import provision
from tests.functions.test_webhook import sign
from tests.support import modal_standin
from tests.support.eval_logs import logged_samples, model_requests, scored_sample_ids
from tests.support.live_server import free_port, wait_until_up
from tests.support.moto_server import FAKE_CREDENTIALS
from tests.support.rehearsal import Rehearsal

ENTITY, PROJECT = "team-a", "evals"
OTHER = "team-b"
"""Another team the operator's user token may also submit for."""
LIMIT = 40
TENANT_TOKEN = f"hf_tenant{uuid.uuid4().hex}"
POLICY = {
    "name": "evaluate-gemma",
    "entity": ENTITY,
    "match": {"collection": "gemma-*", "event_type": ["ADD_ARTIFACT_ALIAS"]},
    "job": {
        "project": PROJECT,
        "limit": LIMIT,
        "max_connections": 1,
        "secrets": {"hf_token": "secret://HF_READ"},  # the entity's, in Secrets Manager
        "model": {"checkpoint": {"max_model_len": 1024}},
        "benchmarks": ["boolq"],
    },
}


def _wait(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)
    return found


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    aws_endpoint: str,
    datasets_dir: Path,
    embedded_model: Path,
) -> Iterator[Rehearsal]:
    """The rehearsed deployment; a test's indirect parameter adds to what its containers are set."""
    resources = provision(f"rh{uuid.uuid4().hex[:6]}", endpoint_url=aws_endpoint).settings()
    wandb_mirror = tmp_path / "wandb-artifacts"  # the W&B artifact store, as the runner reads it
    (wandb_mirror / ENTITY / "pretrain" / "gemma-270m").mkdir(parents=True)
    (wandb_mirror / ENTITY / "pretrain" / "gemma-270m" / "production").symlink_to(embedded_model)
    secrets = {
        "evaljobs-aws": dict(FAKE_CREDENTIALS),
        "evaljobs-config": resources,
        "evaljobs-wandb": {"WANDB_API_KEY": "local-" + "0" * 34},
        "evaljobs-hf": {"HF_TOKEN": "hf_rehearsal"},
    }
    standins = {
        "EVALJOBS_AWS_ENDPOINT_URL": aws_endpoint,  # AWS → moto's server
        "EVALJOBS_DATASET_SOURCE": str(datasets_dir),  # the Hugging Face Hub → its offline mirror
        "EVALJOBS_ARTIFACT_SOURCE": str(wandb_mirror),  # W&B's artifact store → a folder
        "EVALJOBS_WANDB_MODE": "offline",  # W&B runs → offline run files
        "EVALJOBS_WEAVE": "off",  # Weave has no offline mode
        "EVALJOBS_GPU_COUNT": "0",  # H100s → vLLM's CPU build
        # commits every 2 s, not 15: a CPU vLLM can score all the samples between two 15 s
        # commits, and then the first commit holding half of them is the last (nothing is left
        # to resume; CI saw it)
        "EVALJOBS_VOLUME_COMMIT_S": "2",
        **getattr(request, "param", {}),
    }
    rehearsal = Rehearsal(tmp_path / "deployment", secrets, standins)
    try:
        yield rehearsal
    finally:
        rehearsal.stop()


def _operator(aws_endpoint: str, table_settings: dict[str, str]) -> tuple[str, str, str, str]:
    """What the operator sets up with the deployment's own stores: tokens and a webhook."""
    from evaljobs.settings import Settings
    from evaljobs.stores import open_trigger_store

    settings = Settings(registry="dynamodb", aws_endpoint_url=aws_endpoint, **table_settings)  # type: ignore[arg-type]
    store = open_trigger_store(settings)
    hook_token, hook_secret = store.create_webhook(ENTITY)
    return (
        store.create_token("ci", [ENTITY, OTHER]),
        store.create_token("admin", [ENTITY], admin=True),
        hook_token,
        hook_secret,
    )


@contextmanager
def _deployed_api(
    deployment: Rehearsal, aws_endpoint: str
) -> Iterator[tuple[dict[str, str], str, tuple[str, str, str, str]]]:
    """The `api` container, up: the api's environment, its URL, and the operator's user token,
    admin token, webhook token and webhook secret."""
    config = json.loads(deployment.deployment.read_text())["functions"]["api"]["env"]
    tokens = _operator(aws_endpoint, {"dynamodb_table": config["EVALJOBS_DYNAMODB_TABLE"]})
    port = free_port()
    _, api = deployment.start_api(port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", api, timeout=120)
        yield config, url, tokens
    finally:
        api.terminate()
        api.wait(30)


@pytest.mark.vllm
def test_a_webhook_job_runs_through_the_deployed_containers_survives_preemption_and_reads_back(
    deployment: Rehearsal, aws_endpoint: str
) -> None:
    with _deployed_api(deployment, aws_endpoint) as (config, url, (user, admin, hook_token, hook_secret)):
        as_admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
        stored = as_admin.put(f"/secrets/{ENTITY}/HF_READ", json={"value": TENANT_TOKEN})
        assert stored.status_code == 204, stored.text
        put = as_admin.put(f"/policies/{POLICY['name']}", json=POLICY)
        assert put.status_code == 200, put.text
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user}"}, timeout=30)

        event = {
            "event_type": "ADD_ARTIFACT_ALIAS",
            "alias": "production",
            "artifact_version_string": f"{ENTITY}/pretrain/gemma-270m:production",
            "artifact_collection_name": "gemma-270m",
            "project_name": "pretrain",
            "entity_name": ENTITY,
        }
        body = json.dumps(event).encode()
        accepted = httpx.post(
            f"{url}/webhooks/wandb",
            content=body,
            headers={"Authorization": f"Bearer {hook_token}", "X-Wandb-Signature": sign(hook_secret, body)},
        )
        assert accepted.status_code == 202, accepted.text + deployment.container_log("api-0")
        [job_id] = accepted.json()["jobs"]
        call_id = client.get(f"/jobs/{job_id}").json()["runtime"]["modal_call_id"]
        assert call_id, "the api recorded no Modal call for the job"
        first = deployment.call(call_id)["container"]

        # preempted once the Volume holds at least half the scored samples (committed by the
        # runner): in the eval log, or in the sample buffer's copy in the log dir (`log_shared`)
        committed_logs = deployment.volume("evaljobs-eval-logs") / "jobs" / job_id / "logs"
        half_scored = lambda: len(scored_sample_ids(committed_logs)) >= LIMIT // 2  # noqa: E731
        _wait(half_scored, 900, "half the samples on the Volume")
        second = deployment.preempt(call_id)
        kept = scored_sample_ids(committed_logs)
        assert logged_samples(committed_logs) < len(kept), "nothing was buffered: the log held every sample"
        assert second != first

        job = _wait(
            lambda: (j := client.get(f"/jobs/{job_id}").json())["status"] not in ("queued", "running") and j,
            900,
            "the job to end",
        )
        assert isinstance(job, dict)
        # its log reaches the api once the runner copied it to S3, a moment after the job ended
        log = _wait(lambda: (r := client.get(f"/jobs/{job_id}/log")).status_code == 200 and r, 120, "the log")
        assert isinstance(log, httpx.Response)
        assert job["status"] == "succeeded", f"{job['error']}\n{log.text[-3000:]}"
        assert job["runtime"]["resumed"] is True and job["runtime"]["host"] == second
        assert [(r["benchmark"], r["samples_completed"]) for r in job["results"]] == [("boolq", LIMIT)]

        # read back through the api, from where the runner put them (its own disk is its own)
        assert f"job {job_id} succeeded" in log.text
        assert TENANT_TOKEN not in log.text  # resolved in the runner container, and never written
        page = client.get(f"/jobs/{job_id}/samples", params={"benchmark": "boolq", "limit": 50})
        assert page.status_code == 200, page.text
        assert len(page.json()["samples"]) == LIMIT
        compared = client.get("/compare", params={"a": job_id, "b": job_id})
        assert compared.status_code == 200, compared.text
        [same] = compared.json()["benchmarks"]
        assert (same["shared"], same["diff"]) == (LIMIT, 0)

        # the resumed container asked its server only for the samples the Volume did not hold
        # (a prompt per model event in the log)
        result_log = committed_logs / Path(job["results"][0]["log_path"]).name
        asked = model_requests(result_log, leaving_out=kept)
        assert asked >= LIMIT - len(kept) > 0
        assert job["runtime"]["model_server"]["requests"] == asked, f"{len(kept)} were kept"

        # the completion event left the runner container for SNS; the eval logs are on S3
        bucket = config["EVALJOBS_EVAL_LOGS_BUCKET"]
        s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job_id}/")["Contents"]]
        assert any(k.endswith(".eval") for k in keys) and f"jobs/{job_id}/job.log" in keys

        # a re-run cancelled through the api while its runner container starts: the input is
        # cancelled inside the container (Modal's InputCancellation), the job ends with its sinks
        rerun = client.post(f"/jobs/{job_id}/rerun")
        assert rerun.status_code == 201, rerun.text
        again = rerun.json()["id"]
        _wait(lambda: client.get(f"/jobs/{again}").json()["status"] == "running", 300, "the re-run to start")
        assert client.post(f"/jobs/{again}/cancel").status_code == 200
        assert client.get(f"/jobs/{again}").json()["status"] == "cancelled"
        call = deployment.call(client.get(f"/jobs/{again}").json()["runtime"]["modal_call_id"])
        _wait(lambda: not modal_standin.alive(call["pid"]), 300, "the cancelled container to end")
        said = deployment.root / "containers" / call["container"] / "data/evaljobs/jobs" / again / "job.log"
        assert f"job {again} cancelled" in said.read_text()  # the runner process was stopped, and then…
        copied = s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{again}/").get("Contents", [])
        assert [o["Key"] for o in copied] == [f"jobs/{again}/job.log"]  # …ran its sinks
        assert "InputCancellation" in str(
            deployment.call_result(call["id"])
        )  # Modal's cancel, as Modal sees it

        # the cron tick starts in its own container and finds nothing stranded
        assert deployment.tick() == []


@pytest.mark.vllm
def test_a_sharded_job_fans_out_over_runner_containers_and_merges_once(
    deployment: Rehearsal, aws_endpoint: str, stub: str
) -> None:
    """`shards: 2` through the api: two Runner containers, each scoring its part; the last to
    commit its logs to the Volume merges both into one result per benchmark, read back through
    the api, with one completion of the job (its logs on S3 once, none for the shards)."""
    with _deployed_api(deployment, aws_endpoint) as (config, url, (user, _, _, _)):
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user}"}, timeout=30)
        job_doc = {
            "entity": ENTITY,
            "project": PROJECT,
            "model": {"api": {"model": "vllm/stub", "base_url": stub}},  # the stub stands in for a hosted API
            "benchmarks": ["arc_easy", {"id": "boolq", "limit": 3}],
            "limit": 10,
            "shards": 2,
        }
        created = client.post("/jobs", json=job_doc)
        assert created.status_code == 201, created.text + deployment.container_log("api-0")
        job_id = created.json()["id"]
        job = _wait(
            lambda: (j := client.get(f"/jobs/{job_id}").json())["status"] not in ("queued", "running") and j,
            600,
            "the sharded job to end",
        )
        assert isinstance(job, dict)
        assert job["status"] == "succeeded", job["error"]
        states = job["shard_states"]
        assert [(s["id"], s["status"]) for s in states] == [(f"{job_id}-s{p}", "succeeded") for p in range(2)]
        done = [(r["benchmark"], r["samples_completed"]) for r in job["results"]]
        assert done == [("arc_easy", 10), ("boolq", 3)]
        listed_jobs = [j["id"] for j in client.get("/jobs").json()]
        assert listed_jobs == [job_id]  # the shards are the job's, not listed

        call_ids = [client.get(f"/jobs/{s['id']}").json()["runtime"]["modal_call_id"] for s in states]
        calls = [deployment.call(c) for c in call_ids]
        assert len({c["container"] for c in calls}) == 2  # a container each
        page = client.get(f"/jobs/{job_id}/samples", params={"benchmark": "arc_easy", "limit": 50})
        assert page.status_code == 200, page.text
        assert len(page.json()["samples"]) == 10

        bucket = config["EVALJOBS_EVAL_LOGS_BUCKET"]
        s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
        listing = lambda: s3.list_objects_v2(Bucket=bucket, Prefix="jobs/").get("Contents", [])  # noqa: E731
        # the job's sinks copy its logs a moment after it ended
        listed = _wait(
            lambda: f"jobs/{job_id}/job.log" in [o["Key"] for o in listing()] and listing(), 120, "S3"
        )
        assert isinstance(listed, list)
        assert {o["Key"].split("/")[1] for o in listed} == {job_id}  # the job's sinks, once; the shards' none
        merged = deployment.volume("evaljobs-eval-logs") / "jobs" / job_id / "logs"
        assert sorted(p.name for p in merged.glob("*.eval")) == ["arc_easy.eval", "boolq.eval"]


@pytest.mark.vllm
def test_a_sharded_job_cancelled_through_the_api_ends_with_its_sinks_in_finish(
    deployment: Rehearsal, aws_endpoint: str
) -> None:
    """Cancel `shards: 2` while both shards run: the api records the end, and the sinks (whose W&B
    key the api does not have) run in a container of the app's `finish` function, which has the
    runner's secrets and Volumes; the job's log lands on the Volume and on S3 from there."""
    from bench.stub_server import running

    with _deployed_api(deployment, aws_endpoint) as (config, url, (user, _, _, _)):
        assert "WANDB_API_KEY" not in config  # why the sinks cannot run where the cancel arrives
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user}"}, timeout=30)
        with running(2.0, served_name="slow") as slow:  # 2 s a request, one at a time: ~40 s a shard
            job_doc = {
                "entity": ENTITY,
                "project": PROJECT,
                "model": {"api": {"model": "vllm/slow", "base_url": slow}},
                "benchmarks": ["arc_easy"],
                "limit": 40,
                "max_connections": 1,
                "shards": 2,
            }
            created = client.post("/jobs", json=job_doc)
            assert created.status_code == 201, created.text + deployment.container_log("api-0")
            job_id = created.json()["id"]
            shards = [f"{job_id}-s{p}" for p in range(2)]
            _wait(
                lambda: all(client.get(f"/jobs/{s}").json()["status"] == "running" for s in shards),
                300,
                "both shards to run",
            )
            cancelled = client.post(f"/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"  # recorded at once, by the api

            finish_calls = lambda: [  # noqa: E731
                call
                for p in (deployment.root / "calls").glob("*.json")
                if (call := deployment.call(p.stem)).get("function") == "finish"
            ]
            [call] = _wait(finish_calls, 60, "the api to call finish")  # type: ignore[misc]
            assert (call["job"], call["args"]) == (job_id, ["sinks"])
            _wait(lambda: not modal_standin.alive(call["pid"]), 300, "finish to end")

        assert deployment.call_result(call["id"]) == {"value": "cancelled"}
        container = deployment.root / "containers" / call["container"] / "data/evaljobs/jobs" / job_id
        said = (container / "job.log").read_text()
        assert f"job {job_id} cancelled" in said, deployment.container_log(call["container"])
        assert list(container.glob("wandb/offline-run-*")), "the W&B run was not written in finish"
        committed = deployment.volume("evaljobs-eval-logs") / "jobs" / job_id / "job.log"
        assert f"job {job_id} cancelled" in committed.read_text()  # finish committed the Volume
        api_side = deployment.root / "containers" / "api-0" / "data/evaljobs/jobs" / job_id
        assert not (api_side / "job.log").exists()  # nothing ran there

        bucket = config["EVALJOBS_EVAL_LOGS_BUCKET"]
        s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job_id}/").get("Contents", [])
        ]
        assert f"jobs/{job_id}/job.log" in keys  # the log copy sink, from finish
        job = client.get(f"/jobs/{job_id}").json()
        assert job["status"] == "cancelled"
        assert [s["status"] for s in job["shard_states"]] == ["cancelled", "cancelled"]


@pytest.mark.parametrize("deployment", [{"EVALJOBS_MODAL_MAX_RUNNERS": "1"}], indirect=True)
def test_one_team_s_burst_does_not_hold_another_team_s_job_back(
    deployment: Rehearsal, aws_endpoint: str
) -> None:
    """One runner; team-a submits two jobs, then team-b one. The api spawns team-a's first and
    keeps the other two in the registry, not in Modal's queue; when that job ends, its `Runner`
    hands the runner to team-b, which has none running, before team-a's second."""
    from bench.stub_server import running

    with _deployed_api(deployment, aws_endpoint) as (_, url, (user, _, _, _)):
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user}"}, timeout=30)
        with running(1.0, served_name="slow") as slow:  # 1 s a request, one at a time

            def submit(entity: str) -> str:
                job_doc = {
                    "entity": entity,
                    "project": PROJECT,
                    "model": {"api": {"model": "vllm/slow", "base_url": slow}},
                    "benchmarks": [{"id": "boolq", "limit": 3}],
                    "max_connections": 1,
                }
                created = client.post("/jobs", json=job_doc)
                assert created.status_code == 201, created.text + deployment.container_log("api-0")
                return str(created.json()["id"])

            first, second, other = submit(ENTITY), submit(ENTITY), submit(OTHER)
            waiting = [client.get(f"/jobs/{j}").json()["runtime"] for j in (second, other)]
            assert [r.get("modal_call_id") for r in waiting] == [None, None]  # held in the registry
            jobs = lambda: [client.get(f"/jobs/{j}").json() for j in (first, other, second)]  # noqa: E731
            _wait(lambda: all(j["status"] == "succeeded" for j in jobs()), 600, "the three jobs to end")

        ran = [(j["started_at"], j["finished_at"]) for j in jobs()]
        assert ran == sorted(ran) and all(ended < ran[k + 1][0] for k, (_, ended) in enumerate(ran[:-1])), (
            ran  # one runner at a time, team-b's job second
        )
        runner_calls = [
            c
            for p in (deployment.root / "calls").glob("*.json")
            if "function" not in (c := deployment.call(p.stem))
        ]
        assert len(runner_calls) == 3  # one call per job: none spawned twice, none waiting in Modal
