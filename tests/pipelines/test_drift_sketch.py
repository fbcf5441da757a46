"""Window summaries: merged chunk summaries equal the one-pass summary exactly, the verdicts
equal main's engine on the anchor data, each test's threshold is a boundary on the right side,
swapped reference columns are caught, streaming reads give the in-memory verdicts, and a window
too small for a verdict raises no alarm."""

from __future__ import annotations

import importlib.util
import json
import math
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from mlops.core.errors import MonitoringInputError
from mlops.pipelines import windows as windows_module
from mlops.pipelines.drift import (
    MIN_ROWS,
    DriftOptions,
    FeatureRule,
    compare,
    compare_sources,
    compare_summaries,
    decide,
)
from mlops.pipelines.sketch import (
    CategoricalSummary,
    NumericSummary,
    WindowSummary,
    from_json,
    summarize,
    to_json,
)
from mlops.pipelines.windows import file_source, memory_source

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = json.loads((Path(__file__).parent / "drift_anchor.json").read_text())


def bench() -> Any:
    """bench/bench_drift.py: the anchor data (14 numeric, 6 categorical, 6 drifted, a surge)."""
    spec = importlib.util.spec_from_file_location("bench_drift", ROOT / "bench" / "bench_drift.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def anchor(rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    data = bench()

    def frame(cols: dict[str, np.ndarray]) -> dict[str, Any]:
        return {k: pa.array(list(v)) if v.dtype == object else v for k, v in cols.items()}

    return frame(data.window(rows, 1, False)), frame(data.window(rows, 2, True))


def random_window(rng: np.random.Generator, rows: int) -> dict[str, Any]:
    x = rng.normal(3, 2, rows)
    x[rng.random(rows) < 0.05] = np.nan
    x[rng.random(rows) < 0.01] = np.inf
    few = rng.integers(0, 3, rows).astype(float)
    few[rng.random(rows) < 0.1] = np.nan
    plan = rng.choice(["basic", "pro", "team", "free"], rows).astype(object)
    plan[rng.random(rows) < 0.03] = None
    flag = pa.array(rng.random(rows) < 0.3)
    return {"x": x, "few": few, "plan": pa.array(list(plan)), "flag": flag}


def assert_same(a: WindowSummary, b: WindowSummary) -> None:
    assert a.rows == b.rows and a.features.keys() == b.features.keys()
    for name, one in a.features.items():
        other = b.features[name]
        if isinstance(one, CategoricalSummary):
            assert isinstance(other, CategoricalSummary)
            assert (one.rows, one.counts, one.missing) == (other.rows, other.counts, other.missing)
            continue
        assert isinstance(other, NumericSummary)
        assert (one.rows, one.present, one.low, one.high) == (
            other.rows, other.present, other.low, other.high,
        )  # fmt: skip
        assert np.array_equal(one.hist, other.hist)
        assert one.values == other.values
        assert (one.slots is None) == (other.slots is None)
        if one.slots is not None:
            assert np.array_equal(one.slots, other.slots)
        assert (one.raw is None) == (other.raw is None)
        if one.raw is not None:
            assert np.array_equal(np.sort(one.raw), np.sort(other.raw))  # type: ignore[arg-type]
        # mean and variance merge by Chan's formula: equal within float rounding
        assert one.mean == pytest.approx(other.mean, rel=1e-12, abs=1e-12)
        assert one.m2 == pytest.approx(other.m2, rel=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_merged_chunk_summaries_equal_the_one_pass_summary_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(500, 30_000))  # both sides of RAW_LIMIT
    window = random_window(rng, rows)
    names = list(window)
    reference = summarize(window, names, moments=True)
    small = summarize({k: v[:400] for k, v in window.items()}, names)  # with KS points
    for spec in (reference.spec(), small.spec()):
        whole = summarize(window, names, spec, moments=True)
        cuts = np.sort(rng.choice(np.arange(1, rows), int(rng.integers(1, 12)), replace=False))
        bounds = [0, *cuts.tolist(), rows]
        merged = WindowSummary()
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            chunk = {k: v[start:stop] for k, v in window.items()}
            merged = merged.merge(summarize(chunk, names, spec, moments=True))
        assert_same(merged, whole)
    assert isinstance(small.features["x"], NumericSummary)
    assert small.spec()["x"].points is not None  # the exact-KS counts were merged too


def test_a_feature_with_many_values_in_any_chunk_has_many_values_merged() -> None:
    spec = summarize({"x": np.array([0.0, 10.0])}, ["x"]).spec()
    few = summarize({"x": np.array([1.0, 2.0, 3.0])}, ["x"], spec)
    more = summarize({"x": np.array([4.0, 5.0, 6.0])}, ["x"], spec)
    assert few.merge(few).features["x"].values == {1.0: 2, 2.0: 2, 3.0: 2}  # type: ignore[union-attr]
    assert few.merge(more).features["x"].values is None  # six distinct values: many


@pytest.mark.parametrize("rows", [800, 20_000])
def test_verdicts_equal_mains_engine_on_the_anchor_data(rows: int) -> None:
    reference, current = anchor(rows)
    report = compare(reference, current)
    expected = ANCHOR[str(rows)]
    for f in report.features:
        want = expected[f.feature]
        assert (f.test, f.drifted, f.missing_drifted) == (
            want["test"], want["drifted"], want["missing_drifted"],
        ), f.feature  # fmt: skip
        assert f.statistic == pytest.approx(want["statistic"], abs=max(f.error, 1e-9)), f.feature
    assert sorted(report.drifted_features) == sorted(
        k for k, v in expected.items() if v["drifted"]
    )


def test_chunked_parquet_and_csv_give_the_in_memory_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, current = anchor(20_000)
    for name, window in (("ref", reference), ("cur", current)):
        table = pa.table(window)
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=3000)
        pv.write_csv(table, tmp_path / f"{name}.csv")
    monkeypatch.setattr(windows_module, "CHUNK_ROWS", 2500)  # many chunks per window
    monkeypatch.setattr(windows_module, "CSV_BLOCK", 400_000)
    whole = compare(reference, current)
    for suffix in ("parquet", "csv"):
        ref = file_source(tmp_path / f"ref.{suffix}")
        cur = file_source(tmp_path / f"cur.{suffix}")
        assert len(list(cur.chunks(["n0"]))) >= 8
        report = compare_sources(ref, cur, list(reference))
        for a, b in zip(report.features, whole.features, strict=True):
            assert (a.test, a.drifted, a.missing_drifted) == (b.test, b.drifted, b.missing_drifted)
            assert a.statistic == pytest.approx(b.statistic, rel=1e-9), (suffix, a.feature)
            assert a.psi == pytest.approx(b.psi, rel=1e-9)


