"""The Kubernetes flavour's stack configuration, read from ``Pulumi.<stack>.yaml`` once.

One model per platform (the AWS flavour's is :class:`mlops.infra.config.StackConfig`), composed
of the sections in :mod:`mlops.infra.k8s.settings`: keys are flat and camelCase in the stack file
and live in the project's namespace. Defaults differ by environment
(:data:`ENV_DEFAULTS`): dev serves one replica; prod at least two behind a PodDisruptionBudget;
local (kind) trains without GPUs. Images are pinned by digest.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlops.core.errors import ConfigError
from mlops.infra.config import (
    config_problems,
    credential_keys,
    known_keys,
    nest,
    redact_secrets,
    runtime_values,
)
from mlops.infra.k8s.settings import (
    GPU_RESOURCE,
    LakeSettings,
    MlflowSettings,
    MonitoringSettings,
    ServingSettings,
    TrainingSettings,
)
from mlops.infra.k8s.workloads import DIGEST

Environment = Literal["dev", "staging", "prod", "local"]

ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {"serving_replicas": 1, "serving_max_replicas": 2},
    "staging": {"serving_replicas": 2, "serving_max_replicas": 3},
    "prod": {"serving_replicas": 3, "serving_max_replicas": 10, "namespace_gpus": 16},
    "local": {"serving_replicas": 1, "serving_max_replicas": 1, "training_gpus": 0},
}


# The sections of a stack's settings (see mlops.infra.k8s.settings).
SECTIONS: dict[str, type[BaseModel]] = {
    "training": TrainingSettings,
    "serving": ServingSettings,
    "monitoring": MonitoringSettings,
    "lake": LakeSettings,
    "mlflow": MlflowSettings,
}


class K8sConfig(BaseModel):
    """Settings of one stack of the Kubernetes flavour: its identity, image and sections."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    project: str = Field(description="Pulumi project name; prefixes the namespace")
    environment: Environment = Field(description="dev, staging, prod or local")
    image: str = Field(description="The project image, by digest (repository@sha256:...)")
    gpu_resource: str = Field(default=GPU_RESOURCE, description="GPUs' extended resource")
    namespace_gpus: int = Field(default=4, ge=0, le=1024, description="The namespace's GPU quota")
    owner: str = Field(default="ml-team", description="Owner label")
    cost_center: str = Field(default="ml", description="Cost-center label")
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)

    @field_validator("image")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        if value and not DIGEST.match(value):
            raise ValueError(f"'{value}' is not pinned by digest: use repository@sha256:<digest>")
        return value

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        if self.environment == "prod" and self.serving.replicas < 2:
            raise ValueError("servingReplicas: prod needs at least 2 for availability")
        if self.serving.model_uri and not self.lake.configured:
            raise ValueError(
                "modelUri: the server reads it from the lake: set minioImage or irsaRoleArn"
            )
        if self.mlflow.enabled and not self.lake.configured:
            raise ValueError(
                "mlflow: MLflow keeps its artifacts in the lake: set minioImage or irsaRoleArn"
            )
        if self.mlflow.enabled and self.environment == "prod" and self.mlflow.backend == "sqlite":
            raise ValueError(
                "mlflowBackend: prod keeps MLflow in a database (mlflowBackend: database and"
                " mlflowBackendSecret), not SQLite on one volume"
            )
        return self

    @property
    def namespace(self) -> str:
        """``<project>-<environment>``."""
        return f"{self.project}-{self.environment}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels every object carries."""
        return {
            "app.kubernetes.io/part-of": self.project,
            "app.kubernetes.io/managed-by": "mlops-stack",
            "mlops/environment": self.environment,
            "mlops/owner": self.owner,
            "mlops/cost-center": self.cost_center,
        }

    @classmethod
    def from_values(
        cls,
        project: str,
        stack: str,
        values: Mapping[str, Any],
        secret_keys: Collection[str] = (),
    ) -> K8sConfig:
        """Build from raw config (``{"<project>:key": value}``).

        No setting of this flavour holds a credential (the lake's access comes from IRSA or the
        cluster's secrets), so none may be a Pulumi secret (``secure:``); the message says so.

        Raises:
            ConfigError: a key is unknown, missing or invalid; one line per problem.
        """
        prefix = f"{project}:"
        own = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
        secrets = {k.removeprefix(prefix) for k in secret_keys if k.startswith(prefix)}
        own, refused = redact_secrets(own, secrets, CREDENTIALS)
        if refused:
            raise ConfigError(stack, refused)
        flat: dict[str, Any] = {"project": project, **own}
        flat.setdefault("environment", stack)
        defaults = ENV_DEFAULTS.get(str(flat["environment"]), {})
        flat = {**{to_camel(k): v for k, v in defaults.items()}, **flat}
        raw, doubled = nest(flat, SECTIONS, explicit=own)
        if doubled:
            raise ConfigError(stack, doubled)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(stack, _problems(exc)) from None

    @classmethod
    def load(cls) -> K8sConfig:
        """Read the current stack's config from the Pulumi runtime."""
        return cls.from_values(*runtime_values())


CREDENTIALS = credential_keys(K8sConfig)
_KEYS = known_keys(K8sConfig, SECTIONS)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return config_problems(exc, SECTIONS, _KEYS)
