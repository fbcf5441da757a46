"""SageMaker rules: endpoint encryption, capture and size, model and job isolation, job keys.

The last two rules are what SageMaker itself refuses at ``pulumi up`` time (a KMS key on
local-NVMe instance types, options a serverless endpoint does not take), caught before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import (
    ENDPOINT_CONFIG,
    MODEL,
    is_serverless,
    jobs,
    nvme,
    variants,
)
from mlops.infra.policy.model import Finding, Stack, rule


@rule(
    "aws",
    "CKV_AWS_98",
    "Endpoint configurations encrypt their instances' storage with a KMS key",
    "set kms_key_arn (not for serverless or local-NVMe types, which AWS refuses)",
    ("AWS Config sagemaker-endpoint-configuration-kms-key-configured",),
)
def endpoint_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every endpoint configuration with instance storage AWS lets us encrypt has a KMS key."""
    for config in stack.of(ENDPOINT_CONFIG):
        needs = [
            v for v in variants(config) if not is_serverless(v) and not nvme(v.get("instanceType"))
        ]
        if needs and not config.props.get("kmsKeyArn"):
            yield Finding(config.name, f"variant {needs[0].get('variantName')} has no KMS key")


@rule(
    "aws",
    "mlops-sagemaker-data-capture",
    "Realtime endpoint configurations capture traffic (monitoring reads it)",
    "set data_capture_config with enable_capture and a KMS key",
)
def data_capture(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every realtime endpoint configuration captures traffic, encrypted."""
    for config in stack.of(ENDPOINT_CONFIG):
        realtime = [v for v in variants(config) if not is_serverless(v)]
        capture = config.props.get("dataCaptureConfig") or {}
        if realtime and not (capture.get("enableCapture") and capture.get("kmsKeyId")):
            yield Finding(config.name, "traffic is not captured (or not with a KMS key)")


@rule(
    "aws",
    "sagemaker-endpoint-config-prod-instance-count",
    "Prod realtime variants run at least 2 instances (one per Availability Zone)",
    "set endpointInstanceCount to 2 or more in Pulumi.prod.yaml",
)
def prod_instances(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every prod realtime variant runs two instances or more."""
    for config in stack.of(ENDPOINT_CONFIG):
        if stack.environment_of(config) != "prod":
            continue
        for v in variants(config):
            if not is_serverless(v) and float(v.get("initialInstanceCount") or 0) < 2:
                yield Finding(
                    config.name,
                    f"prod variant {v.get('variantName')} runs"
                    f" {int(float(v.get('initialInstanceCount') or 0))} instance",
                )


@rule(
    "aws",
    "sagemaker-model-isolation-enabled",
    "Models run network-isolated (except on serverless, which AWS refuses it on)",
    "set enable_network_isolation=True",
)
def model_isolation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every model not served serverless runs network-isolated."""
    serverless_models = {
        v.get("modelName")
        for c in stack.of(ENDPOINT_CONFIG)
        for v in variants(c)
        if is_serverless(v)
    }
    for model in stack.of(MODEL):
        if model.props.get("enableNetworkIsolation") is True:
            continue
        # Before deployment a generated model name may be unknown: then any serverless
        # variant in the stack may be this model's.
        if model.name in serverless_models or (serverless_models and None in serverless_models):
            continue
        yield Finding(model.name, "the model container can reach the network")


# Steps that run only mlops's own code and must call AWS APIs, each under a role of its own
# scoped to those calls: the drift check (S3 capture and reports, CloudWatch's one metric, the
# served package) and the champion lookup before evaluation (the registry, read-only).
NETWORKED_STEPS = ("CheckDrift", "ReadChampion")


@rule(
    "aws",
    "mlops-sagemaker-job-isolation",
    "Training and processing jobs run network-isolated (but the platform's API-calling steps)",
    "set EnableNetworkIsolation (NetworkConfig for processing) in the pipeline step",
    ("AWS Config sagemaker-training-job-network-isolation-enabled",),
    settings={"networkedSteps": list(NETWORKED_STEPS)},
)
def job_isolation(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    """Every pipeline step runs network-isolated, except the steps named in the settings."""
    networked = {str(s) for s in settings["networkedSteps"]}
    for pipeline, job in jobs(stack):
        if not job["isolation"] and job["name"] not in networked:
            yield Finding(pipeline.name, f"step {job['name']} is not network-isolated")


@rule(
    "aws",
    "mlops-sagemaker-job-traffic-encryption",
    "Training and processing jobs encrypt traffic between their instances",
    "set EnableInterContainerTrafficEncryption in the pipeline step",
)
def job_encryption(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every pipeline step encrypts traffic between its instances."""
    for pipeline, job in jobs(stack):
        if not job["encryption"]:
            yield Finding(pipeline.name, f"step {job['name']} sends unencrypted traffic")


@rule(
    "aws",
    "mlops-sagemaker-job-kms",
    "Training and processing jobs encrypt volumes and outputs with the lake key",
    "set VolumeKmsKeyId (not on local-NVMe types) and the output KmsKeyId",
)
def job_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every pipeline step encrypts its output, and its volume where AWS allows a key."""
    for pipeline, job in jobs(stack):
        if not job["output_key"]:
            yield Finding(pipeline.name, f"step {job['name']} writes output without a KMS key")
        if not job["volume_key"] and not nvme(job["instance_type"]):
            yield Finding(pipeline.name, f"step {job['name']} has an unencrypted volume")


@rule(
    "aws",
    "mlops-aws-rejects-kms-on-nvme",
    "No KMS key on instance types with local NVMe storage (AWS refuses the request)",
    "drop kms_key_arn / VolumeKmsKeyId for g4dn, g5, p4d and other NVMe types",
)
def kms_on_nvme(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """What AWS rejects: a KMS key on an instance type with local NVMe storage."""
    for config in stack.of(ENDPOINT_CONFIG):
        local = [v for v in variants(config) if nvme(v.get("instanceType"))]
        if local and config.props.get("kmsKeyArn"):
            yield Finding(config.name, f"kms_key_arn with {local[0].get('instanceType')}")
    for pipeline, job in jobs(stack):
        if job["volume_key"] and nvme(job["instance_type"]):
            yield Finding(
                pipeline.name, f"step {job['name']}: VolumeKmsKeyId with {job['instance_type']}"
            )


@rule(
    "aws",
    "mlops-aws-rejects-serverless-options",
    "Serverless endpoints take no data capture, KMS key, network isolation or second variant",
    "drop those options from serverless endpoint configurations (AWS refuses them)",
)
def serverless_options(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """What AWS rejects: options a serverless endpoint configuration does not take."""
    isolated = {m.name for m in stack.of(MODEL) if m.props.get("enableNetworkIsolation") is True}
    for config in stack.of(ENDPOINT_CONFIG):
        every = variants(config)
        serverless = [v for v in every if is_serverless(v)]
        if not serverless:
            continue
        problems = []
        if (config.props.get("dataCaptureConfig") or {}).get("enableCapture"):
            problems.append("data capture")
        if config.props.get("kmsKeyArn"):
            problems.append("a KMS key")
        if len(every) > 1:
            problems.append(f"{len(every)} variants")
        if any(v.get("modelName") in isolated for v in serverless):
            problems.append("a network-isolated model")
        if problems:
            yield Finding(config.name, f"serverless with {', '.join(problems)}")
