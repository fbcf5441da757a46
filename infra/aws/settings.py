"""The AWS flavour's settings, one section per concern: each owns its defaults and validation.

A component takes its own section as a plain argument (as pulumi-awsx's components take plain
args) and never imports the config module; :mod:`mlops.infra.config` reads the stack file and
composes the sections into one :class:`~mlops.infra.config.StackConfig`.

Each field's alias is its key in ``Pulumi.<stack>.yaml`` (flat and camelCase, as generated
projects have always written it: ``trainingInstanceType``), so the stack file format is
unchanged; the field's own name says what it is within its section (``training.instance_type``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlops.core.contracts import (
    DEFAULT_IMAGE_TAG,
    DEFAULT_PRIMARY_METRIC,
    DRIFT_THRESHOLD,
    DRIFT_WINDOW_HOURS,
    TASK_METRICS,
)
from mlops.core.layout import ZONES
from mlops.core.text import suggest
from mlops.infra.aws.catalog import lookup_instance_type

# What CloudWatch Logs accepts as a retention, in days.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922}
    | {3288, 3653}
)
_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]{1,63}/\d+\Z"
)
# An image manifest's digest, as `docker/build-push-action` and ECR report it.
_IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def _json(value: Any) -> Any:
    """Pulumi hands structured config over as a JSON string."""
    return json.loads(value) if isinstance(value, str) else value


class Section(BaseModel):
    """Base of every settings section: frozen, strict about keys, camelCase stack-file keys."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class TrainingSettings(Section):
    """How the pipeline trains, validates, evaluates and gates (``PipelineSpec`` comes from it)."""

    instance_type: str = Field(
        default="ml.m5.xlarge", alias="trainingInstanceType", description="Training type"
    )
    instance_count: int = Field(
        default=1, ge=1, le=64, alias="trainingInstanceCount", description="Training nodes"
    )
    spot: bool = Field(default=False, description="Managed spot training with checkpoints")
    max_runtime_hours: int = Field(default=24, ge=1, le=672, description="Training time limit")
    volume_gb: int = Field(
        default=50, ge=1, le=16384, alias="trainingVolumeGb", description="Training volume"
    )
    processing_instance_type: str = Field(
        default="ml.m5.xlarge", description="Data validation and evaluation type"
    )
    primary_metric: str = Field(
        default=DEFAULT_PRIMARY_METRIC["classification"],
        description="Metric the evaluation gate compares (rmse or mae for regression)",
    )
    evaluation_margin: float = Field(
        default=0.01, ge=0, le=1, description="How much the candidate must beat the approved model"
    )
    schedule: str = Field(default="", description="Retraining schedule, e.g. rate(7 days)")
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Passed to the project's trainer, locally and on SageMaker",
    )
    image_tag: str = Field(
        default=DEFAULT_IMAGE_TAG, description="Image tag the pipeline runs by default"
    )
    image_digest: str = Field(
        default="",
        description="The image CI pushed, by digest (sha256:...); runs instead of imageTag",
    )

    @field_validator("instance_type", "processing_instance_type")
    @classmethod
    def _check_instance_type(cls, value: str) -> str:
        lookup_instance_type(value)
        return value

    @field_validator("primary_metric")
    @classmethod
    def _check_metric(cls, value: str) -> str:
        known = [m for metrics in TASK_METRICS.values() for m in metrics]
        if value not in known:
            raise ValueError(
                f"unknown metric '{value}'{suggest(value, known)}; choose from {', '.join(known)}"
            )
        return value

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _parse_hyperparameters(cls, value: Any) -> Any:
        return _json(value)

    @field_validator("image_digest")
    @classmethod
    def _check_image_digest(cls, value: str) -> str:
        if value and not _IMAGE_DIGEST.match(value):
            raise ValueError(
                f"'{value}' is not an image digest: sha256: and 64 lowercase hex digits"
            )
        return value

    @property
    def gpu(self) -> bool:
        """Whether the training type carries a GPU."""
        return lookup_instance_type(self.instance_type).has_gpu

    @property
    def max_runtime_seconds(self) -> int:
        """The training time limit, as SageMaker takes it."""
        return self.max_runtime_hours * 3600

    @property
    def distributed(self) -> bool:
        """Whether training runs on more than one node (distributed data parallel)."""
        return self.instance_count > 1


