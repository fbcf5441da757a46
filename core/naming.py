"""The project-name rules.

A project name is used verbatim as a Pulumi project name, an S3 bucket-name prefix and a
SageMaker resource-name prefix, and (with ``-`` turned into ``_``) as a Python package name.
The rules below are the intersection of all four, checked one by one so that each failure gets
its own message.
"""

from __future__ import annotations

import keyword
import re
import sys

# Longest suffix the platform appends to the name in a physical resource name:
# "-staging" (environment) + "-lake" (the platform's lake) + "-artifacts" (lake zone) +
# "-1a2b3c4" (Pulumi's auto-name suffix). S3 bucket and SageMaker names stop at 63 characters.
LONGEST_SUFFIX = len("-staging") + len("-lake") + len("-artifacts") + len("-1a2b3c4")
MAX_NAME_LENGTH = 63 - LONGEST_SUFFIX
MIN_NAME_LENGTH = 3

# S3 rejects these outright (bucket naming rules); "aws" and "sagemaker" are reserved by us
# because AWS-managed policies grant access to "sagemaker*" buckets, which would silently widen
# who can read the lake.
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-", "aws", "sagemaker")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")
# Names that would shadow this tool's own package or what every project imports.
RESERVED_NAMES = frozenset({"mlops", "pulumi", "pulumi_aws", "boto3", "botocore", "tests", "infra"})


def package_name(project: str) -> str:
    """Return the Python package name for a project name."""
    return project.replace("-", "_")


def name_problems(name: str) -> list[str]:
    """Return every rule ``name`` breaks, each as a sentence; empty if ``name`` is valid.

    A last entry offers a name to try, when a simple fix gives one that breaks no rule.
    """
    problems = _rule_problems(name)
    fixed = suggest_name(name) if problems else ""
    return [*problems, f"try '{fixed}'"] if fixed else problems


def _rule_problems(name: str) -> list[str]:  # noqa: C901 - one flat rule per branch reads best
    problems: list[str] = []
    if len(name) < MIN_NAME_LENGTH:
        problems.append(f"must be at least {MIN_NAME_LENGTH} characters long")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"is {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed, because S3 bucket"
            f" and SageMaker names stop at 63 and the platform appends up to {LONGEST_SUFFIX}"
        )
    if name != name.lower():
        problems.append("must be lowercase (S3 bucket names are)")
    if "_" in name:
        problems.append("must not contain '_' (S3 and SageMaker names reject it)")
    if "." in name:
        problems.append("must not contain '.' (it breaks TLS for S3 virtual-hosted URLs)")
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
    if "--" in name:
        problems.append("must not contain '--' (AWS reserves it in S3 bucket names)")
    lowered = name.lower()
    for prefix in RESERVED_PREFIXES:
        if lowered.startswith(prefix):
            problems.append(f"must not start with the reserved prefix '{prefix}'")
    for suffix in RESERVED_SUFFIXES:
        if lowered.endswith(suffix):
            problems.append(f"must not end with the reserved suffix '{suffix}'")
    pkg = package_name(lowered)
    if keyword.iskeyword(pkg):
        problems.append(f"is a Python keyword, so '{pkg}' cannot be a package name")
    elif pkg in sys.stdlib_module_names or pkg in RESERVED_NAMES:
        problems.append(f"would shadow the existing module '{pkg}'; pick a more specific name")
    return problems


def suggest_name(name: str) -> str:
    """A valid name close to ``name``, or an empty string when no simple fix makes one.

    Lowercases, turns ``_``, ``.`` and spaces into ``-``, drops other characters, collapses
    ``--`` and trims to the length limit; the result is offered only if it breaks no rule.
    """
    fixed = re.sub(r"[_. ]", "-", name.lower())
    fixed = re.sub(r"[^a-z0-9-]", "", fixed)
    fixed = re.sub(r"-{2,}", "-", fixed)
    fixed = re.sub(r"^[^a-z]+", "", fixed)[:MAX_NAME_LENGTH].rstrip("-")
    if not fixed or fixed == name or _rule_problems(fixed):
        return ""
    return fixed
