"""One place per fact: the container environment names, the serving port and the drift report's
location are written in ``core/`` only, and imported everywhere else.

infra/ is left out until the CONFIG change of issue 20 lands (it replaces the platform's own
copies); then it joins ``SCANNED``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

from mlops.core.contracts import DRIFT_REPORT, SERVING_PORT

ROOT = REPO
SCANNED = ("pipelines", "composition", "cli")
ENV_NAME = re.compile(r"MLOPS_[A-Z0-9_]+")


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of string statements: docstrings (and bare strings), which only describe."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def fact_literals(source: str) -> Iterator[tuple[int, str]]:
    """Literals of a shared fact in code: an environment name, the port, the report's key."""
    tree = ast.parse(source)
    described = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # f"MLOPS_BUCKET_{zone}" names one too
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and str(first.value).startswith("MLOPS_"):
                yield node.lineno, str(first.value)
        if not isinstance(node, ast.Constant) or id(node) in described:
            continue
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and value == SERVING_PORT:
            yield node.lineno, str(value)
        elif isinstance(value, str) and (ENV_NAME.fullmatch(value) or DRIFT_REPORT[1] in value):
            yield node.lineno, value


def scattered(root: Path) -> list[str]:
    found = []
    for part in SCANNED:
        for path in sorted((root / part).rglob("*.py")):
            if "files" in path.relative_to(root / part).parts:  # a pack's generated code
                continue
            for line, literal in fact_literals(path.read_text()):
                found.append(f"{path.relative_to(root)}:{line}: {literal}")
    return sorted(set(found))


def test_shared_facts_are_written_once_in_core() -> None:
    assert scattered(ROOT) == []


def test_the_scan_sees_each_kind_of_literal(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "job.py").write_text(
        '"""Reads MLOPS_MODEL_URI and drift/latest.json on port 8080 (prose is fine)."""\n'
        "import os\n"
        'uri = os.environ["MLOPS_MODEL_URI"]\n'
        "port = 8080\n"
        'key = "drift/latest.json"\n'
        'bucket = f"MLOPS_BUCKET_{uri}"\n'
        'message = "MLOPS_MODEL_URI is not set"  # a sentence that names it is fine\n'
    )
    assert scattered(tmp_path) == [
        "pipelines/job.py:3: MLOPS_MODEL_URI",
        "pipelines/job.py:4: 8080",
        "pipelines/job.py:5: drift/latest.json",
        "pipelines/job.py:6: MLOPS_BUCKET_",
    ]
