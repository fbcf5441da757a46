"""Project-name rules every platform shares, and the name offered as a fix.

A project name is used verbatim as a Pulumi project name and a prefix of cloud resource names,
and (with ``-`` turned into ``_``) as a Python package name. These rules are what every
platform needs; a platform adds its own (``mlops.infra.aws.naming`` adds S3's and SageMaker's).
Each rule is checked on its own, so that each failure gets its own message.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Callable

MIN_NAME_LENGTH = 3
# Names that would shadow this tool's own package or what every project imports.
RESERVED_NAMES = frozenset({"mlops", "pulumi", "pulumi_aws", "boto3", "botocore", "tests", "infra"})
Rules = Callable[[str], list[str]]


def package_name(project: str) -> str:
    """Return the Python package name for a project name."""
    return project.replace("-", "_")


def common_problems(name: str) -> list[str]:  # one flat rule per branch reads best
    """Every shared rule ``name`` breaks, each as a sentence; empty if it breaks none."""
    problems: list[str] = []
    if len(name) < MIN_NAME_LENGTH:
        problems.append(f"must be at least {MIN_NAME_LENGTH} characters long")
    if name != name.lower():
        problems.append("must be lowercase (bucket and DNS names are)")
    if "_" in name:
        problems.append("must not contain '_' (bucket and DNS names reject it)")
    if "." in name:
        problems.append("must not contain '.' (it breaks TLS for virtual-hosted URLs)")
    bad = sorted(set(re.sub(r"[A-Za-z0-9_.-]", "", name)))
    if bad:
        problems.append(
            "may contain only lowercase letters, digits and '-'; found "
            + ", ".join(repr(c) for c in bad)
        )
    if name and not name[0].isalpha():
        problems.append("must start with a letter (Python packages cannot start with a digit)")
    if name and not name[-1].isalnum():
        problems.append("must end with a letter or digit")
    pkg = package_name(name.lower())
    if keyword.iskeyword(pkg):
        problems.append(f"is a Python keyword, so '{pkg}' cannot be a package name")
    elif pkg in sys.stdlib_module_names or pkg in RESERVED_NAMES:
        problems.append(f"would shadow the existing module '{pkg}'; pick a more specific name")
    return problems


def suggest_name(name: str, rules: Rules, max_length: int = 63) -> str:
    """A name close to ``name`` that passes ``rules``, or an empty string.

    Lowercases, turns ``_``, ``.`` and spaces into ``-``, drops other characters, collapses
    ``--`` and trims to ``max_length``; the result is offered only if it breaks no rule.
    """
    fixed = re.sub(r"[_. ]", "-", name.lower())
    fixed = re.sub(r"[^a-z0-9-]", "", fixed)
    fixed = re.sub(r"-{2,}", "-", fixed)
    fixed = re.sub(r"^[^a-z]+", "", fixed)[:max_length].rstrip("-")
    if not fixed or fixed == name or rules(fixed):
        return ""
    return fixed


def problems_with_fix(name: str, rules: Rules, max_length: int = 63) -> list[str]:
    """Every rule ``name`` breaks; empty if ``name`` is valid.

    A last entry offers a name to try, when a simple fix gives one that breaks no rule.
    """
    problems = rules(name)
    fixed = suggest_name(name, rules, max_length) if problems else ""
    return [*problems, f"try '{fixed}'"] if fixed else problems
