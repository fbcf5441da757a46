"""Turn a pack's manifest into in-memory files: sandboxed, strict, deterministic, bounded.

A pack is untrusted input. Its paths may not leave the destination or reach git's metadata,
and its templates may not run for ever or fill the memory: a render has a deadline and its
output a size limit, per file and in total, and Jinja's sandbox refuses the operations that
make a short template produce a huge value (``'A' * 4000000000``, ``'x'.ljust(10**10)``,
``10 ** 10 ** 10``) before they run.

A custom pack's templates (:attr:`TemplatePack.trusted` False) render in a forked child process
that the OS bounds whatever a template does: its address space may grow by
:data:`RENDER_MEMORY_BYTES`, its CPU time is :data:`RENDER_DEADLINE_S` plus a grace, and the
parent kills it at the wall deadline. The checks in the sandbox are a first line that names the
operation; the child is the bound. The bundled packs render in this process.
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap
import operator
import os
import re
import select
import signal
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2 import TemplateError as JinjaError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat, EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment

from mlops.core.errors import TemplateError
from mlops.templates.pack import FileSpec, TemplatePack

JINJA_SUFFIX = ".jinja"

RENDER_DEADLINE_S = 10.0
"""Longest a whole render may take. The bundled packs render in well under a second; a
template that loops for longer is broken or hostile."""

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest file a render may produce. Project files are text of a few KiB; 10 MiB leaves room
for a data sample while stopping a template that multiplies strings."""

MAX_TOTAL_BYTES = 100 * 1024 * 1024
"""Largest total a render may produce (every file together), so many large files cannot fill
the disk or the memory either."""

MAX_POWER_BITS = 1 << 16
"""Largest integer ``**`` or ``*`` may produce (in bits): enough for any arithmetic a template
needs, and small enough that ``//`` and ``%`` on it take microseconds."""

RENDER_MEMORY_BYTES = 1 << 30
"""How much an untrusted render's child process may add to its address space (RLIMIT_AS)."""

RENDER_GRACE_S = 2.0
"""CPU and wall time an untrusted render's child gets past :data:`RENDER_DEADLINE_S` before the
OS (RLIMIT_CPU) or the parent (SIGKILL) stops it: its own clock normally stops it first."""

_MEMORY_EXIT = 3  # the child's exit status when it ran out of its memory
_IN_CHILD = False  # set in a render's child process: a MemoryError there is the limit

_BUILTIN_DIFF = frozenset(
    "ada bash bibtex cpp csharp css dts elixir fortran fountain golang html java kotlin"
    " markdown matlab objc pascal perl php python ruby rust scheme tex".split()
)
_BUILTIN_MERGE = frozenset({"text", "binary", "union"})
# Methods and filters whose integer arguments are sizes of the value they return.
_SIZED = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap", "truncate"}
)
_BIG_NUMBER = re.compile(r"\d{8,}")


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


class RenderLimit(Exception):
    """A template went past a render limit (time, size); the message says which."""


class _DeadlinePassed(BaseException):
    """Raised into the rendering thread when the deadline passes.

    Not an ``Exception``, so no ``except Exception`` in a template's call path swallows it.
    """


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def _too_big(value: object, limit: int = MAX_FILE_BYTES) -> bool:
    return isinstance(value, str | bytes | list | tuple | dict) and len(value) > limit


def _check_format(fmt: object) -> None:
    """Refuse a format string whose widths or precisions would make a huge value."""
    if isinstance(fmt, str | bytes):
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        for number in _BIG_NUMBER.findall(text):
            if int(number) > MAX_FILE_BYTES:
                raise RenderLimit(f"a format width of {number} is over the limit")


def _big_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_FILE_BYTES


def _check_format_args(fmt: object, args: Iterable[Any]) -> None:
    """Refuse a width or precision taken from the arguments (``%*d``, ``{:>{}}``) if huge."""
    if not isinstance(fmt, str | bytes):
        return
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    if ("*" in text or re.search(r"\{[^{}]*\{", text)) and any(_big_int(a) for a in args):
        raise RenderLimit("a format width from an argument is over the limit")


