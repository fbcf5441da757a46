"""``mlops render-manifests``: a stack's Kubernetes objects as YAML, for GitOps and linters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error

app = typer.Typer()


@app.command("render-manifests")
def render_manifests(
    dest: Annotated[Path, typer.Argument(help="Folder to write (new, empty, or written by this).")],
    stack: Annotated[str, typer.Option(help="The stack to render.")] = "dev",
    project: ProjectOption = None,
) -> None:
    """Write the Kubernetes objects a stack declares, one YAML file each, plus kustomization.yaml.

    The program runs under Pulumi's mock runtime: no cluster, no Pulumi CLI, no credentials.
    """
    with exit_on_error():
        from mlops.composition.manifests import render_manifests as render
        from mlops.core.project import find_project

        files = render(find_project(project), stack, dest)
        echo(f"{len(files)} manifests of stack '{stack}' in {dest} (kubectl apply -k {dest})")
