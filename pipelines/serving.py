"""The model server: SageMaker's inference container contract, with data capture into the lake.

``GET /ping`` answers 200 once the model is loaded; ``POST /invocations`` takes JSON
(``{"instances": [[...], ...]}`` or a bare list of rows) or CSV rows and answers
``{"predictions": [...]}``. Bad payloads get a 4xx with the reason. Sampled requests and
responses are captured in SageMaker's data-capture JSON-lines format under the lake's
``capture/<endpoint>/<variant>/YYYY/MM/DD/HH/`` prefix. ``stop()`` drains requests in flight
and flushes captured records before returning. This is what the project image's ``serve`` runs.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from mlops.core.contracts import PRIMARY_VARIANT
from mlops.pipelines.lake import Lake

_log = logging.getLogger(__name__)

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's realtime request limit
DRAIN_LIMIT = 4 * MAX_PAYLOAD  # oversized bodies up to this are read and discarded, not held
Predict = Callable[[np.ndarray], np.ndarray]


class PayloadError(ValueError):
    """A request body the model cannot score; answered with a 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _discard(stream: Any, size: int) -> None:
    """Read and drop ``size`` bytes in small pieces."""
    while size > 0:
        chunk = stream.read(min(size, 64 * 1024))
        if not chunk:
            return
        size -= len(chunk)


def _require_numbers(rows: Any) -> None:
    """JSON rows must hold numbers: ``"3"`` or ``true`` are not read as 3 or 1."""
    if not isinstance(rows, list):
        raise PayloadError(400, 'expected {"instances": [[...], ...]} or a list of rows')
    for row in rows:
        if not isinstance(row, list):
            raise PayloadError(400, "each row must be a list of numbers")
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PayloadError(400, f"{json.dumps(value)[:40]} is not a number")


def parse_rows(body: bytes, content_type: str, width: int) -> tuple[np.ndarray, str]:
    """Rows from a JSON or CSV body, and the encoding SageMaker would record for it.

    Raises:
        PayloadError: unsupported content type (415), or unreadable rows (400).
    """
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "text/csv":
            lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
            rows: Any = [[float(v) for v in line.split(",")] for line in lines]
            encoding = "CSV"
        elif kind in ("application/json", ""):
            payload = json.loads(body.decode("utf-8"))
            rows = payload.get("instances") if isinstance(payload, dict) else payload
            _require_numbers(rows)
            encoding = "JSON"
        else:
            raise PayloadError(
                415, f"unsupported content type '{kind}'; send application/json or text/csv"
            )
        array = np.asarray(rows, dtype=np.float64)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(400, "cannot read rows: JSON nested too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadError(400, f"cannot read rows: {str(exc)[:200]}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != width:
        raise PayloadError(400, f"expected a non-empty list of rows of {width} numbers")
    if not np.all(np.isfinite(array)):
        raise PayloadError(400, "rows must hold finite numbers")
    return array, encoding


@dataclass
class CaptureWriter:
    """Captures sampled request/response pairs into the lake, off the request path.

    ``record`` only samples, formats and queues a line: it never waits on S3 and never fails
    an inference. A background writer drains the queue in objects of ``flush_every`` records
    (SageMaker's JSON-lines format and key layout), retrying through the lake's client. The
    queue is bounded in bytes: when the lake is slow or down and the queue is full, new
    captures are dropped and counted (``dropped``), as is a batch the lake keeps refusing,
    with a log line; inference goes on.

    Attributes:
        lake: where captures go (the ``capture`` place).
        endpoint: endpoint name, the first path element.
        variant: variant name, the second.
        sampling_percent: share of requests captured.
        flush_every: records per object.
        seed: seeds the sampler (tests); ``None`` for random.
        max_queued_bytes: the most captured data held in memory at once.
        flush_interval_s: a partial object is written after this long.
    """

    lake: Lake
    endpoint: str
    variant: str = PRIMARY_VARIANT
    sampling_percent: int = 100
    flush_every: int = 50
    seed: int | None = None
    max_queued_bytes: int = 16 * 1024 * 1024
    flush_interval_s: float = 5.0
    captured: int = 0
    dropped: int = 0
    written: int = 0
    _queue: list[str] = field(default_factory=list)
    _queued_bytes: int = 0
    _in_flight: int = 0
    _closed: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _rng: random.Random = field(init=False)
    _writer: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - sampling, not security

    def record(self, body: bytes, content_type: str, encoding: str, response: bytes) -> None:
        """Queue one exchange if it is sampled; never blocks on the lake, never raises."""
        with self._cond:
            if self._closed or self._rng.random() * 100 >= self.sampling_percent:
                return
            line = _capture_line(body, content_type, encoding, response)
            self.captured += 1
            if self._queued_bytes + len(line) > self.max_queued_bytes:
                self.dropped += 1
                return
            self._queue.append(line)
            self._queued_bytes += len(line)
            self._ensure_writer()
            if len(self._queue) >= self.flush_every:
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._ensure_writer()
            self._cond.notify_all()
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
                self._cond.notify_all()
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Flush within ``timeout``, then stop the writer; False if captures were left behind."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            left = len(self._queue)
            self.dropped += left
            self._queue.clear()
            self._cond.notify_all()
        if left:
            _log.warning("capture: %d record(s) not written before the deadline", left)
        return done

    def _ensure_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._drain, name="capture-writer", daemon=True)
            self._writer.start()

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(self.flush_interval_s)
                if self._closed and not self._queue:
                    return
                if not self._queue:
                    continue
                if len(self._queue) < self.flush_every:
                    self._cond.wait(self.flush_interval_s)  # a fuller object, unless flushed
                batch = self._queue[: self.flush_every]
                del self._queue[: len(batch)]
                self._queued_bytes -= sum(len(line) for line in batch)
                self._in_flight = len(batch)
            try:
                self._write(batch)
                with self._cond:
                    self.written += len(batch)
            except Exception as exc:  # noqa: BLE001 - capture must never take serving down
                with self._cond:
                    self.dropped += len(batch)
                _log.warning(
                    "capture: %d record(s) dropped, the lake refused them: %s", len(batch), exc
                )
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _write(self, batch: list[str]) -> None:
        now = datetime.now(UTC)
        # SageMaker's layout: <endpoint>/<variant>/YYYY/MM/DD/HH/<mm-ss-fff>-<id>.jsonl
        stamp = f"{now:%Y/%m/%d/%H}/{now:%M-%S-%f}"
        key = f"{self.endpoint}/{self.variant}/{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
        self.lake.put_once("capture", key, ("\n".join(batch) + "\n").encode())


