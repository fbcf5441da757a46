"""Turn a pack's manifest into in-memory files: sandboxed, strict, deterministic, bounded.

A pack is untrusted input. Its paths may not leave the destination or reach git's metadata,
and its templates may not run for ever or fill the memory: a render has a deadline and its
output a size limit, per file and in total, and Jinja's sandbox refuses the operations that
make a short template produce a huge value (``'A' * 4000000000``, ``'x'.ljust(10**10)``,
``10 ** 10 ** 10``) before they run.
"""

from __future__ import annotations

import ctypes
import functools
import math
import operator
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError
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
"""Largest integer ``**`` may produce (in bits): enough for any arithmetic a template needs."""

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


def _check_args(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = (*args, *kwargs.values())
    if any(_too_big(value) for value in values):
        raise RenderLimit(f"a value over the limit ({_mib(MAX_FILE_BYTES)}) went to {name}")
    if name in _SIZED and any(
        isinstance(v, int) and not isinstance(v, bool) and v > MAX_FILE_BYTES for v in values
    ):
        raise RenderLimit(f"{name}() was asked for a size over the limit")
    if name == "format":
        for value in values[:1]:
            _check_format(value)


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with a deadline and a bound on the size of every value a template makes.

    The clock is checked in every call, attribute lookup, operator and ``range`` step; a loop
    that does none of these is stopped by :func:`_deadline`'s watchdog.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = math.inf
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

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call ``__obj`` in the sandbox, checking the clock and the size of what goes in."""
        __self.check_clock()
        _check_args(getattr(__obj, "__name__", "a function"), args, kwargs)
        bound = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # str.format
        if getattr(__obj, "__name__", "") in ("format", "format_map") and isinstance(bound, str):
            _check_format(bound)
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

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``+`` and ``%``, refused where the result would be too large."""
        self.check_clock()
        _check_binop(operator_, left, right)
        return _BINOPS[operator_](left, right)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
}
_SEQUENCES = (str, bytes, list, tuple)


def _check_binop(operator_: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be over :data:`MAX_FILE_BYTES` (or a huge int)."""
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
    else:
        _check_format(left)  # %


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


class _deadline:  # noqa: N801 - used as a context manager, like a function
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

    Raises:
        TemplateError: a source is missing or a symlink, two entries share a destination, a
            path is unsafe, a template fails (including an undefined variable), or a limit
            (:data:`RENDER_DEADLINE_S`, :data:`MAX_FILE_BYTES`, :data:`MAX_TOTAL_BYTES`) is
            passed; the message names the file.
    """
    env = make_environment(pack.files_root)
    env.deadline = time.monotonic() + RENDER_DEADLINE_S
    budget = _Budget()
    planned: list[PlannedFile] = []
    seen: set[PurePosixPath] = set()
    current = ""
    try:
        with _deadline(RENDER_DEADLINE_S + 0.5):
            for spec in specs:
                current = spec.src
                planned.append(_one_file(pack, env, spec, context, budget, seen))
    except _DeadlinePassed:
        raise TemplateError(
            pack.name, f"{current}: rendering took over {RENDER_DEADLINE_S:g} s"
        ) from None
    return planned


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
        kind = {MemoryError: "ran out of memory", RecursionError: "nested too deeply"}
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
