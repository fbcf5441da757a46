"""Git runs only through mlops.core.git: one place for its safety settings and its timeouts."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

ROOT = REPO
PARTS = ("bench", "cli", "composition", "core", "infra", "pipelines", "scripts", "templates")
WRAPPER = ROOT / "core" / "git.py"


def _sources() -> list[Path]:
    """Every tool and bench module, without the generated project's files (its own code)."""
    found = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            if "files" not in path.relative_to(ROOT).parts and path != WRAPPER:
                found.append(path)
    return found


def _is_git(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "git"


def git_spawns(tree: ast.AST) -> list[int]:
    """Lines that start git without the wrapper: ``["git", ...]`` or ``which("git")``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple) and node.elts and _is_git(node.elts[0]):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and any(_is_git(arg) for arg in node.args):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name == "which" or (isinstance(node.func, ast.Name) and node.func.id == "which"):
                lines.append(node.lineno)
    return lines


def literal_git_timeouts(tree: ast.AST) -> list[int]:
    """Lines that call the wrapper with a number of seconds of their own, not one it names."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if isinstance(owner, ast.Name) and owner.id == "gitcmd":
            for keyword in node.keywords:
                if keyword.arg == "timeout" and isinstance(keyword.value, ast.Constant):
                    lines.append(node.lineno)
    return lines


def test_the_checks_find_what_they_look_for() -> None:
    spawns = ast.parse('subprocess.run(["git", "status"])\nshutil.which("git")\n')
    assert sorted(git_spawns(spawns)) == [1, 2]
    assert literal_git_timeouts(ast.parse('gitcmd.run("status", timeout=10)')) == [1]
    assert literal_git_timeouts(ast.parse('gitcmd.run("status", timeout=gitcmd.TIMEOUT_S)')) == []


def test_only_the_wrapper_starts_git() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in _sources()
        if (lines := git_spawns(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}, "run git through mlops.core.git (hooks off, locations checked)"


def test_git_timeouts_are_the_wrappers_named_ones() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in _sources()
        if (lines := literal_git_timeouts(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}, "pick a timeout mlops.core.git names (TIMEOUT_S, ...)"
