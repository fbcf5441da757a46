"""``mlops init`` through the CLI: happy paths, precedence, and bad input that writes nothing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import build_file_tree, snapshot

from mlops.templates.aws import VERSION as AWS_VERSION


def test_init_no_input_renders_and_records_answers(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "churn-model"
    result = invoke("init", "churn-model", "--dest", str(dest), "--no-input", "--no-git")
    assert result.exit_code == 0, result.output
    assert "Created" in result.output
    record = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())
    assert record["template"] == "aws"
    assert record["template_version"] == AWS_VERSION
    assert record["answers"]["name"] == "churn-model"
    assert record["answers"]["training_instance_type"] == "ml.m5.xlarge"
    assert not (dest / ".git").exists()


def test_default_destination_is_dot_name(invoke, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert invoke("init", "churn-model", "--no-input", "--no-git").exit_code == 0
    assert (tmp_path / "churn-model" / "Pulumi.yaml").is_file()


def test_flags_override_answers_file(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    answers = tmp_path / "answers.yml"
    answers.write_text("region: eu-west-1\nframework: xgboost\nowner: data-team\n")
    dest = tmp_path / "p"
    result = invoke(
        "init",
        "churn-model",
        "--dest",
        str(dest),
        "--answers",
        str(answers),
        "--region",
        "eu-central-1",
        "--no-input",
        "--no-git",
    )
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())["answers"]
    assert recorded["region"] == "eu-central-1"  # the flag wins
    assert recorded["framework"] == "xgboost"  # the file fills the rest
    assert recorded["owner"] == "data-team"
    assert recorded["training_instance_type"] == "ml.g4dn.xlarge"  # xgboost's default


def test_recorded_answers_replay_byte_identically(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "a"
    args = ["--framework", "pytorch", "--ci", "gitlab", "--environments", "prod,dev"]
    assert (
        invoke(
            "init", "churn-model", "--dest", str(first), "--no-input", "--no-git", *args
        ).exit_code
        == 0
    )
    second = tmp_path / "b"
    result = invoke(
        "init",
        "churn-model",
        "--dest",
        str(second),
        "--no-input",
        "--no-git",
        "--answers",
        str(first / ".mlops" / "answers.yml"),
    )
    assert result.exit_code == 0, result.output
    assert snapshot(first) == snapshot(second)


def test_environments_are_put_in_promotion_order(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "p"
    invoke(
        "init",
        "churn-model",
        "--dest",
        str(dest),
        "--environments",
        "prod, dev",
        "--no-input",
        "--no-git",
    )
    assert sorted(p.name for p in dest.glob("Pulumi.*.yaml")) == [
        "Pulumi.dev.yaml",
        "Pulumi.local.yaml",
        "Pulumi.prod.yaml",
    ]
    deploy = yaml.safe_load((dest / ".github" / "workflows" / "deploy.yml").read_text())
    # After `ci` (ci.yml called in the same run: tests and the image), in promotion order.
    assert list(deploy["jobs"]) == ["ci", "deploy-dev", "deploy-prod"]
    assert deploy["jobs"]["deploy-prod"]["needs"] == "deploy-dev"


def test_dry_run_prints_tree_and_writes_nothing(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "p"
    result = invoke("init", "churn-model", "--dest", str(dest), "--no-input", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written: 34 files" in result.output
    assert "deploy.yml" in result.output and "Pulumi.prod.yaml" in result.output
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_force_lists_overwritten_files_and_keeps_user_files(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = build_file_tree(tmp_path / "p", {"README.md": "mine", "notes.txt": "keep me"})
    result = invoke("init", "churn-model", "--dest", str(dest), "--no-input", "--no-git", "--force")
    assert result.exit_code == 0, result.output
    assert "Overwrote 1 template file(s)" in result.output and "README.md" in result.output
    assert (dest / "notes.txt").read_text() == "keep me"
    assert (dest / "README.md").read_text().startswith("# churn-model")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_init_makes_a_first_commit(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "p"
    result = invoke("init", "churn-model", "--dest", str(dest), "--no-input")
    assert result.exit_code == 0, result.output
    assert "git: initialized" in result.output
    log = subprocess.run(["git", "log", "--oneline"], cwd=dest, capture_output=True, text=True)
    assert f"Initial commit from mlops-stack template aws {AWS_VERSION}" in log.stdout
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=dest, capture_output=True, text=True
    )
    assert status.stdout == ""


# --- bad input: non-zero exit, a message naming the problem, nothing written or changed ---

Setup = Callable[[Path], list[str]]


def _answers_file(content: str) -> Setup:
    def setup(root: Path) -> list[str]:
        (root / "answers.yml").write_text(content)
        return ["--answers", str(root / "answers.yml")]

    return setup


def _nonempty(root: Path) -> list[str]:
    build_file_tree(root / "churn-model", {"keep.txt": "mine"})
    return []


def _dest_is_file(root: Path) -> list[str]:
    (root / "churn-model").write_text("I am a file")
    return []


def _symlink_outside(root: Path) -> list[str]:
    outside = root / "outside"
    outside.mkdir()
    dest = build_file_tree(root / "churn-model", {"keep.txt": "mine"})
    (dest / ".github").symlink_to(outside)
    return ["--force"]


def _none(root: Path) -> list[str]:
    return []


BAD_INPUT: list[tuple[str, list[str], Setup, str]] = [
    ("uppercase name", ["ChurnModel"], _none, "must be lowercase"),
    ("underscore in name", ["churn_model"], _none, "must not contain '_'"),
    ("name too short", ["ab"], _none, "at least 3 characters"),
    ("name too long", ["a" * 40], _none, "at most 32 are allowed"),
    ("leading digit", ["1churn"], _none, "must start with a letter"),
    ("trailing hyphen", ["churn-"], _none, "must end with a letter or digit"),
    ("reserved prefix", ["sagemaker-churn"], _none, "reserved prefix 'sagemaker'"),
    ("reserved S3 prefix", ["xn--churn"], _none, "reserved prefix 'xn--'"),
    ("double hyphen", ["churn--model"], _none, "must not contain '--'"),
    ("dot in name", ["churn.model"], _none, "must not contain '.'"),
    ("shadows stdlib", ["json"], _none, "would shadow the existing module 'json'"),
    ("python keyword", ["class"], _none, "is a Python keyword"),
    (
        "unknown region",
        ["churn-model", "--region", "us-east-9"],
        _none,
        "unknown region 'us-east-9' (did you mean 'us-east-2'?)",
    ),
    (
        "unknown instance type",
        ["churn-model", "--training-instance-type", "ml.g9.huge"],
        _none,
        "unknown instance type 'ml.g9.huge'",
    ),
    (
        "type without ml. prefix",
        ["churn-model", "--training-instance-type", "g5.2xlarge"],
        _none,
        "did you mean 'ml.g5.2xlarge'",
    ),
    (
        "GPU framework on CPU type",
        ["churn-model", "--framework", "pytorch", "--training-instance-type", "ml.m5.xlarge"],
        _none,
        "pytorch trains on a GPU but 'ml.m5.xlarge' has none",
    ),
    (
        "sklearn on GPU type",
        ["churn-model", "--training-instance-type", "ml.g5.2xlarge"],
        _none,
        "sklearn cannot use a GPU",
    ),
    (
        "unknown framework",
        ["churn-model", "--framework", "tensorflow"],
        _none,
        "framework: Input should be 'sklearn', 'xgboost' or 'pytorch'",
    ),
    (
        "unknown environment",
        ["churn-model", "--environments", "dev,qa"],
        _none,
        "unknown environment(s) 'qa'",
    ),
    (
        "local listed",
        ["churn-model", "--environments", "dev,local"],
        _none,
        "'local' is always generated",
    ),
    ("bad tag value", ["churn-model", "--owner", "a#b"], _none, "not a valid AWS tag value"),
    ("unknown template", ["churn-model", "--template", "gcp"], _none, "unknown template 'gcp'"),
    (
        "typo'd answers key",
        ["churn-model"],
        _answers_file("regoin: eu-west-1\n"),
        "regoin: unknown key (did you mean 'region'?)",
    ),
    ("answers not a mapping", ["churn-model"], _answers_file("- a\n- b\n"), "must be a mapping"),
    ("answers not YAML", ["churn-model"], _answers_file("a: [unclosed\n"), "is not valid YAML"),
    (
        "missing answers file",
        ["churn-model", "--answers", "nope.yml"],
        _none,
        "answers file not found",
    ),
    ("non-empty destination", ["churn-model"], _nonempty, "is not empty; pass --force"),
    ("destination is a file", ["churn-model"], _dest_is_file, "exists and is not a directory"),
    (
        "symlink pointing outside",
        ["churn-model"],
        _symlink_outside,
        "is a symlink; refusing to write through it",
    ),
]


@pytest.mark.parametrize(
    ("argv", "setup", "message"),
    [pytest.param(argv, setup, message, id=case) for case, argv, setup, message in BAD_INPUT],
)
def test_bad_input_fails_clearly_and_writes_nothing(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch, argv: list[str], setup: Setup, message: str
) -> None:
    from mlops.cli.main import app

    monkeypatch.chdir(tmp_path)
    extra = setup(tmp_path)
    before = snapshot(tmp_path)
    result = cli.invoke(app, ["init", *argv, "--no-input", "--no-git", *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before


def test_unwritable_parent_fails_cleanly(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mlops.cli.main import app

    parent = tmp_path / "locked"
    parent.mkdir()
    # Root ignores permission bits; the immutable attribute stops root too.
    locked = subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode == 0
    if not locked:
        parent.chmod(0o500)
    try:
        before = snapshot(tmp_path)
        result = cli.invoke(app, ["init", "churn-model", "--dest", str(parent / "p"), "--no-input"])
        assert result.exit_code == 2, result.output
        assert (
            "not writable" in result.output
            or "cannot create a temporary directory" in result.output
        )
        assert snapshot(tmp_path) == before
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(parent)], check=True)
        parent.chmod(0o700)


def test_prompts_for_missing_answers_showing_defaults(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlops.cli.main import app
    from mlops.templates import questions

    monkeypatch.setattr(questions, "interactive", lambda: True)
    dest = tmp_path / "p"
    # region, framework, instance type, spot, endpoint, environments, ci, owner, cost center
    answers = "eu-west-1\nxgboost\n\nn\n\ndev\ngitlab\nteam-a\n\n"
    result = cli.invoke(
        app, ["init", "churn-model", "--dest", str(dest), "--no-git"], input=answers
    )
    assert result.exit_code == 0, result.output
    assert "AWS region [us-east-1]" in result.output
    assert "Use managed spot training in dev [Y/n]" in result.output
    recorded = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())["answers"]
    assert recorded == {
        "name": "churn-model",
        "region": "eu-west-1",
        "framework": "xgboost",
        "training_instance_type": "ml.g4dn.xlarge",
        "spot": False,
        "endpoint": "serverless",
        "environments": ["dev"],
        "ci": "gitlab",
        "owner": "team-a",
        "cost_center": "ml",
        "mlops_source": "wheel",  # not asked: rendered from a checkout, the project carries it
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_works_without_a_configured_identity(
    invoke, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "none"))
    for key in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(key, raising=False)
    dest = tmp_path / "p"
    result = invoke("init", "churn-model", "--dest", str(dest), "--no-input")
    assert result.exit_code == 0, result.output
    author = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>"], cwd=dest, capture_output=True, text=True
    )
    assert author.stdout.strip() == "mlops-stack <mlops-stack@localhost>"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_no_nested_repository_inside_an_existing_one(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = invoke("init", "churn-model", "--dest", str(tmp_path / "p"), "--no-input")
    assert result.exit_code == 0, result.output
    assert "git: skipped" in result.output
    assert not (tmp_path / "p" / ".git").exists()


@pytest.mark.parametrize(
    ("source", "requirement", "wheel"),
    [
        ("index", '"mlops-stack==0.1.0"', False),
        (
            "git+https://example.com/org/mlops-stack@v0.1.0",
            '"mlops-stack @ git+https://example.com/org/mlops-stack@v0.1.0"',
            False,
        ),
        ("wheel", '"mlops-stack==0.1.0"', True),
    ],
    ids=["index", "git", "wheel"],
)
def test_the_project_records_where_it_gets_mlops_stack(
    invoke, tmp_path: Path, source: str, requirement: str, wheel: bool
) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "p"
    result = invoke(
        "init",
        "churn-model",
        "--dest",
        str(dest),
        "--no-input",
        "--no-git",
        "--mlops-source",
        source,
    )
    assert result.exit_code == 0, result.output
    assert requirement in (dest / "pyproject.toml").read_text()
    assert (dest / "wheels").is_dir() is wheel
    makefile, dockerfile = (dest / "Makefile").read_text(), (dest / "Dockerfile").read_text()
    # A line of its own: a block tag at a line's end once ate the newline, gluing the next
    # line's comment onto the value.
    assert all("#" not in line for line in makefile.splitlines() if line.startswith("FIND_LINKS"))
    assert ("--find-links wheels" in makefile) is wheel and (
        "COPY wheels/ wheels/" in dockerfile
    ) is wheel
    recorded = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())["answers"]
    assert recorded["mlops_source"] == source


def test_an_unknown_source_is_refused(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "init", "churn-model", "--dest", str(tmp_path / "p"), "--no-input", "--mlops-source", "pypi"
    )
    assert result.exit_code == 2 and "'pypi' is not a source" in result.output
    assert not (tmp_path / "p").exists()


def test_replaying_answers_with_another_framework_derives_its_instance_type_anew(
    invoke, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "xgb"
    assert (
        invoke(
            "init",
            "churn-model",
            "--dest",
            str(first),
            "--no-input",
            "--no-git",
            "--framework",
            "xgboost",
        ).exit_code
        == 0
    )
    record = first / ".mlops" / "answers.yml"
    assert (
        yaml.safe_load(record.read_text())["answers"]["training_instance_type"] == "ml.g4dn.xlarge"
    )
    again = tmp_path / "sk"
    result = invoke(
        "init",
        "churn-model",
        "--dest",
        str(again),
        "--no-input",
        "--no-git",
        "--answers",
        str(record),
        "--framework",
        "sklearn",
    )
    assert result.exit_code == 0, result.output
    replayed = yaml.safe_load((again / ".mlops" / "answers.yml").read_text())["answers"]
    assert (replayed["framework"], replayed["training_instance_type"]) == (
        "sklearn",
        "ml.m5.xlarge",
    )
    # A type the user chose is kept, and validation says when it no longer fits.
    chosen = tmp_path / "chosen"
    assert (
        invoke(
            "init",
            "churn-model",
            "--dest",
            str(chosen),
            "--no-input",
            "--no-git",
            "--framework",
            "xgboost",
            "--training-instance-type",
            "ml.g5.xlarge",
        ).exit_code
        == 0
    )
    clash = invoke(
        "init",
        "churn-model",
        "--dest",
        str(tmp_path / "clash"),
        "--no-input",
        "--no-git",
        "--answers",
        str(chosen / ".mlops" / "answers.yml"),
        "--framework",
        "sklearn",
    )
    assert clash.exit_code == 2 and "sklearn cannot use a GPU" in clash.output


def test_a_bad_piped_answer_stops_at_that_question(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlops.cli.main import app
    from mlops.templates import questions

    monkeypatch.setattr(questions, "interactive", lambda: True)
    monkeypatch.setattr(questions, "on_terminal", lambda: False)
    dest = tmp_path / "p"
    # region, then a framework that does not exist; seven more answers follow that are never read
    result = cli.invoke(
        app,
        ["init", "churn-model", "--dest", str(dest), "--no-git"],
        input="eu-west-1\ntensorflow\n" + "\n" * 7,
    )
    assert result.exit_code == 2
    assert "framework" in result.output and "tensorflow" in result.output
    assert "Training instance type" not in result.output.split("tensorflow", 1)[1]  # stopped there
    assert not dest.exists()


def test_a_person_is_asked_again_and_sees_the_choices(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlops.cli.main import app
    from mlops.templates import questions

    monkeypatch.setattr(questions, "interactive", lambda: True)
    monkeypatch.setattr(questions, "on_terminal", lambda: True)
    dest = tmp_path / "p"
    # a region that does not exist, then a real one; xgboost; defaults for the rest
    answers = "mars-north-1\neu-west-1\nxgboost\n" + "\n" * 8
    result = cli.invoke(
        app, ["init", "churn-model", "--dest", str(dest), "--no-git"], input=answers
    )
    assert result.exit_code == 0, result.output
    assert "unknown region 'mars-north-1'" in result.output
    assert "ML framework (sklearn, xgboost, pytorch)" in result.output
    assert (
        yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())["answers"]["region"]
        == "eu-west-1"
    )


def test_piped_answers_are_read_not_ignored(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from mlops.cli.main import app; app(['init', 'churn-model', '--dest', 'p', '--no-git'])"
    answers = "eu-west-1\nxgboost\n\nn\n\ndev\ngitlab\nteam-a\n\n"
    done = subprocess.run(
        [sys.executable, "-c", code], input=answers, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load((tmp_path / "p" / ".mlops" / "answers.yml").read_text())["answers"]
    assert (recorded["region"], recorded["framework"], recorded["ci"]) == (
        "eu-west-1",
        "xgboost",
        "gitlab",
    )
    quiet = subprocess.run(
        [sys.executable, "-c", code.replace("'p'", "'q'")],
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert quiet.returncode == 0, quiet.stderr  # nothing piped: the defaults, no prompt waits
    assert (
        yaml.safe_load((tmp_path / "q" / ".mlops" / "answers.yml").read_text())["answers"]["region"]
        == "us-east-1"
    )


def test_a_relative_destination_beside_a_repository_still_gets_git(
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    repo = tmp_path / "work"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    monkeypatch.chdir(repo)  # `mlops init x --dest ../x` from inside another repository
    result = invoke("init", "sibling", "--no-input", "--dest", "../sibling", "--ci", "none")
    assert result.exit_code == 0, result.output
    assert "git: initialized" in result.output and (tmp_path / "sibling" / ".git").is_dir()


@pytest.mark.parametrize("pack", ["aws", "k8s"])
def test_make_install_uses_uv_when_present_and_compiles_bytecode(
    invoke, tmp_path: Path, pack: str
) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import subprocess

    dest = tmp_path / "p"
    args = ["init", "churn-model", "--template", pack, "--dest", str(dest), "--no-input"]
    assert invoke(*args, "--no-git").exit_code == 0
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    with_uv = tmp_path / "with-uv"
    with_uv.mkdir()
    (with_uv / "uv").write_text("#!/bin/sh\nexit 0\n")
    (with_uv / "uv").chmod(0o755)
    plans = {}
    for label, path in (("uv", f"{with_uv}:/usr/bin:/bin"), ("pip", "/usr/bin:/bin")):
        done = subprocess.run(
            [make, "-n", "install", "PYTHON=python3"],
            cwd=dest,
            env={"PATH": path},
            capture_output=True,
            text=True,
            check=True,
        )
        plans[label] = done.stdout
    assert "uv pip install --python python3 --compile-bytecode" in plans["uv"]
    assert "--refresh-package mlops-stack --find-links wheels" in plans["uv"]
    assert "python3 -m pip install --find-links wheels" in plans["pip"]  # pip compiles itself
    assert "uv pip" not in plans["pip"]


@pytest.mark.parametrize(
    "source",
    [
        'https://example.invalid/x.whl"; touch /tmp/pwned; echo "',
        "git+https://example.invalid/r.git$(id)",
        "https://example.invalid/x.whl\nRUN id",
    ],
)
def test_a_source_url_that_could_leave_its_quotes_is_refused(
    invoke, tmp_path: Path, source: str
) -> None:  # type: ignore[no-untyped-def]
    # It is written into the Dockerfiles' RUN lines and pyproject.toml's strings.
    dest = tmp_path / "p"
    result = invoke(
        "init", "churn-model", "--dest", str(dest), "--no-input", "--mlops-source", source
    )
    assert result.exit_code == 2 and "is not a source" in result.output
    assert not dest.exists()
