"""``mlops:aws:InferenceEndpoint``: a SageMaker endpoint that rolls out safely.

Models come from approved model packages and run network-isolated on realtime endpoints
(serverless endpoints do not support isolation, data capture or more than one variant). The
endpoint configuration
is auto-named (a changed configuration is created before the old one goes), variant names are
stable (``primary``, ``challenger``, ``shadow``), realtime traffic is captured into the lake,
updates are blue/green (all at once, canary or linear) with a baking period and automatic
rollback on scoped 5XX and ModelLatency alarms, and realtime endpoints scale on invocations per
instance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import CHALLENGER_VARIANT, PRIMARY_VARIANT, SHADOW_VARIANT
from mlops.core.layout import LAYOUT
from mlops.infra.aws.alarms import AlarmSpec, metric_alarm
from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import volume_kms_allowed
from mlops.infra.aws.iam import pull_image_statements
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.roles import sagemaker_role
from mlops.infra.aws.settings import (
    ROLLBACK_DATAPOINTS,
    ROLLBACK_EVALUATION_PERIODS,
    ROLLBACK_PERIOD_S,
    SCALE_IN_COOLDOWN_S,
    SCALE_OUT_COOLDOWN_S,
    AlarmSettings,
    ServingSettings,
)

# The variant names are shared with monitoring and capture (mlops.core.contracts).
PRIMARY, CHALLENGER, SHADOW = PRIMARY_VARIANT, CHALLENGER_VARIANT, SHADOW_VARIANT


@dataclass(frozen=True)
class InferenceEndpointArgs:
    """Inputs of :class:`InferenceEndpoint`: its settings sections and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account (the serving role's trust conditions and ARNs).
        region: the AWS region.
        partition: the AWS partition.
        bucket_names: lake zone -> bucket name (model artifacts are read from the artifacts
            zone, captured traffic written to the capture place).
        repository_arn: the ECR repository the serving image is pulled from.
        key_arn: KMS key for the instance storage and captured data.
        capture_uri: ``s3://`` prefix captured requests and responses go to.
        serving: what is served, on what, and how it rolls out (its defaults live there).
        alarms: the thresholds whose alarms roll a deployment back.
        alarm_topic_arn: where the rollback alarms notify; ``None`` for nowhere.
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    bucket_names: pulumi.Input[Mapping[str, str]]
    repository_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    capture_uri: pulumi.Input[str]
    serving: ServingSettings
    alarms: AlarmSettings = field(default_factory=AlarmSettings)
    alarm_topic_arn: pulumi.Input[str] | None = None


# Exported for testing: the configuration is decided by pure functions.


def serving_role_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    buckets: Mapping[str, str],
    repository_arn: str,
    key_arn: str,
    names: PlatformNames,
) -> dict[str, Any]:
    """What a served model may do, and nothing of training, the registry or IAM.

    Pull its image, read model artifacts, write captured traffic and its own logs, use the lake
    key.

    ``ecr:GetAuthorizationToken`` has no resource-level permission; it only issues a login.
    """
    arns = Arns(partition, region, account_id)
    models_zone, models_prefix = LAYOUT["models"]
    capture_zone, capture_prefix = LAYOUT["capture"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            *pull_image_statements(repository_arn, "PullServingImage"),
            {
                "Sid": "ReadModelArtifacts",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": arns.s3(buckets[models_zone], f"{models_prefix}*"),
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
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": key_arn,
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{arns.log_group(names.endpoint_log_group)}:*",
            },
        ],
    }


def variant_packages(args: InferenceEndpointArgs) -> dict[str, str]:
    """Variant name -> model package ARN, for every variant that exists."""
    variants = {PRIMARY: args.serving.model_package_arn}
    if args.serving.challenger_model_package_arn:
        variants[CHALLENGER] = args.serving.challenger_model_package_arn
    if args.serving.shadow_model_package_arn:
        variants[SHADOW] = args.serving.shadow_model_package_arn
    return variants


