"""``mlops approve``: a registered model approved by a person, gated as a run is."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error

app = typer.Typer()


@app.command("approve")
def approve(
    model: Annotated[
        str,
        typer.Argument(
            metavar="VERSION|RUN",
            help="The registered model: its package version number in the stack's model"
            " package group (as `mlops runs show` prints it), or its run id or a unique prefix"
            " of one (as `mlops runs list` shows them).",
            show_default=False,
        ),
    ],
    project: ProjectOption = None,
    stack: Annotated[
        str | None,
        typer.Option(
            help="A deployed stack instead of local mode: on a k8s stack, its MLflow registry"
            " (MLFLOW_TRACKING_URI, e.g. a port-forward; the lake at AWS_ENDPOINT_URL_S3)."
        ),
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option(
            help="How much it must beat the approved model by on the primary metric, in"
            " [0, 1]. [default: the stack's evaluationMargin]"
        ),
    ] = None,
) -> None:
    """Approve a registered model: the human in the loop, as in SageMaker's console.

    VERSION|RUN is the model package's version number in the stack's model package group (as
    `mlops runs show` prints it), or its run id as `mlops runs list` shows it, or any unique
    prefix of one.

    Gated as `mlops pipeline run --approve` is: the model must beat the approved one on the
    primary metric by the margin, or nothing changes (exit 1). An unknown or unregistered
    model exits 2; one approved already is left as it is (exit 0).
    """
    with exit_on_error():
        from mlops.composition.approve import approve as approving
        from mlops.core.project import find_project

        done = approving(find_project(project), model, margin, stack, say=echo)
        record, name = done.record, f"version {done.version} ({done.record.run_id})"
        if done.decision is None:
            champion = done.champion
            newer = (
                f"; the newest approved model is {champion.run_id}"
                if champion is not None and champion.run_id != record.run_id
                else ""
            )
            echo(f"{name} is already approved{newer}", "green")
            return
        decision = done.decision
        over = "(no model was approved before)"
        if record.previous_run:
            figure = "" if decision.approved is None else f" ({decision.approved:.4f})"
            over = f"over {record.previous_run}{figure}"
        echo(f"approved {name}: {decision.metric}={decision.candidate:.4f} {over}", "green")
