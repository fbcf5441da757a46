"""The policy pack's model: resources as a rule sees them, rules, settings and the verdict.

A rule is one function over the whole stack (every resource with its input properties, in
Pulumi's wire names), so the same definition runs offline on what the mock runtime captured
(``mlops preview``) and under Pulumi CrossGuard (``pulumi preview --policy-pack policy``,
through :mod:`mlops.infra.policy.crossguard`). Nothing here imports Pulumi.

Each rule is mandatory unless the pack's config says otherwise. The config is CrossGuard's own
format (``--policy-pack-config``), read by both runners::

    {"CKV_AWS_21": "advisory", "mlops-gpu-allowlist": {"allowed": ["ml.g5.2xlarge"], "maxCount": 2}}

Lowering a rule (``advisory`` or ``disabled``; ``all`` lowers every rule without a level of its
own) is a *waiver*: ``mlops preview`` lists each one with its file and key, and refuses one
without a ``reason``, which only the mapping form can carry::

    {"CKV_AWS_21": {"enforcementLevel": "advisory", "reason": "SEC-12: the backup job versions"},
     "all": {"enforcementLevel": "advisory", "reason": "SEC-40: audit week, until 2025-07-01"}}

CrossGuard takes the same file: ``reason`` reaches a policy as one more config property, which
no rule's settings name (:mod:`mlops.infra.policy.crossguard` ignores it).
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
DEFAULT_LEVEL: Level = "mandatory"  # every rule's, and every CrossGuard policy's of this pack
MAX_CONFIG_BYTES = 1024 * 1024


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


Check = Callable[[Stack, Mapping[str, Any]], Iterable[Finding]]


def rule(
    flavour: Literal["aws", "k8s"],
    rule_id: str,
    title: str,
    fix: str,
    refs: tuple[str, ...] = (),
    settings: Mapping[str, Any] | None = None,
) -> Callable[[Check], Rule]:
    """Make a check function the :class:`Rule` of that id (a pack lists its rules in order)."""

    def define(check: Check) -> Rule:
        return Rule(rule_id, title, fix, flavour, check, refs, dict(settings or {}))

    return define


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
class Waiver:
    """One config entry that lowers rules from their default level.

    Attributes:
        key: the entry's key: a rule id, or ``all``.
        level: the level it sets.
        reason: why, as the config says; ``None`` where it gives none.
        rules: the ids of the rules it lowers (for ``all``: those without a level of their own).
        source: the config file, as the project names it.
    """

    key: str
    level: Level
    reason: str | None
    rules: tuple[str, ...]
    source: str = "policy/config.json"

    @property
    def refused(self) -> bool:
        """A rule mandatory by default lowered without a reason: the preview fails."""
        return self.reason is None

    def describe(self) -> str:
        """``policy/config.json: "all": disabled (34 rules)``."""
        count = f" ({len(self.rules)} rules)" if self.key == "all" else ""
        return f"{self.source}: {json.dumps(self.key)}: {self.level}{count}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "file": self.source,
            "key": self.key,
            "level": self.level,
            "reason": self.reason,
            "rules": list(self.rules),
            "refused": self.refused,
        }


@dataclass(frozen=True)
class PackConfig:
    """Per-rule enforcement levels, settings and waiver reasons, from the pack's config file."""

    levels: Mapping[str, Level] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    source: str = "policy/config.json"

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], rules: Iterable[Rule], source: str = "policy/config.json"
    ) -> PackConfig:
        """Read CrossGuard's config format: ``{id: level}`` or ``{id: {enforcementLevel, ...}}``.

        ``all`` (CrossGuard's pack-wide level) is a level or ``{"enforcementLevel", "reason"}``;
        a rule's mapping may carry a ``reason`` beside its level and settings.

        Raises:
            PolicyConfigError: an unknown rule id, level or setting, or a malformed reason.
        """
        known = {r.id: r for r in rules}
        levels: dict[str, Level] = {}
        settings: dict[str, dict[str, Any]] = {}
        reasons: dict[str, str] = {}
        for rule_id, value in raw.items():
            if rule_id == "all":  # CrossGuard's pack-wide level
                levels["all"], reason = _all_entry(source, value)
            elif rule_id not in known:
                from mlops.core.text import suggest

                raise PolicyConfigError(
                    f"{source}: no rule '{rule_id}'{suggest(rule_id, list(known))}"
                )
            else:
                level, reason, extra = _rule_entry(source, known[rule_id], value)
                if level:
                    levels[rule_id] = level
                if extra:
                    settings[rule_id] = extra
            if reason is not None:
                reasons[rule_id] = reason
        return cls(levels, settings, reasons, source)

    @classmethod
    def load(cls, path: Path, rules: Iterable[Rule], source: str | None = None) -> PackConfig:
        """Read the config file at ``path``; an absent file means every default.

        Args:
            path: the file.
            rules: every rule the file may name.
            source: the file as the user knows it (``policy/config.json``), for messages.

        Raises:
            PolicyConfigError: the file is not a JSON object (the message names the file and
                the line), or names what does not exist.
        """
        if not path.is_file():
            return cls(source=source or str(path))
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise PolicyConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        if len(data) > MAX_CONFIG_BYTES:
            raise PolicyConfigError(f"{path}: is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyConfigError(f"{path}: is not UTF-8 text (byte {exc.start})") from None
        try:
            raw = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise PolicyConfigError(
                f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the JSON there"
            ) from None
        except _DuplicateKey as exc:
            line = _line_of(text, exc.key)
            raise PolicyConfigError(
                f"{path}: line {line}: {exc.key!r} appears twice; keep one entry"
            ) from None
        except RecursionError:
            raise PolicyConfigError(f"{path}: nested too deeply") from None
        if not isinstance(raw, Mapping):
            found = type(raw).__name__
            raise PolicyConfigError(
                f"{path}: line 1: must hold a JSON object of rule ids, found a {found}"
                ' (e.g. {"CKV_AWS_21": "advisory"})'
            )
        return cls.from_mapping(raw, rules, source or str(path))

    def level(self, rule: Rule) -> Level:
        """The rule's enforcement level: its own override, the pack's, else mandatory."""
        return self.levels.get(rule.id) or self.levels.get("all") or DEFAULT_LEVEL

    def settings_of(self, rule: Rule) -> dict[str, Any]:
        """The rule's settings: defaults, overridden by config."""
        return {**rule.settings, **self.settings.get(rule.id, {})}

    def waivers(self, rules: Iterable[Rule]) -> list[Waiver]:
        """Every entry that lowers one of ``rules`` below its default level, ``all`` first."""
        rules = list(rules)
        found: list[Waiver] = []
        every = self.levels.get("all")
        if every and _rank(every) < _rank(DEFAULT_LEVEL):
            lowered = tuple(r.id for r in rules if r.id not in self.levels)
            if lowered:
                found.append(Waiver("all", every, self.reasons.get("all"), lowered, self.source))
        for rule in rules:
            level = self.levels.get(rule.id)
            if level and _rank(level) < _rank(DEFAULT_LEVEL):
                found.append(
                    Waiver(rule.id, level, self.reasons.get(rule.id), (rule.id,), self.source)
                )
        return found

    def changed_settings(self, rules: Iterable[Rule] | None = None) -> list[tuple[str, str]]:
        """``(rule id, "key=value, ...")`` for each rule whose settings the config changes."""
        wanted = None if rules is None else {r.id for r in rules}
        return [
            (rule_id, ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items()))
            for rule_id, values in self.settings.items()
            if values and (wanted is None or rule_id in wanted)
        ]


