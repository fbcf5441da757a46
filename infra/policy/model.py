"""The policy pack's model: resources as a rule sees them, rules, settings and the verdict.

A rule is one function over the whole stack (every resource with its input properties, in
Pulumi's wire names), so the same definition runs offline on what the mock runtime captured
(``mlops preview``) and under Pulumi CrossGuard (``pulumi preview --policy-pack policy``,
through :mod:`mlops.infra.policy.crossguard`). Nothing here imports Pulumi.

Each rule is mandatory unless the pack's config says otherwise. The config is CrossGuard's own
format (``--policy-pack-config``), read by both runners::

    {"CKV_AWS_21": "advisory", "mlops-gpu-allowlist": {"allowed": ["ml.g5.2xlarge"], "maxCount": 2}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlops.core.errors import PolicyConfigError

Level = Literal["mandatory", "advisory", "disabled"]
LEVELS: tuple[Level, ...] = ("mandatory", "advisory", "disabled")


@dataclass(frozen=True)
class Resource:
    """One resource of the stack: its type token, logical name and input properties."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""

    @property
    def tags(self) -> Mapping[str, Any]:
        """AWS tags (empty where the type has none)."""
        return self.props.get("tags") or {}


@dataclass(frozen=True)
class Stack:
    """Every resource of one stack, and the environment it deploys."""

    resources: tuple[Resource, ...]
    environment: str = ""

    def of(self, *types: str) -> list[Resource]:
        """The resources of these type tokens, in order."""
        return [r for r in self.resources if r.type in types]

    def by_prop(self, type_: str, prop: str) -> dict[Any, Resource]:
        """Resources of ``type_`` keyed by one of their properties (a bucket's name, say)."""
        return {r.props.get(prop): r for r in self.of(type_)}

    def environment_of(self, resource: Resource) -> str:
        """The resource's environment: its ``environment`` tag, else the stack's."""
        return str(resource.tags.get("environment") or self.environment)


@dataclass(frozen=True)
class Finding:
    """One thing a rule found wrong with one resource."""

    resource: str  # the resource's logical name
    message: str


@dataclass(frozen=True)
class Rule:
    """One policy.

    Attributes:
        id: its name in the pack and in config: the checkov or AWS Config id where one
            exists, else ``mlops-<slug>``.
        title: what it requires, in a line.
        fix: how to comply, in a line.
        flavour: ``aws`` or ``k8s``: the programs it applies to.
        check: the rule itself; yields one finding per offending resource.
        refs: related public check ids (checkov, AWS Config), for the reader.
        settings: the rule's own settings and their defaults (overridable in config).
    """

    id: str
    title: str
    fix: str
    flavour: Literal["aws", "k8s"]
    check: Callable[[Stack, Mapping[str, Any]], Iterable[Finding]]
    refs: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """A finding with its rule and the level it is enforced at."""

    rule: Rule
    level: Level
    resource: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for ``--json``."""
        return {
            "rule": self.rule.id,
            "level": self.level,
            "resource": self.resource,
            "message": self.message,
            "fix": self.rule.fix,
        }


@dataclass(frozen=True)
class PackConfig:
    """Per-rule enforcement levels and settings, from the pack's config file."""

    levels: Mapping[str, Level] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], rules: Iterable[Rule]) -> PackConfig:
        """Read CrossGuard's config format: ``{id: level}`` or ``{id: {enforcementLevel, ...}}``.

        Raises:
            PolicyConfigError: an unknown rule id, an unknown level or an unknown setting.
        """
        known = {r.id: r for r in rules}
        levels: dict[str, Level] = {}
        settings: dict[str, dict[str, Any]] = {}
        for rule_id, value in raw.items():
            if rule_id == "all":  # CrossGuard's pack-wide level
                levels["all"] = _level(rule_id, value)
                continue
            if rule_id not in known:
                from mlops.core.text import suggest

                raise PolicyConfigError(
                    f"policy config: no rule '{rule_id}'{suggest(rule_id, list(known))}"
                )
            if isinstance(value, str):
                levels[rule_id] = _level(rule_id, value)
                continue
            if not isinstance(value, Mapping):
                raise PolicyConfigError(f"policy config: {rule_id}: expected a level or a mapping")
            extra = dict(value)
            if "enforcementLevel" in extra:
                levels[rule_id] = _level(rule_id, extra.pop("enforcementLevel"))
            unknown = set(extra) - set(known[rule_id].settings)
            if unknown:
                allowed = ", ".join(known[rule_id].settings) or "none"
                raise PolicyConfigError(
                    f"policy config: {rule_id}: unknown setting {sorted(unknown)[0]!r}"
                    f" (its settings: {allowed})"
                )
            settings[rule_id] = extra
        return cls(levels, settings)

    @classmethod
    def load(cls, path: Path, rules: Iterable[Rule]) -> PackConfig:
        """Read the config file at ``path``; an absent file means every default.

        Raises:
            PolicyConfigError: the file is not JSON, or names what does not exist.
        """
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise PolicyConfigError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(raw, Mapping):
            raise PolicyConfigError(f"{path}: expected a JSON object of rule ids")
        return cls.from_mapping(raw, rules)

    def level(self, rule: Rule) -> Level:
        """The rule's enforcement level: its own override, the pack's, else mandatory."""
        return self.levels.get(rule.id) or self.levels.get("all") or "mandatory"

    def settings_of(self, rule: Rule) -> dict[str, Any]:
        """The rule's settings: defaults, overridden by config."""
        return {**rule.settings, **self.settings.get(rule.id, {})}


def _level(rule_id: str, value: Any) -> Level:
    if value not in LEVELS:
        raise PolicyConfigError(
            f"policy config: {rule_id}: level {value!r} is not one of {', '.join(LEVELS)}"
        )
    return value  # type: ignore[no-any-return]


def evaluate(
    stack: Stack, rules: Iterable[Rule], config: PackConfig | None = None
) -> list[Violation]:
    """Run every enabled rule on the stack; return what they found, rule by rule."""
    config = config or PackConfig()
    found: list[Violation] = []
    for rule in rules:
        level = config.level(rule)
        if level == "disabled":
            continue
        settings = config.settings_of(rule)
        found += [
            Violation(rule, level, f.resource, f.message) for f in rule.check(stack, settings)
        ]
    return found


def statements(document: Any) -> Iterator[dict[str, Any]]:
    """The statements of an IAM policy document (a JSON string or a mapping)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return
    if not isinstance(document, Mapping):
        return
    found = document.get("Statement", [])
    for statement in [found] if isinstance(found, Mapping) else found:
        if isinstance(statement, Mapping):
            yield dict(statement)


def as_list(value: Any) -> list[Any]:
    """A policy field that may be one value or a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
