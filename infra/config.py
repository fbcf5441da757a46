"""The config module: one typed stack configuration, read from ``Pulumi.<stack>.yaml`` once.

It composes the settings sections of :mod:`mlops.infra.aws.settings` and maps the stack file's
flat keys into them (:func:`nest`). No component reads ``pulumi.Config`` or imports this module:
the platform component hands each its own section.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mlops.core.errors import ConfigError
from mlops.core.text import suggest
from mlops.infra.aws.catalog import partition_of
from mlops.infra.aws.settings import (
    AlarmSettings,
    BudgetSettings,
    LakeSettings,
    MonitoringSettings,
    NotificationSettings,
    Section,
    ServingSettings,
    TrackingSettings,
    TrainingSettings,
)

EnvironmentName = Literal["dev", "staging", "prod", "local"]
ENVIRONMENTS: tuple[EnvironmentName, ...] = ("dev", "staging", "prod", "local")
MANAGED_BY = "mlops-stack"


# Per-environment defaults; an explicit key in Pulumi.<stack>.yaml always wins.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "spot": True,
        "endpoint_type": "serverless",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        "capture_sampling_percent": 100,
        "log_retention_days": 14,
        "invocation_drop_alarm": False,
    },
    "staging": {
        "spot": False,
        "endpoint_type": "realtime",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        "capture_sampling_percent": 50,
        "log_retention_days": 30,
        "invocation_drop_alarm": False,
    },
    "prod": {
        "spot": False,
        "endpoint_type": "realtime",
        "endpoint_instance_count": 2,
        "autoscaling_max": 4,
        "rollout": "canary",
        "capture_sampling_percent": 20,
        "log_retention_days": 365,
        "invocation_drop_alarm": True,
    },
    "local": {
        "spot": False,
        "endpoint_type": "serverless",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        # `mlops deploy` bakes each blue/green step on this machine: none unless the stack
        # file says so (or `--bake-seconds`).
        "baking_minutes": 0,
        # ... and stops the old servers of an update at once (`--termination-wait-seconds`).
        "termination_wait_minutes": 0,
        "capture_sampling_percent": 100,
        "log_retention_days": 1,
        "invocation_drop_alarm": False,
    },
}
# Keys earlier versions took, with what to do instead (a plain "unknown key" would puzzle).
REMOVED_KEYS = {
    "sharedLogGroups": (
        "is no longer used: SageMaker creates the account-wide /aws/sagemaker/TrainingJobs and"
        " /aws/sagemaker/ProcessingJobs log groups itself, and no stack creates them any more"
        " (two stacks in one account collided); remove the key"
    ),
}
SECRET_PLACEHOLDER = "[secret]"
"""What a credential stored as a Pulumi secret reads as offline, where nothing is decrypted."""


def is_secure(value: Any) -> bool:
    """Whether a stack file's value is a Pulumi secret, as Pulumi writes it (``secure: v1:...``)."""
    return isinstance(value, Mapping) and len(value) == 1 and "secure" in value


def credential_keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys of a config model's fields marked ``credential`` (they may be Pulumi secrets).

    A section's fields count too: their keys are flat in the stack file.
    """
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            keys |= credential_keys(info.annotation)
        elif isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("credential"):
            keys.add(info.alias or to_camel(name))
    return frozenset(keys)


def redact_secrets(
    own: Mapping[str, Any], secret_keys: Collection[str], credentials: Collection[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A stack's own settings with its secrets resolved.

    A credential's secure value reads as present and redacted (:data:`SECRET_PLACEHOLDER`); no
    other setting may be a secret.

    Args:
        own: the project's settings, keys without the project prefix.
        secret_keys: keys the runtime marks secret (``pulumi up`` decrypts them first).
        credentials: the keys that hold credentials.

    Returns:
        The settings, and one ``(key, message)`` per setting that may not be secret.
    """
    values = dict(own)
    problems: list[tuple[str, str]] = []
    for key, value in own.items():
        secure = is_secure(value)
        if not (secure or key in secret_keys):
            continue
        if key not in credentials:
            known = ", ".join(sorted(credentials)) or "none in this flavour"
            problems.append(
                (
                    key,
                    "is a secret (secure:) value, but it is not a credential; set it in plain"
                    f" text (`pulumi config set {key} VALUE`). Secrets: {known}",
                )
            )
        elif secure and not (isinstance(value["secure"], str) and value["secure"]):
            problems.append((key, "has a malformed secure: value; set it again with --secret"))
        elif secure:
            values[key] = SECRET_PLACEHOLDER
    return values, problems


