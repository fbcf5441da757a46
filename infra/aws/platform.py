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
from mlops.core.layout import lake_uri
from mlops.infra.aws.budget import CostBudget, CostBudgetArgs
from mlops.infra.aws.catalog import SPARK_IMAGE_SUFFIX
from mlops.infra.aws.data_lake import DataLake, DataLakeArgs
from mlops.infra.aws.data_quality import (
    DataQualityMonitor,
    DataQualityMonitorArgs,
    analyzer_image,
)
from mlops.infra.aws.drift_job import DriftJob, DriftJobArgs, drift_engine
from mlops.infra.aws.endpoint import InferenceEndpoint, InferenceEndpointArgs
from mlops.infra.aws.mlflow_tracking import MlflowTracking, MlflowTrackingArgs
from mlops.infra.aws.model_registry import ModelRegistry, ModelRegistryArgs
from mlops.infra.aws.monitoring import Monitoring, MonitoringArgs
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.training_pipeline import (
    TrainingPipeline,
    TrainingPipelineArgs,
    image_reference,
)
from mlops.infra.config import StackConfig

NO_MODEL_MESSAGE = (
    "no approved model yet, so no endpoint: approve a model package, then run"
    " `pulumi config set modelPackageArn ARN` and `pulumi up`"
)


def lake_args(config: StackConfig, account_id: pulumi.Input[str]) -> DataLakeArgs:
    """The lake's settings: what an environment protects, and how local mode is reached."""
    return DataLakeArgs(
        tags=config.tags,
        account_id=account_id,
        region=config.region,
        partition=config.partition,
        protect=config.protect,
        # Outside prod, `pulumi destroy` empties and deletes every bucket: the access-log
        # bucket is never empty (S3 keeps delivering), and dev/staging data is disposable.
        # Prod protects and retains its buckets and key instead.
        force_destroy=not config.protect,
        tls_only=config.environment != "local",
        key_deletion_window_days=30 if config.protect else 7,
    )


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

        # Each component gets its own settings section plus the outputs it depends on.
        self.lake = DataLake(f"{name}-lake", lake_args(config, account), opts=child)
        buckets, key_arn = self.lake.bucket_names, self.lake.key_arn
        self.training = TrainingPipeline(
            f"{name}-training",
            TrainingPipelineArgs(
                names=names,
                tags=config.tags,
                account_id=account,
                region=config.region,
                partition=config.partition,
                bucket_names=buckets,
                key_arn=key_arn,
                training=config.training,
                inference_instance_types=(config.serving.instance_type,),
                log_retention_days=config.monitoring.log_retention_days,
                force_delete=not config.protect,  # non-prod images go with the stack
            ),
            opts=child,
        )
        self.registry = ModelRegistry(
            f"{name}-registry",
            ModelRegistryArgs(
                names=names,
                tags=config.tags,
                account_id=account,
                partition=config.partition,
                key_arn=key_arn,
                notifications=config.notifications,
            ),
            opts=child,
        )
        self.monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                names=names,
                tags=config.tags,
                account_id=account,
                region=config.region,
                partition=config.partition,
                key_arn=key_arn,
                pipeline_arn=self.training.pipeline_arn,
                start_role_arn=self.training.start_role_arn,
                endpoint=bool(config.serving.model_package_arn),
                alarms=config.alarms,
                monitoring=config.monitoring,
                notifications=config.notifications,
            ),
            opts=child,
        )
        tracking_arn: pulumi.Input[str] = ""
        if config.tracking.mlflow_tracking_server:  # SageMaker managed MLflow, when asked for
            tracking_arn = MlflowTracking(
                f"{name}-mlflow",
                MlflowTrackingArgs(
                    names, config.tags, account, config.region, config.partition,
                    buckets.apply(lambda b: b["artifacts"]), key_arn, config.tracking,
                ),
                opts=child,
            ).server_arn  # fmt: skip
        if config.budget.monthly_usd:
            CostBudget(
                f"{name}-budget",
                CostBudgetArgs(
                    f"{config.name_prefix}-monthly",
                    config.budget.monthly_usd,
                    config.project,
                    config.environment,
                    self.monitoring.alerts_topic_arn,
                    config.tags,
                ),
                opts=child,
            )
        capture_uri = buckets.apply(lambda b: lake_uri(b, "capture"))
        self.endpoint: InferenceEndpoint | None = None
        if config.serving.model_package_arn:
            self.endpoint = self._serve(name, config, names, account, capture_uri)
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
            mlflow_tracking_server_arn=tracking_arn,
        ).apply(
            lambda v: PlatformOutputs.from_mapping(
                {
                    **v,
                    "project": config.project,
                    "environment": config.environment,
                    "region": config.region,
                    "endpoint_type": config.serving.endpoint_type,
                    "drift_namespace": DRIFT_NAMESPACE,
                    "drift_metric": DRIFT_METRIC,
                    "planned_endpoint_name": names.endpoint,
                    "primary_metric": config.training.primary_metric,
                    "evaluation_margin": config.training.evaluation_margin,
                    "drift_threshold": config.monitoring.drift_threshold,
                    "drift_window_hours": config.monitoring.drift_window_hours,
                    "hyperparameters": dict(config.training.hyperparameters),
                }
            ).to_mapping()
        )
        self.register_outputs({"platform": self.platform})

    def _serve(
        self,
        name: str,
        config: StackConfig,
        names: PlatformNames,
        account: pulumi.Input[str],
        capture_uri: pulumi.Input[str],
    ) -> InferenceEndpoint:
        """The endpoint of the approved model, its drift check and data-quality monitor."""
        buckets, key_arn = self.lake.bucket_names, self.lake.key_arn
        endpoint = InferenceEndpoint(
            f"{name}-endpoint",
            InferenceEndpointArgs(
                names=names,
                tags=config.tags,
                account_id=account,
                region=config.region,
                partition=config.partition,
                bucket_names=buckets,
                repository_arn=self.training.repository_arn,
                key_arn=key_arn,
                capture_uri=capture_uri,
                serving=config.serving,
                alarms=config.alarms,
                alarm_topic_arn=self.monitoring.alerts_topic_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.registry]),
        )
        # Serverless endpoints capture nothing, so only realtime ones are monitored.
        monitoring = config.monitoring
        if config.serving.realtime and monitoring.drift_job:
            # Our engine on a schedule: its score feeds the drift alarm, which retrains.
            DriftJob(
                f"{name}-drift",
                DriftJobArgs(
                    names=names,
                    tags=config.tags,
                    account_id=account,
                    region=config.region,
                    partition=config.partition,
                    bucket_names=buckets,
                    key_arn=key_arn,
                    repository_arn=self.training.repository_arn,
                    image_uri=self.training.image_uri,
                    # The Spark drift image, built and pushed only for stacks whose checks run
                    # Spark (the default "" otherwise: the step runs the project's image).
                    spark_image_uri=self.training.repository_url.apply(
                        lambda url: image_reference(
                            url,
                            config.training.image_tag + SPARK_IMAGE_SUFFIX,
                            monitoring.spark_image_digest,
                        )
                    )
                    if drift_engine(monitoring) == "spark"
                    else "",
                    endpoint_name=endpoint.endpoint_name,
                    model_package_arn=config.serving.model_package_arn,
                    monitoring=monitoring,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # Model Monitor's analyzer (other statistics, closed to new AWS accounts) only on
        # request; the drift alarm and its retraining do not depend on it.
        if config.serving.realtime and monitoring.data_quality_monitor:
            DataQualityMonitor(
                f"{name}-data-quality",
                DataQualityMonitorArgs(
                    tags=config.tags,
                    role_arn=self.training.role_arn,
                    key_arn=key_arn,
                    endpoint_name=endpoint.endpoint_name,
                    monitoring_uri=buckets.apply(lambda b: lake_uri(b, "monitoring")),
                    image=analyzer_image(
                        monitoring.model_monitor_image, config.region, config.environment
                    ),
                    instance_type=config.training.processing_instance_type,
                    schedule=monitoring.monitor_schedule,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return endpoint
