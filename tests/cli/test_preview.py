"""`mlops preview`: every generated stack passes its policy pack; broken programs fail with the
rule's id and its fix; the cost estimate matches figures worked out by hand; budgets gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from platform_runs import ENVIRONMENTS, platform

from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-{stack}/1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An aws project with an approved model in every stack, so every endpoint is declared."""
    root = tmp_path_factory.mktemp("preview") / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), root, git=False).run()
    for stack in ENVIRONMENTS:
        path = root / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        document["config"]["churn:modelPackageArn"] = PACKAGE.format(stack=stack)
        path.write_text(yaml.safe_dump(document))
    return root


@pytest.fixture
def project(generated: Path, tmp_path: Path) -> Path:
    """A copy of the generated project a test may break."""
    copy = tmp_path / "churn"
    shutil.copytree(generated, copy)
    return copy


def preview_json(invoke, project: Path, *args: str) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    result = invoke("preview", "--json", "--project", str(project), *args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_every_generated_stack_passes_every_mandatory_rule(generated: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    code, report = preview_json(invoke, generated, "--all")
    assert code == 0 and report["ok"]
    assert [s["stack"] for s in report["stacks"]] == ["dev", "local", "prod", "staging"]
    for stack in report["stacks"]:
        assert stack["policy"]["violations"] == [], stack["stack"]
        assert stack["policy"]["rules"] >= 25
        types = {r["type"] for r in stack["resources"]}
        assert "aws:sagemaker/endpointConfiguration:EndpointConfiguration" in types


def test_every_generated_k8s_stack_passes_too(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn-k8s"
    Scaffold(
        validate_answers({"name": "churn-k8s", "ci": "none", "kserve": True}, "k8s"),
        root,
        template="k8s",
        git=False,
    ).run()
    code, report = preview_json(invoke, root, "--all")
    assert code == 0, [s["policy"]["violations"] for s in report["stacks"]]
    assert {s["flavour"] for s in report["stacks"]} == {"k8s"}
    assert all(s["cost"] is None for s in report["stacks"])


BREAKS = {
    "public bucket": (
        "prod",
        """
import json
public = aws.s3.Bucket("open-data", bucket="churn-open-data")
aws.s3.BucketPolicy("open-data-policy", bucket="churn-open-data", policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                   "Resource": "arn:aws:s3:::churn-open-data/*"}]}))
""",
        {"CKV2_AWS_6", "CKV_AWS_70", "CKV_AWS_21", "CKV_AWS_145"},
    ),
    "FullAccess role": (
        "dev",
        """
role = aws.iam.Role("notebook", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                   "Action": "sts:AssumeRole"}]}))
aws.iam.RolePolicyAttachment("notebook-full", role=role.name,
    policy_arn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
""",
        {"CKV_AWS_274", "mlops-iam-trust-conditions"},
    ),
    "single-instance prod endpoint": (
        "prod",
        """
aws.sagemaker.EndpointConfiguration("side-endpoint", kms_key_arn="arn:aws:kms:us-east-1:1:key/k",
    production_variants=[{"variant_name": "primary", "model_name": "m",
                          "instance_type": "ml.m5.large", "initial_instance_count": 1}],
    data_capture_config={"enable_capture": True, "kms_key_id": "k",
        "initial_sampling_percentage": 5, "destination_s3_uri": "s3://b/c",
        "capture_options": [{"capture_mode": "Input"}]},
    tags={"project": "churn", "environment": "prod", "owner": "o", "cost-center": "c",
          "managed-by": "me"})
""",
        {"sagemaker-endpoint-config-prod-instance-count"},
    ),
    "GPU endpoint in dev": (
        "dev",
        None,  # no code: the stack config serves dev on a GPU around the clock
        {"mlops-no-idle-gpu-outside-prod"},
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_project_fails_with_the_rules_id_and_a_fix(
    case: str, project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    stack, code, expected = BREAKS[case]
    if code is None:
        path = project / "Pulumi.dev.yaml"
        document = yaml.safe_load(path.read_text())
        document["config"].update(
            {"churn:endpointType": "realtime", "churn:endpointInstanceType": "ml.g4dn.xlarge"}
        )
        path.write_text(yaml.safe_dump(document))
    else:
        main = project / "infra" / "__main__.py"
        main.write_text(main.read_text() + "\nimport json\nimport pulumi_aws as aws\n" + code)
    result = invoke("preview", "--stack", stack, "--no-tree", "--project", str(project))
    assert result.exit_code == 1, result.output
    found = {
        line.split()[1].rstrip(":")
        for line in result.stdout.splitlines()
        if line.startswith("  mandatory ")
    }
    assert expected <= found, found
    assert "fix: " in result.stdout and "nothing was provisioned" in result.stderr
    assert "Traceback" not in result.output


def test_a_rule_set_to_advisory_reports_but_does_not_block(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    path = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update(
        {"churn:endpointType": "realtime", "churn:endpointInstanceType": "ml.g4dn.xlarge"}
    )
    path.write_text(yaml.safe_dump(document))
    # A waiver of a rule mandatory by default carries its reason (test_policy_waivers.py).
    (project / "policy" / "config.json").write_text(
        '{"mlops-no-idle-gpu-outside-prod": {"enforcementLevel": "advisory",'
        ' "reason": "SEC-12: GPU demo until July"}}'
    )
    code, report = preview_json(invoke, project, "--stack", "dev")
    assert code == 0
    (violation,) = report["stacks"][0]["policy"]["violations"]
    assert (
        violation["rule"] == "mlops-no-idle-gpu-outside-prod" and violation["level"] == "advisory"
    )
    (project / "policy" / "config.json").write_text('{"mlops-no-idle-gpu": "advisory"}')
    bad = invoke("preview", "--stack", "dev", "--project", str(project))
    assert bad.exit_code == 2 and "did you mean 'mlops-no-idle-gpu-outside-prod'" in bad.output


def test_the_estimate_matches_hand_computed_figures(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    # dev: serverless 2 GB, 10,000 requests a day of 100 ms; training 10 h of ml.m5.xlarge on spot.
    _, dev = preview_json(invoke, project, "--stack", "dev")
    cost = dev["stacks"][0]["cost"]
    lines = {line["category"]: line for line in cost["lines"] if line["category"] != "storage"}
    serverless = 10_000 * 365 / 12 * 0.1 * 2 * 0.00002  # = 1.2167
    assert lines["serverless"]["load"] == round(serverless, 2) == 1.22
    assert lines["training"]["load"] == round(10 * 0.23 * (1 - 0.7), 2) == 0.69
    storage = (50 + 20 + 10 + 5) * 0.023  # 1.955, line by line: 1.15 + 0.46 + 0.23 + 0.12
    fixed = 7 * 0.10 + 3.00 + 1.00  # seven alarms, one dashboard, one key
    assert cost["idle_compute"] == 0.0  # serverless and spot: nothing runs while idle
    assert cost["idle"] == pytest.approx(storage + fixed, abs=0.02)
    assert cost["load"] == pytest.approx(storage + fixed + serverless + 0.69, abs=0.02)

    # prod: two ml.m5.large around the clock (730 h), 10 h of on-demand ml.m5.xlarge, and the
    # hourly drift check: 730 runs of 10 minutes on one ml.m5.xlarge (0.23 x 730 / 6 = 27.98).
    _, prod = preview_json(invoke, project, "--stack", "prod")
    cost = prod["stacks"][0]["cost"]
    endpoint = next(line for line in cost["lines"] if line["category"] == "endpoint")
    assert endpoint["idle"] == endpoint["load"] == round(2 * 0.115 * 730, 2) == 167.90
    assert cost["idle_compute"] == 167.90
    drift = next(line for line in cost["lines"] if line["category"] == "drift")
    assert drift["idle"] == drift["load"] == round(0.23 * 730 * 10 / 60, 2) == 27.98
    assert cost["load"] == pytest.approx(
        167.90 + 2.30 + storage + 8 * 0.10 + 3.00 + 1.00 + 27.98, abs=0.02
    )


def test_a_budget_gates_the_stack_and_is_provisioned(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["churn:budget"] = 150
    path.write_text(yaml.safe_dump(document))
    over = invoke("preview", "--stack", "prod", "--no-tree", "--project", str(project))
    assert (
        over.exit_code == 1
        and "budget: 150.00 exceeded by the expected load (204.93)" in over.stdout
    )
    document["config"]["churn:budget"] = 250
    path.write_text(yaml.safe_dump(document))
    within = invoke("preview", "--stack", "prod", "--no-tree", "--project", str(project))
    assert within.exit_code == 0 and "budget: 250.00, expected load 204.93: within" in within.stdout

    program = platform("prod", budget=250)
    (budget,) = program.of_type("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "250.00" and budget.inputs["timeUnit"] == "MONTHLY"
    alerts = budget.inputs["notifications"]
    assert {a["notificationType"] for a in alerts} == {"FORECASTED", "ACTUAL"}
    assert all(
        a["subscriberSnsTopicArns"]
        == ["arn:aws:sns:us-east-1:123456789012:churn-prod-monitoring-alerts"]
        for a in alerts
    )
    tags = [e["tags"] for e in budget.inputs["filterExpression"]["ands"]]
    assert tags == [
        {"key": "project", "values": ["churn"], "matchOptions": ["EQUALS"]},
        {"key": "environment", "values": ["prod"], "matchOptions": ["EQUALS"]},
    ]
    # AWS Budgets may publish to the encrypted alerts topic.
    (topic_policy,) = [
        p for p in program.of_type("aws:sns/topicPolicy:TopicPolicy") if "alerts" in p.name
    ]
    principals = json.loads(topic_policy.inputs["policy"])["Statement"][0]["Principal"]["Service"]
    assert "budgets.amazonaws.com" in principals
    assert not platform("prod").of_type("aws:budgets/budget:Budget")  # no budget, none made


@pytest.mark.parametrize(("budget", "code"), [(204.93, 0), (204.92, 1), (204.94, 0)])
def test_a_budget_equal_to_the_load_passes_and_a_cent_under_fails(
    budget: float, code: int, project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["churn:budget"] = budget
    path.write_text(yaml.safe_dump(document))
    exit_code, report = preview_json(invoke, project, "--stack", "prod")
    (stack,) = report["stacks"]
    assert stack["cost"]["load"] == 204.93  # the prod estimate, worked out above
    assert exit_code == code and stack["over_budget"] is bool(code)


def test_diff_names_what_differs_between_two_stacks(generated: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("preview", "--diff", "dev", "prod", "--json", "--project", str(generated))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "churn-<stack>-endpoint-scaling-policy" in report["only_right"]  # prod autoscales
    changed = {(c["resource"], c["input"]): (c["left"], c["right"]) for c in report["changed"]}
    assert changed[("churn-<stack>-lake-key", "deletionWindowInDays")] == (7.0, 30.0)
    assert ("churn-<stack>-lake-raw", "tags") not in changed  # the environment tag is no news
    unknown = invoke("preview", "--diff", "dev", "prd", "--project", str(generated))
    assert unknown.exit_code == 2 and "did you mean 'prod'" in unknown.output


def test_the_text_report_shows_the_tree_policy_and_cost(generated: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("preview", "--stack", "prod", "--project", str(generated))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "  mlops:aws:MLPlatform  churn-prod" in out
    assert (
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration  churn-prod-endpoint-config"
        "  [primary: 2 x ml.m5.large]" in out
    )
    assert "0 mandatory failed" in out and "expected load 20" in out and "prices: instances:" in out


def test_a_failing_program_is_named_by_its_own_line(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    main = project / "infra" / "__main__.py"
    lines = main.read_text().count("\n")
    main.write_text(main.read_text() + "raise RuntimeError('half-written change')\n")
    result = invoke("preview", "--stack", "dev", "--project", str(project))
    assert result.exit_code == 2
    expected = f"the program of stack 'dev' failed at infra/__main__.py:{lines + 1}:"
    assert expected in result.output and "RuntimeError: half-written change" in result.output
    assert "Traceback" not in result.output


def test_a_bad_stack_setting_is_one_line_naming_the_file_and_its_line(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    path = project / "Pulumi.prod.yaml"
    text = path.read_text()
    path.write_text(text + "  churn:trainingInstanceTyp: ml.m5.xlarge\n")  # a misspelt key
    line = text.count("\n") + 1
    result = invoke("preview", "--stack", "prod", "--project", str(project))
    assert result.exit_code == 2
    (error,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert error.startswith(f"error: {path}: line {line}: trainingInstanceTyp: unknown config key")
    assert "did you mean 'trainingInstanceType'" in error
    assert "invalid config for stack" not in result.output  # one line, not a heading and a list

    # Two problems: one line each, each with its file and line.
    key = "churn:trainingInstanceType:"
    (at,) = [i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith(key)]
    lines = text.splitlines(keepends=True)
    lines[at - 1] = f"  {key} m5.huge\n"
    path.write_text("".join(lines) + "  churn:trainingInstanceTyp: x\n")
    result = invoke("preview", "--stack", "prod", "--project", str(project))
    assert result.exit_code == 2
    assert f"{path}: line {at}: trainingInstanceType: unknown instance type" in result.output
    assert f"{path}: line {line}: trainingInstanceTyp:" in result.output


def test_first_difference_reaches_into_json_documents_held_in_strings() -> None:
    from mlops.composition.preview import ABSENT, first_difference

    left = json.dumps({"Version": "2020", "Steps": [{"Name": "a", "Image": "x:1"}, {"Name": "b"}]})
    right = json.dumps({"Version": "2020", "Steps": [{"Name": "a", "Image": "x:2"}, {"Name": "b"}]})
    assert first_difference(left, right, "definition") == (
        "definition.Steps[0].Image",
        "x:1",
        "x:2",
    )
    assert first_difference({"a": 1}, {"a": 1, "b": 2}, "tags") == ("tags.b", ABSENT, 2)
    assert first_difference([1, 2], [1], "list") == ("list[1]", 2, ABSENT)
    assert first_difference(3, 4, "n") == ("n", 3, 4)


def test_the_text_diff_shows_where_inside_an_input_the_stacks_differ(  # type: ignore[no-untyped-def]
    generated: Path, invoke
) -> None:
    result = invoke("preview", "--diff", "dev", "prod", "--project", str(generated))
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.output.splitlines() if "training-pipeline: pipelineDef" in ln]
    # Not the same 77-character prefix on both sides: the first differing path and its values.
    path, _, values = line.partition(": pipelineDefinition")[2].partition(": ")
    assert path.startswith(".Steps[") and " -> " in values
    left, right = values.split(" -> ")
    assert left != right


def test_before_any_approval_the_endpoint_is_priced_from_the_serving_settings(  # type: ignore[no-untyped-def]
    generated: Path, invoke, tmp_path: Path
) -> None:
    fresh = tmp_path / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), fresh, git=False).run()
    _, before = preview_json(invoke, fresh, "--stack", "prod")
    _, after = preview_json(invoke, generated, "--stack", "prod")  # a model approved
    (cost_before,), (cost_after,) = (
        [s["cost"] for s in report["stacks"]] for report in (before, after)
    )
    planned = [line for line in cost_before["lines"] if "planned" in line["item"]]
    assert [line["basis"] for line in planned] == ["2 x ml.m5.large x 730 h"]
    assert any("no model is approved yet" in note for note in cost_before["notes"])
    # The budget sees the endpoint before the first approval as after it: same instances.
    deployed = [line for line in cost_after["lines"] if line["category"] == "endpoint"]
    assert sum(line["idle"] for line in planned) == sum(line["idle"] for line in deployed)
    assert not any("planned" in line["item"] for line in cost_after["lines"])
