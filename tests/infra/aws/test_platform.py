"""MLPlatform in every environment: security defaults, differences, tags and protection."""

from __future__ import annotations

import pytest
from platform_runs import ENVIRONMENTS, PACKAGE, TAGS, one, platform, taggable

from mlops.infra.aws.platform import NO_MODEL_MESSAGE


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_taggable_resource_is_tagged(stack: str) -> None:
    program = platform(stack)
    tagged = [r for r in program.resources if r.custom and taggable(r.type)]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource.inputs.get("tags") or {}
        assert TAGS <= set(tags), (resource.type, resource.name)
        assert tags["environment"] == stack and tags["managed-by"] == "mlops-stack"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_protection_in_prod_only(stack: str) -> None:
    program = platform(stack)
    protected = {r.name for r in program.resources if r.protect}
    retained = {r.name for r in program.resources if r.retain_on_delete}
    if stack == "prod":
        assert (
            protected
            == retained
            == {
                "churn-prod-lake-key",
                *(
                    f"churn-prod-lake-{z}"
                    for z in ("raw", "curated", "features", "artifacts", "logs")
                ),
            }
        )
    else:
        assert protected == retained == set()


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_children_are_parented_under_their_component(stack: str) -> None:
    program = platform(stack)
    components = {r.name: r for r in program.resources if not r.custom}
    assert set(components) >= {f"churn-{stack}", f"churn-{stack}-lake", f"churn-{stack}-training"}
    for resource in program.resources:
        if resource.name == f"churn-{stack}":
            assert resource.parent == ""
        else:
            assert resource.parent, resource.name
            assert any(resource.name.startswith(f"{c}-") for c in components), resource.name


def test_environment_differences() -> None:
    dev, staging, prod = (platform(s) for s in ("dev", "staging", "prod"))

    def variant(program):  # type: ignore[no-untyped-def]
        return one(program, "aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs[
            "productionVariants"
        ][0]

    assert "serverlessConfig" in variant(dev) and "instanceType" not in variant(dev)
    assert variant(staging)["initialInstanceCount"] == 1
    assert variant(prod)["initialInstanceCount"] == 2
    scaling = {
        p.name: p
        for p in (dev, staging, prod)
        for p in p.of_type("aws:appautoscaling/target:Target")
    }
    assert scaling["churn-prod-endpoint-scaling-target"].inputs["maxCapacity"] == 4
    assert scaling["churn-prod-endpoint-scaling-target"].inputs["minCapacity"] == 2
    assert "churn-dev-endpoint-scaling-target" not in scaling  # serverless scales itself

    def routing(program):  # type: ignore[no-untyped-def]
        return one(program, "aws:sagemaker/endpoint:Endpoint").inputs["deploymentConfig"][
            "blueGreenUpdatePolicy"
        ]["trafficRoutingConfiguration"]

    assert routing(prod)["type"] == "CANARY" and routing(dev)["type"] == "ALL_AT_ONCE"

    def training(program):  # type: ignore[no-untyped-def]
        import json

        definition = json.loads(
            one(
                program,
                "aws:sagemaker/pipeline:Pipeline",
                program.resources[0].name + "-training-pipeline",
            ).inputs["pipelineDefinition"]
        )
        return definition["Steps"][1]["Arguments"]

    assert training(dev)["EnableManagedSpotTraining"] is True
    assert "EnableManagedSpotTraining" not in training(prod)
    drop = {
        a.inputs["name"]
        for p in (dev, prod)
        for a in p.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert "churn-prod-invocation-drop" in drop and "churn-dev-invocation-drop" not in drop


def test_endpoint_is_skipped_until_a_model_is_approved() -> None:
    program = platform("prod", model=False)
    types = {r.type for r in program.resources}
    assert not types & {
        "aws:sagemaker/endpoint:Endpoint",
        "aws:sagemaker/model:Model",
        "aws:sagemaker/monitoringSchedule:MonitoringSchedule",
    }
    assert program.result["platform"]["endpoint_name"] == ""
    # Everything else is still there: lake, training, registry and monitoring.
    assert {
        "mlops:aws:DataLake",
        "mlops:aws:TrainingPipeline",
        "mlops:aws:ModelRegistry",
        "mlops:aws:Monitoring",
    } <= types
    assert "modelPackageArn" in NO_MODEL_MESSAGE


def test_platform_output_names_everything_the_runtime_needs() -> None:
    out = platform("prod").result["platform"]
    assert out["endpoint_name"] == "churn-prod-endpoint"
    assert out["pipeline_name"] == "churn-prod-training"
    assert out["model_package_group"] == "churn-prod-models"
    assert out["capture_uri"] == "s3://churn-prod-lake-raw/capture/"
    assert out["image_uri"].endswith("/churn-prod:0.1.0")
    assert out["buckets"]["artifacts"] == "churn-prod-lake-artifacts"
    assert out["role_arn"].startswith("arn:aws:iam::123456789012:role/")
    assert set(out["alarm_names"]) >= {"drift", "pipeline-failed", "latency-p99", "errors-5xx"}
    assert (out["environment"], out["region"], out["endpoint_type"]) == (
        "prod",
        "us-east-1",
        "realtime",
    )


def test_package_arn_reaches_the_model() -> None:
    model = one(platform("prod"), "aws:sagemaker/model:Model")
    assert model.inputs["primaryContainer"] == {"modelPackageName": PACKAGE}
    assert model.inputs["enableNetworkIsolation"] is True


def test_the_lake_key_alias_names_the_lake_once() -> None:
    alias = one(platform("prod"), "aws:kms/alias:Alias").inputs["name"]
    assert alias == "alias/churn-prod-lake"
