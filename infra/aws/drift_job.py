"""``mlops:aws:DriftJob``: our drift check on the endpoint's captured traffic, on a schedule.

The job is the project's own image running ``container monitor --platform aws`` (the entry
point Kubernetes' drift CronJob runs): it reads the window of captured traffic and the served
model's reference, writes the report (JSON and HTML) under the lake's ``monitoring/`` place, and
publishes ``DriftScore`` where the drift alarm (:mod:`mlops.infra.aws.monitoring`) watches it;
the alarm's EventBridge rule then starts the training pipeline. Nothing here starts retraining.

How it is started, and why so. EventBridge Scheduler cannot start a Processing job by itself
without Lambda: the only route is a universal target (``aws-sdk:sagemaker:createProcessingJob``)
with a fixed request, and CreateProcessingJob needs a new job name for every run. It does have a
templated target for SageMaker's StartPipelineExecution, and a pipeline names its jobs itself
(``pipelines-<execution>-<step>-...``). So the job is the one Processing step of a small
pipeline, and the schedule starts that pipeline: no Lambda, a fresh job per run, executions
listed and retried by SageMaker, and the step's arguments checked against botocore's
CreateProcessingJob shape by the same validator as the training pipeline's.

Above a configured capture volume (``driftEngine``, ``expectedCaptureGb``) the step runs Spark:
the project's Spark image (SageMaker's Spark processing image with mlops-stack on it, pushed to
the same repository as ``<tag>-spark``), whose entry point ``smspark-submit`` forms a YARN
cluster of the step's ``sparkInstanceCount`` instances and submits the image's entry file, which
runs the same ``container monitor`` with ``--engine spark``: the window is read from S3 by Spark
(``s3://`` through the image's S3A, with the job's role), summarized across the cluster, and
judged, reported and published by the same code. Its role is the same: Spark reads the capture
objects it is given (GetObject, and a listing under the endpoint's capture prefix) and writes
nothing to S3; YARN and HDFS stay inside the job's instances.

Three roles, one task each: the job's own (read the endpoint's capture and the served model,
write ``monitoring/*``, put the one metric), the pipeline's (create that one job and pass the
job's role to it) and the schedule's (start this pipeline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from mlops.core.contracts import DRIFT_NAMESPACE, bucket_env
from mlops.core.layout import LAYOUT
from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import (
    SPARK_DRIFT_ENTRY,
    service_principal,
    volume_kms_allowed,
)
from mlops.infra.aws.iam import (
    pull_image_statements,
)
from mlops.infra.aws.pipeline_definition import (
    SCHEMA_VERSION,
    Json,
    PipelineDefinitionError,
    as_text,
    get,
    validate_definition,
)
from mlops.infra.aws.resource_names import PROCESSING_LOG_GROUP, PlatformNames
from mlops.infra.aws.roles import pipeline_starter_role, sagemaker_role
from mlops.infra.aws.settings import MonitoringSettings

STEP = "CheckDrift"
# The parameters the schedule passes; the builder holds every value of them non-empty.
SCHEDULE_PARAMETERS = {"TriggeredBy": "schedule"}
TRIGGERS = {"manual": {}, "schedule": SCHEDULE_PARAMETERS}


@dataclass(frozen=True)
class DriftJobArgs:
    """Inputs of :class:`DriftJob`: the monitoring section and the resolved outputs.

    Attributes:
        names: the platform's physical names.
        tags: tags for every taggable resource.
        account_id: the AWS account.
        region: the AWS region.
        partition: the AWS partition.
        bucket_names: lake zone -> bucket name.
        key_arn: the lake's KMS key (captured data, reports, the job's volume).
        repository_arn: the project image's repository (the job pulls from it).
        image_uri: the project's image (the training pipeline's by default).
        spark_image_uri: the project's Spark drift image (run when the engine is Spark).
        endpoint_name: the endpoint whose capture is checked (from the endpoint: created first).
        model_package_arn: the served package; its artifact carries the reference sample.
        monitoring: schedule, window, threshold, engine and instance type.
    """

    names: PlatformNames
    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str
    bucket_names: pulumi.Input[Mapping[str, str]]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    image_uri: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    model_package_arn: str
    monitoring: MonitoringSettings
    spark_image_uri: pulumi.Input[str] = ""


# Exported for testing: the definition and the policies are pure functions of concrete values.


@dataclass(frozen=True)
class DriftJobSpec:
    """Everything the drift check's pipeline definition depends on.

    Attributes:
        role_arn: the job's own role.
        image_uri: the project's image.
        spark_image_uri: the project's Spark drift image (the Spark engine's).
        region: where the job runs (its clients' region).
        buckets: lake zone -> bucket name.
        kms_key_arn: the job volume's key.
        endpoint: the endpoint whose capture is read.
        model_package_arn: the served package.
        monitoring: schedule, window, threshold, engine and instance type.
    """

    role_arn: str
    image_uri: str
    region: str
    buckets: Mapping[str, str]
    kms_key_arn: str
    endpoint: str
    model_package_arn: str
    monitoring: MonitoringSettings
    spark_image_uri: str = ""


def drift_engine(monitoring: MonitoringSettings) -> Literal["numpy", "spark"]:
    """The engine the job runs: NumPy on one instance, or Spark above ``sparkAboveCaptureGb``."""
    return monitoring.drift_engine_of_window


# smspark-submit joins the application's arguments with spaces into one shell command line
# (spark-submit under `sh -c`), so every literal argument of the Spark step must be one word.
# Parameters are resolved at execution: WindowHours and DriftThreshold are numbers, and
# TriggeredBy is the schedule's "schedule" or the default "manual" (a person starting the
# pipeline by hand with another value passes it through that shell, in their own job).
_SHELL_WORD = re.compile(r"^[A-Za-z0-9_./:@=+,-]+\Z")


def drift_definition(spec: DriftJobSpec) -> Json:
    """The drift check's pipeline: one Processing step running ``container monitor``, validated.

    Raises:
        PipelineDefinitionError: the definition breaks an API shape, a reference or the
            non-empty rule.
    """
    monitoring = spec.monitoring
    spark = drift_engine(monitoring) == "spark"
    command: list[Any] = [
        "monitor",
        "--platform",
        "aws",
        "--endpoint",
        spec.endpoint,
        "--model-package",
        spec.model_package_arn,
        "--window-hours",
        as_text(get("Parameters.WindowHours")),
        "--threshold",
        as_text(get("Parameters.DriftThreshold")),
        "--triggered-by",
        get("Parameters.TriggeredBy"),
        "--engine",
        drift_engine(monitoring),
    ]
    app: Json = {"ImageUri": get("Parameters.ImageUri"), "ContainerArguments": command}
    if spark:
        # SageMaker's Spark container: smspark-submit bootstraps YARN over the job's instances
        # and submits the image's entry file (which runs `container monitor`) on the primary.
        app["ContainerEntrypoint"] = ["smspark-submit", SPARK_DRIFT_ENTRY]
        words = [v for v in command if isinstance(v, str)]
        unsafe = [v for v in words if not _SHELL_WORD.match(v)]
        if unsafe:
            raise PipelineDefinitionError(
                [f"{STEP}: smspark-submit passes arguments through a shell: {unsafe[0]!r}"]
            )
    volume_key = (
        {"VolumeKmsKeyId": spec.kms_key_arn}
        if volume_kms_allowed(monitoring.drift_instance_type)
        else {}
    )
    step = {
        "Name": STEP,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": app,
            # The lake's buckets and the region; the image names the data contract itself.
            "Environment": {
                **{bucket_env(zone): spec.buckets[zone] for zone in _zones()},
                "AWS_DEFAULT_REGION": spec.region,
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    # Spark: smspark-submit forms its YARN cluster of every instance
                    "InstanceCount": monitoring.spark_instance_count if spark else 1,
                    "InstanceType": get("Parameters.InstanceType"),
                    "VolumeSizeInGB": 30,
                    **volume_key,
                }
            },
            # Not network-isolated, unlike every step that runs the project's code: the job
            # runs only mlops's own, and must reach S3 (capture, model, reports), CloudWatch
            # (the metric) and SageMaker (the served package), which its role scopes.
            "NetworkConfig": {
                "EnableNetworkIsolation": False,
                "EnableInterContainerTrafficEncryption": True,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "RoleArn": spec.role_arn,
        },
    }
    definition: Json = {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            {
                "Name": "ImageUri",
                "Type": "String",
                "DefaultValue": spec.spark_image_uri if spark else spec.image_uri,
            },
            {
                "Name": "InstanceType",
                "Type": "String",
                "DefaultValue": monitoring.drift_instance_type,
            },
            {
                "Name": "WindowHours",
                "Type": "Integer",
                "DefaultValue": monitoring.drift_window_hours,
            },
            {
                "Name": "DriftThreshold",
                "Type": "Float",
                "DefaultValue": monitoring.drift_threshold,
            },
            {"Name": "TriggeredBy", "Type": "String", "DefaultValue": "manual"},
        ],
        "Steps": [step],
    }
    validate_definition(definition, TRIGGERS)
    return definition


def _zones() -> tuple[str, ...]:
    """The zones the job touches: the capture's and the reports' (the model's is the latter)."""
    return tuple(sorted({LAYOUT["capture"][0], LAYOUT["monitoring"][0], LAYOUT["models"][0]}))


def job_role_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    buckets: Mapping[str, str],
    key_arn: str,
    repository_arn: str,
    endpoint: str,
    model_package_arn: str,
) -> dict[str, Any]:
    """What the drift job may do: read capture and the model, write reports, put one metric.

    Besides: what any processing job needs (its image, its logs, the lake key). Nothing else:
    no other prefix, no registry write, no pipeline start.

    ``cloudwatch:PutMetricData`` has no resource-level permissions, so it is ``*`` narrowed to
    the drift namespace by condition; ``ecr:GetAuthorizationToken`` only issues a login.
    """
    arns = Arns(partition, region, account_id)
    capture_zone, capture_prefix = LAYOUT["capture"]
    models_zone, models_prefix = LAYOUT["models"]
    reports_zone, reports_prefix = LAYOUT["monitoring"]
    captured = f"{capture_prefix}{endpoint}/"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListCapture",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": arns.s3(buckets[capture_zone]),
                "Condition": {"StringLike": {"s3:prefix": [f"{captured}*"]}},
            },
            {
                "Sid": "ReadCapture",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": arns.s3(buckets[capture_zone], f"{captured}*"),
            },
            {
                # The served package names its model.tar.gz, which carries the reference.
                "Sid": "FindServedModel",
                "Effect": "Allow",
                "Action": "sagemaker:DescribeModelPackage",
                "Resource": model_package_arn,
            },
            {
                "Sid": "ReadModelArtifacts",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": arns.s3(buckets[models_zone], f"{models_prefix}*"),
            },
            {
                "Sid": "WriteReports",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": arns.s3(buckets[reports_zone], f"{reports_prefix}*"),
            },
            {
                "Sid": "PutDriftMetric",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": DRIFT_NAMESPACE}},
            },
            {
                # Capture, artifacts and reports are encrypted with the lake key.
                "Sid": "UseLakeKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn,
            },
            {
                "Sid": "EncryptJobVolume",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            *pull_image_statements(repository_arn, "PullProjectImage"),
            {
                "Sid": "WriteJobLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{arns.log_group(PROCESSING_LOG_GROUP)}:*",
            },
        ],
    }


