"""Weave at its boundary: skipped (and recorded) without a key; an unreachable server is a
sink failure recorded on the job, never raised. Against weave's real client with its trace
server in memory (`weave_server.py`): the sink leaves no patched LLM client and no Weave client
behind, jobs of different models share their benchmark's Evaluation, and two containers
publishing the leaderboard at once both keep their columns."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, MetricValue, Runtime
from evaljobs.settings import Settings, get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.sinks import SinkContext, WeaveSink, run_sinks
from tests.runners.sinks.weave_server import InMemoryTraceServer

SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}
RESULTS = [BenchmarkResult(benchmark="boolq", task="t", status="success")]
RECORD = JobRecord(id="job-1", entity="e", project="p", model="m", spec=SPEC, results=RESULTS)


def _context(settings: Settings, said: list[str], record: JobRecord = RECORD) -> SinkContext:
    registry = SqliteRegistry(settings.db_path)
    registry.create(record.model_copy(update={"results": []}))
    registry.transition(record.id, JobStatus.RUNNING)
    registry.finish(record.id, JobStatus.SUCCEEDED, record.results, None)
    return SinkContext(registry, settings, settings.jobs_dir / record.id, said.append)


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


# --- against weave's real client, its trace server in memory ---------------------------------


@pytest.fixture
def weave_server(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryTraceServer]:
    """`weave.init` runs as it is; only the server it reaches (and W&B's user lookup) are local."""
    import weave
    from weave.integrations.openai.openai_sdk import get_openai_patcher
    from weave.integrations.patch import reset_patched_integrations, unregister_import_hook
    from weave.telemetry.trace_sentry import global_trace_sentry
    from weave.trace import weave_init

    server = InMemoryTraceServer()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr(global_trace_sentry, "_disabled", True)  # weave's error reports stay on this machine
    monkeypatch.setenv("WEAVE_USE_SERVER_CACHE", "false")  # every request reaches this server
    monkeypatch.setenv("WF_TRACE_SERVER_URL", "")  # no OpenTelemetry exporter either
    monkeypatch.setattr(weave_init, "init_weave_get_server", lambda *args, **kwargs: server)
    monkeypatch.setattr(weave_init, "get_username", lambda: "tester")
    yield server
    # whatever the code under test did, the next test gets a process without Weave in it
    weave.finish()
    get_openai_patcher().undo_patch()
    reset_patched_integrations()
    unregister_import_hook()


def _job(job_id: str, model: str, benchmarks: list[Any], **spec: Any) -> JobRecord:
    names = [b if isinstance(b, str) else b["id"] for b in benchmarks]
    results = [
        BenchmarkResult(
            benchmark=name,
            task=name,
            status="success",
            metrics=[MetricValue(name="accuracy", value=0.5, stderr=0.1)],
            primary_metric="accuracy",
        )
        for name in names
    ]
    body = {"model": {"api": {"model": model}}, "benchmarks": benchmarks, **spec}
    return JobRecord(id=job_id, entity="e", project="p", model=model, spec=body, results=results)


def _board(server: InMemoryTraceServer) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = server.objects[("e/p", "p-evaljobs")][-1]["val"]["columns"]
    return columns


def _evaluation_refs(server: InMemoryTraceServer) -> set[str]:
    return {c["evaluation_object_ref"] for c in _board(server)}


def test_the_sink_patches_no_llm_client_and_leaves_no_weave_client(
    weave_server: InMemoryTraceServer,
) -> None:
    import openai
    import weave

    create = openai.resources.chat.completions.Completions.create
    job = _job("job-a", "openai/m1", ["boolq"])
    runtime = WeaveSink().write(job, _context(get_settings(), [], job))

    assert runtime is not None and runtime.weave == "logged"
    assert openai.resources.chat.completions.Completions.create is create  # the next job's requests untraced
    assert weave.get_client() is None
    assert not [finder for finder in sys.meta_path if type(finder).__module__ == "weave.integrations.patch"]


def test_jobs_of_different_models_share_their_benchmarks_evaluation(
    weave_server: InMemoryTraceServer,
) -> None:
    for job in (
        _job("job-a", "openai/m1", ["boolq", "arc_easy"]),
        _job("job-b", "openai/m2", ["boolq", "arc_easy"]),
    ):
        WeaveSink().write(job, _context(get_settings(), [], job))

    refs = _evaluation_refs(weave_server)
    assert len(refs) == 2  # one Evaluation per benchmark, whichever model and job
    assert {ref.split("/")[-1].split(":")[0] for ref in refs} == {
        "boolq-generate-evaluation",
        "arc_easy-generate-evaluation",
    }
    assert len(_board(weave_server)) == 2  # so one column per benchmark metric: models are the rows
    # the job is on the run: its calls carry it
    starts = [c["start"] for c in weave_server.calls if "start" in c]
    assert {s["attributes"].get("evaljobs_job_id") for s in starts} >= {"job-a", "job-b"}

    limited = _job("job-c", "openai/m1", ["boolq"], limit=5)  # 5 questions are not the whole benchmark
    WeaveSink().write(limited, _context(get_settings(), [], limited))
    assert len(_evaluation_refs(weave_server)) == 3


def test_two_containers_publishing_at_once_both_keep_their_columns(
    weave_server: InMemoryTraceServer,
) -> None:
    import weave

    from runners.sinks.weave_eval import publish_leaderboard

    def columns(benchmark: str) -> list[dict[str, Any]]:
        ref = f"weave:///e/p/object/{benchmark}-generate:0"
        return [{"evaluation_object_ref": ref, "scorer_name": "accuracy", "summary_metric_path": "value"}]

    weave.init("e/p", settings={"implicitly_patch_integrations": False})
    publish_leaderboard("p", columns("piqa"))  # the leaderboard as both containers find it
    # container A reads it; before A publishes, container B reads the same version, merges, publishes
    weave_server.after_read["p-evaljobs"] = lambda: publish_leaderboard("p", columns("boolq"))
    publish_leaderboard("p", columns("arc_easy"))

    assert {c["evaluation_object_ref"] for c in _board(weave_server)} == {
        c["evaluation_object_ref"] for name in ("piqa", "boolq", "arc_easy") for c in columns(name)
    }
