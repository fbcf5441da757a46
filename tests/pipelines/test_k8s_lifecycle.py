"""The k8s flavour's loop on the embedded moto endpoint, wired by the local stack's own manifests.

No cluster runs here. Each workload the generated ``local`` stack declares (the lake's
prepare-lake Job, the lifecycle WorkflowTemplate's steps, the server Deployment, the drift
CronJob) is run as the process its pod would run: the image's entry point with the command,
arguments and environment its manifest gives it (Argo's ``{{workflow.*}}`` filled in as Argo
fills them), each step in a scratch folder of its own, so the steps meet only in the lake, as
pods do. moto is the S3-compatible store in MinIO's place, with the keys read from a credentials
file as the pods read the Secret's. So what the manifests wire (the buckets, each run's places,
the gate, the registry's records, the capture prefix the server writes and the drift check
reads, the model URI, the template a retrain submits) is what runs: change one side of that
wiring and this test fails.
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


def run_workflow(
    template: dict[str, Any],
    name: str,
    dataset_uri: str,
    project: Path,
    moto: str,
    credentials: Path,
) -> dict[str, int]:
    """Run the template's steps in its order as their pods' processes; each step's exit code.

    As Argo does, a failed step ends the run: the steps after it never start.
    """
    spec = template["spec"]
    defaults = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    values = {
        "workflow.name": name,
        "workflow.parameters.dataset-uri": dataset_uri or defaults["dataset-uri"],
    }
    steps = {t["name"]: t for t in spec["templates"]}
    codes: dict[str, int] = {}
    for (call,) in steps[spec["entrypoint"]]["steps"]:
        container = steps[call["template"]]["container"]

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            return text

        env = {e["name"]: fill(e["value"]) for e in container["env"]}
        assert env["SM_ML_ROOT"].startswith("/tmp/")  # the pod's scratch emptyDir
        env["SM_ML_ROOT"] = str(project.parent / "scratch" / f"{name}-{call['name']}" / "ml")
        assert env["AWS_ENDPOINT_URL_S3"].endswith(".svc:9000")
        env["AWS_ENDPOINT_URL_S3"] = moto
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
        env = {k: v.replace(IMAGE_ROOT, str(project), 1) for k, v in env.items()}
        command = [sys.executable, *container["command"][1:]]  # the image's python: ours
        assert container["command"][0] == "python"
        done = subprocess.run(
            [*command, *map(fill, container["args"])],
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(project), **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        codes[call["name"]] = done.returncode
        if done.returncode != 0:
            codes["output"] = done.stdout + done.stderr  # type: ignore[assignment]
            break
    return codes


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
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
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
    from mlops.pipelines.adapters.k8s import LakeRecords
    from mlops.pipelines.data import ingest, read_file, version_prefix
    from mlops.pipelines.lake import Lake
    from mlops.pipelines.registry import list_runs, load_run, unlocked

    name = f"k8s-{uuid.uuid4().hex[:6]}"  # buckets are global on the session's moto
    package = name.replace("-", "_")
    root = tmp_path / name
    init = ["init", name, "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)]
    assert invoke(*init).exit_code == 0
    workflow = f"{name}-local-lifecycle"
    good_run, weak_run, worse_run = (f"{workflow}-{n}" for n in ("good", "weak", "worse"))
    model_uri = f"s3://{name}-local-lake-artifacts/models/{good_run}/model.tar.gz"
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

    # 2. Two dataset versions: the real one, and one whose labels say nothing (a weak model).
    table, _ = read_file(root / "data" / "sample.csv")
    noise = root / "data" / "noise.csv"
    lines = (root / "data" / "sample.csv").read_text().splitlines()
    rng = np.random.default_rng(7)
    labels = rng.permutation([line.rsplit(",", 1)[1] for line in lines[1:]])
    noise.write_text(
        "\n".join(
            [
                lines[0],
                *(f"{r.rsplit(',', 1)[0]},{y}" for r, y in zip(lines[1:], labels, strict=True)),
            ]
        )
        + "\n"
    )
    good = lake.uri(
        "datasets",
        version_prefix(package, ingest(lake, root / "data" / "sample.csv", package).sha256),
    )
    weak = lake.uri("datasets", version_prefix(package, ingest(lake, noise, package).sha256))

    # 3. The lifecycle WorkflowTemplate's steps, as its pods would run them.
    template = named(objects, "WorkflowTemplate", "-lifecycle")
    registry = LakeRecords(lake, name)
    first = run_workflow(template, weak_run, weak, root, moto_endpoint, credentials)
    assert first == {s: 0 for s in ("validate", "train", "evaluate", "gate", "register")}
    # Each step wrote the run's places: the SageMaker pipeline's layout, keyed by the run.
    assert lake.exists("validation", f"{weak_run}/report.json")
    evaluation = lake.get_json("evaluation", f"{weak_run}/evaluation.json")
    assert evaluation["gate"]["approved"] is None  # no champion yet: it registers
    assert load_run(lake, weak_run).status == "registered"
    registry.approve(load_run(lake, weak_run), 0.0, unlocked)  # what `mlops approve` does

    # A better candidate beats the champion at the gate and registers.
    second = run_workflow(template, good_run, good, root, moto_endpoint, credentials)
    assert second == {s: 0 for s in ("validate", "train", "evaluate", "gate", "register")}
    gate = lake.get_json("evaluation", f"{good_run}/evaluation.json")["gate"]
    assert gate["passed"] and gate["approved"] == evaluation["metrics"]["roc_auc"]
    registry.approve(load_run(lake, good_run), 0.0, unlocked)
    assert registry.approved_run().run_id == good_run  # type: ignore[union-attr]

    # A worse one stops at the gate: the run fails there and nothing is registered.
    third = run_workflow(template, worse_run, weak, root, moto_endpoint, credentials)
    assert {k: third[k] for k in ("validate", "train", "evaluate", "gate")} == {
        "validate": 0,
        "train": 0,
        "evaluate": 0,
        "gate": 1,
    }
    assert "register" not in third and "GateFailed" in str(third["output"])
    assert worse_run not in {r.run_id for r in list_runs(lake)}
    assert lake.exists("evaluation", f"{worse_run}/evaluation.json")  # its evaluation stays

    # 4. The server Deployment's pod loads the champion from the lake and captures drifted traffic.
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

    # 5. The drift CronJob's pod reads that capture, finds drift and submits the workflow.
    drift = named(objects, "CronJob", "-drift")
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    drift_env = pod_env(drift, root, moto_endpoint, credentials)
    drift_env.update(
        MLOPS_KUBE_API=f"http://127.0.0.1:{api.server_address[1]}",
        MLOPS_KUBE_TOKEN_FILE=str(token),
        MLOPS_KUBE_NAMESPACE=drift["metadata"]["namespace"],
    )
    assert container.main(["monitor"], drift_env) == 0
    ((method, path, _, body),) = FakeApi.seen
    namespace = template["metadata"]["namespace"]
    assert (method, path) == (
        "POST",
        f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows",
    )
    assert body["spec"] == {"workflowTemplateRef": {"name": template["metadata"]["name"]}}
    decision = lake.get_json("monitoring", "drift/latest.json")["decision"]
    assert decision["retrain"] and decision["started"].startswith(f"{workflow}-drift-")
    # Scheduled retraining runs the same template.
    (cron,) = [o for o in objects if o["kind"] == "CronWorkflow"]
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"] == {"name": workflow}
