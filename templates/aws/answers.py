"""The ``aws`` pack's answers: the shared questions plus region, framework, training and serving.

The rules here are AWS's: S3 and SageMaker name rules for the project name, regions with
SageMaker, the instance-type catalogue, AWS tag values.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import Field, field_validator, model_validator

from mlops.core.naming import Rules
from mlops.infra.aws.catalog import lookup_instance_type, partition_of
from mlops.infra.aws.naming import MAX_NAME_LENGTH, rule_problems
from mlops.templates.answers import BaseAnswers, field_error
from mlops.templates.common import Framework


class EndpointKind(StrEnum):
    """How the model is served."""

    SERVERLESS = "serverless"
    REALTIME = "realtime"


# Frameworks that cannot use a GPU, and those that need one. xgboost can use either.
CPU_ONLY = {Framework.SKLEARN}
GPU_REQUIRED = {Framework.PYTORCH}
DEFAULT_TRAINING_TYPE = {
    Framework.SKLEARN: "ml.m5.xlarge",
    Framework.XGBOOST: "ml.g4dn.xlarge",
    Framework.PYTORCH: "ml.g5.2xlarge",
}

# AWS tag values: letters, digits, spaces and _ . : / = + - @, at most 256 characters.
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}\Z")


class AwsAnswers(BaseAnswers):
    """Validated answers for the ``aws`` template pack.

    Every field is one question; its description is the prompt text.
    """

    name_rules: ClassVar[Rules] = staticmethod(rule_problems)
    name_max_length: ClassVar[int] = MAX_NAME_LENGTH
    DERIVED: ClassVar[dict[str, tuple[str, dict[str, str]]]] = {
        "training_instance_type": (
            "framework",
            {str(fw.value): itype for fw, itype in DEFAULT_TRAINING_TYPE.items()},
        )
    }

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

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        partition_of(value)
        return value

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
            raise field_error("training_instance_type", str(exc)) from None
        if self.framework in GPU_REQUIRED and not itype.has_gpu:
            raise field_error(
                "training_instance_type",
                f"{self.framework} trains on a GPU but '{name}' has none; use a GPU type such"
                f" as '{DEFAULT_TRAINING_TYPE[self.framework]}'",
            )
        if self.framework in CPU_ONLY and itype.has_gpu:
            raise field_error(
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