def _printed_size(
    value: object, limit: int = MAX_FILE_BYTES, depth: int = 0, seen: dict[int, int] | None = None
) -> int:
    """About how long ``str(value)`` is, counted only until it passes ``limit``.

    A container met again (``[items] * 5000``) is counted from ``seen``, not walked again. An
    object of another kind counts 0: the child process bounds what this cannot see.
    """
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return 8
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if not isinstance(value, list | tuple | set | frozenset | dict) or depth >= 32:
        return 0
    seen = {} if seen is None else seen
    if id(value) in seen:
        return seen[id(value)]
    total = 2 + 2 * len(value)
    items = value.items() if isinstance(value, dict) else value
    for item in items:
        if total > limit:
            break
        total += _printed_size(item, limit - total, depth + 1, seen)
    seen[id(value)] = total
    return total


def _joined_size(items: object, separator: object, limit: int = MAX_FILE_BYTES) -> int:
    if not isinstance(items, list | tuple | set | frozenset | dict):
        return 0  # an iterator: the child process bounds it
    size = len(separator) * max(len(items) - 1, 0) if isinstance(separator, str | bytes) else 0
    seen: dict[int, int] = {}
    for item in items:
        if size > limit:
            break
        size += _printed_size(item, limit - size, 0, seen)
    return size


def _replaced_size(text: object, old: object, new: object, count: object = None) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * (len(new) - len(old))


# Filters that turn their value into text (or a copy), checked before they build it.
_PRINTING = frozenset(
    {"tojson", "pprint", "string", "e", "escape", "forceescape", "safe", "urlencode", "xmlattr",
     "list", "unique", "sort", "reverse", "map", "select", "reject", "batch", "slice"}
)  # fmt: skip


