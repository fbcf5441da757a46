"""Experiment records, registration, and the evaluation gate that guards promotion."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops.core.errors import GateBlocked
from mlops.pipelines.registry import (
    approve,
    approved_run,
    gate,
    list_runs,
    load_run,
    new_record,
    register,
    run_id,
    save_run,
)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1"


def record(auc: float, dataset: str = "d" * 64):  # type: ignore[no-untyped-def]
    return new_record(
        dataset, {"C": auc}, {"roc_auc": auc}, "roc_auc", "abc123", "s3://art/models/x.tar.gz"
    )


@pytest.fixture
def group(sagemaker) -> str:  # type: ignore[no-untyped-def]
    import uuid

    name = f"g-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    return name


def test_run_ids_name_their_inputs() -> None:
    assert run_id("d", {"a": 1}, "c") == run_id("d", {"a": 1}, "c")
    assert run_id("d", {"a": 1}, "c") != run_id("d", {"a": 2}, "c")


def test_records_round_trip_and_list_in_order(lake) -> None:  # type: ignore[no-untyped-def]
    first, second = record(0.8), replace(record(0.9), created_at="9999-01-01T00:00:00+00:00")
    save_run(lake, second)
    save_run(lake, first)
    assert load_run(lake, first.run_id) == first
    assert [r.run_id for r in list_runs(lake)] == [first.run_id, second.run_id]


def test_register_once_pending_approval(lake, sagemaker, group: str) -> None:  # type: ignore[no-untyped-def]
    registered = register(sagemaker, lake, group, record(0.8), IMAGE)
    assert registered.status == "registered" and registered.model_package_arn.endswith(f"{group}/1")
    described = sagemaker.describe_model_package(ModelPackageName=registered.model_package_arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert register(sagemaker, lake, group, registered, IMAGE) == registered  # idempotent
    assert (
        len(sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"])
        == 1
    )
    assert load_run(lake, registered.run_id).model_package_arn == registered.model_package_arn


def test_gate_blocks_a_candidate_that_does_not_beat_the_approved_model(
    lake, sagemaker, group: str
) -> None:  # type: ignore[no-untyped-def]
    champion = register(sagemaker, lake, group, record(0.85), IMAGE)
    first = approve(sagemaker, lake, group, champion, margin=0.01)
    assert first.passed and first.approved is None  # nothing approved yet: any candidate passes
    assert approved_run(sagemaker, lake, group).run_id == champion.run_id  # type: ignore[union-attr]

    close = register(sagemaker, lake, group, record(0.855), IMAGE)
    with pytest.raises(
        GateBlocked, match=r"roc_auc=0.8550 does not beat the approved model \(0.8500\) by 0.01"
    ):
        approve(sagemaker, lake, group, close, margin=0.01)
    status = sagemaker.describe_model_package(ModelPackageName=close.model_package_arn)[
        "ModelApprovalStatus"
    ]
    assert status == "PendingManualApproval"  # nothing was promoted

    better = register(sagemaker, lake, group, record(0.9), IMAGE)
    decision = approve(sagemaker, lake, group, better, margin=0.01)
    assert decision.passed and decision.approved == 0.85
    assert approved_run(sagemaker, lake, group).run_id == better.run_id  # type: ignore[union-attr]


def test_gate_for_lower_is_better_metrics() -> None:
    approved = new_record("d", {}, {"rmse": 1.0}, "rmse", "c", "")
    assert gate(new_record("d", {"x": 1}, {"rmse": 0.8}, "rmse", "c", ""), approved, 0.1).passed
    assert not gate(
        new_record("d", {"x": 2}, {"rmse": 0.95}, "rmse", "c", ""), approved, 0.1
    ).passed
