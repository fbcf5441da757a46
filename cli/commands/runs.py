"""``mlops runs list|compare|show`` and ``mlops pipeline run``: experiments in the lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli.options import ProjectOption, require_stack
from mlops.cli.output import echo, exit_on_error, rich_console

app = typer.Typer()
runs = typer.Typer(help="Experiment records in the lake.", no_args_is_help=True)
pipeline = typer.Typer(help="Run the training lifecycle.", no_args_is_help=True)
app.add_typer(runs, name="runs")
app.add_typer(pipeline, name="pipeline")


def _lake(project: Path) -> Any:
    from mlops.composition.lifecycle import local_lake

    return local_lake(project)


@runs.command("list")
def list_runs(project: ProjectOption = None) -> None:
    """List training runs: id, dataset, metrics, status."""
    with exit_on_error():
        from rich.table import Table

        from mlops.core.project import find_project

        project = find_project(project)

        from mlops.pipelines.registry import list_runs as read_runs

        table = Table()
        table.add_column("run", no_wrap=True, min_width=16)  # ids are typed back: never cut
        for column in ("created", "dataset", "metric", "status"):
            table.add_column(column, overflow="fold")
        for run in read_runs(_lake(project)):
            metric = f"{run.primary_metric}={run.metrics[run.primary_metric]:.4f}"
            table.add_row(run.run_id, run.created_at, run.dataset_sha256[:12], metric, _status(run))
        rich_console().print(table)


@runs.command("compare")
def compare(a: str, b: str, project: ProjectOption = None) -> None:
    """Compare two runs' metrics, params and inputs side by side.

    A and B are run ids as `mlops runs list` shows them, or any unique prefix of one.
    """
    with exit_on_error():
        from rich.table import Table

        from mlops.core.project import find_project

        project = find_project(project)

        from mlops.pipelines.registry import find_run

        lake = _lake(project)
        left, right = find_run(lake, a), find_run(lake, b)
        a, b = left.run_id, right.run_id
        table = Table(title=f"{a} vs {b}")
        for column in ("", a, b):
            table.add_column(column)
        for key in sorted(set(left.metrics) | set(right.metrics)):
            if key != "confusion_matrix":
                table.add_row(key, _fmt(left.metrics.get(key)), _fmt(right.metrics.get(key)))
        for label, l_value, r_value in (
            ("dataset", left.dataset_sha256[:12], right.dataset_sha256[:12]),
            ("code", left.code_version, right.code_version),
            ("code sha256", left.code_sha256[:12], right.code_sha256[:12]),
            ("framework", left.framework, right.framework),
            ("status", _status(left), _status(right)),
        ):
            table.add_row(label, l_value, r_value)
        # The effective parameters the trainer got, one row each (a blank: not passed).
        for key in sorted(set(left.params) | set(right.params)):
            table.add_row(f"param {key}", _param(left.params, key), _param(right.params, key))
        rich_console().print(table)


@runs.command("show")
def show(
    run: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A run id as `mlops runs list` shows it, or any unique prefix of one.",
            show_default=False,
        ),
    ],
    project: ProjectOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run as JSON, for scripts.")
    ] = False,
) -> None:
    """Show one run: metrics, effective hyperparameters, inputs, and its model package.

    RUN is a run id as `mlops runs list` shows it, or any unique prefix of one.

    The inputs are the dataset version, the data contract's and the code's content hashes,
    the git version and the framework; the package (ARN, version, approval status) is read
    from the registry when the run was registered.
    """
    with exit_on_error():
        from mlops.composition.approve import run_details
        from mlops.core.project import find_project

        details = run_details(find_project(project), run)
        if as_json:
            echo(json.dumps(details, indent=2, sort_keys=True))
            return
        _print_run(details)


def _print_run(details: dict[str, Any]) -> None:
    """A run's details as aligned ``label  value`` lines."""
    from mlops.pipelines.registry import RunRecord

    lines = [
        ("run", details["run_id"]),
        ("created", details["created_at"]),
        ("status", _status(RunRecord.from_dict(details))),
        ("dataset", details["dataset_sha256"]),
        ("contract sha256", details["contract_sha256"]),
        ("code sha256", details["code_sha256"]),
        ("code version", details["code_version"]),
        ("framework", details["framework"]),
        ("artifact", details["artifact_uri"]),
    ]
    if details["previous_run"]:
        lines.append(("replaced", details["previous_run"]))
    package = details["model_package"]
    if package is None:
        lines.append(("model package", "none (not registered)"))
    else:
        lines += [
            ("model package", package["arn"]),
            ("version", package["version"]),
            ("approval", package["approval_status"]),
        ]
    primary = details["primary_metric"]
    for key, value in sorted(details["metrics"].items()):
        if key != "confusion_matrix":
            mark = " (primary)" if key == primary else ""
            lines.append((f"metric {key}", f"{_fmt(value)}{mark}"))
    if "confusion_matrix" in details["metrics"]:
        lines.append(("confusion matrix", json.dumps(details["metrics"]["confusion_matrix"])))
    for key, value in sorted(details["params"].items()):
        lines.append((f"param {key}", json.dumps(value)))
    if not details["params"]:
        lines.append(("params", "none passed (the trainer's defaults)"))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        echo(f"{label:<{width}}  {value}")


def _status(run: Any) -> str:
    """A run's status; a run that trained but failed its gate says so (it was not registered)."""
    if run.status == "trained" and run.gate.get("passed") is False:
        return "gate failed"
    return str(run.status)


