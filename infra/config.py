"""One typed stack configuration, read from ``Pulumi.<stack>.yaml`` and validated once.

Every component takes its settings from here; no component reads ``pulumi.Config`` itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mlops.core.contracts import DEFAULT_PRIMARY_METRIC, TASK_METRICS
from mlops.core.errors import ConfigError
from mlops.core.text import suggest
from mlops.infra.aws.catalog import lookup_instance_type, partition_of

EnvironmentName = Literal["dev", "staging", "prod", "local"]
ENVIRONMENTS: tuple[EnvironmentName, ...] = ("dev", "staging", "prod", "local")
MANAGED_BY = "mlops-stack"
LOG_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)


# Per-environment defaults; an explicit key in Pulumi.<stack>.yaml always wins.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "spot": True,
        "endpoint_type": "serverless",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        "capture_sampling_percent": 100,
        "log_retention_days": 14,
        "invocation_drop_alarm": False,
    },
    "staging": {
        "spot": False,
        "endpoint_type": "realtime",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        "capture_sampling_percent": 50,
        "log_retention_days": 30,
        "invocation_drop_alarm": False,
    },
    "prod": {
        "spot": False,
        "endpoint_type": "realtime",
        "endpoint_instance_count": 2,
        "autoscaling_max": 4,
        "rollout": "canary",
        "capture_sampling_percent": 20,
        "log_retention_days": 365,
        "invocation_drop_alarm": True,
    },
    "local": {
        "spot": False,
        "endpoint_type": "serverless",
        "endpoint_instance_count": 1,
        "rollout": "all_at_once",
        "capture_sampling_percent": 100,
        "log_retention_days": 1,
        "invocation_drop_alarm": False,
    },
}
# Keys earlier versions took, with what to do instead (a plain "unknown key" would puzzle).
REMOVED_KEYS = {
    "sharedLogGroups": (
        "is no longer used: SageMaker creates the account-wide /aws/sagemaker/TrainingJobs and"
        " /aws/sagemaker/ProcessingJobs log groups itself, and no stack creates them any more"
        " (two stacks in one account collided); remove the key"
    ),
}
SECRET_PLACEHOLDER = "[secret]"
"""What a credential stored as a Pulumi secret reads as offline, where nothing is decrypted."""


def is_secure(value: Any) -> bool:
    """Whether a stack file's value is a Pulumi secret, as Pulumi writes it (``secure: v1:...``)."""
    return isinstance(value, Mapping) and len(value) == 1 and "secure" in value


def credential_keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys of a config model's fields marked ``credential`` (they may be Pulumi secrets)."""
    return frozenset(
        info.alias or to_camel(name)
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("credential")
    )


