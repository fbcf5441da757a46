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
    tracking: str = "",
) -> dict[str, int]:
    """Run the template's steps in its order as their pods' processes; each step's exit code.

    As Argo does, a failed step ends the run: the steps after it never start. ``tracking``: the
    test's MLflow server, in the place of the Service the manifests name.
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
        env.update(mlflow_service(env, tracking))
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


def mlflow_service(env: dict[str, str], tracking: str) -> dict[str, str]:
    """The test's MLflow server in the place of the stack's MLflow Service, if the pod names one."""
    if "MLFLOW_TRACKING_URI" not in env:
        return {}
    assert env["MLFLOW_TRACKING_URI"].endswith(".svc:5000") and tracking
    return {"MLFLOW_TRACKING_URI": tracking}


def pod_env(
    obj: dict[str, Any], project: Path, moto: str, credentials: Path, tracking: str = ""
) -> dict[str, str]:
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
    env.update(mlflow_service(env, tracking))
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


def two_datasets(lake: Any, root: Path, package: str) -> tuple[str, str]:
    """The project's sample as a dataset version, and one whose labels say nothing (weak)."""
    from mlops.pipelines.data import ingest, version_prefix

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
    return good, weak


FEATURES = ["tenure_months", "monthly_charges", "support_calls", "annual_contract"]


def drifted_rows(root: Path) -> np.ndarray:
    """The sample's features after the customers changed (the drift check must see it)."""
    from mlops.pipelines.data import read_file

    table, _ = read_file(root / "data" / "sample.csv")
    rows = table.select(FEATURES).copy()
    rows[:, 0] = np.floor(rows[:, 0] / 3)
    rows[:, 1] = rows[:, 1] + 60
    return np.asarray(rows)


