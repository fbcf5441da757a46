"""Turn a pack's manifest into in-memory files: sandboxed, strict, deterministic."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from mlops.core.errors import TemplateError
from mlops.templates.pack import FileSpec, TemplatePack

JINJA_SUFFIX = ".jinja"


@dataclass(frozen=True)
class PlannedFile:
    """A file ready to write.

    Attributes:
        path: destination-relative POSIX path, already checked to stay inside the destination.
        content: the exact bytes to write.
        executable: whether to set the executable bits.
    """

    path: PurePosixPath
    content: bytes
    executable: bool = False


def make_environment(root: Path) -> SandboxedEnvironment:
    """The one Jinja environment: sandboxed, and a missing variable is an error, never a blank."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def safe_relative(pack: str, raw: str) -> PurePosixPath:
    """Check a manifest path cannot leave its root; return it as a relative POSIX path.

    Raises:
        TemplateError: the path is absolute, empty, or climbs out with ``..``.
    """
    path = PurePosixPath(raw)
    if (
        not raw
        or path.is_absolute()
        or "\\" in raw
        or any(p in ("", ".", "..") for p in path.parts)
    ):
        raise TemplateError(pack, f"manifest path '{raw}' must be relative and stay inside")
    return path


def render_files(
    pack: TemplatePack, specs: list[FileSpec], context: dict[str, Any]
) -> list[PlannedFile]:
    """Render or copy each manifest entry, in manifest order.

    Raises:
        TemplateError: a source is missing or a symlink, two entries share a destination, or a
            template fails (including an undefined variable).
    """
    env = make_environment(pack.files_root)
    planned: list[PlannedFile] = []
    seen: set[PurePosixPath] = set()
    for spec in specs:
        src_rel = safe_relative(pack.name, spec.src)
        dest = safe_relative(pack.name, spec.dest)
        if dest in seen:
            raise TemplateError(pack.name, f"two manifest entries write '{dest}'")
        seen.add(dest)
        src = pack.files_root.joinpath(*src_rel.parts)
        try:
            info = src.lstat()
        except FileNotFoundError:
            raise TemplateError(pack.name, f"manifest names missing file '{spec.src}'") from None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            # A link in a pack could point anywhere on the machine that renders it.
            raise TemplateError(pack.name, f"'{spec.src}' is not a regular file")
        if spec.src.endswith(JINJA_SUFFIX):
            try:
                text = env.get_template(src_rel.as_posix()).render({**context, **spec.extra})
            except JinjaError as exc:
                raise TemplateError(pack.name, f"{spec.src}: {exc}") from None
            content = text.encode("utf-8")
        else:
            content = src.read_bytes()
        planned.append(PlannedFile(dest, content, bool(info.st_mode & stat.S_IXUSR)))
    return planned
