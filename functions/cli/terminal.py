"""Where the commands write, and the one place an `EvalJobError` becomes `error: …` and an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from evaljobs.errors import EvalJobError, JobValidationError

if TYPE_CHECKING:
    from typer._click import Context  # the (vendored) click context `TyperGroup.invoke` is typed with

__all__ = ["ErrorReportingGroup", "console", "err"]

console = Console()
err = Console(stderr=True, soft_wrap=True)


class ErrorReportingGroup(TyperGroup):
    """The root command group. Every command runs inside its `invoke`, so an `EvalJobError` from any
    of them prints `error: …` in red on stderr and exits 2 for an invalid job, 1 otherwise.

    It sits in the click group rather than in `Typer.__call__` because `typer.testing.CliRunner`
    calls the group's `main` directly, while the console script goes through `Typer.__call__`;
    both reach `invoke`.
    """

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvalJobError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2 if isinstance(exc, JobValidationError) else 1) from exc
