"""Progress on long work, as a plain callback every part may call.

Long steps (local mode's apply, a multi-stack preview, reading capture windows) report
``(done, total, what)``; how it is shown is the CLI's business (a Rich bar on a terminal, plain
lines in a log). The default shows nothing, so a library caller pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, what: str) -> None:
    """Report nothing."""
