"""``mlops version``."""

from __future__ import annotations

import typer

from mlops.cli.output import echo, exit_on_error

app = typer.Typer()


def package_version() -> str:
    """The installed mlops-stack version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlops-stack")
    except PackageNotFoundError:
        return "0+unknown"


@app.command("version")
def show_version() -> None:
    """Print the mlops-stack version."""
    with exit_on_error():
        echo(f"mlops-stack {package_version()}")
