"""The root ``mlops`` app: it only composes the command modules."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.commands import (
    approve,
    demo,
    deploy,
    doctor,
    init,
    local,
    manifests,
    monitor,
    preview,
    runs,
    serve,
    templates,
    update,
    version,
)
from mlops.cli.output import DEBUG

app = typer.Typer(
    name="mlops",
    help="MLOps practice as infrastructure as code: scaffold, provision and run ML platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
COMMANDS = (
    init,
    update,
    templates,
    demo,
    local,
    runs,
    approve,
    serve,
    deploy,
    monitor,
    preview,
    manifests,
    doctor,
    version,
)
for command in COMMANDS:
    app.add_typer(command.app)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    """MLOps practice as infrastructure as code: scaffold, provision and run ML platforms."""
    DEBUG["on"] = debug


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # `python -m mlops.cli.main`, as `mlops serve --background` runs it
    run()