def plaintext_credentials(own: Mapping[str, Any], credentials: Collection[str]) -> list[str]:
    """The credentials a stack file holds in plain text: set, but not as a ``secure:`` value.

    Stack files are committed, so such a value is in the repository (a warning, not an error:
    under ``pulumi up`` the runtime hands over decrypted secrets in plain text, too).

    Args:
        own: the stack file's settings, keys without the project prefix.
        credentials: the keys that hold credentials.
    """
    return [
        key
        for key, value in own.items()
        if key in credentials and not is_secure(value) and value not in (None, "")
    ]


# The sections of a stack's settings: each owns its defaults and validation (see
# mlops.infra.aws.settings); a component takes its own section.
SECTIONS: dict[str, type[Section]] = {
    "training": TrainingSettings,
    "serving": ServingSettings,
    "alarms": AlarmSettings,
    "monitoring": MonitoringSettings,
    "notifications": NotificationSettings,
    "lake": LakeSettings,
    "budget": BudgetSettings,
    "tracking": TrackingSettings,
}


def section_keys(sections: Mapping[str, type[BaseModel]]) -> dict[str, str]:
    """Every flat stack-file key of the sections -> its section: the one table of the mapping.

    Generated projects write flat keys (``trainingInstanceType``), each a field's alias.
    """
    return {
        info.alias or to_camel(name): section
        for section, model in sections.items()
        for name, info in model.model_fields.items()
    }


def nest(
    values: Mapping[str, Any],
    sections: Mapping[str, type[BaseModel]],
    explicit: Collection[str] = (),
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Stack-file settings, flat or nested, as the config model's sections take them.

    A section may also be given nested (``training: {instanceType: ...}``, its fields' short
    camelCase names or their flat keys); a nested value wins over a per-environment default.

    Args:
        values: the settings, keys without the project prefix.
        sections: section name -> its model.
        explicit: the keys the stack file set itself (not defaults).

    Returns:
        The settings with each section's keys under it (other keys stay on top, where an unknown
        one is refused), and one ``(key, message)`` per key set both flat and nested.
    """
    flat = section_keys(sections)
    raw: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {section: {} for section in sections}
    for key, value in values.items():
        if key in sections and isinstance(_json_or_none(value), Mapping):
            continue  # a nested section, read below
        if key in flat:
            grouped[flat[key]][key] = value
        else:
            raw[key] = value
    problems: list[tuple[str, str]] = []
    for section, model in sections.items():
        nested = _json_or_none(values.get(section))
        if not isinstance(nested, Mapping):
            continue
        short = {to_camel(n): info.alias or to_camel(n) for n, info in model.model_fields.items()}
        for inner, value in nested.items():
            key = short.get(str(inner), str(inner))
            if key in explicit:
                problems.append((key, f"is set both flat and under {section}; keep one"))
            grouped[section][key] = value
    return {**raw, **{section: keys for section, keys in grouped.items() if keys}}, problems


def _json_or_none(value: Any) -> Any:
    """A nested section as Pulumi hands it over: a mapping, or its JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class StackConfig(BaseModel):
    """Settings of one stack (one environment) of an ML platform, in sections.

    Keys are camelCase in ``Pulumi.<stack>.yaml`` (``trainingInstanceType``) and live in the
    project's namespace; the region is the AWS provider's ``aws:region``. The stack-wide identity
    (project, environment, region, owner, cost center) is here; every other setting lives in its
    section (:data:`SECTIONS`), which owns its default. Defaults differ by environment
    (:data:`ENV_DEFAULTS`): dev trains on spot and serves serverless; staging serves one
    realtime instance; prod serves at least two with autoscaling and a canary rollout, and
    protects its data.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    project: str = Field(description="Pulumi project name; prefixes every physical name")
    environment: EnvironmentName = Field(description="dev, staging, prod or local")
    region: str = Field(description="AWS region")
    owner: str = Field(default="ml-team", description="Owner tag")
    cost_center: str = Field(default="ml", description="Cost-center tag")
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        partition_of(value)
        return value

    @model_validator(mode="after")
    def _check_environment_rules(self) -> Self:
        serving = self.serving
        if self.environment == "prod" and serving.realtime and serving.instance_count < 2:
            raise ValueError(
                "endpointInstanceCount: prod needs at least 2 instances for availability"
            )
        return self

    @property
    def partition(self) -> str:
        """The AWS partition of the region (``aws``, ``aws-cn``, ``aws-us-gov``)."""
        return partition_of(self.region)

    @property
    def protect(self) -> bool:
        """Whether data and keys survive ``pulumi destroy``: prod only."""
        return self.environment == "prod"

    @property
    def name_prefix(self) -> str:
        """The prefix of every physical resource name: ``<project>-<environment>``."""
        return f"{self.project}-{self.environment}"

    @property
    def tags(self) -> dict[str, str]:
        """Tags every taggable resource carries."""
        return {
            "project": self.project,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": MANAGED_BY,
        }

    @classmethod
    def from_values(
        cls,
        project: str,
        stack: str,
        values: Mapping[str, Any],
        secret_keys: Collection[str] = (),
    ) -> StackConfig:
        """Build from raw config (``{"<project>:key": value, "aws:region": ...}``).

        The environment is the ``environment`` key when set, else the stack name. A credential
        (:data:`CREDENTIALS`) may be a Pulumi secret: as the stack file holds it
        (``{"secure": "v1:..."}``, read offline as :data:`SECRET_PLACEHOLDER`) or decrypted,
        with its full key in ``secret_keys``; no other setting may be.

        Raises:
            ConfigError: a key is unknown, missing or invalid; one line per problem.
        """
        prefix = f"{project}:"
        own = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
        retired = [(key, REMOVED_KEYS[key]) for key in own if key in REMOVED_KEYS]
        if retired:
            return _fail(stack, retired)
        secrets = {k.removeprefix(prefix) for k in secret_keys if k.startswith(prefix)}
        own, refused = redact_secrets(own, secrets, CREDENTIALS)
        if refused:
            return _fail(stack, refused)
        flat: dict[str, Any] = {"project": project, "region": values.get("aws:region"), **own}
        flat.setdefault("environment", stack)
        defaults = ENV_DEFAULTS.get(str(flat["environment"]), {})
        flat = {**{to_camel(k): v for k, v in defaults.items()}, **flat}
        if flat["region"] is None:
            return _fail(
                stack, [("aws:region", "is required: pulumi config set aws:region REGION")]
            )
        raw, doubled = nest(flat, SECTIONS, explicit=own)
        if doubled:
            return _fail(stack, doubled)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            return _fail(stack, _problems(exc))

    @classmethod
    def load(cls) -> StackConfig:
        """Read the current stack's config from the Pulumi runtime."""
        return cls.from_values(*runtime_values())


