"""The AWS drift loop end to end, against the embedded endpoint (moto on loopback).

The local stack's platform with a realtime endpoint (so its traffic is captured and checked; the
local stack is the one that takes plain HTTP) is applied to moto by local mode's bootstrap.
Captured traffic goes into the lake; the drift job runs as its pipeline step would (the entry point
with the arguments and environment of the deployed definition, for the parameters the deployed
schedule passes); the report and the metric come out; the drift alarm flips; its EventBridge rule's
target starts the training pipeline.

What moto does not do, and what stands in for it (named, so nothing is claimed beyond it):
* it does not run pipeline steps: the step's command runs here, as the image would run it;
* it does not fire schedules: the test reads the deployed schedule's target and parameters;
* it does not evaluate alarms: the alarm is evaluated from its own deployed definition
  (statistic, period, threshold, comparison) on the datapoints moto stored, and its state set
  with SetAlarmState, as CloudWatch would;
* it does not deliver to SageMaker targets, nor implement TestEventPattern: the state-change
  event CloudWatch emits is matched with moto's own EventBridge pattern matcher, and the
  rule's target (its ARN and parameters, as deployed) is called as EventBridge would.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from conftest import REPO
from pipeline_eval import Resolver

from mlops.infra.bootstrap import apply
from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program
from mlops.pipelines import container
from mlops.pipelines.capture import CaptureWriter
from mlops.pipelines.data import DataContract, read_file
from mlops.pipelines.lake import Lake
from mlops.pipelines.reference import REFERENCE_FILE, reference_sample

pytestmark = pytest.mark.integration

FILES = REPO / "templates" / "common" / "files" / "data"
CONTRACT = DataContract.load(FILES / "contract.yaml")


class Stack:
    """The platform applied to moto, with an approved package its realtime endpoint serves."""

    def __init__(self, endpoint_url: str) -> None:
        from mlops.infra.aws import MLPlatform
        from mlops.infra.config import StackConfig

        self.url = endpoint_url
        project = f"drift{uuid.uuid4().hex[:6]}"
        self.prefix = f"{project}-local"
        self.endpoint = f"{self.prefix}-endpoint"
        sm = self.client("sagemaker")
        group = f"{self.prefix}-models"
        sm.create_model_package_group(ModelPackageGroupName=group)
        self.model_uri = f"s3://{self.prefix}-lake-artifacts/models/run-1/model.tar.gz"
        self.package = sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": "img:1", "ModelDataUrl": self.model_uri}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]

        def program() -> dict[str, Any]:
            cfg = StackConfig.load()
            return {"platform": MLPlatform(cfg.name_prefix, cfg).platform}

        config = {
            "aws:region": "us-east-1",
            f"{project}:modelPackageArn": self.package,
            f"{project}:driftWindowHours": 6,
            f"{project}:endpointType": "realtime",
        }
        self.program = run_program(
            program, project=project, stack="local", config=config, invokes=CALLER_IDENTITY
        )
        apply(self.program, endpoint_url, "us-east-1")
        self.platform = self.program.result["platform"]
        self.lake = Lake(self.client("s3"), self.platform["buckets"])

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1")


@pytest.fixture
def stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Stack:
    # The job's own clients (boto3 defaults, as in the container) reach the embedded endpoint.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    made = Stack(moto_endpoint)
    table, _ = read_file(FILES / "sample.csv")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        sample = reference_sample(table, CONTRACT.features)
        info = tarfile.TarInfo(REFERENCE_FILE)
        info.size = len(sample)
        tar.addfile(info, io.BytesIO(sample))
    made.lake.write_uri(made.model_uri, buffer.getvalue())
    return made


def capture(stack: Stack, drifted: bool) -> int:
    """The sample's rows (shifted when ``drifted``) as the endpoint captures them, now."""
    table, _ = read_file(FILES / "sample.csv")
    rows = table.select(CONTRACT.features).copy()
    if drifted:
        rows[:, 0] = np.floor(rows[:, 0] / 3)
        rows[:, 1] = rows[:, 1] + 60
    writer = CaptureWriter(stack.lake, stack.endpoint, flush_every=100)
    for row in rows.tolist():
        body = json.dumps({"instances": [row]}).encode()
        writer.record(body, "application/json", "JSON", b'{"predictions": [0.5]}')
    assert writer.close(30)
    return len(rows)


