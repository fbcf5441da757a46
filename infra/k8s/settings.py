"""The Kubernetes flavour's settings, one section per concern: each owns its defaults and rules.

As on AWS (:mod:`mlops.infra.aws.settings`), each field's alias is its flat key in
``Pulumi.<stack>.yaml`` (``servingReplicas``), so stack files read as before; the config module
(:mod:`mlops.infra.k8s.config`) composes the sections, and the platform hands each component
what it needs.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlops.core.contracts import DEFAULT_PRIMARY_METRIC, DRIFT_THRESHOLD, TASK_METRICS
from mlops.infra.k8s.workloads import DIGEST

# The extended resource GPUs are requested as (the NVIDIA device plugin's).
GPU_RESOURCE = "nvidia.com/gpu"


def _check_digest(value: str) -> str:
    if value and not DIGEST.match(value):
        raise ValueError(f"'{value}' is not pinned by digest: use repository@sha256:<digest>")
    return value


class Section(BaseModel):
    """Base of every settings section: frozen, strict about keys, camelCase stack-file keys."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class TrainingSettings(Section):
    """Where and how training runs: GPUs per node, nodes, node labels, a retraining schedule."""

    gpus: int = Field(default=1, ge=0, le=16, alias="trainingGpus", description="GPUs per node")
    nodes: int = Field(
        default=1, ge=1, le=64, alias="trainingNodes", description="Nodes (>1: a PyTorchJob)"
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="GPU node labels")
    retrain_schedule: str = Field(default="", description="Cron schedule of retraining")
    primary_metric: str = Field(
        default=DEFAULT_PRIMARY_METRIC["classification"],
        description="Metric the workflow's gate compares (rmse or mae for regression)",
    )
    evaluation_margin: float = Field(
        default=0.01, ge=0, le=1, description="How much the candidate must beat the champion"
    )

    @field_validator("primary_metric")
    @classmethod
    def _check_metric(cls, value: str) -> str:
        known = [m for metrics in TASK_METRICS.values() for m in metrics]
        if value not in known:
            raise ValueError(f"unknown metric '{value}'; choose from {', '.join(known)}")
        return value

    @field_validator("node_selector", mode="before")
    @classmethod
    def _parse_selector(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value  # Pulumi's JSON strings

    @model_validator(mode="after")
    def _check_schedule(self) -> Self:
        if self.retrain_schedule and self.nodes > 1:
            raise ValueError("retrainSchedule: scheduled retraining runs on one node")
        return self


class ServingSettings(Section):
    """The model server: replicas, resources, a canary, KServe, and the model it serves."""

    replicas: int = Field(
        default=2, ge=1, le=100, alias="servingReplicas", description="Stable serving pods"
    )
    max_replicas: int = Field(
        default=4, ge=1, le=200, alias="servingMaxReplicas", description="The HPA's ceiling"
    )
    cpu: str = Field(default="1", alias="servingCpu", description="CPU per serving pod")
    memory: str = Field(default="2Gi", alias="servingMemory", description="Memory per serving pod")
    gpus: int = Field(default=0, ge=0, le=8, alias="servingGpus", description="GPUs per pod")
    candidate_image: str = Field(default="", description="A canary image, by digest")
    canary_percent: int = Field(default=10, ge=1, le=50, description="The canary's share")
    kserve: bool = Field(default=False, description="Serve through a KServe InferenceService")
    model_uri: str = Field(default="", description="s3:// of the model.tar.gz to serve")

    @field_validator("candidate_image")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        return _check_digest(value)

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        if self.max_replicas < self.replicas:
            raise ValueError("servingMaxReplicas: must be at least servingReplicas")
        if self.model_uri and not self.model_uri.startswith("s3://"):
            raise ValueError(f"modelUri: '{self.model_uri}' is not an s3:// URI")
        return self


class MonitoringSettings(Section):
    """The latency alert and the drift check that closes the loop."""

    latency_p99_seconds: float = Field(default=0.5, gt=0, description="Latency alert threshold")
    drift_threshold: float = Field(
        default=DRIFT_THRESHOLD, gt=0, le=1, description="Retrain above this"
    )
    drift_schedule: str = Field(default="0 * * * *", description="When the drift check runs")


class LakeSettings(Section):
    """Where the lake lives: MinIO in the namespace (kind) or S3 through IRSA."""

    minio_image: str = Field(default="", description="Run the lake on MinIO (kind), by digest")
    irsa_role_arn: str = Field(default="", description="The lake on S3: the role jobs assume")
    s3_region: str = Field(default="us-east-1", description="The S3 lake's region")
    object_store_port: int = Field(default=443, ge=1, le=65535, description="Object store port")

    @field_validator("minio_image")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        return _check_digest(value)

    @model_validator(mode="after")
    def _check_one_lake(self) -> Self:
        if self.minio_image and self.irsa_role_arn:
            raise ValueError("minioImage: the lake is MinIO or S3 (irsaRoleArn), not both")
        return self

    @property
    def configured(self) -> bool:
        """Whether the stack has a lake (MinIO or S3)."""
        return bool(self.minio_image or self.irsa_role_arn)


# MLflow's official image, by a pinned version tag: its digest cannot be resolved on the offline
# machine this was built on. Pin it by digest where a registry is reachable (`docker buildx
# imagetools inspect ghcr.io/mlflow/mlflow:v3.17.2-full`) and set mlflowImage to
# repository@sha256:<digest>. The -full variant carries boto3 (artifacts in S3 or MinIO) and the
# database drivers, per MLflow's docker/README (not checked offline).
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.2-full"
_PINNED_TAG = re.compile(r"^[\w.\-/:]+:v?\d+\.\d+\.\d+[\w.\-]*\Z")


class MlflowSettings(Section):
    """The MLflow tracking server and model registry (off unless ``mlflow: true``).

    The backend store is SQLite on a volume (kind, dev: one replica) or a database whose URI
    is read from a Secret created outside the program (prod); artifacts go to the lake.
    """

    enabled: bool = Field(default=False, alias="mlflow", description="Deploy MLflow and use it")
    image: str = Field(
        default=MLFLOW_IMAGE, alias="mlflowImage", description="By digest, or a pinned version tag"
    )
    backend: Literal["sqlite", "database"] = Field(
        default="sqlite", alias="mlflowBackend", description="sqlite (a volume) or database"
    )
    backend_secret: str = Field(
        default="",
        alias="mlflowBackendSecret",
        description="The Secret whose key 'uri' is the database URI",
    )
    database_port: int = Field(
        default=5432, ge=1, le=65535, alias="mlflowDatabasePort", description="Egress to it"
    )
    storage: str = Field(default="5Gi", alias="mlflowStorage", description="SQLite's volume")
    registered_model: str = Field(
        default="", description="The registered model's name (default: the namespace)"
    )

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str) -> str:
        if not (DIGEST.match(value) or _PINNED_TAG.match(value)):
            raise ValueError(
                f"'{value}' is neither pinned by digest nor a version tag: use"
                " repository@sha256:<digest> (or repository:vX.Y.Z)"
            )
        return value

    @model_validator(mode="after")
    def _check_backend(self) -> Self:
        if self.backend == "database" and not self.backend_secret:
            raise ValueError(
                "mlflowBackendSecret: a database backend reads its URI from a Secret; name it"
                " (create it with `kubectl create secret generic NAME --from-literal=uri=...`)"
            )
        if self.backend == "sqlite" and self.backend_secret:
            raise ValueError("mlflowBackendSecret: only the database backend reads a Secret")
        return self

    @property
    def by_digest(self) -> bool:
        """Whether the image is pinned by digest (else by a version tag)."""
        return bool(DIGEST.match(self.image))
