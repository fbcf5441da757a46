"""The IAM roles the components make: SageMaker's job and model roles, and pipeline starters.

Each role's trust policy is fixed here; what it may do is the caller's inline policy (the policy
documents themselves are :mod:`mlops.infra.aws.iam`'s, plain data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from mlops.infra.aws.iam import allow, sagemaker_trust_policy, service_trust_policy


def sagemaker_role(
    resource_name: str,
    *,
    description: str | None,
    partition: str,
    region: str,
    account: pulumi.Output[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role SageMaker assumes only on behalf of this account and region (a job's, a model's)."""
    return aws.iam.Role(
        resource_name,
        description=description,
        assume_role_policy=account.apply(
            lambda a: json.dumps(sagemaker_trust_policy(partition, region, a))
        ),
        tags=dict(tags),
        opts=opts,
    )


def pipeline_starter_role(
    prefix: str,
    service: str,
    pipeline: aws.sagemaker.Pipeline,
    *,
    description: str,
    partition: str,
    account: pulumi.Output[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role ``service`` assumes in this account to start ``pipeline``, and nothing else.

    Creates ``<prefix>-role`` and its inline policy ``<prefix>-policy`` (one
    ``sagemaker:StartPipelineExecution`` on the pipeline's ARN). EventBridge's rule targets and
    EventBridge Scheduler's schedules each start a pipeline through one.
    """
    role = aws.iam.Role(
        f"{prefix}-role",
        description=description,
        assume_role_policy=account.apply(
            lambda a: json.dumps(service_trust_policy(service, partition, a))
        ),
        tags=dict(tags),
        opts=opts,
    )
    aws.iam.RolePolicy(
        f"{prefix}-policy",
        role=role.id,
        policy=pipeline.arn.apply(
            lambda arn: json.dumps(allow("sagemaker:StartPipelineExecution", arn))
        ),
        opts=opts,
    )
    return role
