"""``mlops update``: bring a newer template version into a project without losing its edits.

A three-way merge per file, as copier and cruft do it:

- **base**: the pristine render of the version the project is at, kept in the project's own git
  history under ``refs/mlops/pristine`` (``mlops init`` points it at the first commit; each
  update adds a commit holding the new pristine render). An old template version therefore
  never has to be installed again: its render is in the repository. A project made before the
  ref existed falls back to its first commit ("Initial commit from mlops-stack template ..."),
  and a ``--no-git`` project put under git later to its root commit, when that commit holds the
  answers record at the project's version.
- **theirs**: the new version rendered from the recorded answers (new questions take their
  defaults, and are listed).
- **ours**: the working tree.

Per file: unchanged upstream keeps yours; untouched by you takes theirs; both changed merges
with ``git merge-file`` (conflicts become inline markers); a file you deleted stays deleted; a
file removed upstream is deleted only if you never edited it. Line endings are kept per file (a
CRLF file merges with an LF template and stays CRLF). A path whose kind changed (your directory
where the template has a file, or your file where it has a directory) is a *type conflict*: yours
is left as it is and the template's version is written beside the project under
``.mlops/update/theirs/PATH`` (never over anything there). One is resolved when ``PATH`` is a
regular file again (you moved yours aside and put the template's in place, or made your own), or
when you keep yours explicitly with ``mlops update --continue --keep-mine PATH`` (a directory
names every type conflict under it). With conflicts the answers record and the pristine ref do
not advance until ``mlops update --continue``, which refuses while a marker or a type conflict
remains; it then removes the template copies you left unchanged. Resources a template
version renamed get Pulumi aliases in ``.mlops/aliases.yml`` (read by the program through
:func:`mlops.infra.aliases.register_aliases`), so ``pulumi up`` moves state instead of replacing.
"""

from __future__ import annotations

import difflib
import io
import re
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import yaml

from mlops.core import git as gitcmd
from mlops.core import yamlfile
from mlops.core.errors import DestinationError, ExternalToolError, MlopsError, UserError
from mlops.templates.answers import validate_with
from mlops.templates.engine import PRISTINE_REF, RECORD_PATH, Scaffold
from mlops.templates.pack import load_pack, version_key
from mlops.templates.write import check_path, target_kind

STATE_PATH = PurePosixPath(".mlops/update.yml")
ALIASES_PATH = PurePosixPath(".mlops/aliases.yml")
INIT_MESSAGE = "Initial commit from mlops-stack template"


THEIRS_DIR = PurePosixPath(".mlops/update/theirs")
"""Where the template's version of each type-conflicted path is written."""


class UpdateConflicts(MlopsError):
    """The merge left conflict markers or type conflicts; the update waits for ``--continue``."""

    def __init__(self, paths: list[str], plan: Any = None, kinds: list[str] | None = None) -> None:
        self.paths = paths
        self.plan = plan
        self.kinds = kinds or []
        text = [p for p in paths if p not in self.kinds]
        todo = "Resolve the markers, then" if text else "Then"
        if self.kinds:
            where = f" in {', '.join(text)}" if text else ""
            todo = (
                f"{'Resolve the markers' + where + '; ' + ', '.join(self.kinds) if text else ''}"
                f"{'' if text else 'They'} {'is' if len(self.kinds) == 1 and text else 'are'}"
                " a file on one side and a directory"
                f" on the other: the template's version is in {THEIRS_DIR}/ - put it in place of"
                " yours (move yours aside), or keep yours with `mlops update --continue"
                " --keep-mine PATH`. Then"
            )
        super().__init__(
            f"{len(paths)} file(s) have conflicts: {', '.join(paths)}. {todo}"
            " run `mlops update --continue` (the answers record advances only then)"
        )


@dataclass(frozen=True)
class Outcome:
    """What the update does to one file."""

    path: str
    action: str  # updated, merged, conflict, added, deleted, kept, unchanged
    detail: str = ""


