"""One typed stack configuration, read from ``Pulumi.<stack>.yaml`` and validated once.

Every component takes its settings from here; no component reads ``pulumi.Config`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from mlops.core.catalog import lookup_instance_type, partition_of, suggest
from mlops.core.errors import ConfigError

EnvironmentName = Literal["dev", "staging", "prod", "local"]
ENVIRONMENTS: tuple[EnvironmentName, ...] = ("dev", "staging", "prod", "local")
MANAGED_BY = "mlops-stack"


class StackConfig(BaseModel):
    """Settings of one stack (one environment) of an ML platform.

    Keys are camelCase in ``Pulumi.<stack>.yaml`` (``trainingInstanceType``) and live in the
    project's namespace; the region is the AWS provider's ``aws:region``.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    project: str = Field(description="Pulumi project name; prefixes every physical name")
    environment: EnvironmentName = Field(description="dev, staging, prod or local")
    region: str = Field(description="AWS region")
    owner: str = Field(default="ml-team", description="Owner tag")
    cost_center: str = Field(default="ml", description="Cost-center tag")
    training_instance_type: str = Field(default="ml.m5.xlarge", description="Training type")
    training_instance_count: int = Field(default=1, ge=1, le=64, description="Training nodes")
    spot: bool = Field(default=False, description="Managed spot training")
    endpoint_type: Literal["serverless", "realtime"] = Field(
        default="serverless", description="Endpoint kind"
    )

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        partition_of(value)
        return value

    @field_validator("training_instance_type")
    @classmethod
    def _check_instance_type(cls, value: str) -> str:
        lookup_instance_type(value)
        return value

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
    def from_values(cls, project: str, stack: str, values: Mapping[str, Any]) -> StackConfig:
        """Build from raw config (``{"<project>:key": value, "aws:region": ...}``).

        The environment is the ``environment`` key when set, else the stack name.

        Raises:
            ConfigError: a key is unknown, missing or invalid; one line per problem.
        """
        prefix = f"{project}:"
        own = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
        raw: dict[str, Any] = {"project": project, "region": values.get("aws:region"), **own}
        raw.setdefault("environment", stack)
        if raw["region"] is None:
            return _fail(
                stack, [("aws:region", "is required: pulumi config set aws:region REGION")]
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            return _fail(stack, _problems(exc))

    @classmethod
    def load(cls) -> StackConfig:
        """Read the current stack's config from the Pulumi runtime."""
        import pulumi
        from pulumi.runtime.config import CONFIG, get_config_env

        values = {**get_config_env(), **CONFIG.get()}
        return cls.from_values(pulumi.get_project(), pulumi.get_stack(), values)


_KEYS = [to_camel(name) for name in StackConfig.model_fields if name not in ("project",)]


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            message = f"unknown config key{suggest(key, _KEYS)}; known keys: {', '.join(_KEYS)}"
        elif key == "environment" and err["type"] == "literal_error":
            message = (
                "stack name is not an environment; set one with"
                f" `pulumi config set environment ENV` ({', '.join(ENVIRONMENTS)})"
            )
        else:
            message = err["msg"].removeprefix("Value error, ")
        problems.append((key, message))
    return problems


def _fail(stack: str, problems: list[tuple[str, str]]) -> StackConfig:
    raise ConfigError(stack, problems)
