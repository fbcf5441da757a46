"""``invoke_endpoint`` through local mode vs the model server directly; the variant split.

A generated project is trained, approved and deployed on local mode (``mlops local up``, then
``mlops pipeline run --approve --deploy``): one model server process on 127.0.0.1 behind the
embedded endpoint's runtime gateway, as an application reaches it.

1. Latency. The same CSV rows, from a second process (the Python asyncio driver over raw
   keep-alive sockets), to the model server's ``POST /invocations`` directly (the peer) and to
   ``POST /endpoints/<name>/invocations`` on the embedded endpoint, SigV4-signed for
   ``sagemaker`` as boto3 signs it (moto takes any keys). Targets: at 8 clients the gateway's
   p99 at most 2x the direct p99; 0 errors at 64 clients.
2. Variant weights. The stack's config gains a challenger (``challengerWeight``) and a shadow;
   after ``mlops deploy`` (a blue/green update), ``--split`` invocations (10,000 by default) are
   counted by ``InvokedProductionVariant``: each share within 2% of its weight; every
   ``TargetVariant`` call answered by that variant; the shadow got a copy of every request
   (the gateway's figures) and never answered one.

Usage: python bench/bench_invoke.py [--requests 4000] [--split 10000] [--weight 0.3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

DRIVER = r"""
import asyncio, json, sys, time
host, port, total, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
requests = [r.encode("latin-1") for r in json.loads(sys.stdin.read())]
latencies, errors, kinds, variants = [], 0, {}, {}

async def answer(reader):
    status_line = await reader.readline()
    length, variant = 0, None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line[15:])
        elif lower.startswith(b"x-amzn-invoked-production-variant:"):
            variant = line.split(b":", 1)[1].strip().decode()
    await reader.readexactly(length)
    return int(status_line.split()[1]), variant

async def client(k, n):
    global errors
    conn = None
    for i in range(n):
        request = requests[(k * 997 + i) % len(requests)]
        start = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            reader, writer = conn
            writer.write(request)
            status, variant = await asyncio.wait_for(answer(reader), 10)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            latencies.append(time.perf_counter() - start)
            variants[variant] = variants.get(variant, 0) + 1
        except Exception as exc:
            errors += 1
            kind = f"{type(exc).__name__} {str(exc)[:20]}".strip()
            kinds[kind] = kinds.get(kind, 0) + 1
            if conn is not None:
                conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()

async def main():
    start = time.perf_counter()
    share = total // clients
    await asyncio.gather(*(client(k, share) for k in range(clients)))
    return time.perf_counter() - start

took = asyncio.run(main())
print(json.dumps({"seconds": took, "latencies": latencies, "errors": errors, "kinds": kinds,
                  "variants": variants}))
"""


def raw_requests(
    host: str, path: str, bodies: list[bytes], sign_for: str = "", target: str = ""
) -> list[str]:
    """HTTP/1.1 requests, keep-alive; with ``sign_for`` SigV4-signed as boto3 signs them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    made = []
    for body in bodies:
        headers = {"Content-Type": "text/csv", "Accept": "application/json", "Host": host}
        if target:
            headers["X-Amzn-SageMaker-Target-Variant"] = target
        if sign_for:
            request = AWSRequest("POST", f"http://{host}{path}", data=body, headers=headers)
            SigV4Auth(Credentials("local", "local"), sign_for, "us-east-1").add_auth(request)
            headers = dict(request.headers.items())
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        made.append(head + f"Content-Length: {len(body)}\r\n\r\n" + body.decode("latin-1"))
    return made


