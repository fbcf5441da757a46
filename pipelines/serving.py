"""The model server: SageMaker's inference container contract on uvicorn, with data capture.

``GET /ping`` answers 200 once the model is loaded; ``POST /invocations`` takes JSON
(``{"instances": [...]}``, a bare list, or one object; rows positional lists or objects of named
features) or CSV rows and answers ``{"predictions": [...]}``; bad payloads get a 4xx with the
reason (:mod:`.payload`). Requests are checked against the contract the model was trained on,
which its artifact carries (:func:`load_model`); an artifact made before models carried one is
checked against the project's contract. Captured
exchanges go to the lake off the request path (:mod:`.capture`). This is what the project
image's ``serve`` runs (on :data:`~mlops.core.contracts.SERVING_PORT`), what ``mlops serve``
and the demo run locally: all through :func:`serve_model`.

The HTTP side is uvicorn (httptools parser, uvloop where installed) with every limit set
(:class:`Limits`): body size checked before a byte of it is read, header size, a deadline for a
request to arrive, keep-alive, a connection cap answered with 503, a listen backlog, and a
graceful drain on SIGTERM that closes idle connections at once, lets requests in flight finish
within a deadline, then flushes captured data within what is left of it.

Concurrent requests are scored together (:class:`Batcher`): a small model's cost is mostly per
call, so rows that arrive while the model is busy share the next call. The model runs on one
thread of its own, so ``/ping`` answers while it works and the model needs no locking.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.contracts import SERVING_PORT
from mlops.pipelines.capture import CaptureWriter
from mlops.pipelines.data import DataContract
from mlops.pipelines.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlops.pipelines.metrics import ServerMetrics
from mlops.pipelines.model import ModelContract, Trainer, read_model_contract, unpack_with_contract
from mlops.pipelines.payload import MAX_PAYLOAD, PayloadError, RowSchema, parse_rows
from mlops.pipelines.ports import ObjectStore
from mlops.pipelines.uvicorn_server import Limits, build_server

_log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DRAIN_LIMIT = 4 * MAX_PAYLOAD  # oversized bodies up to this are read and discarded, not held
PARSE_INLINE = 64 * 1024  # bodies up to this are parsed on the event loop, larger ones off it
# The client's id for a request, as SageMaker takes it: captured, so labels can be joined later.
INFERENCE_ID_HEADER = b"x-amzn-sagemaker-inference-id"


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and what its requests are checked against.

    Attributes:
        trainer: the project's training module (its ``predict_proba``).
        model: the loaded model.
        schema: the request rows' features, from the model's own contract.
        contract: that contract.
        own_contract: whether the artifact carried it (False: the project's, for an artifact
            made before models carried their contract).
    """

    trainer: Trainer
    model: Any
    schema: RowSchema
    contract: DataContract
    own_contract: bool

    @classmethod
    def of(
        cls, trainer: Trainer, model: Any, carried: ModelContract | None, project: DataContract
    ) -> ServedModel:
        """Serve ``model`` under the contract it carries, else under the project's."""
        if carried is None:
            return cls(trainer, model, RowSchema.from_contract(project), project, False)
        schema = RowSchema.from_contract(carried.contract, carried.columns)
        return cls(trainer, model, schema, carried.contract, True)

    @classmethod
    def from_artifact(cls, trainer: Trainer, artifact: bytes, project: DataContract) -> ServedModel:
        """Serve a ``model.tar.gz`` (as the lake keeps it) under the contract it carries."""
        return cls.of(trainer, *unpack_with_contract(trainer, artifact), project)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Scores of parsed rows: the model's ``predict_proba`` on its own kind of input."""
        return np.asarray(self.trainer.predict_proba(self.model, self.schema.model_input(rows)))


def load_model(trainer: Trainer, directory: Path, project: DataContract) -> ServedModel:
    """Load an unpacked model directory with the contract it carries (or the project's).

    Raises:
        UserError: the stored contract is unreadable.
    """
    return ServedModel.of(trainer, trainer.load(directory), read_model_contract(directory), project)


@dataclass(frozen=True)
class Capture:
    """Where a server captures its traffic, as an endpoint's data capture would.

    Attributes:
        lake: the lake (its ``capture`` place).
        endpoint: the endpoint's name, the captures' first path element.
        sampling_percent: share of requests captured.
        flush_every: records per captured object.
        seed: seeds the sampler (a repeatable demo); None for random.
    """

    lake: ObjectStore
    endpoint: str
    sampling_percent: int = 100
    flush_every: int = 50
    seed: int | None = None

    def writer(self) -> CaptureWriter:
        """A writer for this capture."""
        return CaptureWriter(
            self.lake,
            self.endpoint,
            sampling_percent=self.sampling_percent,
            flush_every=self.flush_every,
            seed=self.seed,
        )


