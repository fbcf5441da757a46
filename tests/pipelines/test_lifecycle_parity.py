"""One lifecycle: the local executor and the container entry points agree.

For the same dataset and parameters, the local executor's steps run in-process against a lake
on moto, and the container's entry points run the way the SageMaker pipeline invokes them: the
``/opt/ml`` directory contract in a temp dir, the dataset version's prefix as the processing
input, the validated output as the training channel, the hyperparameters as the definition
encodes them, and the evaluate step's arguments resolved from the definition. Both must come
out with the same dataset version, split, metrics, gate decision and evaluation record, for a
higher-is-better classification metric and a lower-is-better regression metric. The gate is
then the definition's own condition, evaluated on the record the container wrote.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CONTRACT_YAML, SAMPLE_CSV, SAMPLE_PROJECT_FILES
from pipeline_eval import Resolver

from mlops.core.contracts import (
    APPROVED_FROM_REGISTRY,
    decode_hyperparameters,
    encode_hyperparameters,
)
from mlops.infra.aws.pipeline_definition import TRIGGER_PARAMETERS, PipelineSpec, build_definition
from mlops.infra.aws.settings import TrainingSettings
from mlops.pipelines import container
from mlops.pipelines.data import DataContract, ingest, read_file, split, version_key
from mlops.pipelines.identity import RunInputs
from mlops.pipelines.model import load_trainer
from mlops.pipelines.steps import evaluate_step, train_step, validate_step

pytestmark = pytest.mark.integration

REGRESSION_TRAIN = '''"""Least squares with an intercept (NumPy only)."""
from pathlib import Path

import numpy as np

FRAMEWORK = "numpy"


def train(x, y, params=None):
    ridge = (params or {}).get("ridge", 0.0)  # a number: hyperparameters arrive typed
    a = np.column_stack([x, np.ones(len(x))])
    return np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ y)


def predict_proba(model, x):
    return np.column_stack([x, np.ones(len(x))]) @ model


def save(model, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "weights.npy", model)
    return directory / "weights.npy"


def load(directory: Path):
    return np.load(directory / "weights.npy")
'''

REGRESSION_CONTRACT = """label: price
task: regression
columns:
  size: {type: float, min: 0, max: 100}
  rooms: {type: int, min: 1, max: 9}
  price: {type: float, min: -1000, max: 1000}
