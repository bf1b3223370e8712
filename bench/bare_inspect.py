"""evaljobs vs bare inspect-ai on the same server and samples: per-sample scores and time.

Both sides read the same real datasets (the offline source) and talk to the same vLLM
server, so any difference is evaljobs' doing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaljobs.records import JobRecord, JobStatus, Trigger
from evaljobs.settings import Settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.submit import submit_job
from runners.job import run_job

KEY_ENV = "EVALJOBS_BENCH_VLLM_KEY"


@dataclass
class Outcome:
    seconds: float
    scores: dict[str, dict[str, Any]]
    """benchmark → sample id → score value (per scorer)."""


def _scores_of(logs: list[Any]) -> dict[str, dict[str, Any]]:
    from inspect_ai.log import read_eval_log

    out: dict[str, dict[str, Any]] = {}
    for log in logs:
        full = read_eval_log(log.location) if not log.samples else log
        bench = full.eval.task.removeprefix("inspect_evals/")
        out[bench] = {
            f"{s.epoch}:{s.id}": {name: score.value for name, score in (s.scores or {}).items()}
            for s in full.samples or []
        }
    return out


def run_bare(
    benchmarks: list[str],
    served: str,
    base_url: str,
    api_key: str,
    limit: int,
    max_tokens: int,
    log_dir: Path,
) -> Outcome:
    """A plain `inspect_ai.eval` of the same tasks, as a user would run it.

    The global RNGs are seeded as evaljobs seeds them (seed 0): tasks that shuffle at load
    without a seed (boolq) would otherwise draw another subset on each side.
    """
    from inspect_ai import eval as inspect_eval

    from runners.evaluate import seed_sample_selection

    seed_sample_selection(0)
    start = time.perf_counter()
    logs = inspect_eval(
        [f"inspect_evals/{b}" for b in benchmarks],
        model=f"vllm/{served}",
        model_base_url=base_url,
        model_args={"api_key": api_key},
        limit=limit,
        temperature=0,
        max_tokens=max_tokens,
        log_dir=str(log_dir),
        display="none",
        max_connections=8,
        max_tasks=len(benchmarks),
    )
    return Outcome(time.perf_counter() - start, _scores_of(logs))


def run_evaljobs(
    benchmarks: list[str], served: str, base_url: str, limit: int, max_tokens: int, settings: Settings
) -> Outcome:
    """The same evaluation as an evaljobs job (hosted-API form pointing at the same server)."""
    from inspect_ai.log import read_eval_log

    # the operator's own single-user run: the server key comes from this environment
    settings = settings.model_copy(update={"secrets_from_env": True})
    doc = {
        "project": "bench",
        "model": {"api": {"model": f"vllm/{served}", "base_url": base_url, "api_key": f"secret://{KEY_ENV}"}},
        "benchmarks": benchmarks,
        "limit": limit,
        "max_connections": 8,
        "generation": {"temperature": 0, "max_tokens": max_tokens},
    }
    start = time.perf_counter()
    job = run_job_doc(doc, settings)
    seconds = time.perf_counter() - start
    logs = [read_eval_log(r.log_path) for r in job.results if r.log_path]
    return Outcome(seconds, _scores_of(logs))


def run_job_doc(doc: dict[str, Any], settings: Settings) -> JobRecord:
    """Submit a job as the CLI does and run it here, inline; its record once it succeeded."""
    registry = SqliteRegistry(settings.db_path)
    ids: list[str] = []

    class Later:
        def dispatch(self, job_id: str) -> None:
            ids.append(job_id)

    submit_job(doc, trigger=Trigger(kind="cli"), registry=registry, executor=Later(), settings=settings)
    status = run_job(ids[0], registry, settings)
    job = registry.get(ids[0])
    if status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"evaljobs job {job.id} {status.value}: {job.error}")
    return job


def differences(a: Outcome, b: Outcome) -> list[str]:
    """Every sample whose scores differ, or that only one side has."""
    found = []
    for bench in sorted(set(a.scores) | set(b.scores)):
        left, right = a.scores.get(bench, {}), b.scores.get(bench, {})
        for sample in sorted(set(left) | set(right)):
            if left.get(sample) != right.get(sample):
                found.append(f"{bench} sample {sample}: {left.get(sample)} != {right.get(sample)}")
    return found
