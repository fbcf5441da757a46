"""The one way mlops-stack runs git: locations are never options, hooks never run.

Everything mlops hands to git may come from outside (a pack's URL, the source recorded in a
project's ``.mlops/answers.yml``, a project's own repository), so every call here:

* puts ``--`` before a location and refuses one that starts with ``-`` (``--upload-pack=...``
  would otherwise be an option that runs a command);
* allows only the ``file``, ``git``, ``http(s)`` and ``ssh`` transports (``ext::`` and ``fd::``
  run commands);
* runs with hooks pointed at an empty place and ``core.fsmonitor`` off, so neither a hook nor a
  monitor command configured in a repository runs;
* has a timeout, never waits on a prompt (``GIT_TERMINAL_PROMPT=0``, stdin closed).

Callers choose what a failure means to them by catching :class:`GitError`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops.core.errors import ExternalToolError, UserError

# Every git timeout the tool uses, here so that callers pick one by what they do.
TIMEOUT_S = 120.0
"""Longest a git call may take by default: a clone or tag listing of a pack over a slow link."""
REPOSITORY_TIMEOUT_S = 60.0
"""Work inside a project's own repository (``mlops update``'s merges): no network involved."""
PROBE_TIMEOUT_S = 10.0
"""A quick question asked on every pipeline run (which commit, any uncommitted change)."""

ALLOWED_PROTOCOLS = "file:git:http:https:ssh"

# Given on every call, before the command: no hook, no fsmonitor command, no command transports.
SAFE_CONFIG = (
    "-c", f"core.hooksPath={os.devnull}",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
    "-c", "protocol.fd.allow=never",
)  # fmt: skip

_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")


class GitError(ExternalToolError):
    """git is missing, failed or timed out.

    Args:
        command: the git subcommand (``clone``, ``ls-remote``...).
        detail: git's own message, or what went wrong.
        missing: git is not installed.
        timed_out: it ran past its timeout.
        returncode: git's exit status (-1 when it did not run to the end).
    """

    def __init__(
        self,
        command: str,
        detail: str,
        *,
        missing: bool = False,
        timed_out: bool = False,
        returncode: int = -1,
    ) -> None:
        self.command = command
        self.missing = missing
        self.timed_out = timed_out
        self.returncode = returncode
        super().__init__("git", f"git {command}: {detail}" if command else detail)


class GitLocationError(UserError):
    """A repository location that git would read as an option or a command transport."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        super().__init__(f"refusing git location {location!r}: {reason}")


def check_location(location: str) -> str:
    """Return ``location`` if git can only read it as a repository, else refuse it.

    Raises:
        GitLocationError: it is empty, starts with ``-``, holds a control character, or names a
            transport helper (``ext::``, ``fd::``...).
    """
    if not location:
        raise GitLocationError(location, "it is empty")
    if location.startswith("-"):
        raise GitLocationError(location, "it starts with '-', so git would read it as an option")
    if any(ord(char) < 32 or ord(char) == 127 for char in location):
        raise GitLocationError(location, "it holds a control character")
    if _TRANSPORT_HELPER.match(location):
        raise GitLocationError(location, "transport helpers (ext::, fd::, ...) can run commands")
    return location


def check_ref(ref: str) -> str:
    """Return ``ref`` if it cannot be read as an option, else refuse it.

    Raises:
        GitLocationError: it starts with ``-`` or holds a control character.
    """
    if ref.startswith("-") or any(ord(char) < 32 or ord(char) == 127 for char in ref):
        raise GitLocationError(ref, "a ref must not start with '-' or hold control characters")
    return ref


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every git call runs with."""
    return {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        **(extra or {}),
    }


def call(
    *args: str,
    cwd: Path | None = None,
    data: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with the safe settings; return the finished process, whatever its status.

    Raises:
        GitError: git is missing or ran past ``timeout``.
    """
    command = args[0] if args else ""
    git = shutil.which("git")
    if git is None:
        raise GitError(command, "git is not installed (https://git-scm.com)", missing=True)
    try:
        return subprocess.run(  # fixed program, options before every location
            [git, *SAFE_CONFIG, *args],
            cwd=cwd,
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=timeout,
            env=environment(env),
        )
    except subprocess.TimeoutExpired:
        raise GitError(command, f"took over {timeout:.0f} s", timed_out=True) from None
    except OSError as exc:
        raise GitError(command, f"could not run ({exc.strerror})", missing=True) from None


def run(
    *args: str,
    cwd: Path | None = None,
    data: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> bytes:
    """Run git with the safe settings; return its stdout.

    Raises:
        GitError: git is missing, timed out, or exited non-zero (with its own message).
    """
    proc = call(*args, cwd=cwd, data=data, env=env, timeout=timeout)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
        raise GitError(args[0] if args else "", message, returncode=proc.returncode)
    return proc.stdout


def clone(location: str, dest: Path, ref: str = "", *, timeout: float = TIMEOUT_S) -> None:
    """Shallow-clone ``location`` (at ``ref`` when given) into ``dest``, no submodules.

    Raises:
        GitLocationError: ``location`` or ``ref`` could be read as an option or a command.
        GitError: the clone failed.
    """
    check_location(location)
    branch = [f"--branch={check_ref(ref)}"] if ref else []
    run(
        "clone", "--quiet", "--depth=1", "--no-recurse-submodules", *branch,
        "--", location, str(dest),
        timeout=timeout,
    )  # fmt: skip


def remote_tags(location: str, *, timeout: float = TIMEOUT_S) -> list[str]:
    """The tag names of the repository at ``location`` (``git ls-remote --tags``).

    Raises:
        GitLocationError: ``location`` could be read as an option or a command.
        GitError: git failed.
    """
    check_location(location)
    out = run("ls-remote", "--tags", "--refs", "--", location, timeout=timeout)
    return [
        line.rpartition("refs/tags/")[2]
        for line in out.decode("utf-8", "replace").splitlines()
        if "refs/tags/" in line
    ]