class ServingSettings(Section):
    """Which packages the endpoint serves, on what, and how a new model rolls out."""

    model_package_arn: str = Field(default="", description="Approved model package to serve")
    challenger_model_package_arn: str = Field(default="", description="A/B challenger package")
    challenger_weight: float = Field(default=0.1, gt=0, lt=1, description="Challenger traffic")
    shadow_model_package_arn: str = Field(default="", description="Shadow variant package")
    endpoint_type: Literal["serverless", "realtime"] = Field(
        default="serverless", description="Endpoint kind"
    )
    instance_type: str = Field(
        default="ml.m5.large", alias="endpointInstanceType", description="Realtime type"
    )
    instance_count: int = Field(
        default=1, ge=1, le=100, alias="endpointInstanceCount", description="Realtime nodes"
    )
    autoscaling_max: int = Field(default=0, ge=0, le=100, description="0: same as the count")
    invocations_per_instance: int = Field(
        default=100, ge=1, description="Autoscaling target: invocations per instance per minute"
    )
    serverless_memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = Field(default=2048)
    serverless_max_concurrency: int = Field(default=5, ge=1, le=200)
    rollout: Literal["all_at_once", "canary", "linear"] = Field(default="all_at_once")
    rollout_step_percent: int = Field(default=10, ge=1, le=50, description="Canary/linear step")
    baking_minutes: int = Field(default=10, ge=0, le=60, description="Wait before shifting more")
    termination_wait_minutes: int = Field(default=5, ge=0, le=60)
    capture_sampling_percent: int = Field(default=20, ge=0, le=100)

    @field_validator("instance_type")
    @classmethod
    def _check_instance_type(cls, value: str) -> str:
        lookup_instance_type(value)
        return value

    @field_validator(
        "model_package_arn", "challenger_model_package_arn", "shadow_model_package_arn"
    )
    @classmethod
    def _check_package_arn(cls, value: str) -> str:
        if value and not _MODEL_PACKAGE_ARN.match(value):
            raise ValueError(
                f"'{value}' is not a model package ARN"
                " (arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION)"
            )
        return value

    @model_validator(mode="after")
    def _check_variants(self) -> Self:
        # Each message names its key first; the config module reports it under that key.
        if self.autoscaling_max and self.autoscaling_max < self.instance_count:
            raise ValueError("autoscalingMax: must be 0 or at least endpointInstanceCount")
        if (self.challenger_model_package_arn or self.shadow_model_package_arn) and (
            not self.model_package_arn
        ):
            raise ValueError("modelPackageArn: is required before a challenger or shadow variant")
        if not self.realtime and self.rollout != "all_at_once":
            raise ValueError("rollout: serverless endpoints only support all_at_once")
        if not self.realtime and (
            self.challenger_model_package_arn or self.shadow_model_package_arn
        ):
            raise ValueError(
                "endpointType: serverless endpoints serve a single variant; A/B and shadow"
                " variants need realtime"
            )
        return self

    @property
    def realtime(self) -> bool:
        """Whether the endpoint runs on instances (not serverless)."""
        return self.endpoint_type == "realtime"

    @property
    def scaling_max(self) -> int:
        """Autoscaling ceiling (defaults to the instance count: no scaling)."""
        return self.autoscaling_max or self.instance_count


