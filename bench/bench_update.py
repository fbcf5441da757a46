"""`mlops update` on a generated project with 10 edited files: wall time.

The project is made by `mlops init` (git, the pristine render recorded), 10 of its files are
edited and committed, and a newer version of the aws pack (its file tree copied, those 10
files' templates changed elsewhere, the version raised) is installed in place of the bundled
one by the small runner below, which then runs the real CLI: each run is a fresh process,
interpreter start and imports included, like a user's `mlops update`.

Usage: python bench/bench_update.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops.core import git as gitcmd

RUNNER = r"""
import dataclasses, sys
from pathlib import Path
import mlops.templates.pack as packs
bundled = packs.load_pack("aws")
newer = dataclasses.replace(bundled, version="9.0.0", files_root=Path(sys.argv[1]))
packs.load_pack = lambda name: newer
import mlops.templates.engine as engine, mlops.templates.update as update
engine.load_pack = update.load_pack = packs.load_pack
from mlops.cli.main import app
sys.argv = ["mlops", "update", "--project", sys.argv[2]]
app()
"""
# (file in the project, its template in the pack): the user edits the first line region of
# the file; the newer pack appends to its template (another region), so each merges cleanly.
FILES = [
    ("Makefile", "Makefile.jinja"),
    ("README.md", "README.md.jinja"),
    ("Dockerfile", "Dockerfile.jinja"),
    (".gitignore", "gitignore"),
    (".dockerignore", "dockerignore"),
    ("pyproject.toml", "pyproject.toml.jinja"),
    ("tests/test_infra.py", "tests/test_infra.py.jinja"),
    ("tests/test_pipeline.py", "tests/test_pipeline.py.jinja"),
    ("tests/conftest.py", "tests/conftest.py.jinja"),
    ("infra/__main__.py", "infra/__main__.py.jinja"),
]


def git(cwd: Path, *args: str) -> None:
    gitcmd.run(*args, cwd=cwd)


def prepare(root: Path) -> tuple[Path, Path]:
    """A project with 10 committed edits, and the newer pack's file tree."""
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import load_pack, validate_answers

    project = root / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "github"}), project).run()
    for path, _ in FILES:
        target = project / path
        lines = target.read_text().splitlines(keepends=True)
        comment = "// " if path.endswith(".json") else "# "
        target.write_text(lines[0] + f"{comment}edited here\n" + "".join(lines[1:]))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "ten edits")
    files = root / "pack"
    shutil.copytree(load_pack("aws").files_root, files)
    for _, template in FILES:
        target = files / template
        target.write_text(target.read_text() + "\n# added by the template's next version\n")
    return project, files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for role in ("AUTHOR", "COMMITTER"):
        os.environ.setdefault(f"GIT_{role}_NAME", "bench")
        os.environ.setdefault(f"GIT_{role}_EMAIL", "bench@localhost")
    walls = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
            project, files = prepare(Path(tmp))
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", RUNNER, str(files), str(project)],
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - start)
            merged = proc.stdout.count(": merged")
            if proc.returncode != 0 or merged != len(FILES):
                raise SystemExit(
                    f"update did not merge all {len(FILES)} files:\n{proc.stdout}{proc.stderr}"
                )
    print(
        f"mlops update, {len(FILES)} edited files merged (each a three-way merge), fresh process:"
        f" median {statistics.median(walls):.2f} s, min {min(walls):.2f} s over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
