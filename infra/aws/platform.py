"""``mlops:aws:MLPlatform``: the whole ML platform of one stack, composed from the components.

``MLPlatform(name, StackConfig.load())`` is the entire program of a generated project. The
endpoint waits for an approved model: until ``modelPackageArn`` is set, it is skipped with a
message, and everything else (lake, training, registry, monitoring) is provisioned.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import DRIFT_METRIC, DRIFT_NAMESPACE, PlatformOutputs
from mlops.core.layout import LAYOUT
from mlops.infra.aws.budget import CostBudget, CostBudgetArgs
from mlops.infra.aws.data_lake import DataLake, DataLakeArgs
from mlops.infra.aws.data_quality import DataQualityMonitor, DataQualityMonitorArgs
from mlops.infra.aws.endpoint import InferenceEndpoint, InferenceEndpointArgs
from mlops.infra.aws.model_registry import ModelRegistry, ModelRegistryArgs
from mlops.infra.aws.monitoring import Monitoring, MonitoringArgs
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.training_pipeline import TrainingPipeline, TrainingPipelineArgs
from mlops.infra.config import StackConfig

NO_MODEL_MESSAGE = (
    "no approved model yet, so no endpoint: approve a model package, then run"
    " `pulumi config set modelPackageArn ARN` and `pulumi up`"
)


def lake_uri(buckets: dict[str, str], place: str) -> str:
    """``s3://`` URI of a named place in the lake (see ``mlops.core.layout``)."""
    zone, prefix = LAYOUT[place]
    return f"s3://{buckets[zone]}/{prefix}"


class MLPlatform(pulumi.ComponentResource):
    """Data lake, GPU training pipeline, registry, endpoint and monitoring for one stack.

    Outputs:
        platform: every name, ARN and URI the pipelines runtime needs (export it as
            ``platform``), so code reads the stack instead of guessing names.
    """

    platform: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:MLPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = PlatformNames(config.name_prefix)
        account = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id

        self.lake = DataLake(f"{name}-lake", DataLakeArgs.from_config(config, account), opts=child)
        buckets = self.lake.bucket_names
        self.training = TrainingPipeline(
            f"{name}-training",
            TrainingPipelineArgs.from_config(config, account, buckets, self.lake.key_arn),
            opts=child,
        )
        self.registry = ModelRegistry(
            f"{name}-registry",
            ModelRegistryArgs.from_config(config, account, self.lake.key_arn),
            opts=child,
        )
        self.monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs.from_config(
                config,
                account,
                self.lake.key_arn,
                self.training.pipeline_arn,
                self.training.start_role_arn,
            ),
            opts=child,
        )
        if config.budget:
            CostBudget(
                f"{name}-budget",
                CostBudgetArgs.from_config(config, self.monitoring.alerts_topic_arn),
                opts=child,
            )
        capture_uri = buckets.apply(lambda b: lake_uri(b, "capture"))
        self.endpoint: InferenceEndpoint | None = None
        if config.model_package_arn:
            self.endpoint = InferenceEndpoint(
                f"{name}-endpoint",
                InferenceEndpointArgs.from_config(
                    config,
                    account,
                    buckets,
                    self.training.repository_arn,
                    self.lake.key_arn,
                    capture_uri,
                    self.monitoring.alerts_topic_arn,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.registry]),
            )
            # Serverless endpoints capture nothing, so only realtime ones are monitored; AWS has
            # closed Model Monitor to new accounts, so it can be switched off (the drift alarm
            # and its retraining do not depend on it).
            if config.endpoint_type == "realtime" and config.data_quality_monitor:
                DataQualityMonitor(
                    f"{name}-data-quality",
                    DataQualityMonitorArgs.from_config(
                        config,
                        self.training.role_arn,
                        self.lake.key_arn,
                        self.endpoint.endpoint_name,
                        buckets.apply(lambda b: lake_uri(b, "monitoring")),
                    ),
                    opts=child,
                )
        else:
            pulumi.log.info(NO_MODEL_MESSAGE, resource=self)

        self.platform = pulumi.Output.all(
            account=account,
            buckets=buckets,
            capture_uri=capture_uri,
            key_arn=self.lake.key_arn,
            glue_database=self.lake.glue_database,
            role_arn=self.training.role_arn,
            repository_url=self.training.repository_url,
            image_uri=self.training.image_uri,
            pipeline_name=self.training.pipeline_name,
            pipeline_arn=self.training.pipeline_arn,
            model_package_group=self.registry.group_name,
            approvals_topic_arn=self.registry.approvals_topic_arn,
            alerts_topic_arn=self.monitoring.alerts_topic_arn,
            alarm_names=self.monitoring.alarm_names,
            endpoint_name=self.endpoint.endpoint_name if self.endpoint else "",
        ).apply(
            lambda v: PlatformOutputs.from_mapping(
                {
                    **v,
                    "project": config.project,
                    "environment": config.environment,
                    "region": config.region,
                    "endpoint_type": config.endpoint_type,
                    "drift_namespace": DRIFT_NAMESPACE,
                    "drift_metric": DRIFT_METRIC,
                    "planned_endpoint_name": names.endpoint,
                    "primary_metric": config.primary_metric,
                    "evaluation_margin": config.evaluation_margin,
                    "drift_threshold": config.drift_threshold,
                    "hyperparameters": dict(config.hyperparameters),
                }
            ).to_mapping()
        )
        self.register_outputs({"platform": self.platform})
