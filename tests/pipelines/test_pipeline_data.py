"""Tables, contracts, content-addressed dataset versions, splits and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CONTRACT_YAML, SAMPLE_CSV

from mlops.core.errors import DataError
from mlops.pipelines.data import DataContract, ingest, load_version, read_table, split, validate
from mlops.pipelines.evaluate import (
    classification_metrics,
    improvement,
    regression_metrics,
    roc_auc,
)
from mlops.pipelines.lake import ImmutableObjectError

CONTRACT = DataContract.load(CONTRACT_YAML)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b"a,b\n", "has a header but no data rows"),
        (b"a,b\n1,2\n3\n", "malformed CSV; line 3: 1 fields, expected 2"),
        (b"\xff\xfe,\n", "not a readable CSV file"),
    ],
)
def test_unreadable_data_is_named(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        read_table(body, "data.csv")


def test_text_in_a_contract_column_and_a_column_outside_the_contract_are_named() -> None:
    body = (
        b"tenure_months,monthly_charges,support_calls,annual_contract,churned,region\n"
        b"1,20,2,0,1,eu\n3,x4,1,1,0,us\n"
    )
    report = validate(read_table(body, "data.csv"), CONTRACT)
    assert report.problems == ["column monthly_charges, line 3: 'x4' is not a number"]
    # Outside the contract: named as such and not trained on, never "'eu' is not a number".
    assert report.ignored == ["region"]


def test_a_classifier_needs_two_classes() -> None:
    one_class = b"tenure_months,monthly_charges,support_calls,annual_contract,churned\n"
    one_class += b"1,20,2,0,0\n3,40,1,1,0\n"
    problems = validate(read_table(one_class, "x"), CONTRACT).problems
    assert problems == [
        "churned: 1 class(es) (0); a classifier needs at least two, so the data must hold"
        " examples of each outcome"
    ]


def test_blank_cells_are_missing_values_and_the_contract_counts_them() -> None:
    table = read_table(
        b"tenure_months,monthly_charges,support_calls,annual_contract,churned\n1,,2,0,1\n3,4.5,1,1,0\n",
        "x",
    )
    assert np.isnan(table.column("monthly_charges")[0])
    report = validate(table, CONTRACT)
    assert report.missing_rates["monthly_charges"] == 0.5
    assert report.problems == ["monthly_charges: 50.0% missing, at most 0.0% allowed"]


def test_contract_reports_every_broken_rule() -> None:
    table = read_table(
        b"tenure_months,monthly_charges,annual_contract,churned\n1.5,999,1,1\n200,10,0,3\n", "x"
    )
    problems = validate(table, CONTRACT).problems
    assert "missing column support_calls" in problems
    assert "tenure_months: expected integers" in problems
    assert "tenure_months: 1 value(s) outside [0, 120]" in problems
    assert "monthly_charges: 1 value(s) outside [0, 500]" in problems
    assert "churned: 1 value(s) outside [0, 1]" in problems


def test_sample_data_meets_its_contract() -> None:
    report = validate(read_table(SAMPLE_CSV.read_bytes(), "sample"), CONTRACT)
    assert report.passed and report.rows == 600


def test_parquet_reads_the_same_values(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = read_table(SAMPLE_CSV.read_bytes(), "csv")
    path = tmp_path / "sample.parquet"
    pq.write_table(pa.table({c: table.column(c) for c in table.columns}), path)
    again = read_table(path.read_bytes(), "parquet", "parquet")
    assert again.columns == table.columns and np.array_equal(again.values, table.values)
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_table(b"not parquet at all", "bad.parquet", "parquet")


def test_ingest_is_content_addressed_and_idempotent(lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = ingest(lake, SAMPLE_CSV, "churn")
    assert first.created and first.manifest["rows"] == 600
    assert first.key == f"churn/sha256={first.sha256}/data.csv"
    assert first.manifest["schema"]["tenure_months"] == "float64" and first.manifest[
        "source"
    ] == str(SAMPLE_CSV)
    keys = list(lake.keys("datasets"))
    copy = tmp_path / "sample.csv"
    copy.write_bytes(SAMPLE_CSV.read_bytes())
    again = ingest(lake, copy, "churn")
    assert not again.created and again.sha256 == first.sha256
    assert list(lake.keys("datasets")) == keys  # nothing new written
    edited = tmp_path / "edited.csv"
    edited.write_bytes(SAMPLE_CSV.read_bytes().replace(b"\n42,", b"\n43,", 1))
    other = ingest(lake, edited, "churn")
    assert other.created and other.sha256 != first.sha256
    assert len(list(lake.keys("datasets"))) == 4
    assert np.array_equal(
        load_version(lake, first).values, read_table(SAMPLE_CSV.read_bytes(), "x").values
    )


def test_versions_are_never_overwritten(lake) -> None:  # type: ignore[no-untyped-def]
    assert lake.put_once("datasets", "x/data.csv", b"one")
    assert not lake.put_once("datasets", "x/data.csv", b"one")
    with pytest.raises(ImmutableObjectError, match="already exists with other content"):
        lake.put_once("datasets", "x/data.csv", b"two")
    assert lake.get("datasets", "x/data.csv") == b"one"


def test_ingest_refuses_missing_and_empty_files(lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="No such file"):
        ingest(lake, tmp_path / "nope.csv", "churn")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        ingest(lake, tmp_path / "empty.csv", "churn")
    assert list(lake.keys("datasets")) == []


def test_split_is_seeded_disjoint_and_complete() -> None:
    table = read_table(SAMPLE_CSV.read_bytes(), "x")
    a, b = split(table, seed=3), split(table, seed=3)
    assert [len(p) for p in a] == [420, 90, 90]
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].values, split(table, seed=4)[0].values)
    combined = np.vstack([p.values for p in a])
    assert np.array_equal(np.sort(combined, axis=0), np.sort(table.values, axis=0))


def test_classification_metrics_match_scikit_learn() -> None:
    metrics_lib = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 500)
    scores = np.clip(truth * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # rounding makes ties
    ours = classification_metrics(truth, scores)
    predicted = (scores >= 0.5).astype(int)
    assert ours["accuracy"] == pytest.approx(metrics_lib.accuracy_score(truth, predicted))
    assert ours["f1"] == pytest.approx(metrics_lib.f1_score(truth, predicted))
    assert ours["roc_auc"] == pytest.approx(metrics_lib.roc_auc_score(truth, scores))
    assert ours["confusion_matrix"] == metrics_lib.confusion_matrix(truth, predicted).tolist()
    assert np.isnan(roc_auc(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3])))


def test_regression_metrics_and_which_way_is_better() -> None:
    metrics_lib = pytest.importorskip("sklearn.metrics")
    truth, predicted = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    ours = regression_metrics(truth, predicted)
    assert ours["rmse"] == pytest.approx(np.sqrt(metrics_lib.mean_squared_error(truth, predicted)))
    assert ours["mae"] == pytest.approx(metrics_lib.mean_absolute_error(truth, predicted))
    assert improvement("rmse", 0.5, 0.7) == pytest.approx(0.2)  # lower is better
    assert improvement("roc_auc", 0.9, 0.8) == pytest.approx(0.1)


@pytest.mark.parametrize("filter_available", [True, False], ids=["3.11.4+", "3.11.2"])
def test_model_archives_unpack_only_inside_their_directory(
    tmp_path, monkeypatch, filter_available: bool
) -> None:  # type: ignore[no-untyped-def]
    import io
    import tarfile

    from mlops.core.errors import UserError
    from mlops.pipelines.model import safe_extract

    if not filter_available:  # Debian 12's Python 3.11.2 has no extraction filters
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def archive(name: str) -> tarfile.TarFile:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
        buffer.seek(0)
        return tarfile.open(fileobj=buffer)

    dest = tmp_path / "model"
    dest.mkdir()
    safe_extract(archive("model.joblib"), dest)
    assert (dest / "model.joblib").read_bytes() == b"ok"
    with pytest.raises(UserError, match="refusing to unpack a model archive"):
        safe_extract(archive("../escaped.txt"), dest)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_training_module_whose_framework_is_missing_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.core.errors import UserError
    from mlops.pipelines.model import import_trainer

    package = tmp_path / "needs_fw"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("import xgboost_not_installed_here\n")
    (package / "sk.py").write_text("import sklearn.not_a_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError) as framework:
        import_trainer("needs_fw.train")
    message = str(framework.value)
    assert "needs xgboost_not_installed_here, which is not installed" in message
    assert "`pip install xgboost_not_installed_here`" in message
    for name in ("needs_fw.absent", "needs_fw.sk"):  # the module itself, or an installed one's part
        with pytest.raises(UserError) as own:
            import_trainer(name)
        assert "No module named" in str(own.value) and "pip install" not in str(own.value)


def test_a_model_packs_to_the_same_bytes_at_any_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from mlops.pipelines.model import pack_dir

    (tmp_path / "model.json").write_text('{"w": [1, 2]}')
    first = pack_dir(tmp_path)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # gzip stamps its header with time.time()
    (tmp_path / "model.json").touch()
    assert pack_dir(tmp_path) == first
