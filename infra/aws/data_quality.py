"""``mlops:aws:DataQualityMonitor``: SageMaker Model Monitor data-quality jobs on a schedule.

The job reads the endpoint's captured traffic and writes its reports to the lake. SageMaker
checks that the endpoint exists when the schedule is created, so the job takes the endpoint's
name as an output of the endpoint itself: Pulumi then creates the endpoint first, on the first
``pulumi up`` of a stack too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops.core.errors import ConfigError
from mlops.infra.aws.catalog import model_monitor_image, volume_kms_allowed
from mlops.infra.config import StackConfig


@dataclass(frozen=True)
class DataQualityMonitorArgs:
    """Inputs of :class:`DataQualityMonitor`.

    Attributes:
        tags: tags for every taggable resource.
        role_arn: role the data-quality jobs run as.
        key_arn: KMS key of the reports and (where AWS takes one) the job volumes.
        endpoint_name: the monitored endpoint's name, as an output of the endpoint.
        monitoring_uri: ``s3://`` prefix for data-quality reports.
        image: the Model Monitor analyzer image of the region.
        instance_type: type of the data-quality jobs.
        schedule: when the jobs run.
    """

    tags: Mapping[str, str]
    role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    monitoring_uri: pulumi.Input[str]
    image: str
    instance_type: str
    schedule: str

    @classmethod
    def from_config(  # the platform's wiring, one argument per dependency
        cls,
        config: StackConfig,
        role_arn: pulumi.Input[str],
        key_arn: pulumi.Input[str],
        endpoint_name: pulumi.Input[str],
        monitoring_uri: pulumi.Input[str],
    ) -> DataQualityMonitorArgs:
        """Derive the job's settings from a stack config and the other components.

        Raises:
            ConfigError: no analyzer image is known for the region and none is configured.
        """
        image = config.model_monitor_image or model_monitor_image(config.region)
        if image is None:
            raise ConfigError(
                config.environment,
                [("modelMonitorImage", f"no Model Monitor image is known for {config.region}")],
            )
        return cls(
            tags=config.tags,
            role_arn=role_arn,
            key_arn=key_arn,
            endpoint_name=endpoint_name,
            monitoring_uri=monitoring_uri,
            image=image,
            instance_type=config.processing_instance_type,
            schedule=config.monitor_schedule,
        )


class DataQualityMonitor(pulumi.ComponentResource):
    """A data-quality job definition over the endpoint's captured data, and its schedule.

    Outputs:
        job_definition_name: the job definition.
        schedule_name: the monitoring schedule.
    """

    job_definition_name: pulumi.Output[str]
    schedule_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: DataQualityMonitorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:DataQualityMonitor", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        definition = aws.sagemaker.DataQualityJobDefinition(
            f"{name}-definition",
            role_arn=args.role_arn,
            data_quality_app_specification={"image_uri": args.image},
            data_quality_job_input={
                "endpoint_input": {
                    "endpoint_name": args.endpoint_name,
                    "local_path": "/opt/ml/processing/input/endpoint",
                }
            },
            data_quality_job_output_config={
                "monitoring_outputs": {
                    "s3_output": {
                        "s3_uri": args.monitoring_uri,
                        "local_path": "/opt/ml/processing/output",
                    }
                },
                "kms_key_id": args.key_arn,
            },
            job_resources={
                "cluster_config": {
                    "instance_count": 1,
                    "instance_type": args.instance_type,
                    "volume_size_in_gb": 20,
                    # Local-NVMe types are hardware-encrypted; AWS refuses a key for them.
                    "volume_kms_key_id": (
                        args.key_arn if volume_kms_allowed(args.instance_type) else None
                    ),
                }
            },
            network_config={
                "enable_network_isolation": True,
                "enable_inter_container_traffic_encryption": True,
            },
            stopping_condition={"max_runtime_in_seconds": 3600},
            tags=tags,
            opts=child,
        )
        schedule = aws.sagemaker.MonitoringSchedule(
            f"{name}-schedule",
            monitoring_schedule_config={
                "monitoring_job_definition_name": definition.name,
                "monitoring_type": "DataQuality",
                "schedule_config": {"schedule_expression": args.schedule},
            },
            tags=tags,
            opts=child,
        )
        self.job_definition_name = definition.name
        self.schedule_name = schedule.name
        self.register_outputs(
            {"job_definition_name": self.job_definition_name, "schedule_name": self.schedule_name}
        )
