"""Run by test_spark_monitor.py in a subprocess with PySpark importable: the drift job, 2 engines.

Usage: python spark_monitor_run.py MOTO_URL DIR

For a steady and a drifted endpoint: the sample rows are captured into a lake on the moto server
(as the serving container's capture writes them: JSON positional and named rows, CSV, BASE64 of
CSV), and mirrored as files under DIR. Then ``container monitor --platform aws`` runs once with
the NumPy engine (capture through boto3) and twice with ``--engine spark`` on ``local[2]``
(capture read by Spark from the file:// mirror, ``MLOPS_CAPTURE_URI``): as a small window is
summarized (collected to the driver) and, "spark-grid", as a large one is (in the JVM); then
"spark-submit": the aws pack's Spark entry file launched by spark-submit. After
each, the stored report (JSON and HTML) and the metric datapoints are read back through boto3.
Prints one JSON line: per endpoint, per engine, what landed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "templates" / "common" / "files" / "data"


def main() -> None:
    url, folder = sys.argv[1], Path(sys.argv[2])
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    from datetime import UTC, datetime, timedelta

    import boto3
    import numpy as np

    from mlops.core.contracts import DRIFT_DIMENSION, DRIFT_METRIC, DRIFT_NAMESPACE
    from mlops.pipelines import container, spark_drift
    from mlops.pipelines.capture import CaptureWriter
    from mlops.pipelines.data import DataContract, read_file
    from mlops.pipelines.lake import Lake
    from mlops.pipelines.reference import REFERENCE_FILE, reference_sample
    from mlops.pipelines.spark_drift import session

    raw_limit = spark_drift.RAW_LIMIT

    # annual_contract declared a bool: a category, whatever the captured values look like
    text = (FILES / "contract.yaml").read_text()
    declared = folder / "contract.yaml"
    declared.write_text(
        text.replace(
            "annual_contract: {type: int, min: 0, max: 1}", "annual_contract: {type: bool}"
        )
    )
    contract = DataContract.load(declared)
    features = contract.features

    s3 = boto3.client("s3", region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {z: f"{z}-{suffix}" for z in ("raw", "curated", "features", "artifacts")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    lake = Lake(s3, buckets)
    table, _ = read_file(FILES / "sample.csv")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        sample = reference_sample(table, features)
        info = tarfile.TarInfo(REFERENCE_FILE)
        info.size = len(sample)
        tar.addfile(info, io.BytesIO(sample))
    lake.put("models", "run-1/model.tar.gz", buffer.getvalue())

    spark = session("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    out: dict[str, Any] = {}
    for scenario in ("steady", "drifted"):
        endpoint = f"churn-{scenario}"
        rows = table.select(features).copy()
        if scenario == "drifted":
            rows[:, 0] = np.floor(rows[:, 0] / 3)
            rows[:, 1] = rows[:, 1] + 60
        capture(CaptureWriter(lake, endpoint, flush_every=100), rows.tolist(), features)
        mirror = folder / "capture"
        for key in lake.keys("capture", f"{endpoint}/"):
            path = mirror / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(lake.get("capture", key))
        environ = {
            **os.environ,
            "MLOPS_DATA_CONTRACT": str(declared),
            "MLOPS_MODEL_URI": lake.uri("models", "run-1/model.tar.gz"),
            **{f"MLOPS_BUCKET_{zone.upper()}": bucket for zone, bucket in buckets.items()},
        }
        args = ["monitor", "--platform", "aws", "--endpoint", endpoint, "--window-hours", "1",
                "--threshold", "0.2", "--triggered-by", "schedule"]  # fmt: skip
        out[scenario] = {}
        for engine in ("numpy", "spark", "spark-grid", "spark-submit"):
            extra = ["--engine", "spark"] if engine != "numpy" else []
            env = {**environ, "MLOPS_CAPTURE_URI": mirror.as_uri()} if extra else environ
            # spark-grid: as a window over RAW_LIMIT rows is summarized (in the JVM, on the
            # reference's grids; nothing collected to the driver), here on 600 rows
            spark_drift.RAW_LIMIT = 100 if engine == "spark-grid" else raw_limit
            before = set(lake.keys("monitoring", "drift/"))
            if engine == "spark-submit":  # the image's entry file, launched as smspark-submit does
                code = submit([*args, *extra], env)
            else:
                code = container.main([*args, *extra], env)
            written = sorted(set(lake.keys("monitoring", "drift/")) - before)
            stats = cloudwatch.get_metric_statistics(
                Namespace=DRIFT_NAMESPACE,
                MetricName=DRIFT_METRIC,
                Dimensions=[{"Name": DRIFT_DIMENSION, "Value": endpoint}],
                StartTime=datetime.now(UTC) - timedelta(hours=1),
                EndTime=datetime.now(UTC) + timedelta(hours=1),
                Period=7200,
                Statistics=["SampleCount", "Maximum"],
            )["Datapoints"]
            latest = lake.get_json("monitoring", "drift/latest.json")
            out[scenario][engine] = {
                "code": code,
                "written": written,
                "report": latest,
                "html": lake.get("monitoring", "drift/latest.html").decode()[:200],
                "datapoints": stats,
            }
    print(json.dumps(out, default=str))


def submit(args: list[str], env: dict[str, str]) -> int:
    """The aws pack's Spark entry file under spark-submit (smspark-submit runs it so, on YARN)."""
    import subprocess

    import pyspark

    launcher = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    entry = ROOT / "templates" / "aws" / "files" / "docker" / "drift_check_spark.py"
    done = subprocess.run(
        [str(launcher), "--master", "local[2]", str(entry), *args],
        env={**env, "PYSPARK_PYTHON": sys.executable}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
    return done.returncode


def capture(writer: Any, rows: list[list[float]], features: list[str]) -> None:
    """Each row as one request, in the body formats the serving container captures, in turn."""
    for i, row in enumerate(rows):
        kind = i % 4
        if kind == 0:  # positional rows under "instances"
            body, content_type, encoding = (
                json.dumps({"instances": [row]}).encode(),
                "application/json",
                "JSON",
            )
        elif kind == 1:  # named rows
            named = dict(zip(features, row, strict=True))
            body, content_type, encoding = json.dumps([named]).encode(), "application/json", "JSON"
        elif kind == 2:  # CSV
            body, content_type, encoding = (
                ",".join(f"{v:g}" for v in row).encode(),
                "text/csv",
                "CSV",
            )
        else:  # BASE64 of CSV (SageMaker's encoding of a body it does not capture as text)
            text = ",".join(f"{v:g}" for v in row).encode() + b"\n"
            body, content_type, encoding = base64.b64encode(text), "text/csv", "BASE64"
        writer.record(body, content_type, encoding, b'{"predictions": [0.5]}')
    assert writer.close(30)


if __name__ == "__main__":
    main()
