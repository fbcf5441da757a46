"""Experiment records, registration, and the evaluation gate that guards promotion."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops.core.errors import GateBlocked
from mlops.pipelines.evaluate import gate
from mlops.pipelines.identity import RunInputs
from mlops.pipelines.registry import (
    NotRegistered,
    approve,
    approved_run,
    gate_against,
    list_runs,
    load_run,
    new_record,
    register,
    save_run,
)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1"


def inputs(params: dict, metric: str = "roc_auc", **changes) -> RunInputs:  # type: ignore[no-untyped-def, type-arg]
    base = RunInputs("d" * 64, "c" * 64, "e" * 64, params, "scikit-learn==1.7.0", metric, 7)
    return replace(base, **changes)


def record(auc: float, dataset: str = "d" * 64):  # type: ignore[no-untyped-def]
    return new_record(
        inputs({"C": auc}, dataset_sha256=dataset),
        {"roc_auc": auc},
        "abc123",
        "s3://art/models/x.tar.gz",
    )


@pytest.fixture
def group(sagemaker) -> str:  # type: ignore[no-untyped-def]
    import uuid

    name = f"g-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    return name


@pytest.mark.parametrize(
    "change",
    [
        {"dataset_sha256": "0" * 64},
        {"contract_sha256": "0" * 64},
        {"code_sha256": "0" * 64},
        {"params": {"a": 2}},
        {"params": {"a": 1, "b": 1}},
        {"framework": "scikit-learn==1.7.1"},
        {"primary_metric": "f1"},
        {"seed": 8},
    ],
    ids=lambda c: next(iter(c)),
)
def test_every_input_of_a_run_changes_its_id(change: dict) -> None:  # type: ignore[type-arg]
    base = inputs({"a": 1})
    assert replace(base, **change).run_id != base.run_id


def test_identical_inputs_name_the_same_run() -> None:
    # Built apart, equal field by field (dict order aside): one run, not two.
    assert inputs({"a": 1, "b": 2}).run_id == inputs({"b": 2, "a": 1}).run_id


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


def test_a_failed_gate_registers_nothing(lake, sagemaker, group: str) -> None:  # type: ignore[no-untyped-def]
    # As the SageMaker pipeline's condition step: the gate comes before registration.
    champion = register(sagemaker, lake, group, record(0.85), IMAGE)
    approve(sagemaker, lake, group, champion, margin=0.01)
    candidate = record(0.855)
    save_run(lake, candidate)
    verdict = gate("roc_auc", 0.855, 0.85, 0.01)
    with pytest.raises(
        NotRegistered,
        match=r"roc_auc=0.8550 does not beat the approved model \(0.8500\) by 0.01; nothing"
        r" registered \(run-\w+ and its evaluation stay in the lake",
    ) as refused:
        register(sagemaker, lake, group, candidate, IMAGE, decision=verdict)
    assert isinstance(refused.value, GateBlocked) and refused.value.run_id == candidate.run_id
    # The record's own verdict (as evaluated) counts when no fresher one is given.
    failed = candidate.replace(gate=verdict.to_dict())
    with pytest.raises(NotRegistered):
        register(sagemaker, lake, group, failed, IMAGE)
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in packages] == [champion.model_package_arn]
    assert load_run(lake, candidate.run_id) == candidate  # the record stays, unregistered
    # A verdict that passed registers it.
    passed = register(
        sagemaker, lake, group, failed, IMAGE, decision=gate("roc_auc", 0.855, 0.85, 0.0)
    )
    assert passed.status == "registered" and passed.model_package_arn.endswith(f"{group}/2")


def test_gate_for_lower_is_better_metrics() -> None:
    approved = new_record(inputs({}, "rmse"), {"rmse": 1.0}, "c")
    better = new_record(inputs({"x": 1}, "rmse"), {"rmse": 0.8}, "c")
    close = new_record(inputs({"x": 2}, "rmse"), {"rmse": 0.95}, "c")
    worse = new_record(inputs({"x": 3}, "rmse"), {"rmse": 1.3}, "c")
    assert gate_against(better, approved, 0.1).passed
    assert not gate_against(close, approved, 0.1).passed  # better, but by less than the margin
    assert not gate_against(worse, approved, 0.0).passed


def test_approving_the_approved_run_again_is_not_a_comparison_with_itself(
    lake, sagemaker, group: str
) -> None:  # type: ignore[no-untyped-def]
    champion = register(sagemaker, lake, group, record(0.85), IMAGE)
    approve(sagemaker, lake, group, champion, margin=0.01)
    again = approve(sagemaker, lake, group, champion, margin=0.01)
    assert again.passed and again.approved is None


def test_runs_are_found_by_id_or_unique_prefix(lake) -> None:  # type: ignore[no-untyped-def]
    from mlops.core.errors import UserError
    from mlops.pipelines.registry import find_run

    for run_id in ("run-aaa111000000", "run-aaa222000000", "run-bbb000000000"):
        save_run(lake, replace(record(0.8), run_id=run_id))
    assert find_run(lake, "run-bbb000000000").run_id == "run-bbb000000000"
    assert find_run(lake, "bbb").run_id == "run-bbb000000000"
    assert find_run(lake, "run-aaa2").run_id == "run-aaa222000000"
    with pytest.raises(UserError, match=r"'aaa' matches 2 runs \(run-aaa111000000, run-aaa222"):
        find_run(lake, "aaa")
    with pytest.raises(UserError, match="no run 'ccc'; known runs: run-aaa111000000, "):
        find_run(lake, "ccc")
    with pytest.raises(UserError, match="no run ''"):
        find_run(lake, "")  # an empty prefix names no run


def test_a_register_interrupted_before_its_record_finds_its_package(
    lake, sagemaker, group: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.pipelines import registry

    candidate = record(0.81)
    real_save = registry.save_run

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt  # SIGINT right after CreateModelPackage

    monkeypatch.setattr(registry, "save_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        register(sagemaker, lake, group, candidate, IMAGE)
    monkeypatch.setattr(registry, "save_run", real_save)
    again = register(sagemaker, lake, group, candidate, IMAGE)  # the rerun
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in packages] == [again.model_package_arn]
    assert load_run(lake, candidate.run_id).model_package_arn == again.model_package_arn


def test_without_a_lock_approval_regates_against_a_champion_approved_meanwhile(
    lake, sagemaker, group: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # On AWS nothing but the registry itself is shared: a rival approved between this approval's
    # read of the champion and its own UpdateModelPackage must be seen, and gated against.
    from mlops.pipelines import registry

    rival = register(sagemaker, lake, group, record(0.80), IMAGE)
    candidate = register(sagemaker, lake, group, record(0.90), IMAGE)
    real = registry.approved_packages
    calls = []

    def rival_sneaks_in(sm, name):  # type: ignore[no-untyped-def]
        seen = real(sm, name)
        calls.append(seen)
        if len(calls) == 1:  # right after the first read, another run takes over
            sagemaker.update_model_package(
                ModelPackageArn=rival.model_package_arn, ModelApprovalStatus="Approved"
            )
            save_run(lake, rival.replace(status="approved"))
        return seen

    monkeypatch.setattr(registry, "approved_packages", rival_sneaks_in)
    decision = approve(sagemaker, lake, group, candidate, margin=0.01)
    assert decision.passed and decision.approved == 0.80  # gated against the rival
    assert load_run(lake, candidate.run_id).previous_run == rival.run_id
    assert approved_run(sagemaker, lake, group).run_id == candidate.run_id  # type: ignore[union-attr]

    worse = register(sagemaker, lake, group, record(0.70), IMAGE)
    calls.clear()
    better = register(sagemaker, lake, group, record(0.95), IMAGE)

    def better_sneaks_in(sm, name):  # type: ignore[no-untyped-def]
        seen = real(sm, name)
        calls.append(seen)
        if len(calls) == 1:
            sagemaker.update_model_package(
                ModelPackageArn=better.model_package_arn, ModelApprovalStatus="Approved"
            )
            save_run(lake, better.replace(status="approved"))
        return seen

    monkeypatch.setattr(registry, "approved_packages", better_sneaks_in)
    with pytest.raises(GateBlocked):  # it passed against 0.90, not against the new 0.95
        approve(sagemaker, lake, group, worse.replace(metrics={"roc_auc": 0.92}), margin=0.01)
    status = sagemaker.describe_model_package(ModelPackageName=worse.model_package_arn)
    assert status["ModelApprovalStatus"] == "PendingManualApproval"
