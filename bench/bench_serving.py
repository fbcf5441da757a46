"""Model server throughput and latency for /invocations with the sklearn template model.

The server runs in this process on 127.0.0.1; the load comes from a second process over
loopback (persistent HTTP/1.1 connections, a fixed request count, then it stops). The peer in the
same run is an in-process ``predict()`` loop on the same rows, so the HTTP overhead shows.

Usage: python bench/bench_serving.py [--requests 3000] [--clients 1 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DRIVER = r"""
import http.client, json, sys, threading, time
host, port, total, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = json.loads(sys.stdin.read())
latencies, lock = [], threading.Lock()
def worker(n, offset):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    mine = []
    for i in range(n):
        body = json.dumps({"instances": [rows[(offset + i) % len(rows)]]})
        start = time.perf_counter()
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = conn.getresponse(); response.read()
        assert response.status == 200
        mine.append(time.perf_counter() - start)
    conn.close()
    with lock: latencies.extend(mine)
start = time.perf_counter()
share = total // clients
threads = [threading.Thread(target=worker, args=(share, k * 1000)) for k in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"seconds": time.perf_counter() - start, "latencies": latencies}))
"""


def model_and_rows() -> tuple[object, object, np.ndarray]:
    from mlops.pipelines.data import DataContract, read_table, split
    from mlops.pipelines.model import load_trainer
    from mlops.templates.answers import validate_answers
    from mlops.templates.engine import Scaffold

    project = Path(tempfile.mkdtemp()) / "bench-serve"
    Scaffold(validate_answers({"name": "bench-serve", "ci": "none"}), project, git=False).run()
    trainer = load_trainer(project, "bench_serve")
    contract = DataContract.load(project / "data" / "contract.yaml")
    train, _, test = split(read_table((project / "data" / "sample.csv").read_bytes(), "sample"))
    model = trainer.train(train.select(contract.features), train.column(contract.label), {})
    return trainer, model, test.select(contract.features)


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    from mlops.pipelines.serving import ModelServer

    trainer, model, rows = model_and_rows()
    predict = lambda batch: trainer.predict_proba(model, batch)  # noqa: E731
    latencies = []
    start = time.perf_counter()
    for i in range(args.requests):
        t = time.perf_counter()
        predict(rows[i % len(rows)][None, :])
        latencies.append(time.perf_counter() - t)
    loop_rps = args.requests / (time.perf_counter() - start)
    p50, p99 = percentiles(latencies)
    print(f"{'case':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'in-process predict() loop':<28} {loop_rps:>8.0f} {p50:>8.3f} {p99:>8.3f}")

    server = ModelServer(predict, rows.shape[1], port=0).start()
    host, port = server.url.removeprefix("http://").split(":")
    try:
        for clients in args.clients:
            proc = subprocess.run(
                [sys.executable, "-c", DRIVER, host, port, str(args.requests), str(clients)],
                input=json.dumps(rows.tolist()),
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(proc.stdout)
            p50, p99 = percentiles(result["latencies"])
            rps = len(result["latencies"]) / result["seconds"]
            label = f"HTTP /invocations, {clients} client(s)"
            print(f"{label:<28} {rps:>8.0f} {p50:>8.3f} {p99:>8.3f}")
    finally:
        server.stop()
    print(f"{args.requests} requests per case, one row each, loopback only; medians are p50")


if __name__ == "__main__":
    main()