def production_variant(
    args: InferenceEndpointArgs, name: str, model: Any, weight: float
) -> dict[str, Any]:
    """One variant: instances, or serverless memory and concurrency."""
    variant: dict[str, Any] = {
        "variant_name": name,
        "model_name": model,
        "initial_variant_weight": weight,
    }
    if args.serving.realtime:
        variant |= {
            "instance_type": args.serving.instance_type,
            "initial_instance_count": args.serving.instance_count,
        }
    else:
        variant["serverless_config"] = {
            "memory_size_in_mb": args.serving.serverless_memory_mb,
            "max_concurrency": args.serving.serverless_max_concurrency,
        }
    return variant


def variant_weights(args: InferenceEndpointArgs) -> dict[str, float]:
    """Traffic split of the serving variants (the shadow gets copies, not a share)."""
    if args.serving.challenger_model_package_arn:
        weight = round(args.serving.challenger_weight, 4)
        return {PRIMARY: round(1 - weight, 4), CHALLENGER: weight}
    return {PRIMARY: 1.0}


def instance_storage_key(args: InferenceEndpointArgs) -> bool:
    """Whether the configuration takes a KMS key for its instances' storage.

    SageMaker rejects one on serverless endpoints, and on instance types with local NVMe
    storage, which is hardware-encrypted.
    """
    return args.serving.realtime and volume_kms_allowed(args.serving.instance_type)


def data_capture(args: InferenceEndpointArgs, uri: str, key_arn: str) -> dict[str, Any] | None:
    """Capture inputs and outputs into the lake; serverless endpoints do not support capture."""
    if not args.serving.realtime or args.serving.capture_sampling_percent == 0:
        return None
    return {
        "enable_capture": True,
        "initial_sampling_percentage": args.serving.capture_sampling_percent,
        "destination_s3_uri": uri,
        "kms_key_id": key_arn,
        "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
        "capture_content_type_header": {
            "csv_content_types": ["text/csv"],
            "json_content_types": ["application/json"],
        },
    }


def deployment_config(args: InferenceEndpointArgs, rollback_alarms: list[Any]) -> dict[str, Any]:
    """Blue/green traffic shifting with a baking period and alarm-driven rollback."""
    routing: dict[str, Any] = {
        "type": args.serving.rollout.upper(),
        "wait_interval_in_seconds": args.serving.baking_minutes * 60,
    }
    step = {"type": "CAPACITY_PERCENT", "value": args.serving.rollout_step_percent}
    if args.serving.rollout == "canary":
        routing["canary_size"] = step
    elif args.serving.rollout == "linear":
        routing["linear_step_size"] = step
    return {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": args.serving.termination_wait_minutes * 60,
        },
        "auto_rollback_configuration": {"alarms": [{"alarm_name": a} for a in rollback_alarms]},
    }


def rollback_alarm_specs(args: InferenceEndpointArgs) -> list[AlarmSpec]:
    """Tight alarms on the primary variant that roll a deployment back."""
    common: dict[str, Any] = {
        "namespace": "AWS/SageMaker",
        "dimensions": {"EndpointName": args.names.endpoint, "VariantName": PRIMARY},
        "comparison": "GreaterThanThreshold",
        "period": ROLLBACK_PERIOD_S,
        "evaluation_periods": ROLLBACK_EVALUATION_PERIODS,
        "datapoints_to_alarm": ROLLBACK_DATAPOINTS,
    }
    return [
        AlarmSpec(
            "rollback-5xx",
            "Rolls a deployment back on server errors",
            metric="Invocation5XXErrors",
            threshold=args.alarms.errors_5xx_threshold,
            **common,
        ),
        AlarmSpec(
            "rollback-latency",
            "Rolls a deployment back on slow responses (p99 ModelLatency)",
            metric="ModelLatency",
            extended_statistic="p99",
            threshold=args.alarms.latency_p99_ms * 1000,  # ModelLatency is in microseconds
            **common,
        ),
    ]


