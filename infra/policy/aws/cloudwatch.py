"""CloudWatch rules: log groups expire and are encrypted, alarms notify someone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import ALARM, LOG_GROUP, days
from mlops.infra.policy.model import Finding, Stack, rule


@rule(
    "aws",
    "mlops-log-retention",
    "Log groups expire their logs",
    "set retention_in_days (logRetentionDays in the stack config)",
    ("AWS Config cw-loggroup-retention-period-check",),
)
def log_retention(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every log group expires its logs."""
    for group in stack.of(LOG_GROUP):
        kept = days(group.props.get("retentionInDays"))
        if kept is None or kept < 1:  # CloudWatch reads 0 (or none) as "never expire"
            yield Finding(group.name, "logs are kept forever")


@rule(
    "aws",
    "CKV_AWS_158",
    "Log groups are encrypted with a KMS key",
    "set kms_key_id to the lake key (its policy lets CloudWatch Logs use it)",
)
def log_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every log group is encrypted with a KMS key."""
    for group in stack.of(LOG_GROUP):
        if not group.props.get("kmsKeyId"):
            yield Finding(group.name, "log group is not encrypted with a KMS key")


@rule(
    "aws",
    "cloudwatch-alarm-action-enabled-check",
    "Alarms have actions, and their actions are enabled",
    "set alarm_actions to the alerts topic and leave actions_enabled on",
)
def alarm_actions(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every alarm notifies someone."""
    for alarm in stack.of(ALARM):
        if alarm.props.get("actionsEnabled") is False or not alarm.props.get("alarmActions"):
            yield Finding(alarm.name, "the alarm notifies no one")
