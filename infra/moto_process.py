"""The embedded AWS endpoint as its own process: ``python -m mlops.infra.moto_process``.

Binds 127.0.0.1 on a free port, writes the URL to ``--ready-file`` once it answers, and runs
until terminated. Local mode starts it in a new session so it outlives the CLI command.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Serve moto on loopback until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m mlops.infra.moto_process")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(f"http://{host}:{port}")
    tmp.replace(args.ready_file)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
