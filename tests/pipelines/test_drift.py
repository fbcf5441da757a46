"""The drift engine: Evidently's default rules, exact verdicts, missing values, categories,
edge cases, the dataset verdict, the metric and the retraining decision."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops.core.errors import MonitoringInputError
from mlops.pipelines.drift import (
    DriftOptions,
    FeatureRule,
    compare,
    decide,
    drift_report,
)


def with_missing(x: np.ndarray, rng: np.random.Generator, share: float = 0.02) -> np.ndarray:
    x = x.astype(float).copy()
    x[rng.random(len(x)) < share] = np.nan
    return x


def categories(
    rng: np.random.Generator, n: int, levels: list[str], p: list[float], missing: float = 0.02
) -> pa.Array:
    values = list(rng.choice(levels, n, p=p))
    return pa.array([None if rng.random() < missing else v for v in values])


def windows(n: int, drifted: bool, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    frame: dict[str, object] = {
        "steady": with_missing(rng.normal(5, 2, n), rng),
        "shifted": with_missing(rng.normal(5 + (1.0 if drifted else 0), 2, n), rng),
        "wider": with_missing(rng.normal(0, 3.0 if drifted else 1.0, n), rng),
        "surge": with_missing(rng.normal(0, 1, n), rng, 0.25 if drifted else 0.02),
        "plan": categories(
            rng, n, ["basic", "pro", "team"], [0.2, 0.5, 0.3] if drifted else [0.5, 0.3, 0.2]
        ),
        "region": categories(rng, n, ["eu", "us", "apac"], [0.4, 0.4, 0.2]),
    }
    if drifted:  # a category the reference never saw
        region = frame["region"].to_pylist()  # type: ignore[attr-defined]
        frame["region"] = pa.array(["latam" if i % 4 == 0 else v for i, v in enumerate(region)])
    return frame


def test_injected_drift_is_found_and_steady_features_are_not() -> None:
    report = compare(windows(20_000, False, 1), windows(20_000, True, 2))
    verdicts = {f.feature: f.drifted for f in report.features}
    assert verdicts == {
        "steady": False,
        "shifted": True,  # mean shift
        "wider": True,  # variance change
        "surge": False,  # the distribution of present values is unchanged...
        "plan": True,  # category frequencies
        "region": True,  # a new category
    }
    surge = next(f for f in report.features if f.feature == "surge")
    assert surge.missing_drifted and surge.missing_current > 0.2  # ...its missing rate is not
    assert report.missing_drifted == ["surge"]  # 2% missing everywhere else: not news
    region = next(f for f in report.features if f.feature == "region")
    assert region.new_categories == ["latam"] and region.vanished_categories == []
    assert {f.test for f in report.features} == {"wasserstein", "jensenshannon"}
    assert report.score == round(4 / 6, 4) and report.drifted
    # A steady window against its own kind is quiet on every signal.
    quiet = compare(windows(20_000, False, 1), windows(20_000, False, 3))
    assert quiet.drifted_features == [] and quiet.missing_drifted == []


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.095, 0.1, 0.105, 0.2, 0.5])
def test_the_binned_distance_gives_the_exact_verdict(shift: float) -> None:
    rng = np.random.default_rng(int(shift * 1000))
    ref, cur = rng.normal(0, 1, 60_000), rng.normal(shift, 1, 60_000)
    feature = compare({"x": ref}, {"x": cur}).features[0]
    exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert feature.test == "wasserstein"
    assert abs(feature.statistic - exact) <= feature.error + 1e-12  # type: ignore[operator]
    assert feature.drifted is bool(exact >= 0.1)  # the verdict is always the exact one


def test_small_references_use_scipys_tests_as_evidently_does() -> None:
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=800), rng.normal(0.2, 1, 300)
    ks = compare({"x": ref}, {"x": cur}).features[0]
    assert ks.test == "ks" and ks.statistic == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    levels = np.array([1.0, 2.0, 3.0])
    a, b = rng.choice(levels, 900), rng.choice(levels, 400, p=[0.5, 0.3, 0.2])
    chi = compare({"x": a}, {"x": b}).features[0]
    counts_a = np.array([(a == v).sum() for v in levels])
    counts_b = np.array([(b == v).sum() for v in levels])
    expected = stats.chisquare(counts_b, counts_a * len(b) / len(a)).pvalue
    assert chi.test == "chisquare" and chi.statistic == pytest.approx(expected)
    binary = compare(
        {"x": np.array([0.0] * 60 + [1.0] * 40)}, {"x": np.array([0.0] * 20 + [1.0] * 80)}
    )
    assert binary.features[0].test == "z" and binary.features[0].drifted


def test_large_categorical_references_use_jensen_shannon() -> None:
    rng = np.random.default_rng(3)
    ref = categories(rng, 5000, ["a", "b", "c"], [0.5, 0.3, 0.2], missing=0)
    cur = categories(rng, 2000, ["a", "b", "c"], [0.2, 0.3, 0.5], missing=0)
    feature = compare({"c": ref}, {"c": cur}).features[0]
    shares = lambda arr: np.array([arr.to_pylist().count(k) / len(arr) for k in "abc"])  # noqa: E731
    assert feature.test == "jensenshannon" and feature.drifted
    assert feature.statistic == pytest.approx(jensenshannon(shares(ref), shares(cur)))
    # Numbers with at most 5 distinct values are compared by their frequencies, too.
    few = compare({"n": rng.choice([0.0, 1.0, 2.0], 5000)}, {"n": rng.choice([0.0, 1.0], 900)})
    assert few.features[0].test == "jensenshannon" and few.features[0].drifted


def test_booleans_and_integers_read_as_categories() -> None:
    flags = pa.array([True, False, None] * 500)
    assert compare({"f": flags}, {"f": flags}).features[0].kind == "categorical"
    counts = pa.array([1, 2, 3, 4] * 400)
    feature = compare({"n": counts}, {"n": pa.array([1, 2, 3, 4, 9] * 300)}).features[0]
    assert feature.kind == "categorical" and feature.new_categories == ["9"]


def test_edge_cases_have_a_defined_result_or_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    ref = {"x": rng.normal(size=2000), "y": rng.normal(size=2000)}
    with pytest.raises(MonitoringInputError, match="current window has no rows"):
        compare(ref, {"x": np.array([]), "y": np.array([])})
    with pytest.raises(MonitoringInputError, match="current window lacks feature.*: y"):
        compare(ref, {"x": rng.normal(size=10)})
    with pytest.raises(MonitoringInputError, match="x is numeric in the reference but categorical"):
        compare(ref, {"x": pa.array(["a"] * 10), "y": rng.normal(size=10)})
    # A constant column: no drift against itself, drift against another constant.
    same = compare({"k": np.full(2000, 3.0)}, {"k": np.full(500, 3.0)}).features[0]
    moved = compare({"k": np.full(2000, 3.0)}, {"k": np.full(500, 4.0)}).features[0]
    assert (same.drifted, moved.drifted) == (False, True)
    # All missing in the current window: untestable, said so, and the missing rate flags it.
    gone = compare(ref, {"x": np.full(100, np.nan), "y": rng.normal(size=100)}).features[0]
    assert gone.statistic is None and not gone.drifted and gone.missing_drifted
    assert "no present values in the current window" in gone.note
    # One row: a defined p-value, not a crash or a NaN verdict.
    one = compare({"x": rng.normal(size=500)}, {"x": np.array([0.1])}).features[0]
    assert one.test == "ks" and 0 <= one.statistic <= 1  # type: ignore[operator]
    # A column of mixed types in a categorical window: categories by their text.
    mixed = compare({"m": ["a", 1, 2.0, None] * 100}, {"m": ["a", "1", "2", None] * 100})
    assert not mixed.features[0].drifted and mixed.features[0].new_categories == []


def test_rules_and_thresholds_are_configurable() -> None:
    rng = np.random.default_rng(4)
    ref, cur = {"x": rng.normal(size=5000)}, {"x": rng.normal(0.15, 1, 5000)}
    assert compare(ref, cur).features[0].drifted  # wasserstein 0.15 >= 0.1
    lenient = DriftOptions(rules={"x": FeatureRule(threshold=0.3)})
    assert not compare(ref, cur, options=lenient).features[0].drifted
    psi = compare(ref, cur, options=DriftOptions(rules={"x": FeatureRule(test="psi")}))
    assert psi.features[0].test == "psi" and psi.features[0].threshold == 0.2
    with pytest.raises(MonitoringInputError, match="unknown test 'magic'"):
        DriftOptions(rules={"x": FeatureRule(test="magic")})  # type: ignore[arg-type]
    with pytest.raises(MonitoringInputError, match="needs numbers"):
        compare(
            {"c": pa.array(["a"] * 9)},
            {"c": pa.array(["b"] * 9)},
            options=DriftOptions(rules={"c": FeatureRule(test="ks")}),
        )


def test_dataset_verdict_is_the_drifted_share() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(900, 4))
    same = drift_report(ref, rng.normal(size=(300, 4)), ["a", "b", "c", "d"])
    moved = drift_report(ref, rng.normal(size=(300, 4)) + [2, 2, 0, 0], ["a", "b", "c", "d"])
    assert not same.drifted and same.score <= 0.25
    assert moved.drifted and moved.score == 0.5 and moved.drifted_features == ["a", "b"]
    strict = DriftOptions(share=0.75)
    assert not drift_report(
        ref, rng.normal(size=(300, 4)) + [2, 2, 0, 0], list("abcd"), strict
    ).drifted


def test_decision_publishes_nothing_and_keeps_below_threshold() -> None:
    rng = np.random.default_rng(0)
    report = drift_report(rng.normal(size=(900, 2)), rng.normal(size=(300, 2)), ["a", "b"])
    decision = decide(report, threshold=0.6)
    assert not decision.retrain and "keep the model" in decision.reason


def test_a_retrain_verdict_is_only_a_verdict() -> None:
    rng = np.random.default_rng(0)
    report = drift_report(rng.normal(size=(900, 2)), rng.normal(size=(300, 2)) + 3, ["a", "b"])
    decision = decide(report, threshold=0.2)
    assert decision.retrain and "retrain (drifted: a, b)" in decision.reason
    assert not decide(report, threshold=1.0).retrain  # the score is 1.0: at the threshold, keep


class Recorded:
    """A trigger and a metric sink that remember what they were asked."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.published: list[tuple[str, str, str, float]] = []

    def start(self, reason: str) -> str:
        self.started.append(reason)
        return f"run-{len(self.started)}"

    def publish(self, namespace: str, metric: str, endpoint: str, value: float) -> None:
        self.published.append((namespace, metric, endpoint, value))


