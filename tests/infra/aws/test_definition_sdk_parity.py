"""Our pipeline definitions say what the SageMaker Python SDK would say, expression by expression.

The definitions are written as JSON by hand (no SDK at deploy time). What the service accepts
is what its own SDK writes, so the expressions that mocks and moto cannot judge are compared
with the SDK's (v2, ``sagemaker.workflow``, in the ``.ci/sagemaker-v2`` tool venv; skipped
without it): Integer and Float parameters passed to a container as text (``Std:Join``), a
champion's metric read from a property file into the evaluate step's arguments
(``Std:JsonGet``), the property files' declarations, the gate's condition, and every
parameter's declaration, for the training pipeline and the drift check.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from platform_runs import one, platform

REPO = Path(__file__).resolve().parents[3]
SDK = REPO / ".ci" / "sagemaker-v2" / "bin" / "python"
DRIVER = Path(__file__).with_name("sagemaker_sdk_definition.py")
PIPELINE = "aws:sagemaker/pipeline:Pipeline"

pytestmark = pytest.mark.skipif(
    not SDK.exists(), reason="the sagemaker SDK v2: scripts/test.sh installs it in .ci/sagemaker-v2"
)


def ours(name: str) -> dict[str, Any]:
    resource = one(platform("prod"), PIPELINE, name)
    loaded: dict[str, Any] = json.loads(resource.inputs["pipelineDefinition"])
    return loaded


def described(definition: dict[str, Any]) -> dict[str, Any]:
    """What the driver needs of our definition: parameters, processing steps, conditions."""
    steps = [
        {
            "Name": s["Name"],
            "Arguments": s["Arguments"]["AppSpecification"].get("ContainerArguments", []),
            "PropertyFiles": s.get("PropertyFiles", []),
        }
        for s in definition["Steps"]
        if s["Type"] == "Processing"
    ]
    conditions = [
        c
        for s in definition["Steps"]
        if s["Type"] == "Condition"
        for c in s["Arguments"]["Conditions"]
    ]
    return {"Parameters": definition["Parameters"], "Steps": steps, "Conditions": conditions}


def the_sdks(description: dict[str, Any], endpoint: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    done = subprocess.run(
        [str(SDK), str(DRIVER)],
        input=json.dumps(description),
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("pipeline", ["churn-prod-training-pipeline", "churn-prod-drift-pipeline"])
def test_expressions_are_the_sdks(pipeline: str, moto_endpoint: str) -> None:
    description = described(ours(pipeline))
    sdk = the_sdks(description, moto_endpoint)

    assert sdk["Parameters"] == description["Parameters"]
    by_name = {s["Name"]: s for s in sdk["Steps"]}
    for step in description["Steps"]:
        theirs = by_name[step["Name"]]
        assert (
            theirs["Arguments"]["AppSpecification"].get("ContainerArguments", [])
            == (step["Arguments"])
        ), step["Name"]
        assert theirs.get("PropertyFiles", []) == step["PropertyFiles"], step["Name"]
    conditions = [
        c for s in sdk["Steps"] if s["Type"] == "Condition" for c in s["Arguments"]["Conditions"]
    ]
    assert conditions == description["Conditions"]
    # What is compared: the training pipeline has a gate and reads its champion through a
    # property file; the drift check passes Integer and Float parameters as text.
    kinds = json.dumps(description)
    if pipeline.endswith("training-pipeline"):
        assert "Std:JsonGet" in kinds and conditions
    else:
        assert '"Type": "Integer"' in kinds and "Std:Join" in kinds