def runtime_values() -> tuple[str, str, dict[str, Any], list[str]]:
    """The Pulumi runtime's project, stack and config values, and which of them are secrets."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    values = {**get_config_env(), **CONFIG.get()}
    secret = [key for key in values if is_config_secret(key)]
    return pulumi.get_project(), pulumi.get_stack(), values, secret


def known_keys(model: type[BaseModel], sections: Mapping[str, Any]) -> list[str]:
    """Every key a stack file may set for ``model``: its own fields and its sections' keys."""
    own = (to_camel(name) for name in model.model_fields if name not in {"project", *sections})
    return [*own, *section_keys(sections)]


def config_problems(
    exc: ValidationError, sections: Collection[str], keys: list[str]
) -> list[tuple[str, str]]:
    """A config model's validation errors as (key, message), each key as the stack file spells it.

    Used by both platforms' config models, so a mistake reads the same on AWS and Kubernetes.
    """
    problems = []
    for err in exc.errors(include_url=False):
        # A section's key is reported as the stack file spells it: flat, without the section.
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc[1:] if loc and loc[0] in sections else loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown config key{suggest(key, keys)}; known keys: {', '.join(keys)}"
        elif key == "environment" and err["type"] == "literal_error":
            message = (
                "stack name is not an environment; set one with"
                f" `pulumi config set environment ENV` ({', '.join(ENVIRONMENTS)})"
            )
        elif err["type"] == "missing":
            message = f"is required: pulumi config set {key} VALUE"
        elif not key and ": " in message:  # a cross-field rule names its key first
            key, _, message = message.partition(": ")
        problems.append((key or "config", message))
    return problems


def _fail(stack: str, problems: list[tuple[str, str]]) -> StackConfig:
    raise ConfigError(stack, problems)


CREDENTIALS = credential_keys(StackConfig)
_KEYS = known_keys(StackConfig, SECTIONS)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return config_problems(exc, SECTIONS, _KEYS)
