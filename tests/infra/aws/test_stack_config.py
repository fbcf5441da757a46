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
    assert cfg.training.spot is True and cfg.training.instance_count == 2
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
    assert cfg.training.hyperparameters == {"C": 0.5, "max_iter": 100}
    with pytest.raises(ConfigError, match="hyperparameters"):
        StackConfig.from_values(
            "churn", "dev", {**BASE, "churn:hyperparameters": '["not", "a", "mapping"]'}
        )


def test_flat_keys_land_in_their_sections() -> None:
    # Generated projects write flat keys; each lands in the section that owns its meaning.
    cfg = StackConfig.from_values(
        "churn",
        "staging",
        {
            **BASE,
            "churn:endpointInstanceType": "ml.c5.xlarge",
            "churn:errors5xxThreshold": "3",
            "churn:driftThreshold": "0.4",
            "churn:budget": "250",
            "churn:lakeStorageGb": '{"raw": 1}',
            "churn:notificationEmail": "a@b.c",
        },
    )
    assert cfg.serving.instance_type == "ml.c5.xlarge" and cfg.serving.realtime
    assert cfg.training.instance_type == "ml.m5.xlarge"  # the other instance type is untouched
    assert cfg.alarms.errors_5xx_threshold == 3
    assert cfg.monitoring.drift_threshold == 0.4
    assert cfg.budget.monthly_usd == 250
    assert cfg.lake.storage_gb == {"raw": 1}
    assert cfg.notifications.notification_email == "a@b.c"


def test_a_section_may_be_nested() -> None:
    nested = StackConfig.from_values(
        "churn",
        "dev",
        {**BASE, "churn:training": {"instanceType": "ml.g5.xlarge", "spot": False}},
    )
    assert nested.training.instance_type == "ml.g5.xlarge"
    assert nested.training.spot is False  # wins over dev's default
    as_json = StackConfig.from_values(
        "churn", "dev", {**BASE, "churn:serving": '{"endpointInstanceType": "ml.c5.xlarge"}'}
    )
    assert as_json.serving.instance_type == "ml.c5.xlarge"
    with pytest.raises(ConfigError, match="spot: is set both flat and under training"):
        StackConfig.from_values(
            "churn", "dev", {**BASE, "churn:spot": "true", "churn:training": {"spot": False}}
        )
    with pytest.raises(ConfigError, match="unknown config key"):
        StackConfig.from_values("churn", "dev", {**BASE, "churn:training": {"gpus": 2}})


def test_one_drift_threshold_default_on_both_platforms() -> None:
    from mlops.core.contracts import DRIFT_THRESHOLD
    from mlops.infra.k8s.config import K8sConfig

    aws = StackConfig.from_values("churn", "dev", BASE).monitoring.drift_threshold
    k8s = K8sConfig.from_values(
        "churn", "dev", {"churn:image": f"r@sha256:{'a' * 64}"}
    ).monitoring.drift_threshold
    assert aws == k8s == DRIFT_THRESHOLD


# -- a stack file that is not a mapping of settings: one line, the file (and line), exit 2 ----

BROKEN_STACK_FILES = {
    "empty": ("", "Pulumi.dev.yaml: must hold a mapping"),
    "a list": ("- config\n- x\n", "Pulumi.dev.yaml: must hold a mapping"),
    "a scalar": ("just text\n", "Pulumi.dev.yaml: must hold a mapping"),
    "a syntax error": ("config:\n  churn:owner: [me\n", "Pulumi.dev.yaml: line 3, column 1:"),
    "config a list": ("config:\n  - churn:owner\n", "Pulumi.dev.yaml: `config:` must be"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_STACK_FILES))
def test_a_broken_stack_file_is_named_in_one_line(case: str, tmp_path, invoke) -> None:  # type: ignore[no-untyped-def]
    text, expected = BROKEN_STACK_FILES[case]
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: churn\nruntime: python\nmain: infra\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = invoke("preview", "--stack", "dev", "--project", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and "unexpected" not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Pulumi.yaml: must hold a mapping"),
        ("- name\n", "Pulumi.yaml: must hold a mapping"),
        ("name: [churn\n", "Pulumi.yaml: line 2"),
        ("runtime: python\n", "Pulumi.yaml: has no `name`"),
    ],
)
def test_a_broken_project_file_is_named_in_one_line(
    text: str, expected: str, tmp_path, invoke
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(text)
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    result = invoke("preview", "--stack", "dev", "--project", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_broken_stack_file_is_named_by_preview_all_too(tmp_path, invoke) -> None:  # type: ignore[no-untyped-def]
    # --all (make guard) previews stacks in forked workers: the error must come back whole.
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "__main__.py").write_text("")
    (tmp_path / "Pulumi.yaml").write_text("name: churn\nruntime: python\nmain: infra\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    for stack in ("prod", "staging"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: [a\n")
    result = invoke("preview", "--all", "--project", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "Pulumi.prod.yaml: line 2, column 1:" in result.stderr, result.stderr
    assert "BrokenProcessPool" not in result.output


def test_k8s_flat_keys_land_in_their_sections_and_may_be_nested() -> None:
    from mlops.infra.k8s.config import K8sConfig

    image = f"r@sha256:{'a' * 64}"
    flat = K8sConfig.from_values(
        "churn",
        "prod",
        {"churn:image": image, "churn:trainingGpus": "2", "churn:servingMaxReplicas": "12"},
    )
    assert flat.training.gpus == 2 and flat.serving.max_replicas == 12
    assert flat.serving.replicas == 3  # prod's default
    nested = K8sConfig.from_values(
        "churn", "dev", {"churn:image": image, "churn:serving": {"replicas": 2, "maxReplicas": 5}}
    )
    assert (nested.serving.replicas, nested.serving.max_replicas) == (2, 5)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("modelPackageArn", f"{PACKAGES}/1\n"),
        ("imageDigest", "sha256:" + "a" * 64 + "\n"),
        ("driftSchedule", "rate(1 hour)\n"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_value(key: str, value: str) -> None:
    # Python's `$` matches before a final newline; these values reach commands and ARNs whole.
    with pytest.raises(ConfigError, match=key):
        StackConfig.from_values("churn", "dev", {**BASE, f"churn:{key}": value})
