"""`mlops preview`: time per stack, and `--all` on the 50-model x 3-environment fleet.

Cases, each measured in the same run:

* per stack, in process: `composition.preview.preview()` on a generated project (every stack
  with an approved model, so every endpoint is declared), after one warm-up; median of runs,
  split into the program under mocks, the policy pack and the cost estimate. Target: < 1 s.
* per stack, cold: `mlops preview --stack S --json` as a fresh process (interpreter, imports).
* fleet `--all`: a project whose program declares bench/fleet.py's environment (50 models) for
  its stack, three stacks; `mlops preview --all --json` in a fresh process: wall and peak RSS.
  Target: < 4 s and < 0.5 GB, policy and cost included.
* peer: the same number of bare S3 buckets under the same mock runtime: the SDK's own floor.

Usage: python bench/bench_preview.py [--runs 3] [--models 50]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
MLOPS = str(Path(sys.executable).parent / "mlops")
STACKS = ("dev", "staging", "prod", "local")


def generated(root: Path) -> Path:
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    project = root / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), project, git=False).run()
    for stack in STACKS:
        path = project / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-{stack}/1"
        document["config"]["churn:modelPackageArn"] = arn
        path.write_text(yaml.safe_dump(document))
    return project


def fleet_project(root: Path, models: int) -> Path:
    from fleet import PROGRAM

    project = root / "fleet"
    (project / "infra").mkdir(parents=True)
    (project / ".mlops").mkdir()
    (project / "Pulumi.yaml").write_text("name: fleet\nruntime: python\nmain: infra/\n")
    (project / "infra" / "__main__.py").write_text(PROGRAM.format(bench=str(BENCH), models=models))
    for stack in ("dev", "staging", "prod"):
        (project / f"Pulumi.{stack}.yaml").write_text('config:\n  aws:region: "us-east-1"\n')
    return project


def in_process(project: Path, runs: int) -> dict[str, tuple[float, float, float, float]]:
    """Per stack: median total, and its program / policy / cost parts (seconds)."""
    from mlops.composition.preview import preview
    from mlops.infra.config import StackConfig
    from mlops.infra.cost import Assumptions, estimate
    from mlops.infra.policy import RULES, evaluate, stack_of
    from mlops.infra.program import capture, stack_config

    preview(project, "dev")  # warm-up: imports and first-use costs
    figures = {}
    for stack in STACKS:
        totals, programs, policies, costs = [], [], [], []
        for _ in range(runs):
            start = time.perf_counter()
            preview(project, stack)
            totals.append(time.perf_counter() - start)
            start = time.perf_counter()
            program = capture(project, stack)
            programs.append(time.perf_counter() - start)
            view = stack_of(program, stack)
            start = time.perf_counter()
            evaluate(view, [r for r in RULES if r.flavour == "aws"])
            policies.append(time.perf_counter() - start)
            name, _, values = stack_config(project, stack)
            config = StackConfig.from_values(name, stack, values)
            start = time.perf_counter()
            estimate(view, Assumptions.from_config(config), config.region)
            costs.append(time.perf_counter() - start)
        figures[stack] = tuple(statistics.median(x) for x in (totals, programs, policies, costs))
    return figures  # type: ignore[return-value]


def _pss_kb(pid: int) -> int:
    """Proportional set size of a process and its children (shared pages split between them)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in (children.read_text().split() if children.exists() else []))]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def cold(project: Path, *args: str, sample: bool = False) -> tuple[float, float, dict, float]:  # type: ignore[type-arg]
    """Wall seconds, peak RSS of one process (MB), the JSON report, and the peak PSS (MB) of
    the whole process tree (workers included, shared pages counted once)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [MLOPS, "preview", "--json", "--no-tree", "--project", str(project), *args],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        pss = 0
        while sample and proc.poll() is None:  # sampling costs CPU: only in its own run
            pss = max(pss, _pss_kb(proc.pid))
            time.sleep(0.02)
        proc.wait()
        wall = time.perf_counter() - start
        out.seek(0)
        report = out.read()
    if proc.returncode not in (0, 1):
        raise SystemExit("mlops preview failed")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return wall, peak, json.loads(report), pss / 1024


PEER = r"""
import sys, time, warnings
warnings.simplefilter("ignore")
from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program
import pulumi_aws as aws
n = int(sys.argv[1])
def program():
    for i in range(n):
        aws.s3.Bucket(f"bucket-{i}", tags={"n": str(i)})
start = time.perf_counter()
run_program(program, project="peer", stack="dev", invokes=CALLER_IDENTITY)
print(time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        project = generated(Path(tmp))
        print("per stack, in process (median; program under mocks / policy pack / cost):")
        for stack, (total, program, policy, cost) in in_process(project, args.runs).items():
            verdict = "ok" if total < 1.0 else "MISSED"
            print(
                f"  {stack:<8} {total:6.3f} s  ({program:.3f} / {policy:.4f} / {cost:.4f})"
                f"  target < 1 s: {verdict}"
            )
        print("per stack, cold process (`mlops preview --stack S`, interpreter and imports):")
        for stack in STACKS:
            walls = [cold(project, "--stack", stack)[0] for _ in range(args.runs)]
            print(f"  {stack:<8} {statistics.median(walls):6.2f} s")

        fleet = fleet_project(Path(tmp), args.models)
        runs = [cold(fleet, "--all") for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        tree = cold(fleet, "--all", sample=True)[3]
        report = runs[0][2]
        count = sum(len(s["resources"]) for s in report["stacks"])
        custom = sum(
            1
            for s in report["stacks"]
            for r in s["resources"]
            if not r["type"].startswith("mlops:")
        )
        time_ok = "ok" if wall < 4 else "MISSED"
        rss_ok = "ok" if max(peak, tree) < 512 else "MISSED"
        print(
            f"fleet {args.models}x3 `mlops preview --all`: {count} resources, {wall:.2f} s"
            f" (3 stacks, one forked worker each, on {os.cpu_count()} cores); peak RSS of one"
            f" process {peak:.0f} MB, peak PSS of all {tree:.0f} MB (a separate sampled run);"
            f" target < 4 s: {time_ok}, < 0.5 GB: {rss_ok}"
        )
        peer = subprocess.run(
            [sys.executable, "-c", PEER, str(custom)], capture_output=True, text=True, check=True
        )
        seconds = float(peer.stdout.strip().splitlines()[-1])
        print(
            f"peer: {custom} bare S3 buckets under the same mock runtime: {seconds:.2f} s"
            f" ({seconds / custom * 1000:.1f} ms each, imports excluded)"
        )
    print(f"medians of {args.runs} runs")


if __name__ == "__main__":
    main()