def _check_args(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = (*args, *kwargs.values())
    if any(_too_big(value) for value in values):
        raise RenderLimit(f"a value over the limit ({_mib(MAX_FILE_BYTES)}) went to {name}")
    if name in _SIZED and any(_big_int(v) for v in values):
        raise RenderLimit(f"{name}() was asked for a size over the limit")
    if name == "format":
        for value in values[:1]:
            _check_format(value)


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a filter call whose result would be over the limit, estimated before it runs."""
    plain = [a for a in args if not isinstance(a, EvalContext | Context | SandboxedEnvironment)]
    if not plain:
        return
    value, rest = plain[0], plain[1:]
    if name == "join":
        size = _joined_size(value, rest[0] if rest else kwargs.get("d", ""))
    elif name == "replace" and len(rest) >= 2:
        size = _replaced_size(value, rest[0], rest[1], rest[2] if len(rest) > 2 else None)
    elif name == "format":
        _check_format_args(value, (*rest, *kwargs.values()))
        return
    elif name in _PRINTING:
        size = _printed_size(value)
    else:
        return
    if size > MAX_FILE_BYTES:
        raise RenderLimit(f"the {name} filter would make a value over the limit")


def _check_method(name: str, bound: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``str.join``, ``str.replace``, ``str.format``: refused before they build a huge value."""
    if not isinstance(bound, str | bytes):
        return
    size = 0
    if name == "join" and args:
        size = _joined_size(args[0], bound)
    elif name == "replace" and len(args) >= 2:
        size = _replaced_size(bound, args[0], args[1], args[2] if len(args) > 2 else None)
    elif name == "format":
        _check_format_args(bound, (*args, *kwargs.values()))
    elif name == "format_map" and args and isinstance(args[0], dict):
        _check_format_args(bound, args[0].values())
    if size > MAX_FILE_BYTES:
        raise RenderLimit(f"{name}() would make a value over the limit")


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's compiler, with ``~`` (concatenation) going through the environment's check."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:  # Jinja's name
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        if frame.eval_ctx.volatile:
            self.write("), context.eval_ctx.volatile)")
        else:
            self.write(f"), {bool(frame.eval_ctx.autoescape)})")


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with a deadline and a bound on the size of every value a template makes.

    The clock is checked in every call, attribute lookup, operator and ``range`` step; a loop
    that does none of these is stopped by :func:`_deadline`'s watchdog.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = math.inf
        self.finalize = self._finalize  # {{ value }}: its text's size checked before it is made
        self.globals.pop("lipsum", None)  # lipsum(n) makes n paragraphs
        self.globals["range"] = self._range
        self.filters = {name: self._bounded(name, f) for name, f in self.filters.items()}

    def check_clock(self) -> None:
        """Raise once the render's deadline has passed."""
        if time.monotonic() > self.deadline:
            raise RenderLimit(f"rendering took over {RENDER_DEADLINE_S:g} s")

    def _bounded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps jinja's pass_context / pass_environment marks
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.check_clock()
            _check_args(name, args, kwargs)
            _check_filter(name, args, kwargs)
            result = function(*args, **kwargs)
            if _too_big(result):
                raise RenderLimit(f"the {name} filter made a value over the limit")
            return result

        return bounded

    def _range(self, *args: int) -> Iterator[int]:
        from jinja2.sandbox import safe_range

        for number in safe_range(*args):  # at most MAX_RANGE items
            self.check_clock()
            yield number

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``__obj`` in the sandbox, checking the clock and the size of what goes in."""
        __self.check_clock()
        _check_args(getattr(__obj, "__name__", "a function"), args, kwargs)
        bound = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # str.format
        if getattr(__obj, "__name__", "") in ("format", "format_map") and isinstance(bound, str):
            _check_format(bound)
        _check_method(getattr(__obj, "__name__", ""), bound, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if _too_big(result):
            raise RenderLimit("a call made a value over the limit")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look up an attribute in the sandbox, checking the clock and the value's size."""
        self.check_clock()
        value = super().getattr(obj, attribute)
        if _too_big(value):
            raise RenderLimit(f"the value of .{attribute} is over the limit")
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Look up an item in the sandbox, checking the clock and the value's size."""
        self.check_clock()
        value = super().getitem(obj, argument)
        if _too_big(value):
            raise RenderLimit("an item's value is over the limit")
        return value

    def bounded_concat(self, values: tuple[Any, ...], markup: bool) -> str:
        """``a ~ b ~ ...``, refused where the result would be over the limit."""
        self.check_clock()
        size = 0
        for value in values:
            size += _printed_size(value, MAX_FILE_BYTES - size)
            if size > MAX_FILE_BYTES:
                raise RenderLimit("a concatenation (~) would make a value over the limit")
        return markup_join(values) if markup else str_join(values)

    def _finalize(self, value: Any) -> Any:
        if not isinstance(value, str) and _printed_size(value) > MAX_FILE_BYTES:
            raise RenderLimit("a value printed with {{ }} would be over the limit")
        return value

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``+``, ``%`` and ``//``, refused where the result would be too large."""
        self.check_clock()
        _check_binop(operator_, left, right)
        return _BINOPS[operator_](left, right)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
    "//": operator.floordiv,
}
_SEQUENCES = (str, bytes, list, tuple)


