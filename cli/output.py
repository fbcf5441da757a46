"""Console output and the one place where errors become exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from mlops.core.errors import MlopsError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Print an :class:`MlopsError` in red on stderr and exit with its code, without a traceback."""
    try:
        yield
    except MlopsError as exc:
        first, _, rest = str(exc).partition("\n")
        err_console.print(f"[bold red]error:[/] {first}", markup=True, soft_wrap=True)
        if rest:
            err_console.print(rest, markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
