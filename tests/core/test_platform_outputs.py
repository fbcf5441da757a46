"""Both platforms export the same platform-neutral core, with their own extras beside it."""

from __future__ import annotations

import dataclasses

import pytest
from platform_runs import platform

from mlops.core.contracts import (
    DRIFT_THRESHOLD,
    K8sPlatformOutputs,
    PlatformCore,
    PlatformOutputs,
)
from mlops.core.errors import UserError

IMAGE = "registry.example.com/churn@sha256:" + "a" * 64
CORE = {f.name for f in dataclasses.fields(PlatformCore)} - {"extra"}


def k8s_outputs(**extra: str) -> K8sPlatformOutputs:
    from mlops.infra.k8s import K8sPlatformArgs
    from mlops.infra.k8s.config import K8sConfig

    values = {"churn:image": IMAGE, **{f"churn:{k}": v for k, v in extra.items()}}
    args = K8sPlatformArgs.from_config(K8sConfig.from_values("churn", "prod", values))
    assert args.platform is not None
    return args.platform


def test_the_aws_platform_exports_the_core_and_its_extras() -> None:
    out = platform("prod").result["platform"]
    assert CORE <= set(out) and out["kind"] == "aws"
    core = PlatformCore.from_mapping(out)
    assert core.serving_endpoint == "churn-prod-endpoint"
    assert PlatformOutputs.from_mapping(out).pipeline_name == "churn-prod-training"


def test_the_k8s_platform_exports_the_core_and_its_extras() -> None:
    out = k8s_outputs(minioImage=IMAGE, retrainSchedule="0 3 * * *").to_mapping()
    assert CORE <= set(out) and out["kind"] == "k8s"
    core = PlatformCore.from_mapping(out)
    assert (core.project, core.environment, core.image_uri) == ("churn", "prod", IMAGE)
    assert core.serving_endpoint == "churn-server"  # the capture prefix its pods write under
    assert set(core.buckets) >= {"raw", "artifacts"}
    extras = K8sPlatformOutputs.from_mapping(out)
    assert extras.namespace == "churn-prod" and extras.workflow_template == "churn-prod-lifecycle"


def test_a_core_field_missing_is_refused_on_either_platform() -> None:
    out = k8s_outputs().to_mapping()
    del out["buckets"]
    with pytest.raises(UserError, match="lacks buckets"):
        K8sPlatformOutputs.from_mapping(out)


def test_outputs_from_before_the_core_read_as_aws() -> None:
    old = {
        "project": "churn",
        "environment": "dev",
        "region": "us-east-1",
        "buckets": {"raw": "r"},
        "pipeline_name": "p",
        "model_package_group": "g",
        "image_uri": "i",
    }
    outputs = PlatformOutputs.from_mapping(old)
    assert outputs.kind == "aws" and outputs.drift_threshold == DRIFT_THRESHOLD


def test_the_composition_picks_adapters_only_for_a_platform_it_can_reach(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import json

    from mlops.composition.lifecycle import stack_outputs

    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI: the saved outputs are read
    (tmp_path / ".mlops").mkdir()
    saved = tmp_path / ".mlops" / "platform.json"
    saved.write_text(json.dumps(k8s_outputs().to_mapping()))
    with pytest.raises(UserError, match="runs on k8s.*--executor k8s --stack prod"):
        stack_outputs(tmp_path, "prod")
    saved.write_text(json.dumps(platform("prod").result["platform"]))
    assert stack_outputs(tmp_path, "prod").model_package_group == "churn-prod-models"
