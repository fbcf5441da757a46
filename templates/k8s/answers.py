"""The ``k8s`` pack's answers: the shared questions plus framework, registry and GPUs.

The rules here are Kubernetes': the namespace ``<name>-<environment>`` must be a DNS label (at
most 63 characters), label values at most 63 characters of ``[A-Za-z0-9_.-]``, an extended
resource name for GPUs, ``key=value`` node selectors.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from mlops.core.naming import Rules, common_problems
from mlops.templates.answers import BaseAnswers
from mlops.templates.common import Framework

# The longest environment suffix is "-staging" (8): the namespace stays a 63-character label.
MAX_NAME_LENGTH = 63 - len("-staging")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?\Z")
_RESOURCE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-z0-9]([a-z0-9_.-]*[a-z0-9])?\Z")
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*\Z")
_SELECTOR = re.compile(r"^[A-Za-z0-9./_-]+=[A-Za-z0-9_.-]*\Z")


def name_problems(name: str) -> list[str]:
    """The shared rules, and the namespace's length limit."""
    problems = common_problems(name)
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"must be at most {MAX_NAME_LENGTH} characters (the namespace <name>-staging must"
            " stay a 63-character DNS label)"
        )
    return problems


GPU_DEFAULT = {Framework.SKLEARN: 0, Framework.XGBOOST: 1, Framework.PYTORCH: 1}


class K8sAnswers(BaseAnswers):
    """Validated answers for the ``k8s`` template pack."""

    name_rules: ClassVar[Rules] = staticmethod(name_problems)
    name_max_length: ClassVar[int] = MAX_NAME_LENGTH

    framework: Framework = Field(default=Framework.SKLEARN, description="ML framework")
    registry: str = Field(
        default="ghcr.io/example", description="Image registry and path the CI pushes to"
    )
    gpu_resource: str = Field(
        default="nvidia.com/gpu", description="Extended resource GPUs are requested as"
    )
    training_gpus: int = Field(
        default=-1, ge=-1, le=16, description="GPUs per training node (-1: the framework's default)"
    )
    node_selector: str = Field(
        default="", description="GPU nodes' labels, key=value[,key=value] (empty: any node)"
    )
    kserve: bool = Field(
        default=False,
        description="Serve through KServe (installed in the cluster) in dev/staging/prod",
    )

    @field_validator("owner", "cost_center")
    @classmethod
    def _check_label_value(cls, value: str) -> str:
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"'{value}' is not a valid Kubernetes label value: 1-63 letters, digits, '-',"
                " '_' or '.', starting and ending with a letter or digit"
            )
        return value

    @field_validator("gpu_resource")
    @classmethod
    def _check_resource(cls, value: str) -> str:
        if not _RESOURCE.match(value):
            raise ValueError(f"'{value}' is not an extended resource name like nvidia.com/gpu")
        return value

    @field_validator("registry")
    @classmethod
    def _check_registry(cls, value: str) -> str:
        if not _REGISTRY.match(value):
            raise ValueError(f"'{value}' is not a registry path like ghcr.io/acme or host:5000/ml")
        return value

    @field_validator("node_selector")
    @classmethod
    def _check_selector(cls, value: str) -> str:
        bad = [p for p in value.split(",") if p.strip() and not _SELECTOR.match(p.strip())]
        if bad:
            raise ValueError(f"{', '.join(repr(b) for b in bad)}: write key=value[,key=value]")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_gpus(cls, data: Any) -> Any:
        if isinstance(data, dict) and int(data.get("training_gpus", -1) or 0) < 0:
            try:
                framework = Framework(data.get("framework", Framework.SKLEARN))
            except ValueError:
                return data  # the framework field reports its own error
            data = {**data, "training_gpus": GPU_DEFAULT[framework]}
        return data

    @property
    def selector(self) -> dict[str, str]:
        """The node selector as a mapping."""
        pairs = [p.strip().split("=", 1) for p in self.node_selector.split(",") if p.strip()]
        return {k: v for k, v in pairs}
