"""The ``aws`` template pack: an ML project on SageMaker, provisioned by mlops-stack components.

Every difference between flavours is decided here, in Python: ``manifest()`` picks the files and
``build_context()`` holds the tables. The templates under ``files/`` only fill in values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.core.naming import package_name
from mlops.infra.aws.catalog import instance_catalogue
from mlops.templates.answers import CiProvider, Environment
from mlops.templates.aws.answers import AwsAnswers, Framework
from mlops.templates.ci import ci_context
from mlops.templates.pack import FileSpec, TemplatePack, stack_files
from mlops.templates.source import requirement

# 2.0.0: the lifecycle left the project (container.py, data.py, lake.py, evaluate.py);
# the image runs mlops.pipelines.container around the project's train module.
# 2.1.0: policy/ (the guardrails pack), `make guard`, CI runs the policy pack before deploys.
VERSION = "2.1.0"
# What the lifecycle's container entry points import, installed beside mlops-stack (--no-deps,
# so the image carries no Pulumi). tests/test_template_pack.py checks them against pyproject.toml.
RUNTIME_REQUIREMENTS = ("numpy>=1.26,<3", "pyyaml>=6.0.1,<7", "pydantic>=2.7,<3", "boto3>=1.35,<2")
PYTHON_VERSION = "3.11"

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
        ("github/workflows/ci.yml", ".github/workflows/ci.yml"),
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
    answers: Any, template: str, version: str, config_model: str, extra_dev: list[str]
) -> dict[str, Any]:
    """What the project files this pack shares with others refer to (package, image, deps)."""
    return {
        **answers.to_record(),
        "package": package_name(answers.name),
        "template": template,
        "template_version": version,
        "mlops_stack_requirement": requirement(answers.mlops_source),
        "find_links": "wheels" if answers.mlops_source == "wheel" else "",
        "runtime_requirements": RUNTIME_REQUIREMENTS,
        "python_version": PYTHON_VERSION,
        "fw": FRAMEWORKS[answers.framework],
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
