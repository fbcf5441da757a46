"""``mlops:aws:MlflowTracking``: a SageMaker managed MLflow tracking server for the stack.

Declared only when the stack asks for it (``mlflowTrackingServer: true``): the server
(``aws.sagemaker.MlflowTrackingServer``) keeps its artifacts in the lake's artifacts bucket
under ``mlflow/``, through a role SageMaker assumes for this account only, which may read and
write that prefix (encrypted with the lake's key) and nothing else. The stack's registry stays
SageMaker's model registry; MLflow is where experiments are tracked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.infra.aws.arns import Arns
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.roles import sagemaker_role
from mlops.infra.aws.settings import TrackingSettings

ARTIFACTS_PREFIX = "mlflow"


@dataclass(frozen=True)
class MlflowTrackingArgs:
    """Inputs of :class:`MlflowTracking`: its settings section and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account.
        region: the AWS region.
        partition: the AWS partition.
        artifacts_bucket: the lake's artifacts bucket.
        key_arn: the lake's KMS key.
        tracking: the server's size and MLflow version.
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    artifacts_bucket: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    tracking: TrackingSettings = field(default_factory=TrackingSettings)


def artifact_store_policy(arns: Arns, bucket: str, key_arn: str) -> dict[str, Any]:
    """Read and write the artifacts bucket's ``mlflow/`` prefix, with the lake's key.

    Exported for testing.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MlflowArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": arns.s3(bucket, f"{ARTIFACTS_PREFIX}/*"),
            },
            {
                "Sid": "MlflowArtifactsList",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": arns.s3(bucket),
                "Condition": {"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}},
            },
            {
                "Sid": "LakeKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn,
            },
        ],
    }


class MlflowTracking(pulumi.ComponentResource):
    """The managed MLflow tracking server and the role its artifact store is reached with.

    Outputs:
        server_arn: the tracking server's ARN (MLflow clients with SageMaker's plugin use it
            as the tracking URI).
        server_url: its URL.
    """

    server_arn: pulumi.Output[str]
    server_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: MlflowTrackingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:MlflowTracking", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        role = sagemaker_role(
            f"{name}-role",
            description=None,
            partition=args.partition,
            region=args.region,
            account=pulumi.Output.from_input(args.account_id),
            tags=tags,
            opts=child,
        )
        policy = pulumi.Output.all(args.account_id, args.artifacts_bucket, args.key_arn).apply(
            lambda v: json.dumps(
                artifact_store_policy(Arns(args.partition, args.region, v[0]), v[1], v[2])
            )
        )
        aws.iam.RolePolicy(f"{name}-artifacts", role=role.id, policy=policy, opts=child)
        server = aws.sagemaker.MlflowTrackingServer(
            f"{name}-server",
            tracking_server_name=f"{args.names.prefix}-mlflow",
            artifact_store_uri=pulumi.Output.concat(
                "s3://", args.artifacts_bucket, f"/{ARTIFACTS_PREFIX}"
            ),
            role_arn=role.arn,
            tracking_server_size=args.tracking.mlflow_tracking_server_size,
            mlflow_version=args.tracking.mlflow_version,
            automatic_model_registration=False,  # the registry is SageMaker's, gated
            tags=tags,
            opts=child,
        )
        self.server_arn = server.arn
        self.server_url = server.tracking_server_url
        self.register_outputs({"server_arn": self.server_arn, "server_url": self.server_url})
