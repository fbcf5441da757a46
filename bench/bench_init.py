"""Scaffold speed: `mlops init --no-input` against copier on ../shared/bench/copier_tpl.

Both run as fresh processes (what a user waits for), alternating, N times each; medians are
printed. Also times `mlops init --template k8s`, `mlops render-manifests` of the k8s project's
prod stack (with its manifest count) and `mlops --help`.
Usage: python bench/bench_init.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIER_TPL = ROOT.parent / "shared" / "bench" / "copier_tpl"
BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    mlops, copier = str(BIN / "mlops"), str(BIN / "copier")
    results: dict[str, list[float]] = {
        "mlops init": [],
        "init --no-git": [],
        "copier copy": [],
        "init k8s": [],
        "render prod": [],
        "mlops --help": [],
    }
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.runs):
            dest = work / f"m{i}"
            results["mlops init"].append(
                timed([mlops, "init", "churn-model", "--dest", str(dest), "--no-input"], work)
            )
            files["mlops init"] = count_files(dest)
            results["init --no-git"].append(
                timed(
                    [
                        mlops,
                        "init",
                        "churn-model",
                        "--dest",
                        str(work / f"n{i}"),
                        "--no-input",
                        "--no-git",
                    ],
                    work,
                )
            )
            files["init --no-git"] = count_files(work / f"n{i}")
            if COPIER_TPL.is_dir() and shutil.which(copier):
                cdest = work / f"c{i}"
                results["copier copy"].append(
                    timed(
                        [copier, "copy", "--defaults", "--trust", str(COPIER_TPL), str(cdest)], work
                    )
                )
                files["copier copy"] = count_files(cdest)
            k8s = work / f"k{i}"
            results["init k8s"].append(
                timed(
                    [mlops, "init", "churn-k8s", "--template", "k8s", "--dest", str(k8s)]
                    + ["--no-input", "--no-git"],
                    work,
                )
            )
            files["init k8s"] = count_files(k8s)
            results["render prod"].append(
                timed([mlops, "render-manifests", str(work / f"r{i}"), "--stack", "prod"], k8s)
            )
            files["render prod"] = count_files(work / f"r{i}") - 2  # kustomization, marker
            results["mlops --help"].append(timed([mlops, "--help"], work))
    print(f"{'command':<14} {'median s':>9} {'min s':>7} {'files':>6}  (runs={args.runs})")
    for name, times in results.items():
        if times:
            print(
                f"{name:<14} {statistics.median(times):>9.3f} {min(times):>7.3f}"
                f" {files.get(name, ''):>6}"
            )
    if results["copier copy"]:
        copier_median = statistics.median(results["copier copy"])
        for name in ("mlops init", "init --no-git", "init k8s"):
            ratio = statistics.median(results[name]) / copier_median
            print(f"{name} / copier copy = {ratio:.2f} (target <= 0.50)")
    print("`mlops init` includes git init + a first commit; copier runs no git.")


if __name__ == "__main__":
    main()
