"""Run a job's benchmarks with inspect-ai: all of them in one `eval_set`.

`eval_set` runs the tasks concurrently, retries failed ones (resuming finished samples
from the per-job log dir, so an interrupted job continues instead of starting over) and
writes one eval log per benchmark; results are read back from those logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from evaljobs.errors import EvaluationError
from evaljobs.records import BenchmarkResult, Concurrency, MetricValue
from evaljobs.spec import JobSpec

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "ModelTarget",
    "build_tasks",
    "choose_concurrency",
    "expected_samples",
    "resolve_scoring",
    "result_from_log",
    "run_eval_set",
    "sample_seed",
    "seed_sample_selection",
    "shard_slice",
]


DEFAULT_MAX_CONNECTIONS = 8
"""In flight to a served model whose capacity is not known (a server started without a figure)."""


@dataclass(frozen=True)
class ModelTarget:
    """The model inspect-ai talks to."""

    name: str
    """inspect-ai model name, e.g. `openai-api/vllm/gemma-3-270m` or `openai/gpt-4o-mini`."""
    base_url: str | None = None
    api_key: str | None = None

    @property
    def served_name(self) -> str:
        """The name the server knows the model by (`vllm/NAME`, `openai-api/vllm/NAME` → NAME)."""
        for prefix in ("openai-api/vllm/", "vllm/"):
            if self.name.startswith(prefix):
                return self.name.removeprefix(prefix)
        return self.name.split("/", 1)[-1]


def sample_seed(spec: JobSpec) -> int:
    """The seed that fixes which samples a limited run draws (the job's seed, else 0)."""
    return spec.generation.seed if spec.generation.seed is not None else 0


def seed_sample_selection(seed: int) -> None:
    """Seed the global RNGs task loaders draw from.

    Some inspect_evals tasks shuffle at load time without a seed (boolq: `shuffle=True`,
    which HF `Dataset.shuffle()` seeds from NumPy's global state), so a limited run would
    score a different random subset every time. Seeding makes the subset a function of the
    job, which re-runs and paired comparisons need.
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)


def resolve_scoring(spec: JobSpec, has_chat_template: bool) -> dict[str, str]:
    """Scoring mode per benchmark: its own, else the job's, else (auto) loglikelihood for a
    checkpoint without a chat template on benchmarks that support it, generate otherwise."""
    from evaljobs.catalog import get_catalog

    catalog = get_catalog()
    modes: dict[str, str] = {}
    for bench in spec.benchmark_refs():
        if bench.scoring:
            modes[bench.id] = bench.scoring
        elif spec.scoring != "auto":
            modes[bench.id] = spec.scoring
        else:
            base_model = spec.checkpoint is not None and not has_chat_template
            modes[bench.id] = (
                "loglikelihood" if base_model and catalog[bench.id].loglikelihood else "generate"
            )
    return modes


def build_tasks(
    spec: JobSpec,
    scoring: dict[str, str] | None = None,
    model: ModelTarget | None = None,
    shard: tuple[int, int] | None = None,
) -> list[Any]:
    """The Task of each benchmark (inspect_evals', or its log-likelihood form), limit applied;
    with `shard` (p, K), only shard p of K of each one's samples (benchmarks with none left out)."""
    from inspect_ai import task_with
    from inspect_ai.util import registry_create

    seed_sample_selection(sample_seed(spec))
    tasks = []
    for bench in spec.benchmark_refs():
        limit = bench.limit or spec.limit
        if (scoring or {}).get(bench.id) == "loglikelihood":
            from runners.loglikelihood.task import loglikelihood_task

            if model is None or not model.base_url:
                raise EvaluationError(f"{bench.id}: loglikelihood scoring needs the model server's base_url")
            task = loglikelihood_task(
                bench.id, model_name=model.served_name,
                fewshot=bench.fewshot, seed=spec.fewshot_seed, limit=limit, args=bench.args,
            )  # fmt: skip
            tasks.extend(_sharded(task, shard))
            continue
        try:
            task = registry_create("task", f"inspect_evals/{bench.id}", **bench.args)
        except TypeError as exc:  # an argument the task does not take
            raise EvaluationError(
                f"{bench.id}: its args {sorted(bench.args)} do not fit the task ({exc}); "
                "see the task's parameters in inspect_evals"
            ) from exc
        if limit is not None and limit < len(task.dataset):
            task = task_with(task, dataset=task.dataset[:limit])
        tasks.extend(_sharded(task, shard))
    return tasks


def shard_slice(count: int, shard: tuple[int, int]) -> slice:
    """Shard p of K of `count` samples: contiguous, sizes differing by at most one."""
    p, k = shard
    return slice(count * p // k, count * (p + 1) // k)


def _sharded(task: Any, shard: tuple[int, int] | None) -> list[Any]:
    from inspect_ai import task_with

    if shard is None:
        return [task]
    part = task.dataset[shard_slice(len(task.dataset), shard)]
    return [task_with(task, dataset=part)] if len(part) else []


def expected_samples(spec: JobSpec) -> int:
    """Samples the job will score (epochs included), from its limits and the catalog's sizes;
    a benchmark of unknown size counts as large."""
    from evaljobs.catalog import get_catalog

    catalog = get_catalog()
    total = 0
    for bench in spec.benchmark_refs():
        entry = catalog.get(bench.id)
        sizes = [n for n in (bench.limit or spec.limit, entry.samples if entry else None) if n]
        total += min(sizes, default=1_000_000)
    return total * spec.epochs


def choose_concurrency(
    job: int | None, setting: int | None, *, server_capacity: int | None, hosted: bool
) -> Concurrency:
    """Requests a job keeps in flight to its model.

    A served checkpoint gets what its server batches at once (`max_num_seqs` × replicas), so
    the GPUs stay busy; a hosted API gets inspect-ai's adaptive concurrency, which backs off on
    rate limits. The job's `max_connections`, else the setting, overrides the first and caps
    the second. Log-likelihood requests go through a second model on the same server, which
    inherits the same figure.
    """
    cap, source = (job, "the job's max_connections") if job else (setting, "the max_connections setting")
    if hosted:
        if cap:
            return Concurrency(max_connections=None, adaptive_max=cap, source=f"adaptive, capped by {source}")
        return Concurrency(max_connections=None, source="adaptive (inspect-ai's bounds)")
    if cap:
        return Concurrency(max_connections=cap, source=source)
    if server_capacity:
        return Concurrency(
            max_connections=server_capacity, source="the server's capacity (max_num_seqs × replicas)"
        )
    return Concurrency(max_connections=DEFAULT_MAX_CONNECTIONS, source="a server of unknown capacity")


def _concurrency_args(concurrency: Concurrency) -> dict[str, Any]:
    if concurrency.max_connections is not None:
        return {"max_connections": concurrency.max_connections}
    return {"adaptive_connections": concurrency.adaptive_max or True}


def _generate_config(spec: JobSpec) -> dict[str, Any]:
    gen = spec.generation
    return {k: v for k, v in gen.model_dump().items() if v is not None}


def _get_model(target: ModelTarget) -> Any:
    from inspect_ai.model import get_model

    return get_model(target.name, base_url=target.base_url, api_key=target.api_key)


def run_eval_set(
    spec: JobSpec,
    model: ModelTarget,
    log_dir: Path,
    *,
    grader: ModelTarget | None,
    concurrency: Concurrency,
    scoring: dict[str, str] | None = None,
    log_buffer: int = 1,
    log_shared: int | None = None,
    shard: tuple[int, int] | None = None,
) -> tuple[bool, list[BenchmarkResult]]:
    """Evaluate every benchmark of the job (or shard p of K of each); returns (all succeeded,
    results per benchmark)."""
    from inspect_ai import eval_set

    scoring = scoring or {}
    tasks = build_tasks(spec, scoring, model, shard)
    if not tasks:  # a shard past the end of every benchmark
        return True, []
    roles = {"grader": _get_model(grader)} if grader else None
    success, logs = eval_set(
        tasks=tasks,
        log_dir=str(log_dir),
        model=_get_model(model),
        model_roles=roles,
        epochs=spec.epochs,
        retry_attempts=spec.retries,
        retry_wait=5,
        max_tasks=len(tasks),
        **_concurrency_args(concurrency),
        # a resumed run reuses what reached the log, recovers what reached the sample buffer (this
        # host's, or the log dir's copy with log_shared), and asks for the rest
        log_buffer=log_buffer,
        log_shared=log_shared,
        display="none",
        log_level="warning",
        **_generate_config(spec),
    )
    by_task = {log.eval.task.removeprefix("inspect_evals/"): log for log in logs}
    present = {task.name.removeprefix("inspect_evals/") for task in tasks}
    results = []
    for bench in spec.benchmark_refs():
        log = by_task.get(bench.id)
        if shard is not None and bench.id not in present:
            continue  # none of its samples fall in this shard
        if log is None:
            results.append(BenchmarkResult(benchmark=bench.id, task=bench.id, status="error", error="no log"))
        else:
            results.append(result_from_log(bench.id, log, scoring.get(bench.id, "generate"), bench.args))
    return success, results


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def result_from_log(
    benchmark: str, log: Any, scoring: str = "generate", args: dict[str, Any] | None = None
) -> BenchmarkResult:
    """Every metric (with its stderr), sample counts, tokens and wall time of one eval log."""
    metrics: list[MetricValue] = []
    total = completed = 0
    if log.results is not None:
        total, completed = log.results.total_samples, log.results.completed_samples
        for score in log.results.scores:
            stderr = score.metrics.get("stderr")
            for name, metric in score.metrics.items():
                if name == "stderr":
                    continue
                metrics.append(
                    MetricValue(
                        name=f"{score.name}/{name}",
                        value=float(metric.value),
                        stderr=float(stderr.value) if stderr is not None else None,
                    )
                )
    # Every model call is in model_usage; calls in a role (the grader) are also in role_usage.
    usage = list(log.stats.model_usage.values()) if log.stats else []
    roles = list(log.stats.role_usage.values()) if log.stats else []
    grader_in, grader_out = sum(u.input_tokens for u in roles), sum(u.output_tokens for u in roles)
    input_tokens = sum(u.input_tokens for u in usage) - grader_in
    primary = metrics[0].name if metrics else None
    if scoring == "loglikelihood":
        from runners.loglikelihood.formats import format_for

        fmt = format_for(benchmark, args)
        primary = f"{fmt.primary}/{'mean' if fmt.scoring == 'mc2' else 'accuracy'}"
    return BenchmarkResult(
        benchmark=benchmark,
        task=log.eval.task,
        scoring=scoring,
        status=log.status,
        metrics=metrics,
        primary_metric=primary,
        samples_total=total,
        samples_completed=completed,
        input_tokens=input_tokens,
        output_tokens=sum(u.output_tokens for u in usage) - grader_out,
        grader_input_tokens=grader_in,
        grader_output_tokens=grader_out,
        wall_time_s=_seconds(log.stats.started_at, log.stats.completed_at) if log.stats else None,
        log_path=log.location,
        error=log.error.message if log.error else None,
    )
