"""One job fanned out over several runners (`shards: K`): each serves the model and scores its part.

The shards are jobs of their own in the registry (`<job>-s0` … `<job>-s<K-1>`, `shard` set,
listed with their parent rather than on their own), so each has its own status, runner,
claim, resume after a kill and cancel, through the same transitions as any job, on SQLite
and DynamoDB alike. Shard p scores the p-th of K contiguous parts of every benchmark's
samples (the parts the harness processes of one runner use, `shard_slice`).

The parent job is `running` from the fan-out until its last shard ends:

- a shard that fails runs again, alone, in its runner (`shard_retries` times; it resumes from
  its own eval logs, so finished samples are not asked for again);
- each shard, once its logs are where its parent reads them (`published`: on Modal, committed
  to the Volume), completes the parent if no sibling is still going: every benchmark's shard
  logs merge into one eval log in the parent's folder (metrics recomputed over all samples),
  the parent finishes with one result per benchmark and the shards' summed accounting, and
  its result sinks run once: one W&B run, one leaderboard row per benchmark, one completion
  event. The parent's conditional `running → terminal` write decides which shard does it;
- a shard that failed for good fails the parent (its siblings are cancelled), a cancelled one
  cancels it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

from evaljobs.records import (
    BenchmarkResult,
    JobRecord,
    JobStatus,
    ModelServerTime,
    Runtime,
    ShardOf,
    Trigger,
    utcnow,
)
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from runners.sinks import job_log_lines, run_sinks_of

Finisher = Callable[[str, Literal["merge", "sinks"]], object]
"""Runs a step of a job's ending elsewhere (`runners.executor.finisher`): `merge` a fanned-out
job's shards and end it (`complete` there), or run the `sinks` of a job already ended here."""

__all__ = [
    "Finisher",
    "complete",
    "fan_out",
    "fans_out",
    "publish",
    "requeue",
    "shard_count",
    "shard_job_id",
    "shard_progress_files",
]


def shard_count(spec: Any, settings: Settings) -> int:
    """Runners a job fans out over: its `shards`, else one per `samples_per_shard` samples when the
    deployment sets that; never more than `max_shards` (validation refuses a job asking more)."""
    if spec.shards:
        return int(min(spec.shards, settings.max_shards))
    if settings.samples_per_shard:
        from runners.evaluate import expected_samples

        wanted = math.ceil(expected_samples(spec) / settings.samples_per_shard)
        return max(1, min(wanted, settings.max_shards))
    return 1


def fans_out(record: JobRecord, settings: Settings) -> bool:
    """Whether the job runs as shards rather than on one runner (a shard itself never does)."""
    return record.shard is None and (bool(record.runtime.shards) or shard_count(record.spec, settings) > 1)


def shard_job_id(parent: str, index: int) -> str:
    """The id of shard `index` of job `parent`."""
    return f"{parent}-s{index}"


def fan_out(registry: JobRegistry, settings: Settings, record: JobRecord) -> list[str]:
    """Record the shard jobs of a queued job and move it to `running`; returns the shards to
    dispatch, or [] when it is not this caller's to fan out (done already, cancelled, a shard)."""
    count = shard_count(record.spec, settings)
    if record.shard is not None or count < 2 or record.status is not JobStatus.QUEUED:
        return []
    ids = []
    for index in range(count):
        child = JobRecord(
            id=shard_job_id(record.id, index),
            name=record.name,
            entity=record.entity,
            project=record.project,
            model=record.model,
            spec=record.spec,
            # the parent's kind: what a runner may read (secrets, keys) follows it
            trigger=Trigger(kind=record.trigger.kind, detail={"shard_of": record.id}),
            shard=ShardOf(parent=record.id, index=index, count=count),
        )
        ids.append(registry.create(child, f"shard:{record.id}:{index}").id)  # idempotent: a retried fan-out
    if not registry.transition(record.id, JobStatus.RUNNING, runtime=Runtime(shards=ids)):
        return []  # another dispatcher fanned it out, or it was cancelled meanwhile
    if registry.cancel_requested(record.id):
        for child_id in ids:
            registry.transition(child_id, JobStatus.CANCELLED, error="its job was cancelled")
        complete(registry, settings, record.id)
        return []
    return ids


