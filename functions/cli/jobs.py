"""Commands on one job: submit it, follow it, inspect it, run it again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evaljobs.errors import EvalJobError
from evaljobs.records import JobRecord, JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores import open_registry
from functions.cli.terminal import console, err
from functions.tables import jobs_table, results_table

__all__ = ["commands"]

commands = typer.Typer()

JobFile = Annotated[Path, typer.Argument(help="Job file (YAML or JSON; ours or W&B's config.yaml form)")]
JobId = Annotated[str, typer.Argument(help="Job id (job-…)")]


def _read(path: Path) -> dict[str, Any]:
    from evaljobs.validation import load_document

    if not path.exists():
        raise EvalJobError(f"{path} does not exist")
    return load_document(path.read_text(), str(path))


def _submit(path: Path, inline: bool) -> JobRecord:
    from functions.submit import submit_job
    from runners.executor import get_executor

    settings = get_settings()
    registry = open_registry()
    executor = get_executor(settings, registry, "inline" if inline else None)
    return submit_job(
        _read(path),
        trigger=Trigger(kind="cli", detail={"file": str(path)}),
        registry=registry,
        executor=executor,
        settings=settings,
    )


def _follow(job_id: str, poll_s: float = 1.0) -> JobRecord:
    from runners.progress import read_progress
    from runners.shards import shard_progress_files

    registry = open_registry()
    job = registry.get(job_id)
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        status_bar = bars.add_task("starting", total=None)
        ids: dict[str, Any] = {}
        while not job.status.terminal:
            time.sleep(poll_s)
            job = registry.get(job_id)
            progress = read_progress(*shard_progress_files(get_settings(), job))
            bars.update(status_bar, description="evaluating" if progress else job.status.value)
            for bench, entry in progress.items():
                if bench not in ids:
                    ids[bench] = bars.add_task(bench, total=entry["total"])
                bars.update(ids[bench], completed=entry["done"], total=entry["total"])
        bars.update(status_bar, description=job.status.value, total=1, completed=1)
    return job


@commands.command()
def run(
    job_file: JobFile,
    inline: Annotated[bool, typer.Option(help="Run in this process instead of a worker")] = False,
) -> None:
    """Submit a job and follow it: live progress per benchmark, then the results."""
    job = _submit(job_file, inline)
    console.print(f"submitted [bold]{job.id}[/bold] ({job.model}, project {job.project})")
    job = open_registry().get(job.id) if inline else _follow(job.id)
    console.print(results_table(job))
    if job.status is not JobStatus.SUCCEEDED:
        err.print(f"[red]{job.status.value}[/red]: {job.error}", highlight=False)
        err.print(f"log: {get_settings().jobs_dir / job.id / 'job.log'}")
        raise typer.Exit(1)


@commands.command()
def submit(job_file: JobFile) -> None:
    """Validate and queue a job; prints its id."""
    console.print(_submit(job_file, inline=False).id)


@commands.command()
def validate(job_file: JobFile) -> None:
    """Check a job without running it."""
    from functions.submit import access_for, prepare_job

    settings = get_settings()
    spec = prepare_job(_read(job_file), settings, access_for(Trigger(kind="cli"), settings))
    console.print(f"[green]valid[/green]: {spec.display_model()} on {len(spec.benchmarks)} benchmark(s)")


@commands.command()
def status(job_id: JobId) -> None:
    """A job's status."""
    registry = open_registry()
    job = registry.get(job_id)
    console.print(f"{job.id} {job.status.value}" + (f": {job.error}" if job.error else ""))
    for shard in (registry.get(i) for i in job.runtime.shards):
        from runners.progress import read_progress

        tries = f", try {shard.runtime.attempt}" if shard.runtime.attempt > 1 else ""
        why = f": {shard.error}" if shard.error else ""
        progress = read_progress(get_settings().jobs_dir / shard.id / "progress.json").values()
        done = f", {sum(p['done'] for p in progress)}/{sum(p['total'] for p in progress)} samples"
        console.print(f"  {shard.id} {shard.status.value}{tries}{done if progress else ''}{why}")


@commands.command("list")
def list_jobs(
    project: Annotated[str | None, typer.Option(help="Only this project")] = None,
    status_: Annotated[JobStatus | None, typer.Option("--status", help="Only this status")] = None,
    limit: int = 50,
) -> None:
    """Recent jobs, newest first."""
    jobs = open_registry().jobs(project=project, status=status_, limit=limit)
    console.print(jobs_table(jobs))


@commands.command()
def show(job_id: JobId) -> None:
    """Everything about a job as JSON."""
    console.print_json(open_registry().get(job_id).model_dump_json())


@commands.command()
def logs(job_id: JobId) -> None:
    """The job log."""
    path = get_settings().jobs_dir / job_id / "job.log"
    if not path.exists():
        raise EvalJobError(f"no log for {job_id} at {path}")
    typer.echo(path.read_text(), nl=False)


@commands.command()
def cancel(job_id: JobId) -> None:
    """Cancel a queued or running job."""
    from runners.executor import cancel_job, finisher, get_executor

    registry = open_registry()
    finish = finisher(get_executor(get_settings(), registry))  # a Modal deployment's: its `finish`
    console.print(f"{job_id} {cancel_job(registry, job_id, finish_elsewhere=finish).value}")


@commands.command()
def rerun(
    job_id: Annotated[str | None, typer.Argument(help="The job to run again")] = None,
    last: Annotated[str | None, typer.Option(help="Instead: the last job of this project")] = None,
    project: Annotated[str | None, typer.Option(help="Run it in this project (import its config)")] = None,
    entity: Annotated[str | None, typer.Option(help="…for this entity")] = None,
    follow: bool = True,
) -> None:
    """Run a job again with the same spec: in its project, or imported into another."""
    from functions.submit import rerun_doc, submit_job
    from runners.executor import get_executor

    settings = get_settings()
    registry = open_registry()
    if last:
        newest = registry.jobs(project=last, limit=1)
        if not newest:
            raise EvalJobError(f"project {last!r} has no jobs to re-run")
        job_id = newest[0].id
    if not job_id:
        raise EvalJobError("name a job, or --last PROJECT")
    old = registry.get(job_id)
    job = submit_job(
        rerun_doc(old.spec, project, entity),
        trigger=Trigger(kind="cli", detail={"rerun_of": job_id}),
        registry=registry,
        executor=get_executor(settings, registry),
        settings=settings,
    )
    console.print(f"submitted [bold]{job.id}[/bold] (re-run of {job_id})")
    if follow:
        console.print(results_table(_follow(job.id)))


@commands.command()
def resume(job_id: JobId) -> None:
    """Resume a job whose runner died; finished samples are not run again."""
    from runners.executor import get_executor

    settings = get_settings()
    registry = open_registry()
    job = registry.get(job_id)
    if job.status is not JobStatus.RUNNING:
        raise EvalJobError(f"{job_id} is {job.status.value}; only an interrupted running job resumes")
    executor = get_executor(settings, registry)
    shards = [registry.get(i) for i in job.runtime.shards]  # a fanned-out job resumes its shards
    for shard_id in [s.id for s in shards if s.status is JobStatus.RUNNING] or [job_id]:
        executor.dispatch(shard_id)
    console.print(results_table(_follow(job_id)))


@commands.command("export-config")
def export_config(job_id: JobId) -> None:
    """The job as a W&B-compatible config.yaml (re-runnable with `evaljobs run`)."""
    from evaljobs.wandb_config import to_wandb_config

    spec = open_registry().get(job_id).spec
    typer.echo(yaml.safe_dump(to_wandb_config(spec), sort_keys=False), nl=False)
