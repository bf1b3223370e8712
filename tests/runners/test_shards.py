"""A job fanned out over runners (`shards: K`): shard jobs in the registry, one merged result.

Against the OpenAI-compatible stub (bench/stub_server.py), so that the fan-out, retry, cancel
and merge paths run for real in seconds; tests/runners/test_end_to_end.py runs two shards on
the embedded model's vLLM server through the worker pool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from inspect_ai.log import read_eval_log

from evaljobs.errors import JobValidationError
from evaljobs.leaderboard import leaderboard_rows
from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.cancel import cancel_job
from runners.executor import InlineExecutor, ModalExecutor, finisher, start_job
from runners.job import main as job_main
from runners.job import run_job
from runners.progress import read_progress
from runners.shards import fan_out, shard_progress_files


def _spec(base_url: str, shards: int | None) -> dict[str, Any]:
    return {
        "model": {"api": {"model": "vllm/stub", "base_url": base_url}},
        # boolq's one sample lands in the last shard only: the others have no part of it
        "benchmarks": ["arc_easy", {"id": "boolq", "limit": 1}],
        "limit": 25,
        "retries": 0,
        **({"shards": shards} if shards else {}),
    }


def _start(job_id: str, spec: dict[str, Any]) -> tuple[JobRecord, SqliteRegistry]:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    record = registry.create(JobRecord(id=job_id, entity="local", project="p", model="stub", spec=spec))
    start_job(registry, settings, InlineExecutor(registry, settings), record)
    return registry.get(job_id), registry


def _scores(path: str) -> dict[Any, dict[str, Any]]:
    return {s.id: {k: v.value for k, v in s.scores.items()} for s in read_eval_log(path).samples}


def test_a_job_over_three_shards_scores_as_one_and_reports_once(home: Path, stub: str) -> None:
    one, _ = _start("job-000000000001", _spec(stub, None))
    job, registry = _start("job-000000000003", _spec(stub, 3))
    assert one.status is JobStatus.SUCCEEDED, one.error
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.runtime.shards == [f"job-000000000003-s{p}" for p in range(3)]
    shards = [registry.get(i) for i in job.runtime.shards]
    assert all(s.status is JobStatus.SUCCEEDED and s.shard and s.shard.count == 3 for s in shards)
    assert [len(s.results) for s in shards] == [1, 1, 2]  # boolq's one sample is in the last shard
    assert [r.benchmark for r in job.results] == ["arc_easy", "boolq"]  # one result per benchmark
    for a, b in zip(one.results, job.results, strict=True):
        assert (a.metrics, a.samples_total, a.samples_completed, a.input_tokens) == (
            b.metrics,
            b.samples_total,
            b.samples_completed,
            b.input_tokens,
        )
        assert _scores(a.log_path) == _scores(b.log_path)  # every sample, scored the same
        assert Path(b.log_path).parent == get_settings().jobs_dir / job.id / "logs"
    assert job.accounting and job.accounting.input_tokens == one.accounting.input_tokens  # type: ignore[union-attr]

    # the job is listed, ranked and announced once; its shards are not
    assert [j.id for j in registry.jobs()] == [job.id, one.id]
    rows = leaderboard_rows(registry, "p", entity="local")
    assert sorted((r.job_id, r.benchmark) for r in rows if r.job_id.startswith(job.id)) == [
        (job.id, "arc_easy"),
        (job.id, "boolq"),
    ]
    outbox = get_settings().home / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == [f"{one.id}.jsonl", f"{job.id}.jsonl"]
    [event] = [json.loads(line) for line in (outbox / f"{job.id}.jsonl").read_text().splitlines()]
    assert event["status"] == "succeeded" and len(event["benchmarks"]) == 2
    assert job.runtime.wandb is not None and not any(s.runtime.wandb for s in shards)

    progress = read_progress(*shard_progress_files(get_settings(), job))
    assert {b: (e["done"], e["total"]) for b, e in progress.items()} == {
        "arc_easy": (25, 25),
        "boolq": (1, 1),
    }

    from typer.testing import CliRunner

    from functions.cli import app

    said = CliRunner().invoke(app, ["status", job.id]).output.splitlines()
    assert said == [
        f"{job.id} succeeded",
        f"  {job.id}-s0 succeeded, 8/8 samples",  # 25 arc_easy samples: 8, 8 and 9
        f"  {job.id}-s1 succeeded, 8/8 samples",
        f"  {job.id}-s2 succeeded, 10/10 samples",  # and boolq's one
    ]


def test_a_failed_shard_runs_again_alone(home: Path, stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.evaluate as evaluate

    real = evaluate.run_eval_set
    calls: list[tuple[int, int] | None] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("shard"))
        if kwargs.get("shard") == (1, 2) and calls.count((1, 2)) == 1:
            raise RuntimeError("the GPU fell over")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "run_eval_set", flaky)
    job, registry = _start("job-000000000002", _spec(stub, 2))
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert calls == [(0, 2), (1, 2), (1, 2)]  # shard 0 once; shard 1 again, alone
    first, second = (registry.get(i) for i in job.runtime.shards)
    assert (first.runtime.attempt, second.runtime.attempt) == (1, 2)
    log = (get_settings().jobs_dir / second.id / "job.log").read_text()
    assert "the GPU fell over" in log and "try 2" in log
    assert job.results[0].samples_completed == 25


def test_a_shard_that_fails_for_good_fails_the_job_and_stops_the_rest(
    home: Path, stub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runners.evaluate as evaluate

    monkeypatch.setenv("EVALJOBS_SHARD_RETRIES", "0")
    get_settings.cache_clear()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the GPU fell over")

    monkeypatch.setattr(evaluate, "run_eval_set", broken)
    job, registry = _start("job-000000000004", _spec(stub, 2))
    assert job.status is JobStatus.FAILED
    assert job.error and "job-000000000004-s0 failed" in job.error and "the GPU fell over" in job.error
    assert registry.get("job-000000000004-s1").status is JobStatus.CANCELLED  # never ran
    outbox = get_settings().home / "outbox" / f"{job.id}.jsonl"
    assert [json.loads(line)["status"] for line in outbox.read_text().splitlines()] == ["failed"]


def test_cancelling_a_fanned_out_job_cancels_its_shards(home: Path, stub: str) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    spec = _spec(stub, 2)
    record = registry.create(
        JobRecord(id="job-000000000005", entity="local", project="p", model="m", spec=spec)
    )
    shards = fan_out(registry, settings, record)  # queued, not dispatched
    assert registry.get(record.id).status is JobStatus.RUNNING
    assert fan_out(registry, settings, registry.get(record.id)) == []  # once only
    assert cancel_job(registry, record.id) is JobStatus.CANCELLED
    assert [registry.get(i).status for i in shards] == [JobStatus.CANCELLED] * 2
    assert run_job(shards[0], registry, settings) is JobStatus.CANCELLED  # a late runner does nothing


def test_a_job_may_not_ask_for_more_shards_than_the_deployment_runs(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evaljobs.validation import validate_job

    monkeypatch.setenv("EVALJOBS_MAX_SHARDS", "4")
    get_settings.cache_clear()
    doc = {"model": {"api": {"model": "openai/gpt-4o-mini"}}, "benchmarks": ["boolq"], "shards": 5}
    with pytest.raises(JobValidationError) as err:
        validate_job(doc)
    assert [i.pointer for i in err.value.issues] == ["/shards"]
    assert "at most" in err.value.issues[0].message
    validate_job({**doc, "shards": 4})


def test_the_deployment_may_shard_by_sample_count(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaljobs.spec import JobSpec
    from runners.shards import shard_count

    monkeypatch.setenv("EVALJOBS_SAMPLES_PER_SHARD", "1000")
    get_settings.cache_clear()
    spec = JobSpec.model_validate({"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]})
    assert shard_count(spec, get_settings()) == 4  # boolq: 3270 samples
    assert shard_count(spec.model_copy(update={"limit": 999}), get_settings()) == 1
    assert shard_count(spec.model_copy(update={"shards": 2}), get_settings()) == 2  # the job's wins


def test_the_reaper_runs_a_shard_whose_runner_vanished_again(home: Path, stub: str) -> None:
    from evaljobs.records import utcnow
    from runners.reaper import reap

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    record = registry.create(
        JobRecord(id="job-000000000006", entity="local", project="p", model="m", spec=_spec(stub, 2))
    )
    first, second = fan_out(registry, settings, record)
    registry.transition(first, JobStatus.RUNNING, runtime=Runtime(modal_call_id="fc-gone"))
    dispatched: list[str] = []

    class Calls:
        def dispatch(self, job_id: str) -> None:
            dispatched.append(job_id)

        def call_ended(self, call_id: str) -> str | None:
            return "the container was lost" if call_id == "fc-gone" else None

    reap(registry, Calls(), Calls(), settings, now=utcnow())
    assert dispatched == [first]  # failed with a try left: queued and dispatched again, alone
    again = registry.get(first)
    assert (again.status, again.runtime.attempt) == (JobStatus.QUEUED, 2)
    assert registry.get(record.id).status is JobStatus.RUNNING
    assert registry.get(second).status is JobStatus.QUEUED


class _ModalLike(ModalExecutor):
    """The Modal executor with its calls stood in: `finish` is recorded, calls end as told."""

    def __init__(self, registry: SqliteRegistry, ended: dict[str, str]) -> None:
        super().__init__(registry, get_settings())
        self.ended, self.finished, self.dispatched = ended, list[tuple[str, str]](), list[str]()

    def dispatch(self, job_id: str) -> None:
        self.dispatched.append(job_id)

    def finish(self, job_id: str, step: Literal["merge", "sinks"]) -> None:
        self.finished.append((job_id, step))

    def call_ended(self, call_id: str) -> str | None:
        return self.ended.get(call_id)


def test_on_modal_a_cancel_records_the_end_and_leaves_the_sinks_to_finish(home: Path, stub: str) -> None:
    """The api container has no W&B key and no eval-log Volume: it records that the job was
    cancelled, and the sinks run in Modal's `finish` (here `runners.job --sinks`, as it runs it)."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    record = registry.create(
        JobRecord(id="job-000000000007", entity="local", project="p", model="m", spec=_spec(stub, 2))
    )
    fan_out(registry, settings, record)
    modal = _ModalLike(registry, {})
    assert cancel_job(registry, record.id, finish_elsewhere=finisher(modal)) is JobStatus.CANCELLED
    assert modal.finished == [(record.id, "sinks")]
    outbox = settings.home / "outbox" / f"{record.id}.jsonl"
    assert not outbox.exists()  # no sinks ran here

    assert job_main(["--sinks", record.id]) == 0  # what `finish` runs, in the runner's image
    assert [json.loads(line)["status"] for line in outbox.read_text().splitlines()] == ["cancelled"]
    said = (settings.jobs_dir / record.id / "job.log").read_text()
    assert f"job {record.id} cancelled: cancelled ({record.id}-s0)" in said


