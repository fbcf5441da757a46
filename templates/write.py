"""Write planned files atomically, without ever touching what the template does not produce.

The rules:

* A missing destination is rendered into a temp dir beside it, then renamed into place: either
  the whole project appears or nothing does.
* An existing, non-empty destination is refused unless ``force`` is set; then only the files
  the template produces are replaced (each with an atomic ``os.replace``), and nothing is deleted.
* Every check runs before the first byte is written, so a refusal leaves the tree as it was.
* No write goes through a symlink, so nothing can land outside the destination, and no path
  reaches git's metadata (``.git`` in any spelling) or adds ``.gitmodules``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlops.core.errors import DestinationError
from mlops.templates.render import PlannedFile, attributes_problem, path_problem

TEMP_PREFIX = ".mlops-render-"


@dataclass(frozen=True)
class Changes:
    """What writing a plan would do to the destination.

    Attributes:
        root: the directory files land in (the destination, symlinks resolved).
        exists: whether that directory exists already.
        created: paths that are new.
        overwritten: paths that exist and would be replaced (only with ``force``).
    """

    root: Path
    exists: bool
    created: list[PurePosixPath]
    overwritten: list[PurePosixPath]


def preflight(dest: Path, files: Iterable[PlannedFile], force: bool) -> Changes:
    """Decide what writing ``files`` into ``dest`` would do, refusing anything unsafe.

    Raises:
        DestinationError: the destination is a file, is not empty without ``force``, cannot be
            written, or a path would go through a symlink or clash with a directory.
    """
    files = list(files)
    for planned in files:
        check_path(dest, planned.path, planned.content)
    if not os.path.lexists(dest):
        parent = dest.parent
        if not parent.is_dir():
            raise DestinationError(parent, "parent directory does not exist; create it first")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise DestinationError(parent, "parent directory is not writable")
        return Changes(dest, False, [f.path for f in files], [])
    if not dest.is_dir():
        raise DestinationError(dest, "exists and is not a directory")
    root = dest.resolve()
    if any(root.iterdir()) and not force:
        raise DestinationError(
            dest,
            "is not empty; pass --force to overwrite only the files the template produces"
            " (nothing else is changed or deleted), or choose another --dest",
        )
    if not os.access(root, os.W_OK | os.X_OK):
        raise DestinationError(dest, "is not writable")
    created: list[PurePosixPath] = []
    overwritten: list[PurePosixPath] = []
    for planned in files:
        if _check_target(root, planned.path):
            overwritten.append(planned.path)
        else:
            created.append(planned.path)
    return Changes(root, True, created, overwritten)


def check_path(root: Path, rel: PurePosixPath, content: bytes | None = None) -> None:
    """Refuse a path that leaves ``root`` or reaches git, and ``.gitattributes`` with drivers.

    Raises:
        DestinationError: the path is unsafe (see :func:`mlops.templates.render.path_problem`).
    """
    problem = path_problem(rel.as_posix())
    if problem is None and content is not None:
        problem = attributes_problem(rel, content)
    if problem is not None:
        raise DestinationError(root / rel.as_posix().lstrip("/"), problem)


def target_kind(root: Path, rel: PurePosixPath) -> str:
    """What is at ``root/rel``: ``file``, ``missing``, ``dir``, ``link`` or ``blocked``.

    ``link``: a symlink at the path or on the way (nothing is written through one);
    ``blocked``: something on the way is not a directory (a file where the path needs one).
    """
    current = root
    for i, part in enumerate(rel.parts):
        current = current / part
        if current.is_symlink():
            return "link"
        if not current.exists():
            return "missing"
        if i < len(rel.parts) - 1 and not current.is_dir():
            return "blocked"
    return "file" if current.is_file() else "dir"


def _check_target(root: Path, rel: PurePosixPath) -> bool:
    """Return whether ``rel`` exists as a regular file; refuse links and file/dir clashes."""
    current = root
    for i, part in enumerate(rel.parts):
        parent, current = current, current / part
        if current.is_symlink():
            raise DestinationError(
                current, "is a symlink; refusing to write through it (it may point outside)"
            )
        if not current.exists():
            _require_writable(parent)
            return False
        if i < len(rel.parts) - 1 and not current.is_dir():
            raise DestinationError(current, f"is a file, but the template puts {rel} inside it")
    if not current.is_file():
        raise DestinationError(current, "is a directory, but the template writes a file there")
    _require_writable(current.parent)
    return True


def _require_writable(directory: Path) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DestinationError(directory, "is not writable")


def write_files(changes: Changes, files: Iterable[PlannedFile]) -> None:
    """Write ``files`` as decided by :func:`preflight`.

    Raises:
        DestinationError: the file system refused a write; nothing partial is left behind.
    """
    base = changes.root if changes.exists else changes.root.parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base))
    except OSError as exc:
        raise DestinationError(
            base, f"cannot create a temporary directory: {exc.strerror}"
        ) from None
    try:
        _materialize(staging, files)
        if changes.exists:
            _merge_into(staging, changes.root, files)
        else:
            # mkdtemp makes 0700; the project should get the user's normal directory mode.
            staging.chmod(0o777 & ~_umask())
            staging.rename(changes.root)
    except OSError as exc:
        raise DestinationError(changes.root, f"write failed, nothing was changed: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _materialize(staging: Path, files: Iterable[PlannedFile]) -> None:
    for planned in files:
        target = staging.joinpath(*planned.path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(planned.content)
        if planned.executable:
            target.chmod(0o777 & ~_umask())


def _merge_into(staging: Path, root: Path, files: Iterable[PlannedFile]) -> None:
    """Move the staged files over their targets, all or none.

    Each replaced file is first moved aside into the staging directory; if any move fails, the
    files already moved in are taken out again, the old ones put back and the directories this
    merge created removed, so a failure half-way (a full disk, a file locked by another
    program) leaves the tree exactly as it was.
    """
    backups = staging.parent / f"{staging.name}-old"
    backups.mkdir()
    done: list[tuple[Path, Path | None]] = []
    made: list[Path] = []
    try:
        for i, planned in enumerate(files):
            target = root.joinpath(*planned.path.parts)
            made += _make_parents(target.parent, root)
            backup = None
            if target.exists():
                backup = backups / str(i)
                target.replace(backup)
            done.append((target, backup))
            staging.joinpath(*planned.path.parts).replace(target)
    except OSError:
        for target, backup in reversed(done):
            target.unlink(missing_ok=True)
            if backup is not None:
                backup.replace(target)
        for directory in reversed(made):
            directory.rmdir()
        raise
    finally:
        shutil.rmtree(backups, ignore_errors=True)


def _make_parents(directory: Path, root: Path) -> list[Path]:
    """Create ``directory`` and its missing parents under ``root``; return those created."""
    missing = []
    while directory != root and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