def _capture_line(body: bytes, content_type: str, encoding: str, response: bytes) -> str:
    """One exchange in SageMaker's data-capture JSON-lines format."""
    now = datetime.now(UTC)
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": body.decode("utf-8", errors="replace"),
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": response.decode("utf-8"),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            "eventVersion": "0",
        }
    )


class _Server(ThreadingHTTPServer):
    """The threaded server with a listen backlog for bursts (http.server's default is 5)."""

    request_queue_size = 128


class ModelServer:
    """An HTTP server with SageMaker's inference contract around a ``predict`` function."""

    def __init__(
        self,
        predict: Predict,
        width: int,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.predict, self.width, self.capture = predict, width, capture
        self.served = 0
        self._counter = threading.Lock()
        self._httpd = _Server((host, port), self._handler())
        self._httpd.daemon_threads = False  # stop() waits for requests in flight
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080``."""
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    def start(self) -> ModelServer:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="model-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until :meth:`stop` is called from another."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop accepting, finish requests in flight, flush captures, close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join()
        if self.capture is not None:
            self.capture.close()  # within its deadline; what the lake refused is counted

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("BoundHandler", (_Handler,), {"model_server": self})


class _Handler(BaseHTTPRequestHandler):
    """SageMaker's inference contract over the bound :class:`ModelServer`."""

    protocol_version = "HTTP/1.1"
    # A client that stops sending (or an idle keep-alive connection) frees its thread after this
    # long, so shutdown is never held up by it.
    timeout = 30
    # Headers and body as two unbuffered writes meet Nagle's algorithm and the client's delayed
    # ACK on keep-alive connections: ~40 ms per request. Buffer the reply and send it at once.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    model_server: ModelServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/ping":
            self._reply(200, {"status": "healthy"})
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/invocations":
            self._reply(404, {"error": f"no such path {self.path}"})
            return
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client sent less than it announced, then went quiet
            self.close_connection = True
            return
        content_type = self.headers.get("Content-Type", "application/json")
        try:
            status, response = 200, self._invoke(body, content_type)
        except PayloadError as exc:
            self._reply(exc.status, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - a model error must not kill the server
            self._reply(500, {"error": f"model failed: {exc}"})
            return
        self._send(status, response)

    def _content_length(self) -> int | None:
        """The body's announced length, or None after answering why it cannot be read.

        Checked before anything is read: an oversized or unannounced body is refused without
        reading it, and the connection closed (its unread bytes would be the next request).
        """
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._refuse(411, "send a Content-Length; chunked bodies are not accepted")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._refuse(411, "send a Content-Length")
            return None
        if not raw.isdigit():
            self._refuse(400, f"Content-Length {raw[:20]!r} is not a size")
            return None
        if int(raw) > MAX_PAYLOAD:
            # Discard (never hold) a moderately oversized body so the client reads the 413
            # instead of a broken pipe; a huge one is not worth the wait: just close.
            if int(raw) <= DRAIN_LIMIT:
                _discard(self.rfile, int(raw))
            self._refuse(413, f"payload over {MAX_PAYLOAD} bytes")
            return None
        return int(raw)

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._reply(status, {"error": message})

    def _invoke(self, body: bytes, content_type: str) -> bytes:
        server = self.model_server
        rows, encoding = parse_rows(body, content_type, server.width)
        predictions = [round(float(p), 6) for p in server.predict(rows)]
        response = json.dumps({"predictions": predictions}).encode()
        with server._counter:
            server.served += 1
        if server.capture is not None:
            server.capture.record(body, content_type, encoding, response)
        return response

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # request logs would drown the progress display


def read_captured(lake: Lake, endpoint: str, width: int) -> list[np.ndarray]:
    """Every captured request's rows for an endpoint, oldest object first."""
    batches = []
    for key in sorted(lake.keys("capture", f"{endpoint}/")):
        for line in lake.get("capture", key).decode().splitlines():
            event = json.loads(line)["captureData"]["endpointInput"]
            kind = "text/csv" if event["encoding"] == "CSV" else "application/json"
            rows, _ = parse_rows(event["data"].encode(), kind, width)
            batches.append(rows)
    return batches
