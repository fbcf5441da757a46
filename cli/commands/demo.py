"""``mlops demo``: the whole ML lifecycle on this machine, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli.output import echo, exit_on_error, rich_console

app = typer.Typer()


@app.command("demo")
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo project is scaffolded.")
    ] = Path("mlops-demo"),
    report: Annotated[
        Path | None, typer.Option(help="Write a JSON report (one entry per step).")
    ] = None,
    requests: Annotated[
        int, typer.Option(min=10, max=10_000, help="Requests per traffic phase.")
    ] = 200,
    keep: Annotated[
        bool, typer.Option(help="Leave local mode up afterwards (mlops local down).")
    ] = False,
) -> None:
    """Scaffold, train, register, approve, deploy, send traffic, detect drift, decide to retrain.

    Everything runs on the embedded AWS endpoint (moto) on 127.0.0.1; nothing leaves the machine.
    """
    with exit_on_error():
        from mlops.composition import demo as engine
        from mlops.pipelines.steps import write_json

        directory.mkdir(parents=True, exist_ok=True)
        results = engine.run_demo(directory.resolve(), requests=requests, keep=keep, say=echo)
        _print_summary(results)
        if report is not None:
            write_json(report, engine.report(results))
            echo(f"report: {report}")
        if not all(r.status == "ok" for r in results):
            raise typer.Exit(1)


def _print_summary(results: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="mlops demo")
    for column in ("step", "status", "seconds", "key figures"):
        table.add_column(column, overflow="fold")
    for result in results:
        figures = ", ".join(
            f"{k}={round(v, 4) if isinstance(v, float) else v}"
            for k, v in result.figures.items()
            if k not in ("log", "confusion_matrix")
        )
        colour = {"ok": "green", "failed": "red"}.get(result.status, "yellow")
        table.add_row(
            result.name,
            f"[{colour}]{result.status}[/]",
            f"{result.duration_s:.2f}",
            result.error or figures,
        )
    rich_console().print(table)
