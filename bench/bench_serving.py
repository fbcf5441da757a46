"""Model server under load: req/s, p50, p99 and errors at 1, 8 and 64 clients, capture on.

The server runs in this process on 127.0.0.1 with the template's sklearn model and capture on.
The load comes from a second process: wrk where it is installed (``apt-get install wrk``: C, so
on a 2-core machine the server and not the client is measured), else an asyncio client over raw
sockets in Python. Keep-alive connections, or one connection per request. Errors count every
non-200 answer, reset, refused connection and timeout.

Peers in the same run:
- the in-process ``predict()`` loop on the same rows (what HTTP costs on top of the model);
- the previous server, the hand-rolled ``http.server`` one (``git show PEER:pipelines/serving.py``),
  at 8 keep-alive clients with capture on: the issue's baseline.

The lake is an in-memory S3 stand-in, so the figures measure the server and not moto; the
``--pause`` case holds every capture write for that long (S3 paused) while 8 clients keep going,
and compares p99 with the unpaused case.

Targets (issue 9): 0 errors at 64 clients; p99 <= 10 ms at 8 clients with capture on; at 8
clients at least 2x the previous server; paused S3: p99 within 2x.

Usage: python bench/bench_serving.py [--requests 4000] [--pause 15] [--peer 7cf8347]
(--requests: the Python driver's count per case; wrk runs 5 s a case)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core import git as gitcmd

ROOT = Path(__file__).resolve().parents[1]

DRIVER = r"""
import asyncio, json, sys, time
host, port, total, clients, keep, seconds = sys.argv[1:7]
port, total, clients, seconds = int(port), int(total), int(clients), float(seconds)
keep = keep == "1"
bodies = [json.dumps({"instances": [row]}).encode() for row in json.loads(sys.stdin.read())]
head = ("POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        + ("" if keep else "Connection: close\r\n") + "Content-Length: %d\r\n\r\n")
requests = [head.encode() % len(b) + b for b in bodies]
latencies, errors, kinds = [], 0, {}

async def answer(reader):
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(status_line.split()[1])

async def client(k, n, stop_at):
    global errors
    conn = None
    i = 0
    while (i < n) if not seconds else (time.perf_counter() < stop_at):
        request = requests[(k * 997 + i) % len(requests)]
        i += 1
        start = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            reader, writer = conn
            writer.write(request)
            status = await asyncio.wait_for(answer(reader), 10)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            latencies.append(time.perf_counter() - start)
        except Exception as exc:
            errors += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        if not keep:
            writer.close()
            conn = None
    if conn is not None:
        conn[1].close()

async def main():
    start = time.perf_counter()
    share = total // clients
    await asyncio.gather(*(client(k, share, start + seconds) for k in range(clients)))
    return time.perf_counter() - start

try:
    import uvloop
    run = uvloop.run
except ImportError:
    run = asyncio.run
took = run(main())
print(json.dumps({"seconds": took, "latencies": latencies, "errors": errors, "kinds": kinds}))
"""


class MemoryS3:
    """An S3 stand-in for capture writes: keeps bytes in memory; ``paused`` holds every write."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.resume = threading.Event()
        self.resume.set()

    def head_object(self, Bucket: str, Key: str) -> None:  # boto3's names
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.resume.wait()
        self.objects[Key] = Body


def model_and_rows() -> tuple[Any, Any, np.ndarray, Any]:
    from mlops.pipelines.data import DataContract, read_table, split
    from mlops.pipelines.model import load_trainer
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    project = Path(tempfile.mkdtemp()) / "bench-serve"
    Scaffold(validate_answers({"name": "bench-serve", "ci": "none"}), project, git=False).run()
    trainer = load_trainer(project, "bench_serve")
    contract = DataContract.load(project / "data" / "contract.yaml")
    train, _, test = split(read_table((project / "data" / "sample.csv").read_bytes(), "sample"))
    model = trainer.train(train.select(contract.features), train.column(contract.label), {})
    return trainer, model, test.select(contract.features), contract


WRK_SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"%s}, bodies[i])
end
"""


def wrk(url: str, rows: np.ndarray, clients: int, keep: bool, seconds: float) -> dict[str, Any]:
    """Run wrk; its figures in the Python driver's shape (latencies stand in as percentiles)."""
    bodies = ", ".join(json.dumps(json.dumps({"instances": [r]})) for r in rows.tolist()[:200])
    close = "" if keep else ', ["Connection"] = "close"'
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(WRK_SCRIPT % (bodies, close))
    threads = str(min(clients, 2))
    command = ["wrk", "-t", threads, "-c", str(clients), "-d", f"{seconds:g}s", "--latency"]
    out = subprocess.run(
        [*command, "-s", str(script), f"{url}/invocations"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, Any] = {"errors": 0, "kinds": {}}
    for raw in out.splitlines():
        words = raw.split()
        if words[:1] in (["50%"], ["99%"]):
            figures[words[0]] = _ms(words[1])
        elif raw.startswith("Requests/sec:"):
            figures["rps"] = float(words[1])
        elif raw.strip().startswith("Socket errors:"):
            for kind, count in zip(words[2::2], words[3::2], strict=True):
                if int(count.rstrip(",")):
                    figures["kinds"][kind] = int(count.rstrip(","))
        elif raw.strip().startswith("Non-2xx"):
            figures["kinds"]["non-2xx"] = int(words[-1])
    figures["errors"] = sum(figures["kinds"].values())
    return figures


def _ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(text)


def drive(
    url: str, rows: np.ndarray, total: int, clients: int, keep: bool, seconds: float = 0
) -> dict[str, Any]:
    """Load from a second process: wrk for ``seconds`` where installed, else the Python driver."""
    if shutil.which("wrk"):
        return wrk(url, rows, clients, keep, seconds or 5.0)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    args = [host, port, str(total), str(clients), "1" if keep else "0", str(seconds)]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        input=json.dumps(rows.tolist()),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def line(label: str, result: dict[str, Any]) -> dict[str, float]:
    if "rps" in result:  # wrk's own figures
        figures = {"rps": result["rps"], "p50": result["50%"], "p99": result["99%"]}
    else:
        ms = np.asarray(result["latencies"]) * 1000
        figures = {
            "rps": len(ms) / result["seconds"],
            "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        }
    figures["errors"] = result["errors"]
    kinds = ", ".join(f"{k} {v}" for k, v in result["kinds"].items())
    print(
        f"{label:<44} {figures['rps']:>8.0f} {figures['p50']:>8.2f} {figures['p99']:>8.2f}"
        f" {result['errors']:>7}  {kinds}"
    )
    return figures


def previous_server(commit: str) -> Any:
    """The server module as it was at ``commit``, or None where git cannot show it."""
    try:
        shown = gitcmd.run("-C", str(ROOT), "show", f"{commit}:pipelines/serving.py")
        source = shown.decode()
    except gitcmd.GitError:
        return None
    path = Path(tempfile.mkdtemp()) / "previous_serving.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_serving", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def serve(module: Any, predict: Any, features: Any, s3: MemoryS3) -> Any:
    from mlops.pipelines.lake import Lake

    lake = Lake(s3, {"raw": "bench-raw"})
    capture = module.CaptureWriter(lake, "bench", flush_every=50)
    return module.ModelServer(predict, features, port=0, capture=capture).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--pause", type=float, default=15.0, help="seconds S3 is paused (0: skip)")
    parser.add_argument("--peer", default="7cf8347", help="commit of the previous server")
    args = parser.parse_args()
    from mlops.pipelines import serving
    from mlops.pipelines.payload import RowSchema

    trainer, model, rows, contract = model_and_rows()

    def predict(batch: np.ndarray) -> np.ndarray:
        return trainer.predict_proba(model, batch)

    latencies = []
    start = time.perf_counter()
    for i in range(args.requests):
        t = time.perf_counter()
        predict(rows[i % len(rows)][None, :])
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - start
    loop = {"seconds": seconds, "latencies": latencies, "errors": 0, "kinds": {}}
    generator = "wrk" if shutil.which("wrk") else "a Python driver (wrk is truer)"
    print(f"load generator: {generator}, in its own process")
    print(f"{'case (capture on)':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    line("peer: in-process predict() loop, 1 row", loop)

    figures: dict[str, dict[str, float]] = {}
    old = previous_server(args.peer)
    if old is not None:
        server = serve(old, predict, rows.shape[1], MemoryS3())
        try:
            result = drive(server.url, rows, args.requests, 8, True)
            figures["peer"] = line(f"peer: previous server ({args.peer}), 8 keep-alive", result)
        finally:
            server.stop()
    else:
        print(f"peer: previous server skipped (git cannot show {args.peer})")

    s3 = MemoryS3()
    server = serve(serving, predict, RowSchema.from_contract(contract), s3)
    try:
        for clients in (1, 8, 64):
            for keep in (True, False):
                mode = "keep-alive" if keep else "new connection each"
                result = drive(server.url, rows, args.requests, clients, keep)
                label = f"uvicorn server, {clients} clients, {mode}"
                figures[f"{clients}-{keep}"] = line(label, result)
        if args.pause:
            steady = drive(server.url, rows, 0, 8, True, seconds=args.pause)
            figures["steady"] = line(f"8 keep-alive, {args.pause:g} s, S3 answering", steady)
            s3.resume.clear()
            threading.Timer(args.pause, s3.resume.set).start()
            paused = drive(server.url, rows, 0, 8, True, seconds=args.pause)
            figures["paused"] = line(f"8 keep-alive, {args.pause:g} s, S3 paused", paused)
            s3.resume.set()
    finally:
        server.stop()
    capture = server.capture
    print(
        f"captured {capture.captured}, written {capture.written}, dropped {capture.dropped}"
        f" (queue bound {capture.max_queued_bytes // 2**20} MiB); {args.requests} requests a case,"
        " loopback only"
    )
    errors_64 = figures["64-True"]["errors"] + figures["64-False"]["errors"]
    verdicts = [
        ("0 errors at 64 clients", errors_64 == 0),
        ("p99 <= 10 ms at 8 clients", figures["8-True"]["p99"] <= 10.0),
    ]
    if "peer" in figures:
        ratio = figures["8-True"]["rps"] / figures["peer"]["rps"]
        verdicts.append((f"8 clients: {ratio:.1f}x the previous server (target 2x)", ratio >= 2))
    if args.pause:
        ratio = figures["paused"]["p99"] / figures["steady"]["p99"]
        verdicts.append((f"paused S3: p99 {ratio:.2f}x the steady p99 (target <= 2x)", ratio <= 2))
    for name, met in verdicts:
        print(f"{'met' if met else 'MISSED'}: {name}")


if __name__ == "__main__":
    main()
