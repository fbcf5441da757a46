"""What a template pack is: a versioned file tree plus a Python manifest and context builder."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.catalog import suggest
from mlops.core.errors import UserError
from mlops.templates.answers import Answers


@dataclass(frozen=True)
class FileSpec:
    """One file the manifest asks for.

    Attributes:
        src: path of the source inside the pack's ``files/`` tree (POSIX separators). Only a
            source ending in ``.jinja`` is rendered; any other is copied byte for byte.
        dest: path of the output relative to the destination (POSIX separators).
        extra: values added to the render context for this file only (e.g. one stack's config).
    """

    src: str
    dest: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplatePack:
    """A bundled template pack.

    Attributes:
        name: the name given to ``--template``.
        version: the pack's version, recorded in ``.mlops/answers.yml``.
        description: one line for listings.
        files_root: the directory holding the pack's file tree.
        manifest: answers -> the exact list of files to produce.
        build_context: answers -> the render context (every table and derived value).
    """

    name: str
    version: str
    description: str
    files_root: Path
    manifest: Callable[[Answers], list[FileSpec]]
    build_context: Callable[[Answers], dict[str, Any]]


# Bundled packs, imported only when asked for so that `mlops --help` stays fast.
BUNDLED = {"aws": "mlops.templates.aws"}


def load_pack(name: str) -> TemplatePack:
    """Return the bundled pack called ``name``.

    Raises:
        UserError: no such pack; the message lists the available ones.
    """
    if name not in BUNDLED:
        raise UserError(
            f"unknown template '{name}'{suggest(name, list(BUNDLED))}; "
            f"available: {', '.join(sorted(BUNDLED))}"
        )
    pack: TemplatePack = importlib.import_module(BUNDLED[name]).PACK
    return pack
