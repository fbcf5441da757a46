"""``mlops:aws:TrainingPipeline``: GPU training as a SageMaker Pipeline, least-privilege.

Creates the execution role (scoped to the lake's buckets and prefixes, the ECR repository, the
lake key and its own log groups), the ECR repository, the log groups, the pipeline itself
(validate -> train -> evaluate -> gate -> register) and, optionally, a schedule that starts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import DRIFT_NAMESPACE
from mlops.core.layout import JOB_OUTPUTS, LAYOUT
from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import service_principal
from mlops.infra.aws.iam import (
    pull_image_statements,
)
from mlops.infra.aws.pipeline_definition import PipelineSpec, build_definition
from mlops.infra.aws.resource_names import (
    PROCESSING_LOG_GROUP,
    TRAINING_LOG_GROUP,
    PlatformNames,
)
from mlops.infra.aws.roles import pipeline_starter_role, sagemaker_role
from mlops.infra.aws.settings import TrainingSettings

READ_ZONES = ("raw", "curated", "features")
ARTIFACT_PREFIXES = tuple(LAYOUT[place][1] for place in JOB_OUTPUTS)


@dataclass(frozen=True)
class TrainingPipelineArgs:
    """Inputs of :class:`TrainingPipeline`: its settings section and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account (trust-policy conditions, ARNs).
        region: the AWS region.
        partition: the AWS partition.
        bucket_names: lake zone -> bucket name (from :class:`DataLake`).
        key_arn: the lake's KMS key; encrypts outputs, volumes, the repository and logs.
        training: how the pipeline trains, evaluates and gates, which image it runs (by
            ``image_digest`` when CI pushed one, else by ``image_tag``) and on what schedule;
            its defaults live there.
        inference_instance_types: realtime types registered packages declare (the serving
            section's instance type).
        log_retention_days: retention of the log groups (the monitoring section's).
        force_delete: let ``pulumi destroy`` delete a repository with images (not prod).
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    bucket_names: pulumi.Input[Mapping[str, str]]
    key_arn: pulumi.Input[str]
    training: TrainingSettings
    inference_instance_types: tuple[str, ...]
    log_retention_days: int
    force_delete: bool = False


# Exported for testing: the policies are pure functions of concrete ARNs.


def image_reference(repository_url: str, tag: str, digest: str = "") -> str:
    """The image in ``repository_url``: by ``digest`` when there is one, else by ``tag``."""
    return f"{repository_url}@{digest}" if digest else f"{repository_url}:{tag}"


def execution_role_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    role_arn: str,
    buckets: Mapping[str, str],
    key_arn: str,
    repository_arn: str,
    names: PlatformNames,
) -> dict[str, Any]:
    """What pipeline jobs, registered models and the endpoint may do, and on which resources.

    Two statements use ``Resource: "*"`` because their APIs have no resource-level
    permissions; both are narrowed by what they allow: ``ecr:GetAuthorizationToken`` only
    issues a registry login, and ``cloudwatch:PutMetricData`` is limited to the drift namespace.
    """
    arns = Arns(partition, region, account_id)
    artifacts = buckets["artifacts"]
    capture_zone, capture_prefix = LAYOUT["capture"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListLakeBuckets",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": [arns.s3(buckets[z]) for z in (*READ_ZONES, "artifacts")],
            },
            {
                "Sid": "ReadLakeData",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": [arns.s3(buckets[z], "*") for z in READ_ZONES],
            },
            {
                "Sid": "WritePipelineArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [arns.s3(artifacts, f"{p}*") for p in ARTIFACT_PREFIXES],
            },
            {
                "Sid": "WriteCapturedTraffic",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": arns.s3(buckets[capture_zone], f"{capture_prefix}*"),
            },
            {
                "Sid": "UseLakeKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": key_arn,
            },
            {
                "Sid": "EncryptJobVolumes",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            *pull_image_statements(repository_arn, "PullProjectImage"),
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [
                    f"{arns.log_group(group)}:*"
                    for group in (
                        TRAINING_LOG_GROUP,
                        PROCESSING_LOG_GROUP,
                        names.endpoint_log_group,
                    )
                ],
            },
            {
                "Sid": "RunPipelineJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                # Pipelines name their jobs "pipelines-<execution>-<step>-<suffix>".
                "Resource": [
                    arns.sagemaker("training-job/pipelines-*"),
                    arns.sagemaker("processing-job/pipelines-*"),
                ],
            },
            {
                "Sid": "RegisterCandidates",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                ],
                "Resource": [
                    arns.sagemaker(f"model-package-group/{names.model_package_group}"),
                    arns.sagemaker(f"model-package/{names.model_package_group}/*"),
                ],
            },
            {
                # The evaluate step reads the champion (the newest approved package and its
                # recorded metric) of this group only; read-only.
                "Sid": "ReadChampion",
                "Effect": "Allow",
                "Action": ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                "Resource": [
                    arns.sagemaker(f"model-package-group/{names.model_package_group}"),
                    arns.sagemaker(f"model-package/{names.model_package_group}/*"),
                ],
            },
            {
                "Sid": "PassOwnRoleToSageMaker",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role_arn,
                "Condition": {
                    "StringEquals": {
                        "iam:PassedToService": service_principal("sagemaker", partition)
                    }
                },
            },
            {
                "Sid": "PublishDriftMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": DRIFT_NAMESPACE}},
            },
        ],
    }


