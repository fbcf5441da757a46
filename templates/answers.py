"""The answers every pack shares, and how raw answers become a pack's validated model.

Each template pack has its own answers model on :class:`BaseAnswers` (the ``aws`` pack's is
``mlops.templates.aws.answers.AwsAnswers``); templates never validate anything, whatever
reaches them has passed through the pack's model. This module knows no pack: finding a pack's
model by name is :func:`mlops.templates.pack.validate_answers`'s job, so the packs' registry
depends on the answers, never the other way round.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlops.core.errors import InvalidAnswersError, UserError
from mlops.core.naming import Rules, common_problems, problems_with_fix
from mlops.core.text import suggest

# RFC 3986's URL characters, less ' and $ (a shell's quotes and expansions) and ;.
_PIP_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!&()*+,=%]+")


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


class BaseAnswers(BaseModel):
    """Questions every pack asks; a pack's model adds its own fields and rules.

    Every field is one question; its description is the prompt text. ``name_rules`` are the
    project-name rules of the pack's platform (the shared ones by default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
    name_rules: ClassVar[Rules] = staticmethod(common_problems)
    name_max_length: ClassVar[int] = 63

    name: str = Field(
        description="Project name (Python package, Pulumi project, cloud resource prefix)"
    )
    environments: list[Environment] = Field(
        default_factory=lambda: list(PROMOTION_ORDER),
        description="Cloud environments (comma-separated; 'local' is always added)",
    )
    ci: CiProvider = Field(default=CiProvider.GITHUB, description="CI provider")
    owner: str = Field(default="ml-team", description="Owner tag on every resource")
    cost_center: str = Field(default="ml", description="Cost-center tag on every resource")
    mlops_source: str = Field(
        default="auto",
        description=(
            "Where the project installs mlops-stack from: index, wheel (a wheel of this"
            " mlops-stack in the project's wheels/), or a pip URL (git+https://...);"
            " auto: wheel when run from a source checkout, else index"
        ),
        json_schema_extra={"prompt": False},
        validate_default=True,
    )

    @field_validator("mlops_source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        from mlops.templates.source import URL_PREFIXES, default_source

        if value == "auto":
            return default_source()
        if value in ("index", "wheel"):
            return value
        # A URL goes into the Dockerfiles' RUN lines and pyproject.toml's strings: only the
        # characters a pip URL needs, so it can close no quote and start no command.
        if value.startswith(URL_PREFIXES) and _PIP_URL.fullmatch(value):
            return value
        raise ValueError(
            f"'{value}' is not a source: use index, wheel, auto, or a URL starting with"
            f" {', '.join(URL_PREFIXES)} (letters, digits and -._~:/?#[]@!&()*+,=% only)"
        )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        problems = problems_with_fix(value, cls.name_rules, cls.name_max_length)
        if problems:
            raise ValueError(f"'{value}' " + "; ".join(problems))
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

    @property
    def stacks(self) -> list[str]:
        """Every stack the project gets: the chosen cloud environments, then ``local``."""
        return [env.value for env in self.environments] + ["local"]

    def to_record(self) -> dict[str, Any]:
        """Plain, ordered data for ``.mlops/answers.yml`` (enums as strings)."""
        return self.model_dump(mode="json")

    # answer -> (the answer it derives from, its default for each value of that answer).
    DERIVED: ClassVar[dict[str, tuple[str, dict[str, str]]]] = {}

    @classmethod
    def replay(cls, recorded: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Recorded answers with ``changes`` over them.

        An answer that still holds the default derived from an answer the changes replace is
        dropped, so it is derived anew (an xgboost project replayed with ``--framework
        sklearn`` gets sklearn's instance type, not xgboost's GPU type); one the user chose
        stays, and validation then says if it no longer fits.
        """
        merged = {**recorded, **changes}
        for answer, (source, defaults) in cls.DERIVED.items():
            if answer in changes or source not in changes or source not in recorded:
                continue
            old = str(recorded[source])
            if str(changes[source]) != old and recorded.get(answer) == defaults.get(old):
                merged.pop(answer, None)
        return merged


class _FieldError(ValueError):
    """A model-level rule that belongs to one field (pydantic only knows the model)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_error(field: str, message: str) -> _FieldError:
    """A failure of a model-level rule, reported against the one field it is about."""
    return _FieldError(field, message)


def validate_with(model: type[BaseAnswers], raw: dict[str, Any]) -> BaseAnswers:
    """Build ``model`` from raw values, turning every failure into one clear line each.

    Raises:
        InvalidAnswersError: with one ``(field, message)`` per broken rule.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidAnswersError(_problems(exc, list(model.model_fields))) from None


def _problems(exc: ValidationError, fields: list[str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "answers"
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            problems.append((ctx_error.field, str(ctx_error)))
        elif err["type"] == "extra_forbidden":
            problems.append(
                (field, f"unknown key{suggest(field, fields)}; valid keys: {', '.join(fields)}")
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
    from mlops.core import yamlfile  # only with an answers file: `mlops init --help` stays light

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"answers file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read answers file {path}: {exc}") from None
    try:
        data = yamlfile.loads(text, path)  # aliases bounded: no "billion laughs"
    except yamlfile.YamlFileError as exc:
        raise UserError(f"answers file {path} is not valid YAML: {exc.reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"answers file {path} must be a mapping of question: answer")
    if set(data) >= {"template", "answers"} and isinstance(data["answers"], dict):
        recorded: dict[str, Any] = data["answers"]
        return recorded
    return data