"""


def regression_csv(rows: int = 400) -> str:
    rng = np.random.default_rng(5)
    size = rng.uniform(10, 90, rows).round(2)
    rooms = rng.integers(1, 9, rows)
    price = (3 * size + 12 * rooms + rng.normal(0, 8, rows)).round(2)
    lines = ["size,rooms,price"] + [
        f"{s},{r},{p}" for s, r, p in zip(size, rooms, price, strict=True)
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """One project: its package, train module, contract, data, params and gate metric."""

    package: str
    metric: str
    params: dict[str, Any]
    # approved figures that the candidate beats, and that beat it, as functions of its own
    worse: float
    better: float


CASES = {
    "classification": Case("churn_parity", "roc_auc", {"C": 0.5, "max_iter": 300}, -0.2, 0.2),
    "regression": Case("price_parity", "rmse", {"ridge": 0.1}, 5.0, -5.0),
}


def make_project(root: Path, kind: str) -> tuple[Path, Path]:
    """A project directory of ``kind``; returns it and its data file."""
    case = CASES[kind]
    pipelines = root / case.package / "pipelines"
    pipelines.mkdir(parents=True)
    (root / case.package / "__init__.py").write_text("")
    (pipelines / "__init__.py").write_text("")
    (root / "data").mkdir()
    if kind == "classification":
        shutil.copyfile(
            SAMPLE_PROJECT_FILES / "package/pipelines/train_sklearn.py", pipelines / "train.py"
        )
        shutil.copyfile(
            SAMPLE_PROJECT_FILES / "package/pipelines/features.py", pipelines / "features.py"
        )
        shutil.copyfile(CONTRACT_YAML, root / "data" / "contract.yaml")
        shutil.copyfile(SAMPLE_CSV, root / "data" / "data.csv")
    else:
        (pipelines / "train.py").write_text(REGRESSION_TRAIN)
        (root / "data" / "contract.yaml").write_text(REGRESSION_CONTRACT)
        (root / "data" / "data.csv").write_text(regression_csv())
    return root, root / "data" / "data.csv"


@pytest.fixture(autouse=True)
def registry_on_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluate step's own registry client reaches the embedded endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)


def definition(case: Case, margin: float, group: str = "g") -> dict[str, Any]:
    spec = PipelineSpec(
        role_arn="arn:aws:iam::123456789012:role/r",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/p:1",
        input_data_uri="s3://raw/datasets/",
        artifacts_uri="s3://artifacts",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        model_package_group=group,
        training=TrainingSettings(
            instance_type="ml.m5.xlarge",
            hyperparameters=case.params,
            primary_metric=case.metric,
            evaluation_margin=margin,
        ),
        inference_instance_types=("ml.m5.large",),
    )
    return build_definition(spec)


def run_container(
    project: Path,
    lake: Any,
    version_prefix: str,
    case: Case,
    approved: str | None,
    margin: float,
    group: str = "g",
) -> dict[str, Any]:
    """validate -> train -> evaluate through the entry points, as the definition invokes them.

    ``approved`` None: a drift-started execution, which passes only ``TriggeredBy``.
    """
    d = definition(case, margin, group)
    steps = {s["Name"]: s for s in d["Steps"]}
    ml = project / "opt-ml"
    environ = {
        "SM_ML_ROOT": str(ml),
        "MLOPS_TRAIN_MODULE": f"{case.package}.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
    }
    given = TRIGGER_PARAMETERS["drift"] if approved is None else {"ApprovedModelMetric": approved}
    resolve = Resolver(d, parameters=given)
    # ValidateData: the InputDataUri prefix (data + manifest) lands in input/data.
    inputs = ml / "processing" / "input" / "data"
    inputs.mkdir(parents=True)
    for key in lake.keys("datasets", version_prefix):
        (inputs / Path(key).name).write_bytes(lake.get("datasets", key))
    command = resolve(steps["ValidateData"]["Arguments"]["AppSpecification"]["ContainerArguments"])
    assert container.main(command, environ) == 0
    validated = ml / "validated"
    shutil.copytree(ml / "processing" / "output", validated)
    report = json.loads((validated / "report.json").read_text())
    (validated / "report.json").unlink()  # S3 output holds it too; the channel reads data files
    # TrainModel: the validated output is the train channel; hyperparameters as strings.
    train_args = steps["TrainModel"]["Arguments"]
    (ml / "input" / "config").mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(train_args["HyperParameters"])
    )
    assert container.main(["train"], {**environ, "SM_CHANNEL_TRAIN": str(validated)}) == 0
    # ReadChampion: mlops's own command resolves the figure (given, or the registry's champion
    # now); its property file is what the isolated evaluate step's --approved-metric reads.
    command = resolve(steps["ReadChampion"]["Arguments"]["AppSpecification"]["ContainerArguments"])
    lookup = ml / "champion"
    assert container.main(command, {**environ, "SM_PROCESSING_ROOT": str(lookup)}) == 0
    champion = json.loads((lookup / "output" / "champion.json").read_text())
    assert isinstance(champion["approved"], str) and champion["approved"]  # never empty
    resolve = Resolver(
        d,
        parameters=given,
        property_files={"Steps.ReadChampion.PropertyFiles.ChampionReport": champion},
    )
    # EvaluateModel: the model as SageMaker's model.tar.gz, the validated data, the arguments.
    shutil.rmtree(ml / "processing")
    (ml / "processing" / "model").mkdir(parents=True)
    with tarfile.open(ml / "processing" / "model" / "model.tar.gz", "w:gz") as tar:
        for path in (ml / "model").iterdir():
            tar.add(path, arcname=path.name)
    shutil.copytree(validated, ml / "processing" / "input" / "data")
    command = resolve(steps["EvaluateModel"]["Arguments"]["AppSpecification"]["ContainerArguments"])
    assert container.main(command, environ) == 0
    record = json.loads((ml / "processing" / "output" / "evaluation.json").read_text())
    gate_step = steps["CheckGate"]
    files = {"Steps.EvaluateModel.PropertyFiles.EvaluationReport": record}
    return {
        "champion": champion,
        "validation": report,
        "evaluation": record,
        "next": Resolver(d, property_files=files).next_steps(gate_step),
        "data": next(p for p in validated.iterdir()),
    }


def run_local(
    project: Path, data: Path, lake: Any, case: Case, approved: float | None, margin: float
) -> dict[str, Any]:
    """ingest -> validate -> train -> evaluate, as `mlops pipeline run` wires them."""
    contract = DataContract.load(project / "data" / "contract.yaml")
    version = ingest(lake, data, case.package)
    table, _ = validate_step(lake, version, contract)
    trainer = load_trainer(project, case.package)
    params = decode_hyperparameters(encode_hyperparameters(case.params))
    model, test = train_step(trainer, table, contract, params)
    inputs = RunInputs(version.sha256, contract.sha256, "code", params, "fw", case.metric, 7)
    record = evaluate_step(lake, trainer, model, test, contract, inputs, "v", approved, margin)
    evaluation = lake.get_json("evaluation", f"{record.run_id}.json")
    return {
        "version": version,
        "validation": lake.get_json("validation", f"{version.sha256}/report.json"),
        "evaluation": evaluation,
        "record": record,
        "test": test,
    }


@pytest.mark.parametrize("kind", list(CASES))
def test_local_and_container_agree(kind: str, tmp_path: Path, lake: Any) -> None:
    case = CASES[kind]
    project, data = make_project(tmp_path / "project", kind)
    local = run_local(project, data, lake, case, None, 0.01)
    version = local["version"]
    prefix = version.key.rsplit("/", 1)[0] + "/"
    cloud = run_container(project, lake, prefix, case, APPROVED_FROM_REGISTRY, 0.01)

    # The same dataset version: the key follows the layout, the container hashes the same bytes.
    assert version.key == version_key(case.package, version.sha256, "csv")
    assert cloud["validation"] == local["validation"]
    assert cloud["validation"]["dataset"] == version.sha256
    # The same split: the container's held-out rows are the local run's test split.
    table, _ = read_file(cloud["data"])
    assert np.array_equal(split(table)[2].values, local["test"].values)
    # The same metrics and gate: the evaluation records agree but for the local run id.
    local_record = dict(local["evaluation"])
    assert local_record.pop("run_id") == local["record"].run_id
    assert cloud["evaluation"] == local_record
    assert local_record["primary_metric"] == case.metric
    assert local["record"].gate == local_record["gate"]
    assert cloud["next"] == ["RegisterModel"]  # nothing approved yet: the candidate registers


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("rival", ["worse", "better"])
def test_the_definitions_gate_decides_as_the_local_gate_does(
    kind: str, rival: str, tmp_path: Path, lake: Any
) -> None:
    case = CASES[kind]
    project, data = make_project(tmp_path / "project", kind)
    first = run_local(project, data, lake, case, None, 0.0)
    candidate = first["evaluation"]["metrics"][case.metric]
    # An approved model that the candidate beats (worse), or that beats it (better).
    approved = candidate + (case.worse if rival == "worse" else case.better) * (
        1 if kind == "regression" else 0.1
    )
    local = run_local(project, data, lake, case, approved, 0.0)
    # A re-run with identical inputs keeps its record; gate it afresh as approve() does.
    from mlops.pipelines.evaluate import gate

    local_decision = gate(case.metric, candidate, approved, 0.0)
    assert local["record"].metrics[case.metric] == candidate
    prefix = local["version"].key.rsplit("/", 1)[0] + "/"
    cloud = run_container(project, lake, prefix, case, repr(approved), 0.0)
    assert cloud["evaluation"]["gate"] == local_decision.to_dict()
    expected = ["RegisterModel"] if rival == "worse" else ["GateFailed"]
    assert cloud["next"] == expected
    assert local_decision.passed is (rival == "worse")


def approve_champion(lake: Any, moto_endpoint: str, group: str, metric: str, figure: float) -> str:
    """An approved package in a fresh group whose recorded evaluation has ``figure``."""
    import boto3

    sm = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    sm.create_model_package_group(ModelPackageGroupName=group)
    lake.put("evaluation", f"{group}.json", json.dumps({"metrics": {metric: figure}}).encode())
    created = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="champion",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "img:1", "ModelDataUrl": lake.uri("models", "m.tar.gz")}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": lake.uri("evaluation", f"{group}.json"),
                }
            }
        },
    )
    return str(created["ModelPackageArn"])


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("rival", ["worse", "better"])
def test_a_drift_started_run_gates_against_the_registrys_champion(
    kind: str, rival: str, tmp_path: Path, lake: Any, moto_endpoint: str
) -> None:
    """No figure passed: the champion step reads the registry; the isolated evaluate gates."""
    import uuid

    case = CASES[kind]
    project, data = make_project(tmp_path / "project", kind)
    first = run_local(project, data, lake, case, None, 0.0)
    candidate = first["evaluation"]["metrics"][case.metric]
    champion = candidate + (case.worse if rival == "worse" else case.better) * (
        1 if kind == "regression" else 0.1
    )
    group = f"champions-{uuid.uuid4().hex[:8]}"
    approve_champion(lake, moto_endpoint, group, case.metric, champion)
    prefix = first["version"].key.rsplit("/", 1)[0] + "/"
    cloud = run_container(project, lake, prefix, case, None, 0.0, group=group)
    assert cloud["champion"]["source"] == "registry"
    gate = cloud["evaluation"]["gate"]
    assert gate["approved"] == pytest.approx(champion)
    assert gate["passed"] is (rival == "worse")
    # A worse candidate than the registry's champion stops at the gate; a better one registers.
    assert cloud["next"] == (["RegisterModel"] if rival == "worse" else ["GateFailed"])


def test_with_no_champion_in_the_registry_the_candidate_registers(
    tmp_path: Path, lake: Any, moto_endpoint: str
) -> None:
    import uuid

    import boto3

    case = CASES["classification"]
    project, data = make_project(tmp_path / "project", "classification")
    first = run_local(project, data, lake, case, None, 0.0)
    group = f"empty-{uuid.uuid4().hex[:8]}"
    sm = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    sm.create_model_package_group(ModelPackageGroupName=group)
    prefix = first["version"].key.rsplit("/", 1)[0] + "/"
    cloud = run_container(project, lake, prefix, case, None, 0.0, group=group)
    assert cloud["champion"] == {"approved": "none", "source": "none approved"}
    assert cloud["evaluation"]["gate"]["approved"] is None
    assert cloud["next"] == ["RegisterModel"]


def test_serving_before_training_says_what_to_do(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    project, _ = make_project(tmp_path / "project", "classification")
    environ = {
        "SM_ML_ROOT": str(project / "opt-ml"),
        "MLOPS_TRAIN_MODULE": "churn_parity.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
    }
    assert container.main(["serve"], environ) == 2  # no model yet: a clear refusal, no server
    err = capsys.readouterr().err
    assert "no model in" in err and "make train" in err and "Traceback" not in err
    assert container.main(["validate"], {}) == 2  # no MLOPS_TRAIN_MODULE: the image is broken
    assert container.main(["deploy"], environ) == 2


def trained_in_container(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A classification project whose model the container's ``train`` wrote, and its env."""
    import sys

    project, data = make_project(tmp_path / "project", "classification")
    channel = project / "channel"
    channel.mkdir()
    shutil.copyfile(data, channel / "data.csv")
    environ = {
        "SM_ML_ROOT": str(project / "opt-ml"),
        "MLOPS_TRAIN_MODULE": "churn_parity.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
    }
    sys.path.insert(0, str(project))
    try:
        assert container.main(["train"], {**environ, "SM_CHANNEL_TRAIN": str(channel)}) == 0
    finally:
        sys.path.remove(str(project))
    return project, environ