class TrainingPipeline(pulumi.ComponentResource):
    """GPU training as a SageMaker Pipeline, with its role, image repository and logs.

    Outputs:
        role_arn: the execution role (jobs, registered models, the endpoint).
        repository_url: the ECR repository to push the project image to.
        repository_arn: that repository's ARN (the serving role pulls from it).
        image_uri: the image the pipeline runs by default (``<repository>@<image_digest>``,
            else ``<repository>:<image_tag>``).
        pipeline_name: the SageMaker Pipeline's name.
        pipeline_arn: the SageMaker Pipeline's ARN.
        start_role_arn: the role EventBridge assumes to start the pipeline.
        definition: the validated pipeline definition (JSON).
    """

    role_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    image_uri: pulumi.Output[str]
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    start_role_arn: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    definition: pulumi.Output[str]

    def __init__(
        self, name: str, args: TrainingPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:TrainingPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        names = args.names

        self.repository = aws.ecr.Repository(
            f"{name}-images",
            name=names.repository,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.key_arn}],
            force_delete=args.force_delete,
            tags=tags,
            opts=child,
        )
        # Only the stack's own group: SageMaker creates the account-wide job groups
        # (/aws/sagemaker/TrainingJobs, .../ProcessingJobs) itself, so a stack that created them
        # would collide with every other stack, and with any account where a job already ran.
        for group in [names.endpoint_log_group]:
            aws.cloudwatch.LogGroup(
                f"{name}-logs-{group.rsplit('/', 1)[-1].lower()}",
                name=group,
                retention_in_days=args.log_retention_days,
                kms_key_id=args.key_arn,
                tags=tags,
                opts=child,
            )

        account = pulumi.Output.from_input(args.account_id)
        self.role = sagemaker_role(
            f"{name}-execution-role",
            description=f"SageMaker execution role of {names.prefix}",
            partition=args.partition,
            region=args.region,
            account=account,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                account, self.role.arn, args.bucket_names, args.key_arn, self.repository.arn
            ).apply(
                lambda v: json.dumps(
                    execution_role_policy(
                        partition=args.partition,
                        region=args.region,
                        account_id=v[0],
                        role_arn=v[1],
                        buckets=v[2],
                        key_arn=v[3],
                        repository_arn=v[4],
                        names=names,
                    )
                )
            ),
            opts=child,
        )

        self.image_uri = self.repository.repository_url.apply(
            lambda url: image_reference(url, args.training.image_tag, args.training.image_digest)
        )
        self.definition = pulumi.Output.all(
            self.role.arn, self.image_uri, args.bucket_names, args.key_arn
        ).apply(lambda v: json.dumps(build_definition(self._spec(args, v[0], v[1], v[2], v[3]))))
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=names.pipeline,
            pipeline_display_name=names.pipeline,
            pipeline_description=f"Validate, train, evaluate and register models of {names.prefix}",
            role_arn=self.role.arn,
            pipeline_definition=self.definition,
            tags=tags,
            opts=child,
        )

        # EventBridge (schedule, drift) may start this pipeline and nothing else.
        self.start_role = pipeline_starter_role(
            f"{name}-start",
            "events",
            self.pipeline,
            description=f"Lets EventBridge start the {names.pipeline} pipeline",
            partition=args.partition,
            account=account,
            tags=tags,
            opts=child,
        )
        if args.training.schedule:
            rule = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                description=f"Retrain {names.prefix} on a schedule",
                schedule_expression=args.training.schedule,
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-schedule-target",
                rule=rule.name,
                arn=self.pipeline.arn,
                role_arn=self.start_role.arn,
                sagemaker_pipeline_target={
                    "pipeline_parameter_lists": [{"name": "TriggeredBy", "value": "schedule"}]
                },
                opts=child,
            )

        self.role_arn = self.role.arn
        self.repository_url = self.repository.repository_url
        self.repository_arn = self.repository.arn
        self.pipeline_name = self.pipeline.pipeline_name
        self.pipeline_arn = self.pipeline.arn
        self.start_role_arn = self.start_role.arn
        self.register_outputs(
            {
                "repository_arn": self.repository_arn,
                "role_arn": self.role_arn,
                "repository_url": self.repository_url,
                "image_uri": self.image_uri,
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "start_role_arn": self.start_role_arn,
                "definition": self.definition,
            }
        )

    @staticmethod
    def _spec(
        args: TrainingPipelineArgs,
        role_arn: str,
        image_uri: str,
        buckets: Mapping[str, str],
        key_arn: str,
    ) -> PipelineSpec:
        return PipelineSpec(
            role_arn=role_arn,
            image_uri=image_uri,
            input_data_uri=f"s3://{buckets['raw']}/datasets/",
            artifacts_uri=f"s3://{buckets['artifacts']}",
            kms_key_arn=key_arn,
            model_package_group=args.names.model_package_group,
            training=args.training,
            inference_instance_types=args.inference_instance_types,
            region=args.region,
        )
