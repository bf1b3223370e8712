"""The CLI's tables: one rich `Table` per view of jobs, results and benchmarks. No I/O; commands print."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from evaljobs.catalog import CatalogEntry
from evaljobs.leaderboard import LeaderboardRow
from evaljobs.records import BenchmarkComparison, JobRecord

__all__ = ["catalog_table", "comparison_table", "jobs_table", "leaderboard_table", "results_table"]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def results_table(job: JobRecord) -> Table:
    """A job's results, one row per benchmark, its totals and estimated cost in the caption."""
    table = Table(title=f"{job.id} · {job.model} · {job.status.value}")
    columns = ("benchmark", "metric", "value", "± stderr", "samples", "tokens in/out", "time", "cost $")
    for col in columns:
        table.add_column(col, justify="right" if col not in ("benchmark", "metric") else "left")
    for r in job.results:
        p = r.primary()
        table.add_row(
            r.benchmark,
            p.name.rsplit("/", 1)[-1] if p else "-",
            f"{p.value:.4f}" if p else "-",
            f"{p.stderr:.4f}" if p and p.stderr is not None else "-",
            f"{r.samples_completed}/{r.samples_total}",
            f"{r.input_tokens}/{r.output_tokens}",
            f"{r.wall_time_s:.0f}s" if r.wall_time_s is not None else "-",
            f"{r.cost_usd:.4f}" if r.cost_usd is not None else "-",
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
    """A project's leaderboard: one row per benchmark per job, with its 95% interval."""
    table = Table(title=f"leaderboard · {project} · {len(rows)} rows")
    for col in ("benchmark", "model", "job", "metric", "value", "95% CI", "n", "finished"):
        table.add_column(col, no_wrap=col in ("benchmark", "job", "value", "95% CI"))
    for r in rows:
        ci = (
            f"[{r.ci95_low:.3f}, {r.ci95_high:.3f}]"
            if r.ci95_low is not None and r.ci95_high is not None
            else "-"
        )
        value = f"{r.value:.4f}" if r.value is not None else "-"
        when = f"{r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else "-"
        metric = (r.metric or "-").rsplit("/", 1)[-1]
        table.add_row(r.benchmark, r.model, r.job_id, metric, value, ci, str(r.samples), when)
    return table


def comparison_table(
    candidate: str, baseline: str, threshold: float, rows: Sequence[BenchmarkComparison]
) -> Table:
    """B (`candidate`) against A (`baseline`) per benchmark: the paired difference and a verdict."""
    table = Table(title=f"{candidate} vs {baseline} (threshold {threshold})")
    for col in ("benchmark", "metric", "n", "A", "B", "B − A", "95% CI", "verdict"):
        table.add_column(col, no_wrap=col in ("95% CI", "verdict"))
    for r in rows:
        ci = "-" if r.ci95_low is None else f"[{r.ci95_low:+.4f}, {r.ci95_high:+.4f}]"
        table.add_row(
            r.benchmark,
            r.metric or "-",
            str(r.shared),
            _number(r.a),
            _number(r.b),
            _number(r.diff),
            ci,
            r.verdict,
        )
    return table
