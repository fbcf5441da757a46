"""The embedded AWS endpoint as its own process: ``python -m mlops.infra.moto_process``.

Binds 127.0.0.1 on a free port, writes the URL to ``--ready-file`` once it answers, and runs
until terminated. Local mode starts it in a new session so it outlives the CLI command.

Before anything else it records itself in ``--pid-file`` (its pid and start time): an endpoint
whose ``mlops local up`` was killed before any state was written is still found, verified (its
command line carries ``--project`` with the project's path) and stopped by ``mlops local down``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from mlops.core.process import start_time

SHUTDOWN_S = 3.0  # how long moto may take to finish requests in flight once told to stop


def write_pid_file(path: Path, project: str) -> None:
    """Record this process (pid, start time, project) in ``path``, atomically."""
    pid = os.getpid()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{pid}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "started": start_time(pid), "project": project}))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Serve moto on loopback until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m mlops.infra.moto_process")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--pid-file", type=Path, default=None)
    parser.add_argument("--project", default="")
    args = parser.parse_args(argv)
    if args.pid_file is not None:
        write_pid_file(args.pid_file, args.project)
    from mlops.infra.local_runtime import EmbeddedServer, registry_file

    # moto, with InvokeEndpoint of the endpoints `mlops deploy` recorded sent to their servers.
    registry = registry_file(Path(args.project)) if args.project else None
    server = EmbeddedServer("127.0.0.1", args.port, registry).start()
    host, port = server.get_host_and_port()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(f"http://{host}:{port}")
    tmp.replace(args.ready_file)
    stop.wait()
    # moto's shutdown waits for requests in flight; a client killed mid-request must not keep
    # this process alive, so the shutdown gets a deadline and the process exits regardless.
    closing = threading.Thread(target=server.stop, daemon=True)
    closing.start()
    closing.join(SHUTDOWN_S)
    if args.pid_file is not None:
        try:
            if json.loads(args.pid_file.read_text()).get("pid") == os.getpid():
                args.pid_file.unlink()
        except (OSError, ValueError, AttributeError):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
