"""The Argo workflow's own container steps (`gate`, `register`) and the staging every step does
where no platform copies files (`MLOPS_STAGE_IN`/`OUT`), on a moto lake."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mlops.pipelines import container
from mlops.pipelines.container import resolve_uri


@pytest.fixture
def environ(lake: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return {f"MLOPS_BUCKET_{zone.upper()}": bucket for zone, bucket in lake.buckets.items()}


def evaluation(passed: bool) -> bytes:
    gate = {"metric": "roc_auc", "candidate": 0.71, "approved": 0.8, "margin": 0.01}
    record = {
        "dataset_sha256": "d" * 64,
        "primary_metric": "roc_auc",
        "metrics": {"roc_auc": 0.71},
        "gate": {**gate, "passed": passed},
    }
    return json.dumps(record).encode()


def test_locations_are_uris_or_places_of_the_lake(lake: Any) -> None:
    from mlops.core.errors import UserError

    assert resolve_uri(lake, "s3://elsewhere/x") == "s3://elsewhere/x"
    assert resolve_uri(lake, "models/wf-1/model.tar.gz") == lake.uri("models", "wf-1/model.tar.gz")
    with pytest.raises(UserError, match="no dataset version"):
        resolve_uri(lake, "datasets/latest")
    lake.put("datasets", "churn/sha256=aaa/data.csv", b"a\n1\n")
    time.sleep(1.1)  # S3 keeps LastModified to the second
    lake.put("datasets", "churn/sha256=000/data.csv", b"a\n2\n")  # newer, though sorted first
    assert resolve_uri(lake, "latest") == lake.uri("datasets", "churn/sha256=000/")
    with pytest.raises(UserError, match="neither an s3:// URI nor a lake place"):
        resolve_uri(lake, "nowhere/x")


def test_the_gate_passes_a_winner_and_ends_the_run_for_a_loser(
    lake: Any, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    lake.put("evaluation", "good/evaluation.json", evaluation(True))
    lake.put("evaluation", "bad/evaluation.json", evaluation(False))
    assert container.main(["gate", "--evaluation", "evaluation/good/evaluation.json"], environ) == 0
    assert container.main(["gate", "--evaluation", "evaluation/bad/evaluation.json"], environ) == 1
    err = capsys.readouterr().err
    assert "GateFailed: the candidate's roc_auc=0.71 did not beat the champion (0.8)" in err
    lake.put("evaluation", "odd/evaluation.json", b"{}")
    assert container.main(["gate", "--evaluation", "evaluation/odd/evaluation.json"], environ) == 2


def test_register_records_the_run_pending_approval_once(lake: Any, environ: dict[str, str]) -> None:
    from mlops.pipelines.adapters.k8s import LakeRecords
    from mlops.pipelines.registry import load_run, unlocked

    lake.put("evaluation", "wf-1/evaluation.json", evaluation(True))
    args = [
        "register",
        "--run-id",
        "wf-1",
        "--evaluation",
        "evaluation/wf-1/evaluation.json",
        "--model",
        "models/wf-1/model.tar.gz",
        "--model-package-group",
        "churn",
    ]
    assert container.main(args, environ) == 0
    record = load_run(lake, "wf-1")
    assert (record.status, record.metrics, record.artifact_uri) == (
        "registered",
        {"roc_auc": 0.71},
        lake.uri("models", "wf-1/model.tar.gz"),
    )
    # The evaluation record where the local executor keeps a run's: a registry's version names
    # it there (MLflow's evaluation tag, SageMaker's model metrics), and later gates read it.
    assert lake.get_json("evaluation", "wf-1.json") == {
        **json.loads(evaluation(True)),
        "run_id": "wf-1",
    }
    assert container.main(args, environ) == 0  # again: the same record, not a second one
    assert load_run(lake, "wf-1") == record
    registry = LakeRecords(lake, "churn")
    assert registry.approved_metric("roc_auc") is None  # registered is not approved
    registry.approve(record, 0.0, unlocked)
    assert registry.approved_metric("roc_auc") == 0.71
    assert registry.approval_status("wf-1") == "Approved"
    # The evaluate step reads that champion through the same records.
    assert container.champion_metric("churn", "roc_auc", {**environ, "MLOPS_REGISTRY": "lake"}) == (
        0.71
    )
    lake.put("evaluation", "wf-2/evaluation.json", evaluation(False))
    refused = [*args[:2], "wf-2", "--evaluation", "evaluation/wf-2/evaluation.json", *args[5:]]
    assert container.main(refused, environ) == 1  # a failed gate registers nothing
    assert not lake.exists("runs", "wf-2.json")


def test_staging_copies_a_steps_inputs_in_and_outputs_out(
    lake: Any, environ: dict[str, str], tmp_path: Any
) -> None:
    from mlops.core.errors import UserError
    from mlops.pipelines.container import ContainerEnv, stage_in, stage_out

    env = ContainerEnv.from_environ({"MLOPS_TRAIN_MODULE": "x", "SM_ML_ROOT": str(tmp_path)})
    lake.put("validation", "wf-1/data.csv", b"a\n1\n")
    lake.put("validation", "wf-1/report.json", b"{}")
    lake.put("models", "wf-1/model.tar.gz", b"tar")
    wanted = {
        "processing/input/data": "validation/wf-1/",
        "processing/model": "models/wf-1/model.tar.gz",
    }
    stage_in(env, {**environ, "MLOPS_STAGE_IN": json.dumps(wanted)})
    assert (tmp_path / "processing/input/data/data.csv").read_bytes() == b"a\n1\n"
    assert (tmp_path / "processing/model/model.tar.gz").read_bytes() == b"tar"
    out = tmp_path / "processing" / "output"
    (out / "sub").mkdir(parents=True)
    (out / "evaluation.json").write_text("{}")
    (out / "sub" / "x.txt").write_text("x")
    stage_out(env, {**environ, "MLOPS_STAGE_OUT": '{"processing/output": "evaluation/wf-1"}'})
    assert lake.get("evaluation", "wf-1/evaluation.json") == b"{}"
    assert lake.get("evaluation", "wf-1/sub/x.txt") == b"x"
    with pytest.raises(UserError, match="leaves the ML root"):
        stage_in(env, {**environ, "MLOPS_STAGE_IN": '{"../../etc": "models/wf-1/model.tar.gz"}'})
    with pytest.raises(UserError, match="is not JSON"):
        stage_out(env, {**environ, "MLOPS_STAGE_OUT": "processing/output"})
