"""``mlops deploy``: the approved (or named) model to the stack's endpoint, through the API."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error

app = typer.Typer()


@app.command("deploy")
def deploy(
    project: ProjectOption = None,
    version: Annotated[
        str | None,
        typer.Option(help="A registered version (package number). [default: the approved model]"),
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="A run id (or unique prefix).")] = None,
    stack: Annotated[
        str,
        typer.Option(
            help="The stack to deploy to: local (a cloud stack deploys with `pulumi up`, its"
            " modelPackageArn naming the package)."
        ),
    ] = "local",
    bake_seconds: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Local mode: bake each blue/green step this long instead of the stack's"
            " bakingMinutes.",
        ),
    ] = None,
    termination_wait_seconds: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Local mode: stop the old servers this long after a blue/green update instead"
            " of the stack's terminationWaitMinutes (the endpoint is Updating until then).",
        ),
    ] = None,
    scale_out_cooldown_seconds: Annotated[
        float | None,
        typer.Option(
            min=0, help="Local mode: seconds after a scale-out before the next. [default: 30]"
        ),
    ] = None,
    scale_in_cooldown_seconds: Annotated[
        float | None,
        typer.Option(
            min=0, help="Local mode: seconds after any scaling before a scale-in. [default: 120]"
        ),
    ] = None,
    scale_window_seconds: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Local mode: the window the invocation rate is measured over. [default: 60]",
        ),
    ] = None,
) -> None:
    """Deploy a registered model to the stack's endpoint, with the stack's variants.

    Starts endpointInstanceCount model servers per variant on 127.0.0.1, checks `/ping`,
    creates the endpoint through the SageMaker API on the embedded endpoint and records the
    servers, so `invoke_endpoint` (boto3, the AWS CLI) reaches them. A supervisor process then
    scales each variant up to autoscalingMax processes on invocationsPerInstance (target
    tracking) and replaces a server that exits. `mlops local down` stops them all.
    Onto an endpoint already in service it is a blue/green update with the stack's rollout
    (canary, linear or all at once), baked and rolled back on the stack's 5XX and latency alarms.
    """
    with exit_on_error():
        from mlops.core.errors import UserError
        from mlops.core.project import find_project

        if version is not None and run is not None:
            raise UserError("name the model with --version or --run, not both")
        from mlops.composition import deploy as deploying

        root = find_project(project)
        if stack != "local":
            deploying.refuse_cloud_stack(root, stack)
        entry = deploying.deploy(
            root,
            run if run is not None else version,
            say=echo,
            bake_s=bake_seconds,
            termination_wait_s=termination_wait_seconds,
            scale_out_cooldown_s=scale_out_cooldown_seconds,
            scale_in_cooldown_s=scale_in_cooldown_seconds,
            scale_window_s=scale_window_seconds,
        )
        weights = ", ".join(
            f"{v['name']} {'(copies)' if v['shadow'] else format(v['weight'], '.0%')}"
            for v in entry["variants"]
        )
        echo(f"deployed: {weights}", "green")
