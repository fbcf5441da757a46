"""`mlops pipeline run` and `mlops runs` on a project's local stack, and MLflow tracking."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.pipelines.identity import RunInputs
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

pytestmark = pytest.mark.integration


@pytest.fixture
def project(local_project: Path) -> Path:
    return local_project


@pytest.mark.parametrize(
    ("content", "step", "message"),
    [
        ("", "ingest", "file is empty"),
        ("tenure_months,monthly_charges\n1,2\n", "validate", "missing column support_calls"),
        ("a,b\n1\n", "ingest", "malformed CSV; line 2: 1 fields, expected 2"),
    ],
    ids=["empty", "missing-column", "malformed"],
)
def test_bad_data_stops_the_run_with_a_clear_message(
    project: Path, invoke, content: str, step: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    bad = project / "bad.csv"
    bad.write_text(content)
    result = invoke("pipeline", "run", "--project", str(project), "--data", str(bad))
    assert result.exit_code == 1
    assert f"{step:<9} failed" in result.output and message in result.output
    assert "register  skipped" in result.output  # nothing is registered after a failure
    listed = invoke("runs", "list", "--project", str(project))
    assert "run-" not in listed.output


def test_runs_are_recorded_listed_and_compared(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    first = invoke("pipeline", "run", "--project", str(project), "--approve")
    assert first.exit_code == 0, first.output
    assert "approve   ok" in first.output
    edited = project / "data" / "more.csv"
    edited.write_text((project / "data" / "sample.csv").read_text().replace("\n42,", "\n41,", 1))
    second = invoke(
        "pipeline", "run", "--project", str(project), "--data", str(edited), "--approve"
    )
    assert second.exit_code == 1  # it does not beat the approved model by the margin
    assert "does not beat the approved model" in second.output
    assert "nothing registered" in second.output  # the gate comes first, as in the cloud
    again = invoke("pipeline", "run", "--project", str(project))  # same inputs: same run, re-used
    assert "created=False" in again.output
    listed = invoke("runs", "list", "--project", str(project))
    run_ids = [word for word in listed.output.split() if word.startswith("run-")]
    assert len(run_ids) == 2 and "approved" in listed.output and "gate failed" in listed.output
    assert all(len(r) == len("run-") + 12 for r in run_ids)  # shown whole, never cut
    # Ids as listed, and unique prefixes of them, are accepted; unknown ones list the known.
    by_prefix = invoke(
        "runs", "compare", run_ids[0][:9], run_ids[1][4:10], "--project", str(project)
    )
    assert by_prefix.exit_code == 0, by_prefix.output
    assert f"{run_ids[0]} vs {run_ids[1]}" in by_prefix.output
    unknown = invoke("runs", "compare", "run-0000", run_ids[0], "--project", str(project))
    assert unknown.exit_code == 2 and "no run 'run-0000'; known runs:" in unknown.output
    assert run_ids[0] in unknown.output and "Retry later" not in unknown.output


def test_pipeline_run_tracks_to_a_real_mlflow_server(  # type: ignore[no-untyped-def]
    project: Path, invoke, mlflow_server, monkeypatch
) -> None:
    from mlops.composition.lifecycle import local_lake
    from mlops.pipelines.adapters.mlflow import MODEL_ARTIFACT, MlflowApi
    from mlops.pipelines.registry import list_runs

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    run = invoke("pipeline", "run", "--project", str(project))
    assert run.exit_code == 0, run.output
    (record,) = list_runs(local_lake(project))
    api = MlflowApi(mlflow_server.url)
    experiment = api.call("GET", "experiments/get-by-name", query={"experiment_name": project.name})
    found = api.call(
        "POST",
        "runs/search",
        {"experiment_ids": [experiment["experiment"]["experiment_id"]], "max_results": 5},
    )["runs"]
    (tracked,) = found
    data = tracked["data"]
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["mlops.run_id"] == record.run_id
    assert tags["mlops.dataset_sha256"] == record.dataset_sha256
    assert tags["mlops.code_sha256"] == record.code_sha256 and tags["mlops.framework"]
    metrics = {m["key"]: m["value"] for m in data["metrics"]}
    assert metrics["roc_auc"] == pytest.approx(record.metrics["roc_auc"])
    assert {p["key"] for p in data["params"]} == set(record.params)
    model = api.download(tracked["info"]["artifact_uri"], MODEL_ARTIFACT)
    assert model == local_lake(project).read_uri(record.artifact_uri)
    # A tracking URI the REST tracker cannot use stops the run before anything runs.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
    refused = invoke("pipeline", "run", "--project", str(project))
    assert refused.exit_code == 2 and "over HTTP" in refused.output
    assert len(list_runs(local_lake(project))) == 1


def test_sagemaker_executor_starts_the_platforms_pipeline(
    tmp_path: Path, moto_endpoint: str, sagemaker, invoke, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import json
    import uuid

    import boto3
    from conftest import SAMPLE_CSV

    from mlops.core.contracts import PlatformOutputs

    suffix = uuid.uuid4().hex[:8]
    buckets = {zone: f"{zone}-{suffix}" for zone in ("raw", "artifacts")}
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    pipeline = f"churn-dev-training-{suffix}"
    sagemaker.create_pipeline(
        PipelineName=pipeline,
        RoleArn="arn:aws:iam::123456789012:role/r",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )
    outputs = PlatformOutputs(
        project="churn",
        environment="dev",
        region="us-east-1",
        buckets=buckets,
        pipeline_name=pipeline,
        model_package_group="churn-dev-models",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:0.1.0",
    )
    sagemaker.create_model_package_group(ModelPackageGroupName="churn-dev-models")
    (tmp_path / ".mlops").mkdir()
    (tmp_path / ".mlops" / "platform.json").write_text(json.dumps(outputs.to_mapping()))
    (tmp_path / "Pulumi.yaml").write_text("name: churn\nruntime: python\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI: the saved outputs are used
    result = invoke(
        "pipeline",
        "run",
        "--project",
        str(tmp_path),
        "--executor",
        "sagemaker",
        "--data",
        str(SAMPLE_CSV),
    )
    assert result.exit_code == 0, result.output
    arn = result.output.split("started ", 1)[1].split()[0]
    assert arn.startswith(
        f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{pipeline}/execution/"
    )
    # The pipeline runs on the dataset version the lake now holds: the key local runs use too.
    digest = hashlib.sha256(SAMPLE_CSV.read_bytes()).hexdigest()
    prefix = f"datasets/churn/sha256={digest}/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=buckets["raw"])["Contents"]}
    assert keys == {f"{prefix}data.csv", f"{prefix}manifest.json"}
    params = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    given = {p["Name"]: p["Value"] for p in params["PipelineParameters"]}
    assert given == {
        "InputDataUri": f"s3://{buckets['raw']}/{prefix}",
        # Nothing approved yet: never "" (SageMaker refuses it); evaluate asks the registry.
        "ApprovedModelMetric": "none",
        "TriggeredBy": "cli",
    }
    (tmp_path / ".mlops" / "platform.json").unlink()
    missing = invoke("pipeline", "run", "--project", str(tmp_path), "--executor", "sagemaker")
    assert missing.exit_code == 2 and "cannot read the dev stack's outputs" in missing.output


def _run(invoke, project: Path) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """One `pipeline run`: its run id and ROC-AUC as printed."""
    result = invoke("pipeline", "run", "--project", str(project))
    assert result.exit_code == 0, result.output
    words = result.output.replace(",", " ").split()
    run_id = next(w.split("=", 1)[1] for w in words if w.startswith("run_id="))
    auc = next(w.split("=", 1)[1] for w in words if w.startswith("roc_auc="))
    return run_id, auc


@pytest.mark.parametrize("git", [True, False], ids=["git", "no-git"])
def test_uncommitted_edits_to_code_or_contract_make_a_new_run(
    tmp_path: Path, moto_endpoint: str, invoke, git: bool
) -> None:  # type: ignore[no-untyped-def]
    from mlops.composition.lifecycle import local_lake
    from mlops.pipelines.registry import load_run

    name = "churn-edit" if git else "churn-edit-nogit"  # one lake each on the shared endpoint
    dest = tmp_path / name
    answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
    Scaffold(answers, dest, git=git).run()
    up = invoke("local", "up", "--project", str(dest), "--aws-endpoint", moto_endpoint)
    assert up.exit_code == 0, up.output
    try:
        first = _run(invoke, dest)
        assert _run(invoke, dest) == first  # nothing changed: the same run
        train = dest / name.replace("-", "_") / "pipelines" / "train.py"
        # A much stronger regularisation: the model, hence its metrics, change.
        train.write_text(train.read_text().replace('"C": 1.0', '"C": 0.0005'))
        second = _run(invoke, dest)
        assert second[0] != first[0] and second[1] != first[1]
        record = load_run(local_lake(dest), second[0])
        # The effective hyperparameters are recorded: a changed default shows, not just the code.
        before = load_run(local_lake(dest), first[0])
        assert record.params["C"] == 0.0005 and before.params["C"] == 1
        compared = invoke("runs", "compare", first[0], second[0], "--project", str(dest))
        (row,) = [line for line in compared.output.splitlines() if "param C" in line]
        assert "1.0" in row and "0.0005" in row
        expected = "+dirty" if git else "unversioned"
        assert record.code_version.endswith(expected), record.code_version
        contract = dest / "data" / "contract.yaml"
        # Drop a feature from the contract: the model sees one column fewer.
        contract.write_text(
            contract.read_text().replace("  annual_contract: {type: int, min: 0, max: 1}\n", "")
        )
        third = _run(invoke, dest)
        assert third[0] not in (first[0], second[0]) and third[1] != second[1]
    finally:
        invoke("local", "down", "--project", str(dest))


def test_a_failing_tracker_does_not_fail_the_run(lake, caplog) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from mlops.pipelines.data import DataContract, Table
    from mlops.pipelines.registry import load_run
    from mlops.pipelines.steps import evaluate_step

    class Model:
        FRAMEWORK = ""

        @staticmethod
        def predict_proba(model: object, x: np.ndarray) -> np.ndarray:
            return x[:, 0]

        @staticmethod
        def save(model: object, directory: Path) -> Path:
            (directory / "m").write_text("m")
            return directory / "m"

    def down(record: object) -> None:
        raise ConnectionError("tracking server unreachable")

    contract = DataContract.model_validate({"label": "y", "columns": {"x": {}, "y": {}}})
    test = Table(("x", "y"), np.array([[0.1, 0], [0.9, 1], [0.2, 0], [0.8, 1]]))
    inputs = RunInputs("d" * 64, contract.sha256, "e" * 64, {}, "fw", "roc_auc", 7)
    record = evaluate_step(lake, Model, None, test, contract, inputs, "v", tracker=down)  # type: ignore[arg-type]
    assert load_run(lake, record.run_id) == record  # recorded in the lake all the same
    assert "tracking server unreachable" in caplog.text


def test_commands_find_their_project_from_a_subdirectory(
    project: Path, invoke, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    inside = project / project.name.replace("-", "_") / "pipelines"
    monkeypatch.chdir(inside)
    status = invoke("local", "status")
    assert status.exit_code == 0, status.output
    assert "endpoint: http://127.0.0.1" in status.output
    run = invoke("pipeline", "run")  # the project's data/sample.csv, found from here
    assert run.exit_code == 0, run.output
    monkeypatch.chdir(project.parent)
    outside = invoke("runs", "list")
    assert outside.exit_code == 2 and "is not inside an mlops project" in outside.output


@pytest.mark.parametrize(
    ("margin", "message"),
    [("-1", "the margin must be a number in [0, 1], got -1.0"), ("nan", "got nan")],
)
def test_bad_margins_are_refused_before_anything_runs(
    project: Path, invoke, margin: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    result = invoke("pipeline", "run", "--project", str(project), "--margin", margin)
    assert result.exit_code == 2 and message in result.output
    assert "ingest" not in result.output


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ("dve", "no stack 'dve'"),  # a typo: refused with the near miss
        ("dev", "the local executor runs on the local stack, not 'dev'"),
    ],
)
def test_a_stack_the_local_executor_cannot_run_is_refused_before_anything_runs(
    project: Path, invoke, stack: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    result = invoke("pipeline", "run", "--project", str(project), "--stack", stack)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "did you mean 'dev'" in result.output or stack == "dev"
    assert "ingest" not in result.output


def test_monitor_run_refuses_an_unknown_stack_by_name(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("monitor", "run", "--project", str(project), "--stack", "dve")
    assert result.exit_code == 2
    assert "no stack 'dve'" in result.output and "did you mean 'dev'" in result.output


def test_a_one_class_dataset_stops_at_validation_with_a_reason(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    lines = (project / "data" / "sample.csv").read_text().splitlines()
    one_class = [lines[0], *[line for line in lines[1:] if line.endswith(",0")]]
    data = project / "one-class.csv"
    data.write_text("\n".join(one_class) + "\n")
    result = invoke("pipeline", "run", "--project", str(project), "--data", str(data))
    assert result.exit_code == 1
    assert "churned: 1 class(es) (0); a classifier needs at least two" in result.output
    assert "Traceback" not in result.output


def test_a_corrupt_manifest_is_rebuilt_from_the_verified_data(lake) -> None:  # type: ignore[no-untyped-def]
    from conftest import SAMPLE_CSV

    from mlops.pipelines.data import ingest

    first = ingest(lake, SAMPLE_CSV, "churn")
    manifest = first.key.rsplit("/", 1)[0] + "/manifest.json"
    lake.put("datasets", manifest, b"{not json")  # an interrupted or damaged write
    again = ingest(lake, SAMPLE_CSV, "churn")
    assert again.sha256 == first.sha256 and again.manifest["rows"] == 600
    assert lake.get_json("datasets", manifest)["sha256"] == first.sha256
    lake.s3.delete_object(Bucket=lake.buckets["raw"], Key=f"datasets/{manifest}")  # never written
    assert ingest(lake, SAMPLE_CSV, "churn").manifest == first.manifest


def test_serve_answers_with_the_approved_models_predictions(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import json
    import threading
    import urllib.request

    import numpy as np

    from mlops.composition.serve import serve
    from mlops.pipelines.data import DataContract, read_file

    nothing = invoke("serve", "--project", str(project))
    assert nothing.exit_code == 2 and "no approved model yet" in nothing.output
    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    stop, ready, said = threading.Event(), threading.Event(), []
    served = {}

    def on_ready(s) -> None:  # type: ignore[no-untyped-def]
        served["it"] = s
        ready.set()

    thread = threading.Thread(
        target=serve,
        args=(project,),
        kwargs={"port": 0, "say": said.append, "ready": on_ready, "stop": stop},
    )
    thread.start()
    try:
        assert ready.wait(30)
        url = served["it"].url
        contract = DataContract.load(project / "data" / "contract.yaml")
        table, _ = read_file(project / "data" / "sample.csv")
        rows = table.select(contract.features)[:5]
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps({"instances": rows.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        got = json.loads(urllib.request.urlopen(request, timeout=10).read())["predictions"]
        # The approved artifact's predictions: load it the way an endpoint would and compare.
        from mlops.composition.lifecycle import local_lake
        from mlops.pipelines.model import load_trainer, unpack
        from mlops.pipelines.registry import list_runs

        approved = next(r for r in list_runs(local_lake(project)) if r.status == "approved")
        bucket, key = approved.artifact_uri.removeprefix("s3://").split("/", 1)
        trainer = load_trainer(project, project.name.replace("-", "_"))
        model = unpack(
            trainer, local_lake(project).s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        assert np.allclose(got, trainer.predict_proba(model, rows))
        assert served["it"].run_id == approved.run_id
        assert any("features, in order: tenure_months, monthly_charges" in line for line in said)
        assert any(line.startswith("try: curl -s http://127.0.0.1:") for line in said)
        status = invoke("local", "status", "--project", str(project))
        assert f"model server: {url} (answering; {approved.run_id})" in status.output
    finally:
        stop.set()
        thread.join(30)
    assert "model server: none" in invoke("local", "status", "--project", str(project)).output


def test_a_background_server_is_stopped_by_local_down(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    from mlops.infra import localmode

    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    started = invoke("serve", "--project", str(project), "--port", "0", "--background")
    assert started.exit_code == 0, started.output
    url = started.output.split("serving at ", 1)[1].split()[0]
    assert urllib.request.urlopen(f"{url}/ping", timeout=10).status == 200
    pid = localmode.load_state(project).serving["pid"]  # type: ignore[union-attr]
    invoke("local", "down", "--project", str(project))
    for _ in range(100):  # the server finishes what is in flight, then exits
        if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text():
            break
        import time

        time.sleep(0.1)
    else:
        raise AssertionError("the model server is still running after local down")


def test_serve_stop_stops_the_background_server_and_nothing_else(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import time

    from mlops.core.process import start_time
    from mlops.infra import localmode

    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    started = invoke("serve", "--project", str(project), "--port", "0", "--background")
    assert started.exit_code == 0, started.output
    pid = localmode.load_state(project).serving["pid"]  # type: ignore[union-attr]
    stopped = invoke("serve", "--project", str(project), "--stop")
    assert stopped.exit_code == 0 and f"(pid {pid})" in stopped.output, stopped.output
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()
    assert localmode.load_state(project).serving == {}  # type: ignore[union-attr]
    again = invoke("serve", "--project", str(project), "--stop")
    assert "no model server from `mlops serve` is recorded" in again.output
    # A record naming a process `mlops serve` did not start: cleared, never signalled.
    other = subprocess.Popen(["sleep", "30"])
    try:
        state = localmode.load_state(project)
        assert state is not None
        state.serving = {"url": "http://127.0.0.1:9", "pid": other.pid}
        state.serving["started"] = start_time(other.pid)
        localmode.save_state(project, state)
        refused = invoke("serve", "--project", str(project), "--stop")
        assert "nothing signalled" in refused.output, refused.output
        time.sleep(0.2)
        assert other.poll() is None
        assert localmode.load_state(project).serving == {}  # type: ignore[union-attr]
    finally:
        other.kill()
        other.wait()
