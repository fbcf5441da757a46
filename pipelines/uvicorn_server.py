"""uvicorn, configured for the model server: every limit set, signals left to the owner.

uvicorn bounds idle keep-alive connections, open connections (503 beyond the cap), the backlog
and the graceful drain. Two things it leaves open are closed here, in its httptools protocol:
a request that is slow to arrive (a client sending headers or body a byte at a time holds its
connection for ever) and the size of the headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlops.pipelines.payload import MAX_PAYLOAD

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class Limits:
    """What one server accepts, and how long it waits for whom.

    Attributes:
        max_body: the largest request body (SageMaker's realtime limit, 6 MB); a larger
            announced size is refused before anything is read.
        max_header_bytes: request line and headers together; more is a 431.
        request_timeout_s: a request's headers and body must arrive within this; a client that
            stops sending is answered 408 and its connection closed.
        keepalive_s: an idle keep-alive connection is closed after this long.
        max_connections: beyond this many open connections, requests get a 503.
        backlog: connections the kernel queues before the server accepts them.
        drain_s: on SIGTERM or stop(), the deadline for requests in flight and the capture flush
            together; idle connections are closed at once.
        max_batch_rows: the most rows scored in one ``predict`` call.
    """

    max_body: int = MAX_PAYLOAD
    max_header_bytes: int = 16 * 1024
    request_timeout_s: float = 30.0
    keepalive_s: int = 60
    max_connections: int = 1000
    backlog: int = 2048
    drain_s: float = 20.0
    max_batch_rows: int = 512

    @property
    def capture_reserve_s(self) -> float:
        """The part of the drain deadline kept for flushing captured data."""
        return min(5.0, self.drain_s / 4)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and a deadline for each request."""

    limits: Limits = Limits()
    _head_bytes = 0
    _refused = False
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first request must arrive in time, too."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Ignore whatever follows a refusal."""
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        """A request starts: count its header bytes, and give it ``request_timeout_s``."""
        super().on_message_begin()
        self._head_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        """Count the request line."""
        if self._count(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header."""
        if self._count(len(name) + len(value) + 4):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Hand the request to the app unless it was refused."""
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Pass body bytes on unless the request was refused."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The request arrived in time."""
        self._disarm()
        if not self._refused:
            super().on_message_complete()

    def _count(self, size: int) -> bool:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes and not self._refused:
            self._refuse(431, f"request headers over {self.limits.max_header_bytes} bytes")
        return not self._refused

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app is already answering: nothing more to say
        else:
            seconds = f"{self.limits.request_timeout_s:g}"
            self._refuse(408, f"the request did not arrive within {seconds} s")

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()


class Server(uvicorn.Server):
    """uvicorn's server; its owner handles signals, and no connection outlives the drain."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the owner.

        uvicorn would re-raise SIGTERM after its shutdown, ending the process before captured
        data is flushed.
        """
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Uvicorn's drain, then close what it leaves open.

        Past the deadline uvicorn cancels the requests but leaves their connections (and any
        slow client's) open: the drain is over, so they are closed.
        """
        await super().shutdown(sockets)
        for connection in list(self.server_state.connections):
            connection.transport.close()
        await asyncio.sleep(0)


def build_server(app: Any, limits: Limits) -> Server:
    """A uvicorn server for ``app`` (ASGI 3) with ``limits``; serve it on your own socket."""
    protocol = type("BoundProtocol", (GuardedProtocol,), {"limits": limits})
    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        http=protocol,
        backlog=limits.backlog,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keepalive_s,
        # Fractions work (asyncio.wait_for); uvicorn's annotation says int.
        timeout_graceful_shutdown=max(0.5, limits.drain_s - limits.capture_reserve_s),  # type: ignore[arg-type]
        log_config=None,  # leave the process's logging alone
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # nothing is trusted to say who the client is
    )
    return Server(config)
