"""`compare` on real inspect-ai eval logs: it flags an injected regression, not a re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaljobs.compare import compare_jobs
from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, Runtime
from evaljobs.spec import JobSpec

N = 200


def eval_log(tmp_path: Path, name: str, wrong: set[int]) -> str:
    """A real eval log: `N` samples, answered from metadata (no model call), scored by `match`."""
    from inspect_ai import Task, eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import match
    from inspect_ai.solver import Generate, TaskState, solver

    @solver
    def answer_from_metadata():  # type: ignore[no-untyped-def]
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            state.output = ModelOutput.from_content("mockllm/model", state.metadata["answer"])
            return state

        return solve

    samples = [
        Sample(id=i, input=f"q{i}", target="yes", metadata={"answer": "no" if i in wrong else "yes"})
        for i in range(N)
    ]
    task = Task(name="quiz", dataset=MemoryDataset(samples), solver=answer_from_metadata(), scorer=match())
    [log] = eval(task, model="mockllm/model", log_dir=str(tmp_path / name), display="none")
    assert log.status == "success"
    return str(log.location)


def job(job_id: str, log_path: str) -> JobRecord:
    return JobRecord(
        id=job_id,
        entity="e",
        project="p",
        model="m",
        spec={"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]},
        status=JobStatus.SUCCEEDED,
        results=[
            BenchmarkResult(
                benchmark="quiz",
                task="quiz",
                status="success",
                primary_metric="match/accuracy",
                log_path=log_path,
            )
        ],
    )


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("compare")
    baseline_wrong = set(range(0, N, 5))  # 80% correct
    return {
        "baseline": eval_log(tmp, "baseline", baseline_wrong),
        "rerun": eval_log(tmp, "rerun", baseline_wrong),
        "worse": eval_log(tmp, "worse", baseline_wrong | set(range(1, N, 5))),  # 60% correct
        "slightly": eval_log(tmp, "slightly", baseline_wrong | {1, 6}),  # 2 more wrong of 200
    }


def test_a_worse_model_is_a_regression(logs: dict[str, str]) -> None:
    [result] = compare_jobs(job("a", logs["baseline"]), job("b", logs["worse"]))
    assert result.verdict == "regression" and result.shared == N
    assert (
        result.a == pytest.approx(0.8)
        and result.b == pytest.approx(0.6)
        and result.diff == pytest.approx(-0.2)
    )
    assert result.ci95_high is not None and result.ci95_high < 0


def test_a_rerun_of_the_same_model_is_no_change(logs: dict[str, str]) -> None:
    [result] = compare_jobs(job("a", logs["baseline"]), job("b", logs["rerun"]))
    assert result.verdict == "no change" and result.diff == 0 and result.stderr == 0


def test_the_threshold_decides_small_but_consistent_changes(logs: dict[str, str]) -> None:
    [strict] = compare_jobs(job("a", logs["baseline"]), job("b", logs["slightly"]), threshold=0.0)
    [lenient] = compare_jobs(job("a", logs["baseline"]), job("b", logs["slightly"]), threshold=0.05)
    assert strict.diff == pytest.approx(-0.01)
    assert lenient.verdict == "no change"
    assert strict.verdict in ("regression", "no change")  # 2 of 200: the interval decides, stated below
    assert (strict.verdict == "regression") == (strict.ci95_high is not None and strict.ci95_high < 0)
    [back] = compare_jobs(job("a", logs["worse"]), job("b", logs["baseline"]))
    assert back.verdict == "improvement"


def test_cli_compare(logs: dict[str, str], home: Path) -> None:
    import json

    from typer.testing import CliRunner

    from evaljobs.settings import get_settings
    from evaljobs.stores.sqlite_registry import SqliteRegistry
    from functions.cli import app

    registry = SqliteRegistry(get_settings().db_path)
    for job_id, log in (("job-a", logs["baseline"]), ("job-b", logs["worse"])):
        record = job(job_id, log)
        registry.create(record.model_copy(update={"status": JobStatus.QUEUED, "results": []}))
        registry.transition(job_id, JobStatus.RUNNING)
        registry.finish(job_id, JobStatus.SUCCEEDED, record.results, None)
    result = CliRunner().invoke(app, ["compare", "job-a", "job-b", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["benchmark"], row["verdict"], row["shared"]) == ("quiz", "regression", N)
    table = CliRunner().invoke(app, ["compare", "job-a", "job-b"])
    assert "regression" in table.stdout
    missing = CliRunner().invoke(app, ["compare", "job-a", "job-404"])
    assert missing.exit_code == 1 and "no job" in missing.stderr
    # one job: compared with its project's baseline (the latest earlier succeeded job)
    against_project = CliRunner().invoke(app, ["compare", "job-b", "--json"])
    assert against_project.exit_code == 0, against_project.output
    assert json.loads(against_project.stdout)[0]["verdict"] == "regression"
    first = CliRunner().invoke(app, ["compare", "job-a"])
    assert first.exit_code == 1 and "no project baseline" in first.stderr


def test_a_job_naming_a_baseline_carries_the_comparison_into_its_event(
    logs: dict[str, str], home: Path
) -> None:
    import time

    from evaljobs.compare import compare_with_baseline
    from evaljobs.events import completion_event, validate_event
    from evaljobs.settings import get_settings
    from evaljobs.stores.sqlite_registry import SqliteRegistry

    registry = SqliteRegistry(get_settings().db_path)

    def finished(job_id: str, log: str, spec: dict[str, object]) -> JobRecord:
        record = job(job_id, log).model_copy(
            update={
                "spec": JobSpec.model_validate(
                    {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"], **spec}
                )
            }
        )
        registry.create(record.model_copy(update={"status": JobStatus.QUEUED, "results": []}))
        registry.transition(job_id, JobStatus.RUNNING)
        registry.finish(job_id, JobStatus.SUCCEEDED, record.results, None)
        time.sleep(0.01)
        return registry.get(job_id)

    finished("job-aaaaaaaaaaaa", logs["baseline"], {})
    latest = finished("job-bbbbbbbbbbbb", logs["rerun"], {"baseline": "project"})
    candidate = finished("job-cccccccccccc", logs["worse"], {"baseline": "project"})
    same = compare_with_baseline(latest, registry)
    assert same is not None and same.baseline == "job-aaaaaaaaaaaa" and same.regressed is False
    worse = compare_with_baseline(candidate, registry)
    assert worse is not None and worse.baseline == "job-bbbbbbbbbbbb" and worse.regressed is True
    assert compare_with_baseline(registry.get("job-aaaaaaaaaaaa"), registry) is None
    registry.update_runtime(candidate.id, Runtime(comparison=worse))
    event = completion_event(registry.get(candidate.id)).model_dump(mode="json")
    validate_event(event)
    assert (event["baseline"], event["regressed"]) == ("job-bbbbbbbbbbbb", True)
