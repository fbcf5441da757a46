"""The neutral base both bundled packs extend: the project's own parts, shared, not copied.

Whatever the platform, a project has the same train module, data contract and sample data,
lifecycle tests, policy pack, Dockerfile, Makefile, pyproject.toml and stack files: they live
once, under ``common/files/``, and this module lists them (:func:`manifest`) and holds the
tables they read (:func:`project_context`). Each platform pack (``aws``, ``k8s``) adds its own
files (Pulumi program, its tests, README, CI workflows) and context on top, and neither imports
the other. ``common`` asks no questions of its own (it has no answers model), so it is a base,
never a pack ``mlops init`` offers.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from mlops.core.errors import ExternalToolError
from mlops.core.naming import package_name
from mlops.templates.answers import CiProvider
from mlops.templates.pack import FileSpec, stack_files
from mlops.templates.source import DIST, requirement, source_checkout

# The bundled packs' one file root (this package's parent): every bundled manifest names its
# sources under it, as ``common/files/...`` (shared) or ``<pack>/files/...`` (the pack's own).
FILES_ROOT = Path(__file__).parent.parent
COMMON = "common/files"

PYTHON_VERSION = "3.11"
# mlops-stack's extra that holds what its container entry points import at run time.
RUNTIME_EXTRA = "runtime"


class Framework(StrEnum):
    """The ML framework of the example model (every bundled pack asks for one)."""

    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    PYTORCH = "pytorch"


# Base images by digest, so every build starts from the same bytes; the tag beside the digest says
# what it is, and the generated .github/dependabot.yml (its `docker` entry) proposes newer ones.
# Digests as published on Docker Hub and pinned in public Dockerfiles (no registry is reachable
# where this was written): python:3.11.10-slim-bookworm (also python:3.11-slim in late 2024) and
# pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime.
PYTHON_BASE = (
    "python:3.11.10-slim-bookworm"
    "@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16"
)
PYTORCH_BASE = (
    "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    "@sha256:c8268a92a69bd500f8be0e665b2630ee006dadaf7bfbc24249141b15ff622755"
)

FRAMEWORKS: dict[Framework, dict[str, Any]] = {
    Framework.SKLEARN: {
        "dependencies": ["numpy>=1.26,<3", "scikit-learn>=1.5,<2", "joblib>=1.4,<2"],
        "base_image": PYTHON_BASE,
        "artifact": "model.joblib",
        "device": "CPU",
    },
    Framework.XGBOOST: {
        # XGBClassifier is the scikit-learn API: xgboost needs its scikit-learn extra for it.
        "dependencies": ["numpy>=1.26,<3", "xgboost[scikit-learn]>=2.1,<4"],
        "base_image": PYTHON_BASE,
        "artifact": "model.json",
        "device": "GPU when present (CUDA), else CPU",
    },
    Framework.PYTORCH: {
        "dependencies": ["numpy>=1.26,<3", "torch>=2.5,<3"],
        "base_image": PYTORCH_BASE,
        "artifact": "model.pt",
        "device": "GPU with mixed precision when present (CUDA), else CPU",
    },
}


@dataclass(frozen=True)
class ImageSpec:
    """What differs between platforms in the project's one Dockerfile (and its pyproject.toml).

    Attributes:
        platform: what runs the image, in words.
        runs: how it runs the entry points, as comment lines for the Dockerfile's head.
        workdir: where the project's files go; the data contract the steps read is under it.
        user: the non-root uid the image runs as; ``None`` where the platform needs root.
    """

    platform: str
    runs: tuple[str, ...]
    workdir: str
    user: int | None = None


# A Requires-Dist line of one extra, as setuptools writes it: `name<3,>=1; extra == "runtime"` or
# `name>=1; sys_platform != "win32" and extra == "runtime"`.
_IN_EXTRA = re.compile(
    r"""^(?P<requirement>[^;]+?)\s*;\s*(?:(?P<marker>.+?)\s+and\s+)?"""
    r"""extra\s*==\s*["'](?P<extra>[\w.-]+)["']\s*$"""
)


def extra_requirements(requires_dist: list[str], extra: str) -> list[str]:
    """The requirements of ``extra`` among a distribution's ``Requires-Dist`` lines."""
    found = []
    for line in requires_dist:
        match = _IN_EXTRA.match(line)
        if match and match["extra"] == extra:
            marker = match["marker"]
            found.append(f"{match['requirement']}; {marker}" if marker else match["requirement"])
    return found


@cache
def runtime_requirements() -> tuple[str, ...]:
    """mlops-stack's ``runtime`` extra: what its container entry points import at run time.

    The image installs mlops-stack with ``--no-deps`` (its base set is the tool's: Pulumi,
    Typer) and this set beside it, because pip cannot install an extra without the base set.
    It is read, not kept: from the checkout's ``pyproject.toml`` when running from one (an
    editable install's metadata is as old as the install), else from the installed
    distribution's metadata. The one list is the extra in mlops-stack's ``pyproject.toml``.

    Raises:
        ExternalToolError: this mlops-stack declares no ``runtime`` extra.
    """
    root = source_checkout()
    if root is not None:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        found = list(project.get("optional-dependencies", {}).get(RUNTIME_EXTRA, []))
    else:
        from importlib.metadata import PackageNotFoundError, requires

        try:
            found = extra_requirements(requires(DIST) or [], RUNTIME_EXTRA)
        except PackageNotFoundError:
            found = []
    if not found:
        raise ExternalToolError(
            DIST, f"declares no '{RUNTIME_EXTRA}' extra, so the image's dependencies are unknown"
        )
    # They go into TOML basic strings: markers quote with ' (the metadata writes ").
    return tuple(r.replace('"', "'") for r in found)


