"""Encrypted SNS topics that AWS services may publish to, shared by the registry and monitoring."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.infra.aws.catalog import service_principal


def publish_policy(topic_arn: str, services: list[str], account_id: str) -> dict[str, Any]:
    """Only these services, acting for this account, may publish to the topic."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ServicesPublishForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": services},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def encrypted_topic(
    name: str,
    *,
    key_arn: pulumi.Input[str],
    publishers: list[str],
    partition: str,
    account_id: pulumi.Input[str],
    tags: Mapping[str, str],
    email: str,
    parent: pulumi.Resource,
) -> aws.sns.Topic:
    """A KMS-encrypted topic with a publish policy and an optional email subscription."""
    child = pulumi.ResourceOptions(parent=parent)
    topic = aws.sns.Topic(name, kms_master_key_id=key_arn, tags=dict(tags), opts=child)
    services = [service_principal(s, partition) for s in publishers]
    aws.sns.TopicPolicy(
        f"{name}-policy",
        arn=topic.arn,
        policy=pulumi.Output.all(topic.arn, account_id).apply(
            lambda v: json.dumps(publish_policy(v[0], services, v[1]))
        ),
        opts=child,
    )
    if email:
        aws.sns.TopicSubscription(
            f"{name}-email", topic=topic.arn, protocol="email", endpoint=email, opts=child
        )
    return topic
