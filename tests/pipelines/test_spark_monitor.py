"""The drift job's Spark engine end to end on ``local[2]``, against the NumPy engine.

Captured traffic in SageMaker's capture format (JSON positional and named rows, CSV, BASE64) is
read by Spark from file:// URIs (the cloud reads s3:// the same way); the model artifact, the
report and the metric go through boto3 to the embedded endpoint (moto on loopback). Both engines
run ``container monitor --platform aws`` on the same capture, one after the other, in one
subprocess (one Spark session for the module: spark_monitor_run.py).

PySpark (~320 MB) lives in a tool venv that scripts/test.sh installs (.ci/spark); these tests
skip when it or Java is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_spark_drift import SPARK_SITE, needs_spark

SAME = ("feature", "kind", "test", "drifted", "missing_drifted", "threshold", "reference_rows",
        "current_rows", "new_categories", "vanished_categories", "missing_current")  # fmt: skip


@pytest.fixture(scope="module")
def runs(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("spark-monitor")
    env = {**os.environ, "PYTHONPATH": str(SPARK_SITE), "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "spark_monitor_run.py"), moto_endpoint,
         str(folder)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@needs_spark
@pytest.mark.parametrize("scenario", ["steady", "drifted"])
@pytest.mark.parametrize("engine", ["spark", "spark-grid", "spark-submit"])
def test_spark_gives_the_numpy_engines_verdicts_on_the_same_capture(
    runs: dict[str, Any], scenario: str, engine: str
) -> None:
    # spark: a window of at most RAW_LIMIT rows (collected, exact values); spark-grid: the same
    # window summarized as a larger one is, in the JVM on the reference's grids; spark-submit:
    # the image's entry file (templates/aws/files/docker/) as smspark-submit launches it.
    numpy, spark = runs[scenario]["numpy"], runs[scenario][engine]
    assert numpy["code"] == spark["code"] == 0
    (n,) = numpy["report"]["comparisons"]
    (s,) = spark["report"]["comparisons"]
    assert s["rows"] == n["rows"] == 600 and not s["warning"]
    assert [{k: f[k] for k in SAME} for f in s["features"]] == [
        {k: f[k] for k in SAME} for f in n["features"]
    ]
    for a, b in zip(s["features"], n["features"], strict=True):
        # exact on the small path; within the grid's stated error on the large one
        bound = max(a["error"], b["error"], 1e-12) if engine == "spark-grid" else 1e-12
        assert abs(a["statistic"] - b["statistic"]) <= bound, a["feature"]
    assert {f["feature"]: f["kind"] for f in s["features"]} == {
        "tenure_months": "numeric",
        "monthly_charges": "numeric",
        "support_calls": "numeric",
        "annual_contract": "categorical",  # the contract's bool, whatever the capture holds
    }
    assert s["drifted"] == n["drifted"]
    if engine != "spark-grid":
        assert s["score"] == n["score"]
    assert spark["report"]["decision"] == numpy["report"]["decision"]
    drifted = sorted(f["feature"] for f in s["features"] if f["drifted"])
    expected = ["monthly_charges", "tenure_months"] if scenario == "drifted" else []
    assert drifted == expected
    assert spark["report"]["decision"]["retrain"] is (scenario == "drifted")


@needs_spark
def test_the_spark_run_writes_the_report_and_publishes_the_metric(runs: dict[str, Any]) -> None:
    for scenario in ("steady", "drifted"):
        spark = runs[scenario]["spark"]
        # The timestamped JSON and HTML pages beside drift/latest.* (rewritten, so not new).
        stamped = [k for k in spark["written"] if "latest" not in k]
        assert sorted(k.rsplit(".", 1)[1] for k in stamped) == ["html", "json"], spark["written"]
        assert spark["html"].lstrip().lower().startswith("<!doctype html")
        assert spark["report"]["endpoint"] == f"churn-{scenario}"
        # One datapoint per engine run, on the alarm's metric and dimension (the NumPy run's
        # first): the Spark run's landed, with the same score.
        (before,) = runs[scenario]["numpy"]["datapoints"]
        (after,) = spark["datapoints"]
        (grid,) = runs[scenario]["spark-grid"]["datapoints"]
        (submitted,) = runs[scenario]["spark-submit"]["datapoints"]
        counts = [d["SampleCount"] for d in (before, after, grid, submitted)]
        assert counts == [1, 2, 3, 4]
        score = spark["report"]["comparisons"][0]["score"]
        assert after["Maximum"] == pytest.approx(max(score, before["Maximum"]))


def test_the_spark_job_reads_the_windows_capture_objects_at_their_s3_uris(
    lake: Any, tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Spark needed: what the entry point hands Spark is the window's keys as the lake's
    # s3:// URIs (MLOPS_CAPTURE_URI moves the base, as the end-to-end test does to file://).
    from test_monitor_job import setup

    from mlops.pipelines import container, spark_monitor
    from mlops.pipelines.drift import DriftReport

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    no_api = SimpleNamespace(server_address=("127.0.0.1", 9))  # never called: decide only
    environ = setup(lake, False, tmp_path, no_api, moto_endpoint)
    environ.pop("MLOPS_RETRAIN_WORKFLOW_TEMPLATE")
    seen: list[list[str]] = []

    def compare(uris: list[str], *_a: Any, **_k: Any) -> DriftReport:
        seen.append(list(uris))
        return DriftReport([], 600, 0.0, False)

    monkeypatch.setattr(spark_monitor, "compare_capture", compare)
    keys = sorted(lake.keys("capture", "churn/"))
    # A key Spark would read as a Hadoop glob (it would match the others too) is left out.
    pattern = keys[-1].rsplit("/", 1)[0] + "/*.jsonl"
    lake.put("capture", pattern, lake.get("capture", keys[-1]))
    assert container.main(["monitor", "--engine", "spark"], environ) == 0
    assert seen[-1] == [f"s3://{lake.buckets['raw']}/capture/{k}" for k in keys]
    environ["MLOPS_CAPTURE_URI"] = "file:///mirror/capture/"
    assert container.main(["monitor", "--engine", "spark"], environ) == 0
    assert seen[-1] == [f"file:///mirror/capture/{k}" for k in keys]
    # ... and the report the shared tail stored is this check's
    assert lake.get_json("monitoring", "drift/latest.json")["endpoint"] == "churn"
