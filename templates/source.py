"""Where a generated project gets mlops-stack from, so it installs on any machine.

A project depends on mlops-stack (its Pulumi program, its image's entry points). The source is
recorded at ``mlops init`` as the ``mlops_source`` answer:

- ``index``: ``mlops-stack==<this version>`` from the package index pip is configured with;
- ``wheel``: a wheel of the very mlops-stack that rendered the project, written into the
  project's ``wheels/`` and installed from there (``--find-links wheels``) by ``make install``,
  CI and the Dockerfile alike; the default when mlops-stack runs from a source checkout, which
  no index serves;
- a URL pip understands (``git+https://...@v0.1.0``, ``https://.../mlops_stack.whl``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from mlops.core.errors import ExternalToolError

DIST = "mlops-stack"
WHEELS_DIR = "wheels"
URL_PREFIXES = ("git+https://", "git+ssh://", "https://", "file://")
# The folders setuptools maps into mlops.* (pyproject.toml's package-dir), and the project file.
_SOURCE_PARTS = ("cli", "composition", "core", "infra", "pipelines", "templates", "pyproject.toml")


@cache
def installed_version() -> str:
    """The running mlops-stack's version.

    Read from the checkout's pyproject.toml when run from one: cheaper than importing
    importlib.metadata on every `mlops init`.
    """
    import re

    root = source_checkout()
    if root is not None:
        found = re.search(r'^version = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
        if found:
            return found.group(1)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST)
    except PackageNotFoundError:
        return "0.0.0"


@cache
def source_checkout() -> Path | None:
    """The source tree mlops-stack runs from, when it is a local checkout (editable install).

    The ``templates`` folder is ``mlops.templates``; in a checkout its parent holds the
    ``pyproject.toml`` of mlops-stack, in an installed wheel it is site-packages' ``mlops/``.
    """
    root = Path(__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if project.is_file() and f'name = "{DIST}"' in project.read_text(encoding="utf-8"):
        return root
    return None


def default_source() -> str:
    """``wheel`` when running from a source checkout (no index serves it), else ``index``."""
    return "wheel" if source_checkout() is not None else "index"


def requirement(source: str, extra: str = "") -> str:
    """The requirement a project with ``source`` declares (with ``extra``, when named)."""
    name = f"{DIST}[{extra}]" if extra else DIST
    if source.startswith(URL_PREFIXES):
        return f"{name} @ {source}"
    return f"{name}=={installed_version()}"


def wheel_name() -> str:
    """The wheel's file name (a pure-Python wheel)."""
    return f"{DIST.replace('-', '_')}-{installed_version()}-py3-none-any.whl"


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for part in _SOURCE_PARTS:
        base = root / part
        paths = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                # Name, size and modification time: an edit changes them, and reading ~150
                # files' contents on every `mlops init` would cost more than the render.
                info = path.stat()
                digest.update(
                    f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()[:16]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-stack" / "wheels"


@cache
def wheel_bytes() -> bytes:
    """A wheel of the running mlops-stack: built once per source state, then cached.

    Raises:
        ExternalToolError: not running from a checkout, or the build failed.
    """
    root = source_checkout()
    if root is None:
        raise ExternalToolError(
            "mlops-stack", "no source checkout to build a wheel from; use --mlops-source index"
        )
    cached = _cache_dir() / _fingerprint(root) / wheel_name()
    if cached.is_file():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        if Path(uv).is_file():
            command = [uv, "build", "--wheel", "--out-dir", tmp, str(root)]
        else:
            command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp, str(root)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise ExternalToolError("mlops-stack", "building its wheel took over 300 s") from None
        built = Path(tmp) / wheel_name()
        if proc.returncode != 0 or not built.is_file():
            raise ExternalToolError(
                "mlops-stack", f"building its wheel failed:\n{(proc.stderr or proc.stdout)[-2000:]}"
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        shutil.copyfile(built, partial)
        partial.replace(cached)  # a crash mid-copy never leaves a broken wheel in the cache
    return cached.read_bytes()
