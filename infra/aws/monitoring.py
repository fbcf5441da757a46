"""``mlops:aws:Monitoring``: alarms, a dashboard, data-quality monitoring, and the retraining loop.

Every alarm is scoped by dimensions to this platform's endpoint or pipeline and notifies an
encrypted SNS topic. The drift alarm (on the drift score the monitoring runtime publishes)
also goes to EventBridge, which starts the training pipeline: drift triggers retraining.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import DRIFT_DIMENSION, DRIFT_METRIC, DRIFT_NAMESPACE, PRIMARY_VARIANT
from mlops.infra.aws.alarms import AlarmSpec, metric_alarm
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.settings import AlarmSettings, MonitoringSettings, NotificationSettings
from mlops.infra.aws.topics import encrypted_topic

PIPELINE_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`: its settings sections and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account.
        region: the AWS region.
        partition: the AWS partition.
        key_arn: KMS key of the topic, monitoring outputs and volumes.
        pipeline_arn: the training pipeline that drift restarts.
        start_role_arn: role EventBridge assumes to start it.
        endpoint: whether an endpoint exists (endpoint alarms and widgets need one).
        alarms: the endpoint alarms' thresholds (latency, 5XX, 4XX, dropped traffic).
        monitoring: the drift score that triggers retraining.
        notifications: the address subscribed to alerts.
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    key_arn: pulumi.Input[str]
    pipeline_arn: pulumi.Input[str]
    start_role_arn: pulumi.Input[str]
    endpoint: bool
    alarms: AlarmSettings = field(default_factory=AlarmSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)


# Exported for testing: which alarms exist is a pure function of the settings.


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """Every alarm this platform gets."""
    names = args.names
    endpoint = {"EndpointName": names.endpoint, "VariantName": PRIMARY_VARIANT}
    specs = [
        AlarmSpec(
            "pipeline-failed",
            "A training pipeline execution failed",
            PIPELINE_NAMESPACE,
            "ExecutionFailed",
            {"PipelineName": names.pipeline},
            0,
            "GreaterThanThreshold",
        ),
        AlarmSpec(
            "drift",
            f"Drift score above {args.monitoring.drift_threshold}: retraining starts",
            DRIFT_NAMESPACE,
            DRIFT_METRIC,
            {DRIFT_DIMENSION: names.endpoint},
            args.monitoring.drift_threshold,
            "GreaterThanThreshold",
            period=3600,
            statistic="Maximum",
        ),
    ]
    if not args.endpoint:
        return specs
    specs += [
        AlarmSpec(
            "latency-p99",
            f"p99 model latency above {args.alarms.latency_p99_ms} ms",
            "AWS/SageMaker",
            "ModelLatency",
            endpoint,
            args.alarms.latency_p99_ms * 1000,
            "GreaterThanThreshold",
            evaluation_periods=3,
            statistic="",
            extended_statistic="p99",
        ),
        AlarmSpec(
            "errors-5xx",
            "Endpoint server errors",
            "AWS/SageMaker",
            "Invocation5XXErrors",
            endpoint,
            args.alarms.errors_5xx_threshold,
            "GreaterThanOrEqualToThreshold",
        ),
        AlarmSpec(
            "errors-4xx",
            "Endpoint client errors (bad requests)",
            "AWS/SageMaker",
            "Invocation4XXErrors",
            endpoint,
            args.alarms.errors_4xx_threshold,
            "GreaterThanOrEqualToThreshold",
        ),
    ]
    if args.alarms.invocation_drop_alarm:
        specs.append(
            AlarmSpec(
                "invocation-drop",
                "Traffic to the endpoint stopped",
                "AWS/SageMaker",
                "Invocations",
                endpoint,
                args.alarms.min_invocations,
                "LessThanThreshold",
                period=900,
                treat_missing_data="breaching",
            )
        )
    return specs


def dashboard_body(names: PlatformNames, region: str) -> dict[str, Any]:
    """One dashboard: endpoint traffic, errors and latency; training; drift."""
    endpoint = ["EndpointName", names.endpoint, "VariantName", PRIMARY_VARIANT]

    def widget(title: str, metrics: list[list[Any]], y: int, x: int) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {"title": title, "region": region, "metrics": metrics, "period": 300},
        }

    return {
        "widgets": [
            widget(
                "Invocations", [["AWS/SageMaker", "Invocations", *endpoint, {"stat": "Sum"}]], 0, 0
            ),
            widget(
                "Errors",
                [
                    ["AWS/SageMaker", "Invocation4XXErrors", *endpoint, {"stat": "Sum"}],
                    ["AWS/SageMaker", "Invocation5XXErrors", *endpoint, {"stat": "Sum"}],
                ],
                0,
                12,
            ),
            widget(
                "Model latency p99 (µs)",
                [["AWS/SageMaker", "ModelLatency", *endpoint, {"stat": "p99"}]],
                6,
                0,
            ),
            widget(
                "Training pipeline",
                [
                    [
                        PIPELINE_NAMESPACE,
                        "ExecutionSucceeded",
                        "PipelineName",
                        names.pipeline,
                        {"stat": "Sum"},
                    ],
                    [
                        PIPELINE_NAMESPACE,
                        "ExecutionFailed",
                        "PipelineName",
                        names.pipeline,
                        {"stat": "Sum"},
                    ],
                ],
                6,
                12,
            ),
            widget(
                "Drift score",
                [
                    [
                        DRIFT_NAMESPACE,
                        DRIFT_METRIC,
                        DRIFT_DIMENSION,
                        names.endpoint,
                        {"stat": "Maximum"},
                    ]
                ],
                12,
                0,
            ),
        ]
    }


def drift_event_pattern(alarm_arn: str) -> dict[str, Any]:
    """The drift alarm entering ALARM."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [alarm_arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }


