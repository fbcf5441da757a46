"""A SageMaker stack may declare a managed MLflow tracking server (MlflowTrackingServer):
artifacts in the lake, a role scoped to that prefix, and nothing of it unless asked for."""

from __future__ import annotations

import pytest
from platform_runs import ACCOUNT, one, platform, policy

from mlops.core.errors import ConfigError
from mlops.infra.config import StackConfig

SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"


def test_no_tracking_server_unless_asked() -> None:
    assert not platform("dev").of_type(SERVER)


def test_the_managed_server_keeps_its_artifacts_in_the_lake() -> None:
    program = platform("prod", mlflowTrackingServer=True, mlflowTrackingServerSize="Medium")
    server = one(program, SERVER).inputs
    assert server["trackingServerName"] == "churn-prod-mlflow"
    assert server["artifactStoreUri"].startswith("s3://churn-prod-") and server[
        "artifactStoreUri"
    ].endswith("-artifacts/mlflow")
    assert server["trackingServerSize"] == "Medium" and server["mlflowVersion"] == "3.0"
    assert server["automaticModelRegistration"] is False  # the gated registry stays SageMaker's
    assert server["tags"]["managed-by"] == "mlops-stack"
    role = next(r for r in program.of_type("aws:iam/role:Role") if r.name.endswith("mlflow-role"))
    trust = policy(role, "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    access = next(
        r
        for r in program.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.name.endswith("mlflow-artifacts")
    )
    statements = {s["Sid"]: s for s in policy(access)["Statement"]}
    assert statements["MlflowArtifacts"]["Resource"].endswith("-artifacts/mlflow/*")
    assert all("*" not in a for s in statements.values() for a in s["Action"])
    assert program.result["platform"]["mlflow_tracking_server_arn"]
    assert platform("dev").result["platform"]["mlflow_tracking_server_arn"] == ""


def test_bad_tracking_settings_are_refused() -> None:
    values = {"aws:region": "us-east-1", "churn:mlflowTrackingServerSize": "Huge"}
    with pytest.raises(ConfigError, match="mlflowTrackingServerSize"):
        StackConfig.from_values("churn", "dev", values)
