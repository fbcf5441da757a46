"""CloudWatch alarms as data, and the one place they become ``MetricAlarm`` resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data: what it watches and when it fires."""

    key: str
    description: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    threshold: float
    comparison: str
    period: int = 300
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    statistic: str = "Sum"
    extended_statistic: str = ""
    treat_missing_data: str = "notBreaching"


def metric_alarm(
    logical_name: str,
    alarm_name: str,
    spec: AlarmSpec,
    *,
    alarm_actions: list[pulumi.Input[str]],
    ok_actions: list[pulumi.Input[str]] | None,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm with actions enabled, scoped by ``spec.dimensions``."""
    statistic: dict[str, Any] = (
        {"extended_statistic": spec.extended_statistic}
        if spec.extended_statistic
        else {"statistic": spec.statistic}
    )
    return aws.cloudwatch.MetricAlarm(
        logical_name,
        name=alarm_name,
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric,
        dimensions=spec.dimensions,
        period=spec.period,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        threshold=spec.threshold,
        comparison_operator=spec.comparison,
        treat_missing_data=spec.treat_missing_data,
        actions_enabled=True,
        alarm_actions=alarm_actions,
        ok_actions=ok_actions,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
        **statistic,
    )
