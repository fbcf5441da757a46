"""The model carries its contract; categorical features; the features transform.

A model is served under the contract it was trained on, so rolling back across a schema change
works; the contract knows ``category`` and ``bool``; the generated project's features transform
is fitted in training and travels with the model.
"""

from __future__ import annotations

import importlib
import io
import json
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO

from mlops.core.errors import UserError
from mlops.pipelines import container
from mlops.pipelines.data import DataContract, feature_columns, read_table, validate
from mlops.pipelines.drift import compare, drift_report
from mlops.pipelines.model import (
    CONTRACT_FILE,
    Trainer,
    load_trainer,
    pack_dir,
    unpack_with_contract,
)
from mlops.pipelines.payload import PayloadError, RowSchema, parse_rows
from mlops.pipelines.reference import REFERENCE_FILE, read_reference
from mlops.pipelines.serving import ModelServer, ServedModel
from mlops.pipelines.windows import from_capture

PACK = REPO / "templates" / "common" / "files"
SAMPLE = PACK / "data" / "sample.csv"
V1_CONTRACT = (PACK / "data" / "contract.yaml").read_text()
PLANS = ("basic", "standard", "premium")
V2_CONTRACT = V1_CONTRACT.replace(
    "  churned:",
    "  plan: {type: category, values: [basic, standard, premium]}\n"
    "  paperless: {type: bool}\n"
    "  churned:",
)
V1_ROW = {"tenure_months": 3, "monthly_charges": 110.0, "support_calls": 6, "annual_contract": 0}
V2_ROW = {**V1_ROW, "plan": "basic", "paperless": True}


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def contract_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return path


# --- the contract -----------------------------------------------------------------------------


def test_category_and_bool_columns_parse() -> None:
    contract = DataContract.model_validate(
        {
            "label": "y",
            "columns": {
                "plan": {"type": "category", "values": ["basic", "premium"], "unknown": "ignore"},
                "seats": {"type": "category", "values": [1, 2, 5]},
                "paperless": {"type": "bool"},
                "spend": {"type": "float", "min": 0},
                "y": {"type": "int"},
            },
        }
    )
    assert contract.features == ["plan", "seats", "paperless", "spend"]
    assert contract.categorical == ["plan", "seats", "paperless"]
    assert contract.columns["seats"].values == ["1", "2", "5"]  # declared as text
    assert contract.columns["plan"].unknown == "ignore"
    assert contract.columns["seats"].unknown == "error"  # the default


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("{type: category}", "columns.plan: a category column declares its values"),
        ("{type: category, values: []}", "columns.plan: a category column declares its values"),
        ("{type: category, values: [a, a]}", "must be different from each other"),
        ("{type: int, values: [a]}", "values are declared for a category column, not a int"),
        ("{type: category, values: [a], min: 0}", "min and max apply to numbers"),
        ("{type: float, unknown: ignore}", "unknown applies to a category column only"),
        ("{type: category, values: [a], unknown: drop}", "columns.plan.unknown"),
        ("{type: text}", "columns.plan.type"),
    ],
)
def test_a_broken_column_rule_is_one_line_naming_the_file_and_line(
    tmp_path: Path, column: str, message: str
) -> None:
    text = f"# the contract\nlabel: y\ncolumns:\n  y: {{type: int}}\n  plan: {column}\n"
    path = contract_file(tmp_path, text)
    with pytest.raises(UserError) as info:
        DataContract.load(path)
    text = str(info.value)
    assert "\n" not in text
    # plan is written on line 5 (after a comment and the label): the error says so.
    assert text.startswith(f"{path} is not a valid data contract: line 5: columns.plan")
    assert message in text


def test_each_broken_rule_names_its_own_line(tmp_path: Path) -> None:
    body = "label: y\ncolumns:\n  a:\n    type: float\n    min: x\n"
    body += "  y: {type: int}\n  b: {type: text}\n"
    with pytest.raises(UserError) as info:
        DataContract.load(contract_file(tmp_path, body))
    text = str(info.value)
    assert "\n" not in text
    assert "line 5: columns.a.min:" in text and "line 7: columns.b.type:" in text


def test_bad_yaml_is_one_line_too(tmp_path: Path) -> None:
    path = contract_file(tmp_path, "label: y\ncolumns: {y: [\n")
    with pytest.raises(UserError) as info:
        DataContract.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


CATEGORY_CSV = b"plan,paperless,spend,y\nbasic,true,1.5,0\npremium,False,2,1\ngold,1,3,0\n,0,4,1\n"


