"""Each benchmark of a job as a Weave evaluation (per-sample predictions and scores, summary
with stderr). Weave has no offline mode: without a W&B key, or with the server unreachable,
the job goes on and records why Weave was skipped. Never fails a job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from evaljobs.records import BenchmarkResult, JobRecord
from evaljobs.settings import Settings

__all__ = ["write_weave"]


def _samples(result: BenchmarkResult) -> list[Any]:
    from inspect_ai.log import read_eval_log_samples

    if not result.log_path:
        return []
    return list(read_eval_log_samples(result.log_path, all_samples_required=False))


def write_weave(
    record: JobRecord, results: list[BenchmarkResult], settings: Settings, say: Callable[[str], None]
) -> dict[str, Any]:
    """Log the job's benchmarks to Weave project `entity/project`; returns what to record."""
    if settings.weave == "off":
        return {"weave": "skipped: EVALJOBS_WEAVE=off"}
    if not os.environ.get("WANDB_API_KEY"):
        return {"weave": "skipped: no WANDB_API_KEY (Weave has no offline mode)"}
    try:
        import weave

        from evaljobs.compare import sample_value

        project = f"{record.entity}/{record.project}"
        weave.init(project)
        for result in results:
            logger = weave.EvaluationLogger(
                name=f"{record.id}-{result.benchmark}",
                model=record.model.replace("/", "_").replace(":", "_"),
                dataset=result.benchmark,
                eval_attributes={"job_id": record.id, "scoring": result.scoring},
            )
            for sample in _samples(result):
                prediction = logger.log_prediction(
                    inputs={
                        "id": str(sample.id),
                        "input": sample.input if isinstance(sample.input, str) else "",
                    },
                    output=sample.output.completion if sample.output else None,
                )
                value = sample_value(sample, result.primary_metric) if result.primary_metric else None
                if value is not None:
                    prediction.log_score(scorer=result.primary_metric or "score", score=value)
                prediction.finish()
            logger.log_summary(
                {m.name: {"value": m.value, "stderr": m.stderr} for m in result.metrics}, auto_summarize=False
            )
        say(f"Weave: {len(results)} evaluation(s) logged to {project}")
        return {"weave": "logged", "weave_project": project}
    except Exception as exc:  # noqa: BLE001 - Weave unreachable or refusing must not fail an evaluated job
        reason = f"skipped: {type(exc).__name__}: {exc}"[:500]
        say(f"Weave {reason}")
        return {"weave": reason}