@dataclass
class UpdatePlan:
    """An update, computed without writing."""

    template: str
    old_version: str
    new_version: str
    outcomes: list[Outcome]
    writes: dict[str, bytes | None]  # path -> new content, or None to delete
    record: bytes
    pristine: dict[str, bytes]
    new_questions: dict[str, Any] = field(default_factory=dict)
    aliases: list[dict[str, str]] = field(default_factory=list)
    clashes: dict[str, str] = field(default_factory=dict)  # type conflicts: path -> why

    @property
    def conflicts(self) -> list[str]:
        """Paths in conflict: left with conflict markers, or type conflicts."""
        return [o.path for o in self.outcomes if o.action == "conflict"]

    def diff(self, project: Path) -> str:
        """A unified diff of every change, as ``--dry-run`` shows it."""
        out: list[str] = []
        for path, new in sorted(self.writes.items()):
            old = _read(project / path)
            before = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
            after = (new or b"").decode("utf-8", "replace").splitlines(keepends=True)
            out += difflib.unified_diff(
                before,
                after,
                f"a/{path}" if old is not None else "/dev/null",
                f"b/{path}" if new is not None else "/dev/null",
            )
        return "".join(out)


def git(
    project: Path, *args: str, data: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """Run git in the project (hooks and fsmonitor off, see :mod:`mlops.core.git`); its stdout.

    Raises:
        UserError: git is missing.
        ExternalToolError: git failed or timed out.
    """
    try:
        return gitcmd.run(
            *args, cwd=project, data=data, env=env, timeout=gitcmd.REPOSITORY_TIMEOUT_S
        )
    except gitcmd.GitError as exc:
        if exc.missing:
            raise UserError("mlops update needs git: install it (https://git-scm.com)") from None
        raise


RECORD_KEYS = ("template", "template_version", "answers")


def read_record(project: Path) -> dict[str, Any]:
    """The project's ``.mlops/answers.yml``.

    Raises:
        UserError: there is none, or it is not a record.
    """
    path = project / RECORD_PATH
    if not path.is_file():
        raise UserError(f"{project} has no {RECORD_PATH}: it was not made by `mlops init`")
    record = yamlfile.load_mapping(path, empty_ok=False, what="template, template_version, answers")
    if not set(RECORD_KEYS) <= set(record) or not isinstance(record["answers"], dict):
        raise UserError(f"{path} is not an answers record (template, template_version, answers)")
    return record


GIT_SETUP = (
    'git init -q && git add -A && git commit -q -m "Initial commit from mlops-stack template"'
)


def _require_repository(project: Path) -> None:
    if not (project / ".git").exists():
        raise UserError(
            f"{project} is not a git repository: `mlops update` merges against the template's"
            f" pristine render kept in the project's git history. Run `{GIT_SETUP}` in it"
            " (the first commit is taken as the render: anything edited before it counts as"
            " the template's), then `mlops update` again"
        )


def _require_clean(project: Path) -> None:
    dirty = git(project, "status", "--porcelain", "--untracked-files=no").decode().splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5])
        raise UserError(
            f"the git tree has uncommitted changes ({shown}{', ...' if len(dirty) > 5 else ''}):"
            " commit or stash them first, so the update's own changes stand apart"
        )


def _pristine_commit(project: Path, version: str = "") -> str:
    """The commit holding the pristine render of the project's current version.

    ``refs/mlops/pristine``; else the first commit ``mlops init`` made; else (a ``--no-git``
    project put under git later) the root commit, if it holds the answers record at ``version``.
    """
    found = gitcmd.call("rev-parse", "--verify", "--quiet", PRISTINE_REF, cwd=project)
    if found.returncode == 0:
        return found.stdout.decode().strip()
    first = git(project, "log", "--format=%H", f"--grep=^{INIT_MESSAGE}", "--reverse").split()
    if first:
        return first[0].decode()
    roots = gitcmd.call("rev-list", "--max-parents=0", "HEAD", cwd=project).stdout.split()
    if len(roots) == 1 and version:
        shown = gitcmd.call("show", f"{roots[0].decode()}:{RECORD_PATH}", cwd=project)
        try:
            recorded = yamlfile.loads(shown.stdout.decode("utf-8", "replace"), RECORD_PATH)
        except yamlfile.YamlFileError:
            recorded = None
        if (
            shown.returncode == 0
            and isinstance(recorded, dict)
            and str(recorded.get("template_version")) == version
        ):
            return roots[0].decode()
    raise UserError(
        "no pristine render of the project's template version in its git history (neither "
        f"{PRISTINE_REF}, the `{INIT_MESSAGE}` commit, nor a first commit holding"
        f" {RECORD_PATH} at {version or 'its version'}): the three-way merge has no base"
    )


