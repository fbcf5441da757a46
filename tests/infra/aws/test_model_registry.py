"""ModelRegistry: the package group, approval notifications, and the optional deploy webhook."""

from __future__ import annotations

import json

from platform_runs import one, platform, policy


def test_group_and_approval_notifications() -> None:
    program = platform("prod")
    group = one(program, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs
    assert group["modelPackageGroupName"] == "churn-prod-models"
    rule = next(
        r
        for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.endswith("approval-changes")
    )
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["churn-prod-models"]},
    }
    target = next(
        t
        for t in program.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.name.endswith("approval-notify")
    )
    assert target.inputs["arn"].endswith(":churn-prod-registry-approvals")


def test_email_subscription_when_configured() -> None:
    subs = platform("prod", notificationEmail="ml@example.com").of_type(
        "aws:sns/topicSubscription:TopicSubscription"
    )
    assert {s.inputs["endpoint"] for s in subs} == {"ml@example.com"}
    assert all(s.inputs["protocol"] == "email" for s in subs)


def test_approval_starts_the_deploy_workflow_through_a_webhook() -> None:
    program = platform(
        "prod",
        deployWebhookUrl="https://api.github.com/repos/acme/churn/dispatches",
        deployWebhookToken="t0k",
    )
    destination = one(program, "aws:cloudwatch/eventApiDestination:EventApiDestination").inputs
    assert destination["invocationEndpoint"] == "https://api.github.com/repos/acme/churn/dispatches"
    assert destination["httpMethod"] == "POST"
    approved = next(
        r
        for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.endswith("-approved")
    )
    assert json.loads(approved.inputs["eventPattern"])["detail"]["ModelApprovalStatus"] == [
        "Approved"
    ]
    target = next(
        t
        for t in program.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.name.endswith("approved-deploy")
    )
    assert target.inputs["inputTransformer"]["inputPaths"] == {"arn": "$.detail.ModelPackageArn"}
    body = json.loads(target.inputs["inputTransformer"]["inputTemplate"])
    assert body == {
        "event_type": "model-approved",
        "client_payload": {"model_package_arn": "<arn>"},
    }
    role_policy = policy(
        next(
            r
            for r in program.of_type("aws:iam/rolePolicy:RolePolicy")
            if r.name.endswith("deploy-policy")
        )
    )
    assert role_policy["Statement"][0]["Action"] == "events:InvokeApiDestination"
    assert not platform("prod").of_type("aws:cloudwatch/eventApiDestination:EventApiDestination")
