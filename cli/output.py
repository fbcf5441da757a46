"""Console output and the one place where errors become exit codes.

Plain lines go through Click's styled echo; Rich is imported only by the commands that draw
tables or trees, because importing it costs more than rendering a whole project.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

import typer

from mlops.core.errors import MlopsError

if TYPE_CHECKING:
    from rich.console import Console


def echo(message: str, color: str | None = None, *, err: bool = False) -> None:
    """Print one line, optionally coloured."""
    typer.secho(message, fg=color, err=err)


@cache
def rich_console() -> Console:
    """A Rich console for tables and trees, created on first use."""
    from rich.console import Console

    return Console(highlight=False)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Print an :class:`MlopsError` in red on stderr and exit with its code, without a traceback."""
    try:
        yield
    except MlopsError as exc:
        first, _, rest = str(exc).partition("\n")
        echo(f"error: {first}", "red", err=True)
        if rest:
            echo(rest, err=True)
        raise typer.Exit(exc.exit_code) from None
