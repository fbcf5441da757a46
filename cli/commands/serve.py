"""``mlops serve``: the approved model on loopback, behind SageMaker's inference contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error
from mlops.core.contracts import SERVING_PORT

app = typer.Typer()


@app.command("serve")
def serve(
    project: ProjectOption = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = SERVING_PORT,
    version: Annotated[
        str | None,
        typer.Option(
            help="A registered version (package number) or run id. [default: the approved model]"
        ),
    ] = None,
    background: Annotated[
        bool,
        typer.Option(help="Serve from a detached process and return; `mlops local down` stops it."),
    ] = False,
    stop: Annotated[
        bool,
        typer.Option(
            "--stop", help="Stop the server `mlops serve` started for this project, and exit."
        ),
    ] = False,
    ready_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Serve a registered model of the project's local stack on 127.0.0.1.

    `GET /ping` and `POST /invocations` (JSON `{"instances": [[...]]}` or CSV), as a SageMaker
    endpoint answers. Prints the URL and an example request; stops cleanly on Ctrl-C or SIGTERM,
    or on `mlops serve --stop` (also for a `--background` one).
    """
    with exit_on_error():
        from mlops.composition import serve as serving
        from mlops.core.project import find_project

        root = find_project(project)
        if stop:
            serving.stop(root, say=echo)
            return
        if background:
            url = serving.start_background(root, port, version)
            echo(f"serving at {url} (stop it with `mlops local down`)", "green")
            return

        def ready(served: serving.Served) -> None:
            if ready_file is not None:
                ready_file.write_text(served.url)

        serving.serve(root, port=port, version=version, say=echo, ready=ready)
