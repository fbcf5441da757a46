"""A project's Pulumi program for one stack, run under the SDK's mock runtime (no CLI, offline).

What ``pulumi preview`` would see: the program registers its resources with their inputs
resolved, from the stack's own ``Pulumi.<stack>.yaml``. Local mode, manifest rendering and the
guardrails all read a stack this way.

Both files come from outside and are read bounded (:mod:`mlops.core.yamlfile`): a file that is
empty, not a mapping or not YAML is one error naming it (and the line). A Pulumi secret in the
stack file (``key: {secure: v1:...}``) is not decrypted: the program gets
:data:`~mlops.infra.config.SECRET_PLACEHOLDER` for it, and the key is marked secret in the
runtime, as ``pulumi up`` marks the decrypted value (``Config.get_secret`` gives a secret
``Output``).
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlops.core import yamlfile
from mlops.core.errors import ConfigError, MlopsError, UserError
from mlops.core.text import suggest
from mlops.infra.config import SECRET_PLACEHOLDER, is_secure
from mlops.infra.mock_runtime import CALLER_IDENTITY, MockedProgram, run_program

# Pulumi's stack names: letters, digits, hyphens, underscores and periods. A file named otherwise
# (`Pulumi.*.yaml`, a name with a newline) is no stack: its name would reach CI's shell lines.
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def stacks(project: Path) -> list[str]:
    """The project's stacks: every ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml``."""
    names = (p.name[len("Pulumi.") : -len(".yaml")] for p in project.glob("Pulumi.*.yaml"))
    return sorted(n for n in names if _STACK_NAME.fullmatch(n))


def stack_config(project: Path, stack: str) -> tuple[str, Path, dict[str, Any]]:
    """The project's name, its program directory and ``stack``'s config.

    Secure values (``{"secure": "v1:..."}``) are returned as the file holds them: the config
    models read them as present and redacted, :func:`run_project_program` as secrets.

    Raises:
        UserError: no Pulumi.yaml, or no such stack (the message lists the project's stacks).
        YamlFileError: either file is unreadable, not YAML (its line) or of the wrong shape.
    """
    project_file = project / "Pulumi.yaml"
    if not project_file.is_file():
        raise UserError(f"{project} is not a Pulumi project: Pulumi.yaml is missing")
    pulumi_yaml = yamlfile.load_mapping(
        project_file, empty_ok=False, what="the project's name, runtime and main"
    )
    name, main = pulumi_yaml.get("name"), pulumi_yaml.get("main", ".")
    if not isinstance(name, str) or not name:
        raise yamlfile.YamlFileError(
            project_file, "has no `name`", "name the project: `name: NAME`"
        )
    if not isinstance(main, str):
        raise yamlfile.YamlFileError(
            project_file, "`main` must be a directory", "e.g. `main: infra`"
        )
    path = project / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = stacks(project)
        raise UserError(
            f"no stack '{stack}' in {project}{suggest(stack, known)}; stacks: {', '.join(known)}"
        )
    document = yamlfile.load_mapping(path, empty_ok=False, what="the stack's `config:`")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise yamlfile.YamlFileError(
            path,
            f"`config:` must be a mapping of keys to values, found a {type(config).__name__}",
            "restore its `key: value` lines",
        )
    return name, project / main, {str(k): v for k, v in config.items()}


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

    Secure values in ``config`` (``{"secure": ...}``, as the stack file holds them) reach the
    program as :data:`~mlops.infra.config.SECRET_PLACEHOLDER`, their keys marked secret.

    Raises:
        UserError: the program failed: where (a file of the project under ``root``, and its
            line) and what it raised, not how the runtime got there.
    """
    secret_keys = [key for key, value in config.items() if is_secure(value)]
    plain = {k: SECRET_PLACEHOLDER if k in secret_keys else v for k, v in config.items()}

    def marked() -> Mapping[str, Any] | None:
        if secret_keys:  # the runtime's config is set by now: mark the secrets in it
            from pulumi.runtime.config import CONFIG, set_all_config

            set_all_config(dict(CONFIG.get()), secret_keys)
        return program()

    try:
        return run_program(marked, project=name, stack=stack, config=plain, invokes=CALLER_IDENTITY)
    except ConfigError as exc:
        if exc.source is not None:
            raise
        raise _located(exc, root / f"Pulumi.{stack}.yaml", name) from None
    except MlopsError:
        raise
    except Exception as exc:
        raise UserError(
            f"the program of stack '{stack}' failed{_where(exc, root)}: {type(exc).__name__}: {exc}"
        ) from exc


def _located(exc: ConfigError, path: Path, name: str) -> ConfigError:
    """``exc`` naming the stack file and the line of each key it holds there.

    A key is found as the file spells it: ``<project>:key`` or ``aws:region`` under ``config:``,
    or inside a nested section (``<project>:training: {instanceType: ...}``). A missing key is
    in no line, and says so itself.
    """
    if not path.is_file():
        return exc
    try:
        _, lines = yamlfile.load_with_lines(path)
    except yamlfile.YamlFileError:
        return exc.located(path, {})
    found: dict[str, int] = {}
    for key, _message in exc.problems:
        last = key.split(".")[-1]
        exact = [("config", f"{name}:{key}"), ("config", key)]
        line = next((lines[p] for p in exact if p in lines), None)
        if line is None:  # the nested form: the key inside its section
            nested = (
                n for p, n in lines.items()
                if len(p) > 2 and p[0] == "config" and p[-1] == last
            )  # fmt: skip
            line = next(nested, None)
        if line is not None:
            found[key] = line
    return exc.located(path, found)


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