class Monitoring(pulumi.ComponentResource):
    """Alarms, a dashboard and data-quality monitoring, with drift closing the loop.

    Outputs:
        alerts_topic_arn: the topic every alarm notifies.
        alarm_names: alarm key -> alarm name.
        dashboard_name: the CloudWatch dashboard.
    """

    alerts_topic_arn: pulumi.Output[str]
    alarm_names: pulumi.Output[dict[str, str]]
    dashboard_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        self.topic = encrypted_topic(
            f"{name}-alerts",
            key_arn=args.key_arn,
            publishers=["cloudwatch", "events", "budgets"],
            partition=args.partition,
            account_id=args.account_id,
            tags=tags,
            email=args.notifications.notification_email,
            parent=self,
        )
        self.alarms = {
            spec.key: metric_alarm(
                f"{name}-{spec.key}",
                f"{args.names.prefix}-{spec.key}",
                spec,
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                tags=tags,
                parent=self,
            )
            for spec in alarm_specs(args)
        }

        drift_rule = aws.cloudwatch.EventRule(
            f"{name}-drift-retrain",
            description=f"Drift on {args.names.endpoint} starts the training pipeline",
            event_pattern=self.alarms["drift"].arn.apply(
                lambda arn: json.dumps(drift_event_pattern(arn))
            ),
            tags=tags,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-drift-retrain-target",
            rule=drift_rule.name,
            arn=args.pipeline_arn,
            role_arn=args.start_role_arn,
            sagemaker_pipeline_target={
                "pipeline_parameter_lists": [{"name": "TriggeredBy", "value": "drift"}]
            },
            opts=child,
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.names.prefix,
            dashboard_body=json.dumps(dashboard_body(args.names, args.region)),
            opts=child,
        )
        self.alerts_topic_arn = self.topic.arn
        self.alarm_names = pulumi.Output.all(**{k: a.name for k, a in self.alarms.items()})
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs(
            {
                "alerts_topic_arn": self.alerts_topic_arn,
                "alarm_names": self.alarm_names,
                "dashboard_name": self.dashboard_name,
            }
        )
