"""Lowering a policy is visible and reviewed: every waiver is listed with its file and key, and
one that lowers a rule mandatory by default without a ``reason`` fails the preview.

The attack: ``{"all": "disabled"}`` in ``policy/config.json`` turned "1 mandatory failed" into
exit 0 and "34 rules, 0 failed", with nothing saying that the rules were off.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.core.errors import PolicyConfigError
from mlops.infra.policy import CONFIG_FILE, RULES, PackConfig
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

AWS_RULES = [r for r in RULES if r.flavour == "aws"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("waivers") / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), root, git=False).run()
    return root


@pytest.fixture
def project(generated: Path, tmp_path: Path) -> Path:
    """A copy whose dev stack serves on a GPU around the clock: one mandatory failure."""
    copy = tmp_path / "churn"
    shutil.copytree(generated, copy)
    path = copy / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update(
        {
            "churn:modelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
            "churn:endpointType": "realtime",
            "churn:endpointInstanceType": "ml.g4dn.xlarge",
        }
    )
    path.write_text(yaml.safe_dump(document))
    return copy


def write_config(project: Path, config: Any) -> None:
    (project / CONFIG_FILE).write_text(json.dumps(config, indent=2))


def preview(invoke, project: Path, *args: str):  # type: ignore[no-untyped-def]
    return invoke("preview", "--stack", "dev", "--no-tree", "--project", str(project), *args)


def as_json(invoke, project: Path) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    result = preview(invoke, project, "--json")
    assert result.exit_code in (0, 1), result.output
    (stack,) = json.loads(result.stdout)["stacks"]
    return result.exit_code, stack


# -- the attack, end to end ------------------------------------------------------------------


def test_the_unbroken_project_fails_its_mandatory_rule(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = preview(invoke, project)
    assert result.exit_code == 1 and "mandatory mlops-no-idle-gpu-outside-prod" in result.stdout


def test_all_disabled_without_a_reason_fails_and_says_so(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    write_config(project, {"all": "disabled"})
    result = preview(invoke, project)
    assert result.exit_code == 1, result.output
    assert 'policy/config.json: "all": disabled' in result.stdout
    assert "no reason" in result.stdout and "Traceback" not in result.output
    code, stack = as_json(invoke, project)
    assert code == 1 and stack["ok"] is False
    (waiver,) = stack["policy"]["waivers"]
    assert waiver["file"] == "policy/config.json" and waiver["key"] == "all"
    assert waiver["level"] == "disabled" and waiver["reason"] is None
    assert waiver["refused"] is True
    assert len(waiver["rules"]) == len(AWS_RULES) == stack["policy"]["rules"]


@pytest.mark.parametrize("level", ["disabled", "advisory"])
def test_one_mandatory_rule_lowered_without_a_reason_fails(
    level: str, project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    write_config(project, {"mlops-no-idle-gpu-outside-prod": level})
    result = preview(invoke, project)
    assert result.exit_code == 1, result.output
    assert f'policy/config.json: "mlops-no-idle-gpu-outside-prod": {level}' in result.stdout
    # Both forms of the entry are refused alike.
    write_config(project, {"mlops-no-idle-gpu-outside-prod": {"enforcementLevel": level}})
    assert preview(invoke, project).exit_code == 1


def test_a_waiver_with_a_reason_passes_and_shows_the_reason(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    reason = "ticket SEC-12: GPU demo endpoint until 2025-07-01"
    write_config(
        project,
        {"mlops-no-idle-gpu-outside-prod": {"enforcementLevel": "advisory", "reason": reason}},
    )
    result = preview(invoke, project)
    assert result.exit_code == 0, result.output
    line = 'policy/config.json: "mlops-no-idle-gpu-outside-prod": advisory'
    assert line in result.stdout and f"reason: {reason}" in result.stdout
    assert "advisory mlops-no-idle-gpu-outside-prod" in result.stdout  # still reported
    code, stack = as_json(invoke, project)
    (waiver,) = stack["policy"]["waivers"]
    assert code == 0 and waiver["reason"] == reason and waiver["refused"] is False
    assert waiver["rules"] == ["mlops-no-idle-gpu-outside-prod"]


def test_all_lowered_with_a_reason_passes_and_is_listed(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    write_config(project, {"all": {"enforcementLevel": "advisory", "reason": "SEC-40: audit"}})
    result = preview(invoke, project)
    assert result.exit_code == 0, result.output
    assert f'policy/config.json: "all": advisory ({len(AWS_RULES)} rules)' in result.stdout
    assert "reason: SEC-40: audit" in result.stdout


def test_guard_over_every_stack_lists_the_waiver_for_each(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    write_config(project, {"all": "disabled"})
    result = invoke("preview", "--all", "--no-tree", "--project", str(project))
    assert result.exit_code == 1
    assert result.stdout.count('policy/config.json: "all": disabled') == 4


def test_a_rule_kept_mandatory_under_a_lowered_all_is_not_a_waiver() -> None:
    config = PackConfig.from_mapping(
        {
            "all": {"enforcementLevel": "advisory", "reason": "r"},
            "CKV_AWS_21": "mandatory",
            "CKV_AWS_7": {"enforcementLevel": "disabled", "reason": "rotation by hand"},
        },
        RULES,
    )
    waivers = {w.key: w for w in config.waivers(AWS_RULES)}
    assert set(waivers) == {"all", "CKV_AWS_7"}
    assert "CKV_AWS_21" not in waivers["all"].rules and "CKV_AWS_7" not in waivers["all"].rules
    assert waivers["CKV_AWS_7"].rules == ("CKV_AWS_7",)
    assert not any(w.refused for w in waivers.values())
    assert PackConfig.from_mapping({"CKV_AWS_21": "mandatory"}, RULES).waivers(AWS_RULES) == []


def test_settings_changes_are_listed_too(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    write_config(project, {"required-tags": {"tags": []}})
    result = preview(invoke, project)
    assert 'policy/config.json: "required-tags": settings tags=[]' in result.stdout


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"CKV_AWS_21": {"enforcementLevel": "advisory", "reason": ""}}, "reason"),
        ({"CKV_AWS_21": {"enforcementLevel": "advisory", "reason": 12}}, "reason"),
        ({"all": {"enforcementLevel": "advisory", "why": "x"}}, "all"),
        ({"all": {"reason": "x"}}, "all"),
    ],
)
def test_a_malformed_reason_is_a_config_error(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        PackConfig.from_mapping(config, RULES)


def test_a_reason_cannot_write_to_the_terminal(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    reason = "SEC-1\x1b[2K\rall clear"
    write_config(
        project,
        {"mlops-no-idle-gpu-outside-prod": {"enforcementLevel": "advisory", "reason": reason}},
    )
    result = preview(invoke, project)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "SEC-1\\x1b[2K\\rall clear" in result.stdout


# -- an unreadable config: one line, the file and the line, exit 2 ---------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"CKV_AWS_21": "advisory",\n  "all": }', "config.json: line 2, column 10:"),
        ('["all", "disabled"]', "config.json: line 1: must hold a JSON object"),
        ('"disabled"', "config.json: line 1: must hold a JSON object"),
        ('{"all": "mandatory",\n "all": "disabled"}', "config.json: line 2: 'all' appears twice"),
        (b"\xff\xfe{}", "config.json: is not UTF-8"),
    ],
)
def test_a_broken_policy_config_names_the_file_and_line(
    text: str | bytes, expected: str, project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    path = project / CONFIG_FILE
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = preview(invoke, project)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


# -- CrossGuard takes the same file ----------------------------------------------------------


def test_crossguard_accepts_a_reason_in_a_policys_config() -> None:
    from pulumi_policy import StackValidationArgs
    from pulumi_policy.policy import _normalize_config
    from test_policy_rules import _policy_resources, pipeline

    from mlops.infra.policy.crossguard import policies

    # The SDK's own normalisation of a pack's config takes the reason as one more property.
    entry = {"enforcementLevel": "advisory", "reason": "SEC-12", "allowed": ["ml.p4d.24xlarge"]}
    every = {"enforcementLevel": "advisory", "reason": "x"}
    normalized = _normalize_config({"mlops-gpu-allowlist": entry, "all": every})
    assert normalized["mlops-gpu-allowlist"].properties == {
        "reason": "SEC-12",
        "allowed": ["ml.p4d.24xlarge"],
    }
    # The engine validates properties against the policy's schema: extra keys are allowed.
    import jsonschema

    allowlist = next(p for p in policies("aws") if p.name == "mlops-gpu-allowlist")
    assert allowlist.config_schema is not None
    schema = {"type": "object", "properties": allowlist.config_schema.properties}
    jsonschema.validate(normalized["mlops-gpu-allowlist"].properties, schema)
    # And the policy runs with it: the reason is not a setting, the settings still apply.
    reported: list[str] = []
    stack = _policy_resources(pipeline("ml.p4d.24xlarge", VolumeKmsKeyId=None))
    config = {"reason": "SEC-12", "allowed": ["ml.p4d.24xlarge"], "maxCount": 8}
    allowlist.validate(StackValidationArgs(stack, config), lambda m, urn=None: reported.append(m))
    assert reported == []
    versioning = next(p for p in policies("aws") if p.name == "CKV_AWS_21")
    assert versioning.config_schema is None  # no schema: the engine validates nothing
    versioning.validate(
        StackValidationArgs(_policy_resources(pipeline()), {"reason": "SEC-13"}),
        lambda m, urn=None: reported.append(m),
    )
    assert reported == []


def test_the_shipped_config_has_no_waiver(generated: Path) -> None:
    config = PackConfig.load(generated / CONFIG_FILE, RULES)
    assert config.waivers(RULES) == [] and config.changed_settings() == []
