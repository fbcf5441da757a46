"""The policy pack every project ships: rules defined once, run offline or under CrossGuard.

:data:`RULES` is every rule of both flavours; :func:`stack_of` turns what the mock runtime
captured into the :class:`Stack` the rules read. :mod:`mlops.infra.policy.crossguard` makes the
same rules a Pulumi CrossGuard policy pack (``pulumi preview --policy-pack policy``).
"""

from __future__ import annotations

from typing import Any

from mlops.infra.policy import aws, k8s_rules
from mlops.infra.policy.model import (
    Finding,
    PackConfig,
    Resource,
    Rule,
    Stack,
    Violation,
    Waiver,
    evaluate,
)

RULES: tuple[Rule, ...] = (*aws.RULES, *k8s_rules.RULES)
CONFIG_FILE = "policy/config.json"  # in a project: CrossGuard's --policy-pack-config file

__all__ = [
    "CONFIG_FILE",
    "RULES",
    "Finding",
    "PackConfig",
    "Resource",
    "Rule",
    "Stack",
    "Violation",
    "Waiver",
    "evaluate",
    "stack_of",
]


# How the engine marks a secret value on the wire: {SECRET_SIG: SECRET_VALUE, "value": ...}.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"


def stack_of(program: Any, environment: str) -> Stack:
    """The rules' view of a captured program: its custom resources and their inputs.

    Secret inputs are unwrapped, as CrossGuard hands them to a policy: a value passed through
    ``pulumi.Output.secret`` is still the value a rule must judge (a secret ``0`` retention is
    still "kept forever").
    """
    return Stack(
        tuple(
            Resource(r.type, r.name, unwrap_secrets(r.inputs))
            for r in program.resources
            if r.custom and not r.type.startswith("pulumi:providers:")
        ),
        environment,
    )


def unwrap_secrets(value: Any) -> Any:
    """``value`` with every secret-marked value replaced by what it holds, at any depth.

    What holds no secret is returned as it is, not copied (a fleet has thousands of resources).
    """
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return unwrap_secrets(value.get("value"))
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            plain = unwrap_secrets(item)
            if plain is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = plain
        return value if changed is None else changed
    if isinstance(value, list):
        items = [unwrap_secrets(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
