"""Fault injection with botocore's Stubber: retries, actionable errors, and no half-done work."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlops.core.errors import AwsCallFailed, DataError
from mlops.pipelines.aws import call
from mlops.pipelines.executors import LocalExecutor, PipelineFailed, SageMakerExecutor

ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-prod-training/execution/abc"


@pytest.fixture
def sm():  # type: ignore[no-untyped-def]
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("AccessDeniedException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_transient_errors_are_retried_with_backoff(sm, code: str, status: int) -> None:  # type: ignore[no-untyped-def]
    client, stub = sm
    stub.add_client_error("list_model_packages", code, "transient", http_status_code=status)
    stub.add_client_error("list_model_packages", code, "transient", http_status_code=status)
    stub.add_response("list_model_packages", {"ModelPackageSummaryList": []})
    waits: list[float] = []
    result = call("sagemaker.ListModelPackages", client.list_model_packages, sleep=waits.append)
    assert result["ModelPackageSummaryList"] == []
    # Exponential backoff with jitter: wait n lies in [0.2 * 2**(n-1), twice that).
    assert len(waits) == 2
    assert 0.2 <= waits[0] < 0.4 and 0.4 <= waits[1] < 0.8
    stub.assert_no_pending_responses()


def test_persistent_access_denied_ends_in_an_actionable_error(sm) -> None:  # type: ignore[no-untyped-def]
    client, stub = sm
    for _ in range(3):
        stub.add_client_error(
            "list_model_packages",
            "AccessDeniedException",
            "not authorized to perform sagemaker:ListModelPackages",
        )
    with pytest.raises(AwsCallFailed) as info:
        call(
            "sagemaker.ListModelPackages",
            client.list_model_packages,
            attempts=3,
            sleep=lambda _s: None,
        )
    message = str(info.value)
    assert "sagemaker.ListModelPackages failed (AccessDeniedException)" in message
    assert (
        "gave up after 3 attempts" in message
        and "Check that the role or user has this permission" in message
    )


def test_resource_limit_is_not_retried_and_says_how_to_fix(sm) -> None:  # type: ignore[no-untyped-def]
    client, stub = sm
    # One queued error: a retry would hit the Stubber's "no more responses" error instead.
    stub.add_client_error(
        "start_pipeline_execution",
        "ResourceLimitExceeded",
        "account-level service limit 'ml.g5.2xlarge for training job usage' is 0",
    )
    with pytest.raises(AwsCallFailed, match="Request a quota increase in Service Quotas"):
        SageMakerExecutor(client, "churn-prod-training").start({"TriggeredBy": "cli"})
    stub.assert_no_pending_responses()


def test_a_failed_training_job_fails_the_run_with_sagemakers_reason(sm) -> None:  # type: ignore[no-untyped-def]
    client, stub = sm
    stub.add_response(
        "describe_pipeline_execution",
        {"PipelineExecutionStatus": "Executing"},
        {"PipelineExecutionArn": ARN},
    )
    stub.add_response(
        "describe_pipeline_execution",
        {
            "PipelineExecutionStatus": "Failed",
            "FailureReason": "Step TrainModel failed: ClientError: CUDA out of memory",
        },
        {"PipelineExecutionArn": ARN},
    )
    waits: list[float] = []
    with pytest.raises(PipelineFailed, match="CUDA out of memory") as info:
        SageMakerExecutor(client, "churn-prod-training").wait(ARN, poll_s=5, sleep=waits.append)
    assert waits == [5] and "/aws/sagemaker/TrainingJobs" in str(info.value)


def test_executor_stops_at_a_failed_step_so_nothing_is_registered() -> None:
    ran: list[str] = []

    def fail() -> dict[str, object]:
        raise DataError("train.csv", ["loss is NaN"])

    results = LocalExecutor(show_progress=False).run(
        [
            ("ingest", lambda: ran.append("ingest") or {}),
            ("train", fail),
            ("evaluate", lambda: ran.append("evaluate") or {}),
            ("register", lambda: ran.append("register") or {}),
        ]
    )
    assert [(r.name, r.status) for r in results] == [
        ("ingest", "ok"),
        ("train", "failed"),
        ("evaluate", "skipped"),
        ("register", "skipped"),
    ]
    assert ran == ["ingest"] and "loss is NaN" in results[1].error