def _check_binop(operator_: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be over :data:`MAX_FILE_BYTES` (or a huge int)."""
    _check_numbers(operator_, left, right)
    if operator_ == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
    elif operator_ == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * abs(left).bit_length() > MAX_POWER_BITS:
                raise RenderLimit("a power (**) would make a number over the limit")
    elif operator_ == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            if len(left) + len(right) > MAX_FILE_BYTES:
                raise RenderLimit("a concatenation (+) would make a value over the limit")
    elif operator_ == "%":
        _check_format(left)
        _check_format_args(left, right if isinstance(right, tuple) else (right,))


def _check_numbers(operator_: str, left: Any, right: Any) -> None:
    """Refuse ``*`` of integers whose product, or ``//``/``%`` of one, is over the bits limit."""
    if _is_int(left) and _is_int(right) and operator_ != "**":
        bits = abs(left).bit_length(), abs(right).bit_length()
        if (sum(bits) if operator_ == "*" else max(bits)) > MAX_POWER_BITS:
            raise RenderLimit(f"a number ({operator_}) would be over the limit")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(seq: Any, times: Any) -> None:
    if isinstance(seq, _SEQUENCES) and isinstance(times, int):
        if len(seq) * max(times, 0) > MAX_FILE_BYTES:
            raise RenderLimit("a repetition (*) would make a value over the limit")


def make_environment(root: Path) -> BoundedEnvironment:
    """The one Jinja environment: sandboxed and bounded; a missing variable is an error."""
    return BoundedEnvironment(
        loader=FileSystemLoader(str(root), followlinks=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def is_git_name(part: str) -> bool:
    """Whether a path component names git's metadata, however a file system may spell it.

    ``.git`` in any case, with the trailing dots or spaces Windows drops, or as its 8.3 short
    name ``GIT~1``.
    """
    folded = part.rstrip(". ").casefold()
    return folded == ".git" or re.fullmatch(r"git~\d+", folded) is not None


def path_problem(raw: str) -> str | None:
    """Why ``raw`` may not be a pack's source or destination path; None when it may.

    Refused: empty, absolute, a backslash, an empty or ``.``/``..`` component, a component that
    names git's metadata (``.git`` in any spelling), and ``.gitmodules`` anywhere (it makes git
    fetch and check out other repositories).
    """
    path = PurePosixPath(raw)
    if (
        not raw
        or raw.startswith("/")
        or path.is_absolute()
        or "\\" in raw
        or "\0" in raw
        or any(part in ("", ".", "..") for part in raw.split("/"))
    ):
        return "must be relative and stay inside"
    if any(is_git_name(part) for part in path.parts):
        return "is inside git's metadata (.git); a pack may not write there"
    if any(part.rstrip(". ").casefold() == ".gitmodules" for part in path.parts):
        return "is .gitmodules; a pack may not add git submodules"
    return None


def safe_relative(pack: str, raw: str) -> PurePosixPath:
    """Check a manifest path cannot leave its root or reach git; return it as a POSIX path.

    Raises:
        TemplateError: the path is absolute, empty, climbs out with ``..``, or is git metadata.
    """
    problem = path_problem(raw)
    if problem is not None:
        raise TemplateError(pack, f"manifest path '{raw}' {problem}")
    return PurePosixPath(raw)


def attributes_problem(path: PurePosixPath, content: bytes) -> str | None:
    """Why a ``.gitattributes`` file may not be written; None when it may (or is another file).

    ``filter``, ``diff`` and ``merge`` attributes name drivers that run commands from git's
    config: only git's built-in diff and merge drivers are allowed, and no filter.
    """
    if path.name.rstrip(". ").casefold() != ".gitattributes":
        return None
    text = content.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        for word in words[1:]:
            name, has_value, value = word.partition("=")
            name = name.lstrip("-!")
            if not has_value or name not in ("filter", "diff", "merge"):
                continue
            builtin = _BUILTIN_DIFF if name == "diff" else _BUILTIN_MERGE
            if name == "filter" or value not in builtin:
                return (
                    f"line {number} sets {name}={value}, a driver that would run a command"
                    " (only git's built-in diff and merge drivers are allowed)"
                )
    return None


class _Budget:
    """The output a render may still produce."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_BYTES

    def take(self, size: int) -> None:
        if size > MAX_FILE_BYTES:
            raise RenderLimit(f"it is over the limit of {_mib(MAX_FILE_BYTES)} per file")
        if size > self.left:
            raise RenderLimit(f"the render's files together are over {_mib(MAX_TOTAL_BYTES)}")
        self.left -= size


def _render_text(env: BoundedEnvironment, name: str, context: dict[str, Any], left: int) -> str:
    """Render one template piece by piece, stopping as soon as it is too large."""
    pieces: list[str] = []
    size = 0
    limit = min(MAX_FILE_BYTES, left)
    for piece in env.get_template(name).generate(context):
        env.check_clock()
        size += len(piece)
        if size > limit:
            raise RenderLimit(f"it renders to over the limit of {_mib(limit)}")
        pieces.append(piece)
    return "".join(pieces)


class _deadline:  # used as a context manager, like a function
    """Stop the current thread with :class:`_DeadlinePassed` if it is still inside at ``at``.

    A template loop that calls nothing (``{% for a in x %}{% for b in x %}{% endfor %}...``)
    never reaches the environment's own clock checks; a watchdog thread raises into it instead.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.inside = False
        self.thread_id = threading.get_ident()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        with self.lock:
            if self.inside:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.thread_id), ctypes.py_object(_DeadlinePassed)
                )

    def __enter__(self) -> None:
        self.inside = True
        self.timer.start()

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.inside = False
            self.timer.cancel()
        # An exception raised just as the render ended would land in the caller: clear it.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)


def render_files(
    pack: TemplatePack, specs: list[FileSpec], context: dict[str, Any]
) -> list[PlannedFile]:
    """Render or copy each manifest entry, in manifest order, within the render's limits.

    An untrusted pack (``pack.trusted`` False) renders in a child process that the OS bounds
    (:func:`_render_in_child`) where ``os.fork`` exists; elsewhere, and for a bundled pack, in
    this process with the sandbox's own checks.

    Raises:
        TemplateError: a source is missing or a symlink, two entries share a destination, a
            path is unsafe, a template fails (including an undefined variable), a limit
            (:data:`RENDER_DEADLINE_S`, :data:`MAX_FILE_BYTES`, :data:`MAX_TOTAL_BYTES`,
            :data:`RENDER_MEMORY_BYTES`) is passed, or the files would make a directory git
            reads as a repository; the message names the file.
    """
    if pack.trusted or not hasattr(os, "fork"):
        return _render_all(pack, specs, context)
    return _render_in_child(pack, specs, context)


def _render_all(
    pack: TemplatePack,
    specs: list[FileSpec],
    context: dict[str, Any],
    progress: mmap.mmap | None = None,
) -> list[PlannedFile]:
    env = make_environment(pack.files_root)
    env.deadline = time.monotonic() + RENDER_DEADLINE_S
    budget = _Budget()
    planned: list[PlannedFile] = []
    seen: set[PurePosixPath] = set()
    current = ""
    try:
        with _deadline(RENDER_DEADLINE_S + 0.5):
            for index, spec in enumerate(specs):
                current = spec.src
                if progress is not None:
                    progress[:4] = struct.pack("=i", index)
                planned.append(_one_file(pack, env, spec, context, budget, seen))
    except _DeadlinePassed:
        raise TemplateError(
            pack.name, f"{current}: rendering took over {RENDER_DEADLINE_S:g} s"
        ) from None
    problem = git_directory_problem(p.path for p in planned)
    if problem is not None:
        raise TemplateError(pack.name, problem)
    return planned


_GIT_DIR_FILES = frozenset({"config", "commondir", "gitdir"})
_GIT_DIR_DIRS = frozenset({"objects", "refs"})


def git_directory_problem(paths: Iterable[PurePosixPath]) -> str | None:
    """Why these files would make a directory that git takes for a repository; None if not.

    Git treats a directory holding ``HEAD`` with ``objects/`` and ``refs/`` (or a
    ``commondir``) as a bare repository and obeys its ``config`` (``core.fsmonitor`` runs a
    command on any ``git status`` inside). Refused, in any case spelling: ``HEAD`` next to a
    ``config``, ``commondir`` or ``gitdir`` file or an ``objects/`` or ``refs/`` directory.
    """
    files: dict[tuple[str, ...], set[str]] = {}
    dirs: dict[tuple[str, ...], set[str]] = {}
    for path in paths:
        parts = tuple(part.rstrip(". ").casefold() for part in path.parts)
        files.setdefault(parts[:-1], set()).add(parts[-1])
        for depth in range(len(parts) - 1):
            dirs.setdefault(parts[:depth], set()).add(parts[depth])
    for folder, names in sorted(files.items()):
        if "head" in names and (names & _GIT_DIR_FILES or dirs.get(folder, set()) & _GIT_DIR_DIRS):
            where = "/".join(folder) or "the project's root"
            return (
                f"{where}: refused: its HEAD with git's config, objects/ or refs/ would make a"
                " git repository (its config could run commands)"
            )
    return None


_FRAME = struct.Struct("=IQB")  # path length, content length, executable


def _encode(planned: list[PlannedFile]) -> bytes:
    parts = [b"F"]
    for file in planned:
        path = file.path.as_posix().encode("utf-8", "surrogateescape")
        parts += [_FRAME.pack(len(path), len(file.content), file.executable), path, file.content]
    return b"".join(parts)


def _decode(data: bytes) -> list[PlannedFile]:
    planned, at = [], 1
    while at < len(data):
        size, length, executable = _FRAME.unpack_from(data, at)
        at += _FRAME.size
        path = data[at : at + size].decode("utf-8", "surrogateescape")
        content = data[at + size : at + size + length]
        if len(content) != length:
            raise ValueError("truncated")
        at += size + length
        planned.append(PlannedFile(PurePosixPath(path), content, bool(executable)))
    return planned


def _address_space() -> int | None:
    """This process's address space in bytes (VmSize), or None where /proc does not say."""
    try:
        with Path("/proc/self/status").open("rb") as status:
            for line in status:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _limit_child() -> None:
    """In the child: cap its address space growth, its CPU time, and its core dumps."""
    import resource

    def lower(kind: int, soft: int) -> None:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(kind, (soft, hard))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_CPU, math.ceil(RENDER_DEADLINE_S + RENDER_GRACE_S))
    used = _address_space()
    if used is not None:
        lower(resource.RLIMIT_AS, used + RENDER_MEMORY_BYTES)


