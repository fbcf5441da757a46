"""The Kubernetes flavour's stack configuration, read from ``Pulumi.<stack>.yaml`` once.

One model per platform (the AWS flavour's is :class:`mlops.infra.config.StackConfig`): keys are
camelCase in the stack file and live in the project's namespace. Defaults differ by environment
(:data:`ENV_DEFAULTS`): dev serves one replica; prod at least two behind a PodDisruptionBudget;
local (kind) trains without GPUs. Images are pinned by digest.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlops.core.contracts import DRIFT_THRESHOLD
from mlops.core.errors import ConfigError
from mlops.core.text import suggest
from mlops.infra.config import credential_keys, redact_secrets
from mlops.infra.k8s.workloads import DIGEST

Environment = Literal["dev", "staging", "prod", "local"]

ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {"serving_replicas": 1, "serving_max_replicas": 2},
    "staging": {"serving_replicas": 2, "serving_max_replicas": 3},
    "prod": {"serving_replicas": 3, "serving_max_replicas": 10, "namespace_gpus": 16},
    "local": {"serving_replicas": 1, "serving_max_replicas": 1, "training_gpus": 0},
}


class K8sConfig(BaseModel):
    """Settings of one stack of the Kubernetes flavour."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    project: str = Field(description="Pulumi project name; prefixes the namespace")
    environment: Environment = Field(description="dev, staging, prod or local")
    image: str = Field(description="The project image, by digest (repository@sha256:...)")
    candidate_image: str = Field(default="", description="A canary image, by digest")
    canary_percent: int = Field(default=10, ge=1, le=50, description="The canary's share")
    serving_replicas: int = Field(default=2, ge=1, le=100, description="Stable serving pods")
    serving_max_replicas: int = Field(default=4, ge=1, le=200, description="The HPA's ceiling")
    serving_cpu: str = Field(default="1", description="CPU per serving pod")
    serving_memory: str = Field(default="2Gi", description="Memory per serving pod")
    serving_gpus: int = Field(default=0, ge=0, le=8, description="GPUs per serving pod")
    gpu_resource: str = Field(default="nvidia.com/gpu", description="GPUs' extended resource")
    training_gpus: int = Field(default=1, ge=0, le=16, description="GPUs per training node")
    training_nodes: int = Field(default=1, ge=1, le=64, description="Nodes (>1: a PyTorchJob)")
    node_selector: dict[str, str] = Field(default_factory=dict, description="GPU node labels")
    retrain_schedule: str = Field(default="", description="Cron schedule of retraining")
    namespace_gpus: int = Field(default=4, ge=0, le=1024, description="The namespace's GPU quota")
    object_store_port: int = Field(default=443, ge=1, le=65535, description="Object store port")
    latency_p99_seconds: float = Field(default=0.5, gt=0, description="Latency alert threshold")
    kserve: bool = Field(default=False, description="Serve through a KServe InferenceService")
    model_uri: str = Field(default="", description="s3:// of the model.tar.gz to serve")
    drift_threshold: float = Field(
        default=DRIFT_THRESHOLD, gt=0, le=1, description="Retrain above this"
    )
    drift_schedule: str = Field(default="0 * * * *", description="When the drift check runs")
    minio_image: str = Field(default="", description="Run the lake on MinIO (kind), by digest")
    irsa_role_arn: str = Field(default="", description="The lake on S3: the role jobs assume")
    s3_region: str = Field(default="us-east-1", description="The S3 lake's region")
    owner: str = Field(default="ml-team", description="Owner label")
    cost_center: str = Field(default="ml", description="Cost-center label")

    @field_validator("image", "candidate_image", "minio_image")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        if value and not DIGEST.match(value):
            raise ValueError(f"'{value}' is not pinned by digest: use repository@sha256:<digest>")
        return value

    @field_validator("node_selector", mode="before")
    @classmethod
    def _parse_selector(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value  # Pulumi's JSON strings

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        if self.environment == "prod" and self.serving_replicas < 2:
            raise ValueError("servingReplicas: prod needs at least 2 for availability")
        if self.serving_max_replicas < self.serving_replicas:
            raise ValueError("servingMaxReplicas: must be at least servingReplicas")
        if self.retrain_schedule and self.training_nodes > 1:
            raise ValueError("retrainSchedule: scheduled retraining runs on one node")
        if self.model_uri and not self.model_uri.startswith("s3://"):
            raise ValueError(f"modelUri: '{self.model_uri}' is not an s3:// URI")
        if self.minio_image and self.irsa_role_arn:
            raise ValueError("minioImage: the lake is MinIO or S3 (irsaRoleArn), not both")
        if self.model_uri and not (self.minio_image or self.irsa_role_arn):
            raise ValueError(
                "modelUri: the server reads it from the lake: set minioImage or irsaRoleArn"
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
        raw: dict[str, Any] = {"project": project, **own}
        raw.setdefault("environment", stack)
        defaults = ENV_DEFAULTS.get(str(raw["environment"]), {})
        raw = {**{to_camel(k): v for k, v in defaults.items()}, **raw}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(stack, _problems(exc)) from None

    @classmethod
    def load(cls) -> K8sConfig:
        """Read the current stack's config from the Pulumi runtime."""
        import pulumi
        from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

        values = {**get_config_env(), **CONFIG.get()}
        secret = [key for key in values if is_config_secret(key)]
        return cls.from_values(pulumi.get_project(), pulumi.get_stack(), values, secret)


CREDENTIALS = credential_keys(K8sConfig)
_KEYS = [to_camel(name) for name in K8sConfig.model_fields if name != "project"]


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown config key{suggest(key, _KEYS)}; known keys: {', '.join(_KEYS)}"
        elif err["type"] == "missing":
            message = f"is required: pulumi config set {key} VALUE"
        elif not key and ": " in message:
            key, _, message = message.partition(": ")
        problems.append((key or "config", message))
    return problems
