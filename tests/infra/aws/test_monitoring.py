"""Monitoring: scoped alarms with actions, a dashboard, data quality, and drift -> retraining."""

from __future__ import annotations

import json

from platform_runs import ACCOUNT, one, platform, policy

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def monitoring_alarms(stack: str = "prod", **extra: object) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        a.inputs["name"]: a.inputs
        for a in platform(stack, **extra).of_type(ALARM)
        if a.name.startswith(f"churn-{stack}-monitoring-")
    }


def test_alarms_are_scoped_and_actionable() -> None:
    alarms = monitoring_alarms()
    assert set(alarms) == {
        f"churn-prod-{k}"
        for k in (
            "pipeline-failed",
            "drift",
            "latency-p99",
            "errors-5xx",
            "errors-4xx",
            "invocation-drop",
        )
    }
    endpoint = {"EndpointName": "churn-prod-endpoint", "VariantName": "primary"}
    for name, alarm in alarms.items():
        assert alarm["actionsEnabled"] is True, name
        assert (
            alarm["alarmActions"] == [alarm["alarmActions"][0]]
            and ":churn-prod-monitoring-alerts" in alarm["alarmActions"][0]
        )
        assert alarm["dimensions"], name
    for key in ("latency-p99", "errors-5xx", "errors-4xx", "invocation-drop"):
        assert alarms[f"churn-prod-{key}"]["dimensions"] == endpoint
    assert alarms["churn-prod-latency-p99"]["extendedStatistic"] == "p99"
    assert alarms["churn-prod-invocation-drop"]["treatMissingData"] == "breaching"
    assert alarms["churn-prod-pipeline-failed"]["dimensions"] == {
        "PipelineName": "churn-prod-training"
    }
    assert (
        alarms["churn-prod-pipeline-failed"]["namespace"] == "AWS/Sagemaker/ModelBuildingPipeline"
    )
    drift = alarms["churn-prod-drift"]
    assert (drift["namespace"], drift["metricName"]) == ("mlops-stack/Drift", "DriftScore")
    assert drift["dimensions"] == {"Endpoint": "churn-prod-endpoint"} and drift["threshold"] == 0.2


def test_without_an_endpoint_only_pipeline_and_drift_alarms() -> None:
    assert set(monitoring_alarms("prod", model=False)) == {
        "churn-prod-pipeline-failed",
        "churn-prod-drift",
    }


def test_drift_alarm_starts_the_training_pipeline() -> None:
    program = platform("prod")
    rule = next(
        r
        for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.endswith("drift-retrain")
    )
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    # The ARN AWS gives the alarm: by its name, which is what the alarm's events carry.
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:churn-prod-drift"
    assert pattern["resources"][0] == alarm
    target = next(
        t
        for t in program.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.name.endswith("drift-retrain-target")
    )
    assert (
        target.inputs["arn"]
        == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/churn-prod-training"
    )
    assert target.inputs["roleArn"].endswith("role/churn-prod-training-start-role")
    assert target.inputs["sagemakerPipelineTarget"] == {
        "pipelineParameterLists": [{"name": "TriggeredBy", "value": "drift"}]
    }