@pytest.mark.parametrize(
    ("unknown", "problem"),
    [
        ("error", "plan: 1 value(s) not among its declared values (basic, premium), e.g. 'gold'"),
        ("ignore", None),
    ],
)
def test_validation_applies_the_unknown_policy(unknown: str, problem: str | None) -> None:
    contract = DataContract.model_validate(
        {
            "label": "y",
            "columns": {
                "plan": {
                    "type": "category",
                    "values": ["basic", "premium"],
                    "unknown": unknown,
                    "max_missing": 0.5,
                },
                "paperless": {"type": "bool"},
                "spend": {},
                "y": {"type": "int"},
            },
        }
    )
    report = validate(read_table(CATEGORY_CSV, "t.csv"), contract)
    assert report.missing_rates["plan"] == 0.25
    assert report.problems == ([problem] if problem else [])


def test_validation_names_what_breaks_a_bool_or_a_missing_rate() -> None:
    contract = DataContract.model_validate(
        {
            "label": "y",
            "columns": {
                "plan": {"type": "category", "values": ["basic", "premium", "gold"]},
                "paperless": {"type": "bool"},
                "spend": {},
                "y": {"type": "int"},
            },
        }
    )
    body = CATEGORY_CSV.replace(b"False", b"maybe")
    assert validate(read_table(body, "t.csv"), contract).problems == [
        "plan: 25.0% missing, at most 0.0% allowed",
        "paperless: 1 value(s) not true/false, e.g. 'maybe'",
    ]


