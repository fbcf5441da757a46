"""What a run is made of, and the id that names it.

A run is reused only when every input is identical: the project's own code (hashed by content,
committed or not), the data contract, the dataset version, the parameters and the framework
version. The git commit is recorded beside the content hash, with ``+dirty`` when the tree has
uncommitted changes, but the id never depends on git: a ``--no-git`` project sees code changes
too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core import git as gitcmd

# Files that are not the project's code even when they sit in its package.
_SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def content_hash(root: Path, files: Iterable[Path]) -> str:
    """sha256 over each file's path (relative to ``root``) and its whole content.

    Paths are hashed with their lengths so that moving bytes between a name and a body, or
    between two files, changes the digest too.
    """
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix().encode()
        body = path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(body).to_bytes(8, "big") + body)
    return digest.hexdigest()


def code_files(package_dir: Path) -> list[Path]:
    """The project's own code: every Python file of its package, caches excluded."""
    return [
        path
        for path in package_dir.rglob("*.py")
        if path.is_file() and not _SKIPPED_PARTS.intersection(path.parts)
    ]


def git_version(project: Path) -> str:
    """The project's git commit (``+dirty`` with uncommitted changes), or ``unversioned``.

    Outside git, or where git is missing, it is ``unversioned``; the run id does not use it.
    """
    try:
        head = gitcmd.call(
            "-C", str(project), "rev-parse", "--short=12", "HEAD", timeout=gitcmd.PROBE_TIMEOUT_S
        )
        if head.returncode != 0:
            return "unversioned"
        dirty = gitcmd.run(
            "-C", str(project), "status", "--porcelain", "--untracked-files=normal",
            timeout=gitcmd.PROBE_TIMEOUT_S,
        )
    except gitcmd.GitError:
        return "unversioned"
    return head.stdout.decode().strip() + ("+dirty" if dirty.strip() else "")


@dataclass(frozen=True)
class RunInputs:
    """Everything that goes into a training run, each as a digest or a plain value.

    Attributes:
        dataset_sha256: the dataset version (sha256 of the ingested bytes).
        contract_sha256: the data contract's canonical JSON, hashed.
        code_sha256: the project's package, hashed by content.
        params: the hyperparameters, after parsing.
        framework: the training framework and its version, e.g. ``scikit-learn==1.7.2``.
        primary_metric: the metric the gate compares (it decides what the run reports).
        seed: the split's seed.
    """

    dataset_sha256: str
    contract_sha256: str
    code_sha256: str
    params: dict[str, Any]
    framework: str
    primary_metric: str
    seed: int

    @property
    def run_id(self) -> str:
        """Runs are named by what went into them: the same inputs give the same id."""
        body = json.dumps(
            [
                self.dataset_sha256,
                self.contract_sha256,
                self.code_sha256,
                self.params,
                self.framework,
                self.primary_metric,
                self.seed,
            ],
            sort_keys=True,
            default=str,
        )
        return f"run-{hashlib.sha256(body.encode()).hexdigest()[:12]}"