def requeue(registry: JobRegistry, settings: Settings, shard: JobRecord) -> bool:
    """Put a failed shard back in the queue for another try, if it has tries left and its job
    is not being cancelled; False otherwise."""
    assert shard.shard is not None
    if shard.status is not JobStatus.FAILED or shard.runtime.attempt > settings.shard_retries:
        return False
    if registry.cancel_requested(shard.shard.parent) or registry.cancel_requested(shard.id):
        return False
    # a new call: the old one's id would count it in flight, and Modal's re-run would take it for its own
    retry = Runtime(
        attempt=shard.runtime.attempt + 1, published=False, modal_call_id=None, dispatched_at=None
    )
    return registry.transition(shard.id, JobStatus.QUEUED, runtime=retry)


def publish(registry: JobRegistry, shard_id: str) -> None:
    """The shard's logs are where its parent's merge reads them."""
    registry.update_runtime(shard_id, Runtime(published=True))


def shard_progress_files(settings: Settings, record: JobRecord) -> list[Path]:
    """The progress files of a job: its own, or its shards' when it fanned out."""
    folders = [settings.jobs_dir / i for i in record.runtime.shards] or [settings.jobs_dir / record.id]
    return [folder / "progress.json" for folder in folders]


def complete(
    registry: JobRegistry,
    settings: Settings,
    parent_id: str,
    cancel: Callable[[str], object] | None = None,
    finish_elsewhere: Finisher | None = None,
) -> JobStatus | None:
    """End a fanned-out job if none of its shards is still going; returns the status this call
    gave it (None: not yet, or another shard's call did it). `cancel` stops a running shard
    (runners/cancel.py) when another has failed for good; without it, only queued ones stop.

    `finish_elsewhere` (`runners.executor.finisher`): where the work that needs the shards'
    logs and the sinks' keys runs, by job id, when this process has neither (Modal's `api` and
    `tick` containers): the merge, handed over whole, and a job ended here without one (failed
    or cancelled) has its status recorded here, its sinks run there."""
    parent = registry.get(parent_id)
    if parent.status.terminal or not parent.runtime.shards:
        return None
    shards = [registry.get(i) for i in parent.runtime.shards]
    failed = next((s for s in shards if _failed_for_good(s, settings)), None)
    if failed is not None:
        active = [s for s in shards if not s.status.terminal]
        for sibling in active:  # the job has failed: the others' work would be thrown away
            registry.request_cancel(sibling.id)
            registry.transition(sibling.id, JobStatus.CANCELLED, error="another shard failed")  # if queued
            if cancel is not None:
                cancel(sibling.id)
        if any(not registry.get(s.id).status.terminal for s in active):
            return None  # their runners stop and end them; the last one comes back here
    elif any(not s.status.terminal or s.status is JobStatus.FAILED for s in shards):
        return None  # still going, or failed with a try left (its retry is under way)
    elif any(s.status is JobStatus.SUCCEEDED and not s.runtime.published for s in shards):
        return None  # its logs are not where the merge reads them yet: that shard completes the job
    end = partial(_finish, registry, settings, parent, sinks_elsewhere=finish_elsewhere)
    if failed is not None:
        return end(JobStatus.FAILED, f"shard {failed.id} failed: {failed.error}")
    if any(s.status is JobStatus.CANCELLED for s in shards):
        cancelled = next(s for s in shards if s.status is JobStatus.CANCELLED)
        return end(JobStatus.CANCELLED, f"cancelled ({cancelled.id})")
    versions = {s.runtime.model_artifact.resolved for s in shards if s.runtime.model_artifact}
    if len(versions) > 1:  # an alias moved between the shards' downloads: their scores do not merge
        return end(
            JobStatus.FAILED,
            f"the shards scored different model versions ({', '.join(sorted(versions))}); run it again",
        )
    if finish_elsewhere is not None:
        finish_elsewhere(parent_id, "merge")  # `complete` runs again there, merges, and ends the job
        return None
    job_log_lines(settings.jobs_dir / parent_id)(
        f"all {len(shards)} shards succeeded; merging their eval logs"
    )
    results = _merged_results(parent, shards, settings.jobs_dir / parent_id / "logs")
    unmerged = [r.benchmark for r in results if r.status != "success"]
    if unmerged:
        return end(JobStatus.FAILED, f"benchmark(s) did not merge: {', '.join(unmerged)}", results, shards)
    return end(JobStatus.SUCCEEDED, None, results, shards)


