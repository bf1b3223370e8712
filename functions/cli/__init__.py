"""`evaljobs`: the command line. Thin: it calls functions/ and the registry, and renders.

Commands live by subject (`jobs`, `reports`, `service`, `secrets`); their tables in `functions.tables`. An
`EvalJobError` from any command is reported once, by `terminal.ErrorReportingGroup`.
"""

from __future__ import annotations

import typer

from functions.cli import jobs, reports, secrets, service
from functions.cli.terminal import ErrorReportingGroup

__all__ = ["app"]

app = typer.Typer(
    cls=ErrorReportingGroup,
    help="Evaluate LLMs on standard benchmarks.",
    no_args_is_help=True,
    add_completion=False,
)
# Without a name, a sub-app's commands join the top level, in this order.
app.add_typer(jobs.commands)
app.add_typer(reports.commands)
app.add_typer(service.commands)
app.add_typer(secrets.commands)
