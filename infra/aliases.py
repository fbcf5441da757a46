"""Pulumi aliases for resources a template update renamed (``.mlops/aliases.yml``).

``mlops update`` records each rename a template version declares; the project's program calls
:func:`register_aliases` first, and every resource registered under a new name also answers to
its old one, so ``pulumi up`` moves its state instead of deleting and re-creating it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from mlops.core import yamlfile

ALIASES_FILE = Path(".mlops") / "aliases.yml"


def load(root: Path, prefix: str) -> dict[tuple[str, str], list[str]]:
    """(type, new name) -> old names, with ``{prefix}`` filled in."""
    path = root / ALIASES_FILE
    if not path.is_file():
        return {}
    entries = yamlfile.load_mapping(path).get("aliases") or []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and {"type", "new", "old"} <= set(e) for e in entries
    ):
        raise yamlfile.YamlFileError(
            path, "`aliases` must list entries with `type`, `new` and `old`", "restore it"
        )
    found: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        # Plain replacement, not str.format: the file is input, and a format string can reach
        # attributes of its arguments.
        key = (str(entry["type"]), str(entry["new"]).replace("{prefix}", prefix))
        found.setdefault(key, []).append(str(entry["old"]).replace("{prefix}", prefix))
    return found


def register_aliases(root: Path) -> int:
    """Alias every renamed resource of this stack to its old names; return how many renames."""
    renames = load(root, f"{pulumi.get_project()}-{pulumi.get_stack()}")
    if not renames:
        return 0

    def transformation(args: Any) -> pulumi.ResourceTransformationResult | None:
        old = renames.get((args.type_, args.name))
        if not old:
            return None
        aliases = [*(args.opts.aliases or []), *(pulumi.Alias(name=name) for name in old)]
        return pulumi.ResourceTransformationResult(
            args.props,
            pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(aliases=aliases)),
        )

    pulumi.runtime.register_stack_transformation(transformation)
    return len(renames)
