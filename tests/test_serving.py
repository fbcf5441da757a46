"""The model server over real HTTP on loopback: SageMaker's contract, capture, shutdown."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from mlops.pipelines.serving import CaptureWriter, ModelServer, read_captured


def predict(rows: np.ndarray) -> np.ndarray:
    return rows.sum(axis=1)


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def server(lake):  # type: ignore[no-untyped-def]
    capture = CaptureWriter(lake, "churn-endpoint", flush_every=2, seed=1)
    running = ModelServer(predict, 3, port=0, capture=capture).start()
    yield running
    running.stop()


def test_ping(server: ModelServer) -> None:
    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
        assert response.status == 200 and json.loads(response.read()) == {"status": "healthy"}


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"instances": [[1, 2, 3], [4, 5, 6]]}', "application/json", [6.0, 15.0]),
        (b"[[1, 1, 1]]", "application/json; charset=utf-8", [3.0]),
        (b"1,2,3\n0.5,0.5,0\n", "text/csv", [6.0, 1.0]),
    ],
)
def test_json_and_csv(
    server: ModelServer, body: bytes, content_type: str, expected: list[float]
) -> None:
    assert post(server.url, body, content_type) == (200, {"predictions": expected})


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "cannot read rows"),
        (b'{"instances": [[1, 2]]}', "application/json", 400, "rows of 3 numbers"),
        (b'{"instances": []}', "application/json", 400, "non-empty list"),
        (b'{"instances": [[1, "x", 3]]}', "application/json", 400, '"x" is not a number'),
        (b"1,2,NaN\n", "text/csv", 400, "finite numbers"),
        (b"1,2\n", "text/csv", 400, "rows of 3 numbers"),
        (b"<xml/>", "application/xml", 415, "unsupported content type"),
    ],
)
def test_bad_payloads_get_4xx(
    server: ModelServer, body: bytes, content_type: str, status: int, message: str
) -> None:
    code, payload = post(server.url, body, content_type)
    assert code == status and message in payload["error"]
    assert server.served == 0


def test_unknown_paths_and_oversized_payloads(server: ModelServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/nope", timeout=5)
    assert info.value.code == 404
    info.value.close()
    big = b"[" + b",".join([b"[1,2,3]"] * 1_000_000) + b"]"  # 8 MB
    assert post(server.url, big)[0] == 413


def test_a_model_error_is_a_500_and_the_server_survives(lake) -> None:  # type: ignore[no-untyped-def]
    def broken(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("weights missing")

    running = ModelServer(broken, 3, port=0).start()
    try:
        code, payload = post(running.url, b"[[1,2,3]]")
        assert code == 500 and "weights missing" in payload["error"]
        with urllib.request.urlopen(f"{running.url}/ping", timeout=5) as response:
            assert response.status == 200
    finally:
        running.stop()


def test_capture_uses_sagemakers_json_lines_format(server: ModelServer, lake) -> None:  # type: ignore[no-untyped-def]
    post(server.url, b"1,2,3\n", "text/csv")
    post(server.url, b'{"instances": [[4, 5, 6]]}')
    assert server.capture is not None and server.capture.flush()  # written off the request path
    keys = list(lake.keys("capture", "churn-endpoint/"))
    assert len(keys) == 1  # flush_every=2
    parts = keys[0].split("/")
    assert (
        parts[:2] == ["churn-endpoint", "primary"]
        and len(parts) == 7
        and parts[-1].endswith(".jsonl")
    )
    events = [json.loads(line) for line in lake.get("capture", keys[0]).decode().splitlines()]
    first = events[0]
    assert first["eventVersion"] == "0" and first["eventMetadata"]["inferenceTime"].endswith("Z")
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "1,2,3\n",
        "encoding": "CSV",
    }
    assert first["captureData"]["endpointOutput"]["data"] == '{"predictions": [6.0]}'
    assert events[1]["captureData"]["endpointInput"]["encoding"] == "JSON"
    rows = read_captured(lake, "churn-endpoint", 3)
    assert [r.tolist() for r in rows] == [[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]]


def test_sampling_captures_a_share(lake) -> None:  # type: ignore[no-untyped-def]
    capture = CaptureWriter(lake, "sampled", sampling_percent=25, flush_every=1000, seed=3)
    for _ in range(400):
        capture.record(b"[[1,2,3]]", "application/json", "JSON", b"{}")
    assert 70 <= capture.captured <= 130  # 25% of 400, seeded


def test_stop_finishes_requests_in_flight_and_flushes(lake) -> None:  # type: ignore[no-untyped-def]
    def slow(rows: np.ndarray) -> np.ndarray:
        time.sleep(0.5)
        return rows.sum(axis=1)

    capture = CaptureWriter(lake, "graceful", flush_every=100)
    running = ModelServer(slow, 3, port=0, capture=capture).start()
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(answer=post(running.url, b"[[1,2,3]]")))
    worker.start()
    time.sleep(0.1)  # the request is in flight
    running.stop()
    worker.join()
    assert result["answer"] == (200, {"predictions": [6.0]})
    assert len(list(lake.keys("capture", "graceful/"))) == 1  # flushed on the way out


class StalledS3:
    """An S3 client whose writes wait for ``release`` (a paused S3) or always fail (S3 down)."""

    def __init__(self, fail: bool = False) -> None:
        self.release, self.fail, self.puts = threading.Event(), fail, 0

    def head_object(self, **_: object) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "404", "Message": "nf"}}, "HeadObject")

    def put_object(self, **_: object) -> None:
        from botocore.exceptions import EndpointConnectionError

        self.puts += 1
        if self.fail:
            raise EndpointConnectionError(endpoint_url="http://lake.internal:9000")
        self.release.wait(30)


def stalled_server(s3: StalledS3, **capture: object) -> tuple[ModelServer, CaptureWriter]:
    from mlops.pipelines.lake import Lake

    lake = Lake(s3, {"raw": "secret-raw-bucket-name"})
    capture.setdefault("flush_every", 1)
    writer = CaptureWriter(lake, "paused", **capture)  # type: ignore[arg-type]
    server = ModelServer(lambda rows: rows.sum(axis=1), 3, port=0, capture=writer).start()
    return server, writer


def test_inference_does_not_wait_for_a_paused_lake() -> None:
    s3 = StalledS3()
    server, writer = stalled_server(s3)
    try:
        # The first capture's write hangs on S3; requests keep being answered meanwhile.
        for i in range(20):
            code, payload = post(server.url, json.dumps({"instances": [[i, 1, 1]]}).encode())
            assert code == 200 and payload["predictions"] == [float(i + 2)]
        assert s3.puts == 1 and not s3.release.is_set()  # still stuck on the first write
        assert writer.captured == 20
    finally:
        s3.release.set()
        server.stop()
    assert writer.written + writer.dropped == 20


def test_an_unreachable_lake_drops_captures_and_tells_clients_nothing(caplog) -> None:  # type: ignore[no-untyped-def]
    s3 = StalledS3(fail=True)
    server, writer = stalled_server(s3, flush_every=30)
    try:
        for _ in range(60):  # beyond any old every-50 flush, which used to turn into 500s
            code, payload = post(server.url, b"[[1, 2, 3]]")
            assert code == 200 and "secret" not in json.dumps(payload)
        assert writer.flush(timeout=60)  # each refused batch is retried, then dropped
    finally:
        server.stop()
    assert writer.captured == 60 and writer.written == 0 and writer.dropped == 60
    assert "dropped" in caplog.text


def test_the_capture_queue_is_bounded_in_bytes() -> None:
    s3 = StalledS3()
    server, writer = stalled_server(s3, max_queued_bytes=4_000)
    try:
        big = json.dumps({"instances": [[1.5, 2.5, 3.5]] * 40}).encode()  # ~1.3 kB per capture
        for _ in range(12):
            assert post(server.url, big)[0] == 200
        assert writer._queued_bytes <= 4_000 and writer.dropped >= 8
    finally:
        s3.release.set()
        server.stop()


def raw_request(url: str, head: bytes, body: bytes = b"", wait: float = 10.0) -> bytes:
    """Send bytes as they are (no client fixes them up); return what the server answers."""
    import socket
    from urllib.parse import urlparse

    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port), timeout=wait) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ("Content-Length: abc", b"[[1,2,3]]", 400, "is not a size"),
        ("Content-Length: -1", b"[[1,2,3]]", 400, "is not a size"),
        ("Transfer-Encoding: chunked", b"9\r\n[[1,2,3]]\r\n0\r\n\r\n", 411, "chunked"),
        ("Content-Length: 99999999999999", b"", 413, "payload over"),
    ],
    ids=["length-text", "length-negative", "chunked", "length-huge"],
)
def test_bodies_that_cannot_be_read_get_a_4xx_before_any_read(
    server: ModelServer, headers: str, body: bytes, status: int, message: str
) -> None:
    head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"{headers}\r\n\r\n"
    answer = raw_request(server.url, head.encode(), body)
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:80]
    assert message.encode() in answer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "cannot read rows"),  # nested 100k deep
        (b"[[" + b"9" * 400 + b", 1, 2]]", "cannot read rows"),  # a 400-digit integer
        ("[[1, 2, 3]]".encode("utf-16"), "cannot read rows"),  # UTF-16
        (b'[["1", 2, 3]]', '"1" is not a number'),
        (b"[[true, 2, 3]]", "true is not a number"),
    ],
    ids=["deep", "huge-int", "utf16", "numeric-string", "boolean"],
)
def test_edge_json_gets_a_clear_400(server: ModelServer, body: bytes, message: str) -> None:
    code, payload = post(server.url, body)
    assert code == 400 and message in payload["error"]


def test_a_body_shorter_than_announced_frees_its_connection(server: ModelServer) -> None:
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer = raw_request(server.url, head, b"[[1,2,3]]")  # 9 bytes, then the client stops
    assert answer == b""  # nothing to score: the server closes instead of waiting for ever
    assert post(server.url, b"[[1,2,3]]")[0] == 200  # and goes on serving