def test_alerts_topic_is_encrypted_and_only_services_of_this_account_publish() -> None:
    program = platform("prod")
    topics = {t.name: t.inputs for t in program.of_type("aws:sns/topic:Topic")}
    assert set(topics) == {"churn-prod-monitoring-alerts", "churn-prod-registry-approvals"}
    assert all(t["kmsMasterKeyId"].endswith("key/churn-prod-lake-key") for t in topics.values())
    for resource in program.of_type("aws:sns/topicPolicy:TopicPolicy"):
        statement = policy(resource)["Statement"][0]
        assert statement["Action"] == "sns:Publish"
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_dashboard_covers_endpoint_training_and_drift() -> None:
    body = json.loads(
        one(platform("prod"), "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    )
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == [
        "Invocations",
        "Errors",
        "Model latency p99 (µs)",
        "Training pipeline",
        "Drift score",
    ]
    metrics = json.dumps(body)
    assert (
        "churn-prod-endpoint" in metrics
        and "churn-prod-training" in metrics
        and "DriftScore" in metrics
    )


def test_data_quality_job_over_captured_data_on_a_schedule() -> None:
    program = platform("prod", dataQualityMonitor=True)
    job = one(program, "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    assert job["dataQualityAppSpecification"]["imageUri"] == (
        "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    assert job["dataQualityJobInput"]["endpointInput"]["endpointName"] == "churn-prod-endpoint"
    output = job["dataQualityJobOutputConfig"]
    assert (
        output["monitoringOutputs"]["s3Output"]["s3Uri"]
        == "s3://churn-prod-lake-artifacts/monitoring/"
    )
    assert output["kmsKeyId"].endswith("key/churn-prod-lake-key")
    assert job["networkConfig"] == {
        "enableNetworkIsolation": True,
        "enableInterContainerTrafficEncryption": True,
    }
    schedule = one(program, "aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs[
        "monitoringScheduleConfig"
    ]
    assert schedule["monitoringType"] == "DataQuality"
    assert schedule["scheduleConfig"] == {"scheduleExpression": "cron(0 * ? * * *)"}
    # Serverless endpoints capture nothing, so there is nothing to monitor.
    assert (
        platform("dev", dataQualityMonitor=True).of_type(
            "aws:sagemaker/monitoringSchedule:MonitoringSchedule"
        )
        == []
    )
    # Off by default (our drift job closes the loop); the drift alarm and its retraining stay.
    off = platform("prod")
    assert off.of_type("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition") == []
    assert any(
        a.inputs["name"] == "churn-prod-drift"
        for a in off.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    )


def breaches(alarm: dict, value: float) -> bool:  # type: ignore[type-arg]
    """Whether one datapoint of ``value`` is on the alarm side of the alarm's threshold."""
    compare = {
        "GreaterThanThreshold": lambda v, t: v > t,
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "LessThanThreshold": lambda v, t: v < t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    }[alarm["comparisonOperator"]]
    return bool(compare(value, alarm["threshold"]))


def test_each_alarm_fires_on_the_side_of_its_threshold_that_its_config_means() -> None:
    alarms = monitoring_alarms(
        latencyP99Ms=250, errors5xxThreshold=3, errors4xxThreshold=40, minInvocations=5
    )
    a = {name.removeprefix("churn-prod-"): alarm for name, alarm in alarms.items()}
    # ModelLatency is reported in microseconds: 250 ms is 250,000.
    assert not breaches(a["latency-p99"], 250_000) and breaches(a["latency-p99"], 250_001)
    assert (a["latency-p99"]["period"], a["latency-p99"]["evaluationPeriods"]) == (300, 3)
    # "N errors per 5 minutes" alarms at N, not only above it.
    assert not breaches(a["errors-5xx"], 2) and breaches(a["errors-5xx"], 3)
    assert not breaches(a["errors-4xx"], 39) and breaches(a["errors-4xx"], 40)
    assert a["errors-5xx"]["period"] == a["errors-4xx"]["period"] == 300
    assert {a["errors-5xx"]["statistic"], a["errors-4xx"]["statistic"]} == {"Sum"}
    # Fewer than minInvocations per 15 minutes is a drop; exactly that many is traffic.
    assert breaches(a["invocation-drop"], 4) and not breaches(a["invocation-drop"], 5)
    assert a["invocation-drop"]["period"] == 900
    # One failed pipeline execution is one too many.
    assert breaches(a["pipeline-failed"], 1) and not breaches(a["pipeline-failed"], 0)


def test_the_drift_alarm_and_the_lifecycle_decide_alike() -> None:
    from mlops.pipelines.drift import DriftReport, decide

    drift = monitoring_alarms(driftThreshold=0.35)["churn-prod-drift"]
    assert (drift["statistic"], drift["period"]) == ("Maximum", 3600)
    for score in (0.0, 0.34, 0.35, 0.36, 1.0):
        retrain = decide(DriftReport([], 10, score, False), threshold=0.35).retrain
        assert breaches(drift, score) is retrain, score


def test_data_quality_waits_for_the_endpoint_it_reads() -> None:
    program = platform("prod", dataQualityMonitor=True)
    order = [r.type for r in program.resources]
    endpoint = order.index("aws:sagemaker/endpoint:Endpoint")
    definition = order.index("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition")
    # SageMaker checks the endpoint exists when the schedule is created: the job takes the
    # endpoint's name from the endpoint, so Pulumi creates the endpoint first.
    assert definition > endpoint
    assert order.index("aws:sagemaker/monitoringSchedule:MonitoringSchedule") > definition
