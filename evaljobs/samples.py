"""A benchmark's samples as a person reads them: input, output, target, score (from its eval log)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from evaljobs.compare import sample_value
from evaljobs.records import BenchmarkResult

__all__ = ["SamplePage", "SampleView", "sample_page"]


class SampleView(BaseModel):
    """One scored sample."""

    id: str
    epoch: int
    input: str
    """The prompt (chat messages joined, one per line, with their roles)."""
    choices: list[str] | None
    target: str
    output: str
    """The model's completion; for log-likelihood scoring, the choice it ranked highest."""
    value: float | None
    """The primary metric's value for this sample (1 correct, 0 wrong, or a score)."""
    answer: str | None
    """What the scorer extracted."""
    explanation: str | None
    """The scorer's explanation (log-likelihood: each choice's log-probability)."""
    error: str | None


class SamplePage(BaseModel):
    """A window of a benchmark's samples."""

    benchmark: str
    metric: str | None
    total: int
    offset: int
    samples: list[SampleView]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            f"{getattr(m, 'role', 'user')}: {getattr(m, 'text', None) or str(getattr(m, 'content', m))}"
            for m in value
        )
    return "" if value is None else str(value)


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def _view(sample: Any, metric: str | None) -> SampleView:
    score = next(iter((sample.scores or {}).values()), None)
    completion = sample.output.completion if sample.output else ""
    answer = None if score is None or score.answer is None else str(score.answer)
    predictions = (sample.metadata or {}).get("prediction")
    if isinstance(predictions, dict) and metric:
        # log-likelihood scoring: each metric has its own pick (acc vs acc_norm); show the primary's
        picked = predictions.get(metric.split("/", 1)[0])
        choices = list(sample.choices or [])
        if isinstance(picked, int) and 0 <= picked < len(choices):
            completion = f"{_letter(picked)}. {choices[picked]}"
        answer = ", ".join(f"{k}: {_letter(v)}" for k, v in predictions.items() if isinstance(v, int))
    return SampleView(
        id=str(sample.id),
        epoch=sample.epoch,
        input=_text(sample.input),
        choices=list(sample.choices) if sample.choices else None,
        target=_text(sample.target),
        output=completion or answer or "",
        value=sample_value(sample, metric) if metric else None,
        answer=answer,
        explanation=None if score is None else score.explanation,
        error=sample.error.message if sample.error else None,
    )


def sample_page(result: BenchmarkResult, offset: int = 0, limit: int = 20) -> SamplePage:
    """Samples offset..offset+limit of the benchmark's eval log, in the log's order."""
    from inspect_ai.log import read_eval_log_sample_summaries, read_eval_log_samples_by_id

    if not result.log_path:
        return SamplePage(
            benchmark=result.benchmark, metric=result.primary_metric, total=0, offset=0, samples=[]
        )
    summaries = read_eval_log_sample_summaries(result.log_path)
    window = [(s.id, s.epoch) for s in summaries[offset : offset + limit]]
    # one reader for the page's samples, kept in the log's order
    read = {(s.id, s.epoch): s for s in read_eval_log_samples_by_id(result.log_path, window)}
    samples = [_view(read[key], result.primary_metric) for key in window]
    return SamplePage(
        benchmark=result.benchmark,
        metric=result.primary_metric,
        total=len(summaries),
        offset=offset,
        samples=samples,
    )
