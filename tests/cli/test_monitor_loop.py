"""The closed loop locally: captured traffic -> drift against the approved model's reference
(or between windows) -> the score published -> a retrain decision starts the pipeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def project(local_project: Path) -> Path:
    return local_project


def send_traffic(project: Path, drifted: bool) -> None:
    """What the endpoint would capture: the sample's rows, or the same rows shifted."""
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.capture import CaptureWriter

    life = lifecycle_for(project)
    endpoint = life.platform.serving_endpoint
    writer = CaptureWriter(life.lake, endpoint, flush_every=100)
    with (project / "data" / "sample.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        values = [float(row[f]) for f in life.contract.features]
        if drifted:
            values[0] = values[0] / 3  # newer customers
            values[1] = values[1] + 60  # on dearer plans
        body = json.dumps({"instances": [values]}).encode()
        writer.record(body, "application/json", "JSON", b'{"predictions": [0.5]}')
    assert writer.close(timeout=30) and writer.dropped == 0


def test_drifted_traffic_starts_retraining_and_steady_traffic_does_not(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    nothing = invoke("monitor", "run", "--project", str(project))
    assert nothing.exit_code == 2 and "no traffic captured" in nothing.output
    assert "mlops deploy" in nothing.output  # the way traffic reaches the endpoint today
    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0

    send_traffic(project, drifted=False)
    steady = invoke("monitor", "run", "--project", str(project), "--json")
    assert steady.exit_code == 0, steady.output
    result = json.loads(steady.stdout)  # progress goes to stderr, never into the JSON
    read = [line for line in steady.stderr.splitlines() if line.startswith("capture objects read")]
    assert read and read[-1].split(": ")[1].split("/")[0] == read[-1].split("/")[1]  # n/n
    assert not result["decision"]["retrain"] and result["decision"]["pipeline_execution_arn"] == ""

    send_traffic(project, drifted=True)  # the same traffic again, then the drifted kind
    html = project / "reports" / "drift.html"
    moved = invoke("monitor", "run", "--project", str(project), "--json", "--html", str(html))
    assert moved.exit_code == 1, moved.output
    result = json.loads(moved.stdout)
    comparison = result["comparisons"][0]
    assert comparison["label"].startswith("approved model's reference")
    assert {"tenure_months", "monthly_charges"} <= set(comparison["drifted_features"])
    assert result["decision"]["retrain"]
    assert ":pipeline/" in result["decision"]["pipeline_execution_arn"]  # the pipeline started
    assert "<svg" in html.read_text() and result["html"] == str(html)

    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    life = lifecycle_for(project)
    state = localmode.require_state(project)
    points = client(state.endpoint, state.region, "cloudwatch").get_metric_statistics(
        Namespace="mlops-stack/Drift",
        MetricName="DriftScore",
        Dimensions=[
            {
                "Name": "Endpoint",
                "Value": life.platform.serving_endpoint,
            }
        ],
        StartTime=0,
        EndTime=4_000_000_000,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert max(p["Maximum"] for p in points) == comparison["score"]  # what the alarm watches
    stored = json.loads(life.lake.get("monitoring", "drift/latest.json"))
    assert stored["decision"]["retrain"]

    # Scenario II: no reference, consecutive windows of the traffic compared with each other.
    windows = invoke(
        "monitor", "run", "--project", str(project), "--windows", "2", "--no-act", "--json"
    )
    result = json.loads(windows.stdout)
    assert windows.exit_code == 1 and result["comparisons"][0]["label"] == "window 1 -> 2"
    assert set(result["comparisons"][0]["drifted_features"]) == {"tenure_months", "monthly_charges"}
    assert result["decision"]["retrain"] and result["decision"]["pipeline_execution_arn"] == ""


def test_the_reference_travels_in_the_model_artifact(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.reference import read_reference

    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    life = lifecycle_for(project)
    record = life.registry.approved_run()
    assert record is not None
    bucket, key = record.artifact_uri.removeprefix("s3://").split("/", 1)
    reference = read_reference(life.lake.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert reference is not None and list(reference) == life.contract.features
    with (project / "data" / "sample.csv").open() as handle:
        rows = sum(1 for _ in handle) - 1
    assert len(reference["tenure_months"]) == min(rows, 10_000)


def labelled_traffic(project: Path) -> Path:
    """Capture the sample's rows with inference ids and the live model's answers; return the
    labels file (inference_id,label) that arrives later."""
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.capture import CaptureWriter
    from mlops.pipelines.model import load_trainer, unpack

    life = lifecycle_for(project)
    record = life.registry.approved_run()
    assert record is not None
    trainer = load_trainer(project, life.platform.package)
    bucket, key = record.artifact_uri.removeprefix("s3://").split("/", 1)
    model = unpack(trainer, life.lake.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    endpoint = life.platform.serving_endpoint
    writer = CaptureWriter(life.lake, endpoint, flush_every=200)
    with (project / "data" / "sample.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labels = ["inference_id,label"]
    for i, row in enumerate(rows):
        values = [float(row[f]) for f in life.contract.features]
        score = float(trainer.predict_proba(model, [values])[0])
        body = json.dumps({"instances": [values]}).encode()
        answer = json.dumps({"predictions": [round(score, 6)]}).encode()
        writer.record(body, "application/json", "JSON", answer, inference_id=f"req-{i}")
        if i % 2 == 0:  # half the labels have arrived
            labels.append(f"req-{i},{row[life.contract.label]}")
    assert writer.close(timeout=30)
    path = project / "labels.csv"
    path.write_text("\n".join(labels) + "\n")
    return path


def test_quality_joins_late_labels_and_backtest_catches_a_worse_candidate(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.registry import list_runs

    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    labels = labelled_traffic(project)
    result = invoke(
        "monitor", "quality", "--project", str(project), "--labels", str(labels), "--json"
    )
    assert result.exit_code == 0, result.output
    quality = json.loads(result.stdout)
    with (project / "data" / "sample.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert quality["metric"] == "roc_auc" and quality["labelled"] == (len(rows) + 1) // 2
    assert quality["unlabelled"] == len(rows) // 2 and len(quality["periods"]) == 1
    assert 0.5 < quality["overall"] <= 1.0

    # A candidate trained on scrambled labels: replayed on the same traffic, it is worse.
    scrambled = project / "scrambled.csv"
    rng = np.random.default_rng(0)
    life = lifecycle_for(project)
    churned = [r[life.contract.label] for r in rows]
    rng.shuffle(churned)
    with scrambled.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, life.contract.label: c} for r, c in zip(rows, churned, strict=True))
    assert (
        invoke("pipeline", "run", "--project", str(project), "--data", str(scrambled)).exit_code
        == 0
    )
    live = life.registry.approved_run()
    assert live is not None  # the first model stays approved
    candidate = next(r for r in list_runs(life.lake) if r.run_id != live.run_id)
    worse = invoke(
        "monitor",
        "backtest",
        "--project",
        str(project),
        "--candidate",
        candidate.run_id,
        "--labels",
        str(labels),
        "--json",
    )
    assert worse.exit_code == 1, worse.output
    report = json.loads(worse.stdout)
    assert report["candidate"] < report["live"] and report["candidate_not_worse"] is False
    assert report["rows"] == len(rows) and report["flipped"] > 0
    # The live model replayed scores what its captured answers scored: two paths, one number.
    assert abs(report["live"] - quality["overall"]) < 1e-6
    # The approval gate can require it: the same candidate is refused promotion.
    gated = invoke(
        "pipeline",
        "run",
        "--project",
        str(project),
        "--data",
        str(scrambled),
        "--approve",
        "--backtest-labels",
        str(labels),
    )
    assert gated.exit_code == 1 and "back-test on" in gated.output, gated.output
    assert "worse than the live model" in gated.output
    live_now = life.registry.approved_run()
    assert live_now is not None and live_now.run_id == live.run_id  # nothing was promoted
    unlabelled = invoke(
        "monitor", "backtest", "--project", str(project), "--candidate", candidate.run_id
    )
    assert unlabelled.exit_code == 0 and "pass --labels" in unlabelled.output


def test_a_dataset_version_is_a_window(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.registry import list_runs

    assert invoke("pipeline", "run", "--project", str(project)).exit_code == 0
    (record,) = list_runs(lifecycle_for(project).lake)
    sample = project / "data" / "sample.csv"
    same = invoke(
        "monitor",
        "drift",
        "--project",
        str(project),
        "--reference",
        f"dataset:{record.dataset_sha256[:12]}",
        "--current",
        str(sample),
    )
    assert same.exit_code == 0, same.output
    # Inside a project the contract's label is an outcome, not a feature: left out, and said so.
    assert "0 of 4 features drifted (share 0 < 0.5): no drift" in same.output
    assert "churned: not tested (the data contract's label)" in same.output
    unknown = invoke(
        "monitor",
        "drift",
        "--project",
        str(project),
        "--reference",
        "dataset:ffff0000",
        "--current",
        str(sample),
    )
    assert unknown.exit_code == 2 and "no dataset version match" in unknown.output


def test_on_a_deployed_stack_only_the_metric_is_published(
    project: Path, invoke, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.infra import localmode

    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    send_traffic(project, drifted=True)
    # The "deployed" stack: its outputs saved as the README says, AWS reached through boto3's
    # own endpoint setting (here the session's moto), with no local mode in between.
    state = localmode.require_state(project)
    (project / ".mlops" / "platform.json").write_text(json.dumps(state.platform))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    result = invoke("monitor", "run", "--project", str(project), "--stack", "dev")
    assert result.exit_code == 1, result.output
    assert (
        "retrain" in result.output and "drift alarm starts the training pipeline" in result.output
    )
    assert "started the training pipeline" not in result.output  # EventBridge's job on AWS
