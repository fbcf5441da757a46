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
        (b'{"instances": [[1, "x", 3]]}', "application/json", 400, "cannot read rows"),
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
