"""``mlops version``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from mlops.cli.output import console

app = typer.Typer()


def package_version() -> str:
    """The installed mlops-stack version."""
    try:
        return version("mlops-stack")
    except PackageNotFoundError:
        return "0+unknown"


@app.command("version")
def show_version() -> None:
    """Print the mlops-stack version."""
    console.print(f"mlops-stack {package_version()}")
