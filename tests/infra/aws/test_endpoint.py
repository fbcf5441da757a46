"""InferenceEndpoint: variants, capture, blue/green with rollback, and autoscaling."""

from __future__ import annotations

import pytest
from platform_runs import CHALLENGER, PACKAGE, SHADOW, one, platform, policy

from mlops.infra.aws.endpoint import InferenceEndpointArgs, deployment_config
from mlops.infra.aws.resource_names import PlatformNames
from mlops.infra.aws.settings import ServingSettings

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"


def test_realtime_config_is_encrypted_and_captures_into_the_lake() -> None:
    config = one(platform("prod"), CONFIG).inputs
    assert config["kmsKeyArn"].endswith("key/churn-prod-lake-key")
    assert "name" not in config  # auto-named, so a changed config is created before the old goes
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == 20  # prod default
    assert capture["destinationS3Uri"] == "s3://churn-prod-lake-raw/capture/"
    assert capture["kmsKeyId"].endswith("key/churn-prod-lake-key")
    assert [o["captureMode"] for o in capture["captureOptions"]] == ["Input", "Output"]
    assert (
        one(platform("staging"), CONFIG).inputs["dataCaptureConfig"]["initialSamplingPercentage"]
        == 50
    )


@pytest.mark.parametrize(("instance", "keyed"), [("ml.g5.xlarge", False), ("ml.m5.large", True)])
def test_instance_storage_key_only_where_aws_accepts_it(instance: str, keyed: bool) -> None:
    config = one(platform("prod", endpointInstanceType=instance), CONFIG).inputs
    assert ("kmsKeyArn" in config) is keyed
    # Captured data lands in S3 encrypted with the lake key on every type.
    assert config["dataCaptureConfig"]["kmsKeyId"].endswith("key/churn-prod-lake-key")


def test_serverless_config_has_memory_and_concurrency_and_no_kms() -> None:
    config = one(platform("dev"), CONFIG).inputs
    assert config["productionVariants"] == [
        {
            "variantName": "primary",
            "modelName": config["productionVariants"][0]["modelName"],
            "initialVariantWeight": 1.0,
            "serverlessConfig": {"memorySizeInMb": 2048, "maxConcurrency": 5},
        }
    ]
    assert "kmsKeyArn" not in config and "dataCaptureConfig" not in config
    # Serverless endpoints reject network isolation; realtime models always get it.
    assert (
        one(platform("dev"), "aws:sagemaker/model:Model").inputs["enableNetworkIsolation"] is False
    )
    assert (
        one(platform("staging"), "aws:sagemaker/model:Model").inputs["enableNetworkIsolation"]
        is True
    )


def test_ab_and_shadow_variants_with_stable_names() -> None:
    program = platform(
        "prod",
        challengerModelPackageArn=CHALLENGER,
        challengerWeight=0.2,
        shadowModelPackageArn=SHADOW,
    )
    config = one(program, CONFIG).inputs
    weights = {v["variantName"]: v["initialVariantWeight"] for v in config["productionVariants"]}
    assert weights == {"primary": 0.8, "challenger": 0.2}
    assert [v["variantName"] for v in config["shadowProductionVariants"]] == ["shadow"]
    models = {
        m.name: m.inputs["primaryContainer"]["modelPackageName"]
        for m in program.of_type("aws:sagemaker/model:Model")
    }
    assert models == {
        "churn-prod-endpoint-model-primary": PACKAGE,
        "churn-prod-endpoint-model-challenger": CHALLENGER,
        "churn-prod-endpoint-model-shadow": SHADOW,
    }
    # Changing the served package changes the model, never the variant names.
    other = one(platform("prod", modelPackageArn=CHALLENGER), CONFIG).inputs
    assert [v["variantName"] for v in other["productionVariants"]] == ["primary"]


