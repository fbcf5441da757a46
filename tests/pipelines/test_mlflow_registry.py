"""The MLflow registry and tracker against a real `mlflow server` (3.17.2, SQLite, artifacts in
a moto bucket): register, the gate against @champion both ways, approve, resolve, two approvals
at once, tracking, and parity with the SageMaker registry on the embedded endpoint."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from conftest import CONTRACT_YAML
from registry_records import candidate

from mlops.core.errors import GateBlocked, UserError
from mlops.pipelines.adapters import mlflow as adapter
from mlops.pipelines.adapters.aws import SageMakerRegistry
from mlops.pipelines.adapters.mlflow import (
    APPROVED,
    CHAMPION,
    PENDING,
    MlflowApi,
    MlflowRegistry,
    MlflowTracker,
)
from mlops.pipelines.evaluate import gate
from mlops.pipelines.registry import (
    NotRegistered,
    OlderThanApproved,
    RunRecord,
    load_run,
    save_run,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(mlflow_server: Any, lake: Any) -> MlflowRegistry:
    return MlflowRegistry(MlflowApi(mlflow_server.url), lake, f"churn-{uuid.uuid4().hex[:8]}")


def version_tags(registry: MlflowRegistry, package: str) -> dict[str, str]:
    _, version, _ = adapter.parse_model_uri(package)
    return adapter._tag_map(registry._version(version))


def test_register_makes_a_version_with_the_runs_lineage_once(
    registry: MlflowRegistry, lake
) -> None:  # type: ignore[no-untyped-def]
    record = candidate(lake, "roc_auc", 0.8)
    registered = registry.register(record, "registry.example.com/churn@sha256:" + "a" * 64)
    assert registered.model_package_arn == f"models:/{registry.group}/1"
    assert load_run(lake, record.run_id) == registered and registered.status == "registered"
    tags = version_tags(registry, registered.model_package_arn)
    assert tags["mlops.run_id"] == record.run_id
    assert tags["mlops.dataset_sha256"] == "d" * 64 and tags["mlops.code_sha256"] == "e" * 64
    assert tags["mlops.code_version"] == "abc123" and tags["mlops.approval"] == PENDING
    assert tags["mlops.evaluation_uri"] == lake.uri("evaluation", f"{record.run_id}.json")
    assert registry._version("1")["source"] == record.artifact_uri
    # Registered once: the record knows its version, and a lost record finds it again.
    assert registry.register(registered, "img") == registered
    assert registry.register(record, "img").model_package_arn == registered.model_package_arn
    found = registry.api.call(
        "GET", "model-versions/search", query={"filter": f"name='{registry.group}'"}
    )
    assert len(found["model_versions"]) == 1
    # A failed gate registers nothing.
    failed = candidate(lake, "roc_auc", 0.5)
    with pytest.raises(NotRegistered):
        registry.register(failed, "img", decision=gate("roc_auc", 0.5, 0.8, 0.0))
    assert registry.approval_status(registered.model_package_arn) == PENDING


@pytest.mark.parametrize(
    ("metric", "first", "worse", "better"),
    [("roc_auc", 0.80, 0.78, 0.85), ("rmse", 2.0, 2.2, 1.5)],  # higher and lower is better
)
def test_the_gate_compares_with_the_champion_in_the_metrics_direction(  # type: ignore[no-untyped-def]
    registry: MlflowRegistry, lake, metric: str, first: float, worse: float, better: float
) -> None:
    assert registry.champion() is None and registry.approved_metric(metric) is None
    champion = registry.register(candidate(lake, metric, first), "img")
    assert registry.approve(champion, 0.0).passed  # beats no champion
    assert registry.champion()["version"] == "1"  # type: ignore[index]
    assert registry.approved_metric(metric) == first
    assert registry.approval_status(champion.model_package_arn) == APPROVED
    loser = registry.register(candidate(lake, metric, worse), "img")
    with pytest.raises(GateBlocked, match="does not beat"):
        registry.approve(loser, 0.0)
    assert registry.approved_run().run_id == champion.run_id  # type: ignore[union-attr]
    assert registry.approval_status(loser.model_package_arn) == PENDING
    winner = registry.register(candidate(lake, metric, better), "img")
    with pytest.raises(GateBlocked):  # better, but not by this margin
        registry.approve(winner, abs(better - first) + 0.01)
    decision = registry.approve(winner, 0.0)
    assert decision.passed and decision.approved == first and decision.candidate == better
    assert registry.champion()["version"] == "3"  # type: ignore[index]
    assert load_run(lake, winner.run_id).previous_run == champion.run_id
    # The alias moved: the old champion stays approved, only one version holds @champion.
    model = registry.api.call("GET", "registered-models/get", query={"name": registry.group})
    assert model["registered_model"]["aliases"] == [{"alias": CHAMPION, "version": "3"}]


def test_resolve_champion_is_the_approved_versions_artifact(registry: MlflowRegistry, lake) -> None:  # type: ignore[no-untyped-def]
    uri = f"models:/{registry.group}@champion"
    registry.register(candidate(lake, "roc_auc", 0.7), "img")
    with pytest.raises(UserError, match="no version holds @champion"):
        registry.resolve(uri)
    one = registry.register(candidate(lake, "roc_auc", 0.8), "img")
    registry.approve(one, 0.0)
    assert registry.resolve(uri) == one.artifact_uri
    assert registry.resolve(f"models:/{registry.group}/1") != one.artifact_uri
    two = registry.register(candidate(lake, "roc_auc", 0.9), "img")
    registry.approve(two, 0.0)
    assert registry.resolve(uri) == two.artifact_uri  # promotion: the next start serves it
    with pytest.raises(UserError, match="not a models:/"):
        registry.resolve("s3://bucket/model.tar.gz")


def test_the_serve_entry_point_resolves_a_models_uri(registry: MlflowRegistry, lake) -> None:  # type: ignore[no-untyped-def]
    from mlops.pipelines.adapters.mlflow import model_artifact_uri

    one = registry.register(candidate(lake, "roc_auc", 0.8), "img")
    registry.approve(one, 0.0)
    environ = {"MLFLOW_TRACKING_URI": registry.api.url}
    uri = f"models:/{registry.group}@champion"
    assert model_artifact_uri(uri, environ, lake) == one.artifact_uri
    assert model_artifact_uri(one.artifact_uri, {}, lake) == one.artifact_uri  # s3:// as given
    with pytest.raises(UserError, match="MLFLOW_TRACKING_URI"):
        model_artifact_uri(uri, {}, lake)


def widen(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.4) -> None:
    """Let the other approval catch up between reading the champion and moving the alias."""
    real = adapter.gate_against

    def slow(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        time.sleep(seconds)
        return result

    monkeypatch.setattr(adapter, "gate_against", slow)


def test_two_approvals_at_once_leave_one_consistent_champion(  # type: ignore[no-untyped-def]
    registry: MlflowRegistry, lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The newer version is also the better one, so whichever approval goes first, the
    # outcome is the same: it is the champion, and a consistent history led there.
    older = registry.register(candidate(lake, "roc_auc", 0.80), "img")
    newer = registry.register(candidate(lake, "roc_auc", 0.90), "img")
    widen(monkeypatch)
    outcomes: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def approve(record: RunRecord) -> None:
        # Each its own registry object and connections, as two pods would be.
        mine = MlflowRegistry(registry.api, lake, registry.group)
        barrier.wait(10)
        try:
            outcomes[record.run_id] = mine.approve(record, 0.0)
        except (GateBlocked, OlderThanApproved) as refused:
            outcomes[record.run_id] = refused

    threads = [threading.Thread(target=approve, args=(r,)) for r in (older, newer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert registry.champion()["version"] == "2"  # type: ignore[index]
    records = {r.run_id: load_run(lake, r.run_id) for r in (older, newer)}
    took_over_from_nothing = [
        r for r in records.values() if r.status == "approved" and r.previous_run == ""
    ]
    assert len(took_over_from_nothing) == 1, outcomes
    if isinstance(outcomes[older.run_id], Exception):  # newer went first; older was refused
        assert (
            records[newer.run_id].previous_run == "" and records[older.run_id].status != "approved"
        )
    else:  # older went first; newer was gated against it, not against nothing
        assert records[newer.run_id].previous_run == older.run_id
        assert outcomes[newer.run_id].approved == 0.80
    # The lease is gone once both are done.
    assert registry._holder() is None


def test_the_lease_waits_for_its_holder_and_breaks_when_it_died(
    registry: MlflowRegistry, lake
) -> None:  # type: ignore[no-untyped-def]
    one = registry.register(candidate(lake, "roc_auc", 0.8), "img")
    impatient = MlflowRegistry(registry.api, lake, registry.group, wait_s=0.5)
    with registry.lease():
        with pytest.raises(UserError, match="held its lease"):
            impatient.approve(one, 0.0)
    assert registry.champion() is None
    # A holder that died leaves a lease behind; once it expires, the next approval breaks it.
    dead = MlflowRegistry(registry.api, lake, registry.group, lease_s=0.2)
    assert dead._try_lease("dead-holder")
    time.sleep(0.3)
    assert impatient.approve(one, 0.0).passed and registry._holder() is None


def test_tracking_logs_params_metrics_lineage_and_the_model(mlflow_server: Any, lake) -> None:  # type: ignore[no-untyped-def]
    api = MlflowApi(mlflow_server.url)
    experiment = f"churn-{uuid.uuid4().hex[:8]}"
    record = candidate(lake, "roc_auc", 0.83)
    run = MlflowTracker(api, experiment, lake)(record)
    data = api.call("GET", "runs/get", query={"run_id": run})["run"]
    params = {p["key"]: p["value"] for p in data["data"]["params"]}
    metrics = {m["key"]: m["value"] for m in data["data"]["metrics"]}
    tags = {t["key"]: t["value"] for t in data["data"]["tags"]}
    assert params == {"C": "1.0", "solver": "lbfgs"} and metrics == {"roc_auc": 0.83}
    assert tags["mlops.run_id"] == record.run_id and tags["mlops.dataset_sha256"] == "d" * 64
    assert tags["mlops.code_sha256"] == "e" * 64 and tags["mlops.code_version"] == "abc123"
    assert data["info"]["status"] == "FINISHED"
    model = api.download(data["info"]["artifact_uri"], adapter.MODEL_ARTIFACT)
    assert model == lake.read_uri(record.artifact_uri)
    # Again: the same MLflow run, not a second one; and the version links to it.
    assert MlflowTracker(api, experiment, lake)(record) == run
    registry = MlflowRegistry(api, lake, experiment, experiment=experiment)
    registered = registry.register(record, "img")
    assert registry._version("1")["run_id"] == run
    assert registered.model_package_arn.endswith("/1")


def test_a_failing_mlflow_tracker_never_fails_the_run(lake, caplog) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from mlops.infra.local_mlflow import free_port
    from mlops.pipelines.data import DataContract, Table
    from mlops.pipelines.identity import RunInputs
    from mlops.pipelines.steps import evaluate_step

    class Model:
        FRAMEWORK = ""

        @staticmethod
        def predict_proba(model: object, x: np.ndarray) -> np.ndarray:
            return x[:, 0]

        @staticmethod
        def save(model: object, directory: Any) -> Any:
            (directory / "m").write_text("m")
            return directory / "m"

    down = MlflowTracker(MlflowApi(f"http://127.0.0.1:{free_port()}", timeout=2), "x", lake)
    contract = DataContract.model_validate({"label": "y", "columns": {"x": {}, "y": {}}})
    test = Table(("x", "y"), np.array([[0.1, 0], [0.9, 1], [0.2, 0], [0.8, 1]]))
    inputs = RunInputs("d" * 64, contract.sha256, "e" * 64, {}, "fw", "roc_auc", 7)
    record = evaluate_step(lake, Model, None, test, contract, inputs, "v", tracker=down)  # type: ignore[arg-type]
    assert load_run(lake, record.run_id) == record
    assert "mlflow" in caplog.text and "UNREACHABLE" in caplog.text


@pytest.mark.parametrize(
    ("metric", "first", "second", "passes"),
    [("roc_auc", 0.8, 0.79, False), ("rmse", 2.0, 1.9, True)],  # margin 0.05
)
def test_parity_the_same_candidate_gets_the_same_decision_from_both_registries(  # type: ignore[no-untyped-def]
    registry: MlflowRegistry,
    lake,
    sagemaker,
    metric: str,
    first: float,
    second: float,
    passes: bool,
) -> None:
    group = f"parity-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    on_aws = SageMakerRegistry(sagemaker, lake, group)
    champion, challenger = candidate(lake, metric, first), candidate(lake, metric, second)
    decisions: dict[str, list[Any]] = {}
    for name, each in (("sagemaker", on_aws), ("mlflow", registry)):
        # Each registry keeps its own package id in the record: register from clean copies.
        approved = each.register(champion.replace(model_package_arn=""), "img")
        each.approve(approved, 0.0)
        figure = each.approved_metric(metric)
        contender = each.register(challenger.replace(model_package_arn=""), "img")
        try:
            outcome: Any = each.approve(contender, 0.05).to_dict()
        except GateBlocked as blocked:
            outcome = ("blocked", blocked.metric, blocked.candidate, blocked.approved)
        champion_record = each.approved_run()
        assert champion_record is not None
        # The evaluation record each registry points at (ModelQuality statistics, a tag).
        if each is on_aws:
            described = sagemaker.describe_model_package(
                ModelPackageName=approved.model_package_arn
            )
            pointer = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        else:
            pointer = version_tags(registry, approved.model_package_arn)["mlops.evaluation_uri"]
        evaluation = json.loads(lake.read_uri(pointer))
        decisions[name] = [figure, outcome, champion_record.run_id, evaluation]
        for record in (champion, challenger):  # back to unregistered for the other registry
            save_run(lake, record)
    assert decisions["sagemaker"] == decisions["mlflow"]
    figure, outcome, run_id, evaluation = decisions["mlflow"]
    assert figure == first
    if passes:
        assert outcome["passed"] and outcome["approved"] == first and run_id == challenger.run_id
    else:
        assert outcome == ("blocked", metric, second, first) and run_id == champion.run_id
    assert evaluation["gate"]["higher_is_better"] is (metric == "roc_auc")


def test_the_container_steps_track_into_one_mlflow_run(
    mlflow_server: Any, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    # The executors' steps (SageMaker's jobs, the workflow's pods) run the entry points apart;
    # MLOPS_RUN_ID makes training and evaluation meet in one MLflow run.
    import shutil
    import tarfile

    from test_lifecycle_parity import make_project

    from mlops.pipelines import container

    project, data = make_project(tmp_path / "project", "classification")
    ml = tmp_path / "ml"
    channel = ml / "input" / "data" / "train"
    channel.mkdir(parents=True)
    shutil.copyfile(data, channel / "data.csv")
    (ml / "input" / "config").mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text('{"C": "0.5"}')
    run_id = f"wf-{uuid.uuid4().hex[:8]}"
    environ = {
        "SM_ML_ROOT": str(ml),
        "MLOPS_TRAIN_MODULE": "churn_parity.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLOPS_RUN_ID": run_id,
        "MLOPS_REGISTERED_MODEL": f"churn-{uuid.uuid4().hex[:8]}",
        "MLOPS_CODE_VERSION": "registry.example.com/churn@sha256:" + "a" * 64,
    }
    import sys

    sys.path.insert(0, str(project))
    try:
        assert container.main(["train"], environ) == 0
        (ml / "processing" / "model").mkdir(parents=True)
        with tarfile.open(ml / "processing" / "model" / "model.tar.gz", "w:gz") as tar:
            for path in (ml / "model").iterdir():
                tar.add(path, arcname=path.name)
        (ml / "processing" / "input").mkdir(parents=True)
        shutil.copytree(channel, ml / "processing" / "input" / "data")
        assert container.main(["evaluate", "--metric", "roc_auc"], environ) == 0
    finally:
        sys.path.remove(str(project))
    api = MlflowApi(mlflow_server.url)
    experiment = api.call(
        "GET",
        "experiments/get-by-name",
        query={"experiment_name": environ["MLOPS_REGISTERED_MODEL"]},
    )
    (run,) = api.call(
        "POST", "runs/search", {"experiment_ids": [experiment["experiment"]["experiment_id"]]}
    )["runs"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    metrics = {m["key"] for m in run["data"]["metrics"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert params == {"C": "0.5"} and {"roc_auc", "accuracy", "f1"} <= metrics
    assert tags["mlops.run_id"] == run_id and tags["mlops.gate"] == "passed"
    assert tags["mlops.code_version"] == environ["MLOPS_CODE_VERSION"]
    assert len(tags["mlops.dataset_sha256"]) == 64
    packed = (ml / "processing" / "model" / "model.tar.gz").read_bytes()
    assert api.download(run["info"]["artifact_uri"], adapter.MODEL_ARTIFACT) == packed
    # A tracking server that is down never fails a step.
    down = {**environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLOPS_RUN_ID": "x"}
    sys.path.insert(0, str(project))
    try:
        assert container.main(["evaluate", "--metric", "roc_auc"], down) == 0
    finally:
        sys.path.remove(str(project))
    assert "tracking to MLflow failed, the step goes on" in capsys.readouterr().err


def test_a_pods_environment_names_its_mlflow_registry(registry: MlflowRegistry, lake) -> None:  # type: ignore[no-untyped-def]
    # What the k8s platform sets on every workload when the stack runs MLflow.
    environ = {
        "MLOPS_REGISTRY": "mlflow",
        "MLFLOW_TRACKING_URI": registry.api.url,
        "MLOPS_REGISTERED_MODEL": registry.group,
    }
    found = adapter.registry_from_environ(environ, lake)
    assert found is not None and (found.group, found.api.url) == (registry.group, registry.api.url)
    one = found.register(candidate(lake, "rmse", 2.0), "img")
    found.approve(one, 0.0)
    assert registry.approved_metric("rmse") == 2.0
    assert adapter.registry_from_environ({**environ, "MLOPS_REGISTRY": "lake"}, lake) is None
    with pytest.raises(UserError, match="needs MLFLOW_TRACKING_URI"):
        adapter.registry_from_environ({"MLOPS_REGISTRY": "mlflow"}, lake)


def test_the_drift_job_reads_the_champions_artifact(  # type: ignore[no-untyped-def]
    registry: MlflowRegistry, lake, capsys, moto_endpoint: str, monkeypatch
) -> None:
    # The monitor job gets the server's MLOPS_MODEL_URI, models:/<model>@champion, and reads
    # the artifact the alias resolves to (here one without a reference sample: it says so).
    import io
    import tarfile

    from mlops.pipelines import container

    record = candidate(lake, "roc_auc", 0.8)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.bin")
        tar.addfile(info, io.BytesIO(b""))
    lake.s3.put_object(
        Bucket=lake.buckets["artifacts"],
        Key=lake.locate("models", f"{record.run_id}/model.tar.gz")[1],
        Body=packed.getvalue(),
    )
    registry.approve(registry.register(record, "img"), 0.0)
    environ = {
        "MLOPS_MODEL_URI": f"models:/{registry.group}@champion",
        "MLOPS_ENDPOINT_NAME": "churn-server",
        "MLFLOW_TRACKING_URI": registry.api.url,
        "MLOPS_DATA_CONTRACT": str(CONTRACT_YAML),
        **{f"MLOPS_BUCKET_{zone.upper()}": bucket for zone, bucket in lake.buckets.items()},
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)  # the pod's lake endpoint
    assert container.main(["monitor"], environ) == 2
    err = capsys.readouterr().err
    assert f"models:/{registry.group}@champion carries no reference sample" in err


@pytest.mark.parametrize(
    ("code", "message"),
    [
        # SQLite answers "database is locked" to concurrent writers: try again.
        ("INTERNAL_ERROR", "database is locked"),
        # MLflow answers a name clash by reading the model that holds the name; released in
        # between (the holder finished), that read fails: the lease is free, try again.
        ("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=m.lease not found"),
    ],
)
def test_a_busy_server_makes_the_lease_wait_not_fail(code: str, message: str) -> None:
    calls: list[str] = []

    class Busy(MlflowApi):
        def call(self, method: str, path: str, body: Any = None, query: Any = None) -> Any:
            calls.append(path)
            if path == "registered-models/create" and len(calls) == 1:
                raise adapter.MlflowError(f"{method} {path}", code, message)
            if path == "registered-models/get":
                return {"registered_model": {"tags": [{"key": "mlops.lease", "value": "x"}]}}
            return {}

    registry = MlflowRegistry(Busy("http://127.0.0.1:1"), None, "m", wait_s=5)  # type: ignore[arg-type]
    with registry.lease():
        assert calls == ["registered-models/create", "registered-models/create"]
    # Released only after checking it is still this holder's (here another's token: kept).
    assert calls[-1] == "registered-models/get"
