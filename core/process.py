"""Start a helper process that outlives the command, and know when it is ready."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from mlops.core.errors import ExternalToolError

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
    with log.open("ab") as handle:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # noqa: S603 - our own modules, fixed arguments
            command, stdout=handle, stderr=handle, start_new_session=True
        )
    _DETACHED.append(proc)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ExternalToolError(what, f"it did not start; see {log}")
        time.sleep(0.05)
    return ready.read_text().strip(), proc.pid
