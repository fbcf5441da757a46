"""What a template pack is: a versioned file tree plus a Python manifest and context builder."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import TemplateError, UserError
from mlops.core.text import suggest
from mlops.templates.answers import BaseAnswers, validate_with


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


def stack_files(
    src: str, stacks: list[str], config: Callable[[str], list[tuple[str, str]]]
) -> list[FileSpec]:
    """One ``Pulumi.<stack>.yaml`` per stack, rendered from ``src`` with that stack's config."""
    return [
        FileSpec(src, f"Pulumi.{stack}.yaml", {"stack": {"name": stack, "config": config(stack)}})
        for stack in stacks
    ]


def version_key(text: str) -> tuple[int, ...]:
    """A template version as numbers, so ``1.10.0`` sorts after ``1.9.0``."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


@dataclass(frozen=True)
class Rename:
    """A resource a template version renamed: ``mlops update`` aliases the old name to the new.

    ``old`` and ``new`` are logical names; ``{prefix}`` stands for ``<project>-<stack>``.
    """

    type: str
    old: str
    new: str


@dataclass(frozen=True)
class TemplatePack:
    """A bundled template pack.

    Attributes:
        name: the name given to ``--template``.
        version: the pack's version, recorded in ``.mlops/answers.yml``.
        description: one line for listings.
        files_root: the directory holding the pack's file tree.
        answers_model: the pack's answers model (its questions and their rules).
        manifest: answers -> the exact list of files to produce.
        build_context: answers -> the render context (every table and derived value).
        migrations: version -> the resources that version renamed (Pulumi aliases follow).
        trusted: whether the pack's templates come with mlops-stack (or an installed package)
            and render in this process; False for a custom pack (a directory or git URL),
            whose templates render in a child process bounded by the OS (memory, CPU, time).
    """

    name: str
    version: str
    description: str
    files_root: Path
    answers_model: type[BaseAnswers]
    manifest: Callable[[Any], list[FileSpec]]
    build_context: Callable[[Any], dict[str, Any]]
    migrations: Mapping[str, tuple[Rename, ...]] = field(default_factory=dict)
    trusted: bool = True


# Packs are discovered through this entry-point group: mlops-stack registers its bundled packs
# there (pyproject.toml), and any installed distribution can add its own. Each entry point names
# a module's TemplatePack, imported only when that pack is asked for.
ENTRY_POINT_GROUP = "mlops.templates"


def bundled_packs() -> dict[str, str]:
    """The packs shipped inside ``mlops.templates``: subpackages with files and questions.

    Each has a ``files/`` tree and its own answers model (``answers.py``). The common base
    (``mlops.templates.common``) has files but asks nothing of its own: the packs extend it, and
    it is no pack itself. Found by looking, not listed: importing ``importlib.metadata`` to read
    the entry points costs more than rendering a project, so the packs at hand are found first.
    """
    here = Path(__file__).parent
    return {
        entry.name: f"{__package__}.{entry.name}:PACK"
        for entry in sorted(here.iterdir())
        if (entry / "__init__.py").is_file()
        and (entry / "files").is_dir()
        and (entry / "answers.py").is_file()
    }


def available_packs() -> dict[str, str]:
    """Every pack: name -> ``module:attribute`` of its :class:`TemplatePack`.

    The bundled ones, and every installed distribution's in the ``mlops.templates`` entry-point
    group (mlops-stack registers its own there too).
    """
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**bundled_packs(), **found}


def load_pack(name: str) -> TemplatePack:
    """Return the installed pack called ``name``.

    Raises:
        UserError: no such pack; the message lists the available ones.
        TemplateError: the entry point does not lead to a TemplatePack.
    """
    target = bundled_packs().get(name) or available_packs().get(name)
    if target is None:
        known = sorted(available_packs())
        raise UserError(
            f"unknown template '{name}'{suggest(name, known)}; available: {', '.join(known)}"
        )
    module, _, attribute = target.partition(":")
    pack = getattr(importlib.import_module(module), attribute or "PACK", None)
    if not isinstance(pack, TemplatePack):
        raise TemplateError(name, f"{target} is not a TemplatePack")
    return pack


def validate_answers(raw: dict[str, Any], template: str = "aws") -> BaseAnswers:
    """Build the answers model of the installed pack ``template`` from raw values.

    Raises:
        InvalidAnswersError: with one ``(field, message)`` per broken rule.
        UserError: there is no such pack.
    """
    return validate_with(load_pack(template).answers_model, raw)
