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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.composition.lifecycle import Lifecycle, lifecycle_for
from mlops.composition.run import TrainingRun, check_margin
from mlops.core.contracts import PlatformOutputs
from mlops.pipelines.executors import LocalExecutor, Step, StepResult

if TYPE_CHECKING:  # the server is imported when the demo deploys, as before
    from mlops.pipelines.capture import CaptureWriter
    from mlops.pipelines.data import DataContract, Table
    from mlops.pipelines.serving import ModelServer

PROJECT = "churn-demo"
LIFECYCLE = ("ingest", "validate", "train", "evaluate", "register", "approve")
DRIFT = {"tenure_months": -30.0, "monthly_charges": 45.0, "support_calls": 3.0}
# The demo's categorical feature, added to the scaffolded project's contract and sample data as
# an owner would add one: the plan each customer is on. Drifted traffic is all on DRIFT_PLAN.
PLAN = "plan"
PLANS = ("basic", "plus", "premium")
DRIFT_PLAN = "premium"


@dataclass
class DemoState:
    """What the steps hand each other.

    Attributes:
        project: the demo's project directory.
        life: the project's lifecycle on its local stack (from ``local up``).
        run: the training run (its steps are ``mlops pipeline run --approve``'s).
        server: the model server (from ``deploy``).
        capture: what the server captures into the lake.
        endpoint: the deployed endpoint's name.
    """

    project: Path
    life: Lifecycle | None = None
    run: TrainingRun | None = None
    server: ModelServer | None = None
    capture: CaptureWriter | None = None
    endpoint: str = ""

    @property
    def lifecycle(self) -> Lifecycle:
        """The project's lifecycle on its local stack (after ``local up``)."""
        assert self.life is not None, "local up runs first"
        return self.life

    @property
    def training(self) -> TrainingRun:
        """The training run, made on the first lifecycle step."""
        if self.run is None:
            life = self.lifecycle
            margin = check_margin(life.platform.evaluation_margin)
            self.run = TrainingRun.of(life, self.project / "data" / "sample.csv", {}, margin)
        return self.run

    @property
    def serving(self) -> tuple[ModelServer, CaptureWriter]:
        """The model server and its capture (after ``deploy``)."""
        assert self.server is not None and self.capture is not None, "deploy runs first"
        return self.server, self.capture


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
    if keep:
        steps.append(("keep serving", lambda: _keep_serving(state)))
    try:
        return LocalExecutor(show_progress).run(steps)
    finally:
        if state.server is not None:
            state.server.stop()
        if not keep and localmode.load_state(state.project) is not None:
            localmode.down(state.project, say=lambda _m: None)


def _steps(s: DemoState, requests: int, say: Callable[[str], None]) -> list[Step]:
    def lifecycle(name: str) -> Callable[[], dict[str, Any]]:
        # The training steps are `mlops pipeline run --approve`'s own, wired after local up.
        def step() -> dict[str, Any]:
            return dict(dict(s.training.steps(approve=True))[name]())

        return step

    return [
        ("scaffold", lambda: _scaffold(s)),
        ("local up", lambda: _local_up(s, say)),
        *[(name, lifecycle(name)) for name in LIFECYCLE],
        ("deploy", lambda: _deploy(s, say)),
        ("normal traffic", lambda: _traffic(s, requests, drifted=False)),
        ("drifted traffic", lambda: _traffic(s, requests, drifted=True)),
        ("monitor", lambda: _monitor(s)),
    ]


MARKER = Path(".mlops") / "demo-project"
"""Written into the demo's project: a later demo may replace only a project that carries it."""


def _scaffold(s: DemoState) -> dict[str, Any]:
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    replaced = _clear_previous(s.project)
    answers = validate_answers({"name": PROJECT, "environments": "dev", "ci": "none"})
    result = Scaffold(answers, s.project, git=False).run()
    (s.project / MARKER).write_text("made by `mlops demo`; the next demo run replaces it\n")
    add_plan_feature(s.project)
    return {"project": str(s.project), "files": len(result.plan.files), "replaced": replaced}


