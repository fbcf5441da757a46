"""Local mode's target tracking under load: how fast a variant scales out, and what it buys.

A generated project is trained, approved and deployed on local mode with ``endpointInstanceCount``
1, ``autoscalingMax`` ``--max`` and ``invocationsPerInstance`` ``--target``; ``--clients``
threads then call boto3's ``invoke_endpoint`` for ``--seconds``. The registry is watched every
0.1 s. Printed: when the first scale-out was routed (from the load's start), the largest process
count (never past the ceiling), throughput while at the floor vs once scaled out (the peer: the
same variant at its floor, in the same run), errors (the target: 0), and how long after the load
stopped the variant was back at its floor. On a machine with few cores more processes may not
answer faster: the figures say so rather than assume it.

Usage: python bench/bench_autoscale.py [--clients 4] [--seconds 20] [--max 3] [--target 600]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--target", type=int, default=600)
    parser.add_argument("--out-cooldown", type=float, default=5.0)
    parser.add_argument("--in-cooldown", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=5.0)
    args = parser.parse_args()

    from typer.testing import CliRunner

    from mlops.cli.main import app
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    runner = CliRunner()

    def invoke(*words: str) -> Any:
        done = runner.invoke(app, list(words), catch_exceptions=False)
        if done.exit_code != 0:
            raise SystemExit(done.output)
        return done

    with tempfile.TemporaryDirectory() as tmp:
        name = f"bench-{uuid.uuid4().hex[:6]}"
        project = Path(tmp) / name
        answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
        Scaffold(answers, project, git=False).run()
        with (project / "Pulumi.local.yaml").open("a") as stack:
            stack.write(f"  {name}:endpointType: realtime\n")
            stack.write(f"  {name}:endpointInstanceCount: 1\n")
            stack.write(f"  {name}:autoscalingMax: {args.max}\n")
            stack.write(f"  {name}:invocationsPerInstance: {args.target}\n")
        invoke("local", "up", "--project", str(project))
        try:
            invoke("pipeline", "run", "--project", str(project), "--approve")
            invoke(
                "deploy", "--project", str(project),
                "--scale-out-cooldown-seconds", str(args.out_cooldown),
                "--scale-in-cooldown-seconds", str(args.in_cooldown),
                "--scale-window-seconds", str(args.window),
            )  # fmt: skip
            rows = (project / "data/sample.csv").read_text().splitlines()[1:3]
            run = Run(
                localmode.require_state(project).endpoint,
                lifecycle_for(project).platform.serving_endpoint,
                "\n".join(r.rsplit(",", 1)[0] for r in rows).encode(),
                project / ".mlops/deployments.json",
            )
            run.drive(args.clients, args.seconds)
            run.report(args)
        finally:
            invoke("local", "down", "--project", str(project))


class Run:
    """One load run against the deployed endpoint, watching its process count."""

    def __init__(self, url: str, endpoint: str, body: bytes, registry: Path) -> None:
        self.url, self.endpoint, self.body, self.registry = url, endpoint, body, registry
        self.answers_at: list[float] = []
        self.errors: list[str] = []
        self.counts: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.began = self.back = 0.0

    def processes(self) -> int:
        entry = json.loads(self.registry.read_text())["endpoints"][self.endpoint]
        return len(entry["variants"][0]["urls"])

    def client(self) -> None:
        import boto3
        from botocore.config import Config

        rt = boto3.client(
            "sagemaker-runtime", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="any", aws_secret_access_key="any",
            config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip
        while not self.stop.is_set():
            try:
                answer = rt.invoke_endpoint(
                    EndpointName=self.endpoint, ContentType="text/csv", Body=self.body
                )
                answer["Body"].read()
                with self.lock:
                    self.answers_at.append(time.monotonic())
            except Exception as exc:  # counted: the target is none
                with self.lock:
                    self.errors.append(repr(exc))
        rt.close()

    def drive(self, clients: int, seconds: float) -> None:
        threads = [threading.Thread(target=self.client) for _ in range(clients)]
        self.began = time.monotonic()
        for thread in threads:
            thread.start()
        self.counts = [(0.0, self.processes())]
        while time.monotonic() - self.began < seconds:
            time.sleep(0.1)
            now = self.processes()
            if now != self.counts[-1][1]:
                self.counts.append((round(time.monotonic() - self.began, 1), now))
        self.stop.set()
        for thread in threads:
            thread.join()
        ended = time.monotonic()
        while self.processes() > 1 and time.monotonic() - ended < 120:
            time.sleep(0.1)
        self.back = time.monotonic() - ended

    def rate(self, start: float, end: float) -> float:
        n = sum(1 for a in self.answers_at if self.began + start <= a < self.began + end)
        return n / (end - start) if end > start else 0.0

    def report(self, args: argparse.Namespace) -> None:
        peak = max(c for _, c in self.counts)
        first_out = next((t for t, c in self.counts if c > 1), None)
        at_peak = next((t for t, c in self.counts if c == peak), 0.0)
        floor_end = first_out if first_out is not None else args.seconds
        print(
            f"clients {args.clients}, target {args.target}/process/min, max {args.max},"
            f" cooldowns {args.out_cooldown:g}/{args.in_cooldown:g} s, window {args.window:g} s"
        )
        print(f"process counts over time (s, processes): {self.counts}")
        out = f"after {first_out:.1f} s of load" if first_out is not None else "never"
        print(f"first scale-out routed {out}")
        print(f"peak processes {peak} (ceiling {args.max}) at {at_peak:.1f} s")
        print(
            f"throughput at the floor (peer, 1 process): {self.rate(0.0, floor_end):.0f}/s;"
            f" at the peak: {self.rate(at_peak, args.seconds):.0f}/s"
        )
        print(f"invocations {len(self.answers_at)}, errors {len(self.errors)} {self.errors[:3]}")
        print(f"back at the floor {self.back:.1f} s after the load stopped")


if __name__ == "__main__":
    main()
