"""Template packs are discovered, each brings its own questions, and `mlops init` asks them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, build_file_tree

from mlops.templates.pack import available_packs

TINY_PACK = """
from pathlib import Path

from pydantic import Field

from mlops.templates.answers import BaseAnswers
from mlops.templates.pack import FileSpec, TemplatePack


class TinyAnswers(BaseAnswers):
    gpu_count: int = Field(default=1, ge=0, le=8, description="GPUs per training pod")
    kserve: bool = Field(default=True, description="Serve with KServe")


PACK = TemplatePack(
    name="tiny",
    version="0.3.0",
    description="a pack from another distribution",
    files_root=Path(__file__).parent / "files",
    answers_model=TinyAnswers,
    manifest=lambda answers: [FileSpec("README.md.jinja", "README.md")],
    build_context=lambda answers: answers.to_record(),
)
"""


DIST = "tinypack-0.3.0.dist-info"


def install_tiny_pack(site: Path) -> Path:
    """A distribution with its own pack, registered the way any package would register one."""
    build_file_tree(
        site,
        {
            "tinypack/__init__.py": TINY_PACK,
            "tinypack/files/README.md.jinja": (
                "{{ name }}: {{ gpu_count }} GPU(s), kserve={{ kserve }}\n"
            ),
            f"{DIST}/METADATA": "Metadata-Version: 2.1\nName: tinypack\nVersion: 0.3.0\n",
            f"{DIST}/entry_points.txt": "[mlops.templates]\ntiny = tinypack:PACK\n",
        },
    )
    return site


def mlops(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import sys; from mlops.cli.main import app; app(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_bundled_packs_come_from_the_entry_point_group() -> None:
    assert available_packs()["aws"] == "mlops.templates.aws:PACK"


def test_an_installed_pack_brings_its_own_questions(tmp_path: Path) -> None:
    site = install_tiny_pack(tmp_path / "site")
    help_text = mlops(site, "init", "--help", cwd=tmp_path).stdout
    assert "Questions of template 'tiny'" in help_text and "--gpu-count" in help_text
    done = mlops(
        site,
        "init",
        "edge-model",
        "--template",
        "tiny",
        "--gpu-count",
        "2",
        "--no-kserve",
        "--no-input",
        "--no-git",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (
        tmp_path / "edge-model" / "README.md"
    ).read_text() == "edge-model: 2 GPU(s), kserve=False\n"
    record = yaml.safe_load((tmp_path / "edge-model" / ".mlops" / "answers.yml").read_text())
    assert record["template"] == "tiny" and record["answers"]["gpu_count"] == 2


def test_a_question_of_another_pack_is_refused_with_the_packs_own(tmp_path: Path) -> None:
    site = install_tiny_pack(tmp_path / "site")
    wrong = mlops(
        site,
        "init",
        "edge",
        "--template",
        "tiny",
        "--framework",
        "xgboost",
        "--no-input",
        cwd=tmp_path,
    )
    assert wrong.returncode == 2
    assert "unknown option --framework for template 'tiny'" in wrong.stderr
    assert "--gpu-count" in wrong.stderr and "Traceback" not in wrong.stderr
    bad = mlops(
        site, "init", "edge", "--template", "tiny", "--gpu-count", "9", "--no-input", cwd=tmp_path
    )
    assert bad.returncode == 2 and "gpu_count" in bad.stderr
    assert not (tmp_path / "edge").exists()


TEMPLATES = REPO / "templates"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, function-level imports included."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_common_base_is_no_pack_of_its_own() -> None:
    assert {"aws", "k8s"} <= set(available_packs())
    assert "common" not in available_packs()


def test_each_bundled_pack_extends_the_common_base_and_neither_imports_the_other() -> None:
    for pack, other in (("aws", "k8s"), ("k8s", "aws")):
        modules = set().union(*(imported_modules(p) for p in (TEMPLATES / pack).glob("*.py")))
        assert "mlops.templates.common" in modules, pack
        assert not {m for m in modules if m.startswith(f"mlops.templates.{other}")}, pack


def test_answers_never_import_the_pack_registry() -> None:
    # pack.py holds the answers model's type; answers.py must not reach back (no cycle).
    assert "mlops.templates.answers" in imported_modules(TEMPLATES / "pack.py")
    answers = imported_modules(TEMPLATES / "answers.py")
    assert not {m for m in answers if m.startswith("mlops.templates.pack")}
