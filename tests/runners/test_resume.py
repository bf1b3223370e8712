"""A runner killed with scored samples not yet in its eval log (`EVALJOBS_LOG_BUFFER`): its
successor recovers them from inspect-ai's sample buffer and asks the model only for the rest.

Against the stub server, answering each request after 50 ms, one at a time, so the kill lands
mid-job in seconds; tests/runners/test_faults.py does the same on the vLLM CPU server, and the
Modal rehearsal across containers (the buffer's copy in the log dir).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.stub_server import running
from evaljobs.records import JobRecord, JobStatus
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.job import job_dir, run_job
from runners.processes import spawn_runner
from tests.support.eval_logs import logged_samples, scored_sample_ids

LIMIT = 60


@pytest.fixture
def slow_stub() -> Iterator[str]:
    with running(0.05, served_name="slowstub") as url:  # a name of its own: see conftest's `stub`
        yield url.removesuffix("/v1")


def _served(base: str) -> int:
    text = httpx.get(f"{base}/metrics").text
    return int(float(re.search(r"vllm:request_success_total\S* (\S+)", text)[1]))  # type: ignore[index]


def test_a_killed_runner_s_buffered_samples_are_recovered_not_asked_again(home: Path, slow_stub: str) -> None:
    settings = get_settings()
    assert settings.log_buffer > LIMIT  # every scored sample is still buffered at the kill
    registry = SqliteRegistry(settings.db_path)
    spec = {
        "model": {"api": {"model": "vllm/slowstub", "base_url": f"{slow_stub}/v1"}},
        "benchmarks": ["arc_easy"],
        "limit": LIMIT,
        "max_connections": 1,
        "retries": 0,
    }
    job_id = "job-00000000b0ff"
    registry.create(JobRecord(id=job_id, entity="local", project="p", model="slowstub", spec=spec))
    runner = spawn_runner(settings, job_id)
    logs = job_dir(settings, job_id) / "logs"
    try:
        deadline = time.monotonic() + 120
        while len(scored_sample_ids(logs)) < LIMIT // 3:
            assert time.monotonic() < deadline and runner.poll() is None, "the runner never got going"
            time.sleep(0.05)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    time.sleep(0.5)  # a request in flight at the kill finishes on the server
    kept = scored_sample_ids(logs)
    assert logged_samples(logs) < len(kept) < LIMIT  # scored, but not in the eval log yet
    before = _served(slow_stub)

    assert run_job(job_id, registry, settings) is JobStatus.SUCCEEDED  # takes over the dead runner's job
    job = registry.get(job_id)
    assert job.runtime.resumed
    assert job.results[0].samples_completed == LIMIT
    assert _served(slow_stub) - before == LIMIT - len(kept)  # only what had not been scored
