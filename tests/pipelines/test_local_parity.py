"""Local mode behaves as the cloud: the gate comes before registration; runs use what is applied.

The SageMaker pipeline ends in its ``GateFailed`` step when the candidate does not beat the
approved model: nothing is registered, the execution's evaluation stays. Its hyperparameters are
the ones ``pulumi up`` baked into the pipeline definition. Locally, ``mlops pipeline run`` does the
same: a failed gate registers nothing, and the hyperparameters are those ``mlops local up``
applied, with a warning naming it when ``Pulumi.local.yaml`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops.composition.lifecycle import lifecycle_for
from mlops.pipelines.registry import list_runs

pytestmark = pytest.mark.integration


def edited_data(project: Path) -> Path:
    """The sample data with one value changed: another dataset version, so another run."""
    edited = project / "data" / "more.csv"
    edited.write_text((project / "data" / "sample.csv").read_text().replace("\n42,", "\n41,", 1))
    return edited


def line_of(output: str, step: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"{step} ")]
    return line


def packages(life) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    listed = life.registry.sagemaker.list_model_packages(
        ModelPackageGroupName=life.platform.model_package_group, MaxResults=100
    )
    return list(listed["ModelPackageSummaryList"])


def test_a_failed_gate_registers_nothing_and_says_so_with_the_figures(
    local_project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    project = str(local_project)
    first = invoke("pipeline", "run", "--project", project, "--approve")
    assert first.exit_code == 0, first.output
    life = lifecycle_for(local_project)
    champion = life.registry.approved_run()
    assert champion is not None
    figure = champion.metrics[champion.primary_metric]

    # No candidate beats the champion by a margin of 1: the gate fails, as the cloud's would.
    data = str(edited_data(local_project))
    gated = invoke("pipeline", "run", "--project", project, "--data", data, "--margin", "1")
    assert gated.exit_code == 0, gated.output  # the run itself did its work: trained, evaluated
    assert "gate=failed" in line_of(gated.output, "evaluate")
    register = line_of(gated.output, "register")
    assert register.split()[1] == "gated", register
    assert f"does not beat the approved model ({figure:.4f}) by 1.0" in register
    assert "nothing registered" in register and "roc_auc=" in register

    (candidate,) = [r for r in list_runs(life.lake) if r.run_id != champion.run_id]
    # The run record stays in the lake, with its evaluation and the gate's verdict...
    assert candidate.gate["passed"] is False and candidate.model_package_arn == ""
    assert life.lake.exists("evaluation", f"{candidate.run_id}.json")
    # ...and nothing of it is in the registry.
    listed = packages(life)
    assert [p["ModelPackageArn"] for p in listed] == [champion.model_package_arn]
    assert not any(candidate.run_id in p.get("ModelPackageDescription", "") for p in listed)
    shown = invoke("runs", "list", "--project", project)
    assert "gate failed" in shown.output, shown.output

    # Asked to approve it, the run fails: nothing was registered, so nothing is approved.
    refused = invoke(
        "pipeline", "run", "--project", project, "--data", data, "--margin", "1", "--approve"
    )
    assert refused.exit_code == 1, refused.output
    assert "not approved" in line_of(refused.output, "approve")
    assert packages(life) == listed
    now = life.registry.approved_run()
    assert now is not None and now.run_id == champion.run_id

    # The gate is decided afresh on each run, as each pipeline execution decides it: the one
    # changed value leaves the figures equal to the champion's, so with no margin it registers.
    rerun = invoke("pipeline", "run", "--project", project, "--data", data, "--margin", "0")
    assert "created=False" in line_of(rerun.output, "ingest")
    assert "gate=passed" in line_of(rerun.output, "evaluate"), rerun.output
    assert line_of(rerun.output, "register").split()[1] == "ok", rerun.output
    assert len(packages(life)) == 2


def set_hyperparameters(project: Path, values: dict) -> None:  # type: ignore[type-arg]
    path = project / "Pulumi.local.yaml"
    stack = yaml.safe_load(path.read_text())
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    stack["config"][f"{name}:hyperparameters"] = values
    path.write_text(yaml.safe_dump(stack, sort_keys=False))


def test_a_changed_stack_file_is_named_and_applied_by_local_up(
    local_project: Path, moto_endpoint: str, invoke
) -> None:  # type: ignore[no-untyped-def]
    project = str(local_project)
    before = invoke("pipeline", "run", "--project", project)
    assert before.exit_code == 0, before.output
    assert "mlops local up" not in before.output  # nothing changed, nothing to say

    set_hyperparameters(local_project, {"C": 0.25})
    stale = invoke("pipeline", "run", "--project", project)
    assert stale.exit_code == 0, stale.output
    (warning,) = [line for line in stale.output.splitlines() if "Pulumi.local.yaml" in line]
    assert warning.startswith("warning: ") and "`mlops local up`" in warning, stale.output
    assert "C 0.25 (applied: unset)" in warning, warning
    life = lifecycle_for(local_project)
    # As the cloud pipeline trains with what `pulumi up` baked in, the run used the applied values.
    assert all(r.params.get("C") != 0.25 for r in list_runs(life.lake))
    assert "created=False" in line_of(stale.output, "ingest")

    up = invoke("local", "up", "--project", project, "--aws-endpoint", moto_endpoint)
    assert up.exit_code == 0, up.output
    applied = invoke("pipeline", "run", "--project", project)
    assert applied.exit_code == 0, applied.output
    assert "mlops local up" not in applied.output
    runs = list_runs(life.lake)
    assert len(runs) == 2  # the new hyperparameters are a new run
    old, new = (
        next(r for r in runs if r.params.get("C") != 0.25),
        next(r for r in runs if r.params.get("C") == 0.25),
    )
    # The effective parameters: the train module's DEFAULTS under the stack's.
    assert new.params == {"C": 0.25, "max_iter": 500}
    compared = invoke("runs", "compare", old.run_id, new.run_id, "--project", project)
    assert compared.exit_code == 0, compared.output
    (row,) = [line for line in compared.output.splitlines() if "param C" in line]
    assert "0.25" in row, compared.output
