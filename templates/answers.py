"""The one answers model: every question ``mlops init`` asks, with its validation.

Templates never validate anything; whatever reaches them has passed through :class:`Answers`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.core.catalog import lookup_instance_type, partition_of, suggest
from mlops.core.errors import InvalidAnswersError, UserError
from mlops.core.naming import name_problems


class Framework(StrEnum):
    """The ML framework of the example model."""

    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    PYTORCH = "pytorch"


class EndpointKind(StrEnum):
    """How the model is served."""

    SERVERLESS = "serverless"
    REALTIME = "realtime"


class CiProvider(StrEnum):
    """Which CI system gets workflows."""

    GITHUB = "github"
    GITLAB = "gitlab"
    NONE = "none"


class Environment(StrEnum):
    """Cloud environments, in promotion order. ``local`` is always generated besides these."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


PROMOTION_ORDER = list(Environment)

# Frameworks that cannot use a GPU, and those that need one. xgboost can use either.
CPU_ONLY = {Framework.SKLEARN}
GPU_REQUIRED = {Framework.PYTORCH}
DEFAULT_TRAINING_TYPE = {
    Framework.SKLEARN: "ml.m5.xlarge",
    Framework.XGBOOST: "ml.g4dn.xlarge",
    Framework.PYTORCH: "ml.g5.2xlarge",
}

# AWS tag values: letters, digits, spaces and _ . : / = + - @, at most 256 characters.
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")


class Answers(BaseModel):
    """Validated answers for the ``aws`` template pack.

    Every field is one question; its description is the prompt text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    name: str = Field(
        description="Project name (Python package, Pulumi project, S3/SageMaker prefix)"
    )
    region: str = Field(default="us-east-1", description="AWS region")
    framework: Framework = Field(default=Framework.SKLEARN, description="ML framework")
    training_instance_type: str = Field(
        default="", description="SageMaker training instance type (empty: the framework's default)"
    )
    spot: bool = Field(default=True, description="Use managed spot training in dev")
    endpoint: EndpointKind = Field(
        default=EndpointKind.SERVERLESS,
        description="Endpoint kind in dev (staging and prod serve realtime)",
    )
    environments: list[Environment] = Field(
        default_factory=lambda: list(PROMOTION_ORDER),
        description="Cloud environments (comma-separated; 'local' is always added)",
    )
    ci: CiProvider = Field(default=CiProvider.GITHUB, description="CI provider")
    owner: str = Field(default="ml-team", description="Owner tag on every resource")
    cost_center: str = Field(default="ml", description="Cost-center tag on every resource")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        problems = name_problems(value)
        if problems:
            raise ValueError(f"'{value}' " + "; ".join(problems))
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        partition_of(value)
        return value

    @field_validator("environments", mode="before")
    @classmethod
    def _split_environments(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            if "local" in value:
                raise ValueError("'local' is always generated; list only dev, staging and prod")
            unknown = [v for v in value if v not in {e.value for e in Environment}]
            if unknown:
                raise ValueError(
                    f"unknown environment(s) {', '.join(map(repr, unknown))}; "
                    "choose from dev, staging, prod"
                )
            dupes = sorted({v for v in value if value.count(v) > 1})
            if dupes:
                raise ValueError(f"listed more than once: {', '.join(dupes)}")
            if not value:
                raise ValueError("list at least one of dev, staging, prod")
        return value

    @field_validator("environments")
    @classmethod
    def _promotion_order(cls, value: list[Environment]) -> list[Environment]:
        # Canonical order makes the output independent of how the list was typed.
        return sorted(value, key=PROMOTION_ORDER.index)

    @field_validator("owner", "cost_center")
    @classmethod
    def _check_tag_value(cls, value: str) -> str:
        if not _TAG_VALUE.match(value):
            raise ValueError(
                f"'{value}' is not a valid AWS tag value: use 1-256 letters, digits, spaces"
                " or _ . : / = + - @"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_training_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("training_instance_type"):
            try:
                framework = Framework(data.get("framework", Framework.SKLEARN))
            except ValueError:
                return data  # the framework field reports its own error
            data = {**data, "training_instance_type": DEFAULT_TRAINING_TYPE[framework]}
        return data

    @model_validator(mode="after")
    def _check_training_type(self) -> Self:
        name = self.training_instance_type
        try:
            itype = lookup_instance_type(name)
        except ValueError as exc:
            raise _field_error("training_instance_type", str(exc)) from None
        if self.framework in GPU_REQUIRED and not itype.has_gpu:
            raise _field_error(
                "training_instance_type",
                f"{self.framework} trains on a GPU but '{name}' has none; use a GPU type such"
                f" as '{DEFAULT_TRAINING_TYPE[self.framework]}'",
            )
        if self.framework in CPU_ONLY and itype.has_gpu:
            raise _field_error(
                "training_instance_type",
                f"{self.framework} cannot use a GPU, so '{name}' would cost"
                f" ${itype.price_per_hour}/h for nothing; use a CPU type such as"
                f" '{DEFAULT_TRAINING_TYPE[self.framework]}'",
            )
        return self

    @property
    def partition(self) -> str:
        """The AWS partition of the chosen region."""
        return partition_of(self.region)

    def to_record(self) -> dict[str, Any]:
        """Plain, ordered data for ``.mlops/answers.yml`` (enums as strings)."""
        return self.model_dump(mode="json")


class _FieldError(ValueError):
    """A model-level rule that belongs to one field (pydantic only knows the model)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _field_error(field: str, message: str) -> _FieldError:
    return _FieldError(field, message)


FIELDS = list(Answers.model_fields)


def validate_answers(raw: dict[str, Any]) -> Answers:
    """Build :class:`Answers` from raw values, turning every failure into one clear line each.

    Raises:
        InvalidAnswersError: with one ``(field, message)`` per broken rule.
    """
    try:
        return Answers.model_validate(raw)
    except ValidationError as exc:
        raise InvalidAnswersError(_problems(exc)) from None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "answers"
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            problems.append((ctx_error.field, str(ctx_error)))
        elif err["type"] == "extra_forbidden":
            problems.append(
                (field, f"unknown key{suggest(field, FIELDS)}; valid keys: {', '.join(FIELDS)}")
            )
        elif err["type"] == "missing":
            problems.append((field, "is required"))
        else:
            message = err["msg"].removeprefix("Value error, ")
            problems.append((field, message))
    return problems


def load_answers_file(path: Path) -> dict[str, Any]:
    """Read an answers YAML file: a flat mapping, or a recorded ``.mlops/answers.yml``.

    Raises:
        UserError: the file is missing, unreadable, not YAML, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"answers file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read answers file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"answers file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"answers file {path} must be a mapping of question: answer")
    if set(data) >= {"template", "answers"} and isinstance(data["answers"], dict):
        recorded: dict[str, Any] = data["answers"]
        return recorded
    return data