def test_the_container_server_drains_on_sigterm_and_exits_cleanly(
    tmp_path: Path, lake: Any, moto_endpoint: str
) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    project, environ = trained_in_container(tmp_path)
    # As on Kubernetes: the model reaches the server from the lake, not from the image.
    model_dir = project / "opt-ml" / "model"
    with tarfile.open(fileobj=(packed := io.BytesIO()), mode="w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    lake.put("models", "run-k8s/model.tar.gz", packed.getvalue())
    shutil.rmtree(model_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **environ, "PYTHONPATH": str(project)}
    env.update(SAGEMAKER_BIND_TO_PORT=str(port), MLOPS_SERVE_HOST="127.0.0.1")
    # On Kubernetes the server captures into the lake itself (SageMaker captures for it).
    env.update({f"MLOPS_BUCKET_{z.upper()}": b for z, b in lake.buckets.items()})
    env.update(MLOPS_ENDPOINT_NAME="k8s-churn", AWS_ENDPOINT_URL_S3=moto_endpoint)
    env.update(MLOPS_MODEL_URI=lake.uri("models", "run-k8s/model.tar.gz"))
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlops.pipelines.container", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("model from s3://")
        assert "serving on" in server.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
            assert response.status == 200
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=b"[[12, 70.5, 1, 0]]",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        server.send_signal(signal.SIGTERM)
        # Exit status 0, not death by SIGTERM (-15): the drain ran to its end...
        assert server.wait(timeout=30) == 0
        # ...and flushed the capture on the way out.
        assert len(list(lake.keys("capture", "k8s-churn/"))) == 1
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_on_kubernetes_training_reads_its_dataset_and_writes_its_model_through_the_lake(
    tmp_path: Path, lake: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from mlops.pipelines.data import version_prefix
    from mlops.pipelines.reference import read_reference

    project, data = make_project(tmp_path / "project", "classification")
    version = ingest(lake, data, "churn_parity")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    environ = {
        "SM_ML_ROOT": str(project / "opt-ml"),
        "SM_CHANNEL_TRAIN": str(project / "channel"),  # empty: the lake fills it
        "MLOPS_TRAIN_MODULE": "churn_parity.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
        "MLOPS_DATASET_URI": lake.uri("datasets", version_prefix("churn_parity", version.sha256)),
        "MLOPS_MODEL_OUTPUT_URI": lake.uri("models", "k8s-run/model.tar.gz"),
        **{f"MLOPS_BUCKET_{z.upper()}": b for z, b in lake.buckets.items()},
    }
    sys.path.insert(0, str(project))
    try:
        assert container.main(["train"], environ) == 0
    finally:
        sys.path.remove(str(project))
    artifact = lake.get("models", "k8s-run/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        assert {"model.joblib", "reference.parquet"} <= set(tar.getnames())
    reference = read_reference(artifact)
    contract = DataContract.load(project / "data" / "contract.yaml")
    assert reference is not None and list(reference) == contract.features
    missing = {**environ, "MLOPS_DATASET_URI": lake.uri("datasets", "nothing-here/")}
    assert container.main(["train"], missing) == 2  # a clear refusal, not a crash


def test_prepare_lake_makes_an_empty_stores_buckets_once(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # MinIO in kind starts with no bucket: the image's prepare-lake makes them, and only them.
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    prefix = f"kind-{uuid.uuid4().hex[:8]}"
    environ = {f"MLOPS_BUCKET_{z.upper()}": f"{prefix}-lake-{z}" for z in ("raw", "artifacts")}
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=f"{prefix}-lake-raw")  # one is there already
    assert container.main(["prepare-lake"], environ) == 0
    assert f"created: {prefix}-lake-artifacts\n" in capsys.readouterr().out
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {f"{prefix}-lake-raw", f"{prefix}-lake-artifacts"} <= names
    assert container.main(["prepare-lake"], environ) == 0  # again: nothing to make
    assert "created: none" in capsys.readouterr().out
    assert container.main(["prepare-lake"], {}) == 2
    assert "no MLOPS_BUCKET_<ZONE>" in capsys.readouterr().err


def test_prepare_lake_waits_for_a_store_that_is_starting_then_gives_up() -> None:
    from botocore.exceptions import EndpointConnectionError

    from mlops.core.errors import AwsCallFailed
    from mlops.pipelines.lake import Lake

    class Starting:
        def __init__(self, down_for: int) -> None:
            self.calls, self.down_for, self.made = 0, down_for, []

        def head_bucket(self, Bucket: str) -> None:  # boto3's names
            self.calls += 1
            if self.calls <= self.down_for:
                raise EndpointConnectionError(endpoint_url="http://lake:9000")
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "404"}}, "HeadBucket")

        def create_bucket(self, Bucket: str) -> None:
            self.made.append(Bucket)

    store = Starting(down_for=3)
    assert Lake(store, {"raw": "b"}).ensure_buckets(attempts=5, base_delay=0) == ["b"]
    assert store.calls == 4 and store.made == ["b"]
    with pytest.raises(AwsCallFailed, match="EndpointConnectionError"):
        Lake(Starting(down_for=9), {"raw": "b"}).ensure_buckets(attempts=5, base_delay=0)


def test_the_container_server_on_a_busy_port_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket
    import sys

    project, environ = trained_in_container(tmp_path)
    environ["MLOPS_SERVE_HOST"] = "127.0.0.1"
    sys.path.insert(0, str(project))
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            capsys.readouterr()
            assert container.main(["serve"], {**environ, "SAGEMAKER_BIND_TO_PORT": port}) == 2
    finally:
        sys.path.remove(str(project))
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "SAGEMAKER_BIND_TO_PORT" in err
    assert "Traceback" not in err


def test_the_champion_step_keeps_a_given_figure_and_needs_no_project_code(
    tmp_path: Path,
) -> None:
    # A manual run that passes the approved figure: kept as given, no registry call; the step
    # runs in an image whose MLOPS_TRAIN_MODULE it never reads.
    environ = {"SM_PROCESSING_ROOT": str(tmp_path)}
    args = ["--metric", "rmse", "--approved-metric", "12.5", "--model-package-group", "g"]
    assert container.main(["champion", *args], environ) == 0
    written = json.loads((tmp_path / "output" / "champion.json").read_text())
    assert written == {"approved": "12.5", "source": "parameter"}
