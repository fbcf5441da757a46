"""Read YAML that came from outside (packs, stack files, records) with its size bounded.

PyYAML's safe loader shares the node an alias points to, so ``a: &a [...]; b: [*a, *a, ...]``
costs nothing to parse and everything to walk: nested aliases ("billion laughs") reach
gigabytes as soon as a validator or a dump visits every value. Here the document is composed
first, its expanded size counted over the node graph (each node once, memoised), and only a
document under the limit is constructed. A syntax error names the file, the line and the
problem; a document of the wrong shape names the file and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlops.core.errors import UserError

MAX_BYTES = 4 * 1024 * 1024
"""Largest YAML file read (a stack file or a pack manifest is a few KiB)."""

MAX_NODES = 200_000
"""Most values a document may expand to, aliases counted at every place they are used."""

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFileError(UserError):
    """A YAML file from outside is unreadable, malformed, too large or of the wrong shape.

    Args:
        source: the file (or what the text is), as the user knows it.
        reason: what is wrong, with the line where there is one.
        fix: what to do about it.
    """

    def __init__(self, source: object, reason: str, fix: str = "") -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}" + (f"; {fix}" if fix else ""))


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """Count the values ``node`` expands to, stopping as soon as ``limit`` is passed."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep document must not hit Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if key in sizes and not children_done:
            continue  # a shared node (an alias target) is counted once
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        if not children_done:
            sizes[key] = -1  # on the stack: a recursive alias is refused below
            stack.append((current, True))
            for child in children:
                if sizes.get(id(child)) == -1:
                    raise _TooLarge("a value contains itself through an alias")
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        total = 1 + sum(sizes[id(child)] for child in children)
        if total > limit:
            raise _TooLarge(f"it expands to over {limit:,} values (aliases counted where used)")
        sizes[key] = total
    return sizes[id(node)]


class _TooLarge(Exception):
    pass


Lines = dict[tuple[str | int, ...], int]
"""Where each value of a document starts: its key path (keys and list indexes) -> its line."""


def _lines(node: yaml.Node) -> Lines:
    """The line (1-based) of every mapping key and list item under ``node``, by path.

    A key's line is where the key is written; an alias target is walked once, at its first use.
    """
    found: Lines = {(): node.start_mark.line + 1}
    seen: set[int] = set()
    stack: list[tuple[tuple[str | int, ...], yaml.Node]] = [((), node)]
    while stack:
        path, current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        children: list[tuple[tuple[str | int, ...], yaml.Node]] = []
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                found.setdefault((*path, name), key.start_mark.line + 1)
                children.append(((*path, name), value))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                found.setdefault((*path, index), item.start_mark.line + 1)
                children.append(((*path, index), item))
        stack.extend(reversed(children))  # popped in document order
    return found


def line_of(lines: Lines, path: Sequence[str | int]) -> int | None:
    """The line of ``path`` in a document, or of its nearest ancestor written there.

    ``None`` for the empty path or when nothing of it is written (a value a model made up).
    """
    keys = tuple(path)
    while keys:
        if keys in lines:
            return lines[keys]
        keys = keys[:-1]
    return None


def loads(text: str, source: object, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document from ``text``, bounded; ``None`` for an empty document.

    Raises:
        YamlFileError: a syntax error (with its line), or a document over ``max_nodes``.
    """
    return _parse(text, source, max_nodes, with_lines=False)[0]


def loads_with_lines(text: str, source: object, *, max_nodes: int = MAX_NODES) -> tuple[Any, Lines]:
    """As :func:`loads`, with the line of every key and list item (see :func:`line_of`).

    Raises:
        YamlFileError: as :func:`loads`.
    """
    return _parse(text, source, max_nodes, with_lines=True)


def _parse(text: str, source: object, max_nodes: int, *, with_lines: bool) -> tuple[Any, Lines]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _expanded_size(node, max_nodes)
        lines = _lines(node) if with_lines else {}
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlFileError(source, f"{where}{problem}", "fix the YAML syntax there") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(source, f"not valid YAML ({exc})", "fix the file") from None
    except _TooLarge as exc:
        raise YamlFileError(source, f"refused: {exc}", "write the values out plainly") from None
    except RecursionError:
        raise YamlFileError(source, "refused: nested too deeply", "flatten the file") from None
    finally:
        loader.dispose()


def load(path: Path, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """Read and parse the YAML file at ``path``, bounded in bytes and in expanded values.

    Raises:
        YamlFileError: the file cannot be read, is too large, is not UTF-8 or not valid YAML.
    """
    return loads(_read(path, max_bytes), path, max_nodes=max_nodes)


def load_with_lines(path: Path, *, max_bytes: int = MAX_BYTES) -> tuple[Any, Lines]:
    """As :func:`load`, with the line of every key and list item (see :func:`line_of`).

    Raises:
        YamlFileError: as :func:`load`.
    """
    return loads_with_lines(_read(path, max_bytes), path)


def _read(path: Path, max_bytes: int) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(path, f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise YamlFileError(
            path, f"is larger than {max_bytes // 1024} KiB", "is it the right file?"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(path, f"is not UTF-8 text (byte {exc.start})") from None


def load_mapping(path: Path, *, empty_ok: bool = True, what: str = "") -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (``key: value`` lines); ``{}`` when empty.

    Args:
        path: the file.
        empty_ok: whether an empty file reads as ``{}`` (otherwise it is an error).
        what: what the file should hold, for the message (e.g. "the stack's settings").

    Raises:
        YamlFileError: as :func:`load`, or the document is not a mapping.
    """
    data = load(path)
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        expected = f" ({what})" if what else ""
        raise YamlFileError(
            path, f"must hold a mapping of keys to values{expected}, found {found}",
            "restore its `key: value` lines",
        )
    return data
