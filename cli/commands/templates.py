"""``mlops templates list|new``: the template packs at hand, and a starter for a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.output import echo, exit_on_error

app = typer.Typer()
templates = typer.Typer(help="Template packs: the installed ones, recently used ones, new ones.")
app.add_typer(templates, name="templates")


@templates.command("list")
def list_packs() -> None:
    """Show the installed packs and the custom packs used recently, with their versions."""
    with exit_on_error():
        from mlops.templates.custom import recent_packs
        from mlops.templates.pack import available_packs, load_pack

        for name in sorted(available_packs()):
            pack = load_pack(name)
            echo(f"{pack.name:<12} {pack.version:<8} installed  {pack.description}")
        for entry in recent_packs():
            echo(f"{entry['name']:<12} {entry['version']:<8} recent     {entry['source']}")


@templates.command("new")
def new(
    dest: Annotated[Path, typer.Argument(help="A new directory for the pack.")],
    name: Annotated[
        str | None, typer.Option(help="The pack's name. Default: the directory's.")
    ] = None,
) -> None:
    """Write a starter pack that extends the aws pack: template.yml, a file, and its test."""
    with exit_on_error():
        from mlops.templates.custom import new_pack

        written = new_pack(dest, name or dest.resolve().name)
    echo(f"wrote {len(written)} files in {dest}: {', '.join(written)}")
    echo(f"try it: mlops init demo --template {dest} --no-input --dest /tmp/demo")
