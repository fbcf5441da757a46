"""A stand-in Kubernetes API server on loopback, for the in-cluster drift check's tests.

It answers a GET with :attr:`FakeApi.cronjob` and echoes a POSTed object back (named from its
``generateName`` as the API server would), recording every request as
``(method, path, Authorization header, body)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEMPLATE = {"metadata": {"labels": {"mlops/role": "training"}}, "spec": {"backoffLimit": 2}}


class FakeApi(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, Any]] = []
    cronjob: dict[str, Any] = {"spec": {"jobTemplate": TEMPLATE}}

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers["Authorization"], None))
        self._answer(self.cronjob)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, self.headers["Authorization"], body))
        meta = body.get("metadata", {})
        if "generateName" in meta and "name" not in meta:
            meta = {**meta, "name": meta["generateName"] + "x7k2q"}
        self._answer({**body, "metadata": meta})

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def serve(cronjob: dict[str, Any] | None = None) -> Iterator[ThreadingHTTPServer]:
    """Run the stand-in on a free loopback port for the duration of the block."""
    FakeApi.seen = []
    FakeApi.cronjob = cronjob or {"spec": {"jobTemplate": TEMPLATE}}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