def run_server(
    pod_environ: dict[str, str], project: Path, rows: np.ndarray
) -> tuple[list[str], list[float]]:
    """Run the server Deployment's pod as its process, send ``rows``, stop it as the kubelet does.

    Its first lines (before it serves) and its predictions, in the order of ``rows``.
    """
    port = free_port()
    # A new pod each time (a rollout restarts the Deployment's pods): a fresh scratch emptyDir.
    scratch = Path(pod_environ["SM_ML_ROOT"]).parent / f"pod-{uuid.uuid4().hex[:6]}" / "ml"
    env = {
        "PATH": os.environ["PATH"],
        **pod_environ,
        "SM_ML_ROOT": str(scratch),
        "PYTHONPATH": str(project),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "MLOPS_SERVE_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.pipelines.container", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    predictions: list[float] = []
    try:
        assert process.stdout is not None
        while not lines or "serving on" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "".join(lines)  # it exited before serving
            lines.append(line)
        for start in range(0, len(rows), 50):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=json.dumps(rows[start : start + 50].tolist()).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                predictions += json.loads(response.read())["predictions"]
        process.send_signal(signal.SIGTERM)  # as the kubelet stops a pod: capture flushes
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return lines[:-1], predictions


@pytest.mark.slow
def test_the_local_stacks_workloads_close_the_loop_on_an_s3_compatible_store(
    tmp_path: Path, invoke, moto_endpoint: str, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.infra.k8s.object_store import root_secret_files
    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture
    from mlops.pipelines.adapters.k8s import LakeRecords
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
    stack_file = root / "Pulumi.local.yaml"
    # The lake's run records as the registry: MLflow's is the next test's (the pack turns it on).
    text = stack_file.read_text().replace(f"{name}:mlflow: true", f"{name}:mlflow: false")
    text += f'  {name}:modelUri: "{model_uri}"\n  {name}:retrainSchedule: "0 3 * * *"\n'
    stack_file.write_text(text)
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
    good, weak = two_datasets(lake, root, package)

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
    serve_env = pod_env(server, root, moto_endpoint, credentials)
    loaded, _ = run_server(serve_env, root, drifted_rows(root))
    assert loaded[0].startswith(f"model from {model_uri}")

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


def predictions_of(lake: Any, run: str, package: str, root: Path, rows: np.ndarray) -> list[float]:
    """What run ``run``'s model answers for ``rows``, scored here (as the server rounds them)."""
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.model import import_trainer
    from mlops.pipelines.serving import ServedModel

    trainer = import_trainer(f"{package}.pipelines.train")
    artifact = lake.get("models", f"{run}/model.tar.gz")
    served = ServedModel.from_artifact(
        trainer, artifact, DataContract.load(root / "data" / "contract.yaml")
    )
    return [round(float(p), 6) for p in served.predict(rows)]


@pytest.mark.slow
def test_with_mlflow_a_better_candidate_becomes_champion_and_the_server_follows(
    tmp_path: Path,
    invoke,
    moto_endpoint: str,
    mlflow_server: Any,
    api: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    """The stack runs MLflow (`mlflow: true`): the workflow's steps, the server and the drift job
    take the registry, the registered model and ``models:/<model>@champion`` from the platform's
    manifests; only the tracking server's address is the test's (its Service in the cluster)."""
    from mlops.infra.k8s.object_store import root_secret_files
    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture
    from mlops.pipelines.adapters.mlflow import MlflowApi, MlflowRegistry
    from mlops.pipelines.lake import Lake
    from mlops.pipelines.registry import list_runs, load_run, unlocked

    name = f"k8s-{uuid.uuid4().hex[:6]}"
    package = name.replace("-", "_")
    root = tmp_path / name
    init = ["init", name, "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)]
    assert invoke(*init).exit_code == 0
    workflow = f"{name}-local-lifecycle"
    model = f"{name}-local"  # the registered model: the namespace's name unless configured
    weak_run, good_run, worse_run = (f"{workflow}-{n}" for n in ("weak", "good", "worse"))
    assert f"{name}:mlflow: true" in (root / "Pulumi.local.yaml").read_text()  # the pack's
    objects = manifests(capture(root, "local"))
    credentials = tmp_path / "credentials"
    credentials.write_text(root_secret_files("mlops", "not-a-real-password")["credentials"])
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.syspath_prepend(str(root))
    env = pod_env(named(objects, "Job", "-lake-buckets"), root, moto_endpoint, credentials)
    assert container.main(["prepare-lake"], env) == 0
    lake = Lake.from_environ(env)
    assert lake is not None
    good, weak = two_datasets(lake, root, package)

    # The platform names MLflow as the registry of the steps that read or write it.
    template = named(objects, "WorkflowTemplate", "-lifecycle")
    steps = {t["name"]: t for t in template["spec"]["templates"]}
    for step in ("evaluate", "register"):
        step_env = {e["name"]: e["value"] for e in steps[step]["container"]["env"]}
        assert step_env["MLOPS_REGISTRY"] == "mlflow"
        assert step_env["MLOPS_REGISTERED_MODEL"] == model
    assert f"--model-package-group {model}" in " ".join(steps["register"]["container"]["args"])
    registry = MlflowRegistry(MlflowApi(mlflow_server.url), lake, model)

    def workflow_run(run: str, dataset: str) -> dict[str, int]:
        return run_workflow(
            template, run, dataset, root, moto_endpoint, credentials, mlflow_server.url
        )

    def versions() -> dict[str, str]:
        """Each version of the model in MLflow's registry, by the run it came from."""
        found = registry.api.call(
            "GET", "model-versions/search", query={"filter": f"name='{model}'"}
        )
        return {
            next(t["value"] for t in v["tags"] if t["key"] == "mlops.run_id"): str(v["version"])
            for v in found.get("model_versions", [])
        }

    # A first candidate registers as a version of the model, pending approval; then approved.
    all_passed = {s: 0 for s in ("validate", "train", "evaluate", "gate", "register")}
    assert workflow_run(weak_run, weak) == all_passed
    assert versions() == {weak_run: "1"}
    assert load_run(lake, weak_run).model_package_arn == f"models:/{model}/1"
    assert registry.champion() is None  # registered, not approved
    weak_eval = lake.get_json("evaluation", f"{weak_run}/evaluation.json")
    registry.approve(load_run(lake, weak_run), 0.0, unlocked)  # what `mlops approve 1` does
    assert registry.champion()["version"] == "1"  # type: ignore[index]

    # The server Deployment's pod resolves @champion when it starts: the first model.
    server = named(objects, "Deployment", "-server-stable")
    serve_env = pod_env(server, root, moto_endpoint, credentials, mlflow_server.url)
    assert serve_env["MLOPS_MODEL_URI"] == f"models:/{model}@champion"
    rows = drifted_rows(root)
    loaded, answered = run_server(serve_env, root, rows)
    artifact = f"s3://{lake.buckets['artifacts']}/models/{weak_run}/model.tar.gz"
    assert loaded[0].strip() == f"models:/{model}@champion is {artifact}"
    assert answered == predictions_of(lake, weak_run, package, root, rows)

    # A better candidate is gated against the champion's figure (read through MLflow), registers
    # as version 2 and, once approved, takes @champion; a restarted server serves it.
    assert workflow_run(good_run, good) == all_passed
    gate = lake.get_json("evaluation", f"{good_run}/evaluation.json")["gate"]
    assert gate["passed"] and gate["approved"] == weak_eval["metrics"]["roc_auc"]
    # `mlops approve 2 --stack local`: the stack's MLflow (reached as through a port-forward),
    # @champion moved, the model server's Deployment restarted (kubectl records its arguments).
    bin_dir, calls = tmp_path / "bin", tmp_path / "kubectl-calls"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    approved = invoke("approve", "2", "--stack", "local", "--project", str(root))
    assert approved.exit_code == 0, approved.output
    assert f"approved version 2 ({good_run})" in approved.output
    assert registry.champion()["version"] == "2"  # type: ignore[index]
    assert calls.read_text().startswith(f"rollout restart deployment/{name}-server-")
    loaded, answered = run_server(serve_env, root, rows)
    artifact = f"s3://{lake.buckets['artifacts']}/models/{good_run}/model.tar.gz"
    assert loaded[0].strip() == f"models:/{model}@champion is {artifact}"
    assert answered == predictions_of(lake, good_run, package, root, rows)
    assert answered != predictions_of(lake, weak_run, package, root, rows)

    # A worse one stops at the gate (against version 2's figure): nothing is registered.
    third = run_workflow(
        template, worse_run, weak, root, moto_endpoint, credentials, mlflow_server.url
    )
    assert {k: third[k] for k in ("validate", "train", "evaluate", "gate")} == {
        "validate": 0,
        "train": 0,
        "evaluate": 0,
        "gate": 1,
    }
    assert "register" not in third and "GateFailed" in str(third["output"])
    assert versions() == {weak_run: "1", good_run: "2"}
    assert worse_run not in {r.run_id for r in list_runs(lake)}
    assert registry.champion()["version"] == "2"  # type: ignore[index]

    # The drift CronJob compares the capture with @champion's reference sample, resolved through
    # MLflow, and submits the workflow.
    drift = named(objects, "CronJob", "-drift")
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    drift_env = pod_env(drift, root, moto_endpoint, credentials, mlflow_server.url)
    assert drift_env["MLOPS_MODEL_URI"] == f"models:/{model}@champion"
    drift_env.update(
        MLOPS_KUBE_API=f"http://127.0.0.1:{api.server_address[1]}",
        MLOPS_KUBE_TOKEN_FILE=str(token),
        MLOPS_KUBE_NAMESPACE=drift["metadata"]["namespace"],
    )
    capsys.readouterr()
    assert container.main(["monitor"], drift_env) == 0
    assert f"models:/{model}@champion is {artifact}" in capsys.readouterr().out
    ((method, path, _, body),) = FakeApi.seen
    assert method == "POST" and path.endswith("/workflows")
    assert body["spec"] == {"workflowTemplateRef": {"name": workflow}}
    decision = lake.get_json("monitoring", "drift/latest.json")["decision"]
    assert decision["retrain"] and decision["started"].startswith(f"{workflow}-drift-")