# The rollback alarms' evaluation (CloudWatch): 1-minute periods, both of the last 2 breaching.
# The endpoint's alarms use them; local mode's blue/green bake mirrors them, scaled to its bake.
ROLLBACK_PERIOD_S = 60
ROLLBACK_EVALUATION_PERIODS = 2
ROLLBACK_DATAPOINTS = 2
# The endpoint's target-tracking cooldowns (seconds): scale out after 60 s, in after 300 s.
SCALE_OUT_COOLDOWN_S = 60
SCALE_IN_COOLDOWN_S = 300


class AlarmSettings(Section):
    """When the endpoint's alarms fire (and roll a deployment back)."""

    latency_p99_ms: int = Field(default=500, ge=1, description="p99 ModelLatency alarm")
    # Explicit keys: the camelCase generator would spell these errors5XxThreshold.
    errors_5xx_threshold: int = Field(
        default=1, ge=1, alias="errors5xxThreshold", description="5XX errors per 5 minutes"
    )
    errors_4xx_threshold: int = Field(
        default=50, ge=1, alias="errors4xxThreshold", description="4XX errors per 5 minutes"
    )
    invocation_drop_alarm: bool = Field(default=False, description="Alarm on missing traffic")
    min_invocations: int = Field(default=1, ge=1, description="Invocations per 15 minutes")


# EventBridge Scheduler's recurring expressions: rate(N unit) and six-field cron(...).
_RATE = re.compile(r"^rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)\Z")
_CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)\Z")