def _tree_files(project: Path, commit: str) -> dict[str, bytes]:
    archive = git(project, "archive", "--format=tar", commit)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    files[member.name] = handle.read()
    files.pop(str(RECORD_PATH), None)
    return files


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _merge(
    ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]
) -> tuple[bytes, bool]:
    """``git merge-file``: the merged bytes and whether conflicts remain."""
    with tempfile.TemporaryDirectory(prefix="mlops-merge-") as tmp:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(content)
            paths.append(str(path))
        proc = gitcmd.call(
            "merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2], "--", *paths,
            timeout=gitcmd.REPOSITORY_TIMEOUT_S,
        )  # fmt: skip
    if proc.returncode < 0:
        raise ExternalToolError("git", f"git merge-file failed: {proc.stderr.decode().strip()}")
    return proc.stdout, proc.returncode > 0


CRLF = b"\r\n"


def _is_crlf(data: bytes | None) -> bool:
    """Whether every line of ``data`` ends in CRLF (and there is at least one)."""
    return data is not None and CRLF in data and data.count(CRLF) == data.count(b"\n")


def _to_lf(data: bytes | None) -> bytes | None:
    return data.replace(CRLF, b"\n") if data is not None and _is_crlf(data) else data


def _file_outcome(
    path: str,
    base: bytes | None,
    theirs: bytes | None,
    ours: bytes | None,
    labels: tuple[str, str, str],
) -> tuple[Outcome, bytes | None, bool]:
    """(outcome, content to write, whether to write) for one file.

    Line endings are compared and merged as LF and written back in your file's own style, so a
    file you keep with CRLF merges as cleanly as an LF one, and stays CRLF.
    """
    if ours is not None and _is_crlf(ours) and not _is_crlf(theirs):
        outcome, content, write = _outcome(path, _to_lf(base), _to_lf(theirs), _to_lf(ours), labels)
        if content is not None:
            content = content.replace(CRLF, b"\n").replace(b"\n", CRLF)
        return outcome, content, write
    if ours is not None and not _is_crlf(ours) and b"\n" in ours and _is_crlf(theirs):
        outcome, content, write = _outcome(path, _to_lf(base), _to_lf(theirs), ours, labels)
        return outcome, content, write
    return _outcome(path, base, theirs, ours, labels)


def _outcome(
    path: str,
    base: bytes | None,
    theirs: bytes | None,
    ours: bytes | None,
    labels: tuple[str, str, str],
) -> tuple[Outcome, bytes | None, bool]:
    if theirs is None:  # removed upstream
        if ours is None:
            return Outcome(path, "unchanged", "removed upstream and here"), None, False
        if ours == base:
            return Outcome(path, "deleted", "removed upstream"), None, True
        return Outcome(path, "kept", "removed upstream; you edited it, so it stays"), None, False
    if ours is None:
        if base is None:
            return Outcome(path, "added", "new upstream"), theirs, True
        note = "you deleted it; not restored" + ("" if theirs == base else " (it changed upstream)")
        return Outcome(path, "kept", note), None, False
    if ours == theirs:
        return Outcome(path, "unchanged"), None, False
    if base is not None and ours == base:
        return Outcome(path, "updated"), theirs, True
    if base is not None and theirs == base:
        return Outcome(path, "unchanged", "your edits kept"), None, False
    if b"\0" in ours or b"\0" in theirs:
        return Outcome(path, "kept", "binary, changed on both sides: yours kept"), None, False
    merged, conflict = _merge(ours, base or b"", theirs, labels)
    return Outcome(path, "conflict" if conflict else "merged"), merged, True