def serve_model(
    served: ServedModel,
    capture: Capture | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = SERVING_PORT,
) -> ModelServer:
    """The one way a model is put behind the inference contract (not started yet).

    The image's ``serve`` (SageMaker, Kubernetes), ``mlops serve`` and the demo all call it.

    Raises:
        OSError: the address cannot be listened on (the port is taken, say).
    """
    writer = capture.writer() if capture is not None else None
    return ModelServer(served.predict, served.schema, host=host, port=port, capture=writer)


class Batcher:
    """Scores the rows of concurrent requests in one ``predict`` call, one call at a time.

    While the model works on a batch, arriving requests wait; when it is done, everything
    waiting (up to ``max_rows``) goes into the next call. A lone request is scored at once, so
    an idle server adds no delay. (TorchServe and Triton call this dynamic batching.) If a
    shared call fails, each request in it is retried alone, so one bad request fails only itself.

    Where a call runs: a model whose calls take under ``inline_s`` (a linear model, a small
    tree ensemble) is called on the event loop, because handing it to a thread costs more than
    the call and /ping waits at most that long. A slower model (or one not yet timed) runs on a
    thread of its own, so /ping and the reading of other requests never wait on it.
    """

    def __init__(
        self,
        predict: Predict,
        max_rows: int,
        inline_s: float = 0.002,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        self.predict, self.max_rows, self.inline_s = predict, max_rows, inline_s
        self.on_call = on_call
        self.calls = 0
        self.call_s = float("inf")  # a moving average of the recent calls' duration
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="predict")
        self._waiting: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Predictions for ``rows``, scored alone or with other requests' rows."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append((rows, future))
        if self._worker is None:
            self._worker = loop.create_task(self._drain())
        return await future

    def close(self) -> None:
        """Release the model's thread once the call on it (if any) returns."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._score(self._take())
        finally:
            self._worker = None  # no await since the queue was seen empty: nothing is stranded

    def _take(self) -> list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]:
        taken: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        rows = 0
        while self._waiting and (not taken or rows + len(self._waiting[0][0]) <= self.max_rows):
            item = self._waiting.pop(0)
            taken.append(item)
            rows += len(item[0])
        return taken

    async def _score(self, batch: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]) -> None:
        live = [(rows, future) for rows, future in batch if not future.done()]
        if not live:
            return
        rows = [r for r, _ in live]
        try:
            if self.call_s < self.inline_s:
                parts = self._predict(rows)
            else:
                parts = await asyncio.get_running_loop().run_in_executor(
                    self._pool, self._predict, rows
                )
        except Exception as exc:  # handed to the requests, which answer 500
            if len(live) == 1:
                if not live[0][1].done():
                    live[0][1].set_exception(exc)
                return
            for item in live:  # find the request that broke the shared call
                await self._score([item])
            return
        for (_, future), part in zip(live, parts, strict=True):
            if not future.done():
                future.set_result(part)

    def _predict(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        stacked = parts[0] if len(parts) == 1 else np.vstack(parts)
        self.calls += 1
        if self.on_call is not None:
            self.on_call(len(stacked))
        started = time.perf_counter()
        out = np.asarray(self.predict(stacked))
        took = time.perf_counter() - started
        self.call_s = took if self.call_s == float("inf") else 0.8 * self.call_s + 0.2 * took
        if out.shape[:1] != (len(stacked),):
            raise ValueError(f"the model returned {out.shape[:1]} predictions for {len(stacked)}")
        return np.split(out, np.cumsum([len(p) for p in parts])[:-1])


class InferenceApp:
    """SageMaker's inference contract as an ASGI application."""

    def __init__(
        self, predict: Predict, schema: RowSchema, capture: CaptureWriter | None, limits: Limits
    ) -> None:
        self.schema, self.capture, self.limits = schema, capture, limits
        self.metrics = ServerMetrics(capture)
        self.batcher = Batcher(
            predict, limits.max_batch_rows, on_call=self.metrics.batch_rows.observe
        )
        self.served = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        """Route one request, and count it."""
        if scope["type"] != "http":
            return
        started, status = time.perf_counter(), [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._route(scope, receive, sending)
        finally:
            self.metrics.observe(scope["path"], status[0], time.perf_counter() - started)

    async def _route(self, scope: Message, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/metrics" and method == "GET":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", METRICS_CONTENT_TYPE.encode())],
                }
            )
            await send({"type": "http.response.body", "body": self.metrics.render()})
        elif path == "/ping":
            if method in ("GET", "HEAD"):
                await _reply(send, 200, {"status": "healthy"})
            else:
                await _reply(send, 405, {"error": "use GET /ping"})
        elif path == "/invocations":
            if method == "POST":
                await self._invocations(scope, receive, send)
            else:
                await _reply(send, 405, {"error": "use POST /invocations"})
        else:
            await _reply(send, 404, {"error": "no such path; use GET /ping or POST /invocations"})

    async def _invocations(self, scope: Message, receive: Receive, send: Send) -> None:
        headers = {name: value for name, value in scope["headers"]}
        # The parser has already refused a malformed Content-Length (400).
        announced = headers.get(b"content-length")
        if announced is not None and int(announced) > self.limits.max_body:
            # Discard (never hold) a moderately oversized body so the client reads the 413
            # instead of a broken pipe; a huge one is not worth the wait: just close.
            if int(announced) <= DRAIN_LIMIT:
                await _discard(receive, DRAIN_LIMIT)
            await _reply(send, 413, {"error": f"payload over {self.limits.max_body} bytes"}, True)
            return
        body = await _read_body(receive, self.limits.max_body)
        if body is None:
            return  # the client went away (or its request timed out): nobody to answer
        if len(body) > self.limits.max_body:  # a chunked body that grew too large
            await _reply(send, 413, {"error": f"payload over {self.limits.max_body} bytes"}, True)
            return
        content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
        inference_id = headers.get(INFERENCE_ID_HEADER, b"").decode("latin-1")
        if inference_id and (len(inference_id) > 64 or not inference_id.isprintable()):
            await _reply(
                send, 400, {"error": "X-Amzn-SageMaker-Inference-Id: 1-64 printable characters"}
            )
            return
        try:
            if len(body) <= PARSE_INLINE:
                rows, encoding = parse_rows(body, content_type, self.schema)
            else:  # a large body takes milliseconds to parse: not on the loop that answers /ping
                rows, encoding = await asyncio.to_thread(
                    parse_rows, body, content_type, self.schema
                )
            predictions = await self.batcher(rows)
        except PayloadError as exc:
            await _reply(send, exc.status, {"error": str(exc)})
            return
        except Exception:  # a model error must not kill the server
            _log.exception("the model failed on a request")
            self.metrics.model_errors.inc()
            # The model's own message may name paths or hosts: it goes to the log, not the client.
            await _reply(send, 500, {"error": "the model failed on this request; see the log"})
            return
        response = json.dumps({"predictions": [round(float(p), 6) for p in predictions]}).encode()
        self.served += 1
        if self.capture is not None:
            # queues; never waits
            self.capture.record(body, content_type, encoding, response, inference_id)
        await _send(send, 200, response)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or ``limit + 1`` bytes of it if it is longer; None on disconnect."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"x" * (limit + 1)  # the caller only needs to know it is too long
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _discard(receive: Receive, limit: int) -> None:
    """Read and drop a body, up to ``limit`` bytes."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
        size += len(message.get("body", b""))


async def _reply(send: Send, status: int, payload: dict[str, Any], close: bool = False) -> None:
    await _send(send, status, json.dumps(payload).encode(), close)


async def _send(send: Send, status: int, body: bytes, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:  # its unread bytes would otherwise be taken for the next request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket, so a taken port fails here and ``port=0`` has a number at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ModelServer:
    """SageMaker's inference contract around a ``predict`` function, on uvicorn.

    ``features`` is the row width, or a :class:`RowSchema` (from the data contract) that also
    names the features and says which must be whole numbers.

    Raises:
        OSError: the address cannot be listened on (the port is taken, say).
    """

    def __init__(
        self,
        predict: Predict,
        features: int | RowSchema,
        *,
        host: str = "127.0.0.1",
        port: int = SERVING_PORT,
        capture: CaptureWriter | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.capture, self.limits = capture, limits or Limits()
        self.app = InferenceApp(predict, RowSchema.of(features), capture, self.limits)
        self._socket = _listen(host, port, self.limits.backlog)
        self._server = build_server(self.app, self.limits)
        self._thread: threading.Thread | None = None
        self._stopping: float | None = None
        self._finished = False

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080``."""
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def served(self) -> int:
        """Requests answered with predictions."""
        return self.app.served

    def start(self) -> ModelServer:
        """Serve on a background thread; returns once it accepts requests."""
        self._thread = threading.Thread(target=self._run, name="model-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the model server did not start within 30 s")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until SIGTERM, Ctrl-C or :meth:`stop` from another thread.

        The first signal drains (see :class:`Limits`); a second Ctrl-C stops at once.
        """
        main = threading.current_thread() is threading.main_thread()
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in ((signal.SIGTERM, signal.SIGINT) if main else ())
        }
        try:
            self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._finish()

    def stop(self) -> None:
        """Stop accepting, close idle connections, finish requests in flight, flush captures.

        All within ``limits.drain_s``.
        """
        self._begin_stop()
        if self._thread is not None:
            self._thread.join(self.limits.drain_s + 5)
        self._finish()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._server.should_exit and signum == signal.SIGINT:
            self._server.force_exit = True
        self._begin_stop()

    def _begin_stop(self) -> None:
        if self._stopping is None:
            self._stopping = time.monotonic()
        self._server.should_exit = True

    def _run(self) -> None:
        with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
            runner.run(self._server.serve(sockets=[self._socket]))

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._socket.close()
        self.app.batcher.close()
        if self.capture is not None:
            started = self._stopping or time.monotonic()
            left = self.limits.drain_s - (time.monotonic() - started)
            self.capture.close(timeout=max(0.5, left))  # what is left behind is counted
