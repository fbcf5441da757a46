"""Custom template packs: a directory or a git repository with a ``template.yml``.

``template.yml``::

    name: acme-ml                 # letters, digits, '-'
    version: 1.2.0
    description: ACME's ML project
    extends: aws                  # optional: a bundled pack whose files and questions it reuses
    questions:                    # the pack's own questions, asked like the bundled ones
      - {name: team, help: Owning team, default: ml-platform,
         pattern: "^[a-z][a-z0-9-]*$", message: "lowercase letters, digits and '-'"}
    defaults: {owner: acme-ml}    # organisation defaults for the answers (a user may change)
    locked: {region: eu-west-1}   # organisation values no answer can change
    allowed: {training_instance_type: [ml.m5.xlarge, ml.g5.2xlarge]}

Its ``files/`` tree follows the bundled packs' rule: only ``*.jinja`` files are rendered (in
Jinja's sandbox, bounded in time and size), anything else is copied. A pack is untrusted: its
tree may hold no symlink (``files/`` itself included) and nothing but files and directories, and
no path in it may reach git's metadata (``.git`` in any spelling, ``.gitmodules``, a
``.gitattributes`` naming drivers). Extending a pack, a file at the same destination
overrides the base's and any other file is added. A pack may carry Python (``pack.py`` with
``manifest(answers, specs)`` / ``context(answers, context)`` hooks); it runs only with
``--trust``. Git packs are ``URL[@REF]`` (any ``git clone``-able URL, ``file://`` included),
cloned into the user's cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, create_model, model_validator

from mlops.core import git as gitcmd
from mlops.core import yamlfile
from mlops.core.errors import TemplateError, UserError
from mlops.templates import pack as packs
from mlops.templates.answers import BaseAnswers
from mlops.templates.pack import FileSpec, TemplatePack, version_key
from mlops.templates.render import path_problem

MANIFEST = "template.yml"
HOOKS = "pack.py"
JINJA = ".jinja"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}\Z")
_OVERLAYS: list[tempfile.TemporaryDirectory[str]] = []  # kept until the process ends


@dataclass(frozen=True)
class Source:
    """Where a custom pack comes from: a directory, or a git URL at a ref."""

    location: str
    ref: str = ""

    @property
    def is_git(self) -> bool:
        """Whether the pack is cloned from git."""
        return "://" in self.location or self.location.startswith("git@")

    def __str__(self) -> str:
        return f"{self.location}@{self.ref}" if self.ref else self.location


def parse_source(spec: str) -> Source | None:
    """A custom pack's source from ``--template``, or None for an installed pack's name."""
    if "://" in spec or spec.startswith("git@"):
        head, sep, ref = spec.rpartition("@")
        if sep and "/" not in ref and head and not head.endswith(":"):
            return Source(head, ref)
        return Source(spec)
    if "/" in spec or spec.startswith(".") or Path(spec).is_dir():
        return Source(str(Path(spec).expanduser().resolve()))
    return None


def cache_dir() -> Path:
    """Where git packs are cloned and recently used packs are listed."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-stack"


def _clone(source: Source, dest: Path) -> None:
    try:
        gitcmd.clone(source.location, dest, source.ref, timeout=gitcmd.TIMEOUT_S)
    except gitcmd.GitError as exc:
        if exc.missing:
            raise UserError("template packs from git need git: https://git-scm.com") from None
        if exc.timed_out:
            raise UserError(
                f"git clone took over {gitcmd.TIMEOUT_S:.0f} s; is the remote reachable?"
            ) from None
        detail = exc.detail.removeprefix("git clone: ")
        raise UserError(f"git clone of the template pack failed: {detail}") from None


