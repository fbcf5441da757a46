"""Platform evaluation under Pulumi mocks: time, peak memory and resource counts.

Each case runs in a fresh process (what `pulumi preview` pays), imports included:

* prod: the full prod MLPlatform (endpoint, A/B + shadow, autoscaling, data quality).
  Target: at most 2 s wall.
* synthetic: 50 models x 3 environments: per environment one lake, training pipeline and
  monitoring, and per model a registry and an endpoint. Target: at most 20 s, at most 1 GB RSS.
* peer: the same number of bare pulumi_aws S3 buckets, to show the mock runtime's own cost.

Usage: python bench/bench_platform.py [--models 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
sys.path.insert(0, sys.argv[3])
from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program
import fleet
case, models = sys.argv[1], int(sys.argv[2])

def peer():
    import pulumi_aws as aws
    for n in range(models):
        aws.s3.Bucket(f"bucket-{n}", tags={"n": str(n)})

program = {"prod": fleet.prod, "synthetic": lambda: fleet.synthetic(models), "peer": peer}[case]
loaded = time.perf_counter()
result = run_program(program, project="bench", stack="prod", invokes=CALLER_IDENTITY)
done = time.perf_counter()
print(json.dumps({
    "resources": len(result.resources),
    "import_s": loaded - start,
    "evaluate_s": done - loaded,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run(case: str, models: int) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(models), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["wall_s"] = time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    synthetic = run("synthetic", args.models)
    cases = {
        "prod platform": ("prod", 0, 2.0, None),
        f"synthetic {args.models}x3": ("synthetic", args.models, 20.0, 1024.0),
        "peer: bare buckets": ("peer", int(synthetic["resources"]), None, None),
    }
    print(f"{'case':<22} {'resources':>9} {'wall s':>7} {'eval s':>7} {'RSS MB':>7}  target")
    for label, (case, models, max_s, max_mb) in cases.items():
        runs = [synthetic] if case == "synthetic" else []
        runs += [run(case, models) for _ in range(args.runs - len(runs))]
        wall = statistics.median(r["wall_s"] for r in runs)
        evaluate = statistics.median(r["evaluate_s"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        target = []
        if max_s is not None:
            target.append(f"wall <= {max_s:g} s: {'ok' if wall <= max_s else 'MISSED'}")
        if max_mb is not None:
            target.append(f"RSS <= {max_mb:g} MB: {'ok' if rss <= max_mb else 'MISSED'}")
        print(
            f"{label:<22} {int(runs[0]['resources']):>9} {wall:>7.2f} {evaluate:>7.2f}"
            f" {rss:>7.0f}  {'; '.join(target)}"
        )
    print(f"medians of {args.runs} runs; wall includes interpreter start and imports")


if __name__ == "__main__":
    main()