def run_scheduled_check(stack: Stack) -> str:
    """The drift pipeline's one step, as the deployed schedule starts it; its stdout."""
    sm, scheduler = stack.client("sagemaker"), stack.client("scheduler")
    schedule = scheduler.get_schedule(Name=f"{stack.prefix}-drift-check")
    target = schedule["Target"]
    assert target["Arn"].endswith(f":pipeline/{stack.prefix}-drift-check")
    given = {
        p["Name"]: p["Value"]
        for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]
    }
    definition = json.loads(
        sm.describe_pipeline(PipelineName=f"{stack.prefix}-drift-check")["PipelineDefinition"]
    )
    (step,) = definition["Steps"]
    resolve = Resolver(definition, parameters=given)
    command = resolve(step["Arguments"]["AppSpecification"]["ContainerArguments"])
    # The step's environment, and what the project's image sets (its data contract).
    environ = {
        **resolve(step["Arguments"]["Environment"]),
        "MLOPS_DATA_CONTRACT": str(FILES / "contract.yaml"),
    }
    return_code = container.main(command, environ)
    assert return_code == 0
    return str(command)


def alarm_of(stack: Stack) -> dict[str, Any]:
    cw = stack.client("cloudwatch")
    (alarm,) = cw.describe_alarms(AlarmNames=[f"{stack.prefix}-drift"])["MetricAlarms"]
    return dict(alarm)


def evaluate_alarm(stack: Stack) -> str:
    """What CloudWatch would decide for the drift alarm now, from its own definition; set it."""
    alarm = alarm_of(stack)
    cw = stack.client("cloudwatch")
    now = datetime.now(UTC)
    points = cw.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"],
        StartTime=now - timedelta(seconds=alarm["Period"] * alarm["EvaluationPeriods"]),
        EndTime=now + timedelta(minutes=1),
        Period=alarm["Period"],
        Statistics=[alarm["Statistic"]],
    )["Datapoints"]
    assert points, "the job published nothing the alarm watches"
    value = max(p[alarm["Statistic"]] for p in points)
    compare = {
        "GreaterThanThreshold": value > alarm["Threshold"],
        "GreaterThanOrEqualToThreshold": value >= alarm["Threshold"],
        "LessThanThreshold": value < alarm["Threshold"],
    }[alarm["ComparisonOperator"]]
    state = "ALARM" if compare else "OK"
    cw.set_alarm_state(
        AlarmName=alarm["AlarmName"], StateValue=state, StateReason=f"evaluated: {value}"
    )
    return state


def deliver_alarm_change(stack: Stack) -> list[str]:
    """The alarm's state-change event through the drift rule: the targets it starts."""
    from moto.events.models import EventPattern

    alarm = alarm_of(stack)
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "resources": [alarm["AlarmArn"]],
        "detail": {"alarmName": alarm["AlarmName"], "state": {"value": alarm["StateValue"]}},
    }
    events, sm = stack.client("events"), stack.client("sagemaker")
    rule = f"{stack.prefix}-monitoring-drift-retrain"
    pattern = events.describe_rule(Name=rule)["EventPattern"]
    if not EventPattern.load(pattern).matches_event(event):
        return []
    started = []
    for target in events.list_targets_by_rule(Rule=rule)["Targets"]:
        parameters = target["SageMakerPipelineParameters"]["PipelineParameterList"]
        arn = sm.start_pipeline_execution(
            PipelineName=target["Arn"].rsplit("/", 1)[-1], PipelineParameters=parameters
        )["PipelineExecutionArn"]
        started.append(arn)
    return started