def test_canary_rollout_bakes_and_rolls_back_on_scoped_alarms() -> None:
    program = platform("prod")
    endpoint = one(program, ENDPOINT).inputs
    assert endpoint["name"] == "churn-prod-endpoint"
    policy = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]
    assert policy["trafficRoutingConfiguration"] == {
        "type": "CANARY",
        "waitIntervalInSeconds": 600,
        "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
    }
    assert policy["terminationWaitInSeconds"] == 300
    rollback = [
        a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    ]
    assert rollback == ["churn-prod-endpoint-rollback-5xx", "churn-prod-endpoint-rollback-latency"]
    alarms = {
        a.inputs["name"]: a.inputs
        for a in program.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    for name in rollback:
        alarm = alarms[name]
        assert alarm["dimensions"] == {
            "EndpointName": "churn-prod-endpoint",
            "VariantName": "primary",
        }
        assert alarm["actionsEnabled"] is True and alarm["alarmActions"]
    assert alarms["churn-prod-endpoint-rollback-latency"]["extendedStatistic"] == "p99"
    assert alarms["churn-prod-endpoint-rollback-latency"]["threshold"] == 500_000  # microseconds


def test_linear_rollout_steps() -> None:
    endpoint = one(platform("staging", rollout="linear", rolloutStepPercent=25), ENDPOINT).inputs
    routing = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["type"] == "LINEAR"
    assert routing["linearStepSize"] == {"type": "CAPACITY_PERCENT", "value": 25}


def test_autoscaling_tracks_invocations_per_instance() -> None:
    program = platform("prod")
    target = one(program, "aws:appautoscaling/target:Target").inputs
    assert target["resourceId"] == "endpoint/churn-prod-endpoint/variant/primary"
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 4)
    scaling = one(program, "aws:appautoscaling/policy:Policy").inputs
    assert scaling["policyType"] == "TargetTrackingScaling"
    tracking = scaling["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 100.0
    assert (
        tracking["predefinedMetricSpecification"]["predefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )


@pytest.mark.parametrize("rollout", ["all_at_once", "canary", "linear"])
def test_deployment_config_is_a_pure_function(rollout: str) -> None:
    args = InferenceEndpointArgs(
        names=PlatformNames("p"),
        tags={},
        account_id="123456789012",
        region="us-east-1",
        partition="aws",
        bucket_names={},
        repository_arn="repo",
        key_arn="k",
        capture_uri="s3://c/",
        serving=ServingSettings(
            model_package_arn=PACKAGE, endpoint_type="realtime", rollout=rollout, baking_minutes=3
        ),
    )
    config = deployment_config(args, ["a1"])
    routing = config["blue_green_update_policy"]["traffic_routing_configuration"]
    assert routing["type"] == rollout.upper() and routing["wait_interval_in_seconds"] == 180
    assert ("canary_size" in routing) is (rollout == "canary")
    assert ("linear_step_size" in routing) is (rollout == "linear")
    assert config["auto_rollback_configuration"] == {"alarms": [{"alarm_name": "a1"}]}


def test_models_run_with_their_own_least_privilege_role() -> None:
    program = platform("prod")
    roles = {r.name: r for r in program.of_type("aws:iam/role:Role")}
    model_role = roles["churn-prod-endpoint-model-role"]
    for model in program.of_type("aws:sagemaker/model:Model"):
        assert (
            model.inputs["executionRoleArn"]
            == "arn:aws:iam::123456789012:role/churn-prod-endpoint-model-role"
        )
        assert model.inputs["executionRoleArn"] != (
            "arn:aws:iam::123456789012:role/churn-prod-training-execution-role"
        )
    trust = policy(model_role, "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    statements = {
        s["Sid"]: s
        for s in policy(
            one(program, "aws:iam/rolePolicy:RolePolicy", "churn-prod-endpoint-model-role-policy")
        )["Statement"]
    }
    assert {sid: s["Resource"] for sid, s in statements.items()} == {
        "PullServingImage": "arn:aws:ecr:us-east-1:123456789012:repository/churn-prod",
        "RegistryLogin": "*",
        "ReadModelArtifacts": "arn:aws:s3:::churn-prod-lake-artifacts/models/*",
        "WriteCapturedTraffic": "arn:aws:s3:::churn-prod-lake-raw/capture/*",
        "UseLakeKey": "arn:aws:kms:us-east-1:123456789012:key/churn-prod-lake-key",
        "WriteOwnLogs": (
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/"
            "churn-prod-endpoint:*"
        ),
    }
    actions = {
        a
        for s in statements.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    # Serving neither trains, registers, passes roles nor writes anywhere but capture and logs.
    assert not {a for a in actions if a.startswith(("sagemaker:", "iam:"))}
    assert {a for a in actions if a.startswith("s3:Put")} == {"s3:PutObject"}
