"""The slow tier: a generated project installs on its own and passes its own lint and tests.

The project is installed into a fresh virtual environment that holds nothing of this
checkout's: mlops-stack comes from the wheel `mlops init` wrote into the project's wheels/, the
rest from the package index, exactly as `make install` does on a new machine or in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

pytestmark = pytest.mark.slow


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a new shell with only ``venv`` activated."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    keep.pop("VIRTUAL_ENV", None)
    path = [
        p for p in keep.get("PATH", "").split(os.pathsep) if Path(sys.executable).parent != Path(p)
    ]
    return {**keep, "VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([str(venv / "bin"), *path])}


def test_generated_sklearn_project_installs_in_a_fresh_venv_and_passes_its_tests(
    tmp_path: Path,
) -> None:
    project = tmp_path / "churn-model"
    Scaffold(validate_answers({"name": "churn-model"}), project, git=False).run()
    wheels = list((project / "wheels").glob("mlops_stack-*.whl"))
    assert len(wheels) == 1, "the project carries the mlops-stack that rendered it"

    venv = tmp_path / "venv"
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    env = clean_env(venv)
    if Path(uv).is_file():
        subprocess.run([uv, "venv", "-q", str(venv)], check=True, env=env)
        # uv keeps find-links wheels by file name, and every checkout's wheel is 0.1.0: refresh
        # it, or a wheel cached from an earlier source state is installed instead of this one.
        install = [uv, "pip", "install", "--refresh-package", "mlops-stack"]
        install += ["--python", str(venv / "bin" / "python")]
    else:  # pip: slower, same outcome
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    # What `make install` runs: the project's own dev extra, mlops-stack from wheels/.
    done = subprocess.run(
        [*install, "--find-links", "wheels", "-e", ".[dev]"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    python = str(venv / "bin" / "python")
    located = subprocess.run(
        [python, "-c", "import mlops, sys; print(mlops.__path__[0])"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # Not this checkout: the project's own environment, from the wheel.
    assert str(venv) in located.stdout and "/work/" not in located.stdout.replace(str(venv), "")

    lint = subprocess.run(
        [python, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not pulumi_cli"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert "passed" in tests.stdout and "failed" not in tests.stdout