def test_drifted_capture_publishes_the_score_flips_the_alarm_and_starts_retraining(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # An old object, outside the 6-hour window the stack configured: the check must not read it.
    old = datetime.now(UTC) - timedelta(days=3)
    stale = f"{stack.endpoint}/primary/{old:%Y/%m/%d/%H}/{old:%M-%S-%f}-stale.jsonl"
    stack.lake.put("capture", stale, b"not even json\n")
    rows = capture(stack, drifted=True)
    run_scheduled_check(stack)
    reports = f"report: s3://{stack.prefix}-lake-artifacts/monitoring/drift/"
    assert reports in capsys.readouterr().out

    # The report, JSON and HTML, in the lake under monitoring/.
    report = json.loads(stack.lake.get("monitoring", "drift/latest.json"))
    (comparison,) = report["comparisons"]
    assert comparison["rows"] == rows  # the window only: the stale object was not read
    assert {"tenure_months", "monthly_charges"} <= set(comparison["drifted_features"])
    assert report["endpoint"] == stack.endpoint and report["decision"]["retrain"]
    assert report["decision"]["started"] == ""  # the job starts nothing: the alarm does
    keys = list(stack.lake.keys("monitoring", "drift/"))
    stamped = [k for k in keys if k.endswith(".json") and "latest" not in k]
    assert len(stamped) == 1 and stamped[0].replace(".json", ".html") in keys
    assert "<svg" in stack.lake.get("monitoring", "drift/latest.html").decode()

    # The metric, exactly where the deployed drift alarm looks.
    alarm = alarm_of(stack)
    assert (alarm["Namespace"], alarm["MetricName"]) == ("mlops-stack/Drift", "DriftScore")
    assert alarm["Dimensions"] == [{"Name": "Endpoint", "Value": stack.endpoint}]
    assert alarm["StateValue"] != "ALARM"
    assert evaluate_alarm(stack) == "ALARM"
    assert alarm_of(stack)["StateValue"] == "ALARM"

    # The rule's target: the training pipeline, started with TriggeredBy=drift.
    (execution,) = deliver_alarm_change(stack)
    sm = stack.client("sagemaker")
    assert f":pipeline/{stack.prefix}-training/" in execution
    (listed,) = sm.list_pipeline_executions(PipelineName=f"{stack.prefix}-training")[
        "PipelineExecutionSummaries"
    ]
    assert listed["PipelineExecutionArn"] == execution
    parameters = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution)
    assert {p["Name"]: p["Value"] for p in parameters["PipelineParameters"]} == {
        "TriggeredBy": "drift"
    }


def test_steady_capture_keeps_the_alarm_quiet_and_starts_nothing(stack: Stack) -> None:
    capture(stack, drifted=False)
    run_scheduled_check(stack)
    report = json.loads(stack.lake.get("monitoring", "drift/latest.json"))
    assert not report["decision"]["retrain"]
    assert evaluate_alarm(stack) == "OK"
    assert deliver_alarm_change(stack) == []
    sm = stack.client("sagemaker")
    listed = sm.list_pipeline_executions(PipelineName=f"{stack.prefix}-training")
    assert listed["PipelineExecutionSummaries"] == []


def test_a_quiet_window_is_no_failure_and_publishes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scheduled_check(stack)
    assert "nothing checked: no traffic captured" in capsys.readouterr().out
    assert list(stack.lake.keys("monitoring", "drift/")) == []
    cw = stack.client("cloudwatch")
    listed = cw.list_metrics(
        Namespace="mlops-stack/Drift", Dimensions=[{"Name": "Endpoint", "Value": stack.endpoint}]
    )
    assert listed["Metrics"] == []


def test_the_job_reads_the_served_packages_artifact(stack: Stack, tmp_path: Path) -> None:
    from mlops.pipelines.monitor_job import served_artifact

    assert served_artifact(stack.client, stack.package) == stack.model_uri


def test_unreadable_capture_in_the_window_fails_the_job(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    key = f"{stack.endpoint}/primary/{now:%Y/%m/%d/%H}/{now:%M-%S-%f}-bad.jsonl"
    stack.lake.put("capture", key, b"not even json\n")
    with pytest.raises(AssertionError):  # the step fails: a failed execution, not a quiet one
        run_scheduled_check(stack)
    assert "is not SageMaker data capture" in capsys.readouterr().err