def _dist_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def image_requirements(framework_dependencies: list[str]) -> list[str]:
    """What the image installs beside mlops-stack: its runtime set, then the framework's.

    A framework dependency mlops-stack's runtime already names (numpy) is left to the runtime's
    range, which the lifecycle's own code was tested with.
    """
    runtime = list(runtime_requirements())
    named = {_dist_name(r) for r in runtime}
    return runtime + [d for d in framework_dependencies if _dist_name(d) not in named]


# The project's own files, whatever runs it: source under common/files/ -> destination.
_SHARED = [
    ("gitignore", ".gitignore"),
    ("dockerignore", ".dockerignore"),
    ("pyproject.toml.jinja", "pyproject.toml"),
    ("Makefile.jinja", "Makefile"),
    ("Dockerfile.jinja", "Dockerfile"),
    ("Pulumi.yaml.jinja", "Pulumi.yaml"),
    ("data/sample.csv", "data/sample.csv"),
    ("data/contract.yaml", "data/contract.yaml"),
    ("tests/test_pipeline.py.jinja", "tests/test_pipeline.py"),
    ("policy/PulumiPolicy.yaml.jinja", "policy/PulumiPolicy.yaml"),
    ("policy/__main__.py.jinja", "policy/__main__.py"),
    ("policy/config.json", "policy/config.json"),
]
# The project's own code is its training module; the lifecycle around it is mlops-stack's.
_PACKAGE_FILES = [
    ("package/__init__.py.jinja", "__init__.py"),
    ("package/pipelines/__init__.py", "pipelines/__init__.py"),
    ("package/pipelines/features.py", "pipelines/features.py"),
]
_CI_FILES = {CiProvider.GITHUB: [("github/dependabot.yml", ".github/dependabot.yml")]}


def manifest(
    answers: Any,
    own: list[tuple[str, str]],
    ci: Mapping[CiProvider, list[tuple[str, str]]],
    stack_config: Callable[[str], list[tuple[str, str]]],
) -> list[FileSpec]:
    """The shared files of a project plus a pack's own, in one manifest.

    Args:
        answers: the pack's validated answers (``name``, ``framework``, ``ci``, ``stacks``).
        own: the pack's own files, as (source under the bundled root, destination).
        ci: the pack's own CI files per provider, likewise.
        stack_config: a stack's ``config:`` entries for its ``Pulumi.<stack>.yaml``.
    """
    pkg = package_name(answers.name)
    specs = [FileSpec(f"{COMMON}/{src}", dest) for src, dest in _SHARED]
    specs += [FileSpec(src, dest) for src, dest in own]
    specs += [FileSpec(f"{COMMON}/{src}", f"{pkg}/{dest}") for src, dest in _PACKAGE_FILES]
    specs.append(
        FileSpec(
            f"{COMMON}/package/pipelines/train_{answers.framework.value}.py",
            f"{pkg}/pipelines/train.py",
        )
    )
    specs += [FileSpec(src, dest) for src, dest in ci.get(answers.ci, [])]
    specs += [FileSpec(f"{COMMON}/{src}", dest) for src, dest in _CI_FILES.get(answers.ci, [])]
    specs += stack_files(f"{COMMON}/Pulumi.stack.yaml.jinja", answers.stacks, stack_config)
    return specs


def project_context(
    answers: Any,
    template: str,
    version: str,
    config_model: str,
    extra_dev: list[str],
    image: ImageSpec,
) -> dict[str, Any]:
    """What the shared project files refer to (package, image, dependencies, stacks).

    Args:
        answers: the pack's validated answers.
        template: the pack's name, recorded in the project.
        version: the pack's version, likewise.
        config_model: dotted path of the stack config model the project's program reads.
        extra_dev: the pack's own development dependencies.
        image: what differs between platforms in the one Dockerfile.
    """
    fw = FRAMEWORKS[answers.framework]
    return {
        **answers.to_record(),
        "package": package_name(answers.name),
        "template": template,
        "template_version": version,
        "mlops_stack_requirement": requirement(answers.mlops_source),
        # Local mode's embedded AWS (moto's server) and trainer, as mlops-stack's `local` extra
        # names them: one list for the tool's demo, its tests and every generated project.
        "mlops_stack_local_requirement": requirement(answers.mlops_source, "local"),
        "find_links": "wheels" if answers.mlops_source == "wheel" else "",
        "image": image,
        "image_requirements": image_requirements(fw["dependencies"]),
        "python_version": PYTHON_VERSION,
        "fw": fw,
        "config_model": config_model,
        "extra_dev": extra_dev,
        "stacks": answers.stacks,
    }
