"""``mlops init``: scaffold a project from a template pack."""

from __future__ import annotations

import sys
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
        self.epilog = _questions_help()
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
        from mlops.templates.answers import load_answers_file, validate_with
        from mlops.templates.custom import resolve_pack
        from mlops.templates.engine import Scaffold

        pack, source = resolve_pack(template, trust)
        recorded: dict[str, Any] = load_answers_file(answers) if answers else {}
        changes = parse_questions(ctx.args, pack.answers_model, template)
        # Flags win over the file; answers derived from one a flag changes are derived anew.
        raw = pack.answers_model.replay(recorded, changes)
        raw["name"] = name
        if not no_input and interactive():
            raw = _prompt_missing(raw, pack.answers_model)
        scaffold = Scaffold(
            answers=validate_with(pack.answers_model, raw),
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


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _is_bool(model: Any, field: str) -> bool:
    return bool(model.model_fields[field].annotation is bool)


def parse_questions(args: list[str], model: Any, template: str) -> dict[str, Any]:
    """Turn ``--question value`` / ``--question=value`` / ``--[no-]flag`` into answers.

    Raises:
        UserError: an argument is not one of the pack's questions, or lacks its value.
    """
    from mlops.core.errors import UserError
    from mlops.core.text import suggest

    questions = [f for f in model.model_fields if f != "name"]
    answers: dict[str, Any] = {}
    rest = list(args)
    while rest:
        token = rest.pop(0)
        key, has_value, value = token.removeprefix("--").partition("=")
        field = key.replace("-", "_")
        negated = field.startswith("no_") and field[3:] in questions and _is_bool(model, field[3:])
        if not token.startswith("--") or (field not in questions and not negated):
            flags = [_flag(q) for q in questions]
            raise UserError(
                f"unknown option {token}{suggest(token, flags)} for template '{template}';"
                f" its questions: {', '.join(flags)}"
            )
        if negated:
            answers[field[3:]] = False
        elif _is_bool(model, field) and not has_value:
            answers[field] = True
        elif has_value:
            answers[field] = value
        elif rest and not rest[0].startswith("--"):
            answers[field] = rest.pop(0)
        else:
            raise UserError(f"{token} needs a value, e.g. {token} VALUE")
    return answers


def _choices(annotation: Any) -> str:
    """`` (a, b, c)`` for an enum (or a list of one), else an empty string."""
    from enum import Enum
    from typing import get_args

    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return " (" + ", ".join(str(member.value) for member in candidate) + ")"
    return ""


def _questions_help() -> str:
    """Each installed pack's questions, with their defaults, for ``mlops init --help``."""
    from mlops.templates.pack import available_packs, load_pack

    lines = []
    for name in sorted(available_packs()):
        model = load_pack(name).answers_model
        lines.append(f"Questions of template '{name}':")
        for field, info in model.model_fields.items():
            if field == "name":
                continue
            default = info.get_default(call_default_factory=True)
            if isinstance(default, list):
                default = ",".join(str(item) for item in default)
            flag = (
                f"{_flag(field)}/--no-{field.replace('_', '-')}"
                if _is_bool(model, field)
                else _flag(field)
            )
            lines.append(
                f"  {flag}: {info.description}{_choices(info.annotation)}"
                f" [default: {_shown_default(model, field, default)}]"
            )
    return "\n\n".join(lines)


def _shown_default(model: type[Any], field: str, default: object) -> str:
    """The default as help shows it: ``derived`` only where another answer decides it."""
    if default in ("", None, -1) and field in getattr(model, "DERIVED", {}):
        return "derived"
    if field == "training_gpus" and default == -1:
        return "the framework's"
    return "empty" if default == "" else str(default)


def interactive() -> bool:
    """Prompt on a terminal, and read piped answers (``printf ... | mlops init``).

    Standard input that is neither a terminal nor has anything to read (a CI job, a closed
    pipe) means no prompts: the defaults stand.
    """
    if sys.stdin is None or sys.stdin.closed:
        return False
    if sys.stdin.isatty():
        return True
    import io
    import select

    try:
        readable, _, _ = select.select([sys.stdin], [], [], 0)
    except (OSError, ValueError):  # not a real file (a test runner's buffer): nothing piped
        return False
    piped = sys.stdin.read() if readable else ""
    if not piped.strip():
        return False  # /dev/null or an empty pipe: the defaults
    sys.stdin = io.StringIO(piped)  # the prompts read the piped lines in order
    return True


def on_terminal() -> bool:
    """Whether a person answers (bad answers are asked again) rather than a pipe."""
    return bool(sys.stdin.isatty())


def _prompt_missing(raw: dict[str, Any], model: Any) -> dict[str, Any]:
    """Ask each missing question in turn, checking each answer as it is given.

    On a terminal a bad answer is explained and asked again; with piped answers it stops the
    command at once, naming the question, before anything is written.
    """
    from mlops.core.errors import InvalidAnswersError
    from mlops.templates.answers import BaseAnswers, validate_with

    terminal = on_terminal()
    # The pack's own questions first (what the project is), then the shared ones.
    shared = list(BaseAnswers.model_fields)
    order = [f for f in model.model_fields if f not in shared] + shared
    for key in order:
        info = model.model_fields[key]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if key in raw or extra.get("prompt") is False:
            continue
        while True:
            raw[key] = _ask(info, key)
            try:
                validate_with(model, raw)
            except InvalidAnswersError as exc:
                mine = [message for field, message in exc.problems if field == key]
                if mine:
                    if not terminal:
                        raise InvalidAnswersError([(key, m) for m in mine]) from None
                    echo(f"  {key}: {'; '.join(mine)}", "red", err=True)
                    continue
            break  # the answer holds (later questions may still be unanswered)
    return raw


def _ask(info: Any, key: str) -> Any:
    """One prompt: choices shown for enums, yes/no for booleans."""
    from enum import Enum
    from typing import get_args

    default = info.get_default(call_default_factory=True)
    text = info.description or key
    if isinstance(default, bool):
        return typer.confirm(text, default=default)
    if isinstance(default, list):
        default = ",".join(str(getattr(item, "value", item)) for item in default)
    annotation = info.annotation
    # The choices are shown; the answers model judges the answer (one message for every rule).
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            text += f" ({', '.join(str(member.value) for member in candidate)})"
            break
    return typer.prompt(text, default=str(getattr(default, "value", default)))


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
