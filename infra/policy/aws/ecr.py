"""ECR rules: images are scanned on push, tags immutable, repositories KMS-encrypted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import ECR
from mlops.infra.policy.model import Finding, Stack, as_list, rule


@rule(
    "aws",
    "CKV_AWS_163",
    "ECR repositories scan images on push",
    "set image_scanning_configuration scan_on_push=True",
    ("AWS Config ecr-private-image-scanning-enabled",),
)
def scan_on_push(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every repository scans images on push."""
    for repo in stack.of(ECR):
        if (repo.props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
            yield Finding(repo.name, "images are not scanned on push")


@rule(
    "aws",
    "CKV_AWS_51",
    "ECR tags are immutable",
    "set image_tag_mutability IMMUTABLE",
    ("AWS Config ecr-private-tag-immutability-enabled",),
)
def immutable_tags(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No repository lets a tag move to another image."""
    for repo in stack.of(ECR):
        if repo.props.get("imageTagMutability") != "IMMUTABLE":
            yield Finding(repo.name, "a tag can be moved to another image")


@rule(
    "aws",
    "CKV_AWS_136",
    "ECR repositories are encrypted with a KMS key",
    "set encryption_configurations encryption_type KMS with the lake key",
)
def repository_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every repository is encrypted with a KMS key."""
    for repo in stack.of(ECR):
        kinds = [
            (e or {}).get("encryptionType")
            for e in as_list(repo.props.get("encryptionConfigurations"))
        ]
        if "KMS" not in kinds:
            yield Finding(repo.name, "images are not encrypted with a KMS key")
