"""Options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="The project directory. [default: the project around the current directory]",
    ),
]


def require_stack(project: Path, stack: str) -> None:
    """Refuse a stack the project does not have, with a did-you-mean, before any work starts.

    Raises:
        UserError: no such stack (the message names the near miss and lists the stacks).
    """
    from mlops.infra.program import stack_config

    stack_config(project, stack)
