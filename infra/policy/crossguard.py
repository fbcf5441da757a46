"""The same rules as a Pulumi CrossGuard policy pack (``pulumi preview --policy-pack policy``).

Every rule becomes one stack policy of the same name: CrossGuard hands it every resource of the
stack with its input properties, the rule runs on them exactly as ``mlops preview`` runs it on
what the mock runtime captured, and each finding is reported against its resource's URN with
the rule's fix. Enforcement levels come from CrossGuard itself (``--policy-pack-config``, the
project's ``policy/config.json``, which ``mlops preview`` reads too); a rule's settings (the GPU
allowlist, the required tags) are its policy's config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlops.infra.policy import RULES
from mlops.infra.policy.model import Resource, Rule, Stack


def _schema(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    if isinstance(value, list):
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _environment(resources: tuple[Resource, ...]) -> str:
    """The stack's environment, from its resources' tags (CrossGuard does not pass the name)."""
    for resource in resources:
        environment = resource.tags.get("environment")
        if environment:
            return str(environment)
    return ""


def _validator(rule: Rule) -> Callable[[Any, Callable[[str, str | None], None]], None]:
    def validate(args: Any, report_violation: Callable[[str, str | None], None]) -> None:
        config: Mapping[str, Any] = args.get_config() or {}
        settings = {**rule.settings, **{k: v for k, v in config.items() if k in rule.settings}}
        resources = tuple(
            Resource(r.resource_type, r.name, dict(r.props or {}), r.urn) for r in args.resources
        )
        urns = {r.name: r.urn for r in resources}
        for finding in rule.check(Stack(resources, _environment(resources)), settings):
            report_violation(f"{finding.message}. Fix: {rule.fix}", urns.get(finding.resource))

    return validate


def policies(flavour: str) -> list[Any]:
    """The flavour's rules as CrossGuard stack policies, mandatory unless configured."""
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

    return [
        StackValidationPolicy(
            name=rule.id,
            description=f"{rule.title}.",
            validate=_validator(rule),
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=(
                PolicyConfigSchema({k: _schema(v) for k, v in rule.settings.items()})
                if rule.settings
                else None
            ),
            remediation_steps=rule.fix,
        )
        for rule in RULES
        if rule.flavour == flavour
    ]


def serve(name: str, flavour: str) -> None:
    """Run the pack for the Pulumi engine (what a project's ``policy/__main__.py`` calls)."""
    from pulumi_policy import EnforcementLevel, PolicyPack

    PolicyPack(
        name=name,
        policies=policies(flavour),
        enforcement_level=EnforcementLevel.MANDATORY,
        description=f"mlops-stack's guardrails for the {flavour} flavour",
    )
