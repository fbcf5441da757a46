"""The AWS resource types the policy pack and the cost estimate read, and their property readers.

Properties are Pulumi's wire names (camelCase), as the mock runtime captures them and as
CrossGuard passes them. Since pulumi-aws 7 a bucket's settings are resources of their own
(versioning, encryption, ...), joined to the bucket by its ``bucket`` property; readers of
bucket settings therefore look at the whole stack, not one resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.aws.catalog import InstanceType, instance_catalogue
from mlops.infra.policy.model import Resource, Stack, as_list

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ECR = "aws:ecr/repository:Repository"


# -- S3 --------------------------------------------------------------------------------------


def buckets(stack: Stack) -> Iterator[tuple[Resource, str]]:
    """Every bucket with its name."""
    for bucket in stack.of(BUCKET):
        yield bucket, str(bucket.props.get("bucket") or bucket.name)


def log_targets(stack: Stack) -> set[str]:
    """Buckets that receive server access logs (AWS delivers those with SSE-S3 only)."""
    return {str(r.props.get("targetBucket")) for r in stack.of(LOGGING)}


def aws_managed_key(key: str) -> bool:
    """Whether a key id names an AWS-managed key (``alias/aws/s3``), not the stack's own."""
    return key.startswith("alias/aws/") or ":alias/aws/" in key


def kms_algorithm(encryption: Resource | None) -> tuple[str, str]:
    """A bucket encryption's default algorithm and KMS key id (empty strings where unset)."""
    rules = as_list(encryption.props.get("rules")) if encryption else []
    for entry in rules:
        default = (entry or {}).get("applyServerSideEncryptionByDefault") or {}
        return str(default.get("sseAlgorithm", "")), str(default.get("kmsMasterKeyId") or "")
    return "", ""


# -- IAM and resource policies ---------------------------------------------------------------


def principal_is_anyone(principal: Any) -> bool:
    """Whether a policy statement's principal is everyone (``*`` or ``{"AWS": "*"}``)."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return False


def policy_documents(stack: Stack) -> Iterator[tuple[Resource, Any]]:
    """Every identity policy document of the stack, with the resource that holds it."""
    for resource in stack.of(ROLE_POLICY, POLICY):
        yield resource, resource.props.get("policy")
    for role in stack.of(ROLE):
        for inline in as_list(role.props.get("inlinePolicies")):
            yield role, (inline or {}).get("policy")


def allows(statement: Mapping[str, Any]) -> bool:
    """Whether a policy statement allows (rather than denies)."""
    return statement.get("Effect") == "Allow"


# -- SageMaker -------------------------------------------------------------------------------


def variants(config: Resource) -> list[dict[str, Any]]:
    """An endpoint configuration's production and shadow variants."""
    found = as_list(config.props.get("productionVariants"))
    found += as_list(config.props.get("shadowProductionVariants"))
    return [dict(v) for v in found if isinstance(v, Mapping)]


def is_serverless(variant: Mapping[str, Any]) -> bool:
    """Whether a variant is serverless (no instances)."""
    return bool(variant.get("serverlessConfig"))


def instance(name: Any) -> InstanceType | None:
    """The catalogue's instance type of that name, or None."""
    return instance_catalogue().types.get(str(name))


def nvme(instance_type: Any) -> bool:
    """Whether the instance type has local NVMe storage (AWS refuses a KMS key on it)."""
    known = instance(instance_type)
    return bool(known and known.local_nvme)


def gpu(instance_type: Any) -> bool:
    """Whether the instance type has a GPU."""
    known = instance(instance_type)
    return bool(known and known.has_gpu)


def pipeline_jobs(pipeline: Resource) -> Iterator[dict[str, Any]]:
    """The pipeline's training and processing steps, with parameters resolved to defaults.

    Each item: ``name``, ``kind`` (Training or Processing), ``instance_type``, ``count``,
    ``isolation``, ``encryption`` (inter-container), ``volume_key``, ``output_key``, ``role``,
    ``spot``.
    """
    try:
        definition = json.loads(str(pipeline.props.get("pipelineDefinition") or "{}"))
    except json.JSONDecodeError:
        return
    defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters", [])}

    def value(raw: Any) -> Any:
        if isinstance(raw, Mapping) and str(raw.get("Get", "")).startswith("Parameters."):
            return defaults.get(str(raw["Get"]).removeprefix("Parameters."))
        return raw

    for step in definition.get("Steps", []):
        args = step.get("Arguments") or {}
        if step.get("Type") == "Training":
            resources = args.get("ResourceConfig") or {}
            yield {
                "name": step.get("Name"),
                "kind": "Training",
                "instance_type": value(resources.get("InstanceType")),
                "count": value(resources.get("InstanceCount")) or 1,
                "isolation": args.get("EnableNetworkIsolation") is True,
                "encryption": args.get("EnableInterContainerTrafficEncryption") is True,
                "volume_key": resources.get("VolumeKmsKeyId"),
                "output_key": (args.get("OutputDataConfig") or {}).get("KmsKeyId"),
                "role": args.get("RoleArn"),
                "spot": args.get("EnableManagedSpotTraining") is True,
            }
        elif step.get("Type") == "Processing":
            cluster = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
            network = args.get("NetworkConfig") or {}
            yield {
                "name": step.get("Name"),
                "kind": "Processing",
                "instance_type": value(cluster.get("InstanceType")),
                "count": value(cluster.get("InstanceCount")) or 1,
                "isolation": network.get("EnableNetworkIsolation") is True,
                "encryption": network.get("EnableInterContainerTrafficEncryption") is True,
                "volume_key": cluster.get("VolumeKmsKeyId"),
                "output_key": (args.get("ProcessingOutputConfig") or {}).get("KmsKeyId", "n/a"),
                "role": args.get("RoleArn"),
                "spot": False,
            }


def jobs(stack: Stack) -> Iterator[tuple[Resource, dict[str, Any]]]:
    """Every pipeline step of the stack (:func:`pipeline_jobs`), with its pipeline."""
    for pipeline in stack.of(PIPELINE):
        for job in pipeline_jobs(pipeline):
            yield pipeline, job


def compute(stack: Stack) -> Iterator[tuple[Resource, str, Any, float, bool]]:
    """(resource, what, instance type, count, always on) for every instance-backed workload."""
    for config in stack.of(ENDPOINT_CONFIG):
        for v in variants(config):
            if not is_serverless(v):
                count = float(v.get("initialInstanceCount") or 1)
                yield config, f"variant {v.get('variantName')}", v.get("instanceType"), count, True
    for pipeline, job in jobs(stack):
        yield pipeline, f"step {job['name']}", job["instance_type"], float(job["count"]), False


# -- CloudWatch ------------------------------------------------------------------------------


def days(value: Any) -> float | None:
    """A retention in days as a number (Pulumi may pass a string), or None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
