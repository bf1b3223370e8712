"""Is B better than A? Paired differences per benchmark over the samples both jobs scored.

For each benchmark both jobs ran, the primary metric's per-sample values are read from the
eval logs and paired by (sample id, epoch). The difference of means B − A comes with the
standard error of the paired differences and a 95% interval; the verdict is `regression`
when the whole interval lies below −threshold, `improvement` when it lies above +threshold,
and `no change` otherwise. Pairing removes the between-question variance, so a paired
interval is much tighter than comparing the two leaderboard intervals.
"""

from __future__ import annotations

import math
from typing import Any

from evaljobs.leaderboard import Z95
from evaljobs.records import BenchmarkComparison, BenchmarkResult, Comparison, JobRecord, JobStatus
from evaljobs.stores import JobRegistry

__all__ = [
    "BenchmarkComparison",
    "compare_jobs",
    "compare_with_baseline",
    "project_baseline",
    "sample_value",
    "sample_values",
]


def _number(value: Any, key: str) -> float | None:
    """A score value as a number: C/I, booleans and numbers; a dict is looked up by `key`."""
    if isinstance(value, dict):
        return _number(value.get(key), key) if key in value else None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value in ("C", "I"):
        return 1.0 if value == "C" else 0.0
    return None


def sample_value(sample: Any, primary_metric: str) -> float | None:
    """One eval-log sample's value of the primary metric (`scorer/metric`), if it has one."""
    scorer = primary_metric.split("/", 1)[0]
    scores = sample.scores or {}
    # a scorer of that name, or (log-likelihood) one scorer whose dict value holds the metric
    candidates = [scores[scorer].value] if scorer in scores else [s.value for s in scores.values()]
    for candidate in candidates:
        value = _number(candidate, scorer)
        if value is not None:
            return value
    return None


def sample_values(result: BenchmarkResult) -> dict[tuple[str, int], float]:
    """(sample id, epoch) → the primary metric's per-sample value, from the eval log."""
    from inspect_ai.log import read_eval_log_samples

    if not result.log_path or not result.primary_metric:
        return {}
    values: dict[tuple[str, int], float] = {}
    for sample in read_eval_log_samples(result.log_path, all_samples_required=False):
        value = sample_value(sample, result.primary_metric)
        if value is not None:
            values[(str(sample.id), sample.epoch)] = value
    return values


def _compare(benchmark: str, a: BenchmarkResult, b: BenchmarkResult, threshold: float) -> BenchmarkComparison:
    def empty(verdict: str, shared: int = 0) -> BenchmarkComparison:
        return BenchmarkComparison(
            benchmark=benchmark, metric=a.primary_metric, shared=shared, threshold=threshold, verdict=verdict
        )

    if a.primary_metric != b.primary_metric:
        return empty(f"not comparable: metric {a.primary_metric} vs {b.primary_metric}")
    va, vb = sample_values(a), sample_values(b)
    keys = sorted(va.keys() & vb.keys())
    n = len(keys)
    if n < 2:
        return empty("not comparable: fewer than 2 shared samples", n)
    diffs = [vb[k] - va[k] for k in keys]
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    low, high = mean - Z95 * se, mean + Z95 * se
    verdict = "regression" if high < -threshold else "improvement" if low > threshold else "no change"
    return BenchmarkComparison(
        benchmark=benchmark,
        metric=a.primary_metric,
        shared=n,
        a=sum(va[k] for k in keys) / n,
        b=sum(vb[k] for k in keys) / n,
        diff=mean,
        stderr=se,
        ci95_low=low,
        ci95_high=high,
        threshold=threshold,
        verdict=verdict,
    )


def compare_jobs(a: JobRecord, b: JobRecord, threshold: float = 0.01) -> list[BenchmarkComparison]:
    """B relative to A (A: the baseline), per benchmark both ran."""
    results_a = {r.benchmark: r for r in a.results}
    results_b = {r.benchmark: r for r in b.results}
    return [
        _compare(name, results_a[name], results_b[name], threshold) for name in results_a if name in results_b
    ]


def project_baseline(job: JobRecord, registry: JobRegistry) -> JobRecord | None:
    """The project's baseline for a job: its project's latest succeeded job created before it."""
    earlier = [
        j
        for j in registry.jobs(
            project=job.project, status=JobStatus.SUCCEEDED, entities=[job.entity], limit=50
        )
        if j.id != job.id and j.created_at < job.created_at
    ]
    return earlier[0] if earlier else None


def compare_with_baseline(job: JobRecord, registry: JobRegistry) -> Comparison | None:
    """The comparison a job asked for with `baseline`, as recorded with it; None when it asked for none."""
    wanted = job.spec.baseline
    if not wanted:
        return None
    threshold = job.spec.regression_threshold
    if wanted == "project":
        found = project_baseline(job, registry)
        if found is None:
            return Comparison(baseline=None, note="no earlier succeeded job in the project", regressed=None)
        base = found
    else:
        base = registry.get(wanted)
        if base.entity != job.entity:  # refused at submit; never pull another entity's samples
            return Comparison(baseline=None, note=f"no job {wanted} in {job.entity}", regressed=None)
    rows = compare_jobs(base, job, threshold)
    return Comparison(
        baseline=base.id,
        threshold=threshold,
        benchmarks=rows,
        regressed=any(r.verdict == "regression" for r in rows),
    )
