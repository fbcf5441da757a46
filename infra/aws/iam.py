"""IAM policy documents shared by the components (pure functions, exported for testing)."""

from __future__ import annotations

from typing import Any

from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import service_principal


def service_trust_policy(
    service: str, partition: str, account_id: str, source_arn: str | None = None
) -> dict[str, Any]:
    """``service`` may assume the role only on behalf of this account (and ``source_arn``).

    The conditions stop the confused-deputy problem: another account cannot make the service
    use this role.
    """
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service_principal(service, partition)},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ],
    }


def pull_image_statements(repository_arn: str, sid: str) -> list[dict[str, Any]]:
    """Pull one repository's images; log in to the registry (an API without resource scope)."""
    return [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            "Resource": repository_arn,
        },
        {
            "Sid": "RegistryLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
    ]


def sagemaker_trust_policy(partition: str, region: str, account_id: str) -> dict[str, Any]:
    """SageMaker may assume the role only on behalf of this account and region."""
    source = Arns(partition, region, account_id).sagemaker("*")
    return service_trust_policy("sagemaker", partition, account_id, source)


def allow(action: str, resource: str) -> dict[str, Any]:
    """A policy allowing exactly one action on exactly one resource."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }
