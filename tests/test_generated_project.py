"""The slow tier: install one generated project and run its own lint and tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops.templates.answers import validate_answers
from mlops.templates.engine import Scaffold

pytestmark = pytest.mark.slow


def test_generated_sklearn_project_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the sklearn template's tests need scikit-learn")
    project = tmp_path / "churn-model"
    Scaffold(validate_answers({"name": "churn-model"}), project, git=False).run()

    # Build and install the project itself; its dependencies are already in this environment.
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(project),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    assert (site / "churn_model" / "pipelines" / "train.py").is_file()

    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**_env(), "PYTHONPATH": str(site)},
    )
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert "passed" in tests.stdout and "failed" not in tests.stdout


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
