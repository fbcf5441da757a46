"""A project's Pulumi program for one stack, run under the SDK's mock runtime (no CLI, offline).

What ``pulumi preview`` would see: the program registers its resources with their inputs
resolved, from the stack's own ``Pulumi.<stack>.yaml``. Local mode, manifest rendering and the
guardrails all read a stack this way.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlops.core.errors import MlopsError, UserError
from mlops.core.text import suggest
from mlops.infra.testing import CALLER_IDENTITY, MockedProgram, run_program


def stacks(project: Path) -> list[str]:
    """The project's stacks: every ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project.glob("Pulumi.*.yaml"))


def stack_config(project: Path, stack: str) -> tuple[str, Path, dict[str, Any]]:
    """The project's name, its program directory and ``stack``'s config.

    Raises:
        UserError: no Pulumi.yaml, or no such stack (the message lists the project's stacks).
    """
    try:
        pulumi_yaml = yaml.safe_load((project / "Pulumi.yaml").read_text())
    except FileNotFoundError:
        raise UserError(f"{project} is not a Pulumi project: Pulumi.yaml is missing") from None
    path = project / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = stacks(project)
        raise UserError(
            f"no stack '{stack}' in {project}{suggest(stack, known)}; stacks: {', '.join(known)}"
        )
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return str(pulumi_yaml["name"]), project / pulumi_yaml.get("main", "."), dict(config)


def capture(project: Path, stack: str) -> MockedProgram:
    """Run ``stack``'s program under mocks; return every resource it registered.

    Raises:
        UserError: no such stack, or the program itself failed (the message names the line of
            the project's code that raised, and the error).
    """
    name, program_dir, config = stack_config(project, stack)

    def program() -> None:
        runpy.run_path(str(program_dir / "__main__.py"))

    return run_project_program(program, project, name, stack, config)


def run_project_program(
    program: Callable[[], Mapping[str, Any] | None],
    root: Path,
    name: str,
    stack: str,
    config: Mapping[str, Any],
) -> MockedProgram:
    """Run a project's program under mocks, naming its own failing line when it raises.

    Raises:
        UserError: the program failed: where (a file of the project under ``root``, and its
            line) and what it raised, not how the runtime got there.
    """
    try:
        return run_program(
            program, project=name, stack=stack, config=config, invokes=CALLER_IDENTITY
        )
    except MlopsError:
        raise
    except Exception as exc:
        raise UserError(
            f"the program of stack '{stack}' failed{_where(exc, root)}: {type(exc).__name__}: {exc}"
        ) from exc


def _where(exc: BaseException, project: Path) -> str:
    """`` at infra/__main__.py:17`` for the deepest frame in the project's own files."""
    import traceback

    if isinstance(exc, SyntaxError) and exc.filename:
        frames = [(exc.filename, exc.lineno or 0)]
    else:
        frames = [(f.filename, f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]
    root = project.resolve()
    for filename, line in reversed(frames):
        path = Path(filename).resolve()
        if path.is_relative_to(root):
            return f" at {path.relative_to(root)}:{line}"
    return ""
