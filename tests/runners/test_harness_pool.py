"""A job's samples over several inspect-ai processes: one result per benchmark, as one process gives."""

from pathlib import Path
from typing import Any

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import read_eval_log
from inspect_ai.scorer import match
from inspect_ai.solver import Generate, TaskState, solver

from evaljobs.records import JobRecord, JobStatus
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.harness_pool import harness_processes, merge_shard_logs, shard_slice
from runners.job import run_job
from runners.progress import read_progress


@pytest.mark.parametrize("count", [0, 1, 2, 7, 100])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_shards_cover_every_sample_once_in_order(count: int, k: int) -> None:
    covered = [i for p in range(k) for i in range(count)[shard_slice(count, (p, k))]]
    assert covered == list(range(count))


def test_a_second_process_only_for_enough_samples_per_process() -> None:
    assert harness_processes(None, 1999, cpus=2) == 1
    assert harness_processes(None, 2000, cpus=2) == 2
    assert harness_processes(None, 100_000, cpus=2) == 2  # no more than the cores
    assert harness_processes(3, 10, cpus=2) == 3  # the setting wins


@solver
def _answer_by_id() -> Any:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output.completion = "yes" if int(state.sample_id) % 3 else "no"
        return state

    return solve


def test_merged_shard_logs_report_what_one_run_reports(tmp_path: Path) -> None:
    """inspect-ai's own metrics over all samples: accuracy and its stderr equal, samples in order."""

    def task(part: slice = slice(None)) -> Task:
        samples = [Sample(id=i, input=f"q{i}", target="yes") for i in range(1, 24)]
        return Task(
            name="merge", dataset=MemoryDataset(samples[part]), solver=_answer_by_id(), scorer=match()
        )

    kwargs: dict[str, Any] = {"model": "mockllm/model", "display": "none", "log_dir": str(tmp_path)}
    [whole] = eval(task(), **kwargs)
    shards = [eval(task(shard_slice(23, (p, 3))), **kwargs)[0] for p in range(3)]
    merged = merge_shard_logs([read_eval_log(s.location) for s in shards])
    assert merged.results.scores == whole.results.scores
    assert merged.results.total_samples == merged.results.completed_samples == 23
    assert [s.id for s in merged.samples] == list(range(1, 24))
    assert [s.scores for s in merged.samples] == [s.scores for s in read_eval_log(whole.location).samples]
    assert merged.status == "success"


def _run(job_id: str, base_url: str, processes: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("EVALJOBS_HARNESS_PROCESSES", str(processes))
    get_settings.cache_clear()
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    spec = {
        "model": {"api": {"model": "vllm/stub", "base_url": base_url}},
        "benchmarks": ["arc_easy", "boolq"],
        "limit": 30,
        "retries": 0,
    }
    registry.create(JobRecord(id=job_id, entity="local", project="p", model="stub", spec=spec))
    assert run_job(job_id, registry, settings) is JobStatus.SUCCEEDED, registry.get(job_id).error
    return registry.get(job_id), settings


def test_a_job_over_two_harness_processes_scores_as_one(
    home: Path, stub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, _ = _run("job-one", stub, 1, monkeypatch)
    two, settings = _run("job-two", stub, 2, monkeypatch)
    assert two.runtime.concurrency.processes == 2 and one.runtime.concurrency.processes == 1
    assert [r.benchmark for r in two.results] == ["arc_easy", "boolq"]  # one result per benchmark
    for a, b in zip(one.results, two.results, strict=True):
        assert (a.metrics, a.samples_total, a.samples_completed) == (
            b.metrics,
            b.samples_total,
            b.samples_completed,
        )
        assert a.input_tokens == b.input_tokens and b.samples_total == 30
        scores = [
            {s.id: {k: v.value for k, v in s.scores.items()} for s in read_eval_log(r.log_path).samples}
            for r in (a, b)
        ]
        assert scores[0] == scores[1]
    job_dir = settings.jobs_dir / "job-two"
    assert sorted(p.name for p in (job_dir / "logs" / "shards").iterdir()) == ["0", "1"]
    progress = read_progress(job_dir / "progress.json")
    assert {b: (e["done"], e["total"], e["shards"]) for b, e in progress.items()} == {
        "arc_easy": (30, 30, 2),
        "boolq": (30, 30, 2),
    }
