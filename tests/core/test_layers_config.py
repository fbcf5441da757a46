"""Components never import the config module: the platform hands each its own settings.

A component module under ``infra/aws`` or ``infra/k8s`` takes its settings section and resolved
outputs as plain arguments (as pulumi-awsx's components do). Only the config modules themselves
and the platform components, where config meets components, may import them; function-level
imports count too.
"""

from __future__ import annotations

from pathlib import Path

from test_layers import ROOT, imported_modules

CONFIG_MODULES = ("mlops.infra.config", "mlops.infra.k8s.config")
# Where config meets components (the platform) and the config modules themselves.
MAY_IMPORT_CONFIG = {"infra/aws/platform.py", "infra/k8s/platform.py", "infra/k8s/config.py"}


def config_importers(root: Path) -> list[str]:
    """Every component module that imports a config module, as ``path:line: module``."""
    found = []
    for area in ("infra/aws", "infra/k8s"):
        for path in sorted((root / area).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in MAY_IMPORT_CONFIG:
                continue
            for line, module in imported_modules(path.read_text()):
                if module in CONFIG_MODULES:
                    found.append(f"{rel}:{line}: imports {module}")
    return sorted(set(found))


def test_no_component_imports_the_config_module() -> None:
    assert config_importers(ROOT) == []


def test_the_rule_sees_every_kind_of_config_import(tmp_path: Path) -> None:
    (tmp_path / "infra" / "aws").mkdir(parents=True)
    (tmp_path / "infra" / "k8s").mkdir(parents=True)
    (tmp_path / "infra" / "aws" / "endpoint.py").write_text(
        "from mlops.infra.config import StackConfig\ndef f():\n    import mlops.infra.k8s.config\n"
    )
    (tmp_path / "infra" / "aws" / "settings.py").write_text("from mlops.infra import config\n")
    (tmp_path / "infra" / "aws" / "platform.py").write_text("from mlops.infra.config import X\n")
    (tmp_path / "infra" / "k8s" / "platform.py").write_text("import mlops.infra.k8s.config\n")
    (tmp_path / "infra" / "k8s" / "workloads.py").write_text("from mlops.core import contracts\n")
    assert config_importers(tmp_path) == [
        "infra/aws/endpoint.py:1: imports mlops.infra.config",
        "infra/aws/endpoint.py:3: imports mlops.infra.k8s.config",
        "infra/aws/settings.py:1: imports mlops.infra.config",
    ]


# -- one place per fact: the platform side takes the shared facts from mlops.core.contracts ----


def fact_literals(root: Path) -> list[str]:
    """Literals in ``infra/`` that spell a shared fact contracts already names.

    A container environment name (``MLOPS_...``), the serving port and the default image tag
    are each written once, in ``core/contracts.py``.
    """
    import ast

    from mlops.core.contracts import DEFAULT_IMAGE_TAG, SERVING_PORT

    found = []
    for path in sorted((root / "infra").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Constant):
                continue
            value = node.value
            if (
                (isinstance(value, str) and value.startswith("MLOPS_"))
                or (type(value) is int and value == SERVING_PORT)
                or value == DEFAULT_IMAGE_TAG
            ):
                found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {value!r}")
    return sorted(found)


def test_the_platform_spells_no_shared_fact_itself() -> None:
    assert fact_literals(ROOT) == []


def test_the_fact_rule_sees_a_literal(tmp_path: Path) -> None:
    (tmp_path / "infra" / "k8s").mkdir(parents=True)
    (tmp_path / "infra" / "k8s" / "pod.py").write_text(
        'ENV = {"MLOPS_MODEL_URI": ""}\nPORT = 8080\nTAG = "0.1.0"\nOTHER = "MLOPS"\n'
    )
    assert fact_literals(tmp_path) == [
        "infra/k8s/pod.py:1: 'MLOPS_MODEL_URI'",
        "infra/k8s/pod.py:2: 8080",
        "infra/k8s/pod.py:3: '0.1.0'",
    ]
