"""The README's main command on a fresh clone, installs included (target: at most 45 s).

Clones this checkout into a temporary directory, then runs `bash scripts/demo.sh` there with an
empty installer cache, as a new machine would, until the report is written. The peer is the same
command with pip as the installer (MLOPS_INSTALLER=pip), in the same run.

Usage: python bench/bench_setup.py [--runs 1] [--skip-pip]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mlops.core import git as gitcmd

ROOT = Path(__file__).resolve().parent.parent


def fresh_run(installer: str) -> float:
    """Seconds from `git clone` to the demo's report, with nothing cached."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        env = {
            **os.environ,
            "MLOPS_INSTALLER": installer,
            "UV_CACHE_DIR": str(Path(tmp) / "uv-cache"),
            "PIP_NO_CACHE_DIR": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        start = time.perf_counter()
        gitcmd.clone(str(ROOT), clone)
        subprocess.run(
            ["bash", "scripts/demo.sh"], cwd=clone, env=env, check=True, capture_output=True
        )
        elapsed = time.perf_counter() - start
        assert (clone / "build" / "demo" / "report.json").is_file()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--skip-pip", action="store_true", help="do not time the pip peer")
    args = parser.parse_args()
    installers = ["uv"] if args.skip_pip else ["uv", "pip"]
    for installer in installers:
        walls = [fresh_run(installer) for _ in range(args.runs)]
        median = statistics.median(walls)
        verdict = "ok" if median <= 45 else "MISSED"
        print(
            f"fresh clone -> demo report, {installer:>3}: median {median:.1f} s over"
            f" {args.runs} run(s) (target <= 45 s: {verdict})"
        )
    print("committed files only: uncommitted changes are not in the clone")


if __name__ == "__main__":
    main()
