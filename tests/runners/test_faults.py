"""Fault injection on the local runner, with the real vLLM CPU server: the runner killed (SIGKILL)
half-way resumes and asks the server for none of the samples it had scored; the server killed
half-way ends the job `failed` with the reason instead of leaving it retrying forever.

(Killing `serve` while jobs wait is tests/runners/test_worker_pool.py's restarted pool; the Modal
shapes of these faults are tests/infra/test_rehearsal.py's.)
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from evaljobs.records import JobStatus
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.job import job_dir, run_job
from runners.processes import spawn_runner
from tests.runners.test_end_to_end import _processes_mentioning, _wait_for, submit
from tests.support.eval_logs import logged_samples, model_requests, scored_sample_ids

pytestmark = pytest.mark.vllm

LIMIT = 24


def _job(model: Path, name: str, scoring: str) -> dict[str, Any]:
    return {
        "project": "faults",
        "model": {"checkpoint": {"uri": str(model), "served_name": name, "max_model_len": 1024}},
        "benchmarks": [{"id": "boolq", "scoring": scoring}],
        "limit": LIMIT,
        "max_connections": 1,  # one request at a time: the same numerics run after run
        "generation": {"temperature": 0, "max_tokens": 4},
    }


def _scored(job_id: str) -> int:
    """Samples scored so far: in the job's eval log, or in inspect-ai's sample buffer before the
    log's next write (every `EVALJOBS_LOG_BUFFER` samples)."""
    return len(scored_sample_ids(job_dir(get_settings(), job_id) / "logs"))


def _scores(registry: SqliteRegistry, job_id: str) -> dict[str, tuple[Any, list[float]]]:
    """Per sample: its score and each choice's log-likelihood."""
    from inspect_ai.log import read_eval_log_samples

    [result] = registry.get(job_id).results
    assert result.log_path
    found = {}
    for sample in read_eval_log_samples(result.log_path, all_samples_required=False):
        [score] = (sample.scores or {}).values()
        found[str(sample.id)] = (score.value, json.loads(score.explanation or "{}")["loglikelihoods"])
    return found


def test_a_runner_killed_half_way_resumes_asking_only_for_what_it_had_not_scored(
    home: Path, embedded_model: Path
) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    reference = submit(_job(embedded_model, f"fault-ref-{uuid.uuid4().hex[:6]}", "loglikelihood"), registry)
    assert run_job(reference, registry, settings) is JobStatus.SUCCEEDED

    name = f"fault-kill-{uuid.uuid4().hex[:6]}"
    job_id = submit(_job(embedded_model, name, "loglikelihood"), registry)
    runner = spawn_runner(settings, job_id)
    try:
        assert _wait_for(lambda: _scored(job_id) >= LIMIT // 2, 900), "half the samples were never scored"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    logs = job_dir(settings, job_id) / "logs"
    kept = scored_sample_ids(logs)
    assert logged_samples(logs) < len(kept), "every scored sample was in the eval log: nothing was buffered"
    assert _wait_for(lambda: not _processes_mentioning(name), 120), "the killed runner's vLLM lives on"
    assert registry.get(job_id).status is JobStatus.RUNNING  # as a killed runner leaves it

    assert run_job(job_id, registry, settings) is JobStatus.SUCCEEDED  # a new runner takes it over
    job = registry.get(job_id)
    assert job.runtime.resumed and job.runtime.model_server is not None
    # the new server was asked for the missing samples' prompts only (a model event each)
    [result] = job.results
    assert result.log_path
    asked = model_requests(Path(result.log_path), leaving_out=kept)
    assert asked >= LIMIT - len(kept) > 0
    assert job.runtime.model_server.requests == asked, f"{len(kept)} of {LIMIT} were kept"
    assert _scores(registry, job_id) == _scores(registry, reference)


def test_a_server_killed_half_way_fails_the_job_with_the_reason(home: Path, embedded_model: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    name = f"fault-server-{uuid.uuid4().hex[:6]}"
    job_id = submit(_job(embedded_model, name, "generate"), registry)  # generate: retried forever
    runner = spawn_runner(settings, job_id)
    try:
        assert _wait_for(lambda: _scored(job_id) >= LIMIT // 2, 900), "half the samples were never scored"
        [server] = [pid for pid in _processes_mentioning(f"--served-model-name\0{name}")]
        os.kill(server, signal.SIGKILL)
        assert _wait_for(lambda: registry.get(job_id).status is not JobStatus.RUNNING, 600), "stuck"
    finally:
        runner.kill()
        runner.wait()
    job = registry.get(job_id)
    assert job.status is JobStatus.FAILED
    assert "model server exited (code -9) while the job used it" in (job.error or ""), job.error


def test_serve_killed_while_jobs_wait_leaves_none_behind_once_it_is_back(home: Path, server: Any) -> None:
    """`evaljobs serve` SIGKILLed with one job running and two queued: its runner lives on (a
    process of its own); the restarted serve adopts it and runs the queue to the end."""
    import subprocess
    import sys

    import httpx

    from evaljobs.stores import open_secret_store
    from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
    from tests.support.live_server import free_port, wait_until_up

    settings = get_settings()
    token = SqliteTriggerStore(settings.db_path).create_token("ci", ["team-a"])
    open_secret_store(settings).put_secret("team-a", "MODEL_KEY", server.api_key)
    doc = {
        "entity": "team-a",
        "project": "faults",
        "model": {
            "api": {
                "model": f"vllm/{server.model}",
                "base_url": server.base_url,
                "api_key": "secret://MODEL_KEY",
            }
        },
        "benchmarks": [{"id": "boolq", "scoring": "generate"}],
        "limit": 3,
        "generation": {"temperature": 0, "max_tokens": 4},
    }

    def serve() -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        command = [
            str(Path(sys.executable).with_name("evaljobs")),
            "serve",
            "--workers",
            "1",
            "--port",
            str(port),
        ]
        process = subprocess.Popen(
            command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
        return f"http://127.0.0.1:{port}", process

    url, first = serve()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        jobs = [httpx.post(f"{url}/jobs", json=doc, headers=auth, timeout=30).json()["id"] for _ in range(3)]
        registry = SqliteRegistry(settings.db_path)
        assert _wait_for(lambda: registry.get(jobs[0]).status is JobStatus.RUNNING, 120)
        assert [registry.get(j).status for j in jobs[1:]] == [JobStatus.QUEUED] * 2
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    url, second = serve()
    try:
        assert _wait_for(
            lambda: all(registry.get(j).status not in (JobStatus.QUEUED, JobStatus.RUNNING) for j in jobs),
            600,
        ), "jobs left behind"
    finally:
        second.terminate()
        second.wait(30)
    assert [registry.get(j).status for j in jobs] == [JobStatus.SUCCEEDED] * 3, [
        registry.get(j).error for j in jobs
    ]
