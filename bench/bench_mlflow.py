"""The MLflow registry adapter against a real `mlflow server`, beside the SageMaker adapter.

Figures: the server's start time (cold: a fresh SQLite database; its process until /health
answers), and per candidate the time to register and to approve (gate against @champion, move
the alias under the registry's lease) through each adapter, on the same lake (the embedded
moto endpoint). The peer is the SageMaker registry adapter on the embedded endpoint.

Usage: python bench/bench_mlflow.py [--candidates 10]   (needs .ci/mlflow: scripts/test.sh)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=10)
    args = parser.parse_args()
    import os

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(key, value)
    import boto3
    from moto.server import ThreadedMotoServer
    from registry_records import candidate

    from mlops.infra.local_mlflow import start_server, stop_server
    from mlops.pipelines.adapters.aws import SageMakerRegistry
    from mlops.pipelines.adapters.mlflow import MlflowApi, MlflowRegistry
    from mlops.pipelines.lake import Lake

    mlflow = ROOT / ".ci" / "mlflow" / "bin" / "mlflow"
    if not mlflow.exists():
        print("no .ci/mlflow: run scripts/test.sh first", file=sys.stderr)
        return 2
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sm = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {z: f"{z}-{suffix}" for z in ("raw", "curated", "features", "artifacts")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    lake = Lake(s3, buckets)
    env = {"MLFLOW_S3_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    with tempfile.TemporaryDirectory() as tmp:
        start_s, server = timed(
            lambda: start_server(str(mlflow), Path(tmp), f"s3://{buckets['artifacts']}/mlflow", env)
        )
        try:
            sm.create_model_package_group(ModelPackageGroupName=f"bench-{suffix}")
            adapters = {
                "mlflow": MlflowRegistry(MlflowApi(server.url), lake, f"bench-{suffix}"),
                "sagemaker (peer)": SageMakerRegistry(sm, lake, f"bench-{suffix}"),
            }
            figures: dict[str, Any] = {"server_start_s": round(start_s, 2)}
            for name, registry in adapters.items():
                register, approve = [], []
                for i in range(args.candidates):
                    record = candidate(lake, "roc_auc", 0.5 + i / (2 * args.candidates))
                    seconds, registered = timed(lambda r=record, g=registry: g.register(r, "img"))
                    register.append(seconds)
                    approve.append(timed(lambda r=registered, g=registry: g.approve(r, 0.0))[0])
                figures[name] = {
                    "register_ms_median": round(statistics.median(register) * 1000, 1),
                    "approve_ms_median": round(statistics.median(approve) * 1000, 1),
                }
        finally:
            stop_server(server)
    moto.stop()
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
