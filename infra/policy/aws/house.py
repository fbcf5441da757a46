"""The platform's own rules, across services: tags, GPU use, separate execution roles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import (
    ALARM,
    BUCKET,
    ECR,
    ENDPOINT_CONFIG,
    KMS_KEY,
    LOG_GROUP,
    MODEL,
    PIPELINE,
    POLICY,
    ROLE,
    compute,
    gpu,
    jobs,
)
from mlops.infra.policy.model import Finding, Stack, rule

# Types that take tags in the programs this pack checks.
TAGGABLE = (
    BUCKET,
    KMS_KEY,
    ROLE,
    POLICY,
    ENDPOINT_CONFIG,
    MODEL,
    PIPELINE,
    LOG_GROUP,
    ALARM,
    ECR,
    "aws:sagemaker/endpoint:Endpoint",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
    "aws:sns/topic:Topic",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:budgets/budget:Budget",
)
REQUIRED_TAGS = ("project", "environment", "owner", "cost-center", "managed-by")
# A moderate default GPU allowlist; platform teams set their own in the pack's config.
GPU_ALLOWLIST = (
    "ml.g4dn.xlarge",
    "ml.g4dn.2xlarge",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
    "ml.g5.4xlarge",
    "ml.g5.12xlarge",
    "ml.p3.2xlarge",
)


@rule(
    "aws",
    "required-tags",
    "Every taggable resource carries the platform's tags",
    "pass the stack's tags (StackConfig.tags) to the resource",
    ("AWS Config required-tags",),
    settings={"tags": list(REQUIRED_TAGS)},
)
def required_tags(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    """Every taggable resource carries each required tag."""
    required = [str(t) for t in settings["tags"]]
    for resource in stack.of(*TAGGABLE):
        missing = [t for t in required if not resource.tags.get(t)]
        if missing:
            yield Finding(resource.name, f"missing tags: {', '.join(missing)}")


@rule(
    "aws",
    "mlops-gpu-allowlist",
    "GPU instances are of an allowed type, at most maxCount per workload",
    "use an allowed type, or have the platform team extend the pack's allowlist",
    settings={"allowed": list(GPU_ALLOWLIST), "maxCount": 4},
)
def gpu_allowlist(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    """Every GPU workload uses an allowed type, at most ``maxCount`` instances of it."""
    allowed, most = set(settings["allowed"]), float(settings["maxCount"])
    for resource, what, itype, count, _ in compute(stack):
        if not gpu(itype):
            continue
        if itype not in allowed:
            yield Finding(resource.name, f"{what}: {itype} is not an allowed GPU type")
        elif count > most:
            yield Finding(resource.name, f"{what}: {int(count)} x {itype}, above {int(most)}")


@rule(
    "aws",
    "mlops-no-idle-gpu-outside-prod",
    "No always-on GPU endpoint outside prod",
    "serve dev and staging on CPU or serverless; GPUs for endpoints are prod's",
)
def no_idle_gpu(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No always-on GPU workload outside prod."""
    for resource, what, itype, _count, always_on in compute(stack):
        env = stack.environment_of(resource)
        if always_on and gpu(itype) and env != "prod":
            yield Finding(resource.name, f"{what}: {itype} runs around the clock in {env}")


@rule(
    "aws",
    "mlops-separate-execution-roles",
    "Serving and training never share an execution role",
    "give the endpoint's models their own role (mlops:aws:Endpoint does)",
)
def separate_roles(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No served model runs with a role a pipeline or its steps use."""
    training = {job["role"] for _, job in jobs(stack) if job["role"]}
    training |= {p.props.get("roleArn") for p in stack.of(PIPELINE) if p.props.get("roleArn")}
    for model in stack.of(MODEL):
        role = model.props.get("executionRoleArn")
        if role and role in training:
            yield Finding(model.name, f"serves with the training role {role}")