def _regular(path: Path, what: str) -> bool:
    """Whether ``path`` is a regular file; refuse a symlink or anything else that is not."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path}: {what} must be a regular file in the pack, not a symlink")
    return True


def fetch(source: Source) -> Path:
    """The pack's directory: the path itself, or a fresh shallow clone at the ref."""
    if not source.is_git:
        path = Path(source.location)
        if not _regular(path / MANIFEST, MANIFEST):
            raise UserError(f"{path} is not a template pack: it has no {MANIFEST}")
        return path
    key = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    dest = cache_dir() / "packs" / key
    staging = dest.with_name(f"{key}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    _clone(source, staging)
    shutil.rmtree(dest, ignore_errors=True)  # the cache's own copy, replaced whole
    staging.replace(dest)
    if not _regular(dest / MANIFEST, MANIFEST):
        raise UserError(f"{source} is not a template pack: it has no {MANIFEST}")
    return dest


def _question(raw: Mapping[str, Any], pack: str) -> tuple[str, Any]:
    name = str(raw.get("name", ""))
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise TemplateError(pack, f"question '{name}': names are lowercase letters, digits, '_'")
    default = raw.get("default")
    kind: Any = bool if isinstance(default, bool) else int if isinstance(default, int) else str
    described = str(raw.get("help", name))
    if default is None:
        return name, (kind, Field(description=described))
    return name, (kind, Field(default=default, description=described))


def _section(spec: Mapping[str, Any], key: str, kind: type, pack: str) -> Any:
    """``spec[key]`` checked to be a ``kind`` (empty when absent)."""
    value = spec.get(key) or kind()
    if not isinstance(value, kind):
        shape = "a list" if kind is list else "a mapping"
        raise TemplateError(
            pack, f"{MANIFEST}: '{key}' must be {shape}, found a {type(value).__name__}"
        )
    return value


def answers_model(spec: Mapping[str, Any], base: type[BaseAnswers], pack: str) -> type[BaseAnswers]:
    """The pack's answers model: the base's questions, its own, and the organisation's rules."""
    questions = _section(spec, "questions", list, pack)
    if not all(isinstance(q, dict) for q in questions):
        raise TemplateError(pack, f"{MANIFEST}: each question must be a mapping (name, help, ...)")
    questions = [dict(q) for q in questions]
    fields = dict(_question(q, pack) for q in questions)
    defaults = dict(_section(spec, "defaults", dict, pack))
    locked = dict(_section(spec, "locked", dict, pack))
    allowed_raw = _section(spec, "allowed", dict, pack)
    if not all(isinstance(vs, list) for vs in allowed_raw.values()):
        raise TemplateError(pack, f"{MANIFEST}: each 'allowed' entry must be a list of values")
    allowed = {str(k): [str(v) for v in vs] for k, vs in allowed_raw.items()}
    known = set(base.model_fields) | set(fields)
    unknown = sorted((set(defaults) | set(locked) | set(allowed)) - known)
    if unknown:
        raise TemplateError(pack, f"{MANIFEST} sets '{unknown[0]}', which is not a question")
    rules = {q["name"]: q for q in questions if q.get("pattern") or q.get("choices")}

    def organisation(cls: Any, data: Any) -> Any:
        return _organisation(data, defaults, locked, allowed, rules, pack)

    validators: dict[str, Any] = {
        "organisation": model_validator(mode="before")(classmethod(organisation))  # type: ignore[arg-type]
    }
    model: type[BaseAnswers] = create_model(
        f"{pack.title().replace('-', '')}Answers",
        __base__=base,
        __validators__=validators,
        **fields,
    )
    return model


def _organisation(
    data: Any,
    defaults: Mapping[str, Any],
    locked: Mapping[str, Any],
    allowed: Mapping[str, list[str]],
    rules: Mapping[str, Mapping[str, Any]],
    pack: str,
) -> Any:
    """The organisation's defaults and locks applied to raw answers, then its rules checked."""
    if not isinstance(data, dict):
        return data
    data = {**defaults, **data}
    for key, value in locked.items():
        given = data.get(key)
        if given is not None and str(given) != str(value):
            raise ValueError(f"{key} is locked to {value!r} by the pack '{pack}'")
        data[key] = value
    for key, values in allowed.items():
        if key in data and str(data[key]) not in values:
            raise ValueError(
                f"{key}: {data[key]!r} is not allowed by the pack '{pack}'"
                f" (allowed: {', '.join(values)})"
            )
    for key, rule in rules.items():
        value = str(data.get(key, ""))
        choices = [str(c) for c in rule.get("choices") or []]
        if key in data and choices and value not in choices:
            raise ValueError(f"{key}: {value!r} is not one of {', '.join(choices)}")
        pattern = str(rule.get("pattern") or "")
        if key in data and pattern and not re.fullmatch(pattern, value):
            raise ValueError(f"{key}: {value!r}: {rule.get('message') or 'must match ' + pattern}")
    return data


def _overlay(base: TemplatePack | None, directory: Path, pack: str) -> Path:
    """One root holding the base pack's tree (``base/``) and this pack's (``own/``)."""
    holder = tempfile.TemporaryDirectory(prefix="mlops-pack-")
    _OVERLAYS.append(holder)
    root = Path(holder.name)
    if base is not None:
        shutil.copytree(base.files_root, root / "base")
    files = directory / "files"
    if os.path.lexists(files):
        _copy_tree(files, root / "own", directory, pack)
    return root


def _copy_tree(files: Path, dest: Path, directory: Path, pack: str) -> None:
    """Copy the pack's ``files/`` tree, refusing links, special files and unsafe paths.

    Nothing is followed: ``files/`` itself, every directory on the way and every file must be
    what it says, inside the pack, so a pack cannot copy the machine's other files into a
    project (a symlink to ``~/.ssh``) or hang the copy (a FIFO).
    """
    if files.is_symlink() or not files.is_dir():
        raise TemplateError(pack, "files/ must be a directory in the pack, not a symlink")
    if not files.resolve().is_relative_to(directory.resolve()):
        raise TemplateError(pack, "files/ resolves outside the pack")
    dest.mkdir()
    pending = [files]
    while pending:
        current = pending.pop()
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            path = Path(entry.path)
            rel = path.relative_to(files).as_posix()
            problem = path_problem(rel) or path_problem(rel.removesuffix(JINJA) or rel)
            if problem is not None:
                raise TemplateError(pack, f"files/{rel} {problem}")
            target = dest / rel
            if entry.is_symlink():
                raise TemplateError(pack, f"files/{rel} is a symlink; a pack may not hold links")
            if entry.is_dir(follow_symlinks=False):
                target.mkdir()
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                _copy_file(path, target, pack, rel)
            else:
                raise TemplateError(pack, f"files/{rel} is not a regular file or directory")


def _copy_file(src: Path, target: Path, pack: str, rel: str) -> None:
    """Copy one regular file, never through a link (opened with ``O_NOFOLLOW``)."""
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise TemplateError(pack, f"files/{rel} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise TemplateError(pack, f"files/{rel} is not a regular file")
        with target.open("wb") as out:
            shutil.copyfileobj(handle, out)
    target.chmod(stat.S_IMODE(info.st_mode) & 0o755 | 0o600)


def _own_files(root: Path) -> dict[str, str]:
    """Destination -> source (under the overlay) of every file the pack itself carries."""
    own = root / "own"
    found = {}
    for path in sorted(own.rglob("*")) if own.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(own).as_posix()
            found[rel.removesuffix(JINJA)] = f"own/{rel}"
    return found


def load_custom(source: Source, trust: bool = False) -> TemplatePack:
    """Load a custom pack from its source.

    Raises:
        UserError: the source is not a pack, or it carries Python and ``trust`` is off.
        TemplateError: its template.yml is malformed.
    """
    directory = fetch(source)
    spec = yamlfile.load_mapping(
        directory / MANIFEST, empty_ok=False, what="the pack's name, version, questions, ..."
    )
    name, version = str(spec.get("name", "")), str(spec.get("version", ""))
    if not NAME.match(name):
        raise TemplateError(
            str(source), f"{MANIFEST}: name '{name}' must be lowercase letters, digits, '-'"
        )
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise TemplateError(name, f"{MANIFEST}: version '{version}' must be like 1.2.0")
    hooks = None
    if _regular(directory / HOOKS, HOOKS):
        if not trust:
            raise UserError(
                f"the template pack '{name}' carries Python ({HOOKS}) that would run on this"
                " machine: read it, then pass --trust if you trust its source"
            )
        loader = importlib.util.spec_from_file_location(
            f"mlops_pack_{name.replace('-', '_')}", directory / HOOKS
        )
        assert loader is not None and loader.loader is not None
        hooks = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(hooks)
    base = packs.load_pack(str(spec["extends"])) if spec.get("extends") else None
    root = _overlay(base, directory, name)
    own = _own_files(root)
    model = answers_model(spec, base.answers_model if base else BaseAnswers, name)

    def manifest(answers: Any) -> list[FileSpec]:
        specs: list[FileSpec] = []
        if base is not None:
            for item in base.manifest(answers):
                source_ = own.get(item.dest)
                specs.append(FileSpec(source_ or f"base/{item.src}", item.dest, item.extra))
        taken = {s.dest for s in specs}
        specs += [FileSpec(src, dest) for dest, src in own.items() if dest not in taken]
        return (
            list(hooks.manifest(answers, specs)) if hooks and hasattr(hooks, "manifest") else specs
        )

    def build_context(answers: Any) -> dict[str, Any]:
        context = dict(base.build_context(answers)) if base else {}
        context.update(answers.to_record())
        context.update({"template": name, "template_version": version})
        return (
            dict(hooks.context(answers, context))
            if hooks and hasattr(hooks, "context")
            else context
        )

    return TemplatePack(
        name=name,
        version=version,
        description=str(spec.get("description", "")),
        files_root=root,
        answers_model=model,
        manifest=manifest,
        build_context=build_context,
        trusted=False,  # its templates (and a base's, merged in) render in a bounded child
    )


def resolve_pack(spec: str, trust: bool = False) -> tuple[TemplatePack, Source | None]:
    """An installed pack by name, or a custom one by path or git URL[@REF]."""
    source = parse_source(spec)
    if source is None:
        return packs.load_pack(spec), None
    pack = load_custom(source, trust)
    remember(pack, source)
    return pack, source


def remember(pack: TemplatePack, source: Source) -> None:
    """Add the pack to the recently used list (a side channel: never fails the command)."""
    path = cache_dir() / "recent-packs.json"
    try:
        recent = json.loads(path.read_text()) if path.is_file() else []
        recent = [r for r in recent if r.get("source") != str(source)]
        recent.insert(
            0,
            {
                "name": pack.name,
                "version": pack.version,
                "source": str(source),
                "used": int(time.time()),
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(recent[:20], indent=1))
    except (OSError, ValueError):
        pass


class SourceUnreachable(UserError):
    """A git pack's recorded source could not be reached to look for newer releases."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"template source {location} could not be reached: {reason}")


def latest_version(source: Source) -> tuple[str, str] | None:
    """(version, tag) of the git pack's highest release tag (``1.2.0`` or ``v1.2.0``).

    None when it has none.

    Raises:
        GitLocationError: the recorded location would be read as an option or a command.
        SourceUnreachable: git could not list the remote's tags (git's reason, in one line).
    """
    try:
        tags = gitcmd.remote_tags(source.location, timeout=gitcmd.TIMEOUT_S)
    except gitcmd.GitError as exc:
        detail = exc.detail.removeprefix(f"git {exc.command}: ") if exc.command else exc.detail
        reason = next((line.strip() for line in detail.splitlines() if line.strip()), "")
        raise SourceUnreachable(source.location, reason or "git ls-remote failed") from None
    releases = [(t.removeprefix("v"), t) for t in tags if re.fullmatch(r"v?\d+(\.\d+)*", t)]
    return max(releases, key=lambda r: version_key(r[0])) if releases else None


def recent_packs() -> list[dict[str, Any]]:
    """Recently used custom packs, newest first."""
    path = cache_dir() / "recent-packs.json"
    try:
        return list(json.loads(path.read_text())) if path.is_file() else []
    except (OSError, ValueError):
        return []


NEW_PACK = {
    MANIFEST: """\
# A template pack for `mlops init NAME --template PATH_OR_GIT_URL[@REF]`.
name: {name}
version: 0.1.0
description: {name}'s ML projects, on mlops-stack's aws pack
extends: aws
questions:
  - name: team
    help: The team that owns the project
    default: ml-platform
    pattern: "^[a-z][a-z0-9-]*$"
    message: lowercase letters, digits and '-'
defaults:
  owner: ml-platform
locked:
  region: eu-west-1
allowed:
  training_instance_type: [ml.m5.xlarge, ml.g5.2xlarge]
""",
    "files/TEAM.md.jinja": (
        "# {{{{ name }}}}\n\nOwned by {{{{ team }}}} (template {{{{ template }}}}).\n"
    ),
    "tests/test_pack.py": '''\
"""The pack renders with its defaults, and its organisation rules hold."""

from pathlib import Path

import pytest
from mlops.core.errors import InvalidAnswersError
from mlops.templates.answers import validate_with
from mlops.templates.custom import Source, load_custom
from mlops.templates.engine import Scaffold

PACK = Path(__file__).resolve().parents[1]


def test_renders_with_defaults(tmp_path: Path) -> None:
    pack = load_custom(Source(str(PACK)))
    answers = validate_with(pack.answers_model, {{"name": "demo"}})
    Scaffold(answers, tmp_path / "demo", template=str(PACK), git=False, pack=pack).run()
    assert "Owned by ml-platform" in (tmp_path / "demo" / "TEAM.md").read_text()
    assert "aws:region: \\"eu-west-1\\"" in (tmp_path / "demo" / "Pulumi.dev.yaml").read_text()


def test_locked_values_cannot_be_overridden() -> None:
    pack = load_custom(Source(str(PACK)))
    with pytest.raises(InvalidAnswersError, match="locked"):
        validate_with(pack.answers_model, {{"name": "demo", "region": "us-east-1"}})
''',
    "README.md": """\
# {name}: a template pack

`mlops init my-project --template .` (or this repository's git URL, with `@TAG`) renders it.
`template.yml` holds the questions, organisation defaults, locked and allowed values; `files/`
holds the files it adds to (or overrides in) the aws pack: only `*.jinja` files are rendered.
Test it with `python -m pytest tests`. Release a version by bumping `version` and tagging it;
projects take it with `mlops update --to TAG`.
""",
}


def new_pack(dest: Path, name: str) -> list[str]:
    """Write a starter pack (template.yml, a file, a test); return the files written.

    Raises:
        UserError: ``dest`` exists and is not empty, or ``name`` is not a pack name.
    """
    if not NAME.match(name):
        raise UserError(f"'{name}' is not a pack name: lowercase letters, digits and '-'")
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} is not empty: choose a new directory for the pack")
    written = []
    for rel, text in NEW_PACK.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.format(name=name))
        written.append(rel)
    return written
