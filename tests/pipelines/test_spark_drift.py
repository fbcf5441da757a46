"""The Spark engine against the NumPy engine on the anchor data, on ``local[2]``.

PySpark (~320 MB) lives in a tool venv that scripts/test.sh installs (.ci/spark); the test runs
this project's Python with that venv's site-packages on PYTHONPATH, in a subprocess, and skips
when the venv or Java is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"
SPARK_SITE = ROOT / ".ci" / "spark" / "lib" / PYTHON / "site-packages"
needs_spark = pytest.mark.skipif(
    not (SPARK_SITE / "pyspark").is_dir() or shutil.which("java") is None,
    reason="PySpark and Java: scripts/test.sh installs PySpark in .ci/spark",
)


@needs_spark
def test_spark_and_numpy_give_the_same_verdicts_on_the_anchor_data(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SPARK_SITE), "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "spark_parity_run.py"), str(tmp_path),
         "20000"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    spark, numpy = result["spark"], result["numpy"]
    assert [f["feature"] for f in spark] == [f["feature"] for f in numpy] and len(spark) == 20
    for s, n in zip(spark, numpy, strict=True):
        name = s["feature"]
        same = ("kind", "test", "drifted", "missing_drifted", "threshold", "reference_rows",
                "current_rows", "new_categories", "vanished_categories")  # fmt: skip
        assert {k: s[k] for k in same} == {k: n[k] for k in same}, name
        # Identical histograms and counts: the statistics differ only by the reference's
        # variance (Spark's var_pop against Chan's merge), far inside the grid's stated error.
        bound = max(s["error"], n["error"], 1e-9)
        assert abs(s["statistic"] - n["statistic"]) <= bound, name
        assert s["error"] == pytest.approx(n["error"], rel=1e-9, abs=1e-12), name
        assert s["psi"] == pytest.approx(n["psi"], rel=1e-9, abs=1e-12), name
        assert s["missing_current"] == n["missing_current"], name
    drifted = sorted(f["feature"] for f in spark if f["drifted"])
    assert drifted == ["c0", "c1", "n0", "n1", "n2", "n3"]
    assert [f["feature"] for f in spark if f["missing_drifted"]] == ["n4"]
