"""The in-cluster monitoring step (`container monitor`): the lake in, the drift check, the
lifecycle's Argo Workflow submitted through the Kubernetes API on drift. The lake is moto; the
API server is a loopback stand-in that records what it is asked."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO
from kube_api import FakeApi, serve

from mlops.pipelines import container
from mlops.pipelines.capture import CaptureWriter
from mlops.pipelines.data import DataContract, read_file
from mlops.pipelines.reference import REFERENCE_FILE, reference_sample

FILES = REPO / "templates" / "common" / "files" / "data"
CONTRACT = DataContract.load(FILES / "contract.yaml")


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    with serve() as server:
        yield server


def setup(lake: Any, drifted: bool, tmp_path: Path, api: Any, moto_endpoint: str) -> dict[str, str]:
    table, _ = read_file(FILES / "sample.csv")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        sample = reference_sample(table, CONTRACT.features)
        info = tarfile.TarInfo(REFERENCE_FILE)
        info.size = len(sample)
        tar.addfile(info, io.BytesIO(sample))
    lake.put("models", "run-1/model.tar.gz", buffer.getvalue())
    rows = table.select(CONTRACT.features)
    if drifted:
        rows = rows.copy()
        rows[:, 0] = np.floor(rows[:, 0] / 3)
        rows[:, 1] = rows[:, 1] + 60
    writer = CaptureWriter(lake, "churn", flush_every=100)
    for row in rows.tolist():
        writer.record(
            json.dumps({"instances": [row]}).encode(),
            "application/json",
            "JSON",
            b'{"predictions": [0.5]}',
        )
    assert writer.close(30)
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    return {
        "MLOPS_DATA_CONTRACT": str(FILES / "contract.yaml"),
        "MLOPS_MODEL_URI": lake.uri("models", "run-1/model.tar.gz"),
        "MLOPS_ENDPOINT_NAME": "churn",
        **{f"MLOPS_BUCKET_{zone.upper()}": bucket for zone, bucket in lake.buckets.items()},
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "MLOPS_RETRAIN_WORKFLOW_TEMPLATE": "churn-prod-lifecycle",
        "MLOPS_KUBE_API": f"http://127.0.0.1:{api.server_address[1]}",
        "MLOPS_KUBE_TOKEN_FILE": str(token),
        "MLOPS_KUBE_NAMESPACE": "churn-prod",
    }


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_drift_submits_the_lifecycle_workflow(
    lake, api, tmp_path: Path, moto_endpoint: str, aws_env, capsys
) -> None:  # type: ignore[no-untyped-def]
    environ = setup(lake, True, tmp_path, api, moto_endpoint)
    assert container.main(["monitor"], environ) == 0
    (post,) = FakeApi.seen  # one call: the Workflow, nothing read, nothing else made
    assert post[:3] == (
        "POST",
        "/apis/argoproj.io/v1alpha1/namespaces/churn-prod/workflows",
        "Bearer sa-token",
    )
    workflow = post[3]
    assert (workflow["apiVersion"], workflow["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert workflow["spec"] == {"workflowTemplateRef": {"name": "churn-prod-lifecycle"}}
    assert workflow["metadata"]["generateName"] == "churn-prod-lifecycle-drift-"
    assert workflow["metadata"]["labels"]["mlops/triggered-by"] == "drift"
    stored = json.loads(lake.get("monitoring", "drift/latest.json"))
    # The name the API server gave it is what the verdict records.
    assert stored["decision"]["retrain"]
    assert stored["decision"]["started"] == "churn-prod-lifecycle-drift-x7k2q"
    assert "submitted Workflow churn-prod-lifecycle-drift-x7k2q" in capsys.readouterr().out


def test_steady_traffic_starts_nothing(
    lake, api, tmp_path: Path, moto_endpoint: str, aws_env
) -> None:  # type: ignore[no-untyped-def]
    environ = setup(lake, False, tmp_path, api, moto_endpoint)
    assert container.main(["monitor"], environ) == 0
    assert FakeApi.seen == []
    assert not json.loads(lake.get("monitoring", "drift/latest.json"))["decision"]["retrain"]


def test_without_a_threshold_the_job_decides_on_the_one_default(
    lake, api, tmp_path: Path, moto_endpoint: str, aws_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.core.contracts import DRIFT_THRESHOLD
    from mlops.pipelines import drift

    environ = setup(lake, False, tmp_path, api, moto_endpoint)
    assert "MLOPS_DRIFT_THRESHOLD" not in environ
    # A score just above the contract's default: the platforms' threshold says retrain.
    score = DRIFT_THRESHOLD + 0.05
    drifted = drift.DriftReport([], 10, score, True)
    monkeypatch.setattr(drift, "compare_sources", lambda *_a, **_k: drifted)
    assert container.main(["monitor"], environ) == 0
    decision = json.loads(lake.get("monitoring", "drift/latest.json"))["decision"]
    assert decision["retrain"] and f"> {DRIFT_THRESHOLD}" in decision["reason"]


def test_an_incomplete_environment_is_a_clear_refusal(capsys) -> None:  # type: ignore[no-untyped-def]
    assert container.main(["monitor"], {}) == 2
    message = "monitor needs MLOPS_MODEL_URI, MLOPS_ENDPOINT_NAME, MLOPS_BUCKET_<ZONE> set"
    assert message in capsys.readouterr().err


def test_the_contracts_categorical_features_are_tested_as_categories(
    lake, api, tmp_path: Path, moto_endpoint: str, aws_env
) -> None:  # type: ignore[no-untyped-def]
    # annual_contract holds 0 and 1: as numbers they would get a numeric test. Declared a bool
    # in the contract the job reads, it is a category, whatever the captured JSON holds.
    environ = setup(lake, False, tmp_path, api, moto_endpoint)
    text = (FILES / "contract.yaml").read_text()
    declared = text.replace(
        "annual_contract: {type: int, min: 0, max: 1}", "annual_contract: {type: bool}"
    )
    assert declared != text
    contract = tmp_path / "contract.yaml"
    contract.write_text(declared)
    environ["MLOPS_DATA_CONTRACT"] = str(contract)
    assert container.main(["monitor"], environ) == 0
    stored = json.loads(lake.get("monitoring", "drift/latest.json"))
    (compared,) = stored["comparisons"]
    kinds = {f["feature"]: f["kind"] for f in compared["features"]}
    assert kinds == {
        "tenure_months": "numeric",
        "monthly_charges": "numeric",
        "support_calls": "numeric",
        "annual_contract": "categorical",
    }
