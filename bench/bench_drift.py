"""The drift engine against Evidently's DataDriftPreset on the same data, in the same run.

Synthetic windows of N rows x 20 features (14 numeric, 6 categorical strings), 1% missing in
every column; the current window has 6 features drifted (two mean shifts, a variance change, a
shape change, a category-frequency change, a new category) plus a missing-value surge in a
seventh, which is not a distribution change. Both engines run in their own process on the same
Parquet files; each reports its compute time (loading excluded), its peak RSS (loading
included) and its per-feature verdicts, and the verdicts are compared feature by feature.

Evidently is a bench-only peer: install it apart (it needs pandas<3), e.g.
``uv venv /tmp/ev && uv pip install --python /tmp/ev/bin/python "evidently==0.7.23" "pandas<3"
pyarrow`` and pass ``--evidently-python /tmp/ev/bin/python``.

Targets (issue 10): identical verdicts; 1,000,000 x 20 in under 1 s, at least 40x faster than
Evidently, under 1 GB.

Usage: python bench/bench_drift.py [--rows 100000 1000000] [--evidently-python PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC = [f"n{i}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
DRIFTED = {"n0", "n1", "n2", "n3", "c0", "c1"}
MISSING_SURGE = "n4"


def numeric(rng: np.random.Generator, i: int, rows: int, drifted: bool) -> np.ndarray:
    """Numeric column ``i``; the drifted window shifts, widens or reshapes some."""
    if i == 2:
        return rng.lognormal(0.0, 0.9 if drifted else 0.5, rows)  # shape change
    if i == 12:
        return rng.integers(0, 100, rows).astype(float)  # whole numbers
    if i == 13:
        return rng.integers(0, 3, rows).astype(float)  # three values: a frequency test
    x = rng.normal(10.0 * i, 1.0 + i, rows)
    if drifted and i == 0:
        x = x + 0.5 * (1.0 + i)  # mean shift of half a standard deviation
    if drifted and i == 1:
        x = 10.0 * i + (x - 10.0 * i) * 1.6  # variance change
    if drifted and i == 3:
        x = x + 0.4 * (1.0 + i)
    return x


def categorical(rng: np.random.Generator, i: int, rows: int, drifted: bool) -> np.ndarray:
    """Categorical column ``i`` (strings, None missing)."""
    name = CATEGORICAL[i]
    levels = [f"{name}-{k}" for k in range(3 + 9 * i)]
    p = np.linspace(1, 2, len(levels))
    if drifted and name == "c0":
        p = p[::-1] ** 3  # frequencies change
    values = np.asarray(levels, dtype=object)[rng.choice(len(levels), rows, p=p / p.sum())]
    if drifted and name == "c1":
        values[rng.random(rows) < 0.2] = f"{name}-new"
    values[rng.random(rows) < 0.01] = None
    return values


def window(rows: int, seed: int, drifted: bool) -> dict[str, Any]:
    """One window: numeric columns as float arrays (NaN missing), categorical as objects."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        x = numeric(rng, i, rows, drifted)
        share = 0.30 if drifted and name == MISSING_SURGE else 0.01
        x[rng.random(rows) < share] = np.nan
        cols[name] = x
    for i, name in enumerate(CATEGORICAL):
        cols[name] = categorical(rng, i, rows, drifted)
    return cols


def write(cols: dict[str, Any], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(list(v) if v.dtype == object else v) for k, v in cols.items()})
    pq.write_table(table, path)


def run_ours(ref_path: str, cur_path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from mlops.pipelines.drift import compare

    def frame(path: str) -> dict[str, Any]:
        table = pq.read_table(path)
        out: dict[str, Any] = {}
        for name in table.column_names:
            column = table.column(name)
            if name in NUMERIC:
                out[name] = column.to_numpy().astype(np.float64)  # nulls are NaN already
            else:
                out[name] = column.combine_chunks()
        return out

    ref, cur = frame(ref_path), frame(cur_path)
    start = time.perf_counter()
    report = compare(ref, cur, NUMERIC + CATEGORICAL)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "verdicts": {f.feature: f.drifted for f in report.features},
        "tests": {f.feature: f.test for f in report.features},
        "missing": report.missing_drifted,
    }


def run_evidently(ref_path: str, cur_path: str) -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    seconds = time.perf_counter() - start
    verdicts, tests = {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = config["method"], float(metric["value"]), config["threshold"]
        if "p_value" in method:
            drifted = value <= threshold if method.startswith("K-S") else value < threshold
        else:
            drifted = value >= threshold
        verdicts[config["column"]] = drifted
        tests[config["column"]] = method
    return {"seconds": seconds, "verdicts": verdicts, "tests": tests}


def worker(engine: str, ref_path: str, cur_path: str) -> None:
    result = (run_ours if engine == "ours" else run_evidently)(ref_path, cur_path)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def spawn(python: str, engine: str, ref: Path, cur: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [python, __file__, "--worker", engine, str(ref), str(cur)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def evidently_python(given: str | None) -> str | None:
    candidates = [given] if given else [sys.executable]
    for python in candidates:
        probe = subprocess.run([python, "-c", "import evidently"], capture_output=True, check=False)
        if probe.returncode == 0:
            return python
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--worker", nargs=3, metavar=("ENGINE", "REF", "CUR"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    peer = evidently_python(args.evidently_python)
    if peer is None:
        print("Evidently is not importable: pass --evidently-python (see this file's docstring)")
    print(f"{'rows':>9} {'engine':<10} {'compute s':>10} {'peak RSS MB':>12}  verdicts")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            ref, cur = Path(tmp) / "ref.parquet", Path(tmp) / "cur.parquet"
            write(window(rows, 1, False), ref)
            write(window(rows, 2, True), cur)
            ours = spawn(sys.executable, "ours", ref, cur)
            drifted = sorted(k for k, v in ours["verdicts"].items() if v)
            print(
                f"{rows:>9} {'ours':<10} {ours['seconds']:>10.3f} {ours['peak_rss_mb']:>12.0f}"
                f"  drifted {drifted}; missing-rate change {ours['missing']}"
            )
            expected = sorted(DRIFTED)
            print(f"{'':>9} {'':<10} injected drift: {expected}, missing surge: {MISSING_SURGE}")
            if peer is None:
                continue
            theirs = spawn(peer, "evidently", ref, cur)
            same = [f for f in ours["verdicts"] if ours["verdicts"][f] == theirs["verdicts"][f]]
            print(
                f"{rows:>9} {'evidently':<10} {theirs['seconds']:>10.3f}"
                f" {theirs['peak_rss_mb']:>12.0f}  agree on {len(same)}/{len(ours['verdicts'])}"
                f" features; {theirs['seconds'] / ours['seconds']:.0f}x our time"
            )
            differ = sorted(set(ours["verdicts"]) - set(same))
            if differ:
                print(f"{'':>9} differ on: {differ}")


if __name__ == "__main__":
    main()
