"""StackConfig: one validated model per stack, with errors that name the key."""

from __future__ import annotations

import pytest

from mlops.core.errors import ConfigError
from mlops.infra.config import StackConfig

BASE = {"aws:region": "eu-west-1", "churn:owner": "me"}
PACKAGES = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g"


def test_defaults_and_derived_values() -> None:
    cfg = StackConfig.from_values(
        "churn", "prod", {**BASE, "churn:spot": "true", "churn:trainingInstanceCount": "2"}
    )
    assert cfg.environment == "prod" and cfg.protect is True
    assert cfg.spot is True and cfg.training_instance_count == 2
    assert cfg.partition == "aws"
    assert cfg.name_prefix == "churn-prod"
    assert cfg.tags == {
        "project": "churn",
        "environment": "prod",
        "owner": "me",
        "cost-center": "ml",
        "managed-by": "mlops-stack",
    }


@pytest.mark.parametrize(
    ("stack", "protect"), [("dev", False), ("staging", False), ("prod", True), ("local", False)]
)
def test_only_prod_is_protected(stack: str, protect: bool) -> None:
    assert StackConfig.from_values("churn", stack, BASE).protect is protect


def test_china_region_has_its_partition() -> None:
    assert (
        StackConfig.from_values("churn", "dev", {"aws:region": "cn-north-1"}).partition == "aws-cn"
    )


def test_other_projects_keys_are_ignored() -> None:
    StackConfig.from_values("churn", "dev", {**BASE, "other:thing": "x", "aws:profile": "p"})


@pytest.mark.parametrize(
    ("values", "stack", "message"),
    [
        (
            {"churn:trainingInstnaceType": "ml.m5.xlarge"},
            "dev",
            "unknown config key (did you mean 'trainingInstanceType'?)",
        ),
        (
            {"churn:trainingInstanceType": "ml.x9.large"},
            "dev",
            "unknown instance type 'ml.x9.large'",
        ),
        ({"churn:trainingInstanceCount": "0"}, "dev", "greater than or equal to 1"),
        ({"churn:endpointType": "batch"}, "dev", "endpointType"),
        ({}, "feature-x", "set one with `pulumi config set environment ENV`"),
        ({"aws:region": "moon-1"}, "dev", "unknown region 'moon-1'"),
        ({"churn:deployWebhookUrl": "http://x"}, "dev", "must be an https:// URL"),
        ({"churn:logRetentionDays": "10"}, "dev", "CloudWatch Logs accepts only"),
        ({"churn:endpointInstanceCount": "1"}, "prod", "prod needs at least 2 instances"),
        ({"churn:rollout": "canary"}, "dev", "serverless endpoints only support all_at_once"),
        (
            {
                "churn:modelPackageArn": f"{PACKAGES}/1",
                "churn:challengerModelPackageArn": f"{PACKAGES}/2",
            },
            "dev",
            "serverless endpoints serve a single variant",
        ),
        ({"churn:modelPackageArn": "arn:aws:s3:::nope"}, "dev", "is not a model package ARN"),
    ],
)
def test_invalid_config_names_the_key(values: dict[str, str], stack: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        StackConfig.from_values("churn", stack, {**BASE, **values})
    assert message in str(info.value)
    assert f"stack '{stack}'" in str(info.value)


def test_region_is_required() -> None:
    with pytest.raises(ConfigError, match="aws:region: is required"):
        StackConfig.from_values("churn", "dev", {})


def test_explicit_environment_for_a_custom_stack_name() -> None:
    assert (
        StackConfig.from_values(
            "churn", "feature-x", {**BASE, "churn:environment": "dev"}
        ).environment
        == "dev"
    )


def test_hyperparameters_come_from_config_as_json() -> None:
    cfg = StackConfig.from_values(
        "churn", "dev", {**BASE, "churn:hyperparameters": '{"C": 0.5, "max_iter": 100}'}
    )
    assert cfg.hyperparameters == {"C": 0.5, "max_iter": 100}
    with pytest.raises(ConfigError, match="hyperparameters"):
        StackConfig.from_values(
            "churn", "dev", {**BASE, "churn:hyperparameters": '["not", "a", "mapping"]'}
        )