def drive(url: str, requests: list[str], total: int, clients: int) -> dict[str, Any]:
    """Run the driver in a second process; its figures."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, host, port, str(total), str(clients)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return dict(json.loads(proc.stdout))


def line(label: str, result: dict[str, Any]) -> dict[str, float]:
    ms = np.asarray(result["latencies"]) * 1000
    figures = {
        "rps": len(ms) / result["seconds"],
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "errors": result["errors"],
    }
    kinds = ", ".join(f"{k} {v}" for k, v in result["kinds"].items())
    print(
        f"{label:<48} {figures['rps']:>8.0f} {figures['p50']:>8.2f} {figures['p99']:>8.2f}"
        f" {result['errors']:>7}  {kinds}"
    )
    return figures


def cli(*args: str) -> str:
    """Run ``mlops`` as a user would; its output (raises on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "mlops.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000, help="per latency case")
    parser.add_argument("--split", type=int, default=10000, help="invocations for the split")
    parser.add_argument("--weight", type=float, default=0.3, help="the challenger's weight")
    args = parser.parse_args()
    from mlops.composition.deploy import fleet_metrics
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    name = f"bench-{uuid.uuid4().hex[:6]}"
    project = Path(tempfile.mkdtemp()) / name
    answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
    Scaffold(answers, project, git=False).run()
    p = str(project)
    started = time.perf_counter()
    cli("local", "up", "--project", p)
    try:
        cli("pipeline", "run", "--project", p, "--approve", "--deploy")
        print(
            "set-up (local up, pipeline run --approve --deploy):"
            f" {time.perf_counter() - started:.1f} s"
        )
        registry = json.loads((project / ".mlops/deployments.json").read_text())
        (endpoint,) = registry["endpoints"]
        direct = registry["endpoints"][endpoint]["variants"][0]["urls"][0]
        status = json.loads(cli("local", "status", "--project", p, "--json"))
        gateway = status["endpoint"]
        rows = [
            line_.rsplit(",", 1)[0].encode()
            for line_ in (project / "data/sample.csv").read_text().splitlines()[1:201]
        ]
        host = gateway.removeprefix("http://")
        path = f"/endpoints/{endpoint}/invocations"
        signed = raw_requests(host, path, rows, sign_for="sagemaker")
        plain = raw_requests(direct.removeprefix("http://"), "/invocations", rows)

        print(f"\n{args.requests} requests a case, keep-alive, one CSV row each (Python driver)")
        print(f"{'case':<48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        drive(direct, plain, 400, 8)  # warm both paths
        drive(gateway, signed, 400, 8)
        d8 = line("model server directly, 8 clients", drive(direct, plain, args.requests, 8))
        g8 = line(
            "invoke_endpoint via local mode, 8 clients", drive(gateway, signed, args.requests, 8)
        )
        d64 = line("model server directly, 64 clients", drive(direct, plain, args.requests, 64))
        g64 = line(
            "invoke_endpoint via local mode, 64 clients", drive(gateway, signed, args.requests, 64)
        )
        ratio = g8["p99"] / d8["p99"]
        print(
            f"\np99 at 8 clients: local mode {g8['p99']:.2f} ms vs direct {d8['p99']:.2f} ms ="
            f" {ratio:.2f}x (target <= 2x): {'PASS' if ratio <= 2 else 'FAIL'}"
        )
        print(
            f"errors at 64 clients: local mode {g64['errors']:.0f}, direct {d64['errors']:.0f}"
            f" (target 0): {'PASS' if g64['errors'] == 0 else 'FAIL'}"
        )

        # The stack's A/B split and shadow, deployed as a blue/green update.
        arn = registry["endpoints"][endpoint]["variants"][0]["model_package_arn"]
        with (project / "Pulumi.local.yaml").open("a") as stack:
            stack.write(f"  {name}:endpointType: realtime\n")
            stack.write(f'  {name}:modelPackageArn: "{arn}"\n')
            stack.write(f'  {name}:challengerModelPackageArn: "{arn}"\n')
            stack.write(f"  {name}:challengerWeight: {args.weight}\n")
            stack.write(f'  {name}:shadowModelPackageArn: "{arn}"\n')
        cli("deploy", "--project", p, "--bake-seconds", "0")
        before = (fleet_metrics(gateway, endpoint) or {}).get("shadow-shadow", {})
        split = drive(gateway, signed, args.split, 8)
        seen = split["variants"]
        total = sum(seen.values())
        print(f"\nvariant split over {total} invocations (errors {split['errors']}):")
        worst = 0.0
        for variant, weight in (("primary", 1 - args.weight), ("challenger", args.weight)):
            share = seen.get(variant, 0) / total
            worst = max(worst, abs(share - weight))
            print(f"  {variant:<11} {seen.get(variant, 0):>6}  {share:.2%} (weight {weight:.0%})")
        print(
            f"  largest gap {worst:.2%} (target within 2%): {'PASS' if worst <= 0.02 else 'FAIL'}"
        )
        targeted = drive(
            gateway, raw_requests(host, path, rows, "sagemaker", "challenger"), 1000, 8
        )
        honoured = targeted["variants"] == {"challenger": 1000}
        print(
            f"TargetVariant=challenger: {targeted['variants']} (errors {targeted['errors']}):"
            f" {'PASS' if honoured else 'FAIL'}"
        )
        expected = total + split["errors"] + sum(targeted["variants"].values()) + targeted["errors"]
        deadline = time.monotonic() + 60
        copies = 0
        while time.monotonic() < deadline:
            shadow = (fleet_metrics(gateway, endpoint) or {}).get("shadow-shadow", {})
            copies = shadow.get("invocations", 0) - before.get("invocations", 0)
            if copies >= expected:
                break
            time.sleep(0.2)
        answered_by_shadow = seen.get("shadow", 0) + targeted["variants"].get("shadow", 0)
        dropped = shadow.get("dropped", 0) - before.get("dropped", 0)
        print(
            f"shadow: {copies} copies of {expected} requests ({dropped} dropped), answered"
            f" {answered_by_shadow}:"
            f" {'PASS' if copies == expected and answered_by_shadow == 0 else 'FAIL'}"
        )
    finally:
        cli("local", "down", "--project", p)


if __name__ == "__main__":
    main()
