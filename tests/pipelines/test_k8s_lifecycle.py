"""The k8s flavour's loop on the embedded moto endpoint, wired by the local stack's own manifests.

No cluster runs here. Each workload the generated ``local`` stack declares (the lake's
prepare-lake Job, the training CronJob, the server Deployment, the drift CronJob) is run as the
process its pod would run: the image's entry point with the environment its manifest gives it,
against moto as the S3-compatible store in MinIO's place, with the keys read from a credentials
file as the pods read the Secret's. So what the manifests wire (the buckets, the capture prefix
the server writes and the drift check reads, the model URI, the CronJob a retrain clones) is
what runs: change one side of that wiring and this test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kube_api import FakeApi, serve

from mlops.pipelines import container

IMAGE_ROOT = "/app"  # where the Dockerfile puts the project in the image


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def pod_env(obj: dict[str, Any], project: Path, moto: str, credentials: Path) -> dict[str, str]:
    """The container's environment, from its manifest, on this machine."""
    env = {e["name"]: e["value"] for e in pod(obj)["containers"][0]["env"]}
    # The steps write under the pod's scratch emptyDir (the root filesystem is read-only).
    assert env["SM_ML_ROOT"].startswith("/tmp/")
    env["SM_ML_ROOT"] = str(project.parent / "scratch" / obj["metadata"]["name"] / "ml")
    assert env["AWS_ENDPOINT_URL_S3"].endswith(".svc:9000")  # MinIO in the namespace...
    env["AWS_ENDPOINT_URL_S3"] = moto  # ...played by moto
    # The Secret's file is mounted at this path in the pod; here it is a file of the test's.
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith("/var/run/secrets/mlops/")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
    return {k: v.replace(IMAGE_ROOT, str(project), 1) for k, v in env.items()}


def named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    (found,) = [
        o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)
    ]
    return found


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    with serve() as server:
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_local_stacks_workloads_close_the_loop_on_an_s3_compatible_store(
    tmp_path: Path, invoke, moto_endpoint: str, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.infra.k8s.object_store import root_secret_files
    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture
    from mlops.pipelines.data import ingest, read_file, version_prefix
    from mlops.pipelines.lake import Lake

    name = f"k8s-{uuid.uuid4().hex[:6]}"  # buckets are global on the session's moto
    package = name.replace("-", "_")
    root = tmp_path / name
    init = ["init", name, "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)]
    assert invoke(*init).exit_code == 0
    model_uri = f"s3://{name}-local-lake-artifacts/models/first/model.tar.gz"
    with (root / "Pulumi.local.yaml").open("a") as stack:
        stack.write(f'  {name}:modelUri: "{model_uri}"\n  {name}:retrainSchedule: "0 3 * * *"\n')
    objects = manifests(capture(root, "local"))

    # The pods' SDK reads MinIO's keys from the Secret's credentials file; so does this test.
    credentials = tmp_path / "credentials"
    credentials.write_text(root_secret_files("mlops", "not-a-real-password")["credentials"])
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.syspath_prepend(str(root))

    # 1. The store starts empty: the lake's Job makes the buckets.
    buckets_job = named(objects, "Job", "-lake-buckets")
    env = pod_env(buckets_job, root, moto_endpoint, credentials)
    assert container.main(["prepare-lake"], env) == 0
    lake = Lake.from_environ(env)
    assert lake is not None

    # 2. A dataset version in the lake; the training CronJob's pod trains on it.
    version = ingest(lake, root / "data" / "sample.csv", package)
    training = named(objects, "CronJob", "-training")
    train_env = pod_env(training, root, moto_endpoint, credentials)
    train_env.update(
        MLOPS_DATASET_URI=lake.uri("datasets", version_prefix(package, version.sha256)),
        MLOPS_MODEL_OUTPUT_URI=model_uri,  # what the stack serves
    )
    assert container.main(["train"], train_env) == 0

    # 3. The server Deployment's pod loads that model from the lake and captures drifted traffic.
    server = named(objects, "Deployment", "-server-stable")
    port = free_port()
    serve_env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(root),
        **pod_env(server, root, moto_endpoint, credentials),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "MLOPS_SERVE_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.pipelines.container", "serve"],
        env=serve_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"model from {model_uri}")
        assert "serving on" in process.stdout.readline()
        table, _ = read_file(root / "data" / "sample.csv")
        features = ["tenure_months", "monthly_charges", "support_calls", "annual_contract"]
        rows = table.select(features).copy()
        rows[:, 0] = np.floor(rows[:, 0] / 3)  # the customers changed
        rows[:, 1] = rows[:, 1] + 60
        for start in range(0, len(rows), 50):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=json.dumps(rows[start : start + 50].tolist()).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)  # as the kubelet stops a pod: capture flushes
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    # 4. The drift CronJob's pod reads that capture, finds drift and clones the training CronJob.
    drift = named(objects, "CronJob", "-drift")
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    drift_env = pod_env(drift, root, moto_endpoint, credentials)
    drift_env.update(
        MLOPS_KUBE_API=f"http://127.0.0.1:{api.server_address[1]}",
        MLOPS_KUBE_TOKEN_FILE=str(token),
        MLOPS_KUBE_NAMESPACE=drift["metadata"]["namespace"],
    )
    FakeApi.cronjob = training
    assert container.main(["monitor"], drift_env) == 0
    (get, post) = [(method, path, body) for method, path, _, body in FakeApi.seen]
    namespace = training["metadata"]["namespace"]
    cronjob = training["metadata"]["name"]
    assert get[1] == f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{cronjob}"
    assert post[1] == f"/apis/batch/v1/namespaces/{namespace}/jobs"
    job = post[2]
    assert job["metadata"]["name"].startswith(f"{cronjob}-drift-")
    assert pod(job)["containers"][0]["args"] == ["train"]  # the same training pod, run now
    decision = lake.get_json("monitoring", "drift/latest.json")["decision"]
    assert decision["retrain"] and decision["started"] == job["metadata"]["name"]
