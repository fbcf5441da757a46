"""AWS's project-name rules on top of the shared ones: S3 bucket and SageMaker names.

The platform appends environment, component and zone suffixes to the project name, and S3
bucket and SageMaker names stop at 63 characters; S3 reserves some prefixes and suffixes.
"""

from __future__ import annotations

from mlops.core.naming import MIN_NAME_LENGTH, RESERVED_NAMES, common_problems, problems_with_fix
from mlops.core.naming import suggest_name as _suggest

__all__ = ["MAX_NAME_LENGTH", "MIN_NAME_LENGTH", "RESERVED_NAMES", "name_problems", "suggest_name"]

# Longest suffix the platform appends to the name in a physical resource name:
# "-staging" (environment) + "-lake" (the platform's lake) + "-artifacts" (lake zone) +
# "-1a2b3c4" (Pulumi's auto-name suffix). S3 bucket and SageMaker names stop at 63 characters.
LONGEST_SUFFIX = len("-staging") + len("-lake") + len("-artifacts") + len("-1a2b3c4")
MAX_NAME_LENGTH = 63 - LONGEST_SUFFIX

# S3 rejects these outright (bucket naming rules); "aws" and "sagemaker" are reserved by us
# because AWS-managed policies grant access to "sagemaker*" buckets, which would silently widen
# who can read the lake.
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-", "aws", "sagemaker")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


def rule_problems(name: str) -> list[str]:
    """Every shared and AWS rule ``name`` breaks."""
    problems = common_problems(name)
    if len(name) > MAX_NAME_LENGTH:
        problems.insert(
            1,
            f"is {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed, because S3 bucket"
            f" and SageMaker names stop at 63 and the platform appends up to {LONGEST_SUFFIX}",
        )
    if "--" in name:
        problems.append("must not contain '--' (AWS reserves it in S3 bucket names)")
    lowered = name.lower()
    problems += [
        f"must not start with the reserved prefix '{prefix}'"
        for prefix in RESERVED_PREFIXES
        if lowered.startswith(prefix)
    ]
    problems += [
        f"must not end with the reserved suffix '{suffix}'"
        for suffix in RESERVED_SUFFIXES
        if lowered.endswith(suffix)
    ]
    return problems


def name_problems(name: str) -> list[str]:
    """Every rule ``name`` breaks, then a valid name to try where a simple fix gives one."""
    return problems_with_fix(name, rule_problems, MAX_NAME_LENGTH)


def suggest_name(name: str) -> str:
    """A valid AWS project name close to ``name``, or an empty string."""
    return _suggest(name, rule_problems, MAX_NAME_LENGTH)