def _all_entry(source: str, value: Any) -> tuple[Level, str | None]:
    """``all``: a level, or ``{"enforcementLevel": LEVEL, "reason": WHY}``."""
    if not isinstance(value, Mapping):
        return _level(source, "all", value), None
    if set(value) - {"enforcementLevel", "reason"} or "enforcementLevel" not in value:
        raise PolicyConfigError(
            f'{source}: "all": takes a level, or {{"enforcementLevel": LEVEL, "reason": WHY}}'
            " and nothing else"
        )
    reason = _reason(source, "all", value["reason"]) if "reason" in value else None
    return _level(source, "all", value["enforcementLevel"]), reason


def _rule_entry(
    source: str, rule: Rule, value: Any
) -> tuple[Level | None, str | None, dict[str, Any]]:
    """A rule's entry: its level (if set), its reason (if given) and its settings."""
    if isinstance(value, str):
        return _level(source, rule.id, value), None, {}
    if not isinstance(value, Mapping):
        raise PolicyConfigError(f"{source}: {rule.id}: expected a level or a mapping")
    extra = dict(value)
    level = (
        _level(source, rule.id, extra.pop("enforcementLevel"))
        if "enforcementLevel" in extra
        else None
    )
    reason = _reason(source, rule.id, extra.pop("reason")) if "reason" in extra else None
    unknown = set(extra) - set(rule.settings)
    if unknown:
        allowed = ", ".join(rule.settings) or "none"
        raise PolicyConfigError(
            f"{source}: {rule.id}: unknown setting {sorted(unknown)[0]!r} (its settings: {allowed})"
        )
    return level, reason, extra


def _rank(level: Level) -> int:
    return {"disabled": 0, "advisory": 1, "mandatory": 2}[level]


def _reason(source: str, rule_id: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyConfigError(
            f'{source}: "{rule_id}": "reason" must say why in words (a ticket, an owner, a date)'
        )
    return value.strip()


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a second entry for a rule would hide the first."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _line_of(text: str, key: str) -> int:
    """The line of ``key``'s last occurrence as a JSON key (the duplicate)."""
    needle = json.dumps(key)
    at = text.rfind(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _level(source: str, rule_id: str, value: Any) -> Level:
    if not isinstance(value, str) or value not in LEVELS:
        raise PolicyConfigError(
            f"{source}: {rule_id}: level {value!r} is not one of {', '.join(LEVELS)}"
        )
    return value


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
