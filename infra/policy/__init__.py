"""The policy pack every project ships: rules defined once, run offline or under CrossGuard.

:data:`RULES` is every rule of both flavours; :func:`stack_of` turns what the mock runtime
captured into the :class:`Stack` the rules read. :mod:`mlops.infra.policy.crossguard` makes the
same rules a Pulumi CrossGuard policy pack (``pulumi preview --policy-pack policy``).
"""

from __future__ import annotations

from typing import Any

from mlops.infra.policy import aws_rules, k8s_rules
from mlops.infra.policy.model import (
    Finding,
    PackConfig,
    Resource,
    Rule,
    Stack,
    Violation,
    evaluate,
)

RULES: tuple[Rule, ...] = (*aws_rules.RULES, *k8s_rules.RULES)
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
    "evaluate",
    "stack_of",
]


def stack_of(program: Any, environment: str) -> Stack:
    """The rules' view of a captured program: its custom resources and their inputs."""
    return Stack(
        tuple(
            Resource(r.type, r.name, r.inputs)
            for r in program.resources
            if r.custom and not r.type.startswith("pulumi:providers:")
        ),
        environment,
    )
