"""scripts/bootstrap.sh, the set-up both README commands run, on an interpreter without pip.

A fresh machine's ``python3`` often has no pip (Debian's without python3-pip, or a uv-made
venv's): the bootstrap then gives the new venv a pip of its own to fetch uv with, and must not
fail on the way (it once called ``ensurepip -q``, an option ensurepip does not have).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_bootstrap_installs_with_a_python_that_has_no_pip(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).is_file():
        pytest.skip("uv makes the pip-less interpreter; scripts/bootstrap.sh installs it")
    bare = tmp_path / "bare"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(bare)], check=True)
    python = bare / "bin" / "python"
    no_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True)
    assert no_pip.returncode != 0, "the interpreter under test must lack pip"

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env |= {"PYTHON": str(python), "MLOPS_VENV": str(venv)}
    done = subprocess.run(
        ["bash", "-c", "source scripts/bootstrap.sh local && mlops version"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = (venv / "install.log").read_text() if (venv / "install.log").exists() else ""
    assert done.returncode == 0, done.stderr[-2000:] + log[-2000:]
    assert (venv / "bin" / "uv").is_file(), "uv was installed through the venv's own pip"
    assert "mlops-stack" in done.stdout
