"""A job's benchmarks in several inspect-ai processes against one model server.

One Python process of inspect-ai tops out near 30 samples/s here (its events, logs and the
OpenAI client are all on one core), far below what a GPU server batches. Past that point the
runner splits every benchmark's samples into K contiguous shards and runs K processes
(`python -m runners.harness_pool`), process p scoring shard p of every benchmark with its own
`eval_set` and log dir (`logs/shards/p/`), so each resumes on its own after a kill. The
server's concurrency is divided among them.

When they are done, each benchmark's shard logs become one eval log (`merge_shard_logs`): the
samples of all shards in dataset order, the header of the first, usage summed, and the
metrics recomputed over all samples by inspect-ai's own `recompute_metrics` with the
scorers' metrics, so a sharded benchmark reports what an unsharded run reports. That log is
the benchmark's result, the sample viewer's and `compare`'s.

Shards are the same unit a job fanned out across runners uses (`shard: [p, K]` in the
payload); only where the processes run differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaljobs.errors import EvaluationError
from evaljobs.records import BenchmarkResult, Concurrency
from evaljobs.spec import JobSpec
from runners.evaluate import shard_slice

__all__ = [
    "MIN_SAMPLES_PER_PROCESS",
    "harness_processes",
    "merge_shard_logs",
    "run_in_processes",
    "shard_slice",
]

MIN_SAMPLES_PER_PROCESS = 1000
"""Below this many samples per process, a second process costs more than it saves: each
starts in ~8 s (imports, datasets), and two processes on this 2-core machine ran 500
samples slower than one (34 against 49 samples/s, `bench.throughput`)."""


def harness_processes(setting: int | None, samples: int, cpus: int | None = None) -> int:
    """How many inspect-ai processes a job runs: the setting, else one per core while each
    gets at least `MIN_SAMPLES_PER_PROCESS` samples."""
    if setting is not None:
        return max(1, setting)
    cores = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(cores, samples // MIN_SAMPLES_PER_PROCESS))


def _split(concurrency: Concurrency, k: int) -> Concurrency:
    """Each of k processes' share of the job's requests in flight."""
    if concurrency.max_connections is not None:
        share = max(1, concurrency.max_connections // k)
        return concurrency.model_copy(update={"max_connections": share})
    if concurrency.adaptive_max is not None:
        return concurrency.model_copy(update={"adaptive_max": max(1, concurrency.adaptive_max // k)})
    return concurrency


def run_in_processes(
    spec: JobSpec,
    model: Any,
    log_dir: Path,
    *,
    grader: Any,
    concurrency: Concurrency,
    scoring: dict[str, str],
    log_buffer: int,
    log_shared: int | None = None,
    processes: int,
    dataset_source: str,
    progress: Path | None,
    say: Any,
    shard: tuple[int, int] | None = None,
) -> tuple[bool, list[BenchmarkResult]]:
    """Every benchmark of the job (or of its shard s of K) over `processes` inspect-ai processes;
    one result per benchmark. Process p scores part s·P+p of K·P, which together are part s of K."""
    from inspect_ai.log import read_eval_log, write_eval_log

    from runners.evaluate import result_from_log
    from runners.vllm_server import _death_signal

    share = _split(concurrency, processes)
    index, count = shard or (0, 1)
    children = []
    try:
        for p in range(processes):
            shard_dir = log_dir / "shards" / str(p)
            shard_dir.mkdir(parents=True, exist_ok=True)
            payload = {
                "spec": spec.model_dump(mode="json"),
                "model": asdict(model),
                "grader": asdict(grader) if grader else None,
                "concurrency": share.model_dump(mode="json"),
                "scoring": scoring,
                "log_dir": str(shard_dir),
                "log_buffer": log_buffer,
                "log_shared": log_shared,
                "shard": [index * processes + p, count * processes],
                "dataset_source": dataset_source,
                "progress": str(progress.with_name(f"{progress.stem}.shard-{p}.json")) if progress else None,
            }
            out = (shard_dir / "harness.log").open("a")
            proc = subprocess.Popen(
                [sys.executable, "-m", "runners.harness_pool"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=_death_signal(),
            )
            out.close()
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(payload))  # keys through a pipe, never the command line
            proc.stdin.close()
            children.append(proc)
        say(f"{processes} harness processes, {share.max_connections or 'adaptive'} requests in flight each")
        codes = [proc.wait() for proc in children]
    finally:
        for proc in children:  # cancelled or killed: no harness outlives its job
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    results = []
    for bench in spec.benchmark_refs():
        logs = [
            read_eval_log(str(path))
            for p in range(processes)
            for path in _shard_logs(log_dir / "shards" / str(p), bench.id)
        ]
        if not logs and shard is not None and not any(codes):
            continue  # none of its samples fall in this shard
        if not logs:
            failed = [p for p, code in enumerate(codes) if code != 0]
            error = f"no log; harness process(es) {failed} failed, see logs/shards/*/harness.log"
            results.append(BenchmarkResult(benchmark=bench.id, task=bench.id, status="error", error=error))
            continue
        merged = merge_shard_logs(logs)
        merged.location = str(log_dir / f"{bench.id}.eval")
        write_eval_log(merged, merged.location)
        results.append(result_from_log(bench.id, merged, scoring.get(bench.id, "generate"), bench.args))
    return all(code == 0 for code in codes), results


def _shard_logs(shard_dir: Path, benchmark: str) -> list[Path]:
    """The newest eval log of `benchmark` in a shard's log dir (eval_set keeps one per task)."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    found = []
    for info in list_eval_logs(str(shard_dir), recursive=False):
        header = read_eval_log(info.name, header_only=True)
        if header.eval.task.removeprefix("inspect_evals/") == benchmark:
            found.append((header.eval.created, Path(info.name.removeprefix("file://"))))
    return [max(found)[1]] if found else []


