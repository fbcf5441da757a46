"""Console output and the one place where errors become exit codes.

Plain lines go through Click's styled echo; Rich is imported only by the commands that draw
tables or trees, because importing it costs more than rendering a whole project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
def progress_display(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A ``(done, total, what)`` callback that shows progress while the block runs.

    On a terminal: a Rich bar with counts (gone when done). Otherwise a plain line at each
    quarter, so logs stay readable. Both on stderr.
    """
    import sys

    # On stderr: stdout may be a report (`--json`) that progress must not corrupt.
    if not sys.stderr.isatty():
        shown = {"quarter": -1}

        def plain(done: int, total: int, what: str) -> None:
            quarter = 4 * done // total if total else 4
            if quarter > shown["quarter"]:
                shown["quarter"] = quarter
                echo(f"{label}: {done}/{total}", err=True)

        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def rich(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{label}: {what}"[:60])

        yield rich


# Set by `mlops --debug`: unexpected errors then show their traceback.
DEBUG = {"on": False}


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Print an error in red on stderr and exit with its code, without a traceback.

    An :class:`MlopsError` says what to do; anything else is a case the tool did not foresee,
    reported in one line with how to see more (``mlops --debug``), which re-raises it.
    """
    import click

    try:
        yield
    except MlopsError as exc:
        first, _, rest = str(exc).partition("\n")
        echo(f"error: {first}", "red", err=True)
        if rest:
            echo(rest, err=True)
        raise typer.Exit(exc.exit_code) from None
    except (click.exceptions.Exit, click.exceptions.Abort, click.exceptions.ClickException):
        raise
    except KeyboardInterrupt:
        echo("interrupted", "red", err=True)
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # The reader went away (`mlops preview | head`): stop quietly, as Unix tools do, and
        # keep the interpreter's final flush from failing on the closed pipe.
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except Exception as exc:
        if DEBUG["on"]:
            raise
        echo(f"error: unexpected {type(exc).__name__}: {exc}", "red", err=True)
        echo("run the command again with `mlops --debug ...` to see where it failed", err=True)
        raise typer.Exit(1) from None
