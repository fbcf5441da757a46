"""Every trigger's execution passes SageMaker's non-empty rule, and the role reads the champion.

SageMaker refuses empty strings in ``ContainerArguments``/``ContainerEntrypoint`` and in
StartPipelineExecution's parameter values; botocore's shapes, moto and the mocks accept them, so
the rule is held here: on the deployed definition, for the parameters each trigger really passes
(the schedule's and the drift rule's EventBridge targets, ``mlops pipeline run`` with and
without an approved model).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pipeline_eval import Resolver
from platform_runs import one, platform, policy

from mlops.core.contracts import APPROVED_FROM_REGISTRY
from mlops.infra.aws.pipeline_definition import (
    TRIGGER_PARAMETERS,
    PipelineDefinitionError,
    empty_values,
    validate_definition,
)

TARGET = "aws:cloudwatch/eventTarget:EventTarget"


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def deployed() -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The prod stack's definition and each trigger's parameters, as its resources pass them."""
    program = platform("prod", schedule="rate(7 days)")
    pipeline = one(program, "aws:sagemaker/pipeline:Pipeline", "churn-prod-training-pipeline")
    targets = {t.name: t.inputs for t in program.of_type(TARGET)}

    def given(suffix: str) -> dict[str, str]:
        target = next(v for k, v in targets.items() if k.endswith(suffix))
        lists = target["sagemakerPipelineTarget"]["pipelineParameterLists"]
        return {p["name"]: p["value"] for p in lists}

    cli = {"InputDataUri": "s3://raw/datasets/churn/abc/", "TriggeredBy": "cli"}
    return json.loads(pipeline.inputs["pipelineDefinition"]), {
        "manual (console, defaults)": {},
        "manual, none approved": {**cli, "ApprovedModelMetric": APPROVED_FROM_REGISTRY},
        "manual, approved": {**cli, "ApprovedModelMetric": "0.8312"},
        "schedule": given("-schedule-target"),
        "drift": given("drift-retrain-target"),
    }


DEFINITION, TRIGGERS = deployed()


# What the champion step writes (the container's `champion`, tested to never write "").
CHAMPION = {"Steps.ReadChampion.PropertyFiles.ChampionReport": {"approved": APPROVED_FROM_REGISTRY}}


def non_empty_problems(definition: dict[str, Any], given: dict[str, str]) -> list[str]:
    """Resolve like an execution would (the test's own interpreter) and list empty values."""
    resolve = Resolver(definition, parameters=given, property_files=CHAMPION)
    values = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]} | given
    problems = [f"parameter {k}" for k, v in values.items() if str(v) == ""]
    for step in definition["Steps"]:
        app = step["Arguments"].get("AppSpecification", {})
        for field in ("ContainerArguments", "ContainerEntrypoint"):
            for i, item in enumerate(resolve(app.get(field, []))):
                if not isinstance(item, str) or item == "":
                    problems.append(f"{step['Name']}.{field}[{i}]={item!r}")
    return problems


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_every_value_of_every_trigger_is_non_empty(trigger: str) -> None:
    assert non_empty_problems(DEFINITION, TRIGGERS[trigger]) == []
    assert empty_values(DEFINITION, TRIGGERS[trigger]) == []  # the builder's check agrees


def test_the_triggers_the_builder_checks_are_the_ones_the_stack_wires() -> None:
    assert TRIGGERS["schedule"] == TRIGGER_PARAMETERS["schedule"]
    assert TRIGGERS["drift"] == TRIGGER_PARAMETERS["drift"]


def test_scheduled_and_drift_runs_look_the_champion_up_before_evaluate() -> None:
    champion = next(s for s in DEFINITION["Steps"] if s["Name"] == "ReadChampion")
    evaluate = next(s for s in DEFINITION["Steps"] if s["Name"] == "EvaluateModel")
    for trigger in ("schedule", "drift"):
        resolved = Resolver(DEFINITION, parameters=TRIGGERS[trigger])(
            champion["Arguments"]["AppSpecification"]["ContainerArguments"]
        )
        assert resolved[resolved.index("--approved-metric") + 1] == APPROVED_FROM_REGISTRY
        assert resolved[resolved.index("--model-package-group") + 1] == "churn-prod-models"
        # The evaluate step takes the figure the champion step wrote, whatever it is.
        written = {"Steps.ReadChampion.PropertyFiles.ChampionReport": {"approved": "0.91"}}
        arguments = Resolver(DEFINITION, parameters=TRIGGERS[trigger], property_files=written)(
            evaluate["Arguments"]["AppSpecification"]["ContainerArguments"]
        )
        assert arguments[arguments.index("--approved-metric") + 1] == "0.91"


def test_an_empty_default_fails_the_build_for_every_trigger() -> None:
    # The flip: the old default "" would be refused by SageMaker; the builder refuses it first.
    broken = copy.deepcopy(DEFINITION)
    for parameter in broken["Parameters"]:
        if parameter["Name"] == "ApprovedModelMetric":
            parameter["DefaultValue"] = ""
    assert non_empty_problems(broken, TRIGGERS["drift"])  # the test's own check sees it
    with pytest.raises(PipelineDefinitionError) as raised:
        validate_definition(broken)
    for trigger in TRIGGER_PARAMETERS:
        assert f"trigger {trigger}: parameter ApprovedModelMetric is empty" in str(raised.value)
    # ... but a manual run that passes a figure is fine, as SageMaker would find it.
    assert empty_values(broken, TRIGGERS["manual, approved"]) == []


def test_an_empty_container_argument_fails_the_build() -> None:
    broken = copy.deepcopy(DEFINITION)
    evaluate = next(s for s in broken["Steps"] if s["Name"] == "EvaluateModel")
    evaluate["Arguments"]["AppSpecification"]["ContainerArguments"][-1] = ""
    with pytest.raises(PipelineDefinitionError, match=r"EvaluateModel: ContainerArguments\[\d+\]"):
        validate_definition(broken)


def test_the_role_reads_the_champion_of_its_own_group_only() -> None:
    program = platform("prod")
    execution = next(
        r
        for r in program.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.name.endswith("execution-policy")
    )
    statements = policy(execution)["Statement"]
    reads = {"sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"}
    granting = [s for s in statements if reads & set(actions(s))]
    assert [s["Sid"] for s in granting] == ["ReadChampion"]
    champion = granting[0]
    assert set(actions(champion)) == reads and "Condition" not in champion
    assert [r.split(":", 5)[-1] for r in champion["Resource"]] == [
        "model-package-group/churn-prod-models",
        "model-package/churn-prod-models/*",
    ]
    # Nothing else on the registry is readable or writable beyond registering candidates.
    registry = [a for s in statements for a in actions(s) if "ModelPackage" in a]
    assert sorted(registry) == sorted(
        [*reads, "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup"]
    )
