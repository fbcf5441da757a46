"""The layers hold: a contract over every import, function-level and dynamic ones included.

Lifecycle (pipelines/) imports neither the platform (infra/), the scaffold nor the CLI.
Platform imports neither the lifecycle, the scaffold nor the CLI. Scaffold never imports the
CLI or the composition layer. Core imports no other part. Only the CLI imports the
composition layer, which wires the others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

ROOT = REPO
LAYERS = ("cli", "composition", "core", "infra", "pipelines", "templates")
FORBIDDEN: dict[str, set[str]] = {
    "core": {"cli", "composition", "infra", "pipelines", "templates"},
    "pipelines": {"cli", "composition", "infra", "templates"},
    "infra": {"cli", "composition", "pipelines", "templates"},
    "templates": {"cli", "composition"},
    "composition": {"cli"},
    "cli": set(),
}


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """Every module a file imports, wherever the import stands.

    ``import``, ``from``, and ``importlib.import_module("...")`` / ``__import__("...")`` with a
    literal name.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from mlops import infra` imports mlops.infra
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in {"import_module", "__import__"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield node.lineno, first.value


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mlops" and parts[1] in LAYERS else None


def violations(root: Path) -> list[str]:
    found = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            # A template pack's files are the generated project's code, not ours.
            if "files" in path.relative_to(root / layer).parts:
                continue
            for line, module in imported_modules(path.read_text()):
                target = layer_of(module)
                if target in FORBIDDEN[layer]:
                    rel = path.relative_to(root)
                    found.append(f"{rel}:{line}: {layer} imports {module}")
    return sorted(set(found))


def test_no_layer_imports_what_it_must_not() -> None:
    assert violations(ROOT) == []


def test_the_contract_sees_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "sneaky.py").write_text(
        "import json\n"
        "def f():\n"
        "    from mlops.infra import localmode\n"
        "    import mlops.cli.main\n"
        "    return importlib.import_module('mlops.composition.run')\n"
        "from mlops import templates\n"
    )
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "ok.py").write_text("from mlops.core.errors import UserError\n")
    (tmp_path / "templates" / "aws" / "files").mkdir(parents=True)
    (tmp_path / "templates" / "aws" / "files" / "gen.py").write_text("import mlops.cli\n")
    assert violations(tmp_path) == [
        "pipelines/sneaky.py:3: pipelines imports mlops.infra",
        "pipelines/sneaky.py:3: pipelines imports mlops.infra.localmode",
        "pipelines/sneaky.py:4: pipelines imports mlops.cli.main",
        "pipelines/sneaky.py:5: pipelines imports mlops.composition.run",
        "pipelines/sneaky.py:6: pipelines imports mlops.templates",
    ]


# --- the lifecycle's doors: ports only ------------------------------------------------------

# Adapters: what talks to a platform. The lifecycle reaches them only through ports.py.
ADAPTERS = ("mlops.pipelines.adapters", "mlops.pipelines.lake", "mlops.pipelines.aws")
# Not lifecycle steps: the adapters themselves; the container entry points, which pick the
# adapters for the job they run from its environment (as the composition layer does for the
# CLI); and registry.py, the SageMaker registry calls the SageMakerRegistry adapter wraps
# (its run records are the lifecycle's; splitting the two is the next step).
NOT_STEPS = (
    "adapters/",
    "lake.py",
    "aws.py",
    "container.py",
    "monitor_job.py",
    "registry.py",
    "executors.py",  # they run the steps (in-process, or as a SageMaker pipeline execution)
)


def adapter_imports(root: Path) -> list[str]:
    """Lifecycle step modules (pipelines/) that import an adapter module."""
    found = []
    for path in sorted((root / "pipelines").rglob("*.py")):
        rel = path.relative_to(root / "pipelines").as_posix()
        if rel.startswith(NOT_STEPS):
            continue
        for line, module in imported_modules(path.read_text()):
            for adapter in ADAPTERS:
                if module == adapter or module.startswith(f"{adapter}."):
                    found.append(f"pipelines/{rel}:{line}: imports {adapter}")
    return sorted(set(found))


def test_the_lifecycle_steps_reach_a_platform_only_through_ports() -> None:
    assert adapter_imports(ROOT) == []


def test_the_ports_rule_sees_an_adapter_import(tmp_path: Path) -> None:
    (tmp_path / "pipelines" / "adapters").mkdir(parents=True)
    (tmp_path / "pipelines" / "adapters" / "aws.py").write_text("import boto3\n")
    (tmp_path / "pipelines" / "step.py").write_text(
        "from mlops.pipelines.ports import ObjectStore\n"
        "def f():\n"
        "    from mlops.pipelines.lake import Lake\n"
    )
    assert adapter_imports(tmp_path) == ["pipelines/step.py:3: imports mlops.pipelines.lake"]


# --- no import cycles, function-level imports included ----------------------------------------

# templates/answers <-> templates/pack: the TEMPLATES change of issue 20 removes it; then this
# set is empty.
KNOWN_CYCLES = {frozenset({"mlops.templates.answers", "mlops.templates.pack"})}


def module_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["mlops", *parts])


def runtime_imports(source: str) -> Iterator[str]:
    """What a file imports when it runs: every import but those under ``if TYPE_CHECKING``."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from a import b``: b if it is a module)."""
    files = {
        module_of(root, path): path
        for layer in LAYERS
        for path in sorted((root / layer).rglob("*.py"))
        if "files" not in path.relative_to(root / layer).parts
    }
    return {
        module: {
            target
            for target in runtime_imports(path.read_text())
            if target in files and target != module
        }
        for module, path in files.items()
    }


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Each group of modules that import each other, directly or round a longer loop."""
    reach = {module: reachable(graph, module) for module in graph}
    groups = {
        frozenset({module} | {m for m in reach[module] if module in reach[m]})
        for module in graph
        if module in reach[module]
    }
    return sorted(groups, key=sorted)


def test_no_module_imports_itself_round_a_cycle() -> None:
    found = {c for c in cycles(import_graph(ROOT)) if c not in KNOWN_CYCLES}
    assert found == set(), [sorted(c) for c in found]


def test_the_cycle_walk_sees_function_level_imports(tmp_path: Path) -> None:
    (tmp_path / "composition").mkdir()
    (tmp_path / "composition" / "run.py").write_text(
        "def f():\n    from mlops.composition.monitor import g\n"
    )
    (tmp_path / "composition" / "monitor.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mlops.core import contracts\n"
        "def g():\n    from mlops.composition import run\n"
    )
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "contracts.py").write_text("import mlops.composition.monitor\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [frozenset({"mlops.composition.run", "mlops.composition.monitor"})]
