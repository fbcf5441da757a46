"""The ``aws`` template pack: an ML project on SageMaker, provisioned by mlops-stack components.

Every difference between flavours is decided here, in Python: ``manifest()`` picks the files and
``build_context()`` holds the tables. The templates under ``files/`` only fill in values.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mlops.core.errors import ExternalToolError
from mlops.core.naming import package_name
from mlops.infra.aws.catalog import instance_catalogue
from mlops.templates.answers import CiProvider, Environment
from mlops.templates.aws.answers import AwsAnswers, Framework
from mlops.templates.ci import ci_context
from mlops.templates.pack import FileSpec, TemplatePack, stack_files
from mlops.templates.source import DIST, requirement, source_checkout

# 2.0.0: the lifecycle left the project (container.py, data.py, lake.py, evaluate.py);
# the image runs mlops.pipelines.container around the project's train module.
# 2.1.0: policy/ (the guardrails pack), `make guard`, CI runs the policy pack before deploys.
# 2.2.0: the image installs the declared runtime (mlops-stack's `runtime` extra) with bytecode
# compiled at build; .gitignore covers all local-mode state; policy waivers need a reason.
VERSION = "2.2.0"
PYTHON_VERSION = "3.11"
# mlops-stack's extra that holds what its container entry points import at run time.
RUNTIME_EXTRA = "runtime"

FRAMEWORKS: dict[Framework, dict[str, Any]] = {
    Framework.SKLEARN: {
        "dependencies": ["numpy>=1.26,<3", "scikit-learn>=1.5,<2", "joblib>=1.4,<2"],
        "base_image": "python:3.11-slim",
        "artifact": "model.joblib",
        "device": "CPU",
    },
    Framework.XGBOOST: {
        "dependencies": ["numpy>=1.26,<3", "xgboost>=2.1,<4"],
        "base_image": "python:3.11-slim",
        "artifact": "model.json",
        "device": "GPU when present (CUDA), else CPU",
    },
    Framework.PYTORCH: {
        "dependencies": ["numpy>=1.26,<3", "torch>=2.5,<3"],
        "base_image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
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


SAGEMAKER_IMAGE = ImageSpec(
    platform="AWS SageMaker",
    runs=(
        "SageMaker runs `docker run IMAGE train` for training, `validate` and `evaluate` for the",
        "pipeline's processing steps, and `docker run IMAGE serve` for endpoints.",
    ),
    workdir="/opt/program",  # SageMaker's convention for a container's own code
)

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


# Settings the local stack needs to talk to an embedded AWS endpoint with fake credentials.
LOCAL_PROVIDER = [
    ("aws:accessKey", "test"),
    ("aws:secretKey", "test"),
    ("aws:skipCredentialsValidation", "true"),
    ("aws:skipRequestingAccountId", "true"),
    ("aws:skipMetadataApiCheck", "true"),
    ("aws:s3UsePathStyle", "true"),
]

# The project's own code is its training module; the lifecycle around it is mlops-stack's.
_PACKAGE_FILES = [
    ("package/__init__.py.jinja", "__init__.py"),
    ("package/pipelines/__init__.py", "pipelines/__init__.py"),
    ("package/pipelines/features.py", "pipelines/features.py"),
]
_COMMON_FILES = [
    ("gitignore", ".gitignore"),
    ("dockerignore", ".dockerignore"),
    ("README.md.jinja", "README.md"),
    ("pyproject.toml.jinja", "pyproject.toml"),
    ("Makefile.jinja", "Makefile"),
    ("Dockerfile.jinja", "Dockerfile"),
    ("Pulumi.yaml.jinja", "Pulumi.yaml"),
    ("infra/__main__.py.jinja", "infra/__main__.py"),
    ("data/sample.csv", "data/sample.csv"),
    ("data/contract.yaml", "data/contract.yaml"),
    ("tests/conftest.py.jinja", "tests/conftest.py"),
    ("tests/test_infra.py.jinja", "tests/test_infra.py"),
    ("policy/PulumiPolicy.yaml.jinja", "policy/PulumiPolicy.yaml"),
    ("policy/__main__.py.jinja", "policy/__main__.py"),
    ("policy/config.json", "policy/config.json"),
    ("tests/test_pipeline.py.jinja", "tests/test_pipeline.py"),
    ("tests/test_pulumi_cli.py.jinja", "tests/test_pulumi_cli.py"),
]
_CI_FILES = {
    CiProvider.GITHUB: [
        ("github/workflows/ci.yml.jinja", ".github/workflows/ci.yml"),
        ("github/workflows/preview.yml.jinja", ".github/workflows/preview.yml"),
        ("github/workflows/deploy.yml.jinja", ".github/workflows/deploy.yml"),
        ("github/dependabot.yml", ".github/dependabot.yml"),
    ],
    CiProvider.GITLAB: [("gitlab-ci.yml.jinja", ".gitlab-ci.yml")],
    CiProvider.NONE: [],
}


def stack_config(answers: AwsAnswers, stack: str) -> list[tuple[str, str]]:
    """The ``config:`` entries of ``Pulumi.<stack>.yaml``, values already YAML-safe (JSON)."""
    ns = answers.name
    entries: list[tuple[str, Any]] = [
        ("aws:region", answers.region),
        *(LOCAL_PROVIDER if stack == "local" else []),
        (f"{ns}:owner", answers.owner),
        (f"{ns}:costCenter", answers.cost_center),
        (f"{ns}:trainingInstanceType", answers.training_instance_type),
    ]
    # Staging, prod and local take StackConfig's per-environment defaults (realtime serving,
    # on-demand training); the answers choose how dev trains and serves.
    if stack == Environment.DEV.value:
        entries += [(f"{ns}:spot", answers.spot), (f"{ns}:endpointType", answers.endpoint.value)]
    return [(key, json.dumps(value)) for key, value in entries]


def manifest(answers: AwsAnswers) -> list[FileSpec]:
    """The exact files of a project rendered from ``answers``."""
    pkg = package_name(answers.name)
    specs = [FileSpec(src, dest) for src, dest in _COMMON_FILES]
    specs += [FileSpec(src, f"{pkg}/{dest}") for src, dest in _PACKAGE_FILES]
    specs.append(
        FileSpec(
            f"package/pipelines/train_{answers.framework.value}.py", f"{pkg}/pipelines/train.py"
        )
    )
    specs += [FileSpec(src, dest) for src, dest in _CI_FILES[answers.ci]]
    specs += stack_files(
        "Pulumi.stack.yaml.jinja", answers.stacks, lambda stack: stack_config(answers, stack)
    )
    return specs


def project_context(
    answers: Any,
    template: str,
    version: str,
    config_model: str,
    extra_dev: list[str],
    image: ImageSpec = SAGEMAKER_IMAGE,
) -> dict[str, Any]:
    """What the project files this pack shares with others refer to (package, image, deps)."""
    fw = FRAMEWORKS[answers.framework]
    return {
        **answers.to_record(),
        "package": package_name(answers.name),
        "template": template,
        "template_version": version,
        "mlops_stack_requirement": requirement(answers.mlops_source),
        "find_links": "wheels" if answers.mlops_source == "wheel" else "",
        "image": image,
        "image_requirements": image_requirements(fw["dependencies"]),
        "python_version": PYTHON_VERSION,
        "fw": fw,
        "config_model": config_model,
        "extra_dev": extra_dev,
        "stacks": answers.stacks,
    }


def build_context(answers: AwsAnswers) -> dict[str, Any]:
    """Everything the templates may refer to."""
    itype = instance_catalogue().types[answers.training_instance_type]
    cloud = [env.value for env in answers.environments]
    return {
        **project_context(answers, "aws", VERSION, "mlops.infra.config.StackConfig", []),
        "partition": answers.partition,
        "training_gpus": itype.gpus,
        "training_gpu_model": itype.gpu_model or "none",
        "training_price": f"{itype.price_per_hour:.3f}",
        "spot_note": ", managed spot with checkpoints in dev" if answers.spot else "",
        **ci_context(cloud),
        "has_prod": Environment.PROD in answers.environments,
        # tests/test_pulumi_cli.py: `make test-cli` runs it (pytest exits 5 with no test).
        "pulumi_cli_tests": True,
        # Each cloud stack's own ECR repository (PlatformNames.repository); CI pushes to all.
        "image_repositories": [f"{answers.name}-{env}" for env in cloud],
        "stack_image_note": (
            "The image: CI's deploy job sets imageDigest to the one it pushed (imageTag: by hand)."
        ),
    }


PACK = TemplatePack(
    name="aws",
    version=VERSION,
    description="ML project on AWS SageMaker with a Pulumi platform (data lake, training, serving)",
    files_root=Path(__file__).parent / "files",
    answers_model=AwsAnswers,
    manifest=manifest,
    build_context=build_context,
)