def _param(params: dict[str, Any], key: str) -> str:
    return json.dumps(params[key]) if key in params else ""


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _stack_for(project: Path, executor: str, stack: str | None) -> str:
    """The stack a run uses; a typo, or a cloud stack for the local executor, is refused."""
    from mlops.core.errors import UserError

    if stack is not None:
        require_stack(project, stack)  # before anything runs, with the near miss named
    if executor == "local" and stack not in (None, "local"):
        raise UserError(
            f"the local executor runs on the local stack, not '{stack}': drop --stack, or"
            f" run the {stack} stack's pipeline with --executor sagemaker (or k8s)"
        )
    return stack or "dev"


def _check_deploy(deploy: bool, approve: bool, executor: str, stack: str) -> None:
    """``--deploy`` chains ``mlops deploy`` after a local run that approves."""
    from mlops.core.errors import UserError

    if deploy and executor != "local":
        raise UserError(
            f"--deploy deploys to the local stack; the {stack} stack deploys its approved"
            f" model with `pulumi up --stack {stack}`"
        )
    if deploy and not approve:
        raise UserError("--deploy deploys the model this run approves: add --approve")


def _deploy_approved(project: Path, results: list[Any]) -> None:
    """Deploy the model the run approved to the local stack's endpoint (``mlops deploy``)."""
    if not any(r.name == "approve" and r.figures.get("approved") for r in results):
        echo("not deployed: this run approved no model", "yellow")
        raise typer.Exit(1)
    from mlops.composition import deploy as deploying

    entry = deploying.deploy(project, None, say=echo)
    echo(f"deployed to {len(entry['variants'])} variant(s)", "green")


@pipeline.command("run")
def run(
    data: Annotated[
        Path | None,
        typer.Option(help="CSV or Parquet file. [default: the project's data/sample.csv]"),
    ] = None,
    project: ProjectOption = None,
    executor: Annotated[
        str,
        typer.Option(
            help="local (in-process), sagemaker (the platform's pipeline), or k8s (the stack's"
            " Argo workflow on the current kubectl context)."
        ),
    ] = "local",
    approve: Annotated[
        bool, typer.Option(help="Approve the candidate if it beats the approved model.")
    ] = False,
    margin: Annotated[
        float | None,
        typer.Option(
            help="How much it must beat it by, in [0, 1]. [default: the stack's evaluationMargin]"
        ),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            help="Stack whose pipeline (or workflow, with k8s) the executor runs. The local"
            " executor always runs on the local stack. [default: dev for sagemaker and k8s]"
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="kubectl context for --executor k8s. [default: current]")
    ] = None,
    dataset_uri: Annotated[
        str,
        typer.Option(
            help="--executor k8s: the dataset version (s3:// prefix) to run on."
            " [default: the newest in the lake]"
        ),
    ] = "",
    backtest_labels: Annotated[
        Path | None,
        typer.Option(
            help="With --approve: also require the candidate to do no worse than the live model"
            " on captured traffic with these labels (inference_id,label)."
        ),
    ] = None,
    deploy: Annotated[
        bool,
        typer.Option(
            help="With --approve: deploy the approved model to the local stack's endpoint"
            " (`mlops deploy`) once the run is approved."
        ),
    ] = False,
) -> None:
    """Ingest, validate, train, evaluate and register a model (and optionally approve it).

    As in the cloud pipeline, a candidate that fails the gate is not registered; the run says
    why and keeps its record and evaluation in the lake.
    """
    with exit_on_error():
        from mlops.core.project import find_project

        project = find_project(project)
        from mlops.core.errors import UserError

        source = data if data is not None else project / "data" / "sample.csv"
        stack = _stack_for(project, executor, stack)
        _check_deploy(deploy, approve, executor, stack)
        if executor == "sagemaker":
            from mlops.composition.run import start_sagemaker

            echo(f"started {start_sagemaker(project, stack, source)}")
            echo("follow it in SageMaker Studio, or: aws sagemaker describe-pipeline-execution")
            return
        if executor == "k8s":
            from mlops.composition.k8s_run import run_training

            if data is not None:
                raise UserError(
                    "--executor k8s trains on the lake's data; --data is for local runs"
                )
            name = run_training(project, stack, context=context, say=echo, dataset_uri=dataset_uri)
            echo(f"workflow {name} finished: its candidate is registered", "green")
            return
        if executor != "local":
            raise UserError(f"unknown executor '{executor}'; use local, sagemaker or k8s")
        from mlops.composition.run import RunRequest, run_local

        if backtest_labels is not None and not approve:
            raise UserError("--backtest-labels gates approval: add --approve")

        results = run_local(
            RunRequest(
                project, source, approve=approve, margin=margin, backtest_labels=backtest_labels
            ),
            warn=lambda message: echo(f"warning: {message}", "yellow"),
        )
        for result in results:
            status, colour = result.status, {"ok": "green", "failed": "red"}.get(result.status)
            detail = result.error or ", ".join(f"{k}={v}" for k, v in result.figures.items())
            if result.figures.get("registered") is False:  # the gate failed: nothing registered
                status, detail = "gated", str(result.figures["reason"])
            echo(f"{result.name:<9} {status:<7} {detail}", colour or "yellow")
        if any(r.status == "failed" for r in results):
            raise typer.Exit(1)
        if deploy:
            _deploy_approved(project, results)
