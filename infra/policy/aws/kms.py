"""KMS rules: keys rotate, and key policies grant nothing to everyone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import KMS_KEY, allows, principal_is_anyone
from mlops.infra.policy.model import Finding, Stack, rule, statements


@rule(
    "aws",
    "CKV_AWS_7",
    "KMS keys rotate",
    "set enable_key_rotation=True",
    ("AWS Config cmk-backing-key-rotation-enabled",),
)
def rotation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every key rotates."""
    for key in stack.of(KMS_KEY):
        if key.props.get("enableKeyRotation") is not True:
            yield Finding(key.name, "key rotation is off")


@rule(
    "aws",
    "CKV_AWS_33",
    "KMS key policies grant nothing to a wildcard principal without a condition",
    "name the account, role or service, or add a condition on it",
)
def key_policy(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No key policy allows principal ``*`` without a condition."""
    for key in stack.of(KMS_KEY):
        for s in statements(key.props.get("policy")):
            if allows(s) and principal_is_anyone(s.get("Principal")) and not s.get("Condition"):
                yield Finding(key.name, f"statement {s.get('Sid', '?')} allows principal *")