def test_a_threshold_is_the_exact_boundary_of_each_test() -> None:
    """Distances drift at their threshold (>=); KS at p <= threshold; chi-square and z below."""
    rng = np.random.default_rng(3)
    ref = {"x": rng.normal(0, 1, 600), "c": pa.array(list(rng.choice(["a", "b", "c"], 600))),
           "z": pa.array(list(rng.choice(["a", "b"], 600)))}  # fmt: skip
    cur = {"x": rng.normal(0.2, 1, 500), "c": pa.array(list(rng.choice(["a", "b", "c"], 500))),
           "z": pa.array(list(rng.choice(["a", "b"], 500, p=[0.45, 0.55])))}  # fmt: skip
    tests = {"x": ["ks", "wasserstein", "psi"], "c": ["chisquare", "jensenshannon", "psi"],
             "z": ["z"]}  # fmt: skip
    expected = {"ks": True, "wasserstein": True, "psi": True, "jensenshannon": True,
                "chisquare": False, "z": False}  # fmt: skip
    for feature, names in tests.items():
        for test in names:
            probe = DriftOptions(rules={feature: FeatureRule(test=test)})  # type: ignore[arg-type]
            found = compare(ref, cur, [feature], probe).features[0]
            assert found.error == 0.0 and found.statistic is not None
            at = DriftOptions(rules={feature: FeatureRule(test, found.statistic)})  # type: ignore[arg-type]
            feature_at = compare(ref, cur, [feature], at).features[0]
            assert feature_at.statistic == found.statistic
            assert feature_at.drifted is expected[test], (feature, test)
    # The dataset drifts when exactly the share of its features drifts.
    report = compare(ref, cur, ["x", "c"], DriftOptions(share=0.5))
    assert report.score == 0.5 and report.drifted and "(share 0.5 >= 0.5): drift" in report.verdict


def test_a_swapped_or_different_reference_column_is_caught() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    good = {"age": rng.normal(40, 10, n), "income": rng.lognormal(10, 0.5, n),
            "plan": pa.array(list(rng.choice(["a", "b"], n)))}  # fmt: skip
    current = {"age": rng.normal(40, 10, n), "income": rng.lognormal(10, 0.5, n),
               "plan": pa.array(list(rng.choice(["a", "b"], n)))}  # fmt: skip
    assert compare(good, current).drifted_features == []
    swapped = {"age": good["income"], "income": good["age"], "plan": good["plan"]}
    assert sorted(compare(swapped, current).drifted_features) == ["age", "income"]
    mixed = "plan is numeric in the reference but categorical"
    with pytest.raises(MonitoringInputError, match=mixed):
        compare({**good, "plan": good["age"]}, current)
    with pytest.raises(MonitoringInputError, match="reference window lacks feature.*: income"):
        compare({"age": good["age"]}, current, ["age", "income"])
    # A stored summary stands in for the reference: a missing feature is caught there too.
    summary = summarize(good, ["age", "plan"], moments=True)
    lacks = "reference window lacks feature.*: income"
    with pytest.raises(MonitoringInputError, match=lacks):
        compare_summaries(summary, summarize(current, ["age", "income"], summary.spec()),
                          ["age", "income"])  # fmt: skip