class InferenceEndpoint(pulumi.ComponentResource):
    """A SageMaker endpoint serving approved model packages, with safe rollout and scaling.

    Outputs:
        endpoint_name: the endpoint.
        endpoint_config_name: the current (auto-named) endpoint configuration.
        variant_names: the variants, primary first.
        rollback_alarm_names: alarms that roll a deployment back.
    """

    endpoint_name: pulumi.Output[str]
    endpoint_config_name: pulumi.Output[str]
    variant_names: pulumi.Output[list[str]]
    rollback_alarm_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: InferenceEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:InferenceEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        endpoint = args.names.endpoint

        self.role = self._serving_role(name, args, tags)
        models = {
            variant: aws.sagemaker.Model(
                f"{name}-model-{variant}",
                execution_role_arn=self.role.arn,
                primary_container={"model_package_name": package},
                # SageMaker rejects network isolation on serverless endpoints.
                enable_network_isolation=args.serving.realtime,
                tags=tags,
                opts=child,
            )
            for variant, package in variant_packages(args).items()
        }
        weights = variant_weights(args)
        serving = [
            production_variant(args, variant, models[variant].name, weight)
            for variant, weight in weights.items()
        ]
        shadows = (
            [production_variant(args, SHADOW, models[SHADOW].name, 1.0)] if SHADOW in models else []
        )
        capture = pulumi.Output.all(args.capture_uri, args.key_arn).apply(
            lambda v: data_capture(args, v[0], v[1])
        )
        # Plain dicts in the provider's snake_case shape; tests/pipelines/test_contract.py checks
        # them against the SageMaker API's own request shapes.
        self.config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=cast(Any, serving),
            shadow_production_variants=cast(Any, shadows or None),
            data_capture_config=cast(Any, capture),
            kms_key_arn=args.key_arn if instance_storage_key(args) else None,
            tags=tags,
            opts=child,
        )

        alarms = self._rollback_alarms(name, args, tags)
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=endpoint,
            endpoint_config_name=self.config.name,
            deployment_config=cast(Any, deployment_config(args, [a.name for a in alarms])),
            tags=tags,
            opts=child,
        )
        if args.serving.realtime:
            self._autoscaling(name, args)

        self.endpoint_name = self.endpoint.name
        self.endpoint_config_name = self.config.name
        self.variant_names = pulumi.Output.from_input([*weights, *([SHADOW] if shadows else [])])
        self.rollback_alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_config_name": self.endpoint_config_name,
                "variant_names": self.variant_names,
                "rollback_alarm_names": self.rollback_alarm_names,
            }
        )

    def _serving_role(
        self, name: str, args: InferenceEndpointArgs, tags: dict[str, str]
    ) -> aws.iam.Role:
        """The models' own execution role: least privilege for serving, one per endpoint."""
        account = pulumi.Output.from_input(args.account_id)
        role = sagemaker_role(
            f"{name}-model-role",
            description=f"Execution role of the models served by {args.names.endpoint}",
            partition=args.partition,
            region=args.region,
            account=account,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-model-role-policy",
            role=role.id,
            policy=pulumi.Output.all(
                account, args.bucket_names, args.repository_arn, args.key_arn
            ).apply(
                lambda v: json.dumps(
                    serving_role_policy(
                        partition=args.partition,
                        region=args.region,
                        account_id=v[0],
                        buckets=v[1],
                        repository_arn=v[2],
                        key_arn=v[3],
                        names=args.names,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role

    def _rollback_alarms(
        self, name: str, args: InferenceEndpointArgs, tags: dict[str, str]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        endpoint = args.names.endpoint
        actions = [args.alarm_topic_arn] if args.alarm_topic_arn is not None else []
        return [
            metric_alarm(
                f"{name}-{spec.key}",
                f"{endpoint}-{spec.key}",
                spec,
                alarm_actions=actions,
                ok_actions=None,
                tags=tags,
                parent=self,
            )
            for spec in rollback_alarm_specs(args)
        ]

    def _autoscaling(self, name: str, args: InferenceEndpointArgs) -> None:
        resource_id = self.endpoint.name.apply(lambda e: f"endpoint/{e}/variant/{PRIMARY}")
        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=resource_id,
            min_capacity=args.serving.instance_count,
            max_capacity=args.serving.scaling_max,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.appautoscaling.Policy(
            f"{name}-scaling-policy",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": float(args.serving.invocations_per_instance),
                "predefined_metric_specification": {
                    "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                },
                "scale_in_cooldown": SCALE_IN_COOLDOWN_S,
                "scale_out_cooldown": SCALE_OUT_COOLDOWN_S,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
