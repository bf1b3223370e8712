"""`evaljobs secret`: an entity's named secrets (values go in, names come out)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from evaljobs.secrets import check_secret
from evaljobs.stores import open_secret_store
from functions.cli.terminal import console

__all__ = ["commands"]

commands = typer.Typer(no_args_is_help=True)
secrets = typer.Typer(
    help="An entity's secrets, referenced by its jobs as secret://NAME.", no_args_is_help=True
)
commands.add_typer(secrets, name="secret")

Entity = Annotated[str, typer.Option(help="The entity the secret belongs to")]
Name = Annotated[str, typer.Argument(help="Secret name, e.g. OPENAI_API_KEY")]


@secrets.command("set")
def secret_set(name: Name, entity: Entity) -> None:
    """Store a secret for an entity: the value comes from standard input (or a hidden prompt),
    never from the command line, where other users and shell history could read it."""
    check_secret(name)
    value = sys.stdin.read().rstrip("\n") if not sys.stdin.isatty() else typer.prompt(name, hide_input=True)
    check_secret(name, value)
    open_secret_store().put_secret(entity, name, value)
    console.print(f"stored {name} for {entity}; jobs of {entity} reference it as secret://{name}")


@secrets.command("list")
def secret_list(entity: Entity) -> None:
    """The names of an entity's secrets (values are never shown)."""
    for name in open_secret_store().secret_names(entity):
        console.print(name)


@secrets.command("delete")
def secret_delete(name: Name, entity: Entity) -> None:
    """Remove a secret of an entity."""
    if not open_secret_store().delete_secret(entity, name):
        raise typer.BadParameter(f"{entity} has no secret {name}")
    console.print(f"deleted {name} of {entity}")
