"""Names every part agrees on, and what a provisioned platform exposes.

Metrics and their direction, variant names, the drift metric, hyperparameter encoding and
:class:`PlatformOutputs`.

The lifecycle computes and gates on these metrics, the platform's pipeline definition passes
them to the container, the endpoint names its variants with them and the alarms watch the drift
metric, so each is written here once. Nothing here imports pulumi, boto3 or pydantic.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from mlops.core.errors import UserError

Task = Literal["classification", "regression"]

# Each task's metrics, in report order. Every metric is a plain float except the confusion matrix.
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}
# Errors shrink as models improve; every other metric grows.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
# The metric a task's gate compares when the stack names none.
DEFAULT_PRIMARY_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}

# Endpoint variants: the approved model, an A/B challenger, a shadow copy.
PRIMARY_VARIANT, CHALLENGER_VARIANT, SHADOW_VARIANT = "primary", "challenger", "shadow"

# The drift score the lifecycle publishes and the platform's alarm watches.
DRIFT_NAMESPACE = "mlops-stack/Drift"
DRIFT_METRIC = "DriftScore"
# The one default drift threshold: both platforms' config, the monitor job's fallback and
# PlatformOutputs. Retraining starts when the drift score is above it.
DRIFT_THRESHOLD = 0.2
# The one default drift window: a scheduled check (AWS) and `mlops monitor run` read the traffic
# captured in this many hours before they run.
DRIFT_WINDOW_HOURS = 24
# Where the latest drift verdict lives in the lake (zone, key), and who reads it.
DRIFT_REPORT = ("monitoring", "drift/latest.json")

# SageMaker's serving contract, kept on Kubernetes and locally: HTTP on this port.
SERVING_PORT = 8080
# The image tag a stack runs when none is given (CI passes the digest of what it built).
DEFAULT_IMAGE_TAG = "0.1.0"
# The training pipeline's ``ApprovedModelMetric`` when no figure is given (schedule, drift, a
# manual run with nothing approved): the evaluate step then looks the champion up in the
# registry itself. Never "": SageMaker refuses empty container arguments and parameter values.
APPROVED_FROM_REGISTRY = "none"


class Env:
    """The environment names the container entry points read, written once.

    The platform sets them on jobs, pods and endpoints; the lifecycle reads them.
    """

    TRAIN_MODULE = "MLOPS_TRAIN_MODULE"
    DATA_CONTRACT = "MLOPS_DATA_CONTRACT"
    DATASET_URI = "MLOPS_DATASET_URI"
    MODEL_URI = "MLOPS_MODEL_URI"
    MODEL_OUTPUT_URI = "MLOPS_MODEL_OUTPUT_URI"
    ENDPOINT_NAME = "MLOPS_ENDPOINT_NAME"
    SERVE_HOST = "MLOPS_SERVE_HOST"
    CAPTURE_PERCENT = "MLOPS_CAPTURE_PERCENT"
    DRIFT_THRESHOLD = "MLOPS_DRIFT_THRESHOLD"
    # Where the Spark drift check reads capture objects (default: the lake's capture place).
    CAPTURE_URI = "MLOPS_CAPTURE_URI"
    BUCKET_ARTIFACTS = "MLOPS_BUCKET_ARTIFACTS"
    RETRAIN_WORKFLOW = "MLOPS_RETRAIN_WORKFLOW_TEMPLATE"
    STAGE_IN = "MLOPS_STAGE_IN"
    STAGE_OUT = "MLOPS_STAGE_OUT"
    REGISTRY = "MLOPS_REGISTRY"
    KUBE_API = "MLOPS_KUBE_API"
    KUBE_NAMESPACE = "MLOPS_KUBE_NAMESPACE"
    KUBE_TOKEN_FILE = "MLOPS_KUBE_TOKEN_FILE"
    # The lifecycle's registry and tracking on Kubernetes (MLflow's own variable for its URL).
    TRACKING_URI = "MLFLOW_TRACKING_URI"
    REGISTERED_MODEL = "MLOPS_REGISTERED_MODEL"
    CODE_VERSION = "MLOPS_CODE_VERSION"
    RUN_ID = "MLOPS_RUN_ID"  # joins a workflow's steps into one tracked run
    MLFLOW_EXECUTABLE = "MLOPS_MLFLOW"  # the `mlflow` that `mlops local up --mlflow` runs


DRIFT_DIMENSION = "Endpoint"


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` means a better model."""
    return metric not in LOWER_IS_BETTER


def task_of(metric: str) -> str:
    """The task that computes ``metric``.

    Raises:
        UserError: no task computes it; the message lists every known metric.
    """
    for task, metrics in TASK_METRICS.items():
        if metric in metrics:
            return task
    known = ", ".join(m for ms in TASK_METRICS.values() for m in ms)
    raise UserError(f"unknown metric '{metric}'; known metrics: {known}")