def _child(
    write_fd: int,
    pack: TemplatePack,
    specs: list[FileSpec],
    context: dict[str, Any],
    progress: mmap.mmap,
) -> None:
    """The child's whole life: render, send the result down the pipe, ``os._exit``."""
    global _IN_CHILD
    code = 1
    try:
        _IN_CHILD = True
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent reports an interrupt
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _limit_child()
        try:
            payload = _encode(_render_all(pack, specs, context, progress))
        except TemplateError as exc:
            payload = b"E" + exc.detail.encode("utf-8", "replace")
        except MemoryError:
            payload = b""
            code = _MEMORY_EXIT
        except Exception as exc:  # a failure of the template the parent names with its file
            payload = b"X" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:4000]
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
        code = code if code == _MEMORY_EXIT else 0
    except MemoryError:
        code = _MEMORY_EXIT
    except BaseException:  # the exit status says it failed
        pass
    finally:
        os._exit(code)


def _render_in_child(
    pack: TemplatePack, specs: list[FileSpec], context: dict[str, Any]
) -> list[PlannedFile]:
    """Render in a forked child bounded by the OS; read its result through a pipe.

    The child's address space may grow by :data:`RENDER_MEMORY_BYTES` (RLIMIT_AS) and it gets
    :data:`RENDER_DEADLINE_S` plus :data:`RENDER_GRACE_S` of CPU (RLIMIT_CPU); the parent
    kills it at that wall-clock deadline, and stops reading past :data:`MAX_TOTAL_BYTES` plus
    the framing.
    """
    progress = mmap.mmap(-1, mmap.PAGESIZE)  # shared with the child: the file it is on
    progress[:4] = struct.pack("=i", -1)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit
        os.close(read_fd)
        _child(write_fd, pack, specs, context, progress)
    os.close(write_fd)
    limit = MAX_TOTAL_BYTES + (len(specs) + 1) * (_FRAME.size + 4096)
    data, status = _collect(pid, read_fd, limit)
    index = struct.unpack("=i", progress[:4])[0]
    progress.close()
    current = f"{specs[index].src}: " if 0 <= index < len(specs) else ""
    if data[:1] == b"F" and status is not None and os.WIFEXITED(status):
        try:
            return _decode(data)
        except (ValueError, struct.error):
            pass
    if data[:1] == b"E":
        raise TemplateError(pack.name, data[1:].decode("utf-8", "replace"))
    if data[:1] == b"X":
        raise TemplateError(pack.name, current + data[1:].decode("utf-8", "replace"))
    raise TemplateError(pack.name, current + _failure(status, len(data) > limit))


