"""Start a helper process that outlives the command, and know when it is ready."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlops.core.errors import ExternalToolError, UserError

# Detached helpers outlive this command on purpose; holding them keeps Python from warning
# that a child is still running when its Popen object goes away.
_DETACHED: list[subprocess.Popen[bytes]] = []


def start_detached(
    command: list[str], ready: Path, log: Path, what: str, timeout: float = 60.0
) -> tuple[str, int]:
    """Run ``command`` in its own session; wait until it writes ``ready``.

    The child writes what callers need (its URL) into ``ready`` once it serves; its output goes
    to ``log``. Returns the ready file's text and the child's pid.

    Raises:
        ExternalToolError: the child exited, or was not ready within ``timeout`` (it is killed).
    """
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    with private_append(log) as handle:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # our own modules, fixed arguments
            command, stdout=handle, stderr=handle, start_new_session=True
        )
    _DETACHED.append(proc)
    deadline = time.monotonic() + timeout
    try:
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ExternalToolError(what, f"it did not start; see {log}")
            time.sleep(0.05)
    except BaseException:  # failed, timed out or interrupted: nothing is left running
        proc.kill()
        raise
    return ready.read_text().strip(), proc.pid


def start_time(pid: int) -> int:
    """When process ``pid`` started, in clock ticks since boot; 0 when it cannot be read.

    A pid and its start time together name one process: a pid reused by another program
    later has a later start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # Field 22, counted after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else 0


def owned_by_us(pid: int) -> bool:
    """Whether process ``pid`` runs as this user: its real and effective uid are ours.

    Read from the ``Uid:`` line of ``/proc/<pid>/status``, not from the owner of ``/proc/<pid>``:
    a process that makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``, any user may) has
    its ``/proc`` entry owned by root, which would pass for ours whenever mlops runs as root.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("Uid:"):
            ids = line.split()[1:3]  # real, effective (then saved, filesystem)
            return len(ids) == 2 and all(i.isdigit() and int(i) == os.getuid() for i in ids)
    return False


def runs_python(pid: int) -> bool:
    """Whether process ``pid``'s executable is a Python interpreter.

    Either the very interpreter running this code, or any file whose name starts with
    ``python`` (``python3.11``: another virtual environment's, or the endpoint was started by a
    different mlops install). Not only ours: a later command may run under another interpreter
    than the ``up`` that started the process, and a process that fails verification is never
    stopped either, so too strict a check would leave endpoints running. A Python upgraded
    while the process runs reads as ``... (deleted)``; that suffix is ignored.
    """
    try:
        exe = str(Path(f"/proc/{pid}/exe").readlink()).removesuffix(" (deleted)")
    except OSError:
        return False
    return Path(exe).name.startswith("python") or exe == os.path.realpath(sys.executable)


def verified(
    pid: int, started: int, *words: str, exact: Sequence[str] = (), module: str = ""
) -> bool:
    """Whether ``pid`` is the process we started.

    Only a process verified this way is used or ever signalled: a recorded pid may belong to
    another program by now, and the record itself (a project's state file) is untrusted. Each
    check closes a way to pass for the process we started:

    - the process runs as this user (:func:`owned_by_us`): command lines, pids and start times
      of every process are readable by everyone in ``/proc``, so another local user could start
      one that matches them all; as root every ``/proc`` entry is readable, so without this
      check any user's process could pass (a process of this same user is not defended
      against: that user already owns the account);
    - where ``started`` was recorded, its start time matches: a pid reused by another program
      later has a later start time;
    - all of ``words`` are on its command line, and each of ``exact`` is one of its arguments
      as a whole (``--project`` and the project's path: the process was started for it);
    - with ``module``, it was started as ``<python> -m <module>`` and its executable is a
      Python interpreter (:func:`runs_python`): the words alone can sit anywhere on the command
      line of any program (``sh -c '...' mlops.infra.moto_process --project P``, or
      ``python -c CODE`` followed by them).
    """
    if pid <= 0 or not owned_by_us(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [part.decode(errors="replace") for part in cmdline]
    if not (args and all(any(w in a for a in args) for w in words)):
        return False
    if not all(e in args for e in exact):
        return False
    if module and (args[1:3] != ["-m", module] or not runs_python(pid)):
        return False
    return not started or start_time(pid) == started


def private_append(path: Path) -> BinaryIO:
    """Open a state file of the project's (a log, a lock) for appending, never through a link.

    Local state is untrusted input: a link planted at ``path`` would make the tool write (or
    create) a file outside the project. The file is created for this user only, and must be a
    regular file of this user.

    Raises:
        UserError: ``path`` is a link, or not a regular file of this user.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(
                f"{path} is a link; remove it (local state is never followed)"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise UserError(f"{path} is not a regular file of this user; remove it")
    return os.fdopen(fd, "ab")


@contextmanager
def file_lock(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) while the block runs.

    Another holder (another process, or another thread with its own handle) makes this wait up
    to ``timeout`` seconds. The lock goes with the process, so one killed while holding it
    never blocks the next.

    Raises:
        UserError: still held by another after ``timeout``; the message is ``busy`` and the
            lock file.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with private_append(path) as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(f"{busy} (lock: {path})") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def listens_on(pid: int, port: int) -> bool | None:
    """Whether ``pid`` holds the socket listening on TCP ``port``; None where /proc cannot tell."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth field.
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                listening.add(parts[9])
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            return True
    return False


def run_tool(args: list[str], what: str, timeout: float, stdin: str | None = None) -> str:
    """Run an external tool (kind, kubectl...) to completion; return its output.

    Raises:
        ExternalToolError: it failed (the end of its own message is passed on) or did not
            finish within ``timeout``.
    """
    try:
        proc = subprocess.run(  # our callers' fixed arguments
            args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExternalToolError(args[0], f"{what} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise ExternalToolError(args[0], f"{what} failed: {(proc.stderr or proc.stdout)[-800:]}")
    return proc.stdout
