"""``mlops local up|down|status``: the project's local stack on an AWS endpoint on this machine."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error, progress_display

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
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow",
            help="Also start an MLflow tracking server on 127.0.0.1 (SQLite, artifacts in the"
            " lake); every run is tracked there.",
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

        with progress_display("applying the local stack") as progress:
            state = localmode.up(project, aws_endpoint, say=echo, progress=progress)
        echo(
            f"local stack up at {state.endpoint} ({state.path}, {len(state.applied)} resources)",
            "green",
        )
        if mlflow:
            from mlops.infra import local_mlflow

            artifacts = f"s3://{state.platform['buckets']['artifacts']}/mlflow"
            server = local_mlflow.up(project, artifacts, state.endpoint, state.region)
            echo(
                f"MLflow tracking server at {server.url} (pid {server.pid}); runs are tracked"
                " there, `mlops local down` stops it",
                "green",
            )


@local.command("down")
def down(
    project: ProjectOption = None,
    k8s: Annotated[bool, typer.Option("--k8s", help="Delete the project's kind cluster.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also reset a corrupt or stale state (only verified processes are stopped).",
        ),
    ] = False,
) -> None:
    """Tear the `local` stack down and stop the embedded endpoint (or delete the kind cluster).

    Only processes verified as this project's (pid, start time, command line) are stopped,
    including an endpoint an interrupted `mlops local up` left running without state.
    """
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        if k8s:
            from mlops.composition import local_k8s

            local_k8s.down(project, say=echo)
            return
        from mlops.composition import deploy as deploying
        from mlops.infra import localmode

        deploying.stop_all(project, say=echo)  # the model servers `mlops deploy` started
        from mlops.infra import local_mlflow

        stopped = local_mlflow.down(project)  # the tracking server `--mlflow` started
        if stopped:
            echo(stopped)
        localmode.down(project, say=echo, force=force)


@local.command("status")
def status(
    project: ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the endpoint, how the stack was provisioned, its resources and the model servers.

    Lists the endpoints `mlops deploy` deployed, with their variants, weights and server pids.
    """
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        from mlops.infra import localmode

        info = localmode.status(project)
        if as_json:
            from mlops.composition import deploy as deploying

            # The endpoints `mlops deploy` put behind the runtime API (the project's endpoint
            # test reads them: `make test-local`).
            info["deployed"] = deploying.deployed(project) if info["up"] else {}
            echo(json.dumps(info, indent=1))
            return
        problem = _problem(info)
        if problem is not None:
            message, code = problem
            echo(message, "red" if code == 4 else None, err=code == 4)
            raise typer.Exit(code)
        if info["orphan"]:
            echo(
                f"the embedded endpoint an interrupted `mlops local up` started still runs (pid"
                f" {info['orphan']}): `mlops local down` stops it",
                "yellow",
                err=True,
            )
        alive = "answering"
        server = (
            f"embedded moto, pid {info['embedded_pid']}" if info["embedded_pid"] else "external"
        )
        echo(f"endpoint: {info['endpoint']} ({alive}; {server})")
        echo(f"provisioned by: {info['path']}; resources: {info['resources']}")
        platform = info["platform"]
        if platform:
            buckets = platform.get("buckets")
            names = buckets.values() if isinstance(buckets, dict) else []
            echo(f"lake: {', '.join(map(str, names))}")
            # The stack's own endpoint (from an approved package at `local up`), else what
            # `mlops deploy` put behind the runtime API (listed below).
            endpoint = platform.get("endpoint_name") or "see deployed endpoints below"
            echo(f"pipeline: {platform.get('pipeline_name')}; endpoint: {endpoint}")
        serving = info.get("serving") or {}
        if serving:
            state = "answering" if serving["answering"] else "NOT answering"
            if serving["answering"] and not serving["ours"]:
                state = "answering, but NOT from the server mlops serve started"
            echo(f"model server: {serving['url']} ({state}; {serving.get('run_id')})")
        else:
            echo("model server: none (mlops serve)")
        from mlops.infra import local_mlflow

        tracking = local_mlflow.tracking_uri(project)
        echo(f"MLflow: {tracking}" if tracking else "MLflow: none (mlops local up --mlflow)")
        from mlops.composition import deploy as deploying

        for line in deploying.status_lines(project) or ["deployed endpoints: none (mlops deploy)"]:
            echo(line)


def _problem(info: dict[str, Any]) -> tuple[str, int] | None:
    """What keeps local mode from being used, with the exit code; None when it can be."""
    if not info["up"] and info["orphan"]:
        return (
            "local mode is down, but the embedded endpoint an interrupted `mlops local up`"
            f" started still runs (pid {info['orphan']}): `mlops local down` stops it,"
            " `mlops local up` replaces it",
            4,
        )
    if not info["up"]:
        return "local mode is down (mlops local up)", 3
    if info["stale"]:
        return (
            f"local mode's state is stale: {info['stale']}; nothing was sent there: run"
            " `mlops local up` to start afresh, or `mlops local down --force` to reset it",
            4,
        )
    if info["provisioning"]:
        return (
            f"an earlier `mlops local up` did not finish (endpoint {info['endpoint']}): run"
            " `mlops local up` again, or `mlops local down`",
            4,
        )
    if not info["reachable"]:
        return (
            f"local mode is recorded at {info['endpoint']}, but nothing answers there:"
            " run `mlops local up` to start it again",
            4,
        )
    return None
