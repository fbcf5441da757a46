"""API contract: what the components declare is sent to the real API shapes, served by moto.

The prod platform (realtime, A/B + shadow variants, canary rollout, autoscaling, drift check,
data quality)
runs under mocks; each recorded resource becomes the API calls the local bootstrap makes
(:func:`mlops.infra.bootstrap.api_calls`, one conversion for both), sent to SageMaker, CloudWatch,
EventBridge, Application Auto Scaling and ECR on a moto server, where botocore validates the
request and moto the semantics.

moto gaps, stubbed with botocore's Stubber (which still validates every request against the
API model) and named here:
* GAP-1: moto rejects g5/g6/p4d/inf2 instance types in endpoint configurations.
* GAP-2: moto does not implement UpdateEndpoint (what a rollout calls).
* GAP-3: moto does not implement CreateMonitoringSchedule (the bootstrap refuses the type).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from platform_runs import ACCOUNT, CHALLENGER, SHADOW, one, platform

from mlops.infra.api_shapes import UnknownInputError, request
from mlops.infra.bootstrap import api_calls
from mlops.infra.local_services.base import ApiCall
from mlops.infra.mock_runtime import MockedProgram, MockedResource

pytestmark = pytest.mark.integration
SAGEMAKER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"


@pytest.fixture(scope="module")
def prod() -> MockedProgram:
    return platform(
        "prod",
        challengerModelPackageArn=CHALLENGER,
        shadowModelPackageArn=SHADOW,
        schedule="rate(7 days)",
        dataQualityMonitor=True,
    )


@pytest.fixture
def send(moto_endpoint: str):  # type: ignore[no-untyped-def]
    """Make a resource's API calls against moto; return the last call's parameters and answer."""

    def make(resource: MockedResource) -> tuple[dict[str, Any], dict[str, Any]]:
        response: dict[str, Any] = {}
        calls = api_calls(resource)
        for call in calls:
            client = boto3.client(call.service, endpoint_url=moto_endpoint, region_name="us-east-1")
            response = getattr(client, xform_name(call.operation))(**call.params)
        return calls[-1].params, response

    return make


@pytest.fixture
def client(moto_endpoint: str):  # type: ignore[no-untyped-def]
    def make(service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")

    return make


def stubbed(call: ApiCall, response: dict[str, Any]) -> None:
    """Validate ``call`` against the API model through botocore's Stubber (for moto's gaps)."""
    client = boto3.client(call.service, region_name="us-east-1")
    method = xform_name(call.operation)
    with Stubber(client) as stub:
        stub.add_response(method, response, call.params)
        getattr(client, method)(**call.params)


def test_sagemaker_serving_resources(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    send(one(prod, "aws:sagemaker/modelPackageGroup:ModelPackageGroup"))
    models = prod.of_type("aws:sagemaker/model:Model")
    assert len(models) == 3  # primary, challenger, shadow
    for model in models:
        send(model)
    config = one(prod, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    sent, _ = send(config)
    assert sent["EndpointConfigName"] == config.name
    assert sent["KmsKeyId"].endswith("key/churn-prod-lake-key")  # the provider's kms_key_arn
    send(one(prod, "aws:sagemaker/endpoint:Endpoint"))
    sm = client("sagemaker")
    described = sm.describe_endpoint_config(EndpointConfigName=config.name)
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["primary", "challenger"]
    assert described["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    endpoint = sm.describe_endpoint(EndpointName="churn-prod-endpoint")
    assert endpoint["EndpointName"] == "churn-prod-endpoint"


def test_serverless_endpoint_config(send) -> None:  # type: ignore[no-untyped-def]
    dev = platform("dev")
    send(one(dev, "aws:sagemaker/model:Model"))
    sent, _ = send(one(dev, "aws:sagemaker/endpointConfiguration:EndpointConfiguration"))
    # The exact bug TOOLS.md warns of in sagemaker-core: the API spells it MemorySizeInMB.
    assert sent["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }


def test_gap1_g5_endpoint_config_is_stubbed() -> None:
    program = platform("prod", endpointInstanceType="ml.g5.xlarge")
    (call,) = api_calls(one(program, "aws:sagemaker/endpointConfiguration:EndpointConfiguration"))
    assert call.params["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    stubbed(call, {"EndpointConfigArn": f"{SAGEMAKER}:endpoint-config/x"})


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
    (create,) = api_calls(one(prod, "aws:sagemaker/endpoint:Endpoint"))
    # A rollout sends the same deployment config with the new configuration's name.
    params = {**create.params, "EndpointConfigName": "churn-prod-endpoint-config-v2"}
    update = ApiCall("sagemaker", "UpdateEndpoint", params)
    routing = params["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"
    stubbed(update, {"EndpointArn": f"{SAGEMAKER}:endpoint/churn-prod-endpoint"})


def test_training_pipeline_definition(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    pipeline = one(prod, "aws:sagemaker/pipeline:Pipeline", "churn-prod-training-pipeline")
    send(pipeline)
    sm = client("sagemaker")
    assert sm.describe_pipeline(PipelineName="churn-prod-training")["PipelineArn"].endswith(
        ":pipeline/churn-prod-training"
    )
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


def test_monitoring_resources(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    alarms = prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(alarms) == 8
    for alarm in alarms:
        sent, _ = send(alarm)
        assert {d["Name"] for d in sent["Dimensions"]} == set(alarm.inputs["dimensions"])
    cw = client("cloudwatch")
    stored = {
        a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="churn-prod-")["MetricAlarms"]
    }
    assert stored["churn-prod-latency-p99"]["ExtendedStatistic"] == "p99"
    assert stored["churn-prod-drift"]["Namespace"] == "mlops-stack/Drift"
    _, answer = send(one(prod, "aws:cloudwatch/dashboard:Dashboard"))
    assert answer["DashboardValidationMessages"] == []
    job = one(prod, "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition")
    sent, _ = send(job)
    # The provider takes one monitoring output; the API takes a list of them.
    assert len(sent["DataQualityJobOutputConfig"]["MonitoringOutputs"]) == 1


def test_gap3_monitoring_schedule_is_stubbed(prod: MockedProgram) -> None:
    schedule = one(prod, "aws:sagemaker/monitoringSchedule:MonitoringSchedule")
    sent = request(
        "sagemaker",
        "CreateMonitoringSchedule",
        {k: v for k, v in schedule.inputs.items() if k != "tags"},
        MonitoringScheduleName=schedule.name,
    )
    stubbed(
        ApiCall("sagemaker", "CreateMonitoringSchedule", sent),
        {"MonitoringScheduleArn": f"{SAGEMAKER}:monitoring-schedule/s"},
    )


def test_eventbridge_rules_and_targets(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    rules = {r.name: r for r in prod.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert set(rules) == {
        "churn-prod-training-schedule",
        "churn-prod-registry-approval-changes",
        "churn-prod-monitoring-drift-retrain",
    }
    for rule in rules.values():
        send(rule)
    for target in prod.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        send(target)
    events = client("events")
    listed = events.list_targets_by_rule(Rule="churn-prod-monitoring-drift-retrain")["Targets"]
    assert listed[0]["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "TriggeredBy", "Value": "drift"}
    ]


def test_autoscaling(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    send(one(prod, "aws:appautoscaling/target:Target"))
    send(one(prod, "aws:appautoscaling/policy:Policy"))
    aas = client("application-autoscaling")
    # Its own endpoint's: other tests of the session register theirs on the same endpoint.
    registered = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=["endpoint/churn-prod-endpoint/variant/primary"],
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in registered] == [(2, 4)]


def test_image_repository(prod: MockedProgram, client, send) -> None:  # type: ignore[no-untyped-def]
    send(one(prod, "aws:ecr/repository:Repository"))
    ecr = client("ecr")
    described = ecr.describe_repositories(repositoryNames=["churn-prod"])["repositories"][0]
    assert described["imageTagMutability"] == "IMMUTABLE"
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    assert described["encryptionConfiguration"]["encryptionType"] == "KMS"


def test_the_converter_refuses_inputs_the_api_does_not_know() -> None:
    with pytest.raises(UnknownInputError, match=r"CreateModel\.executionRoleArm"):
        request("sagemaker", "CreateModel", {"executionRoleArm": "typo"}, ModelName="m")
