"""`mlops approve VERSION --stack dev` on a k8s stack: the gate against @champion in its MLflow
registry (a real server), the alias moved, and the model server's canary restarted (kubectl is
a stand-in that records what it was asked)."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from registry_records import candidate

from mlops.pipelines.adapters.mlflow import MlflowApi, MlflowRegistry
from mlops.pipelines.lake import Lake

pytestmark = pytest.mark.integration

CANDIDATE = "ghcr.io/example/churn@sha256:" + "b" * 64


def test_approve_on_a_k8s_stack_moves_champion_and_restarts_the_canary(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke, mlflow_server: Any, moto_endpoint: str, monkeypatch
) -> None:
    name = f"k8s-{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    init = invoke("init", name, "--template", "k8s", "--no-input", "--no-git", "--dest", str(root))
    assert init.exit_code == 0, init.output
    with (root / "Pulumi.dev.yaml").open("a") as stack:
        stack.write(f"  {name}:mlflow: true\n")
        stack.write(f"  {name}:irsaRoleArn: arn:aws:iam::123456789012:role/{name}-lake\n")
        stack.write(f"  {name}:candidateImage: {CANDIDATE}\n")
    # The lake the stack names, on the embedded endpoint; MLflow through a "port-forward".
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    zones = ("raw", "curated", "features", "artifacts", "logs")
    buckets = {zone: f"{name}-dev-lake-{zone}" for zone in zones}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    lake = Lake(s3, buckets)
    registry = MlflowRegistry(MlflowApi(mlflow_server.url), lake, f"{name}-dev")
    first = registry.register(candidate(lake, "roc_auc", 0.80), "img")
    worse = registry.register(candidate(lake, "roc_auc", 0.70), "img")
    # kubectl: records its arguments.
    bin_dir, calls = tmp_path / "bin", tmp_path / "kubectl-calls"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    approved = invoke("approve", "1", "--stack", "dev", "--project", str(root))
    assert approved.exit_code == 0, approved.output
    assert f"approved version 1 ({first.run_id})" in approved.output
    assert registry.champion()["version"] == "1"  # type: ignore[index]
    namespace = f"{name}-dev"
    assert calls.read_text().split("\n")[0] == (
        f"rollout restart deployment/{name}-server-canary -n {namespace}"
    )
    again = invoke("approve", "1", "--stack", "dev", "--project", str(root))
    assert again.exit_code == 0 and "already approved" in again.output
    blocked = invoke("approve", worse.run_id, "--stack", "dev", "--project", str(root))
    assert blocked.exit_code == 1 and "does not beat" in blocked.output
    assert registry.champion()["version"] == "1"  # type: ignore[index]
    assert len(calls.read_text().splitlines()) == 1  # nothing restarted for a refusal
    # A k8s stack without MLflow has no registry to approve in: one line that says so.
    (root / "Pulumi.staging.yaml").write_text(
        (root / "Pulumi.dev.yaml").read_text().replace(f"  {name}:mlflow: true\n", "")
    )
    none = invoke("approve", "1", "--stack", "staging", "--project", str(root))
    assert none.exit_code == 2 and "has no model registry: set `mlflow: true`" in none.output
