"""``mlops init``: scaffold a project from a template pack."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli.output import echo, exit_on_error, rich_console

app = typer.Typer()

# Flag name -> answers key. The answers model owns every rule; flags only collect values.
_FLAG_KEYS = (
    "region",
    "framework",
    "training_instance_type",
    "spot",
    "endpoint",
    "environments",
    "ci",
    "owner",
    "cost_center",
)


@app.command("init")
def init(  # noqa: PLR0913 - one parameter per documented option
    name: Annotated[str, typer.Argument(help="Project name: lowercase letters, digits and '-'.")],
    dest: Annotated[
        Path | None, typer.Option(help="Destination directory. Default: ./NAME")
    ] = None,
    template: Annotated[str, typer.Option(help="Template pack.")] = "aws",
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
    region: Annotated[str | None, typer.Option(help="AWS region. [default: us-east-1]")] = None,
    framework: Annotated[
        str | None, typer.Option(help="sklearn, xgboost or pytorch. [default: sklearn]")
    ] = None,
    training_instance_type: Annotated[
        str | None,
        typer.Option(help="SageMaker training type, e.g. ml.g5.2xlarge. [default: per framework]"),
    ] = None,
    spot: Annotated[
        bool | None, typer.Option("--spot/--no-spot", help="Managed spot training. [default: on]")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="serverless or realtime. [default: serverless]")
    ] = None,
    environments: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated cloud stacks; local is always added. [default: dev,staging,prod]"
        ),
    ] = None,
    ci: Annotated[
        str | None, typer.Option(help="github, gitlab or none. [default: github]")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner tag. [default: ml-team]")] = None,
    cost_center: Annotated[str | None, typer.Option(help="Cost-center tag. [default: ml]")] = None,
) -> None:
    """Scaffold a complete ML project: pipeline code, tests, CI, Dockerfile and Pulumi stacks.

    Nothing is written if any answer is invalid or the destination is unsafe. Without
    --no-input, missing answers are prompted for on a terminal.
    """
    flags = {
        "region": region,
        "framework": framework,
        "training_instance_type": training_instance_type,
        "spot": spot,
        "endpoint": endpoint,
        "environments": environments,
        "ci": ci,
        "owner": owner,
        "cost_center": cost_center,
    }
    with exit_on_error():
        from mlops.templates.answers import load_answers_file, validate_answers
        from mlops.templates.engine import Scaffold

        raw: dict[str, Any] = load_answers_file(answers) if answers else {}
        raw.update({key: value for key, value in flags.items() if value is not None})
        raw["name"] = name
        if not no_input and interactive():
            raw = _prompt_missing(raw)
        scaffold = Scaffold(
            answers=validate_answers(raw),
            dest=dest if dest is not None else Path(name),
            template=template,
            force=force,
            git=git,
        )
        plan = scaffold.plan()
        if dry_run:
            _print_plan(plan)
            return
        result = scaffold.run()
        _print_result(result)


def interactive() -> bool:
    """Prompt only on a terminal; piped or CI runs take the defaults."""
    return sys.stdin.isatty()


def _prompt_missing(raw: dict[str, Any]) -> dict[str, Any]:
    from mlops.templates.answers import Answers

    for key in _FLAG_KEYS:
        if key in raw:
            continue
        info = Answers.model_fields[key]
        default = info.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(str(item) for item in default)
        if isinstance(default, bool):
            raw[key] = typer.confirm(info.description or key, default=default)
        else:
            raw[key] = typer.prompt(info.description or key, default=str(default))
    return raw


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
