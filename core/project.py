"""Finding the project a command works on, from wherever in it the user stands."""

from __future__ import annotations

from pathlib import Path

from mlops.core.errors import UserError

# What makes a directory an mlops project: its Pulumi project file and the answers record
# `mlops init` writes (a plain Pulumi project, like this repository, has no .mlops/).
MARKERS = ("Pulumi.yaml", ".mlops")


def is_project(directory: Path) -> bool:
    """Whether ``directory`` is the root of an mlops project."""
    return (directory / MARKERS[0]).is_file() and (directory / MARKERS[1]).is_dir()


def find_project(start: Path | None = None) -> Path:
    """The root of the project holding ``start`` (default: the current directory).

    Walks up from ``start`` to the first directory with ``Pulumi.yaml`` and ``.mlops/``, so every
    command works from any subdirectory of a project.

    Raises:
        UserError: no such directory from ``start`` up to the file system's root.
    """
    here = (start if start is not None else Path.cwd()).resolve()
    if not here.exists():
        raise UserError(f"{here} does not exist; pass --project DIR with a project directory")
    for directory in (here, *here.parents):
        if is_project(directory):
            return directory
    raise UserError(
        f"{here} is not inside an mlops project (no directory from there up holds Pulumi.yaml"
        " and .mlops/): cd into a project made by `mlops init`, or pass --project DIR"
    )