def _failed_for_good(shard: JobRecord, settings: Settings) -> bool:
    return shard.status is JobStatus.FAILED and shard.runtime.attempt > settings.shard_retries


def _merged_results(parent: JobRecord, shards: list[JobRecord], log_dir: Path) -> list[BenchmarkResult]:
    """One result per benchmark from the shards' eval logs, merged into `log_dir`."""
    from inspect_ai.log import read_eval_log, write_eval_log

    from runners.evaluate import result_from_log
    from runners.harness_pool import merge_shard_logs

    scoring = parent.runtime.scoring or shards[0].runtime.scoring
    log_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for bench in parent.spec.benchmark_refs():
        paths = [
            r.log_path for s in shards for r in s.results if r.benchmark == bench.id and r.log_path
        ]  # shard order: the merge keeps dataset order
        if not paths:
            error = "no shard logged it"
            results.append(BenchmarkResult(benchmark=bench.id, task=bench.id, status="error", error=error))
            continue
        merged = merge_shard_logs([read_eval_log(p) for p in paths])
        target = log_dir / f"{bench.id}.eval"
        partial = log_dir / f".{bench.id}.eval.{os.getpid()}"  # two shards completing at once both write
        write_eval_log(merged, str(partial), format="eval")
        os.replace(partial, target)
        merged.location = str(target)
        results.append(result_from_log(bench.id, merged, scoring.get(bench.id, "generate"), bench.args))
    return results


def _runtime_from_shards(shards: list[JobRecord]) -> Runtime:
    """What the parent shows of its shards' runs: the first one's model and server settings, the
    servers' time summed (each shard ran its own)."""
    first = shards[0].runtime
    servers = [s.runtime.model_server for s in shards if s.runtime.model_server]
    patch = Runtime(
        checkpoint=first.checkpoint,
        model_artifact=first.model_artifact,
        preflight=first.preflight,
        gpu_plan=first.gpu_plan,
        server_command=first.server_command,
        sample_seed=first.sample_seed,
        concurrency=first.concurrency,
        scoring=first.scoring,
        job_dir=None,
    )
    if servers:
        starts = [m.startup_s for m in servers if m.startup_s is not None]
        requests = [m.requests for m in servers if m.requests is not None]
        patch.model_server = ModelServerTime(
            up_s=sum(m.up_s for m in servers),
            startup_s=sum(starts) if starts else None,
            requests=sum(requests) if requests else None,
        )
    return patch


def _finish(
    registry: JobRegistry,
    settings: Settings,
    parent: JobRecord,
    status: JobStatus,
    error: str | None,
    results: list[BenchmarkResult] | None = None,
    shards: list[JobRecord] | None = None,
    *,
    sinks_elsewhere: Finisher | None = None,
) -> JobStatus | None:
    from runners.accounting import account, rates_for

    folder = settings.jobs_dir / parent.id
    accounting = None
    if shards:
        runtime = _runtime_from_shards(shards)
        runtime.job_dir = str(folder)
        registry.update_runtime(parent.id, runtime, versions=shards[0].versions)
        server = runtime.model_server
        started = parent.started_at or parent.created_at
        results, accounting = account(
            results or [],
            rates_for(parent.spec, settings),
            wall_time_s=(utcnow() - started).total_seconds(),
            model_server_s=server.up_s if server else None,
            model_server_startup_s=server.startup_s if server else None,
        )
    if not registry.finish(parent.id, status, results or [], error, accounting):
        return None  # another shard's call finished it first
    run_sinks_of(registry, settings, parent.id, elsewhere=sinks_elsewhere)  # how it ended; then the sinks
    return status