def _collect(pid: int, read_fd: int, limit: int) -> tuple[bytes, int | None]:
    """Read the child's pipe (up to ``limit`` bytes and the deadline), then reap it.

    Returns what it sent and its wait status, None where it was killed at the deadline.
    """
    deadline = time.monotonic() + RENDER_DEADLINE_S + RENDER_GRACE_S
    chunks: list[bytes] = []
    size, ended, status = 0, False, None
    try:
        while not ended and size <= limit:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                break
            chunk = os.read(read_fd, 1 << 20)
            ended = not chunk
            size += len(chunk)
            chunks.append(chunk)
        while ended and status is None and time.monotonic() < deadline:
            status = _reaped(pid)
            if status is None:
                time.sleep(0.001)
    finally:
        os.close(read_fd)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return b"".join(chunks) if ended or size > limit else b"", status


def _failure(status: int | None, too_much: bool) -> str:
    """Why the child sent no result, from its wait status."""
    if too_much:
        return f"refused: the render's files together are over {_mib(MAX_TOTAL_BYTES)}"
    if status is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU):
        return f"rendering took over {RENDER_DEADLINE_S:g} s"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _MEMORY_EXIT:
        return f"refused: rendering used over {_gib(RENDER_MEMORY_BYTES)} of memory"
    if os.WIFSIGNALED(status):
        return f"rendering failed: its process ended with signal {os.WTERMSIG(status)}"
    return f"rendering failed: its process ended with status {os.WEXITSTATUS(status)}"


