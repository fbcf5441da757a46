"""API contract: what the components declare is sent to the real API shapes, served by moto.

The prod platform (realtime, A/B + shadow variants, canary rollout, autoscaling, data quality)
runs under mocks; each recorded resource's inputs become the API request the AWS provider would
make, and go to SageMaker, CloudWatch, EventBridge, Application Auto Scaling and ECR on a
moto server, where botocore validates the request and moto the semantics.

moto gaps, stubbed with botocore's Stubber (which still validates every request against the
API model) and named here:
* GAP-1: moto rejects g5/g6/p4d/inf2 instance types in endpoint configurations.
* GAP-2: moto does not implement UpdateEndpoint (what a rollout calls).
* GAP-3: moto does not implement CreateMonitoringSchedule.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from platform_runs import ACCOUNT, CHALLENGER, SHADOW, one, platform

from mlops.infra.api_shapes import UnknownInputError, request
from mlops.infra.testing import MockedProgram, MockedResource

pytestmark = pytest.mark.integration
SAGEMAKER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
DROP = ("tags", "region")


def inputs(resource: MockedResource, *drop: str) -> dict[str, Any]:
    return {k: v for k, v in resource.inputs.items() if k not in (*DROP, *drop)}


@pytest.fixture(scope="module")
def prod() -> MockedProgram:
    return platform(
        "prod",
        challengerModelPackageArn=CHALLENGER,
        shadowModelPackageArn=SHADOW,
        schedule="rate(7 days)",
    )


@pytest.fixture
def client(moto_endpoint: str):  # type: ignore[no-untyped-def]
    def make(service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")

    return make


def endpoint_config_request(resource: MockedResource) -> dict[str, Any]:
    body = inputs(resource)
    kms = body.pop("kmsKeyArn", None)  # the provider calls it kms_key_arn; the API KmsKeyId
    extra = {"KmsKeyId": kms} if kms else {}
    return request(
        "sagemaker", "CreateEndpointConfig", body, EndpointConfigName=resource.name, **extra
    )


def test_sagemaker_serving_resources(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    sm = client("sagemaker")
    group = one(prod, "aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    sm.create_model_package_group(**request("sagemaker", "CreateModelPackageGroup", inputs(group)))
    models = prod.of_type("aws:sagemaker/model:Model")
    assert len(models) == 3  # primary, challenger, shadow
    for model in models:
        sm.create_model(**request("sagemaker", "CreateModel", inputs(model), ModelName=model.name))
    config = one(prod, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    sm.create_endpoint_config(**endpoint_config_request(config))
    endpoint = one(prod, "aws:sagemaker/endpoint:Endpoint")
    create = request(
        "sagemaker",
        "CreateEndpoint",
        inputs(endpoint, "name", "endpointConfigName"),
        EndpointName=endpoint.inputs["name"],
        EndpointConfigName=config.name,
    )
    sm.create_endpoint(**create)
    described = sm.describe_endpoint_config(EndpointConfigName=config.name)
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["primary", "challenger"]
    assert described["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert (
        sm.describe_endpoint(EndpointName="churn-prod-endpoint")["EndpointName"]
        == "churn-prod-endpoint"
    )


def test_serverless_endpoint_config(client) -> None:  # type: ignore[no-untyped-def]
    dev = platform("dev")
    sm = client("sagemaker")
    model = one(dev, "aws:sagemaker/model:Model")
    sm.create_model(**request("sagemaker", "CreateModel", inputs(model), ModelName=model.name))
    config = one(dev, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    sent = endpoint_config_request(config)
    # The exact bug TOOLS.md warns of in sagemaker-core: the API spells it MemorySizeInMB.
    assert sent["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }
    sm.create_endpoint_config(**sent)


def test_gap1_g5_endpoint_config_is_stubbed() -> None:
    program = platform("prod", endpointInstanceType="ml.g5.xlarge")
    config = one(program, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    sent = endpoint_config_request(config)
    assert sent["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:  # validates `sent` against CreateEndpointConfig's shape
        stub.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x"},
            sent,
        )
        sm.create_endpoint_config(**sent)


def test_gap1_moto_still_rejects_g5(client) -> None:  # type: ignore[no-untyped-def]
    """If moto learns g5, this fails: then drop the stub above and send it to moto."""
    with pytest.raises(ClientError, match="ml.g5.xlarge"):
        client("sagemaker").create_endpoint_config(
            EndpointConfigName="g5-probe",
            ProductionVariants=[
                {
                    "VariantName": "primary",
                    "ModelName": "m",
                    "InstanceType": "ml.g5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        )


def test_gap2_rollout_update_is_stubbed(prod: MockedProgram) -> None:
    endpoint = one(prod, "aws:sagemaker/endpoint:Endpoint")
    update = request(
        "sagemaker",
        "UpdateEndpoint",
        inputs(endpoint, "name", "endpointConfigName"),
        EndpointName="churn-prod-endpoint",
        EndpointConfigName="churn-prod-endpoint-config-v2",
    )
    assert (
        update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "CANARY"
    )
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/churn-prod-endpoint"},
            update,
        )
        sm.update_endpoint(**update)


def test_training_pipeline_definition(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    sm = client("sagemaker")
    pipeline = one(prod, "aws:sagemaker/pipeline:Pipeline")
    created = sm.create_pipeline(**request("sagemaker", "CreatePipeline", inputs(pipeline)))
    assert created["PipelineArn"].endswith(":pipeline/churn-prod-training")
    execution = sm.start_pipeline_execution(
        PipelineName="churn-prod-training",
        PipelineParameters=[{"Name": "TriggeredBy", "Value": "drift"}],
    )
    assert execution["PipelineExecutionArn"]
    # Every job step's arguments are also a valid API request on their own.
    steps = json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]
    train = steps[1]["Arguments"]
    concrete = json.loads(
        json.dumps(train)
        .replace(
            '{"Get": "Parameters.ImageUri"}',
            '"123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-prod:0.1.0"',
        )
        .replace('{"Get": "Parameters.TrainingInstanceType"}', '"ml.g5.2xlarge"')
    )
    concrete["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = (
        "s3://churn-prod-lake-artifacts/validation/"
    )
    sm.create_training_job(TrainingJobName="contract-train", **concrete)
    job = sm.describe_training_job(TrainingJobName="contract-train")
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert job["EnableNetworkIsolation"] is True


def test_monitoring_resources(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    cw = client("cloudwatch")
    alarms = prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(alarms) == 8
    for alarm in alarms:
        body = inputs(alarm, "name", "dimensions")
        dims = [{"Name": k, "Value": v} for k, v in alarm.inputs["dimensions"].items()]
        cw.put_metric_alarm(
            **request(
                "cloudwatch",
                "PutMetricAlarm",
                body,
                AlarmName=alarm.inputs["name"],
                Dimensions=dims,
            )
        )
    stored = {
        a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="churn-prod-")["MetricAlarms"]
    }
    assert stored["churn-prod-latency-p99"]["ExtendedStatistic"] == "p99"
    assert stored["churn-prod-drift"]["Namespace"] == "mlops-stack/Drift"
    dashboard = one(prod, "aws:cloudwatch/dashboard:Dashboard")
    assert (
        cw.put_dashboard(**request("cloudwatch", "PutDashboard", inputs(dashboard)))[
            "DashboardValidationMessages"
        ]
        == []
    )

    sm = client("sagemaker")
    job = one(prod, "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition")
    body = inputs(job)
    # The provider takes one monitoring output; the API takes a list of them.
    body["dataQualityJobOutputConfig"] = {
        **body["dataQualityJobOutputConfig"],
        "monitoringOutputs": [body["dataQualityJobOutputConfig"]["monitoringOutputs"]],
    }
    sm.create_data_quality_job_definition(
        **request("sagemaker", "CreateDataQualityJobDefinition", body, JobDefinitionName=job.name)
    )


def test_gap3_monitoring_schedule_is_stubbed(prod: MockedProgram) -> None:
    schedule = one(prod, "aws:sagemaker/monitoringSchedule:MonitoringSchedule")
    sent = request(
        "sagemaker",
        "CreateMonitoringSchedule",
        inputs(schedule),
        MonitoringScheduleName=schedule.name,
    )
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        stub.add_response(
            "create_monitoring_schedule",
            {"MonitoringScheduleArn": f"{SAGEMAKER}:monitoring-schedule/s"},
            sent,
        )
        sm.create_monitoring_schedule(**sent)


def test_eventbridge_rules_and_targets(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    events = client("events")
    rules = {r.name: r for r in prod.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert set(rules) == {
        "churn-prod-training-schedule",
        "churn-prod-registry-approval-changes",
        "churn-prod-monitoring-drift-retrain",
    }
    for rule in rules.values():
        events.put_rule(**request("events", "PutRule", inputs(rule), Name=rule.name))
    for target in prod.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        body = inputs(target, "rule")
        pipeline = body.pop("sagemakerPipelineTarget", None)
        if pipeline is not None:  # provider and API name this block differently
            body["SageMakerPipelineParameters"] = {
                "PipelineParameterList": [
                    {"Name": p["name"], "Value": p["value"]}
                    for p in pipeline["pipelineParameterLists"]
                ]
            }
        targets = request(
            "events",
            "PutTargets",
            {"targets": [{"id": target.name[-64:], **body}]},
            Rule=target.inputs["rule"],
        )
        assert events.put_targets(**targets)["FailedEntryCount"] == 0
    listed = events.list_targets_by_rule(Rule="churn-prod-monitoring-drift-retrain")["Targets"]
    assert listed[0]["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "TriggeredBy", "Value": "drift"}
    ]


def test_autoscaling(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    aas = client("application-autoscaling")
    target = one(prod, "aws:appautoscaling/target:Target")
    aas.register_scalable_target(
        **request("application-autoscaling", "RegisterScalableTarget", inputs(target))
    )
    scaling = one(prod, "aws:appautoscaling/policy:Policy")
    aas.put_scaling_policy(
        **request(
            "application-autoscaling", "PutScalingPolicy", inputs(scaling), PolicyName=scaling.name
        )
    )
    registered = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in registered] == [(2, 4)]


def test_image_repository(prod: MockedProgram, client) -> None:  # type: ignore[no-untyped-def]
    repo = one(prod, "aws:ecr/repository:Repository")
    body = inputs(repo, "name", "forceDelete", "encryptionConfigurations")
    ecr = client("ecr")
    ecr.create_repository(
        **request(
            "ecr",
            "CreateRepository",
            body,
            repositoryName=repo.inputs["name"],
            encryptionConfiguration=request(
                "ecr",
                "CreateRepository",
                {"encryptionConfiguration": repo.inputs["encryptionConfigurations"][0]},
            )["encryptionConfiguration"],
        )
    )
    described = ecr.describe_repositories(repositoryNames=["churn-prod"])["repositories"][0]
    assert described["imageTagMutability"] == "IMMUTABLE"
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


def test_the_converter_refuses_inputs_the_api_does_not_know() -> None:
    with pytest.raises(UnknownInputError, match=r"CreateModel\.executionRoleArm"):
        request("sagemaker", "CreateModel", {"executionRoleArm": "typo"}, ModelName="m")
