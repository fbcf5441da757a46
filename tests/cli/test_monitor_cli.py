"""`mlops monitor drift`: files and captured traffic in, a verdict, JSON and HTML out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest


def frame(rows: int, seed: int, shift: float = 0.0, missing: float = 0.01) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift, 10, rows)
    age[rng.random(rows) < missing] = np.nan
    spend = rng.lognormal(3, 0.5, rows)
    plan = rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2])
    return pa.table(
        {
            "age": pa.array(age, from_pandas=True),
            "spend": spend,
            "plan": pa.array(list(plan)),
            "seats": rng.integers(1, 4, rows),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "ref": tmp_path / "ref.parquet",
        "same": tmp_path / "same.csv",
        "moved": tmp_path / "moved.parquet",
    }
    pq.write_table(frame(5000, 1), paths["ref"])
    pv.write_csv(frame(3000, 2), paths["same"])
    pq.write_table(frame(3000, 3, shift=15, missing=0.3), paths["moved"])
    return paths


def test_steady_data_exits_0_and_drift_exits_1(
    files: dict[str, Path], invoke, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    steady = invoke(
        "monitor", "drift", "--reference", str(files["ref"]), "--current", str(files["same"])
    )
    assert steady.exit_code == 0, steady.output
    assert "0 of 4 features drifted (share 0 < 0.5): no drift" in steady.output
    html = tmp_path / "reports" / "drift.html"
    moved = invoke(
        "monitor",
        "drift",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["moved"]),
        "--share",
        "0.25",
        "--html",
        str(html),
    )
    assert moved.exit_code == 1, moved.output
    assert "1 of 4 features drifted (share 0.25 >= 0.25): drift" in moved.output
    assert f"wrote the HTML report: {html}" in moved.output
    assert "age: drifted (wasserstein" in moved.output and "missing 1.0% -> 30" in moved.output
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "plan" in page
    assert "1 of 4 features drifted (share 0.25 &gt;= 0.25): drift" in page
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing fetched from anywhere


def test_json_report_and_rules(files: dict[str, Path], invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text("age: {threshold: 5.0}\nplan: {test: psi}\n")
    result = invoke(
        "monitor",
        "drift",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["moved"]),
        "--rules",
        str(rules),
        "--json",
    )
    report = json.loads(result.stdout)
    assert result.exit_code == 0  # age's shift is under its own, looser threshold
    age = next(f for f in report["features"] if f["feature"] == "age")
    assert age["threshold"] == 5.0 and not age["drifted"] and age["missing_drifted"]
    plan = next(f for f in report["features"] if f["feature"] == "plan")
    assert plan["test"] == "psi" and plan["kind"] == "categorical"
    seats = next(f for f in report["features"] if f["feature"] == "seats")
    assert seats["kind"] == "numeric" and seats["test"] == "jensenshannon"  # 3 values
    forced = invoke(
        "monitor",
        "drift",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["moved"]),
        "--categorical",
        "seats",
        "--json",
    )
    seats = next(f for f in json.loads(forced.stdout)["features"] if f["feature"] == "seats")
    assert seats["kind"] == "categorical"
    # A CSV reference is read twice (its ranges, then its summary): the named column too.
    from_csv = invoke(
        "monitor", "drift", "--reference", str(files["same"]), "--current", str(files["moved"]),
        "--categorical", "seats", "--json",
    )  # fmt: skip
    assert from_csv.exit_code == 0, from_csv.output
    seats = next(f for f in json.loads(from_csv.stdout)["features"] if f["feature"] == "seats")
    assert seats["kind"] == "categorical"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing-file", "does not exist"),
        ("bad-rules", "give `test` and/or `threshold`"),
        ("unknown-test", "unknown test 'magic'"),
        ("missing-column", "the current window lacks feature(s): plan"),
        ("kind", "unknown kind of file"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    files: dict[str, Path],
    invoke,
    tmp_path: Path,
    change: str,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    args = ["monitor", "drift", "--reference", str(files["ref"]), "--current", str(files["same"])]
    if change == "missing-file":
        args[-1] = str(tmp_path / "nope.csv")
    elif change in ("bad-rules", "unknown-test"):
        rules = tmp_path / "rules.yaml"
        rules.write_text("age: {tst: psi}\n" if change == "bad-rules" else "age: {test: magic}\n")
        args += ["--rules", str(rules)]
    elif change == "missing-column":
        pv.write_csv(frame(100, 5).drop_columns(["plan"]), tmp_path / "narrow.csv")
        args[-1] = str(tmp_path / "narrow.csv")
    else:
        (tmp_path / "data.txt").write_text("x")
        args[-1] = str(tmp_path / "data.txt")
    html = tmp_path / "never.html"
    result = invoke(*args, "--html", str(html))
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not html.exists()  # nothing written on bad input


def test_captured_traffic_is_a_window_with_its_predictions(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    def capture(path: Path, rows: list[list[float]], predictions: list[float]) -> None:
        lines = []
        for row, prediction in zip(rows, predictions, strict=True):
            event = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "application/json",
                        "mode": "INPUT",
                        "data": json.dumps({"instances": [row]}),
                        "encoding": "JSON",
                    },
                    "endpointOutput": {
                        "observedContentType": "application/json",
                        "mode": "OUTPUT",
                        "data": json.dumps({"predictions": [prediction]}),
                        "encoding": "JSON",
                    },
                },
                "eventMetadata": {"eventId": "x", "inferenceTime": "2026-11-30T00:00:00Z"},
                "eventVersion": "0",
            }
            lines.append(json.dumps(event))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")

    rng = np.random.default_rng(0)
    before = rng.normal(0, 1, (1500, 2))
    capture(tmp_path / "before" / "a.jsonl", before.tolist(), list(rng.random(1500)))
    after = rng.normal(0, 1, (1500, 2))
    scores = list(0.5 + 0.5 * rng.random(1500))  # the model now answers higher: outputs drift
    capture(tmp_path / "after" / "2026" / "b.jsonl", after.tolist(), scores)
    result = invoke(
        "monitor",
        "drift",
        "--reference",
        str(tmp_path / "before"),
        "--current",
        str(tmp_path / "after"),
        "--features",
        "tenure,spend",
        "--json",
        "--include",
        "prediction",
    )
    report = json.loads(result.stdout)
    verdicts = {f["feature"]: f["drifted"] for f in report["features"]}
    assert verdicts == {"tenure": False, "spend": False, "prediction": True}
    # Unless asked, the model's output is not a feature, and the reader is told so.
    plain = invoke(
        "monitor", "drift", "--reference", str(tmp_path / "before"),
        "--current", str(tmp_path / "after"), "--features", "tenure,spend",
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert "0 of 2 features drifted" in plain.output
    assert "prediction: not tested (the model's prediction); test it with --include" in plain.output


def test_a_tiny_window_warns_and_raises_no_alarm(
    files: dict[str, Path], invoke, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    tiny = tmp_path / "tiny.csv"
    pv.write_csv(frame(6, 4, shift=40), tiny)
    result = invoke("monitor", "drift", "--reference", str(files["ref"]), "--current", str(tiny))
    assert result.exit_code == 0, result.output  # no alarm, though the ages moved
    assert "the current window has 6 rows, under the 30 the drift tests need" in result.output
    assert "): no verdict (" in result.output and "age: drifted" in result.output


def test_the_spark_engine_says_what_it_needs(
    files: dict[str, Path], invoke, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:  # the suite's own venv: no PySpark in it
        result = invoke(
            "monitor", "drift", "--reference", str(files["ref"]), "--current",
            str(files["moved"]), "--engine", "spark",
        )  # fmt: skip
        assert result.exit_code == 2 and "--engine spark needs PySpark" in result.output
    folder = tmp_path / "captured"
    folder.mkdir()
    (folder / "a.jsonl").write_text("")
    result = invoke(
        "monitor", "drift", "--reference", str(folder), "--current", str(folder),
        "--engine", "spark",
    )  # fmt: skip
    assert result.exit_code == 2 and "--engine spark reads Parquet or CSV files" in result.output
    wrong = invoke("monitor", "drift", "--reference", "a", "--current", "b", "--engine", "gpu")
    assert wrong.exit_code == 2 and "numpy" in wrong.output


def test_the_help_says_how_captured_traffic_becomes_windows(invoke) -> None:  # type: ignore[no-untyped-def]
    from mlops.core.errors import MonitoringInputError
    from mlops.pipelines.windows import rolling_windows

    shown = invoke("monitor", "run", "--help")
    text = " ".join(shown.output.replace("│", " ").split())  # the help's box, unwrapped
    assert "cut between capture objects" in text and "about equal numbers of objects" in text
    key = "capture/e/v/2026/12/01/10/00-00-000-a.jsonl"
    with pytest.raises(MonitoringInputError, match="windows are cut between capture objects"):
        rolling_windows([key], 2)
