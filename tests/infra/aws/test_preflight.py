"""`mlops doctor --stack`: SageMaker quotas and offered types (Service Quotas, stubbed: moto has
no SageMaker quotas), the identity and the autoscaling role (moto), each finding with its fix."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlops.infra.aws.preflight import (
    AUTOSCALING_ROLE,
    Need,
    needs,
    preflight,
    quota_findings,
)
from mlops.infra.config import StackConfig

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-prod/1"


def config(stack: str, **values: Any) -> StackConfig:
    raw = {"aws:region": "us-east-1", **{f"churn:{k}": v for k, v in values.items()}}
    return StackConfig.from_values("churn", stack, raw)


def quota(name: str, value: float, code: str) -> dict[str, Any]:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:123456789012:sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def test_needs_follow_the_stack_config() -> None:
    dev = needs(config("dev", trainingInstanceType="ml.g5.2xlarge"))
    assert dev == [
        Need("ml.g5.2xlarge", "spot training job usage", 1),  # dev trains on spot
        Need("ml.m5.xlarge", "processing job usage", 1),
    ]  # serverless: no endpoint instances
    prod = needs(config("prod", modelPackageArn=PACKAGE, endpointInstanceType="ml.g5.xlarge"))
    assert prod[0].usage == "training job usage"
    assert prod[-1] == Need("ml.g5.xlarge", "endpoint usage", 4)  # up to the autoscaling ceiling


def test_quotas_are_compared_with_what_the_stack_runs() -> None:
    quotas = {
        "ml.g5.2xlarge for training job usage": (0.0, "L-1234ABCD"),
        "ml.m5.xlarge for processing job usage": (4.0, "L-5678EFGH"),
    }
    wanted = [
        Need("ml.g5.2xlarge", "training job usage", 2),
        Need("ml.m5.xlarge", "processing job usage", 1),
        Need("ml.p4d.24xlarge", "endpoint usage", 2),
    ]
    short, enough, absent = quota_findings(quotas, wanted, "eu-west-3")
    assert not short.ok and short.detail == "0 available, 2 needed"
    assert short.fix == (
        "aws service-quotas request-service-quota-increase --service-code sagemaker"
        " --quota-code L-1234ABCD --desired-value 2 --region eu-west-3"
    )
    assert enough.ok and enough.detail == "4 available, 1 needed"
    assert not absent.ok and "not offered there" in absent.detail and "eu-west-3" in absent.detail


class Session:
    """A boto3 session whose service-quotas client is stubbed and the rest is moto's."""

    def __init__(self, endpoint: str, quotas: list[dict[str, Any]]) -> None:
        self.endpoint = endpoint
        self.quotas = boto3.client("service-quotas", region_name="us-east-1")
        self.stubber = Stubber(self.quotas)
        self.stubber.add_response(
            "list_service_quotas", {"Quotas": quotas}, {"ServiceCode": "sagemaker"}
        )
        self.stubber.activate()

    def client(self, service: str, region_name: str) -> Any:
        if service == "service-quotas":
            return self.quotas
        return boto3.client(service, region_name=region_name, endpoint_url=self.endpoint)


def test_preflight_against_moto_and_stubbed_quotas(moto_endpoint: str) -> None:
    prod = config("prod", modelPackageArn=PACKAGE, trainingInstanceType="ml.g5.2xlarge")
    quotas = [
        quota("ml.g5.2xlarge for training job usage", 0, "L-G5TRAIN"),
        quota("ml.m5.xlarge for processing job usage", 8, "L-M5PROC"),
        quota("ml.m5.large for endpoint usage", 2, "L-M5ENDP"),
    ]
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_endpoint)
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"] == AUTOSCALING_ROLE:
            iam.delete_role(RoleName=AUTOSCALING_ROLE)
    findings = {f.check: f for f in preflight(Session(moto_endpoint, quotas), prod)}
    assert findings["identity"].ok and "123456789012" in findings["identity"].detail
    role = findings[f"role: {AUTOSCALING_ROLE}"]  # prod autoscales its endpoint
    assert not role.ok and "create-service-linked-role" in role.fix
    assert not findings["quota: ml.g5.2xlarge for training job usage"].ok  # GPUs start at 0
    assert findings["quota: ml.m5.xlarge for processing job usage"].ok
    endpoint = findings["quota: ml.m5.large for endpoint usage"]
    assert not endpoint.ok and endpoint.detail == "2 available, 4 needed"

    iam.create_role(
        RoleName=AUTOSCALING_ROLE,
        AssumeRolePolicyDocument="{}",
        Path="/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/",
    )
    again = {f.check: f for f in preflight(Session(moto_endpoint, quotas), prod)}
    assert again[f"role: {AUTOSCALING_ROLE}"].ok
    iam.delete_role(RoleName=AUTOSCALING_ROLE)


def test_doctor_stack_runs_the_preflight_and_fails_on_findings(
    invoke, tmp_path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    root = tmp_path / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), root, git=False).run()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # moto has no SageMaker quotas
    result = invoke("doctor", "--stack", "dev", "--project", str(root))
    assert result.exit_code == 1
    assert "stack dev: the AWS account" in result.output
    assert "fix quotas: allow servicequotas:ListServiceQuotas" in result.output
    assert "Traceback" not in result.output
    bad = invoke("doctor", "--stack", "prd", "--project", str(root))
    assert bad.exit_code == 2 and "did you mean 'prod'" in bad.output
