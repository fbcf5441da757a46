"""The root ``mlops`` app: it only composes the command modules."""

from __future__ import annotations

import typer

from mlops.cli.commands import demo, doctor, init, local, runs, version

app = typer.Typer(
    name="mlops",
    help="MLOps practice as infrastructure as code: scaffold, provision and run ML platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
for command in (init, demo, local, runs, doctor, version):
    app.add_typer(command.app)


def run() -> None:
    """Console-script entry point."""
    app()
