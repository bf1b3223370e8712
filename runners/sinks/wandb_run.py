"""Results to W&B: one run per job in the destination project.

Offline (files under the job folder, syncable later with `wandb sync`) when there are no
credentials; online when WANDB_API_KEY is set. config = the job with secrets as references
(and the W&B artifact version it served), summary = every metric and its stderr, files = a
re-runnable config.yaml, the job log and the eval logs (under `evaljobs/` in the run's files).
Online, the run uses the served artifact version, so the model's lineage graph shows the
evaluation (W&B records artifact use only online: an offline run keeps the version in config).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from evaljobs.records import Accounting, BenchmarkResult, JobRecord, ModelArtifact, Runtime, WandbRun
from evaljobs.wandb_config import to_wandb_config, wandb_entity
from runners.sinks.base import SinkContext

__all__ = ["WandbSink", "declare_model", "run_config", "summary_of", "wandb_mode", "write_wandb_run"]


def wandb_mode(setting: str) -> str:
    """Resolve `auto`: online with credentials, offline without."""
    if setting != "auto":
        return setting
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def summary_of(results: list[BenchmarkResult], accounting: Accounting | None = None) -> dict[str, Any]:
    """Flat W&B summary: `<benchmark>/<scorer>/<metric>` and `…/stderr`, counts, tokens, times
    and cost per benchmark, and the job's totals under `job/`."""
    summary: dict[str, Any] = {}
    for result in results:
        for metric in result.metrics:
            summary[f"{result.benchmark}/{metric.name}"] = metric.value
            if metric.stderr is not None:
                summary[f"{result.benchmark}/{metric.name}_stderr"] = metric.stderr
        summary[f"{result.benchmark}/samples"] = result.samples_completed
        summary[f"{result.benchmark}/input_tokens"] = result.input_tokens
        summary[f"{result.benchmark}/output_tokens"] = result.output_tokens
        if result.grader_input_tokens or result.grader_output_tokens:
            summary[f"{result.benchmark}/grader_input_tokens"] = result.grader_input_tokens
            summary[f"{result.benchmark}/grader_output_tokens"] = result.grader_output_tokens
        for key in ("wall_time_s", "model_server_s", "cost_usd"):
            if (value := getattr(result, key)) is not None:
                summary[f"{result.benchmark}/{key}"] = value
    if accounting is not None:
        for key, value in accounting.model_dump(exclude={"rates"}).items():
            if value is not None:
                summary[f"job/{key}"] = value
        summary["job/cost_basis"] = accounting.rates.basis
    return summary


def declare_model(run: Any, artifact: ModelArtifact | None, mode: str) -> None:
    """Mark the served artifact version as the run's input (its lineage); only online, where
    W&B records it (the SDK refuses `use_artifact` offline)."""
    if artifact is not None and mode == "online":
        run.use_artifact(artifact.resolved)


def run_config(record: JobRecord) -> dict[str, Any]:
    """The run's config: the job as submitted (secrets by reference), its id, and the artifact
    version it served. A checkpoint uri loses its `wandb-artifact://` prefix here: the SDK takes
    such a string in config for an artifact to fetch, and refuses one nested in a dict."""
    spec = record.spec.model_dump(mode="json", exclude_none=True)
    if checkpoint := spec["model"].get("checkpoint"):
        checkpoint["uri"] = checkpoint["uri"].removeprefix("wandb-artifact://")
    config = {**spec, "evaljobs_job_id": record.id}
    if record.runtime.model_artifact is not None:
        config["model_artifact"] = record.runtime.model_artifact.model_dump(mode="json", exclude_none=True)
    return config


def write_wandb_run(record: JobRecord, job_dir: Path, mode: str) -> WandbRun:
    """Log the finished job as a W&B run; returns what the registry keeps (run id, dir, url)."""
    import wandb

    spec, results, artifact = record.spec, record.results, record.runtime.model_artifact

    staging = job_dir / "wandb-files"  # saved under `evaljobs/`, clear of W&B's own config.yaml
    files = staging / "evaljobs"
    files.mkdir(parents=True, exist_ok=True)
    (files / "config.yaml").write_text(yaml.safe_dump(to_wandb_config(spec, artifact), sort_keys=False))
    if (job_dir / "job.log").exists():
        shutil.copyfile(job_dir / "job.log", files / "job.log")
    for result in results:
        if result.log_path and Path(result.log_path).exists():
            (files / "eval-logs").mkdir(exist_ok=True)
            shutil.copy(result.log_path, files / "eval-logs" / Path(result.log_path).name)

    run = wandb.init(
        entity=wandb_entity(spec.entity),  # offline too: `wandb sync` uploads to the job's entity
        project=spec.project,
        name=record.name or f"{record.model} · {record.id}",
        id=record.id,
        job_type="evaluation",
        dir=str(job_dir),
        mode=mode,  # type: ignore[arg-type]
        config=run_config(record),
        tags=["evaljobs", f"trigger:{record.trigger.kind}"],
        settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
    )
    try:
        run.summary.update(summary_of(results, record.accounting))
        for path in sorted(p for p in files.rglob("*") if p.is_file()):
            run.save(str(path), base_path=str(staging), policy="now")
        declare_model(run, artifact, mode)
        info = WandbRun(
            run_id=run.id,
            dir=str(Path(run.dir).parent),
            mode=mode,
            url=run.url if mode == "online" and run.url else None,
        )
    finally:
        run.finish()
    return info


class WandbSink:
    """One W&B run per job (offline without credentials); skipped when W&B is disabled."""

    name = "wandb"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        mode = wandb_mode(ctx.settings.wandb_mode)
        if mode == "disabled":
            return None
        info = write_wandb_run(job, ctx.folder, mode)
        ctx.say(f"W&B run {info.run_id} ({mode}) in {info.dir}")
        return Runtime(wandb=info)