def merge_shard_logs(logs: Sequence[Any]) -> Any:
    """One eval log of a benchmark from its shards' logs (in shard order): all samples, usage
    summed, metrics recomputed over all samples as inspect-ai computes them."""
    from inspect_ai.log import recompute_metrics

    if len({log.eval.task for log in logs}) != 1:
        raise EvaluationError(f"shard logs of different tasks: {sorted({log.eval.task for log in logs})}")
    merged = logs[0].model_copy(deep=True)
    ids = [i for log in logs for i in (log.eval.dataset.sample_ids or [])]
    order = {sample_id: n for n, sample_id in enumerate(ids)}  # dataset order, as one run logs it
    samples = [s for log in logs for s in (log.samples or [])]
    merged.samples = sorted(samples, key=lambda s: (order.get(s.id, len(order)), s.epoch))
    merged.eval.dataset.samples = sum(log.eval.dataset.samples or 0 for log in logs)
    merged.eval.dataset.sample_ids = ids
    merged.stats.started_at = min(log.stats.started_at for log in logs)
    merged.stats.completed_at = max(log.stats.completed_at for log in logs)
    merged.stats.model_usage = _summed(log.stats.model_usage for log in logs)
    merged.stats.role_usage = _summed(log.stats.role_usage for log in logs)  # the grader's, apart
    unfinished = next((log for log in logs if log.status != "success"), None)
    merged.status = unfinished.status if unfinished else "success"
    merged.error = unfinished.error if unfinished else None
    recompute_metrics(merged)
    return merged


def _summed(usages: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for usage in usages:
        for name, used in usage.items():
            total[name] = total[name] + used if name in total else used
    return total


def _child(payload: dict[str, Any]) -> int:
    """One harness process: its shard of every benchmark, through `eval_set` in its own log dir."""
    from runners.datasets_source import activate, parse_source
    from runners.evaluate import ModelTarget, run_eval_set
    from runners.progress import ProgressFile

    activate(parse_source(payload["dataset_source"]))
    if payload["progress"]:
        ProgressFile.start(Path(payload["progress"]))
    spec = JobSpec.model_validate(payload["spec"])
    grader = ModelTarget(**payload["grader"]) if payload["grader"] else None
    success, _ = run_eval_set(
        spec,
        ModelTarget(**payload["model"]),
        Path(payload["log_dir"]),
        grader=grader,
        concurrency=Concurrency.model_validate(payload["concurrency"]),
        scoring=payload["scoring"],
        log_buffer=payload["log_buffer"],
        log_shared=payload["log_shared"],
        shard=tuple(payload["shard"]),  # type: ignore[arg-type]
    )
    ProgressFile.stop()
    return 0 if success else 1


if __name__ == "__main__":
    raise SystemExit(_child(json.loads(sys.stdin.read())))
