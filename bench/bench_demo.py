"""`mlops demo` wall time (target: at most 120 s on 2 cores), with the slowest steps.

Usage: python bench/bench_demo.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLOPS = str(Path(sys.executable).parent / "mlops")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls, steps = [], {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            start = time.perf_counter()
            subprocess.run(
                [MLOPS, "demo", "--dir", tmp, "--report", str(report)],
                check=True,
                capture_output=True,
            )
            walls.append(time.perf_counter() - start)
            for step in json.loads(report.read_text())["steps"]:
                steps.setdefault(step["name"], []).append(step["duration_s"])
    median = statistics.median(walls)
    verdict = "ok" if median <= 120 else "MISSED"
    print(
        f"mlops demo: median {median:.2f} s wall over {args.runs} runs (target <= 120 s: {verdict})"
    )
    print("slowest steps (median s):")
    for name, times in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))[:5]:
        print(f"  {name:<16} {statistics.median(times):.2f}")
    print("wall includes interpreter start, imports, the embedded endpoint and teardown")


if __name__ == "__main__":
    main()
