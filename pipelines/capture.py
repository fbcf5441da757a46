"""Data capture: sampled request/response pairs written into the lake, off the request path.

SageMaker's data-capture JSON-lines format and key layout
(``capture/<endpoint>/<variant>/YYYY/MM/DD/HH/<mm-ss-fff>-<id>.jsonl``), so the monitoring
step reads local and SageMaker capture the same way.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from mlops.core.contracts import PRIMARY_VARIANT
from mlops.pipelines.payload import RowSchema, parse_rows
from mlops.pipelines.ports import ObjectStore

_log = logging.getLogger(__name__)


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

    lake: ObjectStore
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
        self._rng = random.Random(self.seed)  # sampling, not security

    def record(
        self,
        body: bytes,
        content_type: str,
        encoding: str,
        response: bytes,
        inference_id: str = "",
    ) -> None:
        """Queue one exchange if it is sampled; never blocks on the lake, never raises.

        ``inference_id`` is the client's id for the request (SageMaker's
        ``X-Amzn-SageMaker-Inference-Id``), which ground-truth labels are later joined on.
        """
        with self._cond:
            if self._closed or self._rng.random() * 100 >= self.sampling_percent:
                return
            line = _capture_line(body, content_type, encoding, response, inference_id)
            self.captured += 1
            if self._queued_bytes + len(line) > self.max_queued_bytes:
                self.dropped += 1
                return
            self._queue.append(line)
            self._queued_bytes += len(line)
            self._ensure_writer()
            if len(self._queue) >= self.flush_every:
                self._cond.notify_all()

    @property
    def queued_bytes(self) -> int:
        """Captured bytes held in memory now, waiting for the writer (0 once all are written)."""
        with self._cond:
            return self._queued_bytes

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
            self._queued_bytes = 0
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
            except Exception as exc:  # capture must never take serving down
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


def _capture_line(
    body: bytes, content_type: str, encoding: str, response: bytes, inference_id: str = ""
) -> str:
    """One exchange in SageMaker's data-capture JSON-lines format."""
    now = datetime.now(UTC)
    metadata = {"eventId": str(uuid.uuid4())}
    if inference_id:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
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
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    )


def read_captured(lake: ObjectStore, endpoint: str, features: int | RowSchema) -> list[np.ndarray]:
    """Every captured request's rows for an endpoint, oldest object first."""
    batches = []
    for key in sorted(lake.keys("capture", f"{endpoint}/")):
        for line in lake.get("capture", key).decode().splitlines():
            event = json.loads(line)["captureData"]["endpointInput"]
            kind = "text/csv" if event["encoding"] == "CSV" else "application/json"
            rows, _ = parse_rows(event["data"].encode(), kind, features)
            batches.append(rows)
    return batches