def test_feature_columns_are_typed_by_the_contract() -> None:
    contract = DataContract.model_validate(
        {
            "label": "y",
            "columns": {
                "plan": {"type": "category", "values": ["basic", "premium"], "unknown": "ignore"},
                "paperless": {"type": "bool"},
                "spend": {},
                "y": {"type": "int"},
            },
        }
    )
    columns = feature_columns(read_table(CATEGORY_CSV, "t.csv"), contract)
    assert list(columns) == ["plan", "paperless", "spend"]
    assert columns["plan"].tolist() == ["basic", "premium", "gold", None]
    assert columns["paperless"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert columns["spend"].tolist() == [1.5, 2.0, 3.0, 4.0]


# --- the features transform -------------------------------------------------------------------


@pytest.fixture
def features_module(tmp_path: Path) -> Iterator[Any]:
    shutil.copyfile(
        PACK / "package" / "pipelines" / "features.py", tmp_path / "feats_under_test.py"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("feats_under_test")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("feats_under_test", None)


def test_the_transform_one_hots_categories_it_was_fitted_on(
    features_module: Any, tmp_path: Path
) -> None:
    train = {
        "spend": np.array([1.0, 2.0, 3.0]),
        "plan": np.array(["basic", "premium", "basic"], dtype=object),
    }
    features = features_module.Features().fit(train)
    assert features.names == ["spend", "plan=basic", "plan=premium"]
    serving = {
        "plan": np.array(["premium", "gold", None], dtype=object),  # any order of keys
        "spend": np.array([5.0, 6.0, 7.0]),
    }
    expected = [[5, 0, 1], [6, 0, 0], [7, 0, 0]]  # unseen and missing: all zeros
    assert features.transform(serving).tolist() == expected
    features_module.save(features, tmp_path)
    again = features_module.load(tmp_path)
    assert again.transform(serving).tolist() == expected


# --- payloads ---------------------------------------------------------------------------------

SCHEMA = RowSchema.from_contract(
    DataContract.model_validate(
        {
            "label": "y",
            "columns": {
                "tenure": {"type": "int"},
                "plan": {"type": "category", "values": list(PLANS)},
                "extra": {"type": "category", "values": ["a"], "unknown": "ignore"},
                "paperless": {"type": "bool"},
                "y": {"type": "int"},
            },
        }
    ),
    columns=True,
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"instances": [{"tenure": 3, "plan": "basic", "extra": "z", "paperless": true}]}', ""),
        (b'[{"paperless": 1, "extra": "z", "plan": "basic", "tenure": 3}]', "application/json"),
        (b'{"tenure": 3, "plan": "basic", "extra": "z", "paperless": true}', "application/json"),
        (b'{"instances": [[3, "basic", "z", true]]}', "application/json"),
        (b'[[3, "basic", "z", 1]]', "application/json; charset=utf-8"),
        (b"3,basic,z,TRUE\n", "text/csv"),
    ],
    ids=["instances-named", "list-named", "bare-object", "instances-rows", "rows", "csv"],
)
def test_every_request_shape_reads_the_same_row(body: bytes, content_type: str) -> None:
    rows, encoding = parse_rows(body, content_type, SCHEMA)
    assert encoding == ("CSV" if content_type == "text/csv" else "JSON")
    assert rows.tolist() == [[3.0, "basic", "z", 1.0]]
    columns = SCHEMA.to_columns(rows)
    assert columns["tenure"].dtype == np.float64 and columns["plan"].tolist() == ["basic"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"tenure": 3, "plan": "gold", "extra": "a", "paperless": true}]',
         "row 1: plan \"gold\" is not one of basic, standard, premium"),
        (b'[{"tenure": 3, "plan": "basic", "extra": "a"}]', "row 1: missing feature 'paperless'"),
        (b'[{"tenure": 3, "plan": "basic", "extra": "a", "paperless": true, "zip": 1}]',
         "row 1: unknown feature 'zip'"),
        (b'[[3, "basic", "a", "true"]]', 'row 1: paperless must be true or false, got "true"'),
        (b'[[3, null, "a", true]]', "row 1: plan must be one of its categories, got null"),
        (b'[[3.5, "basic", "a", true]]', "row 1: tenure must be a whole number, got 3.5"),
        (b'[["3", "basic", "a", true]]', 'row 1: tenure: "3" is not a number'),
        (b'[[3, "basic", "a"]]', "row 1: 3 values, but this model takes 4: tenure, plan"),
    ],
)  # fmt: skip
def test_typed_rows_get_a_400_naming_the_feature(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_rows(body, "application/json", SCHEMA)
    assert info.value.status == 400 and message in str(info.value)


# --- rollback across a contract change --------------------------------------------------------


def sample_with_plan() -> bytes:
    """The sample data plus ``plan`` (premium churns less) and ``paperless``."""
    lines = SAMPLE.read_text().splitlines()
    rng = np.random.default_rng(5)
    out = [lines[0].replace(",churned", ",plan,paperless,churned")]
    for line in lines[1:]:
        *values, churned = line.split(",")
        plan = PLANS[int(rng.integers(0, 2))] if churned == "1" else PLANS[int(rng.integers(0, 3))]
        paperless = "true" if rng.random() < 0.5 else "false"
        out.append(",".join([*values, plan, paperless, churned]))
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    package = tmp_path / "project" / "rollback_model" / "pipelines"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    shutil.copyfile(PACK / "package" / "pipelines" / "features.py", package / "features.py")
    shutil.copyfile(PACK / "package" / "pipelines" / "train_sklearn.py", package / "train.py")
    (tmp_path / "project" / "data").mkdir()
    return tmp_path / "project"


def train_artifact(project: Path, work: Path, contract: str, data: bytes) -> bytes:
    """``container train`` under ``contract`` on ``data``: the packed model.tar.gz."""
    (project / "data" / "contract.yaml").write_text(contract)
    channel = work / "channel"
    channel.mkdir(parents=True)
    (channel / "data.csv").write_bytes(data)
    environ = {
        "SM_ML_ROOT": str(work / "ml"),
        "SM_CHANNEL_TRAIN": str(channel),
        "MLOPS_TRAIN_MODULE": "rollback_model.pipelines.train",
        "MLOPS_DATA_CONTRACT": str(project / "data" / "contract.yaml"),
    }
    assert container.main(["train"], environ) == 0
    return pack_dir(work / "ml" / "model")


def served(trainer: Trainer, artifact: bytes, project_contract: DataContract) -> ModelServer:
    model = ServedModel.of(trainer, *unpack_with_contract(trainer, artifact), project_contract)
    return ModelServer(model.predict, model.schema, port=0).start()


def payloads(row: dict[str, Any]) -> list[tuple[bytes, str]]:
    values = list(row.values())
    csv = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return [
        (json.dumps({"instances": [row]}).encode(), "application/json"),
        (json.dumps(row).encode(), "application/json"),
        (json.dumps([values]).encode(), "application/json"),
        (csv.encode(), "text/csv"),
    ]


def test_each_version_serves_under_its_own_contract(project: Path, tmp_path: Path) -> None:
    trainer = load_trainer(project, "rollback_model")
    v1 = train_artifact(project, tmp_path / "v1", V1_CONTRACT, SAMPLE.read_bytes())
    v2 = train_artifact(project, tmp_path / "v2", V2_CONTRACT, sample_with_plan())
    # The project's contract is v2's now; v1 (the rollback target) still serves as trained.
    today = DataContract.load(project / "data" / "contract.yaml")
    assert "plan" in today.features
    with tarfile.open(fileobj=io.BytesIO(v1)) as tar:
        assert {CONTRACT_FILE, REFERENCE_FILE} <= set(tar.getnames())
    servers = {"v1": served(trainer, v1, today), "v2": served(trainer, v2, today)}
    try:
        refusals = {
            # v1 is sent v2's rows: a feature it does not know, or too many values.
            "v1": ("unknown feature 'plan'", "6 values, but this model takes 4: tenure_months"),
            # v2 is sent v1's rows: a feature missing, or too few values (named, in order).
            "v2": ("missing feature 'plan'", "4 values, but this model takes 6: tenure_months"),
        }
        for name, own, other in [("v1", V1_ROW, V2_ROW), ("v2", V2_ROW, V1_ROW)]:
            url = servers[name].url
            answers = [post(url, body, kind) for body, kind in payloads(own)]
            assert all(code == 200 for code, _ in answers), (name, answers)
            assert len({json.dumps(a) for _, a in answers}) == 1, answers  # one prediction
            for i, (body, kind) in enumerate(payloads(other)):
                code, answer = post(url, body, kind)
                expected = refusals[name][0 if i < 2 else 1]  # named shapes first
                assert code == 400, (name, kind, answer)
                assert answer["error"].startswith(f"row 1: {expected}"), (name, kind, answer)
        assert "plan, paperless" in post(servers["v2"].url, b"1,2,3,4", "text/csv")[1]["error"]
    finally:
        for server in servers.values():
            server.stop()


def test_the_model_contract_drives_drift_and_capture(project: Path, tmp_path: Path) -> None:
    load_trainer(project, "rollback_model")
    artifact = train_artifact(project, tmp_path / "v2", V2_CONTRACT, sample_with_plan())
    reference = read_reference(artifact)
    assert reference is not None
    # plan is text and paperless booleans in the reference: categories, tested as such.
    names = ["tenure_months", "plan", "paperless"]
    window = {n: reference[n] for n in names}
    plans = ["premium"] * 40 + ["basic"] * 10
    body = json.dumps({"instances": [{**V2_ROW, "plan": p} for p in plans]})
    capture = {
        "captureData": {
            "endpointInput": {"data": body, "encoding": "JSON"},
            "endpointOutput": {"data": json.dumps({"predictions": [0.5] * 50}), "encoding": "JSON"},
        }
    }
    current = from_capture([json.dumps(capture)], list(V2_ROW))
    report = compare(window, current, names)
    kinds = {f.feature: (f.kind, f.test) for f in report.features}
    assert kinds["plan"] == ("categorical", "chisquare")
    assert kinds["paperless"][0] == "categorical"
    assert kinds["tenure_months"][0] == "numeric"
    assert "plan" in report.drifted_features


def test_drift_report_reads_named_columns_as_categories() -> None:
    rng = np.random.default_rng(0)
    reference = np.column_stack([rng.integers(1, 4, 300), rng.normal(size=300)]).astype(object)
    current = np.column_stack([rng.integers(1, 4, 300), rng.normal(size=300)]).astype(object)
    report = drift_report(reference, current, ["seats", "spend"], categorical=["seats"])
    kinds = {f.feature: f.kind for f in report.features}
    assert kinds == {"seats": "categorical", "spend": "numeric"}
    plain = drift_report(reference, current, ["seats", "spend"])
    assert {f.feature: f.kind for f in plain.features}["seats"] == "numeric"


LEGACY_TRAIN = '''
"""A training module from before models carried their contract: a positional matrix."""
import pickle
from pathlib import Path

import numpy as np


class Mean:
    def __init__(self, weights):
        self.weights = weights


def train(x, y, params=None):
    return Mean(np.ones(x.shape[1]))


def predict_proba(model, x):
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    return x @ model.weights


def save(model, directory: Path) -> Path:
    (directory / "model.pkl").write_bytes(pickle.dumps(model))
    return directory / "model.pkl"


def load(directory: Path):
    return pickle.loads((directory / "model.pkl").read_bytes())
'''


def test_an_artifact_without_a_contract_serves_with_the_projects(tmp_path: Path) -> None:
    package = tmp_path / "legacy_model" / "pipelines"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(LEGACY_TRAIN)
    trainer = load_trainer(tmp_path, "legacy_model")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    trainer.save(trainer.train(np.zeros((2, 4)), np.zeros(2), {}), model_dir)
    artifact = pack_dir(model_dir)  # model files only, as artifacts were made before
    model, carried = unpack_with_contract(trainer, artifact)
    assert carried is None
    project = DataContract.model_validate(json.loads(json.dumps(_yaml(V1_CONTRACT))))
    server = served(trainer, artifact, project)
    try:
        assert post(server.url, b"[[1, 2, 3, 4]]") == (200, {"predictions": [10.0]})
        assert post(server.url, b"1,2,3,4\n", "text/csv") == (200, {"predictions": [10.0]})
        named = json.dumps({"instances": [V1_ROW]}).encode()
        assert post(server.url, named) == (200, {"predictions": [119.0]})
        code, answer = post(server.url, b"[[1.5, 2, 3, 4]]")
        assert code == 400 and "tenure_months must be a whole number" in answer["error"]
    finally:
        server.stop()


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
