"""``mlops:aws:ModelRegistry``: the model package group and human-in-the-loop promotion.

Every approval-state change of a package in the group is published to an encrypted SNS topic.
When a deploy webhook is configured (e.g. GitHub's repository_dispatch), an approval also
starts the deploy workflow through an EventBridge API destination.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.infra.aws.iam import allow, service_trust_policy
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.settings import NotificationSettings
from mlops.infra.aws.topics import encrypted_topic


@dataclass(frozen=True)
class ModelRegistryArgs:
    """Inputs of :class:`ModelRegistry`: its settings section and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account.
        partition: the AWS partition.
        key_arn: KMS key of the approvals topic.
        notifications: the address subscribed to approval notifications and the webhook
            POSTed to when a package is approved (its token sent as ``Authorization: Bearer``).
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    partition: str
    key_arn: pulumi.Input[str]
    notifications: NotificationSettings = field(default_factory=NotificationSettings)


def approval_event_pattern(group: str, statuses: list[str] | None = None) -> dict[str, Any]:
    """Package state changes in ``group`` (optionally only to some approval statuses)."""
    detail: dict[str, Any] = {"ModelPackageGroupName": [group]}
    if statuses:
        detail["ModelApprovalStatus"] = statuses
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": detail,
    }


def repository_dispatch_template() -> str:
    """The webhook body: GitHub's repository_dispatch with the approved package."""
    # EventBridge substitutes <arn> (a quoted JSON string placeholder) with the package ARN.
    return json.dumps(
        {"event_type": "model-approved", "client_payload": {"model_package_arn": "<arn>"}}
    )


class ModelRegistry(pulumi.ComponentResource):
    """A model package group whose approvals notify people and can trigger deploys.

    Outputs:
        group_name: the model package group.
        approvals_topic_arn: the topic approval-state changes are published to.
    """

    group_name: pulumi.Output[str]
    approvals_topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:ModelRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        group = args.names.model_package_group
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=group,
            model_package_group_description=f"Models of {args.names.prefix}",
            tags=tags,
            opts=child,
        )
        self.topic = encrypted_topic(
            f"{name}-approvals",
            key_arn=args.key_arn,
            publishers=["events"],
            partition=args.partition,
            account_id=args.account_id,
            tags=tags,
            email=args.notifications.notification_email,
            parent=self,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-approval-changes",
            description=f"Approval-state changes of packages in {group}",
            event_pattern=json.dumps(approval_event_pattern(group)),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.group]),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-approval-notify", rule=rule.name, arn=self.topic.arn, opts=child
        )
        if args.notifications.deploy_webhook_url:
            self._deploy_webhook(name, args, tags)

        self.group_name = self.group.model_package_group_name
        self.approvals_topic_arn = self.topic.arn
        self.register_outputs(
            {"group_name": self.group_name, "approvals_topic_arn": self.approvals_topic_arn}
        )

    def _deploy_webhook(self, name: str, args: ModelRegistryArgs, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        connection = aws.cloudwatch.EventConnection(
            f"{name}-deploy-connection",
            authorization_type="API_KEY",
            auth_parameters={
                "api_key": {
                    "key": "Authorization",
                    "value": pulumi.Output.secret(
                        args.notifications.deploy_webhook_token or ""
                    ).apply(lambda token: f"Bearer {token}"),
                }
            },
            opts=child,
        )
        destination = aws.cloudwatch.EventApiDestination(
            f"{name}-deploy-webhook",
            connection_arn=connection.arn,
            http_method="POST",
            invocation_endpoint=args.notifications.deploy_webhook_url,
            invocation_rate_limit_per_second=1,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-deploy-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(service_trust_policy("events", args.partition, account))
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-deploy-policy",
            role=role.id,
            policy=destination.arn.apply(
                lambda arn: json.dumps(allow("events:InvokeApiDestination", arn))
            ),
            opts=child,
        )
        approved = aws.cloudwatch.EventRule(
            f"{name}-approved",
            description="A model package was approved: start the deploy workflow",
            event_pattern=json.dumps(
                approval_event_pattern(args.names.model_package_group, ["Approved"])
            ),
            tags=tags,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-approved-deploy",
            rule=approved.name,
            arn=destination.arn,
            role_arn=role.arn,
            input_transformer={
                "input_paths": {"arn": "$.detail.ModelPackageArn"},
                "input_template": repository_dispatch_template(),
            },
            opts=child,
        )