def redact_secrets(
    own: Mapping[str, Any], secret_keys: Collection[str], credentials: Collection[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A stack's own settings with its secrets resolved.

    A credential's secure value reads as present and redacted (:data:`SECRET_PLACEHOLDER`); no
    other setting may be a secret.

    Args:
        own: the project's settings, keys without the project prefix.
        secret_keys: keys the runtime marks secret (``pulumi up`` decrypts them first).
        credentials: the keys that hold credentials.

    Returns:
        The settings, and one ``(key, message)`` per setting that may not be secret.
    """
    values = dict(own)
    problems: list[tuple[str, str]] = []
    for key, value in own.items():
        secure = is_secure(value)
        if not (secure or key in secret_keys):
            continue
        if key not in credentials:
            known = ", ".join(sorted(credentials)) or "none in this flavour"
            problems.append(
                (
                    key,
                    "is a secret (secure:) value, but it is not a credential; set it in plain"
                    f" text (`pulumi config set {key} VALUE`). Secrets: {known}",
                )
            )
        elif secure and not (isinstance(value["secure"], str) and value["secure"]):
            problems.append((key, "has a malformed secure: value; set it again with --secret"))
        elif secure:
            values[key] = SECRET_PLACEHOLDER
    return values, problems


def plaintext_credentials(own: Mapping[str, Any], credentials: Collection[str]) -> list[str]:
    """The credentials a stack file holds in plain text: set, but not as a ``secure:`` value.

    Stack files are committed, so such a value is in the repository (a warning, not an error:
    under ``pulumi up`` the runtime hands over decrypted secrets in plain text, too).

    Args:
        own: the stack file's settings, keys without the project prefix.
        credentials: the keys that hold credentials.
    """
    return [
        key
        for key, value in own.items()
        if key in credentials and not is_secure(value) and value not in (None, "")
    ]


_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]{1,63}/\d+$"
)
# An image manifest's digest, as `docker/build-push-action` and ECR report it.
_IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class StackConfig(BaseModel):
    """Settings of one stack (one environment) of an ML platform.

    Keys are camelCase in ``Pulumi.<stack>.yaml`` (``trainingInstanceType``) and live in the
    project's namespace; the region is the AWS provider's ``aws:region``. Defaults differ by
    environment (:data:`ENV_DEFAULTS`): dev trains on spot and serves serverless; staging serves
    one realtime instance; prod serves at least two with autoscaling and a canary rollout, and
    protects its data.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    project: str = Field(description="Pulumi project name; prefixes every physical name")
    environment: EnvironmentName = Field(description="dev, staging, prod or local")
    region: str = Field(description="AWS region")
    owner: str = Field(default="ml-team", description="Owner tag")
    cost_center: str = Field(default="ml", description="Cost-center tag")
    # Training
    training_instance_type: str = Field(default="ml.m5.xlarge", description="Training type")
    training_instance_count: int = Field(default=1, ge=1, le=64, description="Training nodes")
    spot: bool = Field(default=False, description="Managed spot training with checkpoints")
    max_runtime_hours: int = Field(default=24, ge=1, le=672, description="Training time limit")
    training_volume_gb: int = Field(default=50, ge=1, le=16384, description="Training volume")
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
    # Serving
    model_package_arn: str = Field(default="", description="Approved model package to serve")
    challenger_model_package_arn: str = Field(default="", description="A/B challenger package")
    challenger_weight: float = Field(default=0.1, gt=0, lt=1, description="Challenger traffic")
    shadow_model_package_arn: str = Field(default="", description="Shadow variant package")
    endpoint_type: Literal["serverless", "realtime"] = Field(
        default="serverless", description="Endpoint kind"
    )
    endpoint_instance_type: str = Field(default="ml.m5.large", description="Realtime type")
    endpoint_instance_count: int = Field(default=1, ge=1, le=100, description="Realtime nodes")
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
    # Monitoring
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
    drift_threshold: float = Field(default=0.2, gt=0, le=1, description="Drift score alarm")
    monitor_schedule: str = Field(default="cron(0 * ? * * *)", description="Data-quality runs")
    data_quality_monitor: bool = Field(
        default=True,
        description="SageMaker Model Monitor data-quality job (AWS closed it to new accounts)",
    )
    model_monitor_image: str = Field(default="", description="Override the analyzer image URI")
    notification_email: str = Field(default="", description="Subscribe this address to alerts")
    deploy_webhook_url: str = Field(default="", description="POSTed to when a model is approved")
    deploy_webhook_token: str = Field(
        default="",
        description="Bearer token for the webhook (a credential: may be a Pulumi secret)",
        json_schema_extra={"credential": True},
    )
    image_tag: str = Field(default="0.1.0", description="Image tag the pipeline runs by default")
    image_digest: str = Field(
        default="",
        description="The image CI pushed, by digest (sha256:...); runs instead of imageTag",
    )
    log_retention_days: int = Field(default=30, description="CloudWatch Logs retention")
    # The cost estimate's assumptions (`mlops preview`), and the monthly budget it is held to.
    budget: float = Field(
        default=0, ge=0, description="USD a month: preview fails above it, AWS Budgets alerts at it"
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
    lake_storage_gb: dict[str, float] = Field(
        default_factory=lambda: {"raw": 50.0, "curated": 20.0, "features": 10.0, "artifacts": 5.0},
        description="GB stored per lake zone (cost estimate)",
    )

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        partition_of(value)
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

    @field_validator("training_instance_type")
    @classmethod
    def _check_instance_type(cls, value: str) -> str:
        lookup_instance_type(value)
        return value

    @field_validator("processing_instance_type", "endpoint_instance_type")
    @classmethod
    def _check_other_types(cls, value: str) -> str:
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

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _parse_hyperparameters(cls, value: Any) -> Any:
        # Pulumi hands structured config over as a JSON string.
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("image_digest")
    @classmethod
    def _check_image_digest(cls, value: str) -> str:
        if value and not _IMAGE_DIGEST.match(value):
            raise ValueError(
                f"'{value}' is not an image digest: sha256: and 64 lowercase hex digits"
            )
        return value

    @field_validator("deploy_webhook_url")
    @classmethod
    def _check_webhook(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError(f"'{value}' must be an https:// URL (it receives a bearer token)")
        return value

    @field_validator("lake_storage_gb", mode="before")
    @classmethod
    def _parse_storage(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("lake_storage_gb")
    @classmethod
    def _check_zones(cls, value: dict[str, float]) -> dict[str, float]:
        from mlops.core.layout import ZONES

        unknown = sorted(set(value) - set(ZONES))
        if unknown:
            raise ValueError(f"unknown zone '{unknown[0]}'; the lake's zones: {', '.join(ZONES)}")
        if any(gb < 0 for gb in value.values()):
            raise ValueError("storage cannot be negative")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _check_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {sorted(LOG_RETENTION_DAYS)}")
        return value

    @model_validator(mode="after")
    def _check_environment_rules(self) -> Self:
        if self.environment == "prod" and self.endpoint_type == "realtime":
            if self.endpoint_instance_count < 2:
                raise ValueError(
                    "endpointInstanceCount: prod needs at least 2 instances for availability"
                )
        if self.autoscaling_max and self.autoscaling_max < self.endpoint_instance_count:
            raise ValueError("autoscalingMax must be 0 or at least endpointInstanceCount")
        if (self.challenger_model_package_arn or self.shadow_model_package_arn) and (
            not self.model_package_arn
        ):
            raise ValueError("modelPackageArn: is required before a challenger or shadow variant")
        if self.endpoint_type == "serverless" and self.rollout != "all_at_once":
            raise ValueError("rollout: serverless endpoints only support all_at_once")
        if self.endpoint_type == "serverless" and (
            self.challenger_model_package_arn or self.shadow_model_package_arn
        ):
            raise ValueError(
                "endpointType: serverless endpoints serve a single variant; A/B and shadow"
                " variants need realtime"
            )
        return self

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
    def gpu_training(self) -> bool:
        """Whether the training type carries a GPU."""
        return lookup_instance_type(self.training_instance_type).has_gpu

    @property
    def scaling_max(self) -> int:
        """Autoscaling ceiling (defaults to the instance count: no scaling)."""
        return self.autoscaling_max or self.endpoint_instance_count

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
    def from_values(
        cls,
        project: str,
        stack: str,
        values: Mapping[str, Any],
        secret_keys: Collection[str] = (),
    ) -> StackConfig:
        """Build from raw config (``{"<project>:key": value, "aws:region": ...}``).

        The environment is the ``environment`` key when set, else the stack name. A credential
        (:data:`CREDENTIALS`) may be a Pulumi secret: as the stack file holds it
        (``{"secure": "v1:..."}``, read offline as :data:`SECRET_PLACEHOLDER`) or decrypted,
        with its full key in ``secret_keys``; no other setting may be.

        Raises:
            ConfigError: a key is unknown, missing or invalid; one line per problem.
        """
        prefix = f"{project}:"
        own = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
        retired = [(key, REMOVED_KEYS[key]) for key in own if key in REMOVED_KEYS]
        if retired:
            return _fail(stack, retired)
        secrets = {k.removeprefix(prefix) for k in secret_keys if k.startswith(prefix)}
        own, refused = redact_secrets(own, secrets, CREDENTIALS)
        if refused:
            return _fail(stack, refused)
        raw: dict[str, Any] = {"project": project, "region": values.get("aws:region"), **own}
        raw.setdefault("environment", stack)
        defaults = ENV_DEFAULTS.get(str(raw["environment"]), {})
        raw = {**{to_camel(k): v for k, v in defaults.items()}, **raw}
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
        from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

        values = {**get_config_env(), **CONFIG.get()}
        secret = [key for key in values if is_config_secret(key)]
        return cls.from_values(pulumi.get_project(), pulumi.get_stack(), values, secret)


CREDENTIALS = credential_keys(StackConfig)
_KEYS = [
    info.alias or to_camel(name)
    for name, info in StackConfig.model_fields.items()
    if name != "project"
]


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
            if not key and ": " in message:  # a cross-field rule names its key first
                key, _, message = message.partition(": ")
        problems.append((key or "config", message))
    return problems


def _fail(stack: str, problems: list[tuple[str, str]]) -> StackConfig:
    raise ConfigError(stack, problems)
