"""``mlops update`` and ``mlops check-update``: template changes into an existing project."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import echo, exit_on_error

app = typer.Typer()
MARK = {"updated": "~", "merged": "M", "conflict": "!", "added": "+", "deleted": "-", "kept": "="}


@app.command("update")
def update(
    to: Annotated[
        str | None,
        typer.Option(help="A git pack's tag or branch (an installed pack: its installed version)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff the update would make; write nothing.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--continue", help="Finish an update after resolving its conflicts (markers, types)."
        ),
    ] = False,
    keep_mine: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-mine",
            metavar="PATH",
            help="With --continue: keep your side of a type conflict (a path, or a directory"
            " above it; repeatable).",
        ),
    ] = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Let a custom pack's own Python (pack.py) run.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Bring the newer template version into this project without losing your edits.

    --to takes a git pack's tag or branch; an installed pack updates to its installed version.
    A three-way merge per file: the base is the pristine render of your current version (kept
    in the project's git history), theirs the new version rendered from your recorded answers,
    ours your working tree. Files you never edited take the new version; files you edited keep
    your edits merged with upstream's; conflicts become inline markers, are listed, and the
    command exits 1 until `mlops update --continue`. A type conflict (your directory where the
    template has a file, or your file where it has a directory) leaves yours untouched and
    writes the template's version to .mlops/update/theirs/PATH: it is resolved when PATH is a
    regular file again (move yours aside, put the template's in place), or when you keep yours
    with `mlops update --continue --keep-mine PATH`; --continue refuses until every marker and
    type conflict is resolved. Files you deleted stay deleted; files
    removed upstream are deleted only if unedited. Needs a clean git tree (commit first).
    Renamed resources get Pulumi aliases so `pulumi up` moves them instead of replacing them.
    """
    with exit_on_error():
        from mlops.core.errors import UserError
        from mlops.core.project import find_project
        from mlops.templates import update as updater

        root = find_project(project)
        if keep_mine and not resume:
            raise UserError("--keep-mine goes with --continue (it resolves a type conflict)")
        if resume:
            resolved = updater.continue_update(root, keep_mine or [])
            echo(f"update finished: {len(resolved)} resolved file(s); the answers record advanced")
            return
        if dry_run:
            plan = updater.plan_update(root, to, trust)
            _summary(plan)
            echo(plan.diff(root) or "(no changes)")
            echo("dry run: nothing written")
            return
        try:
            plan = updater.run_update(root, to, trust)
            if plan.old_version == plan.new_version and not plan.writes:
                echo(f"template {plan.template} {plan.new_version}: already up to date")
                return
        except updater.UpdateConflicts as conflicts:
            _summary(conflicts.plan)  # what merged cleanly, and where the markers are
            raise
        _summary(plan)
        echo(
            f"updated {plan.template} {plan.old_version} -> {plan.new_version}:"
            " review with `git diff`, then commit"
        )


def _summary(plan: object) -> None:
    from mlops.templates.update import UpdatePlan

    assert isinstance(plan, UpdatePlan)
    echo(f"template {plan.template}: {plan.old_version} -> {plan.new_version}", "cyan")
    for outcome in plan.outcomes:
        if outcome.action != "unchanged" or outcome.detail:
            detail = f" ({outcome.detail})" if outcome.detail else ""
            echo(f"  {MARK.get(outcome.action, ' ')} {outcome.path}: {outcome.action}{detail}")
    for key, value in plan.new_questions.items():
        echo(f"  new question {key}: {value!r} (its default; edit .mlops/answers.yml to change)")
    for alias in plan.aliases:
        echo(f"  renamed {alias['type']}: {alias['old']} -> {alias['new']} (aliased)")


@app.command("check-update")
def check_update(project: ProjectOption = None) -> None:
    """Say whether a newer template version exists (installed, or a git pack's newer release tag).

    Exit status: 0 up to date; 1 a newer version is available (the message gives the command
    that brings it in), so a CI job can nag; 2 it could not be checked (the pack's git source
    could not be reached, with git's reason, or no project).
    """
    with exit_on_error():
        from mlops.core.project import find_project
        from mlops.templates.update import check_update as check

        found = check(find_project(project))
    if found.current == found.available:
        echo(f"template {found.template} {found.current}: up to date")
        return
    command = ["mlops", "update", *(["--to", found.to] if found.to else [])]
    if project is not None:
        command += ["--project", str(project)]
    echo(
        f"template {found.template} {found.current} -> {found.available} is available:"
        f" run `{shlex.join(command)}`",
        "yellow",
    )
    raise typer.Exit(1)
