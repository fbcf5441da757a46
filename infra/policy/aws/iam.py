"""IAM rules: no * action, no S3 or KMS action on every resource, no admin policy, safe trust."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import (
    ROLE,
    ROLE_POLICY_ATTACHMENT,
    allows,
    policy_documents,
    principal_is_anyone,
)
from mlops.infra.policy.model import Finding, Stack, as_list, rule, statements

ADMIN_POLICY = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(AdministratorAccess|PowerUserAccess|IAMFullAccess|.*FullAccess)$"
)


def every_action(action: Any) -> bool:
    """``*``, ``*:*`` or ``*:Get*``: an action pattern that matches every service."""
    text = str(action).strip()
    return bool(text) and text.split(":", 1)[0].strip("*") == ""


@rule(
    "aws",
    "CKV_AWS_63",
    "IAM policies allow no * action",
    "list the actions the job needs",
    ("AWS Config iam-policy-no-statements-with-admin-access",),
)
def no_star_action(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No identity policy allows every action."""
    for holder, document in policy_documents(stack):
        for s in statements(document):
            if not allows(s):
                continue
            # NotAction allows everything it does not name: every action, for this rule.
            if s.get("NotAction") or any(every_action(a) for a in as_list(s.get("Action"))):
                yield Finding(holder.name, f"statement {s.get('Sid', '?')} allows every action")


@rule(
    "aws",
    "CKV_AWS_355",
    "IAM policies give S3 and KMS actions on named resources, not *",
    "scope the statement to the lake's buckets and key ARNs",
)
def no_star_resource(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No identity policy allows S3 or KMS actions on every resource."""
    for holder, document in policy_documents(stack):
        for s in statements(document):
            if not allows(s):
                continue
            # NotResource: every resource but those; "*" (or "arn:*"): every resource.
            everywhere = bool(s.get("NotResource")) or any(
                str(r).strip() in ("*", "arn:*") for r in as_list(s.get("Resource"))
            )
            if not everywhere:
                continue
            actions = [str(a) for a in as_list(s.get("Action"))]
            # IAM matches service prefixes without regard to case (S3:GetObject is s3:GetObject).
            scoped = [
                a for a in actions if a.lower().startswith(("s3:", "kms:")) or every_action(a)
            ]
            if s.get("NotAction"):
                excluded = {str(a).lower() for a in as_list(s.get("NotAction"))}
                scoped += [f"s3:* and kms:* (NotAction {', '.join(sorted(excluded))})"]
            if scoped:
                yield Finding(holder.name, f"{', '.join(scoped)} on every resource (*)")


@rule(
    "aws",
    "CKV_AWS_274",
    "No role carries an administrator or *FullAccess managed policy",
    "write a policy of the actions the job needs instead",
    ("AWS Config iam-policy-blacklisted-check",),
)
def no_admin_policies(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No role has an administrator or *FullAccess managed policy attached."""
    attached = [(r, r.props.get("policyArn")) for r in stack.of(ROLE_POLICY_ATTACHMENT)]
    for role in stack.of(ROLE):
        attached += [(role, arn) for arn in as_list(role.props.get("managedPolicyArns"))]
    for holder, arn in attached:
        if arn and ADMIN_POLICY.match(str(arn)):
            yield Finding(holder.name, f"attaches {arn}")


@rule(
    "aws",
    "mlops-iam-trust-conditions",
    "Roles trust services only for this account (aws:SourceAccount or aws:SourceArn)",
    "add a StringEquals aws:SourceAccount (or ArnLike aws:SourceArn) condition to the trust",
    ("AWS IAM confused-deputy guidance",),
)
def trust_conditions(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every role trusts services only under a source-account or source-ARN condition."""
    for role in stack.of(ROLE):
        for s in statements(role.props.get("assumeRolePolicy")):
            if not allows(s):
                continue
            principal = s.get("Principal") or {}
            if principal_is_anyone(principal):
                yield Finding(role.name, "anyone may assume the role")
                continue
            services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            keys = {k for op in (s.get("Condition") or {}).values() for k in (op or {})}
            if services and not keys & {"aws:SourceAccount", "aws:SourceArn"}:
                yield Finding(role.name, f"{', '.join(map(str, services))} trusted unconditionally")