@pytest.mark.parametrize("shift", [0.0, 3.0])
def test_the_verdict_publishes_acts_only_on_retrain_and_stores_one_report(
    shift: float, lake
) -> None:  # type: ignore[no-untyped-def]
    import json

    from mlops.core.contracts import DRIFT_REPORT
    from mlops.pipelines.verdict import conclude

    rng = np.random.default_rng(0)
    report = drift_report(rng.normal(size=(900, 2)), rng.normal(size=(300, 2)) + shift, ["a", "b"])
    seen = Recorded()
    outcome = conclude(
        [("ref -> now", report)],
        endpoint="ep",
        threshold=0.2,
        store=lake,
        trigger=seen,
        metrics=seen,
    )
    assert seen.published == [("mlops-stack/Drift", "DriftScore", "ep", report.score)]
    assert outcome.decision.retrain is (shift > 0)
    assert seen.started == ([outcome.decision.reason] if shift else [])
    assert outcome.started == ("run-1" if shift else "")
    stored = json.loads(lake.get(*DRIFT_REPORT))
    assert stored == json.loads(lake.read_uri(outcome.stored))
    assert stored["endpoint"] == "ep" and stored["comparisons"][0]["label"] == "ref -> now"
    assert stored["decision"] == {
        "retrain": outcome.decision.retrain,
        "reason": outcome.decision.reason,
        "started": outcome.started,
    }


