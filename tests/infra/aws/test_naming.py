"""Project names: reserved ones are refused, and every name offered as a fix is itself valid."""

from __future__ import annotations

import pytest

from mlops.infra.aws.naming import RESERVED_NAMES, name_problems, suggest_name

TRICKY = [
    "Churn_Model",
    "churn.model",
    "Churn Model!!",
    "churn--model",
    "9lives",
    "-churn-",
    "x" * 40,
    "churn-" + "y" * 40,
    "Sagemaker_Churn",
    "JSON",
    "a_",
    "__",
    "Ünïcode-naïve",
]


@pytest.mark.parametrize("name", TRICKY)
def test_every_suggested_name_passes_every_rule(name: str) -> None:
    problems = name_problems(name)
    assert problems, name  # each of these is invalid as given
    offered = [p.removeprefix("try '").removesuffix("'") for p in problems if p.startswith("try '")]
    assert len(offered) <= 1
    for fixed in offered:
        assert name_problems(fixed) == [], (name, fixed)


def test_a_suggestion_is_offered_where_a_simple_fix_exists() -> None:
    assert name_problems("Churn_Model")[-1] == "try 'churn-model'"
    assert suggest_name("churn.model") == "churn-model"
    # "sagemaker" stays a reserved prefix after any simple fix: nothing is offered.
    assert suggest_name("Sagemaker_Churn") == ""
    assert not any(p.startswith("try") for p in name_problems("Sagemaker_Churn"))


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES - {"pulumi_aws"}) + ["json", "os", "typing"])
def test_names_that_would_shadow_a_module_are_refused(name: str) -> None:
    assert any("would shadow the existing module" in p for p in name_problems(name))


@pytest.mark.parametrize("name", ["class", "import", "lambda"])
def test_python_keywords_are_refused(name: str) -> None:
    assert any("is a Python keyword" in p for p in name_problems(name))


@pytest.mark.parametrize("name", ["mlops-churn", "infra-team", "json-scorer", "tests-of-churn"])
def test_names_that_only_contain_a_reserved_word_are_fine(name: str) -> None:
    assert name_problems(name) == []


@pytest.mark.parametrize("prefix", ["aws", "sagemaker", "xn--", "sthree-", "amzn-s3-demo-"])
def test_reserved_prefixes_are_refused(prefix: str) -> None:
    name = f"{prefix}churn" if prefix.endswith("-") else f"{prefix}-churn"
    assert f"must not start with the reserved prefix '{prefix}'" in name_problems(name)