def add_plan_feature(project: Path) -> None:
    """Give the project a categorical feature, as its owner would: contract, then data.

    ``plan`` (basic, plus, premium) goes into ``data/contract.yaml`` and each row of
    ``data/sample.csv`` gets one, drawn with a fixed seed and leaning on the row's own figures
    (annual contracts and high charges are premium more often), so the demo stays repeatable.
    """
    import csv
    import io

    contract = project / "data" / "contract.yaml"
    text = contract.read_text(encoding="utf-8")
    values = ", ".join(PLANS)
    anchor = "  churned:"
    assert anchor in text, "the pack's contract changed: the plan feature goes before its label"
    line = f"  {PLAN}: {{type: category, values: [{values}]}}\n"
    contract.write_text(text.replace(anchor, line + anchor, 1), encoding="utf-8")

    sample = project / "data" / "sample.csv"
    rows = list(csv.reader(io.StringIO(sample.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    charges, annual = header.index("monthly_charges"), header.index("annual_contract")
    rng = np.random.default_rng(5)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*header[:-1], PLAN, header[-1]])
    for row in body:
        lean = min(float(row[charges]) / 150.0, 1.0) * 0.5 + float(row[annual]) * 0.3
        weights = np.array([1.0 - lean, 0.6, 0.2 + lean])
        plan = PLANS[int(rng.choice(len(PLANS), p=weights / weights.sum()))]
        writer.writerow([*row[:-1], plan, row[-1]])
    sample.write_text(out.getvalue(), encoding="utf-8")


def _clear_previous(project: Path) -> bool:
    """Remove the project an earlier demo made here, so each run starts clean.

    Only a directory that carries the demo's marker is removed (after its local mode is
    stopped); anything else at that path is left alone and refused with what to do.

    Raises:
        UserError: the path exists and is not a project `mlops demo` made.
    """
    import shutil

    from mlops.core.errors import UserError
    from mlops.infra import localmode

    if not project.exists() and not project.is_symlink():
        return False
    if project.is_symlink() or not (project / MARKER).is_file():
        raise UserError(
            f"{project} exists and was not made by `mlops demo`, so it is left alone: pass"
            " another --dir, or move it away"
        )
    localmode.down(project, say=lambda _m: None, force=True)  # its endpoint, if still up
    shutil.rmtree(project)
    return True


def _local_up(s: DemoState, say: Callable[[str], None]) -> dict[str, Any]:
    from mlops.infra import localmode

    messages: list[str] = []
    state = localmode.up(s.project, say=messages.append)
    s.life = lifecycle_for(s.project)
    return {
        "endpoint": state.endpoint,
        "path": state.path,
        "resources": len(state.applied),
        "log": messages,
    }


def _deploy(s: DemoState, say: Callable[[str], None]) -> dict[str, Any]:
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client
    from mlops.pipelines.serving import Capture, ServedModel, serve_model

    life, run = s.lifecycle, s.training
    state = localmode.up(
        s.project, say=lambda _m: None, model_package_arn=run.record.model_package_arn
    )
    endpoint = PlatformOutputs.from_mapping(state.platform).endpoint_name
    # Serve what was registered: the artifact in the lake, not the model still in memory.
    artifact = life.lake.read_uri(run.record.artifact_uri)
    model = ServedModel.from_artifact(run.trainer, artifact, life.contract)
    capture = Capture(life.lake, endpoint, sampling_percent=100, flush_every=50, seed=7)
    server = serve_model(model, capture, port=0).start()
    assert server.capture is not None  # serve_model captured as asked
    s.server, s.capture, s.endpoint = server, server.capture, endpoint
    sagemaker = client(state.endpoint, state.region, "sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    return {
        "endpoint_name": endpoint,
        "endpoint_url": server.url,
        "endpoint_status": described["EndpointStatus"],
        "artifact": run.record.artifact_uri,
    }


def feature_rows(table: Table, contract: DataContract) -> np.ndarray:
    """The contract's features as rows, as a client sends them: numbers, and categories' text."""
    if not contract.categorical:
        return table.select(contract.features)
    columns = [
        table.labels(n) if contract.columns[n].categorical else table.column(n).astype(object)
        for n in contract.features
    ]
    return np.stack(columns, axis=1)


def _traffic(s: DemoState, count: int, *, drifted: bool) -> dict[str, Any]:
    contract, test = s.lifecycle.contract, s.training.test
    rows = feature_rows(test, contract)
    rng = np.random.default_rng(11 if drifted else 13)
    sample = rows[rng.integers(0, len(rows), count)]
    if drifted:
        for i, name in enumerate(contract.features):
            rule = contract.columns[name]
            if rule.categorical:  # the plan drifts by its mix, not by a shift
                if name == PLAN:
                    sample[:, i] = DRIFT_PLAN
                continue
            sample[:, i] = np.clip(sample[:, i] + DRIFT.get(name, 0.0), rule.min, rule.max)
    server, capture = s.serving
    served_before = server.served
    latencies = []
    for row in sample:
        body = json.dumps({"instances": [row.tolist()]}).encode()
        request = urllib.request.Request(
            f"{server.url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback
            json.loads(response.read())
        latencies.append(time.perf_counter() - start)
    capture.flush()
    return {
        "requests_served": server.served - served_before,
        "requests_captured": capture.captured,
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
    }


def _monitor(s: DemoState) -> dict[str, Any]:
    from mlops.pipelines.capture import read_captured
    from mlops.pipelines.drift import drift_report
    from mlops.pipelines.payload import RowSchema
    from mlops.pipelines.verdict import conclude

    life = s.lifecycle
    contract, endpoint = life.contract, s.endpoint
    reference = feature_rows(s.training.table, contract)
    batches = read_captured(life.lake, endpoint, RowSchema.from_contract(contract))
    half = len(batches) // 2  # captured in order: the normal window, then the drifted one
    # The contract's types decide how each feature is tested: categories as categories.
    features, categorical = contract.features, contract.categorical
    normal = drift_report(reference, np.vstack(batches[:half]), features, None, categorical)
    drifted = drift_report(reference, np.vstack(batches[half:]), features, None, categorical)
    outcome = conclude(
        [("reference -> normal traffic", normal), ("reference -> drifted traffic", drifted)],
        endpoint=endpoint,
        threshold=life.platform.drift_threshold,
        store=life.lake,
        trigger=life.trigger,
        metrics=life.metrics,
    )
    return {
        "captured_rows": sum(len(b) for b in batches),
        "normal_window": {"score": normal.score, "drifted": normal.drifted},
        "drifted_window": {"score": drifted.score, "drifted": drifted.drifted},
        "features": {f.feature: {"kind": f.kind, "test": f.test} for f in drifted.features},
        "decision": "retrain" if outcome.decision.retrain else "keep",
        "reason": outcome.decision.reason,
        "pipeline_execution": outcome.started,
    }


def _keep_serving(s: DemoState) -> dict[str, Any]:
    """Leave the approved model answering from its own process (`mlops local down` stops it)."""
    from mlops.composition.serve import start_background

    server, _ = s.serving
    server.stop()  # the demo's own server ends with the demo
    s.server = None
    url = start_background(s.project, port=0)
    return {"endpoint_url": url, "stop": f"mlops local down --project {s.project}"}


def report(results: list[StepResult]) -> dict[str, Any]:
    """The JSON report: one entry per step."""
    return {
        "ok": all(r.status == "ok" for r in results),
        "duration_s": round(sum(r.duration_s for r in results), 3),
        "steps": [asdict(r) | {"duration_s": round(r.duration_s, 3)} for r in results],
    }