def test_a_window_under_the_minimum_size_warns_and_raises_no_alarm() -> None:
    from mlops.core.contracts import DRIFT_METRIC
    from mlops.pipelines.verdict import conclude

    rng = np.random.default_rng(1)
    reference = {"x": rng.normal(0, 1, 2000), "y": rng.normal(0, 1, 2000)}
    tiny = {"x": rng.normal(9, 1, MIN_ROWS - 1), "y": rng.normal(9, 1, MIN_ROWS - 1)}
    report = compare(reference, tiny)
    assert report.drifted_features == ["x", "y"]  # each feature still says what it saw
    assert not report.drifted and f"{MIN_ROWS - 1} rows, under the {MIN_ROWS}" in report.warning
    assert "no verdict" in report.verdict
    assert not decide(report, threshold=0.1).retrain

    published: list[tuple[str, float]] = []
    started: list[str] = []

    class Store:
        def put(self, place: str, key: str, body: bytes) -> None:
            pass

        def uri(self, place: str, key: str) -> str:
            return f"mem://{place}/{key}"

    class Metrics:
        def publish(self, namespace: str, name: str, endpoint: str, value: float) -> None:
            published.append((name, value))

    class Trigger:
        def start(self, reason: str) -> str:
            started.append(reason)
            return "started"

    outcome = conclude([("tiny", report)], endpoint="e", threshold=0.1, store=Store(),  # type: ignore[arg-type]
                       trigger=Trigger(), metrics=Metrics())  # type: ignore[arg-type]  # fmt: skip
    assert published == [] and started == [] and not outcome.decision.retrain
    shifted = {"x": rng.normal(9, 1, MIN_ROWS), "y": rng.normal(9, 1, MIN_ROWS)}
    enough = compare(reference, shifted)
    assert enough.drifted and not enough.warning
    conclude([("enough", enough)], endpoint="e", threshold=0.1, store=Store(),  # type: ignore[arg-type]
             trigger=Trigger(), metrics=Metrics())  # type: ignore[arg-type]  # fmt: skip
    assert published == [(DRIFT_METRIC, 1.0)] and len(started) == 1


def test_the_reference_summary_travels_in_the_artifact(tmp_path: Path) -> None:
    import io

    from mlops.pipelines.data import Table
    from mlops.pipelines.reference import (
        REFERENCE_FILE,
        SAMPLE_ROWS,
        SUMMARY_FILE,
        read_reference,
        read_reference_summary,
        reference_files,
    )

    rng = np.random.default_rng(2)

    def artifact(rows: int) -> bytes:
        values = np.column_stack([rng.normal(0, 1, rows), rng.normal(5, 2, rows)])
        files = reference_files(Table(("a", "b"), values), ["a", "b"])
        assert set(files) == {REFERENCE_FILE, SUMMARY_FILE}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, body in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        return buffer.getvalue()

    big = artifact(SAMPLE_ROWS + 5000)
    summary = read_reference_summary(big)
    assert summary is not None and summary.rows == SAMPLE_ROWS + 5000  # every training row
    assert read_reference(big) is not None
    assert_same(from_json(to_json(summary)), summary)
    # Traffic compared with the stored summary gets the verdicts the full data would give.
    current = {"a": rng.normal(0.5, 1, 3000), "b": rng.normal(5, 2, 3000)}
    sample = memory_source(read_reference(big) or {})
    report = compare_sources(sample, memory_source(current), ["a", "b"], summary=summary)
    assert report.reference_rows == SAMPLE_ROWS + 5000 and report.drifted_features == ["a"]
    # A sample that holds every row is the reference itself: no summary needed beside it.
    assert read_reference_summary(artifact(3000)) is None


def test_a_missing_rate_surge_is_not_a_distribution_change() -> None:
    reference, current = anchor(20_000)
    surge = compare(reference, current).features[4]
    assert surge.feature == "n4" and surge.missing_drifted and not surge.drifted
    assert math.isclose(surge.missing_current, 0.30, abs_tol=0.01)
