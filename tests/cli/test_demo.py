"""`mlops demo --report`: the whole loop on one machine, checked through its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_lifecycle_and_reports_every_step(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    report_path = tmp_path / "report.json"
    result = invoke(
        "demo", "--dir", str(tmp_path / "work"), "--report", str(report_path), "--requests", "120"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == [
        "scaffold",
        "local up",
        "ingest",
        "validate",
        "train",
        "evaluate",
        "register",
        "approve",
        "deploy",
        "normal traffic",
        "drifted traffic",
        "monitor",
    ]
    assert report["ok"] and all(
        s["status"] == "ok" and s["duration_s"] >= 0 for s in steps.values()
    )
    assert len(steps["ingest"]["figures"]["dataset_version"]) == 64
    assert steps["evaluate"]["figures"]["roc_auc"] > 0.8
    assert steps["register"]["figures"]["model_package"].endswith(
        "model-package/churn-demo-local-models/1"
    )
    assert steps["approve"]["figures"]["approved"] is True
    assert steps["deploy"]["figures"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert steps["deploy"]["figures"]["endpoint_status"] == "InService"
    assert steps["normal traffic"]["figures"]["requests_served"] == 120
    assert steps["drifted traffic"]["figures"]["requests_captured"] == 240
    monitor = steps["monitor"]["figures"]
    assert monitor["captured_rows"] == 240
    assert (
        monitor["normal_window"]["drifted"] is False
        and monitor["drifted_window"]["drifted"] is True
    )
    assert monitor["decision"] == "retrain" and "/execution/" in monitor["pipeline_execution"]
    # The demo's project has a categorical feature, and drift tests it by the contract's type.
    contract = (tmp_path / "work" / "churn-demo" / "data" / "contract.yaml").read_text()
    assert "plan: {type: category" in contract
    assert monitor["features"]["plan"]["kind"] == "categorical"
    assert monitor["features"]["tenure_months"]["kind"] == "numeric"
    assert report["duration_s"] < 120
    assert "mlops demo" in result.output  # the summary table
    assert steps["scaffold"]["figures"]["replaced"] is False

    # The README's main command runs any number of times: the next run replaces its own project.
    (tmp_path / "work" / "churn-demo" / "stale.txt").write_text("from the first run")
    again = invoke("demo", "--dir", str(tmp_path / "work"), "--report", str(report_path))
    assert again.exit_code == 0, again.output
    second = {s["name"]: s for s in json.loads(report_path.read_text())["steps"]}
    assert all(s["status"] == "ok" for s in second.values()), second
    assert second["scaffold"]["figures"]["replaced"] is True
    assert not (tmp_path / "work" / "churn-demo" / "stale.txt").exists()


def test_demo_never_replaces_a_directory_it_did_not_make(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "work" / "churn-demo"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my work")
    report_path = tmp_path / "report.json"
    result = invoke("demo", "--dir", str(tmp_path / "work"), "--report", str(report_path))
    assert result.exit_code != 0
    scaffold = json.loads(report_path.read_text())["steps"][0]
    assert scaffold["status"] == "failed"
    assert "was not made by `mlops demo`" in scaffold["error"]
    assert "another --dir" in scaffold["error"]
    assert (mine / "notes.txt").read_text() == "my work"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_demo_keep_leaves_a_model_server_that_answers(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    report_path = tmp_path / "report.json"
    work = tmp_path / "work"
    result = invoke(
        "demo", "--dir", str(work), "--report", str(report_path), "--requests", "20", "--keep"
    )
    assert result.exit_code == 0, result.output
    kept = json.loads(report_path.read_text())["steps"][-1]
    assert kept["name"] == "keep serving" and kept["status"] == "ok"
    url = kept["figures"]["endpoint_url"]
    try:
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps({"instances": [[3, 110.0, 6, 0, "premium"]]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        score = json.loads(urllib.request.urlopen(request, timeout=10).read())["predictions"][0]
        assert 0.0 <= score <= 1.0
    finally:
        assert invoke("local", "down", "--project", str(work / "churn-demo")).exit_code == 0
