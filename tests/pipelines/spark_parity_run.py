"""Run by test_spark_drift.py in a subprocess with PySpark importable: both engines on files.

Usage: python spark_parity_run.py DIR ROWS  (prints one JSON line: each engine's features)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    folder, rows = Path(sys.argv[1]), int(sys.argv[2])
    spec = importlib.util.spec_from_file_location("bench_drift", ROOT / "bench" / "bench_drift.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ref, cur = folder / "ref.parquet", folder / "cur.parquet"
    bench.write(bench.window(rows, 1, False), ref)
    bench.write(bench.window(rows, 2, True), cur)
    features = bench.NUMERIC + bench.CATEGORICAL

    from mlops.pipelines.drift import compare_sources
    from mlops.pipelines.spark_drift import compare_files
    from mlops.pipelines.windows import file_source

    spark = compare_files(ref, cur, features, master="local[2]")
    numpy = compare_sources(file_source(ref), file_source(cur), features)

    def plain(report: object) -> list[dict[str, object]]:
        out = []
        for f in report.features:  # type: ignore[attr-defined]
            item = asdict(f)
            item.pop("plot")
            out.append(item)
        return out

    print(json.dumps({"spark": plain(spark), "numpy": plain(numpy)}))


if __name__ == "__main__":
    main()
