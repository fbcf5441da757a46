"""Drift tests against SciPy, the dataset verdict, the metric and the retraining decision."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.pipelines.drift import (
    column_drift,
    decide,
    drift_report,
    ks_pvalue,
    publish,
    z_test_pvalue,
)


def test_ks_pvalue_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")  # only this comparison needs SciPy
    rng = np.random.default_rng(5)
    for shift in (0.0, 0.1, 0.3):
        a, b = rng.normal(size=800), rng.normal(shift, size=200)
        assert ks_pvalue(a, b) == pytest.approx(
            stats.ks_2samp(a, b, method="asymp").pvalue, abs=0.01
        )


def test_z_test_on_binary_columns() -> None:
    a = np.array([0] * 60 + [1] * 40, dtype=float)
    assert z_test_pvalue(a, a.copy()) == pytest.approx(1.0)
    assert z_test_pvalue(a, np.array([0] * 20 + [1] * 80, dtype=float)) < 0.001
    assert column_drift("annual", a, a).test == "z_test"


def test_large_references_use_distance_measures() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=5000)
    assert column_drift("x", ref, rng.normal(size=500)).test == "wasserstein_normed"
    assert not column_drift("x", ref, rng.normal(size=500)).drifted
    assert column_drift("x", ref, rng.normal(0.5, size=500)).drifted
    categories = rng.integers(0, 3, 5000).astype(float)
    assert column_drift("c", categories, categories[:500]).test == "jensen_shannon"


def test_dataset_verdict_is_the_drifted_share() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(900, 4))
    same = drift_report(ref, rng.normal(size=(300, 4)), ["a", "b", "c", "d"])
    moved = drift_report(ref, rng.normal(size=(300, 4)) + [2, 2, 0, 0], ["a", "b", "c", "d"])
    assert not same.drifted and same.score <= 0.25
    assert moved.drifted and moved.score == 0.5
    assert [c.column for c in moved.columns if c.drifted] == ["a", "b"]


def test_decision_publishes_nothing_and_keeps_below_threshold() -> None:
    rng = np.random.default_rng(0)
    report = drift_report(rng.normal(size=(900, 2)), rng.normal(size=(300, 2)), ["a", "b"])
    decision = decide(report, threshold=0.6)
    assert not decision.retrain and "keep the model" in decision.reason


def test_drift_publishes_the_metric_and_starts_the_pipeline(moto_endpoint: str, sagemaker) -> None:  # type: ignore[no-untyped-def]
    import json

    import boto3

    rng = np.random.default_rng(0)
    report = drift_report(rng.normal(size=(900, 2)), rng.normal(size=(300, 2)) + 3, ["a", "b"])
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-east-1")
    publish(cloudwatch, "drift-endpoint", report)
    points = cloudwatch.get_metric_statistics(
        Namespace="mlops-stack/Drift",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Endpoint", "Value": "drift-endpoint"}],
        StartTime=0,
        EndTime=4_000_000_000,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [1.0]
    role = "arn:aws:iam::123456789012:role/r"
    sagemaker.create_pipeline(
        PipelineName="drift-pipeline",
        RoleArn=role,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )
    decision = decide(report, threshold=0.2, sagemaker=sagemaker, pipeline="drift-pipeline")
    assert decision.retrain and decision.pipeline_execution_arn.startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/drift-pipeline/execution/"
    )