_KIND_CLASH = {
    "dir": "you have a directory here, the template a file",
    "blocked": "you have a file where the template has a directory holding it",
    "link": "a symlink is on the way; nothing is written through one",
}


def _type_clashes(
    project: Path,
    paths: list[str],
    base: Mapping[str, bytes],
    theirs: Mapping[str, bytes],
    writes: Mapping[str, bytes | None],
) -> dict[str, str]:
    """Paths whose kind in the project clashes with the template's: path -> why.

    Only files the update would touch or the template changed count; a clash the update itself
    clears (a file it deletes to make room for a directory, a directory it empties) is none.
    """
    deleted = {p for p, content in writes.items() if content is None}
    clashes = {}
    for path in paths:
        if path not in writes and theirs.get(path) == base.get(path):
            continue  # the template did not change it: whatever you made of it stays
        kind = target_kind(project, PurePosixPath(path))
        parts = PurePosixPath(path).parts
        if kind == "blocked" and any("/".join(parts[:i]) in deleted for i in range(1, len(parts))):
            continue  # the file in the way is one the update deletes
        if kind == "dir":
            inside = _files_under(project / path, path)
            if inside and all(p in deleted for p in inside):
                continue  # the update empties the directory first
        if kind in _KIND_CLASH:
            clashes[path] = _KIND_CLASH[kind]
    return clashes


def _files_under(directory: Path, prefix: str) -> list[str]:
    """Every file (and link) under ``directory``, as project paths under ``prefix``."""
    return [
        f"{prefix}/{p.relative_to(directory).as_posix()}"
        for p in directory.rglob("*")
        if not p.is_dir() or p.is_symlink()
    ]


def pack_of(record: Mapping[str, Any], to: str | None, trust: bool) -> tuple[Any, Any]:
    """The pack a project's record names: installed, or fetched again from its source.

    A git pack is fetched at ``to`` when given (a tag or branch), else at its recorded ref.
    """
    from mlops.templates.custom import parse_source, resolve_pack

    spec = record.get("template_source")
    if not spec:
        return load_pack(str(record["template"])), None
    source = parse_source(str(spec))
    if source is not None and source.is_git and to:
        spec = f"{source.location}@{to}"
    return resolve_pack(str(spec), trust)


def plan_update(project: Path, to: str | None = None, trust: bool = False) -> UpdatePlan:
    """Compute the update to the installed pack's version (``to`` must name it); write nothing.

    Raises:
        UserError: not a project, no git history, or ``to`` is not the installed version.
    """
    _require_repository(project)
    record = read_record(project)
    template, old_version = str(record["template"]), str(record["template_version"])
    base_commit = _pristine_commit(project, old_version)  # before any fetch: no base, no update
    pack, source = pack_of(record, to, trust)
    if source is None and to is not None and to != pack.version:
        raise UserError(
            f"template '{template}' is installed at {pack.version}: `--to {to}` would need that"
            " version installed (upgrade mlops-stack, or leave out --to)"
        )
    answers = validate_with(pack.answers_model, dict(record["answers"]))
    recorded = set(record["answers"])
    new_questions = {k: v for k, v in answers.to_record().items() if k not in recorded}
    with tempfile.TemporaryDirectory(prefix="mlops-update-") as tmp:
        plan = Scaffold(
            answers,
            Path(tmp) / "render",
            template=str(source) if source else template,
            git=False,
            pack=pack if source else None,
        ).plan()
    theirs = {str(f.path): f.content for f in plan.files if f.path != RECORD_PATH}
    record_bytes = next(f.content for f in plan.files if f.path == RECORD_PATH)
    base = _tree_files(project, base_commit)
    labels = ("yours", f"template {old_version}", f"template {pack.version}")
    outcomes, writes = [], {}
    paths = sorted(set(base) | set(theirs))
    for path in theirs:
        check_path(project, PurePosixPath(path), theirs[path])
    for path in paths:
        outcome, content, write = _file_outcome(
            path, base.get(path), theirs.get(path), _read(project / path), labels
        )
        outcomes.append(outcome)
        if write:
            writes[path] = content
    clashes = _type_clashes(project, paths, base, theirs, writes)
    # Removed upstream, and something else of yours there: nothing to bring in, nothing touched.
    gone = {path: why for path, why in clashes.items() if path not in theirs}
    clashes = {path: why for path, why in clashes.items() if path in theirs}
    outcomes = [
        Outcome(o.path, "conflict", clashes[o.path])
        if o.path in clashes
        else Outcome(o.path, "kept", f"removed upstream; left as is: {gone[o.path]}")
        if o.path in gone
        else o
        for o in outcomes
    ]
    writes = {path: content for path, content in writes.items() if path not in {**clashes, **gone}}
    aliases = [
        {"type": r.type, "old": r.old, "new": r.new}
        for version, renames in sorted(pack.migrations.items(), key=lambda kv: version_key(kv[0]))
        if version_key(old_version) < version_key(version) <= version_key(pack.version)
        for r in renames
    ]
    return UpdatePlan(
        template,
        old_version,
        pack.version,
        outcomes,
        writes,
        record_bytes,
        theirs,
        new_questions,
        aliases,
        clashes,
    )


