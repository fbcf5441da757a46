"""Cached MLPlatform runs under mocks, shared by the component and platform tests."""

from __future__ import annotations

import importlib
import inspect
import json
from functools import cache
from typing import Any

from mlops.infra.aws import MLPlatform
from mlops.infra.config import StackConfig
from mlops.infra.mock_runtime import CALLER_IDENTITY, MockedProgram, MockedResource, run_program

PROJECT = "churn"
ACCOUNT = "123456789012"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/churn-prod-models/3"
CHALLENGER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/churn-prod-models/4"
SHADOW = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/churn-prod-models/5"
ENVIRONMENTS = ("dev", "staging", "prod", "local")
TAGS = {"project", "environment", "owner", "cost-center", "managed-by"}


@cache
def platform(stack: str, model: bool = True, **extra: Any) -> MockedProgram:
    """MLPlatform for ``stack``; ``model`` sets an approved package; ``extra`` adds config."""
    config: dict[str, Any] = {
        "aws:region": "us-east-1",
        f"{PROJECT}:trainingInstanceType": "ml.g5.2xlarge",
        f"{PROJECT}:owner": "data-team",
    }
    if model:
        config[f"{PROJECT}:modelPackageArn"] = PACKAGE
    config.update({f"{PROJECT}:{k}": v for k, v in extra.items()})

    def program() -> dict[str, Any]:
        cfg = StackConfig.load()
        return {"platform": MLPlatform(cfg.name_prefix, cfg).platform}

    return run_program(
        program, project=PROJECT, stack=stack, config=config, invokes=CALLER_IDENTITY
    )


def one(program: MockedProgram, type_: str, name: str | None = None) -> MockedResource:
    found = [r for r in program.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def policy(resource: MockedResource, key: str = "policy") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resource.inputs[key])
    return loaded


@cache
def taggable(type_token: str) -> bool:
    """Whether the pulumi_aws class behind a type token accepts ``tags``."""
    _, module_path, cls = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters
