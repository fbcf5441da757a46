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

ROOT = Path(__file__).resolve().parent.parent
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