class MonitoringSettings(Section):
    """Drift (our engine, on a schedule), data quality and logs."""

    drift_threshold: float = Field(
        default=DRIFT_THRESHOLD, gt=0, le=1, description="Drift score alarm"
    )
    drift_job: bool = Field(
        default=True,
        description="Run the drift check (`container monitor`) on the captured traffic on a"
        " schedule; its score feeds the drift alarm, which starts retraining",
    )
    drift_schedule: str = Field(
        default="rate(1 hour)", description="When the drift check runs (EventBridge Scheduler)"
    )
    drift_window_hours: int = Field(
        default=DRIFT_WINDOW_HOURS,
        ge=1,
        le=24 * 31,
        description="Each drift check reads the traffic captured in this many hours before it",
    )
    drift_instance_type: str = Field(default="ml.m5.xlarge", description="Drift check type")
    drift_engine: Literal["auto", "numpy", "spark"] = Field(
        default="auto",
        description="auto: Spark above sparkAboveCaptureGb of capture per window, else NumPy",
    )
    expected_capture_gb: float = Field(
        default=0, ge=0, description="Captured traffic one drift window holds (GB, estimate)"
    )
    spark_above_capture_gb: float = Field(
        default=20, gt=0, description="Above this many GB a window, the drift check runs Spark"
    )
    spark_instance_count: int = Field(
        default=2, ge=1, le=100, description="Instances of a Spark drift check"
    )
    spark_image_digest: str = Field(
        default="",
        description="The Spark drift image CI pushed, by digest (sha256:...); else imageTag-spark",
    )
    monitor_schedule: str = Field(default="cron(0 * ? * * *)", description="Data-quality runs")
    # Off by default: the drift job above closes the loop with the engine every platform runs
    # (locally, Kubernetes, AWS: one verdict), and AWS closed Model Monitor to new accounts, so
    # a default-on analyzer with other statistics would fail on those and disagree elsewhere.
    data_quality_monitor: bool = Field(
        default=False,
        description="Also run SageMaker Model Monitor's data-quality job (other statistics)",
    )
    model_monitor_image: str = Field(default="", description="Override the analyzer image URI")
    log_retention_days: int = Field(default=30, description="CloudWatch Logs retention")

    @field_validator("log_retention_days")
    @classmethod
    def _check_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {sorted(LOG_RETENTION_DAYS)}")
        return value

    @field_validator("drift_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        if not (_RATE.match(value) or _CRON.match(value)):
            raise ValueError(
                f"'{value}' is not an EventBridge Scheduler expression: rate(1 hour),"
                " rate(30 minutes) or cron(0 * * * ? *) (six fields)"
            )
        return value

    @field_validator("drift_instance_type")
    @classmethod
    def _check_instance_type(cls, value: str) -> str:
        lookup_instance_type(value)
        return value

    @field_validator("spark_image_digest")
    @classmethod
    def _check_spark_image_digest(cls, value: str) -> str:
        if value and not _IMAGE_DIGEST.match(value):
            raise ValueError(
                f"'{value}' is not an image digest: sha256: and 64 lowercase hex digits"
            )
        return value

    @model_validator(mode="after")
    def _check_spark(self) -> Self:
        if self.drift_engine_of_window == "spark" and self.spark_instance_count < 2:
            raise ValueError(
                "sparkInstanceCount: a Spark drift check spreads the window over at least 2"
                " instances (one machine: driftEngine numpy)"
            )
        return self

    @property
    def drift_engine_of_window(self) -> Literal["numpy", "spark"]:
        """The engine the drift check runs: the configured one, or by the window's volume."""
        if self.drift_engine != "auto":
            return self.drift_engine
        return "spark" if self.expected_capture_gb > self.spark_above_capture_gb else "numpy"


class NotificationSettings(Section):
    """Who hears of alarms and approvals."""

    notification_email: str = Field(default="", description="Subscribe this address to alerts")
    deploy_webhook_url: str = Field(default="", description="POSTed to when a model is approved")
    deploy_webhook_token: str = Field(
        default="",
        description="Bearer token for the webhook (a credential: may be a Pulumi secret)",
        json_schema_extra={"credential": True},
    )

    @field_validator("deploy_webhook_url")
    @classmethod
    def _check_webhook(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError(f"'{value}' must be an https:// URL (it receives a bearer token)")
        return value


class LakeSettings(Section):
    """What the lake is expected to hold (the cost estimate's storage assumption)."""

    storage_gb: dict[str, float] = Field(
        default_factory=lambda: {"raw": 50.0, "curated": 20.0, "features": 10.0, "artifacts": 5.0},
        alias="lakeStorageGb",
        description="GB stored per lake zone (cost estimate)",
    )

    @field_validator("storage_gb", mode="before")
    @classmethod
    def _parse_storage(cls, value: Any) -> Any:
        return _json(value)

    @field_validator("storage_gb")
    @classmethod
    def _check_zones(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(ZONES))
        if unknown:
            raise ValueError(f"unknown zone '{unknown[0]}'; the lake's zones: {', '.join(ZONES)}")
        if any(gb < 0 for gb in value.values()):
            raise ValueError("storage cannot be negative")
        return value


class BudgetSettings(Section):
    """The monthly budget, and the cost estimate's usage assumptions (``mlops preview``)."""

    monthly_usd: float = Field(
        default=0,
        ge=0,
        alias="budget",
        description="USD a month: preview fails above it, AWS Budgets alerts at it",
    )
    expected_requests_per_day: int = Field(
        default=10_000, ge=0, description="Serverless requests a day (cost estimate)"
    )
    expected_request_ms: int = Field(
        default=100, ge=1, le=900_000, description="Serverless request duration (cost estimate)"
    )
    training_hours_per_month: float = Field(
        default=10, ge=0, le=744, description="Training instance-hours a month (cost estimate)"
    )
    drift_check_minutes: float = Field(
        default=10,
        ge=0,
        le=1440,
        description="Minutes one scheduled drift check runs, start-up included (cost estimate)",
    )


class TrackingSettings(Section):
    """A SageMaker managed MLflow tracking server for the stack's experiments (off by default)."""

    mlflow_tracking_server: bool = Field(
        default=False, description="Declare an aws.sagemaker.MlflowTrackingServer"
    )
    mlflow_tracking_server_size: Literal["Small", "Medium", "Large"] = Field(
        default="Small", description="The managed server's size"
    )
    mlflow_version: str = Field(
        default="3.0", pattern=r"^\d+\.\d+(\.\d+)?$", description="MLflow version SageMaker runs"
    )
