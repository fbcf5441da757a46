"""A pack's questions as flags: parsed beside the answers model, the CLI only passes them on."""

from __future__ import annotations

import pytest

from mlops.core.errors import UserError
from mlops.templates.pack import load_pack
from mlops.templates.questions import Questions, questions_help

AWS = Questions(load_pack("aws").answers_model, "aws")


def test_flags_become_answers_in_each_spelling() -> None:
    args = ["--framework", "xgboost", "--region=eu-west-1", "--no-spot", "--environments", "prod"]
    assert AWS.parse(args) == {
        "framework": "xgboost",
        "region": "eu-west-1",
        "spot": False,
        "environments": "prod",
    }
    assert AWS.parse(["--spot"]) == {"spot": True}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framwork", "xgboost"], "unknown option --framwork (did you mean '--framework'?)"),
        (["--no-region"], "unknown option --no-region"),  # only booleans have a --no- form
        (["--name", "other"], "unknown option --name"),  # the name is the argument, not a flag
        (["churn"], "unknown option churn for template 'aws'"),
        (["--framework"], "--framework needs a value, e.g. --framework VALUE"),
    ],
)
def test_what_is_not_a_question_is_refused_by_name(args: list[str], message: str) -> None:
    with pytest.raises(UserError, match="^" + __import__("re").escape(message)):
        AWS.parse(args)


def test_help_lists_every_packs_questions_with_defaults() -> None:
    text = questions_help()
    assert "Questions of template 'aws':" in text and "Questions of template 'k8s':" in text
    assert "--spot/--no-spot: Use managed spot training in dev [default: True]" in text
    assert "--training-instance-type: " in text and "[default: derived]" in text
    assert "--training-gpus: " in text and "[default: the framework's]" in text