def test_the_aws_adapters_publish_the_metric_and_start_the_pipeline(  # type: ignore[no-untyped-def]
    moto_endpoint: str, sagemaker
) -> None:
    import json

    import boto3

    from mlops.pipelines.adapters.aws import CloudWatchMetrics, SageMakerPipelineTrigger

    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-east-1")
    CloudWatchMetrics(cloudwatch).publish("mlops-stack/Drift", "DriftScore", "drift-endpoint", 1.0)
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
    started = SageMakerPipelineTrigger(sagemaker, "drift-pipeline").start("drift")
    assert started.startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/drift-pipeline/execution/"
    )


@pytest.mark.parametrize("factor", [1 - 1e-6, 1 + 1e-6])
def test_a_distance_at_the_threshold_is_computed_exactly(factor: float) -> None:
    rng = np.random.default_rng(9)
    ref = rng.normal(0, 1, 60_000)
    cur = ref + 0.1 * np.std(ref) * factor  # the same sample moved by a hair either side of 0.1
    feature = compare({"x": ref}, {"x": cur}).features[0]
    assert feature.error == 0.0  # inside the grid's bracket: the exact distance was computed
    assert feature.drifted is (factor > 1)
    far = compare({"x": ref}, {"x": ref + 0.5}).features[0]
    assert far.error > 0 and far.drifted  # far from it: the bracket alone decides
