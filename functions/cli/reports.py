"""Commands that read across jobs: the benchmark catalog, a project's leaderboard, comparisons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evaljobs.errors import EvalJobError
from evaljobs.stores import open_registry
from functions.cli.terminal import console
from functions.tables import catalog_table, comparison_table, leaderboard_table, standings_table

__all__ = ["commands"]

commands = typer.Typer()


@commands.command()
def catalog(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """The benchmark catalog, resolved against the installed inspect_evals."""
    from evaljobs.catalog import get_catalog

    entries = list(get_catalog().values())
    if as_json:
        typer.echo(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    console.print(catalog_table(entries))


@commands.command()
def leaderboard(
    project: Annotated[str, typer.Option(help="Project")] = "evaljobs",
    entity: Annotated[str | None, typer.Option(help="Entity")] = None,
    export: Annotated[Path | None, typer.Option(help="Write rows to this .jsonl or .csv file")] = None,
    jobs: Annotated[bool, typer.Option("--jobs", help="One row per benchmark per job")] = False,
) -> None:
    """A project's models side by side (each one's latest score per benchmark, with its 95%
    interval); `--jobs` lists every job's rows, `--export` writes them all."""
    from evaljobs.leaderboard import leaderboard_rows, standings, to_csv, to_jsonl

    rows = leaderboard_rows(open_registry(), project, entity)
    if export:
        export.write_text(to_csv(rows) if export.suffix == ".csv" else to_jsonl(rows))
        console.print(f"wrote {len(rows)} rows to {export}")
    if jobs:
        console.print(leaderboard_table(project, rows))
    else:
        console.print(standings_table(project, *standings(rows)))


@commands.command()
def compare(
    first: Annotated[str | None, typer.Argument(help="Job A, the baseline (alone: the job to compare)")] = (
        None
    ),
    second: Annotated[str | None, typer.Argument(help="Job B, compared with A")] = None,
    last: Annotated[
        str | None, typer.Option("--last", help="The project's latest succeeded job, against its baseline")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Smallest difference that counts as a change")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Per benchmark: B − A over shared samples (paired), its 95% interval, and a verdict.

    With one job, A is the project's baseline: its latest earlier succeeded job; `--last
    PROJECT` takes the project's latest succeeded job as B."""
    from evaljobs.compare import compare_jobs, project_baseline
    from evaljobs.records import JobStatus

    registry = open_registry()
    if (first is None) == (last is None):
        raise typer.BadParameter("give job ids (A B, or one job) or --last PROJECT")
    if last is not None:
        latest = registry.jobs(project=last, status=JobStatus.SUCCEEDED, limit=1)
        if not latest:
            raise EvalJobError(f"project {last} has no succeeded job")
        first = latest[0].id
    assert first is not None
    if second is None:
        job = registry.get(first)
        base = project_baseline(job, registry)
        if base is None:
            raise EvalJobError(f"{first} has no project baseline (no earlier succeeded job in {job.project})")
        baseline, candidate = base.id, first
    else:
        baseline, candidate = first, second
    rows = compare_jobs(registry.get(baseline), registry.get(candidate), threshold)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    console.print(comparison_table(candidate, baseline, threshold, rows))