def _write(project: Path, path: str, content: bytes | None) -> None:
    """Write (or delete) one project file, never through a symlink or into git's metadata.

    Raises:
        DestinationError: the path is unsafe, or a symlink or a file stands on the way.
    """
    rel = PurePosixPath(path)
    if content is not None:
        check_path(project, rel, content)
    kind = target_kind(project, rel)
    if kind in ("link", "blocked") or (kind == "dir" and content is not None):
        raise DestinationError(project / path, _KIND_CLASH["dir" if kind == "dir" else kind])
    target = project / path
    if content is None:
        if kind == "file":
            target.unlink()
            _prune(project, target.parent)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.mlops-update")
    temporary.write_bytes(content)
    if target.exists():
        temporary.chmod(target.stat().st_mode)
    temporary.replace(target)


def _prune(project: Path, directory: Path) -> None:
    """Remove ``directory`` and its parents while they are empty, up to the project."""
    while directory != project and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def _pristine_commit_for(
    project: Path, files: Mapping[str, bytes], record: bytes, parent: str, message: str
) -> str:
    """A commit (on no branch) whose tree is exactly the pristine render."""
    with tempfile.TemporaryDirectory(prefix="mlops-pristine-") as tmp:
        root = Path(tmp) / "tree"
        for path, content in {**files, str(RECORD_PATH): record}.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(project, f"--work-tree={root}", "add", "-A", "-f", ".", env=env)
        tree = git(project, "write-tree", env=env).decode().strip()
    identity = {
        f"GIT_{role}_{part}": value
        for role in ("AUTHOR", "COMMITTER")
        for part, value in (("NAME", "mlops-stack"), ("EMAIL", "mlops-stack@localhost"))
    }
    return (
        git(project, "commit-tree", tree, "-p", parent, "-m", message, env=identity)
        .decode()
        .strip()
    )


def _finish(project: Path, record: bytes, pristine: str, aliases: list[dict[str, str]]) -> None:
    """Advance the answers record and the pristine ref; record the aliases."""
    if aliases:
        path = project / ALIASES_PATH
        existing = yamlfile.load_mapping(path).get("aliases", []) if path.exists() else []
        if not isinstance(existing, list):
            raise UserError(f"{path}: 'aliases' must be a list; restore it from git")
        merged = existing + [a for a in aliases if a not in existing]
        header = "# Resources a template update renamed: the program aliases their old names.\n"
        _write(
            project,
            str(ALIASES_PATH),
            (header + yaml.safe_dump({"aliases": merged}, sort_keys=False)).encode(),
        )
    _write(project, str(RECORD_PATH), record)
    git(project, "update-ref", PRISTINE_REF, pristine)
    (project / STATE_PATH).unlink(missing_ok=True)


