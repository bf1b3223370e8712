"""Each benchmark of a job as a Weave evaluation (per-sample predictions and scores, summary
with stderr), and the project's Weave leaderboard. Weave has no offline mode: without a W&B
key the sink records why it skipped; an unreachable server is a sink failure (recorded on the
job by the sinks' one error policy).
"""

from __future__ import annotations

import os
from typing import Any

from evaljobs.records import BenchmarkResult, JobRecord, Runtime
from runners.sinks.base import SinkContext

__all__ = ["WeaveSink", "leaderboard_columns", "merge_columns"]


def _samples(result: BenchmarkResult) -> list[Any]:
    from inspect_ai.log import read_eval_log_samples

    if not result.log_path:
        return []
    return list(read_eval_log_samples(result.log_path, all_samples_required=False))


def leaderboard_columns(result: BenchmarkResult, evaluation_ref: str) -> list[dict[str, Any]]:
    """A Weave leaderboard column per metric of a benchmark (its logged summary: `metric.value`)."""
    return [
        {
            "evaluation_object_ref": evaluation_ref,
            "scorer_name": metric.name,
            "summary_metric_path": "value",
        }
        for metric in result.metrics
    ]


def merge_columns(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard extended: existing columns first, a column already there not added twice."""

    def key(column: dict[str, Any]) -> tuple[str, str, str]:
        return column["evaluation_object_ref"], column["scorer_name"], column["summary_metric_path"]

    seen = {key(c) for c in existing}
    merged = list(existing)
    for column in new:
        if key(column) not in seen:
            seen.add(key(column))
            merged.append(column)
    return merged


def _column_dict(column: Any) -> dict[str, Any]:
    keys = ("evaluation_object_ref", "scorer_name", "summary_metric_path", "should_minimize")
    if isinstance(column, dict):
        return {k: column.get(k) for k in keys}
    return {k: getattr(column, k, None) for k in keys}


def _publish_leaderboard(project: str, columns: list[dict[str, Any]]) -> str:
    """Create the project's Weave leaderboard, or extend it with these columns; returns its ref."""
    import weave
    from weave.trace.builtin_object_classes.leaderboard import Leaderboard, LeaderboardColumn

    name = f"{project}-evaljobs"
    try:
        existing = [_column_dict(c) for c in weave.ref(f"{name}:latest").get().columns]
    except Exception as exc:  # only "not published yet" starts a new one
        if "not found" not in str(exc).lower() and "404" not in str(exc):
            raise  # unreadable: publish nothing rather than replace its columns
        existing = []
    board = Leaderboard(
        name=name,
        description=f"evaljobs: every benchmark metric of every job in {project}",
        columns=[LeaderboardColumn(**c) for c in merge_columns(existing, columns)],
    )
    return str(weave.publish(board, name=name).uri())


class WeaveSink:
    """Each benchmark as a Weave evaluation in `entity/project`, and the project's leaderboard."""

    name = "weave"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        if ctx.settings.weave == "off":
            return Runtime(weave="skipped: EVALJOBS_WEAVE=off")
        if not os.environ.get("WANDB_API_KEY"):
            return Runtime(weave="skipped: no WANDB_API_KEY (Weave has no offline mode)")
        import weave
        from weave.trace.refs import ObjectRef
        from weave.trace.weave_client import get_ref  # type: ignore[attr-defined]

        from evaljobs.compare import sample_value
        from evaljobs.wandb_config import wandb_entity

        entity = wandb_entity(job.entity)
        client = weave.init(f"{entity}/{job.project}" if entity else job.project)
        project = f"{client.entity}/{client.project}"
        columns: list[dict[str, Any]] = []
        for result in job.results:
            logger = weave.EvaluationLogger(
                name=f"{job.id}-{result.benchmark}",
                model=job.model.replace("/", "_").replace(":", "_"),
                dataset=result.benchmark,
                eval_attributes={"job_id": job.id, "scoring": result.scoring},
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
            # the logger's Evaluation object is what a leaderboard column points at (no public accessor)
            ref = get_ref(logger._pseudo_evaluation)
            if isinstance(ref, ObjectRef):
                columns += leaderboard_columns(result, ref.uri())
        board = _publish_leaderboard(job.project, columns)
        ctx.say(f"Weave: {len(job.results)} evaluation(s) logged to {project}; leaderboard {board}")
        return Runtime(weave="logged", weave_project=project, weave_leaderboard=board)
