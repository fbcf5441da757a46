"""`mlops local up --mlflow`: a real `mlflow server` on 127.0.0.1 beside the embedded endpoint,
runs tracked there without any setting, and `mlops local down` stopping it (verified first)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import MLFLOW

from mlops.infra import local_mlflow

pytestmark = pytest.mark.integration

needs_mlflow = pytest.mark.skipif(
    not MLFLOW.exists(),
    reason="mlflow server: scripts/test.sh installs MLflow 3.17.2 in .ci/mlflow",
)


@needs_mlflow
def test_local_up_mlflow_tracks_runs_and_down_stops_it(  # type: ignore[no-untyped-def]
    local_project: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.pipelines.adapters.mlflow import MlflowApi

    monkeypatch.setenv("MLOPS_MLFLOW", str(MLFLOW))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    up = invoke("local", "up", "--mlflow", "--project", str(local_project))
    assert up.exit_code == 0, up.output
    server = local_mlflow.recorded(local_project)
    assert server is not None and local_mlflow.is_ours(server)
    assert (
        server.url.startswith("http://127.0.0.1:")
        and f"MLflow tracking server at {server.url}" in up.output
    )
    assert str(local_project.resolve()) in server.database  # SQLite in the project's .mlops
    status = invoke("local", "status", "--project", str(local_project))
    assert f"MLflow: {server.url}" in status.output
    # Up again: the running server is kept, not a second one started.
    again = invoke("local", "up", "--mlflow", "--project", str(local_project))
    assert again.exit_code == 0 and local_mlflow.recorded(local_project) == server
    run = invoke("pipeline", "run", "--project", str(local_project))
    assert run.exit_code == 0, run.output
    api = MlflowApi(server.url)
    experiment = api.call(
        "GET", "experiments/get-by-name", query={"experiment_name": local_project.name}
    )["experiment"]
    runs = api.call("POST", "runs/search", {"experiment_ids": [experiment["experiment_id"]]})
    assert len(runs["runs"]) == 1
    # Its artifacts are in the lake: the proxy wrote the model into the artifacts bucket.
    assert experiment["artifact_location"].startswith("mlflow-artifacts:")
    down = invoke("local", "down", "--project", str(local_project))
    assert down.exit_code == 0 and f"stopped the MLflow server at {server.url}" in down.output
    assert not local_mlflow.is_ours(server) and not local_mlflow.healthy(server.url)
    assert local_mlflow.recorded(local_project) is None


def test_down_never_signals_a_process_it_cannot_verify(tmp_path: Path) -> None:
    # The record is untrusted: this test's own pid, named there, is not an mlflow server.
    (tmp_path / ".mlops").mkdir()
    record = {"url": "http://127.0.0.1:1", "pid": os.getpid(), "started": 1, "database": "x"}
    (tmp_path / ".mlops" / "mlflow.json").write_text(json.dumps(record))
    said = local_mlflow.down(tmp_path)
    assert "nothing signalled" in said and local_mlflow.recorded(tmp_path) is None
    assert local_mlflow.down(tmp_path) == ""  # nothing recorded: nothing said


def test_without_mlflow_installed_the_message_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlops.core.errors import UserError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MLOPS_MLFLOW", raising=False)
    with pytest.raises(UserError, match="pip install mlflow==3.17.2"):
        local_mlflow.find_mlflow()
    monkeypatch.setenv("MLOPS_MLFLOW", str(tmp_path / "nope"))
    with pytest.raises(UserError, match="is not a file"):
        local_mlflow.find_mlflow()
