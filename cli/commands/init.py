"""``mlops init``: scaffold a project from a template pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperCommand

from mlops.cli.output import echo, exit_on_error, rich_console

app = typer.Typer()


class InitCommand(TyperCommand):
    """``mlops init``, whose help also lists each installed pack's own questions.

    The packs are read only when help is shown, so ``mlops --help`` never loads them.
    """

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Add the packs' questions as the epilog, then format as usual."""
        from mlops.templates.questions import questions_help

        self.epilog = questions_help()
        super().format_help(ctx, formatter)


@app.command(
    "init",
    cls=InitCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def init(  # one parameter per documented option
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name: lowercase letters, digits and '-'.")],
    dest: Annotated[
        Path | None, typer.Option(help="Destination directory. Default: ./NAME")
    ] = None,
    template: Annotated[
        str,
        typer.Option(
            help="Template pack: an installed one (listed below), a directory, or a git URL"
            " with an optional @REF (https://..., git@..., file://...)."
        ),
    ] = "aws",
    answers: Annotated[
        Path | None,
        typer.Option(help="YAML file of answers (or a project's .mlops/answers.yml). Flags win."),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt; use defaults for what is not given.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Write into a non-empty destination, overwriting only template files."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the file tree and write nothing.")
    ] = False,
    git: Annotated[bool, typer.Option(help="git init and commit when git is present.")] = True,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust", help="Let a custom pack's own Python (pack.py) run on this machine."
        ),
    ] = False,
) -> None:
    """Scaffold a complete ML project: pipeline code, tests, CI, Dockerfile and Pulumi stacks.

    Each template pack asks its own questions; answer them as --QUESTION VALUE (booleans as
    --QUESTION / --no-QUESTION), e.g. `mlops init churn --framework xgboost --no-spot`.
    Nothing is written if any answer is invalid or the destination is unsafe. Without
    --no-input, missing answers are prompted for on a terminal.
    """
    with exit_on_error():
        from mlops.templates.custom import resolve_pack
        from mlops.templates.engine import Scaffold
        from mlops.templates.questions import Questions

        pack, source = resolve_pack(template, trust)
        questions = Questions(pack.answers_model, template)
        scaffold = Scaffold(
            answers=questions.answers(name, ctx.args, answers, ask=not no_input),
            dest=dest if dest is not None else Path(name),
            template=str(source) if source else template,
            force=force,
            git=git,
            pack=pack if source else None,
        )
        plan = scaffold.plan()
        if dry_run:
            _print_plan(plan)
            return
        result = scaffold.run()
        _print_result(result)


def _print_plan(plan: Any) -> None:
    from rich.tree import Tree

    console = rich_console()
    changes = plan.changes
    tree = Tree(f"[bold]{changes.root}[/]")
    nodes: dict[tuple[str, ...], Tree] = {(): tree}
    overwritten = set(changes.overwritten)
    for planned in sorted(plan.files, key=lambda f: f.path.parts):
        parts = planned.path.parts
        for depth in range(1, len(parts)):
            key = parts[:depth]
            if key not in nodes:
                nodes[key] = nodes[key[:-1]].add(f"[blue]{parts[depth - 1]}/[/]")
        mark = " [yellow](overwrite)[/]" if planned.path in overwritten else ""
        nodes[parts[:-1]].add(f"{parts[-1]}{mark}")
    console.print(tree)
    console.print(
        f"dry run, nothing written: {len(plan.files)} files from template {plan.template}"
        f" {plan.template_version}: {len(changes.created)} new,"
        f" {len(changes.overwritten)} overwritten",
        soft_wrap=True,
    )


def _print_result(result: Any) -> None:
    plan = result.plan
    changes = plan.changes
    echo(
        f"Created {changes.root} from template {plan.template} {plan.template_version}:"
        f" {len(plan.files)} files",
        "green",
    )
    if changes.overwritten:
        echo(f"Overwrote {len(changes.overwritten)} template file(s):", "yellow")
        for path in changes.overwritten:
            echo(f"  {path}")
    echo(f"git: {result.git}")
    echo(f"Next: cd {changes.root} && make install && make test")