def run_update(project: Path, to: str | None = None, trust: bool = False) -> UpdatePlan:
    """Merge the new template version into the project.

    Raises:
        UserError: a dirty tree, an update already in progress, or bad input.
        UpdateConflicts: conflicts were written; ``continue_update`` finishes after they are
            resolved.
    """
    if (project / STATE_PATH).exists():
        raise UserError(
            "an update is in progress: resolve its conflicts, then `mlops update --continue`"
        )
    _require_repository(project)
    _require_clean(project)
    plan = plan_update(project, to, trust)
    if plan.old_version == plan.new_version and not plan.writes and not plan.aliases:
        return plan
    old = _pristine_commit(project, plan.old_version)
    message = f"mlops-stack template {plan.template} {plan.new_version} (pristine render)"
    pristine = _pristine_commit_for(project, plan.pristine, plan.record, old, message)
    if plan.clashes:
        # The template's side of each type conflict, beside the project (before anything of
        # yours is touched, and never over anything already there).
        if target_kind(project, THEIRS_DIR) != "missing":
            raise UserError(
                f"{project / THEIRS_DIR} is left from an earlier update: move it away (the"
                " template's copies of type-conflicted paths are written there), then"
                " `mlops update` again"
            )
        for path in sorted(plan.clashes):
            _write(project, f"{THEIRS_DIR}/{path}", plan.pristine[path])
    # Deletions first, so a file the template turned into a directory (or back) makes room.
    for path, content in sorted(plan.writes.items(), key=lambda item: item[1] is not None):
        _write(project, path, content)
    if plan.conflicts:
        state = {
            "to": plan.new_version,
            "conflicts": [p for p in plan.conflicts if p not in plan.clashes],
            "type_conflicts": plan.clashes,
            "pristine": pristine,
            "aliases": plan.aliases,
            "record": plan.record.decode(),
        }
        _write(project, str(STATE_PATH), yaml.safe_dump(state, sort_keys=False).encode())
        raise UpdateConflicts(plan.conflicts, plan, sorted(plan.clashes))
    _finish(project, plan.record, pristine, plan.aliases)
    return plan


MARKER = re.compile(rb"^[ \t]*(<{7}|={7}|>{7}|\|{7})(?:[ \t].*)?\r?$")
"""A conflict marker line, indented or not: ``<<<<<<<``, ``=======``, ``|||||||``, ``>>>>>>>``."""


def markers_left(data: bytes) -> list[tuple[int, str]]:
    """(line number, the line) of every conflict marker in ``data``."""
    return [
        (number, line.decode("utf-8", "replace").strip())
        for number, line in enumerate(data.splitlines(), 1)
        if MARKER.match(line)
    ]


def _read_state(path: Path) -> dict[str, Any]:
    state = yamlfile.load_mapping(path, empty_ok=False, what="the update in progress")
    conflicts, record, pristine = state.get("conflicts"), state.get("record"), state.get("pristine")
    if not (
        isinstance(conflicts, list)
        and all(isinstance(c, str) for c in conflicts)
        and isinstance(record, str)
        and isinstance(pristine, str)
        and re.fullmatch(r"[0-9a-f]{40,64}", pristine)
        and isinstance(state.get("aliases", []), list)
        and isinstance(state.get("type_conflicts", {}), dict)
        and all(isinstance(v, str) for v in state.get("type_conflicts", {}).values())
    ):
        raise UserError(
            f"{path} is not an update in progress (conflicts, pristine, record): restore it,"
            " or delete it and run `mlops update` again"
        )
    return state


_NOW = {
    "dir": "still a directory",
    "blocked": "a file stands where the template has a directory holding it",
    "link": "a symlink is on the way",
    "missing": "missing",
}


