"""One verdict: `mlops monitor run` and the AWS drift job run the same code on the same window.

On local mode's lake, the same captured traffic (and one object older than the window, which
neither may read) is checked by ``mlops monitor run`` and by the container entry point as the
AWS schedule runs it (``monitor --platform aws`` with the served package and the window); the
two reports and the two published scores are the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_monitor_loop import send_traffic

pytestmark = pytest.mark.integration


def test_local_and_cloud_check_the_same_window_to_the_same_verdict(
    local_project: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.pipelines import container

    project = local_project
    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    life = lifecycle_for(project)
    endpoint = life.platform.serving_endpoint
    old = datetime.now(UTC) - timedelta(hours=life.platform.drift_window_hours + 1)
    stale = f"{endpoint}/primary/{old:%Y/%m/%d/%H}/{old:%M-%S-%f}-stale.jsonl"
    life.lake.put("capture", stale, b"outside the window: never read\n")
    send_traffic(project, drifted=True)

    local = invoke("monitor", "run", "--project", str(project), "--json", "--no-act")
    assert local.exit_code == 1, local.output  # drift
    local_report = json.loads(life.lake.get("monitoring", "drift/latest.json"))

    record = life.registry.approved_run()
    assert record is not None and record.model_package_arn
    state = localmode.require_state(project)
    monkeypatch.setenv("AWS_ENDPOINT_URL", state.endpoint)
    environ = {
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
        "AWS_DEFAULT_REGION": state.region,
        **{f"MLOPS_BUCKET_{z.upper()}": b for z, b in life.platform.buckets.items()},
    }
    command = [
        "monitor",
        "--platform",
        "aws",
        "--endpoint",
        endpoint,
        "--model-package",
        record.model_package_arn,
        "--window-hours",
        str(life.platform.drift_window_hours),
        "--threshold",
        str(life.platform.drift_threshold),
    ]
    assert container.main(command, environ) == 0
    cloud_report = json.loads(life.lake.get("monitoring", "drift/latest.json"))

    assert cloud_report["comparisons"] == local_report["comparisons"]
    assert cloud_report["decision"]["retrain"] == local_report["decision"]["retrain"] is True
    assert cloud_report["decision"]["reason"] == local_report["decision"]["reason"]
    # Both published the same score where the drift alarm looks.
    from mlops.infra.local_endpoint import client

    points = client(state.endpoint, state.region, "cloudwatch").get_metric_statistics(
        Namespace="mlops-stack/Drift",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Endpoint", "Value": endpoint}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Minimum", "Maximum", "SampleCount"],
    )["Datapoints"]
    score = local_report["comparisons"][0]["score"]
    assert sum(p["SampleCount"] for p in points) == 2
    assert {p["Minimum"] for p in points} | {p["Maximum"] for p in points} == {score}
