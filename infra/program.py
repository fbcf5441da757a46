"""A project's Pulumi program for one stack, run under the SDK's mock runtime (no CLI, offline).

What ``pulumi preview`` would see: the program registers its resources with their inputs
resolved, from the stack's own ``Pulumi.<stack>.yaml``. Local mode, manifest rendering and the
guardrails all read a stack this way.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import yaml

from mlops.core.errors import UserError
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
    """Run ``stack``'s program under mocks; return every resource it registered."""
    name, program_dir, config = stack_config(project, stack)

    def program() -> None:
        runpy.run_path(str(program_dir / "__main__.py"))

    return run_program(program, project=name, stack=stack, config=config, invokes=CALLER_IDENTITY)