@dataclass(frozen=True, kw_only=True)
class PlatformCore:
    """What every platform exposes to the lifecycle and the CLI, whatever runs it.

    ``MLPlatform`` (AWS) and ``K8sPlatform`` both export it as their ``platform`` stack
    output, each with its own extras beside it (:class:`PlatformOutputs`,
    :class:`K8sPlatformOutputs`); every consumer reads attributes, never string keys.

    Attributes:
        kind: the platform: ``aws`` or ``k8s``.
        project: the Pulumi project name.
        environment: dev, staging, prod or local.
        buckets: lake zone (raw, curated, features, artifacts, logs) -> bucket name.
        image_uri: the training and serving image the platform runs by default.
        endpoint_name: the serving endpoint, empty until a model is deployed.
        planned_endpoint_name: the name the endpoint gets once one is deployed.
        primary_metric: the metric the evaluation gate compares.
        evaluation_margin: how much a candidate must beat the approved model by.
        drift_threshold: drift score above which retraining starts.
        hyperparameters: what the trainer gets, on every executor.
        extra: every other exported value (role and repository ARNs, alarm names...).
    """

    kind: str
    project: str
    environment: str
    buckets: Mapping[str, str]
    image_uri: str
    endpoint_name: str = ""
    planned_endpoint_name: str = ""
    primary_metric: str = DEFAULT_PRIMARY_METRIC["classification"]
    evaluation_margin: float = 0.0
    drift_threshold: float = DRIFT_THRESHOLD
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The project's Python package name."""
        return self.project.replace("-", "_")

    @property
    def serving_endpoint(self) -> str:
        """The endpoint's name, deployed or planned: where its traffic is captured."""
        return self.endpoint_name or self.planned_endpoint_name

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """Read a ``platform`` stack output (or local mode's record of it).

        Raises:
            UserError: a required key is missing, e.g. an output from an older mlops-stack.
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in values]
        if missing:
            raise UserError(
                f"the platform output lacks {', '.join(missing)}: run `pulumi up` (or"
                " `mlops local up`) with this version of mlops-stack to refresh it"
            )
        known = {k: v for k, v in values.items() if k in names}
        return cls(**known, extra={k: v for k, v in values.items() if k not in names})

    def to_mapping(self) -> dict[str, Any]:
        """The flat ``platform`` output: every attribute, ``extra`` merged in."""
        flat = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        return {
            **dict(self.extra),
            **flat,
            "buckets": dict(self.buckets),
            "hyperparameters": dict(self.hyperparameters),
        }


@dataclass(frozen=True, kw_only=True)
class PlatformOutputs(PlatformCore):
    """``MLPlatform``'s output: the neutral core and the AWS extras beside it.

    Attributes:
        kind: ``aws`` (outputs of versions before the core named their platform are AWS).
        region: the AWS region.
        pipeline_name: the SageMaker training pipeline.
        model_package_group: where candidates are registered.
        key_arn: the lake's customer-managed KMS key.
        alerts_topic_arn: where alarms notify.
        drift_window_hours: the hours of capture each drift check reads (the scheduled job's
            and ``mlops monitor run``'s).
    """

    kind: str = "aws"
    region: str
    pipeline_name: str
    model_package_group: str
    key_arn: str = ""
    alerts_topic_arn: str = ""
    drift_window_hours: int = DRIFT_WINDOW_HOURS


@dataclass(frozen=True, kw_only=True)
class K8sPlatformOutputs(PlatformCore):
    """``K8sPlatform``'s output: the neutral core and the Kubernetes extras beside it.

    Attributes:
        kind: ``k8s``.
        namespace: the environment's namespace.
        service_url: the model server's in-cluster URL.
        workflow_template: the Argo WorkflowTemplate of the lifecycle (validate -> register),
            which ``pipeline run`` and a drift verdict submit Workflows from.
    """

    kind: str = "k8s"
    namespace: str
    service_url: str = ""
    workflow_template: str = ""


def encode_hyperparameters(params: Mapping[str, Any]) -> dict[str, str]:
    """Hyperparameters as SageMaker passes them: every value a string (JSON for non-strings)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


def decode_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`encode_hyperparameters`: JSON values back to numbers and booleans.

    Local runs pass their typed values through the same round trip, so both executors hand the
    trainer (and the run id) identical parameters.
    """
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            decoded[key] = value  # a plain string such as "adam"
    return decoded


# The environment name of a lake zone's bucket is this prefix and
# the zone in capitals (MLOPS_BUCKET_RAW, ...): the platform sets one per zone, the lake reads them.
BUCKET_ENV_PREFIX = "MLOPS_BUCKET_"


def bucket_env(zone: str) -> str:
    """The environment name that carries ``zone``'s bucket."""
    return f"{BUCKET_ENV_PREFIX}{zone.upper()}"
