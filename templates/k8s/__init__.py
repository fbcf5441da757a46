"""The ``k8s`` template pack: an ML project on Kubernetes, provisioned by mlops-stack components.

It extends the common base (:mod:`mlops.templates.common`: train module, data contract, sample
data, Dockerfile, lifecycle tests, shared with the aws pack, not copied); what is its own is the
Pulumi program (K8sPlatform), its stacks, its tests (manifests validated offline), its README and
CI workflows.
"""

from __future__ import annotations

import json
from typing import Any

from mlops.templates import common
from mlops.templates.answers import CiProvider
from mlops.templates.ci import ci_context
from mlops.templates.common import ImageSpec
from mlops.templates.k8s.answers import K8sAnswers
from mlops.templates.pack import FileSpec, TemplatePack

# 0.2.0: policy/, MinIO lake in local, preview and gated deploys in CI.
# 0.3.0: its own image texts (non-root, /app), the declared runtime, local state ignored.
# 0.4.0: `make install` uses uv when present and compiles bytecode.
# 0.5.0: the lifecycle as an Argo WorkflowTemplate (CronWorkflow for retraining), MLflow as the
# registry and tracker when `mlflow: true`, base images by digest.
# 0.6.0: local mode's moto through mlops-stack[local] (no moto[server]).
VERSION = "0.6.0"
# Until CI builds and pushes the image, the stacks hold a zero digest: a pinned, obviously
# unbuilt image. CI's image job pushes it and each deploy job sets `image` to REPO@sha256:...
# for its `pulumi up` (not committed: the digest of every commit is CI's to set).
UNBUILT = "sha256:" + "0" * 64
# The local (kind) stack's lake: MinIO RELEASE.2025-09-07T16-13-09Z, by digest. MinIO stopped
# publishing new public images after it; a team with its own mirror sets minioImage to that.
MINIO_IMAGE = (
    "quay.io/minio/minio@sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e"
)


def mlflow_image() -> str:
    """MLflow's image for the stacks: its pinned version tag with a zero digest until resolved.

    Its digest could not be resolved offline where this was written, and the policy pack (as
    CrossGuard) requires one, so the stack names the version (``ghcr.io/mlflow/mlflow:vX.Y.Z``)
    with an obviously unresolved digest, as the project image before CI builds it; the README
    says how to set the real one.
    """
    from mlops.infra.k8s.settings import MLFLOW_IMAGE  # Pulumi's import cost: see _image

    return f"{MLFLOW_IMAGE}@{UNBUILT}"


# The one Dockerfile, as the cluster runs it: as the pods' non-root user, the project under /app
# (the program's MLOPS_DATA_CONTRACT, infra/__main__.py, points there).
def _image() -> ImageSpec:
    # Imported here: mlops.infra.k8s's package imports Pulumi, which `mlops init --help` and
    # every other command that only renders must not pay for.
    from mlops.infra.k8s.workloads import UID

    return ImageSpec(
        platform="Kubernetes",
        runs=(
            "The cluster runs it with `args: [COMMAND]`: `train` (the training CronJob), `serve`",
            "(the server Deployment), `monitor` (the drift CronJob), `prepare-lake` (the lake's"
            " Job).",
        ),
        workdir="/app",
        user=UID,
    )


_OWN = [
    ("k8s/files/README.md.jinja", "README.md"),
    ("k8s/files/infra/__main__.py.jinja", "infra/__main__.py"),
    ("k8s/files/tests/conftest.py.jinja", "tests/conftest.py"),
    ("k8s/files/tests/test_infra.py.jinja", "tests/test_infra.py"),
]
_CI = {
    CiProvider.GITHUB: [
        ("k8s/files/github/workflows/ci.yml.jinja", ".github/workflows/ci.yml"),
        ("k8s/files/github/workflows/preview.yml.jinja", ".github/workflows/preview.yml"),
        ("k8s/files/github/workflows/deploy.yml.jinja", ".github/workflows/deploy.yml"),
    ],
    CiProvider.GITLAB: [("k8s/files/gitlab-ci.yml.jinja", ".gitlab-ci.yml")],
    CiProvider.NONE: [],
}


def stack_config(answers: K8sAnswers, stack: str) -> list[tuple[str, str]]:
    """The ``config:`` entries of ``Pulumi.<stack>.yaml`` (JSON, so YAML-safe)."""
    ns = answers.name
    entries: list[tuple[str, Any]] = [
        (f"{ns}:image", f"{answers.registry}/{answers.name}@{UNBUILT}"),
        (f"{ns}:owner", answers.owner),
        (f"{ns}:costCenter", answers.cost_center),
        (f"{ns}:gpuResource", answers.gpu_resource),
    ]
    if stack == "local":  # the lake on MinIO in the cluster (cloud stacks choose S3 via IRSA)
        entries.append((f"{ns}:minioImage", MINIO_IMAGE))
        # MLflow (tracking, the registry, @champion) needs a lake: only local has one from the
        # start; the README says how the cloud stacks turn it on once they have irsaRoleArn.
        entries.append((f"{ns}:mlflow", True))
        entries.append((f"{ns}:mlflowImage", mlflow_image()))
    else:  # GPUs, KServe, placement: kind has none of them (local trains on CPU)
        entries.append((f"{ns}:trainingGpus", answers.training_gpus))
        if answers.kserve:
            entries.append((f"{ns}:kserve", True))
        if answers.selector:
            entries.append((f"{ns}:nodeSelector", answers.selector))
    return [(key, json.dumps(value)) for key, value in entries]


def manifest(answers: K8sAnswers) -> list[FileSpec]:
    """The exact files of a project rendered from ``answers``."""
    return common.manifest(answers, _OWN, _CI, lambda stack: stack_config(answers, stack))


def build_context(answers: K8sAnswers) -> dict[str, Any]:
    """Everything the templates may refer to."""
    return {
        **common.project_context(
            answers,
            "k8s",
            VERSION,
            "mlops.infra.k8s.config.K8sConfig",
            ["kubernetes-validate>=1.31,<2"],
            _image(),
        ),
        "namespaces": [f"{answers.name}-{s}" for s in answers.stacks],
        **ci_context([env.value for env in answers.environments]),
        # The Makefile is the common base's: no test here needs the Pulumi CLI.
        "pulumi_cli_tests": False,
        "endpoint_tests": False,  # no SageMaker runtime API: KServe serves on the cluster
        "image_repository": f"{answers.registry}/{answers.name}",
        "mlflow_release": mlflow_image().split("@")[0],  # the version tag, to resolve
        "registry_host": answers.registry.split("/", 1)[0],
        "stack_image_note": (
            "The image: CI's deploy job sets image to the one it pushed (zero digest: unbuilt)."
        ),
    }


PACK = TemplatePack(
    name="k8s",
    version=VERSION,
    description="ML project on Kubernetes with a Pulumi platform (GPU jobs, serving, monitoring)",
    files_root=common.FILES_ROOT,
    answers_model=K8sAnswers,
    manifest=manifest,
    build_context=build_context,
)
