"""``mlops monitor drift|run``: data drift between windows, and the loop that retrains on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer

from mlops.cli.options import ProjectOption, require_stack
from mlops.cli.output import echo, exit_on_error, progress_display

app = typer.Typer()
monitor = typer.Typer(
    name="monitor",
    help="Data drift: between files or dataset versions, or on the project's captured traffic.",
    no_args_is_help=True,
)
app.add_typer(monitor, name="monitor")

ShareOption = Annotated[
    float,
    typer.Option(min=0.01, max=1.0, help="The dataset drifts when this share of features drift."),
]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        help="YAML of per-feature rules, e.g. `age: {test: psi, threshold: 0.25}`. Tests:"
        " wasserstein, jensenshannon, ks, chisquare, z, psi."
    ),
]
HtmlOption = Annotated[
    Path | None, typer.Option(help="Also write a self-contained HTML report with plots here.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON report.")]
IncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Also test this column, which is left out by default: the label (the data"
        " contract's) or the model's `prediction` (repeat)."
    ),
]


@monitor.command("drift")
def drift(
    reference: Annotated[
        str,
        typer.Option(
            help="CSV, Parquet, captured .jsonl (or a folder of them), or dataset:SHA256-PREFIX."
        ),
    ],
    current: Annotated[str, typer.Option(help="The window to check, in the same forms.")],
    as_json: JsonOption = False,
    html: HtmlOption = None,
    share: ShareOption = 0.5,
    rules: RulesOption = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option(help="Read this column as categories even if it holds numbers (repeat)."),
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Names of captured rows' columns, comma-separated.")
    ] = None,
    contract: Annotated[
        Path | None,
        typer.Option(
            help="A data contract: captured rows' column names, and the label to leave out"
            " (inside a project, its data/contract.yaml is read for the label)."
        ),
    ] = None,
    include: IncludeOption = None,
    engine: Annotated[
        str,
        typer.Option(
            help="numpy: this process, reading the windows chunk by chunk (memory: a chunk and"
            " the summaries). spark: PySpark DataFrame aggregations (`pip install"
            " 'mlops-stack[spark]'`, Java 17+; Parquet or CSV files), same verdicts.",
            click_type=click.Choice(["numpy", "spark"]),
        ),
    ] = "numpy",
    project: ProjectOption = None,
) -> None:
    """Compare CURRENT with REFERENCE feature by feature; exit 0 steady, 1 drift, 2 bad input.

    Each feature gets Evidently's default test (KS, chi-square or z for references of 1000 rows
    or fewer; normed Wasserstein or Jensen-Shannon above), its missing-value rate a test of its
    own, and categories new or vanished are named. The label and the model's prediction are
    not features unless named with --include.
    """
    with exit_on_error():
        from mlops.composition import monitor as monitoring

        options = monitoring.load_rules(rules, share)
        names = monitoring.features_of(contract, features)
        label = monitoring.label_of(contract, project)
        forced = categorical or []
        ref = monitoring.load_window(reference, project, names, forced)
        cur = monitoring.load_window(current, project, names, forced)
        check = monitoring.drift_check(
            ref, cur, options, html, engine=engine, label=label, include=include or [],
            categorical=forced,
        )  # fmt: skip
        if as_json:
            echo(json.dumps(check.report.to_dict(), indent=1))
        else:
            for line in monitoring.summary_lines(check.report, check.left_out):
                echo(line)
            if html is not None:
                echo(f"wrote the HTML report: {html}")
    if check.report.drifted:
        raise typer.Exit(1)


@monitor.command("run")
def run(
    project: ProjectOption = None,
    windows: Annotated[
        int,
        typer.Option(
            min=0,
            help="Compare N consecutive windows of captured traffic with each other (scenario"
            " II, no training data needed). Windows are cut between capture objects (each"
            " holds the requests captured between two flushes, named by capture time): the"
            " objects, oldest first, are split into N runs of about equal numbers of objects,"
            " and each window is compared with the one before it. [default: 0, the approved"
            " model's reference]",
        ),
    ] = 0,
    act: Annotated[
        bool,
        typer.Option(help="Locally, on a retrain decision, start the training pipeline."),
    ] = True,
    stack: Annotated[
        str | None,
        typer.Option(
            help="A deployed stack (AWS credentials) instead of local mode: only the metric is"
            " published; the stack's drift alarm starts the pipeline."
        ),
    ] = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
    share: ShareOption = 0.5,
    rules: RulesOption = None,
    include: IncludeOption = None,
) -> None:
    """Check the project's captured traffic for drift; publish the score; retrain or keep.

    By default the traffic is compared with the reference sample stored in the approved
    model's artifact. The drift score goes to the metric the platform's drift alarm watches;
    locally, a retrain decision starts the training pipeline on the local endpoint (on AWS the
    alarm does it through EventBridge). Exit 0 keep the model, 1 drift (retrain), 2 bad input.
    """
    with exit_on_error():
        from mlops.composition import monitor as monitoring
        from mlops.core.project import find_project

        root = find_project(project)
        if stack is not None:
            require_stack(root, stack)
        options = monitoring.load_rules(rules, share)
        with progress_display("capture objects read") as progress:
            result = monitoring.monitor_run(
                root,
                windows=windows,
                options=options,
                html=html,
                act=act,
                stack=stack,
                progress=progress,
                include=include or [],
            )
        latest = result.reports[-1][1]
        if as_json:
            payload = {
                "comparisons": [{"label": k, **r.to_dict()} for k, r in result.reports],
                "decision": {
                    "retrain": result.decision.retrain,
                    "reason": result.decision.reason,
                    "pipeline_execution_arn": result.started,
                },
                "stored": result.stored,
                "html": str(html) if html is not None else None,
            }
            echo(json.dumps(payload, indent=1))
        else:
            for label, report in result.reports:
                echo(f"{label}:")
                for line in monitoring.summary_lines(report):
                    echo(f"  {line}")
            colour = "red" if result.decision.retrain else "green"
            echo(f"decision: {result.decision.reason}", colour)
            if result.started:
                echo(f"started the training pipeline: {result.started}")
            elif result.decision.retrain and stack is not None:
                echo("the stack's drift alarm starts the training pipeline (EventBridge)")
            echo(f"wrote the JSON report: {result.stored}")
            if html is not None:
                echo(f"wrote the HTML report: {html}")
    if latest.drifted or result.decision.retrain:
        raise typer.Exit(1)


@monitor.command("quality")
def quality(
    labels: Annotated[
        Path, typer.Option(help="CSV or Parquet with columns inference_id and label.")
    ],
    period: Annotated[str, typer.Option(help="Track the metric per day or hour.")] = "day",
    as_json: JsonOption = False,
    project: ProjectOption = None,
) -> None:
    """The model's primary metric on captured traffic whose labels have arrived.

    Clients tag requests with `X-Amzn-SageMaker-Inference-Id`; the labels file joins on it. The
    overall value is published to CloudWatch (mlops-stack/ModelQuality).
    """
    with exit_on_error():
        from mlops.composition import monitor as monitoring
        from mlops.core.project import find_project

        result = monitoring.model_quality(find_project(project), labels, period)
        if as_json:
            echo(json.dumps(result.__dict__, indent=1))
            return
        overall = "n/a" if result.overall is None else f"{result.overall:.4f}"
        echo(
            f"{result.metric}: {overall} on {result.labelled} labelled rows"
            f" ({result.unlabelled} captured rows without a label yet)"
        )
        for row in result.periods:
            value = row[result.metric]
            shown = "n/a" if value is None else f"{value:.4f}"
            echo(f"  {row['period']}: {shown} ({row['rows']} rows)")


@monitor.command("backtest")
def backtest(
    candidate: Annotated[str, typer.Option(help="The candidate's run id (or a unique prefix).")],
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels (inference_id,label) to score both models on."),
    ] = None,
    as_json: JsonOption = False,
    project: ProjectOption = None,
) -> None:
    """Replay captured production traffic through a candidate and the approved model.

    Shows how often and how much they disagree and, with labels, which scores better on the
    primary metric. Exit 1 when labels show the candidate doing worse than the live model.
    """
    with exit_on_error():
        from mlops.composition import monitor as monitoring
        from mlops.core.project import find_project

        result = monitoring.backtest_candidate(find_project(project), candidate, labels)
        if as_json:
            echo(
                json.dumps(
                    {**result.__dict__, "candidate_not_worse": result.candidate_not_worse}, indent=1
                )
            )
        else:
            echo(
                f"replayed {result.rows} captured rows: mean |difference|"
                f" {result.mean_abs_difference:.4f}, {result.flipped:.1%} change class"
            )
            if result.candidate_not_worse is None:
                echo("no labels for these rows: pass --labels to compare the models' metric")
            else:
                echo(
                    f"{result.metric} on {result.labelled} labelled rows: live {result.live:.4f},"
                    f" candidate {result.candidate:.4f}",
                    "green" if result.candidate_not_worse else "red",
                )
    if result.candidate_not_worse is False:
        raise typer.Exit(1)
