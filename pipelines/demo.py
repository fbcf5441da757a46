"""``mlops demo``: the whole lifecycle on this machine, on the embedded AWS endpoint.

scaffold -> local up -> ingest -> validate -> train -> evaluate -> register -> approve ->
deploy (the local stack gains its endpoint; the model server answers on loopback) -> normal
traffic -> drifted traffic -> monitor (drift measured, metric published, retrain decided and
the training pipeline started).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops.pipelines.executors import LocalExecutor, StepResult

PROJECT = "churn-demo"
DRIFT = {"tenure_months": -30.0, "monthly_charges": 45.0, "support_calls": 3.0}


@dataclass
class DemoState:
    """What the steps hand each other."""

    project: Path
    clients: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def run_demo(
    workdir: Path,
    *,
    requests: int = 200,
    show_progress: bool = True,
    keep: bool = False,
    say: Callable[[str], None] = print,
) -> list[StepResult]:
    """Run the lifecycle; return one result per step.

    The local stack is torn down at the end unless ``keep``.
    """
    from mlops.infra import localmode

    state = DemoState(workdir / PROJECT)
    steps = _steps(state, requests, say)
    try:
        return LocalExecutor(show_progress).run(steps)
    finally:
        server = state.values.get("server")
        if server is not None:
            server.stop()
        if not keep and localmode.load_state(state.project) is not None:
            localmode.down(state.project, say=lambda _m: None)


def _steps(
    s: DemoState, requests: int, say: Callable[[str], None]
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    return [
        ("scaffold", lambda: _scaffold(s)),
        ("local up", lambda: _local_up(s, say)),
        ("ingest", lambda: _ingest(s)),
        ("validate", lambda: _validate(s)),
        ("train", lambda: _train(s)),
        ("evaluate", lambda: _evaluate(s)),
        ("register", lambda: _register(s)),
        ("approve", lambda: _approve(s)),
        ("deploy", lambda: _deploy(s, say)),
        ("normal traffic", lambda: _traffic(s, requests, drifted=False)),
        ("drifted traffic", lambda: _traffic(s, requests, drifted=True)),
        ("monitor", lambda: _monitor(s)),
    ]


def _scaffold(s: DemoState) -> dict[str, Any]:
    from mlops.templates.answers import validate_answers
    from mlops.templates.engine import RECORD_PATH, Scaffold

    again = (s.project / RECORD_PATH).exists()  # a previous demo's project: refresh it in place
    answers = validate_answers({"name": PROJECT, "environments": "dev", "ci": "none"})
    result = Scaffold(answers, s.project, force=again, git=not again).run()
    return {"project": str(s.project), "files": len(result.plan.files)}


def _local_up(s: DemoState, say: Callable[[str], None]) -> dict[str, Any]:
    from mlops.infra import localmode
    from mlops.infra.local import client
    from mlops.pipelines.lake import Lake

    messages: list[str] = []
    state = localmode.up(s.project, say=messages.append)
    for service in ("s3", "sagemaker", "cloudwatch"):
        s.clients[service] = client(state.endpoint, state.region, service)
    s.values["platform"] = state.platform
    s.values["lake"] = Lake(s.clients["s3"], state.platform["buckets"])
    return {
        "endpoint": state.endpoint,
        "path": state.path,
        "resources": len(state.applied),
        "log": messages,
    }


def _ingest(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.data import ingest

    version = ingest(s.values["lake"], s.project / "data" / "sample.csv", "churn")
    s.values["version"] = version
    return {
        "dataset_version": version.sha256,
        "rows": version.manifest["rows"],
        "created": version.created,
    }


def _validate(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.steps import validate_step

    s.values["contract"] = DataContract.load(s.project / "data" / "contract.yaml")
    table, report = validate_step(s.values["lake"], s.values["version"], s.values["contract"])
    s.values["table"] = table
    return {"passed": report.passed, "rows": report.rows}


def _train(s: DemoState) -> dict[str, Any]:
    from mlops.infra.localmode import hyperparameters
    from mlops.pipelines.model import load_trainer
    from mlops.pipelines.steps import train_step

    s.values["trainer"] = load_trainer(s.project, PROJECT.replace("-", "_"))
    s.values["params"] = hyperparameters(s.project)
    model, test = train_step(
        s.values["trainer"], s.values["table"], s.values["contract"], s.values["params"]
    )
    s.values.update(model=model, test=test)
    return {
        "framework": "sklearn",
        "train_rows": len(s.values["table"]) - 2 * len(test),
        "test_rows": len(test),
    }


def _evaluate(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.registry import code_version
    from mlops.pipelines.steps import evaluate_step

    record = evaluate_step(
        s.values["lake"],
        s.values["trainer"],
        s.values["model"],
        s.values["test"],
        s.values["contract"],
        s.values["version"],
        s.values["params"],
        code_version(s.project),
    )
    s.values["record"] = record
    return {
        "run_id": record.run_id,
        **{k: v for k, v in record.metrics.items() if k != "confusion_matrix"},
        "confusion_matrix": record.metrics.get("confusion_matrix"),
    }


def _register(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.registry import register

    platform = s.values["platform"]
    record = register(
        s.clients["sagemaker"],
        s.values["lake"],
        platform["model_package_group"],
        s.values["record"],
        platform["image_uri"],
    )
    s.values["record"] = record
    return {"model_package": record.model_package_arn}


def _approve(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.registry import approve, approved_run

    group = s.values["platform"]["model_package_group"]
    current = approved_run(s.clients["sagemaker"], s.values["lake"], group)
    if current is not None and current.run_id == s.values["record"].run_id:
        return {"approved": True, "note": "already the approved model"}
    decision = approve(
        s.clients["sagemaker"], s.values["lake"], group, s.values["record"], margin=0.01
    )
    return {
        "approved": decision.passed,
        "metric": decision.metric,
        "candidate": decision.candidate,
        "previous": decision.approved,
    }


def _deploy(s: DemoState, say: Callable[[str], None]) -> dict[str, Any]:
    from mlops.infra import localmode
    from mlops.pipelines.model import unpack
    from mlops.pipelines.serving import CaptureWriter, ModelServer

    state = localmode.up(
        s.project, say=lambda _m: None, model_package_arn=s.values["record"].model_package_arn
    )
    endpoint = state.platform["endpoint_name"]
    # Serve what was registered: the artifact in the lake, not the model still in memory.
    bucket, key = s.values["record"].artifact_uri.removeprefix("s3://").split("/", 1)
    artifact = s.clients["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
    trainer, model = s.values["trainer"], unpack(s.values["trainer"], artifact)
    capture = CaptureWriter(
        s.values["lake"], endpoint, sampling_percent=100, flush_every=50, seed=7
    )
    server = ModelServer(
        lambda rows: trainer.predict_proba(model, rows),
        len(s.values["contract"].features),
        port=0,
        capture=capture,
    ).start()
    s.values.update(server=server, capture=capture, endpoint=endpoint)
    described = s.clients["sagemaker"].describe_endpoint(EndpointName=endpoint)
    return {
        "endpoint_name": endpoint,
        "endpoint_url": server.url,
        "endpoint_status": described["EndpointStatus"],
        "artifact": s.values["record"].artifact_uri,
    }


def _traffic(s: DemoState, count: int, *, drifted: bool) -> dict[str, Any]:
    contract, test = s.values["contract"], s.values["test"]
    rows = test.select(contract.features)
    rng = np.random.default_rng(11 if drifted else 13)
    sample = rows[rng.integers(0, len(rows), count)]
    if drifted:
        for i, name in enumerate(contract.features):
            sample[:, i] = np.clip(
                sample[:, i] + DRIFT.get(name, 0.0),
                contract.columns[name].min,
                contract.columns[name].max,
            )
    server, served_before = s.values["server"], s.values["server"].served
    latencies = []
    for row in sample:
        body = json.dumps({"instances": [row.tolist()]}).encode()
        request = urllib.request.Request(
            f"{server.url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            json.loads(response.read())
        latencies.append(time.perf_counter() - start)
    s.values["capture"].flush()
    return {
        "requests_served": server.served - served_before,
        "requests_captured": s.values["capture"].captured,
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
    }


def _monitor(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.drift import decide, drift_report, publish
    from mlops.pipelines.serving import read_captured

    contract, table = s.values["contract"], s.values["table"]
    reference = table.select(contract.features)
    batches = read_captured(s.values["lake"], s.values["endpoint"], len(contract.features))
    half = len(batches) // 2  # captured in order: the normal window, then the drifted one
    normal = drift_report(reference, np.vstack(batches[:half]), contract.features)
    drifted = drift_report(reference, np.vstack(batches[half:]), contract.features)
    publish(s.clients["cloudwatch"], s.values["endpoint"], drifted)
    decision = decide(
        drifted, sagemaker=s.clients["sagemaker"], pipeline=s.values["platform"]["pipeline_name"]
    )
    s.values["lake"].put(
        "monitoring",
        "drift/latest.json",
        json.dumps({"normal": normal.to_dict(), "drifted": drifted.to_dict()}).encode(),
    )
    return {
        "captured_rows": sum(len(b) for b in batches),
        "normal_window": {"score": normal.score, "drifted": normal.drifted},
        "drifted_window": {"score": drifted.score, "drifted": drifted.drifted},
        "decision": "retrain" if decision.retrain else "keep",
        "reason": decision.reason,
        "pipeline_execution": decision.pipeline_execution_arn,
    }


def report(results: list[StepResult]) -> dict[str, Any]:
    """The JSON report: one entry per step."""
    return {
        "ok": all(r.status == "ok" for r in results),
        "duration_s": round(sum(r.duration_s for r in results), 3),
        "steps": [asdict(r) | {"duration_s": round(r.duration_s, 3)} for r in results],
    }
