"""The CLI's tables: one rich `Table` per view of jobs, results and benchmarks. No I/O; commands print."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from evaljobs.catalog import CatalogEntry
from evaljobs.leaderboard import LeaderboardRow, Standing
from evaljobs.records import BenchmarkComparison, JobRecord

__all__ = [
    "catalog_table",
    "comparison_table",
    "jobs_table",
    "leaderboard_table",
    "results_table",
    "standings_table",
]


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def results_table(job: JobRecord) -> Table:
    """A job's results, one row per benchmark, its totals and estimated cost in the caption."""
    table = Table(title=f"{job.id} · {job.model} · {job.status.value}", title_justify="left")
    table.add_column("benchmark / metric", overflow="fold")
    for col in ("value ± stderr", "samples", "tokens in / out", "time / cost $"):
        table.add_column(col, justify="right", overflow="fold")
    for r in job.results:  # two lines a row, so it stays whole in 80 columns
        p = r.primary()
        value = _number(p.value if p else None)
        stderr = f" ±{p.stderr:.4f}" if p and p.stderr is not None else ""
        grader = f"\ngrader {r.grader_input_tokens}/{r.grader_output_tokens}" if r.grader_input_tokens else ""
        time = f"{r.wall_time_s:.0f}s" if r.wall_time_s is not None else "-"
        cost = _number(r.cost_usd)
        table.add_row(
            f"{r.benchmark}\n{_metric_label(p.name if p else None, r.scoring)}",
            value + stderr,
            f"{r.samples_completed}/{r.samples_total}",
            f"{r.input_tokens}\n{r.output_tokens}{grader}",
            f"{time}\n{cost}",
        )
    if acc := job.accounting:
        server = f", model server {acc.model_server_s:.0f}s" if acc.model_server_s is not None else ""
        cost = f"${acc.cost_usd:.4f}" if acc.cost_usd is not None else "unknown"
        grader = ""
        if acc.grader_input_tokens or acc.grader_output_tokens:
            grader_cost = f"${acc.grader_cost_usd:.4f}" if acc.grader_cost_usd is not None else "cost unknown"
            grader = f"; grader {acc.grader_input_tokens}/{acc.grader_output_tokens} tokens, {grader_cost}"
        table.caption = (
            f"job: {acc.input_tokens}/{acc.output_tokens} tokens, {acc.wall_time_s or 0:.0f}s{server}; "
            f"estimated cost {cost} ({acc.rates.basis}){grader}"
        )
    return table


def jobs_table(jobs: Sequence[JobRecord]) -> Table:
    """One row per job, in the order given."""
    table = Table()
    for col in ("id", "project", "model", "status", "trigger", "created", "benchmarks"):
        table.add_column(col)
    for j in jobs:
        benches = ", ".join(b.id for b in j.spec.benchmark_refs())
        table.add_row(
            j.id,
            j.project,
            j.model,
            j.status.value,
            j.trigger.kind,
            f"{j.created_at:%Y-%m-%d %H:%M:%S}",
            benches,
        )
    return table


def catalog_table(entries: Sequence[CatalogEntry]) -> Table:
    """The benchmark catalog: what each needs, and why an entry is unavailable."""
    table = Table(title=f"{len(entries)} benchmarks")
    for col in ("id", "category", "samples", "needs", "offline", "description"):
        table.add_column(col, overflow="fold")
    for e in entries:
        r = e.requires
        needs = [
            n
            for n, on in (("judge", r.judge), ("hf_token", r.gated), ("tools", r.tools), ("vision", r.vision))
            if on
        ]
        needs += [f"sandbox:{s}" for s in r.sandbox] + [f"extra:{x}" for x in r.extras]
        desc = e.description if e.available else f"[red]unavailable: {e.reason}[/red]"
        table.add_row(
            e.id, e.category, str(e.samples or "-"), ", ".join(needs), "yes" if e.offline else "", desc[:90]
        )
    return table


def leaderboard_table(project: str, rows: Sequence[LeaderboardRow]) -> Table:
    """Every benchmark of every job of a project, with its 95% interval (`leaderboard --jobs`).

    Two lines a row (model over job, value over interval) keep it whole in 80 columns."""
    table = Table(title=f"leaderboard · {project} · {len(rows)} rows", title_justify="left")
    table.add_column("benchmark", overflow="fold")
    table.add_column("model / job", overflow="fold")
    table.add_column("metric", overflow="fold")
    table.add_column("value (n) / 95% CI", justify="right", no_wrap=True)
    for r in rows:
        value = f"{_number(r.value, 3)} ({r.samples})\n{_ci(r)}"
        table.add_row(r.benchmark, f"{r.model}\n{r.job_id}", _metric_label(r.metric, r.scoring), value)
    return table


def standings_table(project: str, models: Sequence[str], standings: Sequence[Standing]) -> Table:
    """The models side by side: a row per benchmark, a column per model with its latest score
    and the 95% interval's half-width (`value ±h`), its sample count below."""
    table = Table(title=f"leaderboard · {project} · {len(models)} model(s)", title_justify="left")
    table.add_column("benchmark", overflow="fold")
    table.add_column("metric", overflow="fold")
    for model in models:
        table.add_column(model, justify="right", overflow="fold", min_width=12)
    for row in standings:
        cells = [_score_cell(row.by_model[m]) if m in row.by_model else "-" for m in models]
        table.add_row(row.benchmark, _metric_label(row.metric, row.scoring), *cells)
    table.caption = "value ±95% half-width (samples); each model's latest job"
    return table


def _metric_label(metric: str | None, scoring: str) -> str:
    """`acc_norm (LL)` for log-likelihood scoring (the scorer names the metric), else the metric."""
    if not metric:
        return "-"
    scorer, _, name = metric.rpartition("/")
    if scoring == "loglikelihood":
        return f"{scorer or name} (LL)"
    return f"{scorer} {name}" if name == "mean" and scorer else name  # `f1 mean`, not `mean`


def _ci(r: LeaderboardRow) -> str:
    if r.ci95_low is None or r.ci95_high is None:
        return "-"
    return f"[{r.ci95_low:.3f}, {r.ci95_high:.3f}]"


def _score_cell(r: LeaderboardRow) -> str:
    if r.value is None:
        return "-"
    half = f" ±{(r.ci95_high - r.value):.3f}" if r.ci95_high is not None else ""
    return f"{r.value:.3f}{half}\n({r.samples})"


def comparison_table(
    candidate: str, baseline: str, threshold: float, rows: Sequence[BenchmarkComparison]
) -> Table:
    """B (`candidate`) against A (`baseline`) per benchmark: the paired difference and a verdict."""
    table = Table(title=f"{candidate} vs {baseline} (threshold {threshold})", title_justify="left")
    table.add_column("benchmark / metric", overflow="fold")
    for col in ("n", "A", "B"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("B − A / 95% CI", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for r in rows:  # two lines a row, so it stays whole in 80 columns
        ci = "-" if r.ci95_low is None or r.ci95_high is None else f"[{r.ci95_low:+.4f}, {r.ci95_high:+.4f}]"
        diff = "-" if r.diff is None else f"{r.diff:+.4f}"
        name = f"{r.benchmark}\n{r.metric or '-'}"
        table.add_row(name, str(r.shared), _number(r.a), _number(r.b), f"{diff}\n{ci}", r.verdict)
    return table