def _reaped(pid: int) -> int | None:
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done == pid else None


def _gib(size: int) -> str:
    return f"{size / (1 << 30):g} GiB"


def _one_file(
    pack: TemplatePack,
    env: BoundedEnvironment,
    spec: FileSpec,
    context: dict[str, Any],
    budget: _Budget,
    seen: set[PurePosixPath],
) -> PlannedFile:
    src_rel = safe_relative(pack.name, spec.src)
    dest = safe_relative(pack.name, spec.dest)
    if dest in seen:
        raise TemplateError(pack.name, f"two manifest entries write '{dest}'")
    seen.add(dest)
    src = _regular_file(pack, src_rel)
    info = src.lstat()
    try:
        if spec.src.endswith(JINJA_SUFFIX):
            text = _render_text(env, src_rel.as_posix(), {**context, **spec.extra}, budget.left)
            content = text.encode("utf-8")
        else:
            if info.st_size > MAX_FILE_BYTES:
                raise RenderLimit(f"it is over the limit of {_mib(MAX_FILE_BYTES)} per file")
            content = src.read_bytes()
        budget.take(len(content))
    except (RenderLimit, SecurityError) as exc:
        raise TemplateError(pack.name, f"{spec.src}: refused: {exc}") from None
    except JinjaError as exc:
        raise TemplateError(pack.name, f"{spec.src}: {exc}") from None
    except (MemoryError, OverflowError, RecursionError) as exc:
        memory = f"used over {_gib(RENDER_MEMORY_BYTES)} of memory" if _IN_CHILD else ""
        kind = {MemoryError: memory or "ran out of memory", RecursionError: "nested too deeply"}
        reason = kind.get(type(exc), "made a number too large")
        raise TemplateError(pack.name, f"{spec.src}: refused: rendering {reason}") from None
    problem = attributes_problem(dest, content)
    if problem is not None:
        raise TemplateError(pack.name, f"{spec.dest}: {problem}")
    return PlannedFile(dest, content, bool(info.st_mode & stat.S_IXUSR))


def _regular_file(pack: TemplatePack, rel: PurePosixPath) -> Path:
    """The source file, refused unless it and every directory on the way are real (no links)."""
    current = pack.files_root
    for part in rel.parts:
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            raise TemplateError(pack.name, f"manifest names missing file '{rel}'") from None
        if stat.S_ISLNK(info.st_mode):
            # A link in a pack could point anywhere on the machine that renders it.
            raise TemplateError(pack.name, f"'{rel}' is not a regular file (a symlink on the way)")
    if not stat.S_ISREG(info.st_mode):
        raise TemplateError(pack.name, f"'{rel}' is not a regular file")
    return current