def test_on_modal_the_reaper_hands_the_merge_to_finish(home: Path, stub: str) -> None:
    """Both shards succeeded, their runners gone before they published: the tick container has
    no Volume to merge from, so the merge (and the job's end) is `finish`'s; a plain job whose
    runner vanished is failed there, its sinks run in `finish` too."""
    from evaljobs.records import utcnow
    from runners.reaper import reap

    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    record = registry.create(
        JobRecord(id="job-000000000008", entity="local", project="p", model="m", spec=_spec(stub, 2))
    )
    for shard in fan_out(registry, settings, record):
        registry.transition(shard, JobStatus.RUNNING, runtime=Runtime(modal_call_id=f"fc-{shard}"))
        assert registry.finish(shard, JobStatus.SUCCEEDED, [], None)
    registry.create(
        JobRecord(id="job-000000000009", entity="local", project="p", model="m", spec=_spec(stub, None))
    )
    registry.transition("job-000000000009", JobStatus.RUNNING, runtime=Runtime(modal_call_id="fc-plain"))
    ended = {f"fc-{record.id}-s{i}": "returned" for i in range(2)} | {"fc-plain": "ContainerOOM"}
    modal = _ModalLike(registry, ended)

    touched = reap(registry, modal, modal, settings, now=utcnow())

    assert sorted(touched) == [record.id, "job-000000000009"]  # what the tick returns: both
    assert sorted(modal.finished) == [(record.id, "merge"), ("job-000000000009", "sinks")]
    assert registry.get(record.id).status is JobStatus.RUNNING  # `finish` ends it, after the merge
    assert not (settings.jobs_dir / record.id / "logs").exists()  # nothing merged here
    assert registry.get("job-000000000009").status is JobStatus.FAILED
    assert not (settings.home / "outbox").exists()  # no sinks ran here
