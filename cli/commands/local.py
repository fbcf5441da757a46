"""``mlops local up|down|status``: the project's local stack on an AWS endpoint on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error

app = typer.Typer(help="Run the project's `local` stack on an AWS endpoint on this machine.")
local = typer.Typer(
    help="Run the project's `local` stack on an AWS endpoint on this machine.", no_args_is_help=True
)
app.add_typer(local, name="local")


@local.command("up")
def up(
    project: ProjectOption = None,
    aws_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Use this loopback endpoint (LocalStack, moto) instead of the embedded one."
        ),
    ] = None,
    k8s: Annotated[
        bool,
        typer.Option(
            "--k8s", help="A k8s project: a kind cluster instead (docker, kind, kubectl)."
        ),
    ] = False,
) -> None:
    """Start the embedded AWS endpoint (moto on 127.0.0.1) and provision the `local` stack.

    With the Pulumi CLI on PATH this runs `pulumi up --stack local` against the endpoint;
    without it, the program's resource graph is applied with boto3. Running it again is safe.
    With --k8s: a kind cluster (one worker labelled as the GPU stand-in) and the local stack's
    manifests applied with kubectl.
    """
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        if k8s:
            from mlops.composition import local_k8s

            cluster = local_k8s.up(project, say=echo)
            echo(f"local stack up on kind-{cluster}", "green")
            return
        from mlops.infra import localmode

        state = localmode.up(project, aws_endpoint, say=echo)
        echo(
            f"local stack up at {state.endpoint} ({state.path}, {len(state.applied)} resources)",
            "green",
        )


@local.command("down")
def down(
    project: ProjectOption = None,
    k8s: Annotated[bool, typer.Option("--k8s", help="Delete the project's kind cluster.")] = False,
) -> None:
    """Tear the `local` stack down and stop the embedded endpoint (or delete the kind cluster)."""
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        if k8s:
            from mlops.composition import local_k8s

            local_k8s.down(project, say=echo)
            return
        from mlops.infra import localmode

        localmode.down(project, say=echo)


@local.command("status")
def status(
    project: ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the endpoint, how the stack was provisioned, its resources and the running server."""
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        from mlops.infra import localmode

        info = localmode.status(project)
        if as_json:
            echo(json.dumps(info, indent=1))
            return
        if not info["up"]:
            echo("local mode is down (mlops local up)")
            raise typer.Exit(3)
        if not info["reachable"]:
            echo(
                f"local mode is recorded at {info['endpoint']}, but nothing answers there:"
                " run `mlops local up` to start it again",
                "red",
                err=True,
            )
            raise typer.Exit(4)
        if info["ours"] is False:
            echo(
                f"something answers at {info['endpoint']}, but not the embedded endpoint this"
                f" project started (pid {info['embedded_pid']} is gone or is another program):"
                " run `mlops local up` to start a new one",
                "red",
                err=True,
            )
            raise typer.Exit(4)
        alive = "answering"
        server = (
            f"embedded moto, pid {info['embedded_pid']}" if info["embedded_pid"] else "external"
        )
        echo(f"endpoint: {info['endpoint']} ({alive}; {server})")
        echo(f"provisioned by: {info['path']}; resources: {info['resources']}")
        if info["platform"]:
            echo(f"lake: {', '.join(info['platform']['buckets'].values())}")
            endpoint = info["platform"]["endpoint_name"] or "none deployed (see mlops serve)"
            echo(f"pipeline: {info['platform']['pipeline_name']}; endpoint: {endpoint}")
        serving = info.get("serving") or {}
        if serving:
            state = "answering" if serving["answering"] else "NOT answering"
            if serving["answering"] and not serving["ours"]:
                state = "answering, but NOT from the server mlops serve started"
            echo(f"model server: {serving['url']} ({state}; {serving['run_id']})")
        else:
            echo("model server: none (mlops serve)")
