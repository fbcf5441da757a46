"""The scaffold engine: one object holds every option; the CLI only builds it and calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlops.core import git as gitcmd
from mlops.core.errors import TemplateError, UserError
from mlops.templates.answers import BaseAnswers
from mlops.templates.pack import TemplatePack, load_pack
from mlops.templates.render import PlannedFile, render_files
from mlops.templates.write import Changes, preflight, write_files

RECORD_PATH = PurePosixPath(".mlops/answers.yml")
PRISTINE_REF = "refs/mlops/pristine"  # see mlops.templates.update
RECORD_HEADER = (
    "# Recorded by mlops-stack: the template and answers this project was rendered from.\n"
    "# `mlops update` re-renders from here and merges with your edits; keep it under git.\n"
)


@dataclass(frozen=True)
class Plan:
    """Everything a scaffold would do, computed without writing.

    Attributes:
        template: the pack name.
        template_version: the pack version.
        files: the files to write, in manifest order (the answers record last).
        changes: what writing them does to the destination.
    """

    template: str
    template_version: str
    files: list[PlannedFile]
    changes: Changes


@dataclass(frozen=True)
class Result:
    """What a scaffold did.

    Attributes:
        plan: the plan that was carried out.
        git: ``"initialized"``, ``"skipped: <why>"`` or ``"disabled"``.
    """

    plan: Plan
    git: str


@dataclass
class Scaffold:
    """Render a template pack into a destination.

    Attributes:
        answers: validated answers.
        dest: the destination directory.
        template: the bundled pack's name.
        force: overwrite the template's files in a non-empty destination.
        git: run ``git init`` and make a first commit when git is present.
    """

    answers: BaseAnswers
    dest: Path
    template: str = "aws"
    force: bool = False
    git: bool = True
    pack: TemplatePack | None = None  # a custom pack, already loaded (template is then its source)
    _plan: Plan | None = field(default=None, init=False, repr=False)

    def plan(self) -> Plan:
        """Render in memory and check the destination; writes nothing."""
        if self._plan is None:
            if (self.dest / RECORD_PATH).is_file():
                # With or without --force, one answer: re-rendering over a project would drop its
                # answers and overwrite its edits, and `mlops update` is the way.
                raise UserError(
                    f"{self.dest} is already an mlops project ({RECORD_PATH} is there):"
                    " `mlops update` brings template changes in with a three-way merge that"
                    " keeps your edits; `init` refuses, with or without --force, as it would"
                    " overwrite them"
                )
            pack = self.pack or load_pack(self.template)
            if not isinstance(self.answers, pack.answers_model):
                raise TemplateError(
                    pack.name,
                    f"answers are {type(self.answers).__name__}, the pack asks for"
                    f" {pack.answers_model.__name__}",
                )
            specs = pack.manifest(self.answers)
            files = render_files(pack, specs, pack.build_context(self.answers))
            if any(f.path == RECORD_PATH for f in files):
                raise TemplateError(pack.name, f"the manifest must not write {RECORD_PATH}")
            if getattr(self.answers, "mlops_source", "") == "wheel":
                # The project installs this very mlops-stack from its own wheels/ directory.
                from mlops.templates.source import WHEELS_DIR, wheel_bytes, wheel_name

                path = PurePosixPath(WHEELS_DIR, wheel_name())
                files.append(PlannedFile(path, wheel_bytes()))
            files.append(PlannedFile(RECORD_PATH, self._record(pack.name, pack.version)))
            self._plan = Plan(
                pack.name, pack.version, files, preflight(self.dest, files, self.force)
            )
        return self._plan

    def run(self) -> Result:
        """Write the planned files, then initialize git."""
        plan = self.plan()
        write_files(plan.changes, plan.files)
        return Result(plan, self._git_init(plan) if self.git else "disabled")

    def _record(self, template: str, version: str) -> bytes:
        record: dict[str, Any] = {"template": template, "template_version": version}
        if self.pack is not None:  # a custom pack: where to fetch it again for `mlops update`
            record["template_source"] = self.template
        record["answers"] = self.answers.to_record()
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # same output, libyaml speed
        text = yaml.dump(record, Dumper=dumper, sort_keys=False)
        return (RECORD_HEADER + text).encode("utf-8")

    def _git_init(self, plan: Plan) -> str:
        root = plan.changes.root
        if plan.changes.exists or _inside_git_repo(root.resolve().parent):
            return "skipped: the destination already existed or sits inside a git repository"
        message = (
            f"Initial commit from mlops-stack template {plan.template} {plan.template_version}"
        )
        try:
            gitcmd.run("init", "-q", "-b", "main", cwd=root)
        except gitcmd.GitError as exc:
            if exc.missing:
                return "skipped: git is not installed"
            raise
        gitcmd.run("add", "-A", cwd=root)
        commit = ("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", message)
        try:
            gitcmd.run(*commit, cwd=root)
        except gitcmd.GitError as exc:
            if "identity" not in exc.detail and "tell me who you are" not in exc.detail:
                raise
            # A first commit must not fail on a machine with no git identity configured.
            fallback = {
                f"GIT_{role}_{field}": value
                for role in ("AUTHOR", "COMMITTER")
                for field, value in (("NAME", "mlops-stack"), ("EMAIL", "mlops-stack@localhost"))
            }
            gitcmd.run(*commit, cwd=root, env=fallback)
        # The pristine render, the base of every later `mlops update` merge.
        gitcmd.run("update-ref", PRISTINE_REF, "HEAD", cwd=root)
        return "initialized"


def _inside_git_repo(directory: Path) -> bool:
    """Whether ``directory`` or a parent holds a ``.git`` (a nested repo would surprise users)."""
    return any((parent / ".git").exists() for parent in (directory, *directory.parents))
