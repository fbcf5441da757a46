"""Run the training lifecycle on a project's local stack.

ingest -> validate -> train -> evaluate -> register, and with ``approve`` the gated approval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.pipelines.executors import LocalExecutor, StepResult


@dataclass
class RunInputs:
    """What a run needs.

    Attributes:
        project: the project directory (its local stack must be up).
        data: the CSV or Parquet file to ingest.
        params: hyperparameters for the project's trainer.
        approve: approve the candidate if it beats the approved model by ``margin``.
        margin: the evaluation gate's margin.
    """

    project: Path
    data: Path
    params: dict[str, Any] = field(default_factory=dict)
    approve: bool = False
    margin: float = 0.01


def run_local(inputs: RunInputs, show_progress: bool = True) -> list[StepResult]:
    """Run the steps in-process against the local stack; stop at the first failure."""
    from mlops.infra import localmode
    from mlops.infra.local import client
    from mlops.pipelines import data as datasets
    from mlops.pipelines import registry
    from mlops.pipelines.lake import Lake
    from mlops.pipelines.model import load_trainer
    from mlops.pipelines.steps import evaluate_step, train_step, validate_step

    state = localmode.require_state(inputs.project)
    s3, sm = (client(state.endpoint, state.region, s) for s in ("s3", "sagemaker"))
    lake, platform = Lake(s3, state.platform["buckets"]), state.platform
    contract = datasets.DataContract.load(inputs.project / "data" / "contract.yaml")
    package = str(platform["project"]).replace("-", "_")
    params = {**localmode.hyperparameters(inputs.project), **inputs.params}
    ctx: dict[str, Any] = {}

    def ingest() -> dict[str, Any]:
        ctx["version"] = datasets.ingest(lake, inputs.data, package)
        return {"dataset_version": ctx["version"].sha256, "created": ctx["version"].created}

    def validate() -> dict[str, Any]:
        ctx["table"], report = validate_step(lake, ctx["version"], contract)
        return {"rows": report.rows}

    def train() -> dict[str, Any]:
        ctx["trainer"] = load_trainer(inputs.project, package)
        ctx["model"], ctx["test"] = train_step(ctx["trainer"], ctx["table"], contract, params)
        return {"test_rows": len(ctx["test"])}

    def evaluate() -> dict[str, Any]:
        ctx["record"] = evaluate_step(
            lake,
            ctx["trainer"],
            ctx["model"],
            ctx["test"],
            contract,
            ctx["version"],
            params,
            registry.code_version(inputs.project),
        )
        return {
            "run_id": ctx["record"].run_id,
            ctx["record"].primary_metric: ctx["record"].metrics[ctx["record"].primary_metric],
        }

    def register() -> dict[str, Any]:
        ctx["record"] = registry.register(
            sm, lake, platform["model_package_group"], ctx["record"], platform["image_uri"]
        )
        return {"model_package": ctx["record"].model_package_arn}

    def approve() -> dict[str, Any]:
        decision = registry.approve(
            sm, lake, platform["model_package_group"], ctx["record"], inputs.margin
        )
        return {"approved": decision.passed, "previous": decision.approved}

    steps = [
        ("ingest", ingest),
        ("validate", validate),
        ("train", train),
        ("evaluate", evaluate),
        ("register", register),
    ]
    if inputs.approve:
        steps.append(("approve", approve))
    return LocalExecutor(show_progress).run(steps)
