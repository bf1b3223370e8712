"""Weave at its boundary: skipped (and recorded) without a key; an unreachable server is a
sink failure recorded on the job, never raised."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, Runtime
from evaljobs.settings import Settings, get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.sinks import SinkContext, WeaveSink, run_sinks

SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}
RESULTS = [BenchmarkResult(benchmark="boolq", task="t", status="success")]
RECORD = JobRecord(id="job-1", entity="e", project="p", model="m", spec=SPEC, results=RESULTS)


def _context(settings: Settings, said: list[str]) -> SinkContext:
    registry = SqliteRegistry(settings.db_path)
    registry.create(RECORD.model_copy(update={"results": []}))
    registry.transition(RECORD.id, JobStatus.RUNNING)
    registry.finish(RECORD.id, JobStatus.SUCCEEDED, RESULTS, None)
    return SinkContext(registry, settings, settings.jobs_dir / RECORD.id, said.append)


def test_skipped_without_a_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    said: list[str] = []
    assert WeaveSink().write(RECORD, _context(get_settings(), said)) == Runtime(
        weave="skipped: no WANDB_API_KEY (Weave has no offline mode)"
    )


def test_skipped_when_switched_off(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    settings = get_settings().model_copy(update={"weave": "off"})
    assert WeaveSink().write(RECORD, _context(settings, [])) == Runtime(weave="skipped: EVALJOBS_WEAVE=off")


def test_an_unreachable_server_is_recorded_not_raised(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    said: list[str] = []
    start = time.monotonic()
    context = _context(get_settings(), said)
    job = run_sinks([WeaveSink()], RECORD.id, context)
    assert [f.sink for f in job.runtime.sink_failures] == ["weave"] and job.status is JobStatus.SUCCEEDED
    assert said and said[0].startswith("weave failed")
    assert time.monotonic() - start < 120


def test_leaderboard_gets_a_column_per_metric_and_is_extended_not_replaced() -> None:
    from evaljobs.records import BenchmarkResult, MetricValue
    from runners.sinks.weave_eval import leaderboard_columns, merge_columns

    result = BenchmarkResult(
        benchmark="arc_easy",
        task="arc_easy",
        status="success",
        metrics=[
            MetricValue(name="acc/accuracy", value=0.5),
            MetricValue(name="acc_norm/accuracy", value=0.6),
        ],
    )
    first = leaderboard_columns(result, "weave:///e/p/object/Evaluation:aaa")
    assert [(c["scorer_name"], c["summary_metric_path"]) for c in first] == [
        ("acc/accuracy", "value"),
        ("acc_norm/accuracy", "value"),
    ]
    second = leaderboard_columns(result, "weave:///e/p/object/Evaluation:bbb")
    merged = merge_columns(first, second + first)  # a job logged twice adds nothing twice
    assert merged == first + second
