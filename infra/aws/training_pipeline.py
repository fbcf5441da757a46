"""``mlops:aws:TrainingPipeline``: GPU training as a SageMaker Pipeline, least-privilege.

Creates the execution role (scoped to the lake's buckets and prefixes, the ECR repository, the
lake key and its own log groups), the ECR repository, the log groups, the pipeline itself
(validate -> train -> evaluate -> gate -> register) and, optionally, a schedule that starts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import DRIFT_NAMESPACE, encode_hyperparameters
from mlops.core.layout import JOB_OUTPUTS, LAYOUT
from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import service_principal
from mlops.infra.aws.iam import (
    allow,
    pull_image_statements,
    sagemaker_trust_policy,
    service_trust_policy,
)
from mlops.infra.aws.pipeline_definition import PipelineSpec, build_definition
from mlops.infra.aws.resource_names import (
    PROCESSING_LOG_GROUP,
    TRAINING_LOG_GROUP,
    PlatformNames,
)
from mlops.infra.config import StackConfig

READ_ZONES = ("raw", "curated", "features")
ARTIFACT_PREFIXES = tuple(LAYOUT[place][1] for place in JOB_OUTPUTS)


@dataclass(frozen=True)
class TrainingPipelineArgs:
    """Inputs of :class:`TrainingPipeline`.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account (trust-policy conditions, ARNs).
        region: the AWS region.
        partition: the AWS partition.
        bucket_names: lake zone -> bucket name (from :class:`DataLake`).
        key_arn: the lake's KMS key; encrypts outputs, volumes, the repository and logs.
        training_instance_type: training type (a GPU type for GPU frameworks).
        training_instance_count: more than 1 runs distributed data parallel.
        spot: managed spot training with checkpoints to S3.
        max_runtime_seconds: training time limit.
        volume_gb: training volume size.
        processing_instance_type: type for validation and evaluation.
        primary_metric: the metric the evaluation gate compares.
        evaluation_margin: how much a candidate must beat the approved model by.
        image_tag: tag of the image the pipeline runs by default.
        image_digest: the image by digest (``sha256:...``, what CI pushed); when set, the
            pipeline runs ``<repository>@<digest>`` and ``image_tag`` is not used.
        inference_instance_types: realtime types registered packages declare.
        log_retention_days: retention of the log groups.
        schedule: EventBridge schedule expression that starts the pipeline; empty for none.
        force_delete: let ``pulumi destroy`` delete a repository with images (not prod).
        hyperparameters: passed to the training job (as strings, which SageMaker requires).
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    bucket_names: pulumi.Input[Mapping[str, str]]
    key_arn: pulumi.Input[str]
    training_instance_type: str
    training_instance_count: int = 1
    spot: bool = False
    max_runtime_seconds: int = 86400
    volume_gb: int = 50
    processing_instance_type: str = "ml.m5.xlarge"
    # No defaults: the gate's settings come from the stack config, where their defaults live.
    primary_metric: str = field(kw_only=True)
    evaluation_margin: float = field(kw_only=True)
    image_tag: str = "0.1.0"
    image_digest: str = ""
    inference_instance_types: tuple[str, ...] = ("ml.m5.large",)
    log_retention_days: int = 30
    schedule: str = ""
    force_delete: bool = False
    hyperparameters: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        config: StackConfig,
        account_id: pulumi.Input[str],
        bucket_names: pulumi.Input[Mapping[str, str]],
        key_arn: pulumi.Input[str],
    ) -> TrainingPipelineArgs:
        """Derive the pipeline's settings from a stack config and the lake's outputs."""
        return cls(
            names=PlatformNames(config.name_prefix),
            tags=config.tags,
            account_id=account_id,
            region=config.region,
            partition=config.partition,
            bucket_names=bucket_names,
            key_arn=key_arn,
            training_instance_type=config.training_instance_type,
            training_instance_count=config.training_instance_count,
            spot=config.spot,
            max_runtime_seconds=config.max_runtime_hours * 3600,
            volume_gb=config.training_volume_gb,
            processing_instance_type=config.processing_instance_type,
            primary_metric=config.primary_metric,
            evaluation_margin=config.evaluation_margin,
            image_tag=config.image_tag,
            image_digest=config.image_digest,
            inference_instance_types=(config.endpoint_instance_type,),
            log_retention_days=config.log_retention_days,
            schedule=config.schedule,
            force_delete=not config.protect,  # non-prod images go with the stack
            hyperparameters=encode_hyperparameters(config.hyperparameters),
        )


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
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                    "sagemaker:DescribeModelPackageGroup",
                ],
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
        self.role = aws.iam.Role(
            f"{name}-execution-role",
            description=f"SageMaker execution role of {names.prefix}",
            assume_role_policy=account.apply(
                lambda a: json.dumps(sagemaker_trust_policy(args.partition, args.region, a))
            ),
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
            lambda url: image_reference(url, args.image_tag, args.image_digest)
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

        self.start_role = aws.iam.Role(
            f"{name}-start-role",
            description=f"Lets EventBridge start the {names.pipeline} pipeline",
            assume_role_policy=account.apply(
                lambda a: json.dumps(service_trust_policy("events", args.partition, a))
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-start-policy",
            role=self.start_role.id,
            # EventBridge (schedule, drift) may start this pipeline and nothing else.
            policy=self.pipeline.arn.apply(
                lambda arn: json.dumps(allow("sagemaker:StartPipelineExecution", arn))
            ),
            opts=child,
        )
        if args.schedule:
            rule = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                description=f"Retrain {names.prefix} on a schedule",
                schedule_expression=args.schedule,
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
            training_instance_type=args.training_instance_type,
            training_instance_count=args.training_instance_count,
            processing_instance_type=args.processing_instance_type,
            spot=args.spot,
            max_runtime_seconds=args.max_runtime_seconds,
            volume_gb=args.volume_gb,
            primary_metric=args.primary_metric,
            evaluation_margin=args.evaluation_margin,
            inference_instance_types=args.inference_instance_types,
            hyperparameters=dict(args.hyperparameters),
        )
