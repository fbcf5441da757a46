"""The drift check on AWS: our engine's job in the project's image, on a schedule, scoped.

Under mocks: the schedule starts the one-step drift pipeline; its step runs ``container
monitor`` from the training pipeline's image with non-empty arguments for every trigger; the
job's role reads capture and the served model, writes reports and puts the one metric, and
nothing else; what it publishes is exactly what the drift alarm watches.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pipeline_eval import Resolver
from platform_runs import ACCOUNT, PACKAGE, one, platform, policy

from mlops.core.contracts import DRIFT_DIMENSION, DRIFT_METRIC, DRIFT_NAMESPACE
from mlops.core.errors import ConfigError
from mlops.infra.aws.catalog import SPARK_DRIFT_ENTRY
from mlops.infra.aws.drift_job import (
    SCHEDULE_PARAMETERS,
    TRIGGERS,
    DriftJobSpec,
    drift_definition,
)
from mlops.infra.aws.pipeline_definition import (
    PipelineDefinitionError,
    empty_values,
    validate_definition,
)
from mlops.infra.aws.settings import MonitoringSettings
from mlops.pipelines.monitor_job import _parser

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"


def drift_pipeline(stack: str = "prod", **extra: Any) -> Any:
    return one(platform(stack, **extra), PIPELINE, f"churn-{stack}-drift-pipeline")


def definition(stack: str = "prod", **extra: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(drift_pipeline(stack, **extra).inputs["pipelineDefinition"])
    return loaded


def statements(name: str, stack: str = "prod") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = policy(one(platform(stack), ROLE_POLICY, name))["Statement"]
    return found


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_the_schedule_starts_the_drift_pipeline() -> None:
    program = platform("prod", driftSchedule="cron(15 * * * ? *)")
    schedule = one(program, SCHEDULE).inputs
    assert schedule["scheduleExpression"] == "cron(15 * * * ? *)"
    assert schedule["name"] == "churn-prod-drift-check"
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    target = schedule["target"]
    assert target["arn"] == f"{SM}:pipeline/churn-prod-drift-check"
    assert target["roleArn"].endswith(":role/churn-prod-drift-schedule-role")
    given = {
        p["name"]: p["value"] for p in target["sagemakerPipelineParameters"]["pipelineParameters"]
    }
    assert given == SCHEDULE_PARAMETERS == TRIGGERS["schedule"]
    assert one(platform("prod"), SCHEDULE).inputs["scheduleExpression"] == "rate(1 hour)"


def test_the_step_runs_the_monitor_entry_point_of_the_projects_image() -> None:
    d = definition()
    (step,) = d["Steps"]
    assert (step["Name"], step["Type"]) == ("CheckDrift", "Processing")
    app = step["Arguments"]["AppSpecification"]
    assert app["ImageUri"] == {"Get": "Parameters.ImageUri"} and "ContainerEntrypoint" not in app
    image = {p["Name"]: p["DefaultValue"] for p in d["Parameters"]}["ImageUri"]
    # The image the training pipeline runs (and endpoints serve): one image, every entry point.
    assert image == platform("prod").result["platform"]["image_uri"]
    assert image == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn-prod:0.1.0"
    digest = "sha256:" + "a" * 64
    pinned = {p["Name"]: p["DefaultValue"] for p in definition(imageDigest=digest)["Parameters"]}
    assert pinned["ImageUri"].endswith(f"@{digest}")
    for trigger, given in TRIGGERS.items():
        command = Resolver(d, parameters=given)(app["ContainerArguments"])
        assert command[0] == "monitor", trigger
        assert all(isinstance(v, str) and v for v in command), (trigger, command)
        assert empty_values(d, given) == []
        args = _parser().parse_args(command[1:])  # the entry point takes them as they are
        assert (args.platform, args.endpoint, args.model_package) == (
            "aws",
            "churn-prod-endpoint",
            PACKAGE,
        )
        assert (args.window_hours, args.threshold) == (24, 0.2)
    assert step["Arguments"]["Environment"] == {
        "MLOPS_BUCKET_ARTIFACTS": "churn-prod-lake-artifacts",
        "MLOPS_BUCKET_RAW": "churn-prod-lake-raw",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert step["Arguments"]["RoleArn"].endswith(":role/churn-prod-drift-job-role")


def test_window_threshold_and_instance_come_from_the_monitoring_settings() -> None:
    d = definition(driftWindowHours=6, driftThreshold=0.35, driftInstanceType="ml.m5.large")
    command = Resolver(d)(d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"])
    args = _parser().parse_args(command[1:])
    assert (args.window_hours, args.threshold) == (6, 0.35)
    assert Resolver(d)(d["Steps"][0]["Arguments"]["ProcessingResources"]) == {
        "ClusterConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/churn-prod-lake-key",
        }
    }


def test_an_empty_argument_fails_the_build() -> None:
    broken = copy.deepcopy(definition())
    broken["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"][4] = ""
    with pytest.raises(PipelineDefinitionError, match=r"CheckDrift: ContainerArguments\[4\]"):
        validate_definition(broken, TRIGGERS)


def test_what_the_job_publishes_is_what_the_drift_alarm_watches() -> None:
    program = platform("prod")
    alarm = one(program, "aws:cloudwatch/metricAlarm:MetricAlarm", "churn-prod-monitoring-drift")
    d = definition()
    command = Resolver(d)(d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"])
    args = _parser().parse_args(command[1:])
    # The entry point publishes (DRIFT_NAMESPACE, DRIFT_METRIC, {DRIFT_DIMENSION: --endpoint});
    # the end-to-end test sees the datapoint itself.
    assert alarm.inputs["namespace"] == DRIFT_NAMESPACE
    assert alarm.inputs["metricName"] == DRIFT_METRIC
    assert alarm.inputs["dimensions"] == {DRIFT_DIMENSION: args.endpoint}
    assert alarm.inputs["threshold"] == args.threshold
    # ... and the job's role may put that namespace only.
    (put,) = [
        s
        for s in statements("churn-prod-drift-job-policy")
        if "cloudwatch:PutMetricData" in as_list(s["Action"])
    ]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": alarm.inputs["namespace"]}}


def test_the_jobs_role_reads_capture_and_the_model_writes_reports_puts_one_metric() -> None:
    granted = {
        (action, resource)
        for s in statements("churn-prod-drift-job-policy")
        for action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    }
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/churn-prod-lake-key"
    repository = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/churn-prod"
    logs = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/ProcessingJobs:*"
    assert granted == {
        ("s3:ListBucket", "arn:aws:s3:::churn-prod-lake-raw"),
        ("s3:GetObject", "arn:aws:s3:::churn-prod-lake-raw/capture/churn-prod-endpoint/*"),
        ("sagemaker:DescribeModelPackage", PACKAGE),
        ("s3:GetObject", "arn:aws:s3:::churn-prod-lake-artifacts/models/*"),
        ("s3:PutObject", "arn:aws:s3:::churn-prod-lake-artifacts/monitoring/*"),
        ("cloudwatch:PutMetricData", "*"),
        ("kms:Decrypt", key),
        ("kms:GenerateDataKey", key),
        ("kms:CreateGrant", key),
        ("ecr:BatchGetImage", repository),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:GetAuthorizationToken", "*"),
        ("logs:CreateLogStream", logs),
        ("logs:PutLogEvents", logs),
    }
    (listing,) = [s for s in statements("churn-prod-drift-job-policy") if s["Sid"] == "ListCapture"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["capture/churn-prod-endpoint/*"]}}
    # The role is the job's alone: no other policy is attached to it, and the job runs as it.
    attached = [
        r for r in platform("prod").of_type(ROLE_POLICY) if "drift-job-role" in r.inputs["role"]
    ]
    assert [r.name for r in attached] == ["churn-prod-drift-job-policy"]


def test_the_pipeline_and_schedule_roles_do_one_thing_each() -> None:
    (run, passing) = statements("churn-prod-drift-pipeline-policy")
    assert set(run["Action"]) == {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "sagemaker:AddTags",
    }
    assert run["Resource"] == f"{SM}:processing-job/pipelines-*"
    assert passing["Action"] == "iam:PassRole"
    assert passing["Resource"].endswith(":role/churn-prod-drift-job-role")
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    (start,) = statements("churn-prod-drift-schedule-policy")
    assert (start["Action"], start["Resource"]) == (
        "sagemaker:StartPipelineExecution",
        f"{SM}:pipeline/churn-prod-drift-check",
    )
    roles = {r.name: r.inputs for r in platform("prod").of_type("aws:iam/role:Role")}
    trust = json.loads(roles["churn-prod-drift-schedule-role"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    pipeline = drift_pipeline()
    assert pipeline.inputs["roleArn"].endswith(":role/churn-prod-drift-pipeline-role")


def test_only_realtime_endpoints_get_the_drift_job_and_it_can_be_switched_off() -> None:
    assert one(platform("staging"), SCHEDULE)  # realtime: capture to check
    assert platform("dev").of_type(SCHEDULE) == []  # serverless endpoints capture nothing
    assert platform("prod", model=False).of_type(SCHEDULE) == []  # no endpoint yet
    off = platform("prod", driftJob=False)
    assert off.of_type(SCHEDULE) == [] and len(off.of_type(PIPELINE)) == 1
    # The alarm and its retraining rule stay: `mlops monitor run --stack` can still feed it.
    assert any(r.name.endswith("drift-retrain-target") for r in off.resources)


def test_model_monitor_is_off_by_default_and_on_by_request() -> None:
    dq = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
    assert platform("prod").of_type(dq) == []
    assert len(platform("prod", dataQualityMonitor=True).of_type(dq)) == 1


@pytest.mark.parametrize(
    ("settings", "engine"),
    [
        ({}, "numpy"),
        ({"expected_capture_gb": 20}, "numpy"),  # at the threshold: one machine still
        ({"expected_capture_gb": 20.5}, "spark"),
        ({"expected_capture_gb": 5, "spark_above_capture_gb": 4}, "spark"),
        ({"expected_capture_gb": 500, "drift_engine": "numpy"}, "numpy"),
        ({"drift_engine": "spark"}, "spark"),
    ],
)
def test_spark_is_chosen_above_the_configured_capture_volume(
    settings: dict[str, Any], engine: str
) -> None:
    assert MonitoringSettings(**settings).drift_engine_of_window == engine


SPARK = {"expectedCaptureGb": 100, "sparkInstanceCount": 3}  # auto: above 20 GB, Spark


def test_a_spark_stack_runs_smspark_submit_on_its_spark_image_across_its_instances() -> None:
    d = definition(**SPARK)
    (step,) = d["Steps"]
    app = step["Arguments"]["AppSpecification"]
    # SageMaker's Spark container's entry point, with the image's entry file as the application
    assert app["ContainerEntrypoint"] == ["smspark-submit", SPARK_DRIFT_ENTRY]
    assert app["ImageUri"] == {"Get": "Parameters.ImageUri"}
    image = {p["Name"]: p["DefaultValue"] for p in d["Parameters"]}["ImageUri"]
    # The Spark image lives in the project's repository (the role pulls from it already).
    assert image == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn-prod:0.1.0-spark"
    digest = "sha256:" + "b" * 64
    pinned = definition(**SPARK, sparkImageDigest=digest, imageDigest="sha256:" + "a" * 64)
    defaults = {p["Name"]: p["DefaultValue"] for p in pinned["Parameters"]}
    assert defaults["ImageUri"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn-prod@{digest}"
    for trigger, given in TRIGGERS.items():
        command = Resolver(d, parameters=given)(app["ContainerArguments"])
        assert command[0] == "monitor", trigger
        assert all(isinstance(v, str) and v for v in command), (trigger, command)
        assert empty_values(d, given) == []
        args = _parser().parse_args(command[1:])
        assert (args.platform, args.engine, args.endpoint, args.model_package) == (
            "aws",
            "spark",
            "churn-prod-endpoint",
            PACKAGE,
        )
        assert (args.window_hours, args.threshold) == (24, 0.2)
    # smspark-submit forms its YARN cluster of the job's instances
    assert Resolver(d)(step["Arguments"]["ProcessingResources"])["ClusterConfig"] == {
        "InstanceCount": 3,
        "InstanceType": "ml.m5.xlarge",
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/churn-prod-lake-key",
    }
    assert step["Arguments"]["RoleArn"].endswith(":role/churn-prod-drift-job-role")


def test_a_numpy_stack_runs_the_projects_image_on_one_instance() -> None:
    d = definition(driftEngine="numpy", expectedCaptureGb=100, sparkInstanceCount=3)
    app = d["Steps"][0]["Arguments"]["AppSpecification"]
    assert "ContainerEntrypoint" not in app
    assert _parser().parse_args(Resolver(d)(app["ContainerArguments"])[1:]).engine == "numpy"
    cluster = Resolver(d)(d["Steps"][0]["Arguments"]["ProcessingResources"])["ClusterConfig"]
    assert cluster["InstanceCount"] == 1
    image = {p["Name"]: p["DefaultValue"] for p in d["Parameters"]}["ImageUri"]
    assert image.endswith("/churn-prod:0.1.0")


def test_the_spark_jobs_role_is_scoped_exactly_as_the_numpy_jobs() -> None:
    def granted(program: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = policy(
            one(program, ROLE_POLICY, "churn-prod-drift-job-policy")
        )["Statement"]
        return found

    assert granted(platform("prod", **SPARK)) == granted(platform("prod"))
    assert granted(platform("prod", **SPARK)) == statements("churn-prod-drift-job-policy")


def test_the_spark_job_publishes_what_the_drift_alarm_watches() -> None:
    program = platform("prod", **SPARK)
    alarm = one(program, "aws:cloudwatch/metricAlarm:MetricAlarm", "churn-prod-monitoring-drift")
    d = json.loads(one(program, PIPELINE, "churn-prod-drift-pipeline").inputs["pipelineDefinition"])
    command = Resolver(d)(d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"])
    args = _parser().parse_args(command[1:])
    assert args.engine == "spark"
    assert alarm.inputs["namespace"] == DRIFT_NAMESPACE
    assert alarm.inputs["metricName"] == DRIFT_METRIC
    assert alarm.inputs["dimensions"] == {DRIFT_DIMENSION: args.endpoint}
    assert alarm.inputs["threshold"] == args.threshold


def test_an_argument_a_shell_would_split_fails_the_spark_build() -> None:
    # smspark-submit runs `spark-submit ... APP ARGS` through a shell, words joined by spaces.
    spec = DriftJobSpec(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
        image_uri="i",
        region="us-east-1",
        buckets={"raw": "r", "artifacts": "a"},
        kms_key_arn="k",
        endpoint="churn-prod-endpoint",
        model_package_arn=PACKAGE,
        monitoring=MonitoringSettings(drift_engine="spark"),
        spark_image_uri="s",
    )
    assert drift_definition(spec)["Steps"][0]["Name"] == "CheckDrift"
    with pytest.raises(PipelineDefinitionError, match="through a shell: 'churn; reboot'"):
        drift_definition(replace(spec, endpoint="churn; reboot"))
    with pytest.raises(PipelineDefinitionError, match="through a shell"):  # a newline ends it
        drift_definition(replace(spec, endpoint="churn-prod-endpoint\n"))
    # The NumPy step's arguments reach the container as a list: no shell, no such rule.
    numpy = replace(spec, endpoint="churn; reboot", monitoring=MonitoringSettings())
    assert drift_definition(numpy)["Steps"][0]["Name"] == "CheckDrift"


def test_the_policy_pack_passes_the_spark_drift_job() -> None:
    from mlops.infra.policy import RULES, evaluate, stack_of

    stack = stack_of(platform("prod", **SPARK), "prod")
    assert [(v.rule.id, v.resource, v.message) for v in evaluate(stack, RULES)] == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("driftSchedule", "every hour", "not an EventBridge Scheduler expression"),
        ("driftSchedule", "cron(0 * ? * *)", "six fields"),
        ("driftSchedule", "rate(0 hours)", "not an EventBridge Scheduler expression"),
        ("driftWindowHours", 0, "greater than or equal to 1"),
        ("driftInstanceType", "ml.nope.large", "nope"),
        ("sparkAboveCaptureGb", 0, "greater than 0"),
        ("driftEngine", "pandas", "auto"),
    ],
)
def test_bad_drift_settings_are_refused_with_their_key(key: str, value: Any, message: str) -> None:
    from mlops.infra.config import StackConfig

    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values("churn", "prod", {"aws:region": "us-east-1", f"churn:{key}": value})
    assert key in str(raised.value) and message in str(raised.value)


def test_spark_on_one_instance_is_refused() -> None:
    from mlops.infra.config import StackConfig

    values = {
        "aws:region": "us-east-1",
        "churn:driftEngine": "spark",
        "churn:sparkInstanceCount": 1,
    }
    with pytest.raises(ConfigError, match="sparkInstanceCount: a Spark drift check spreads"):
        StackConfig.from_values("churn", "prod", values)


def test_the_policy_pack_passes_the_drift_job_and_knows_why_it_is_networked() -> None:
    from mlops.infra.policy import RULES, PackConfig, evaluate, stack_of

    stack = stack_of(platform("prod"), "prod")
    found = [(v.rule.id, v.resource, v.message) for v in evaluate(stack, RULES)]
    assert found == []
    # The networked steps (the drift check; the champion lookup before the isolated evaluate
    # step) are named in the isolation rule's settings; without them, they fail.
    strict = PackConfig.from_mapping(
        {"mlops-sagemaker-job-isolation": {"networkedSteps": []}}, RULES
    )
    isolation = [r for r in RULES if r.id == "mlops-sagemaker-job-isolation"]
    assert [(v.resource, v.message) for v in evaluate(stack, isolation, strict)] == [
        ("churn-prod-training-pipeline", "step ReadChampion is not network-isolated"),
        ("churn-prod-drift-pipeline", "step CheckDrift is not network-isolated"),
    ]


def test_the_drift_check_is_priced_for_both_engines() -> None:
    from mlops.infra.aws.catalog import instance_catalogue
    from mlops.infra.cost import Assumptions, estimate
    from mlops.infra.policy import stack_of

    def drift_line(program: Any) -> Any:
        report = estimate(stack_of(program, "prod"), Assumptions(drift_minutes=12), "us-east-1")
        (line,) = [x for x in report.lines if x.category == "drift"]
        return line

    price = instance_catalogue().types["ml.m5.xlarge"].price_per_hour
    numpy, spark = drift_line(platform("prod")), drift_line(platform("prod", **SPARK))
    # hourly (rate(1 hour)): 730 runs a month of 12 minutes, on 1 instance or Spark's 3;
    # the schedule runs with or without traffic, so idle and load are alike.
    assert numpy.idle == numpy.load == round(1 * price * 730 * 12 / 60, 2)
    assert spark.idle == spark.load == round(3 * price * 730 * 12 / 60, 2)
    assert spark.basis == "3 x ml.m5.xlarge x 730 runs x 12 min"
    daily = drift_line(platform("prod", driftSchedule="cron(15 2 * * ? *)"))
    assert daily.load == round(price * (365 / 12) * 12 / 60, 2)
    off = estimate(stack_of(platform("prod", driftJob=False), "prod"), Assumptions(), "us-east-1")
    assert [x for x in off.lines if x.category == "drift"] == []


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(1 hour)", 730),
        ("rate(30 minutes)", 1460),
        ("rate(2 days)", 365 / 24),
        ("cron(0 * ? * * *)", 730),
        ("cron(0/15 * * * ? *)", 4 * 730),
        ("cron(0 9 ? * MON-FRI *)", 365 / 12 * 5 / 7),
        ("cron(0 6,18 1 * ? *)", 2 * 365 / 12 / 31),
    ],
)
def test_runs_a_month_follow_the_schedule(expression: str, runs: float) -> None:
    from mlops.infra.cost import runs_per_month

    assert runs_per_month(expression) == pytest.approx(runs)


def test_the_drift_checks_minutes_come_from_the_stack_config() -> None:
    from mlops.infra.config import StackConfig
    from mlops.infra.cost import Assumptions

    values = {"aws:region": "us-east-1", "churn:driftCheckMinutes": 25}
    assert (
        Assumptions.from_config(StackConfig.from_values("churn", "prod", values)).drift_minutes
        == 25
    )


def test_ci_builds_the_spark_image_for_the_stacks_that_check_drift_with_spark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.infra.spark_stacks import main, spark_stacks

    (tmp_path / "Pulumi.yaml").write_text("name: churn\nruntime: python\nmain: infra\n")
    stacks = {
        "dev": {},
        "prod": {"churn:expectedCaptureGb": 50},  # auto: above 20 GB a window
        "staging": {"churn:driftEngine": "spark", "churn:endpointType": "serverless"},  # no job
        "test": {
            "churn:environment": "staging",
            "churn:driftEngine": "spark",
            "churn:driftJob": False,
        },
        "qa": {"churn:environment": "staging", "churn:driftEngine": "spark"},
        "local": {"churn:driftEngine": "spark"},  # pushes no image
    }
    # File names that are no stack name: they would reach CI's shell lines (a glob, a newline).
    stacks |= {"*": stacks["qa"], "x\nSPARK_IMAGE_DIGEST=sha256:evil": stacks["qa"]}
    for stack, values in stacks.items():
        config = {"aws:region": "us-east-1", **values}
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(json.dumps({"config": config}))
    assert spark_stacks(tmp_path) == ["prod", "qa"]
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["prod", "qa"]
    config = {"aws:region": "us-east-1", "churn:environment": "staging"}
    (tmp_path / "Pulumi.qa.yaml").write_text(
        json.dumps({"config": {**config, "churn:sparkInstanceCount": 0}})
    )
    assert main([str(tmp_path)]) == 1
    assert "sparkInstanceCount" in capsys.readouterr().err