def pipeline_role_policy(
    *, partition: str, region: str, account_id: str, job_role_arn: str
) -> dict[str, Any]:
    """What the drift pipeline may do: run its step's job as the job's role, and no more."""
    arns = Arns(partition, region, account_id)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RunDriftJob",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                ],
                "Resource": arns.sagemaker("processing-job/pipelines-*"),
            },
            {
                "Sid": "PassJobRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": job_role_arn,
                "Condition": {
                    "StringEquals": {
                        "iam:PassedToService": service_principal("sagemaker", partition)
                    }
                },
            },
        ],
    }


class DriftJob(pulumi.ComponentResource):
    """The drift check as a one-step SageMaker pipeline, started by EventBridge Scheduler.

    Outputs:
        pipeline_name: the drift check's pipeline.
        pipeline_arn: its ARN.
        schedule_name: the schedule that starts it.
        job_role_arn: the role the job runs as.
        definition: the validated pipeline definition (JSON).
    """

    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    job_role_arn: pulumi.Output[str]
    definition: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DriftJobArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:aws:DriftJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        names = args.names
        account = pulumi.Output.from_input(args.account_id)

        self.job_role = sagemaker_role(
            f"{name}-job-role",
            description=f"The drift check of {names.endpoint}: reads capture, writes reports",
            partition=args.partition,
            region=args.region,
            account=account,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-job-policy",
            role=self.job_role.id,
            policy=pulumi.Output.all(
                account, args.bucket_names, args.key_arn, args.repository_arn
            ).apply(
                lambda v: json.dumps(
                    job_role_policy(
                        partition=args.partition,
                        region=args.region,
                        account_id=v[0],
                        buckets=v[1],
                        key_arn=v[2],
                        repository_arn=v[3],
                        endpoint=names.endpoint,
                        model_package_arn=args.model_package_arn,
                    )
                )
            ),
            opts=child,
        )
        self.pipeline_role = sagemaker_role(
            f"{name}-pipeline-role",
            description=f"Runs the {names.drift_pipeline} pipeline's one job",
            partition=args.partition,
            region=args.region,
            account=account,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-pipeline-policy",
            role=self.pipeline_role.id,
            policy=pulumi.Output.all(account, self.job_role.arn).apply(
                lambda v: json.dumps(
                    pipeline_role_policy(
                        partition=args.partition,
                        region=args.region,
                        account_id=v[0],
                        job_role_arn=v[1],
                    )
                )
            ),
            opts=child,
        )
        self.definition = pulumi.Output.all(
            self.job_role.arn,
            args.image_uri,
            args.bucket_names,
            args.key_arn,
            args.endpoint_name,
            args.spark_image_uri,
        ).apply(
            lambda v: json.dumps(
                drift_definition(
                    DriftJobSpec(
                        role_arn=v[0],
                        image_uri=v[1],
                        region=args.region,
                        buckets=v[2],
                        kms_key_arn=v[3],
                        endpoint=v[4],
                        model_package_arn=args.model_package_arn,
                        monitoring=args.monitoring,
                        spark_image_uri=v[5],
                    )
                )
            )
        )
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=names.drift_pipeline,
            pipeline_display_name=names.drift_pipeline,
            pipeline_description=f"Drift check of {names.endpoint}'s captured traffic",
            role_arn=self.pipeline_role.arn,
            pipeline_definition=self.definition,
            tags=tags,
            opts=child,
        )
        self.schedule_role = pipeline_starter_role(
            f"{name}-schedule",
            "scheduler",
            self.pipeline,
            description=f"Lets EventBridge Scheduler start the {names.drift_pipeline} pipeline",
            partition=args.partition,
            account=account,
            tags=tags,
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=names.drift_pipeline,
            description=f"Check {names.endpoint}'s captured traffic for drift",
            schedule_expression=args.monitoring.drift_schedule,
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": self.pipeline.arn,
                "role_arn": self.schedule_role.arn,
                "sagemaker_pipeline_parameters": {
                    "pipeline_parameters": [
                        {"name": k, "value": v} for k, v in SCHEDULE_PARAMETERS.items()
                    ]
                },
                # A missed start is retried for an hour: the next run comes then anyway.
                "retry_policy": {"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 3},
            },
            opts=child,
        )
        self.pipeline_name = self.pipeline.pipeline_name
        self.pipeline_arn = self.pipeline.arn
        self.schedule_name = self.schedule.name
        self.job_role_arn = self.job_role.arn
        self.register_outputs(
            {
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "schedule_name": self.schedule_name,
                "job_role_arn": self.job_role_arn,
                "definition": self.definition,
            }
        )