def _unresolved_kinds(project: Path, clashes: Mapping[str, str], keep_mine: list[str]) -> list[str]:
    """One line per type conflict neither a regular file again nor kept with ``--keep-mine``."""
    kept = {PurePosixPath(k) for k in keep_mine}
    for k in kept:
        if not any(k == PurePosixPath(c) or k in PurePosixPath(c).parents for c in clashes):
            listed = ", ".join(sorted(clashes)) or "none"
            raise UserError(
                f"--keep-mine {k}: not a type conflict of this update (those are: {listed})"
            )
    lines = []
    for conflicted in sorted(clashes):
        rel = PurePosixPath(conflicted)
        check_path(project, rel)
        if any(k == rel or k in rel.parents for k in kept):
            continue
        kind = target_kind(project, rel)
        if kind == "file":
            continue
        lines.append(
            f"  {conflicted}: {_NOW.get(kind, kind)}; the template's file is"
            f" {THEIRS_DIR}/{conflicted}: move yours aside and put it at {conflicted},"
            f" or keep yours with --keep-mine {conflicted}"
        )
    return lines


def continue_update(project: Path, keep_mine: list[str] | None = None) -> list[str]:
    """Finish an update whose conflicts are resolved; return the paths that had them.

    A type conflict is resolved when its path is a regular file again, or kept with
    ``keep_mine`` (a path, or a directory above it).

    Raises:
        UserError: no update in progress, conflict markers remain (each named with its line),
            a type conflict is unresolved (one line each), or ``keep_mine`` names none.
    """
    path = project / STATE_PATH
    if not path.exists():
        raise UserError("no update is in progress (nothing to continue)")
    state = _read_state(path)
    clashes: dict[str, str] = dict(state.get("type_conflicts") or {})
    unresolved = _unresolved_kinds(project, clashes, keep_mine or [])
    left = []
    for conflicted in state["conflicts"]:
        check_path(project, PurePosixPath(conflicted))
        found = markers_left(_read(project / conflicted) or b"")
        if found:
            number, line = found[0]
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            left.append(f"{conflicted} (line {number}: '{line}'{more})")
    problems = []
    if left:
        problems.append(f"conflict markers remain in {', '.join(left)}: resolve them first")
    if unresolved:
        problems.append(
            f"{len(unresolved)} type conflict(s) unresolved (a file on one side, a directory on"
            " the other); nothing advanced:"
        )
        problems += unresolved
    if problems:
        raise UserError("\n".join(problems))
    _finish(project, state["record"].encode(), state["pristine"], state.get("aliases", []))
    _remove_copies(project, state["pristine"], clashes)
    return [*state["conflicts"], *sorted(clashes)]


def _remove_copies(project: Path, pristine: str, clashes: Mapping[str, str]) -> None:
    """Remove the template copies of type-conflicted paths that were left as written."""
    if not clashes:
        return
    rendered = _tree_files(project, pristine)
    for conflicted in clashes:
        rel = THEIRS_DIR / conflicted
        copy = project / rel
        if target_kind(project, rel) == "file" and _read(copy) == rendered.get(conflicted):
            copy.unlink()
            _prune(project, copy.parent)


class UpdateCheck(NamedTuple):
    """What ``check-update`` found: the newest version, and the ``--to`` that reaches it."""

    template: str
    current: str
    available: str
    to: str | None = None  # a git pack's tag: `mlops update --to TAG`


def check_update(project: Path, trust: bool = False) -> UpdateCheck:
    """The project's template, its version and the newest version available.

    For a git pack the newest is its highest release tag (the update is then `--to TAG`).

    Raises:
        SourceUnreachable: a git pack's source could not be reached (git's reason).
    """
    from mlops.templates.custom import latest_version, parse_source

    record = read_record(project)
    current = str(record["template_version"])
    source = (
        parse_source(str(record.get("template_source") or ""))
        if record.get("template_source")
        else None
    )
    if source is not None and source.is_git:
        latest = latest_version(source)
        if latest and version_key(latest[0]) > version_key(current):
            return UpdateCheck(str(record["template"]), current, latest[1], latest[1])
        return UpdateCheck(str(record["template"]), current, current)
    pack, _ = pack_of(record, None, trust)
    return UpdateCheck(pack.name, current, pack.version)
