"""The ``aws`` template pack: an ML project on SageMaker, provisioned by mlops-stack components.

It extends the common base (:mod:`mlops.templates.common`: the project's own parts) with what is
AWS's: the SageMaker program and its stacks, its tests, README and CI. Every difference between
flavours is decided here, in Python: ``manifest()`` picks the files and ``build_context()``
holds the tables. The templates under ``files/`` only fill in values.
"""

from __future__ import annotations

import json
from typing import Any

from mlops.infra.aws.catalog import (
    SPARK_DRIFT_ENTRY,
    SPARK_IMAGE_SUFFIX,
    SPARK_PROCESSING_TAG,
    instance_catalogue,
    spark_processing_registry,
)
from mlops.templates import common
from mlops.templates.answers import CiProvider, Environment
from mlops.templates.aws.answers import AwsAnswers
from mlops.templates.ci import ci_context
from mlops.templates.common import ImageSpec, runtime_requirements
from mlops.templates.pack import FileSpec, TemplatePack

# 2.0.0: the lifecycle left the project (container.py, data.py, lake.py, evaluate.py);
# the image runs mlops.pipelines.container around the project's train module.
# 2.1.0: policy/ (the guardrails pack), `make guard`, CI runs the policy pack before deploys.
# 2.2.0: the image installs the declared runtime (mlops-stack's `runtime` extra) with bytecode
# compiled at build; .gitignore covers all local-mode state; policy waivers need a reason.
# 2.3.0: tests import mlops.infra.mock_runtime and mlops.infra.local_endpoint (renamed);
# `make install` uses uv when present and compiles bytecode.
# 2.4.0: tests/test_endpoint.py (invoke_endpoint, `make test-local`, post-deploy smoke in CI),
# base images by digest with Dependabot's docker entry, xgboost[scikit-learn].
# 2.5.0: the Spark drift check's image (Dockerfile.spark, docker/drift_check_spark.py) and its CI
# job; local mode's moto through mlops-stack[local] (no moto[server]).
VERSION = "2.5.0"
SAGEMAKER_IMAGE = ImageSpec(
    platform="AWS SageMaker",
    runs=(
        "SageMaker runs `docker run IMAGE train` for training, `validate` and `evaluate` for the",
        "pipeline's processing steps, and `docker run IMAGE serve` for endpoints.",
    ),
    workdir="/opt/program",  # SageMaker's convention for a container's own code
)

# Settings the local stack needs to talk to an embedded AWS endpoint with fake credentials.
LOCAL_PROVIDER = [
    ("aws:accessKey", "test"),
    ("aws:secretKey", "test"),
    ("aws:skipCredentialsValidation", "true"),
    ("aws:skipRequestingAccountId", "true"),
    ("aws:skipMetadataApiCheck", "true"),
    ("aws:s3UsePathStyle", "true"),
]

# The aws pack's own files (the rest are the common base's): the SageMaker program, its tests
# (one runs the Pulumi CLI), the README, and the CI workflows that deploy through SageMaker.
_OWN = [
    ("aws/files/README.md.jinja", "README.md"),
    ("aws/files/infra/__main__.py.jinja", "infra/__main__.py"),
    ("aws/files/tests/conftest.py.jinja", "tests/conftest.py"),
    ("aws/files/tests/test_infra.py.jinja", "tests/test_infra.py"),
    ("aws/files/tests/test_pulumi_cli.py.jinja", "tests/test_pulumi_cli.py"),
    ("aws/files/tests/test_endpoint.py", "tests/test_endpoint.py"),
    # The drift check's Spark image (SageMaker's Spark processing image + mlops-stack), built by
    # CI for stacks whose drift check runs Spark, and its fixed-path entry file.
    ("aws/files/Dockerfile.spark.jinja", "Dockerfile.spark"),
    ("aws/files/docker/drift_check_spark.py", "docker/drift_check_spark.py"),
]
_CI = {
    CiProvider.GITHUB: [
        ("aws/files/github/workflows/ci.yml.jinja", ".github/workflows/ci.yml"),
        ("aws/files/github/workflows/preview.yml.jinja", ".github/workflows/preview.yml"),
        ("aws/files/github/workflows/deploy.yml.jinja", ".github/workflows/deploy.yml"),
    ],
    CiProvider.GITLAB: [("aws/files/gitlab-ci.yml.jinja", ".gitlab-ci.yml")],
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
    return common.manifest(answers, _OWN, _CI, lambda stack: stack_config(answers, stack))


def build_context(answers: AwsAnswers) -> dict[str, Any]:
    """Everything the templates may refer to."""
    itype = instance_catalogue().types[answers.training_instance_type]
    cloud = [env.value for env in answers.environments]
    return {
        **common.project_context(
            answers, "aws", VERSION, "mlops.infra.config.StackConfig", [], SAGEMAKER_IMAGE
        ),
        "partition": answers.partition,
        "training_gpus": itype.gpus,
        "training_gpu_model": itype.gpu_model or "none",
        "training_price": f"{itype.price_per_hour:.3f}",
        "spot_note": ", managed spot with checkpoints in dev" if answers.spot else "",
        **ci_context(cloud),
        "has_prod": Environment.PROD in answers.environments,
        # tests/test_pulumi_cli.py: `make test-cli` runs it (pytest exits 5 with no test).
        "pulumi_cli_tests": True,
        # tests/test_endpoint.py: `make test-local` runs it against local mode's endpoint.
        "endpoint_tests": True,
        # Each cloud stack's own ECR repository (PlatformNames.repository); CI pushes to all.
        "image_repositories": [f"{answers.name}-{env}" for env in cloud],
        # The Spark drift image: its base in the stack region's SageMaker registry, its entry.
        "spark_registry": spark_processing_registry(answers.region) or "",
        "spark_registry_account": (spark_processing_registry(answers.region) or "").split(".")[0],
        "spark_tag": SPARK_PROCESSING_TAG,
        "spark_entry": SPARK_DRIFT_ENTRY,
        "spark_image_suffix": SPARK_IMAGE_SUFFIX,
        "spark_requirements": list(runtime_requirements()),
        "stack_image_note": (
            "The image: CI's deploy job sets imageDigest to the one it pushed (imageTag: by hand)."
        ),
    }


PACK = TemplatePack(
    name="aws",
    version=VERSION,
    description="ML project on AWS SageMaker with a Pulumi platform (data lake, training, serving)",
    files_root=common.FILES_ROOT,
    answers_model=AwsAnswers,
    manifest=manifest,
    build_context=build_context,
)
