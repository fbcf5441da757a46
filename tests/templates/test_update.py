"""`mlops update`: a newer template version merged into a project, no user edit lost.

Each test makes a project from the bundled aws pack (its pristine render committed by `mlops
init`), then installs a "newer version" of that pack (a copy of its file tree with changes, a
higher version) in place of the bundled one. The old version is never installed again: the
merge base comes from the project's git history, as it would after upgrading mlops-stack.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import snapshot

import mlops.templates.update  # noqa: F401 - imported before any test replaces load_pack
from mlops.templates.engine import Scaffold
from mlops.templates.pack import FileSpec, Rename, TemplatePack, load_pack, validate_answers

BUNDLED = load_pack("aws")
# Under the bundled packs' file root: the sources the packs share, and the aws pack's own.
SHARED = "common/files"
OWN = "aws/files"


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "dev")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "dev@example.com")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "churn"
    answers = validate_answers({"name": "churn", "ci": "none", "environments": "dev"})
    result = Scaffold(answers, root).run()
    assert result.git == "initialized"
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def commit(root: Path, message: str = "my edits") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def upgrade(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    edit: Callable[[Path], None] = lambda _: None,
    version: str = "9.0.0",
    base: TemplatePack = BUNDLED,
    **changes: Any,
) -> TemplatePack:
    """Install a newer version of the pack: its file tree copied, edited, re-versioned."""
    files = tmp_path / f"pack-{version}"
    shutil.copytree(base.files_root, files)
    edit(files)
    pack = dataclasses.replace(base, version=version, files_root=files, **changes)
    for module in ("mlops.templates.pack", "mlops.templates.engine", "mlops.templates.update"):
        monkeypatch.setattr(f"{module}.load_pack", lambda name, pack=pack: pack)
    return pack


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def record(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((root / ".mlops" / "answers.yml").read_text())
    return loaded


def test_an_untouched_file_takes_the_new_version(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert (project / ".dockerignore").read_text().endswith("*.parquet\n")
    assert "~ .dockerignore: updated" in result.output
    assert record(project)["template_version"] == "9.0.0"


def test_an_edited_file_merges_with_a_change_elsewhere(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    append(project / "Makefile", "\nmine: ## my own target\n\techo mine\n")
    commit(project)
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(
            f / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11"
        ),
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    makefile = (project / "Makefile").read_text()
    assert makefile.startswith("PYTHON ?= python3.11\n") and "echo mine" in makefile
    assert "M Makefile: merged" in result.output


def test_a_conflict_is_marked_listed_and_holds_the_record_back(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    replace(project / "Makefile", "STACK ?= dev", "STACK ?= qa")
    commit(project)
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(f / SHARED / "Makefile.jinja", "STACK ?= dev", "STACK ?= staging"),
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 1
    assert (
        "1 file(s) have conflicts: Makefile" in result.output
        and "! Makefile: conflict" in result.output
    )
    makefile = (project / "Makefile").read_text()
    assert (
        "<<<<<<< yours\nSTACK ?= qa\n" in makefile
        and "STACK ?= staging\n>>>>>>> template 9.0.0" in makefile
    )
    # Nothing advanced yet: not the record, not the merge base.
    assert record(project)["template_version"] == BUNDLED.version
    pristine = git(project, "rev-parse", "refs/mlops/pristine")
    refused = invoke("update", "--continue", "--project", str(project))
    assert refused.exit_code == 2 and "conflict markers remain in Makefile" in refused.output
    again = invoke("update", "--project", str(project))
    assert again.exit_code == 2 and "an update is in progress" in again.output
    text = (project / "Makefile").read_text()
    start, end = (
        text.index("<<<<<<< yours"),
        text.index(">>>>>>> template 9.0.0\n") + len(">>>>>>> template 9.0.0\n"),
    )
    (project / "Makefile").write_text(text[:start] + "STACK ?= qa\n" + text[end:])
    done = invoke("update", "--continue", "--project", str(project))
    assert done.exit_code == 0, done.output
    assert record(project)["template_version"] == "9.0.0"
    assert git(project, "rev-parse", "refs/mlops/pristine") != pristine
    assert not (project / ".mlops" / "update.yml").exists()


def test_a_new_upstream_file_is_added(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def edit(files: Path) -> None:
        (files / "CONTRIBUTING.md").write_text("# How to contribute\n")

    upgrade(
        monkeypatch,
        tmp_path,
        edit,
        manifest=lambda a: [*BUNDLED.manifest(a), FileSpec("CONTRIBUTING.md", "CONTRIBUTING.md")],
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert (project / "CONTRIBUTING.md").read_text() == "# How to contribute\n"
    assert "+ CONTRIBUTING.md: added" in result.output


@pytest.mark.parametrize("edited", [False, True], ids=["unedited", "edited"])
def test_a_file_removed_upstream_goes_only_if_you_never_edited_it(
    edited: bool, project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    if edited:
        append(project / ".dockerignore", "my-secrets/\n")
        commit(project)
    upgrade(
        monkeypatch,
        tmp_path,
        manifest=lambda a: [s for s in BUNDLED.manifest(a) if s.dest != ".dockerignore"],
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert (project / ".dockerignore").exists() is edited
    if edited:
        assert "my-secrets/" in (project / ".dockerignore").read_text()
        assert "removed upstream; you edited it, so it stays" in result.output


def test_a_file_you_deleted_is_not_brought_back(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    git(project, "rm", "-q", ".dockerignore")
    commit(project, "we do not build images here")
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert not (project / ".dockerignore").exists()
    assert "you deleted it; not restored (it changed upstream)" in result.output


def test_a_new_question_takes_its_default(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pydantic import Field

    class Answers(BUNDLED.answers_model):  # type: ignore[name-defined,misc]
        support_email: str = Field(default="ml-team@example.com", description="Who to ask")

    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: append(f / OWN / "README.md.jinja", "\nSupport: {{ support_email }}\n"),
        answers_model=Answers,
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert "new question support_email: 'ml-team@example.com'" in result.output
    assert (project / "README.md").read_text().endswith("Support: ml-team@example.com\n")
    assert record(project)["answers"]["support_email"] == "ml-team@example.com"


def test_a_renamed_resource_is_aliased_so_its_state_moves(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    rename = Rename("aws:s3/bucket:Bucket", "{prefix}-data-raw", "{prefix}-lake-raw")
    upgrade(monkeypatch, tmp_path, migrations={"9.0.0": (rename,)})
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert "renamed aws:s3/bucket:Bucket: {prefix}-data-raw -> {prefix}-lake-raw" in result.output
    aliases = yaml.safe_load((project / ".mlops" / "aliases.yml").read_text())["aliases"]
    assert aliases == [
        {"type": "aws:s3/bucket:Bucket", "old": "{prefix}-data-raw", "new": "{prefix}-lake-raw"}
    ]
    # Under the mock runtime, the program registers the bucket with its old name as an alias.
    from mlops.infra.program import capture

    program = capture(project, "dev")
    bucket = program.named("churn-dev-lake-raw")
    assert bucket.aliases == ("churn-dev-data-raw",)
    assert program.named("churn-dev-lake-curated").aliases == ()


def test_a_dirty_tree_is_refused_and_nothing_is_written(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    append(project / "Makefile", "# not committed\n")
    before = snapshot(project)
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 2 and "uncommitted changes (Makefile)" in result.output
    assert snapshot(project) == before


def test_dry_run_prints_the_diff_and_writes_nothing(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(project)
    refs = git(project, "for-each-ref")
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--dry-run", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert "+++ b/.dockerignore" in result.output and "+*.parquet" in result.output
    assert "dry run: nothing written" in result.output
    assert snapshot(project) == before and git(project, "for-each-ref") == refs


def test_a_second_update_merges_against_the_first_ones_render(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    replace(project / "Makefile", "image: ## build", "image: ## (mine) build")
    commit(project)
    v2 = upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(
            f / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11"
        ),
    )
    assert invoke("update", "--project", str(project)).exit_code == 0
    commit(project, "template 9.0.0")
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: append(
            f / SHARED / "Makefile.jinja", "\nclean: ## remove build outputs\n\trm -rf .ml\n"
        ),
        version="9.1.0",
        base=v2,
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    makefile = (project / "Makefile").read_text()
    # 9.0.0's change, 9.1.0's change and the user's edit, and no conflict: the base was 9.0.0's.
    assert (
        "PYTHON ?= python3.11" in makefile
        and "(mine) build" in makefile
        and "rm -rf .ml" in makefile
    )
    assert "<<<<<<<" not in makefile and record(project)["template_version"] == "9.1.0"


def test_a_project_without_the_pristine_ref_merges_against_its_first_commit(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    git(project, "update-ref", "-d", "refs/mlops/pristine")  # a project from before the ref
    append(project / "Makefile", "\nmine:\n\techo mine\n")
    commit(project)
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(
            f / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11"
        ),
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    makefile = (project / "Makefile").read_text()
    assert "PYTHON ?= python3.11" in makefile and "echo mine" in makefile


def test_check_update_and_init_force_on_a_project(project, invoke, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    current = invoke("check-update", "--project", str(project))
    assert current.exit_code == 0, current.output
    assert f"{BUNDLED.version}: up to date" in current.output
    for force in (["--force"], []):  # one message either way, not "pass --force" then a refusal
        refused = invoke(
            "init", "churn", "--dest", str(project), *force, "--no-input", "--ci", "gitlab"
        )
        assert refused.exit_code == 2, refused.output
        assert "`mlops update` brings template changes in" in refused.output
        assert "pass --force" not in refused.output
    upgrade(monkeypatch, tmp_path)
    newer = invoke("check-update", "--project", str(project))
    assert newer.exit_code == 1 and f"{BUNDLED.version} -> 9.0.0 is available" in newer.output
    wrong = invoke("update", "--to", "8.0.0", "--project", str(project))
    assert wrong.exit_code == 2 and "installed at 9.0.0" in wrong.output


def _conflict(project: Path, invoke, monkeypatch, tmp_path) -> str:  # type: ignore[no-untyped-def]
    replace(project / "Makefile", "STACK ?= dev", "STACK ?= qa")
    commit(project)
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(f / SHARED / "Makefile.jinja", "STACK ?= dev", "STACK ?= staging"),
    )
    assert invoke("update", "--project", str(project)).exit_code == 1
    return (project / "Makefile").read_text()


@pytest.mark.parametrize(
    ("leftover", "shown"),
    [
        ("=======\n", "'======='"),
        ("  <<<<<<< yours\n", "'<<<<<<< yours'"),
        ("\t>>>>>>> template 9.0.0\n", "'>>>>>>> template 9.0.0'"),
        ("||||||| template 0.1.0\n", "'||||||| template"),
        ("=======\r\n", "'======='"),
    ],
)
def test_continue_refuses_every_form_of_marker_naming_file_and_line(
    project, invoke, monkeypatch, tmp_path, leftover: str, shown: str
) -> None:  # type: ignore[no-untyped-def]
    text = _conflict(project, invoke, monkeypatch, tmp_path)
    start = text.index("<<<<<<< yours")
    end = text.index(">>>>>>> template 9.0.0\n") + len(">>>>>>> template 9.0.0\n")
    resolved = text[:start] + "STACK ?= qa\n" + leftover + text[end:]
    (project / "Makefile").write_text(resolved)
    line = resolved[: resolved.index(leftover)].count("\n") + 1
    result = invoke("update", "--continue", "--project", str(project))
    assert result.exit_code == 2, result.output
    assert f"conflict markers remain in Makefile (line {line}: {shown}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert record(project)["template_version"] == BUNDLED.version
    # Near-markers are content, not markers: the update then finishes.
    (project / "Makefile").write_text(resolved.replace(leftover, "# ======== a rule\n"))
    assert invoke("update", "--continue", "--project", str(project)).exit_code == 0


def test_a_crlf_file_merges_cleanly_with_an_lf_template_and_stays_crlf(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    makefile = project / "Makefile"
    makefile.write_bytes(makefile.read_bytes().replace(b"\n", b"\r\n"))  # only line endings
    readme = project / "README.md"
    readme.write_bytes(readme.read_bytes().replace(b"\n", b"\r\n") + b"Mine.\r\n")  # and an edit
    commit(project)

    def edit(files: Path) -> None:
        replace(files / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11")
        text = (files / OWN / "README.md.jinja").read_text()
        (files / OWN / "README.md.jinja").write_text("Upstream first line.\n" + text)

    upgrade(monkeypatch, tmp_path, edit)
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert "~ Makefile: updated" in result.output and "M README.md: merged" in result.output
    for path in (makefile, readme):
        data = path.read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n") > 0, path  # CRLF throughout
    assert makefile.read_bytes().startswith(b"PYTHON ?= python3.11\r\n")
    text = readme.read_bytes()
    assert text.startswith(b"Upstream first line.\r\n") and text.endswith(b"Mine.\r\n")


def test_a_directory_turned_into_a_file_is_a_conflict_not_a_traceback(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    shutil.rmtree(project / "tests")
    (project / "tests").write_text("we test elsewhere\n")
    commit(project)

    def edit(files: Path) -> None:
        for path in (files / SHARED / "tests").rglob("*.jinja"):
            append(path, "# changed upstream\n")
            break

    upgrade(monkeypatch, tmp_path, edit)
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 1, result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output
    assert "you have a file where the template has a directory" in result.output
    assert (project / "tests").read_text() == "we test elsewhere\n"


def test_a_file_turned_into_a_directory_is_a_conflict_not_a_traceback(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    (project / ".dockerignore").unlink()
    (project / ".dockerignore").mkdir()
    (project / ".dockerignore" / "keep").write_text("mine\n")
    commit(project)
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 1, result.output
    assert "! .dockerignore: conflict (you have a directory here, the template a file)" in (
        result.output
    )
    assert (project / ".dockerignore" / "keep").read_text() == "mine\n"


def test_the_template_turning_a_file_into_a_directory_updates_cleanly(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    def edit(files: Path) -> None:
        (files / "dockerignore.d").mkdir()
        (files / "dockerignore.d" / "base").write_text("*.pyc\n")

    upgrade(
        monkeypatch,
        tmp_path,
        edit,
        manifest=lambda a: [
            *(s for s in BUNDLED.manifest(a) if s.dest != ".dockerignore"),
            FileSpec("dockerignore.d/base", ".dockerignore/base"),
        ],
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert (project / ".dockerignore" / "base").read_text() == "*.pyc\n"


def test_a_no_git_project_updates_after_following_the_advice(tmp_path, invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn"
    answers = validate_answers({"name": "churn", "ci": "none", "environments": "dev"})
    assert Scaffold(answers, root, git=False).run().git == "disabled"
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(
            f / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11"
        ),
    )
    advised = invoke("update", "--project", str(root))
    assert advised.exit_code == 2 and "is not a git repository" in advised.output
    command = advised.output.split("Run `", 1)[1].split("`", 1)[0]
    subprocess.run(command, shell=True, cwd=root, check=True)  # our own advice
    append(root / "README.md", "\nMine.\n")
    commit(root)
    result = invoke("update", "--project", str(root))
    assert result.exit_code == 0, result.output
    assert (root / "Makefile").read_text().startswith("PYTHON ?= python3.11\n")
    assert (root / "README.md").read_text().endswith("Mine.\n")


def test_a_no_git_project_committed_its_own_way_uses_its_first_commit(
    tmp_path, invoke, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn"
    answers = validate_answers({"name": "churn", "ci": "none", "environments": "dev"})
    Scaffold(answers, root, git=False).run()
    git(root, "init", "-q")
    commit(root, "first")
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: replace(
            f / SHARED / "Makefile.jinja", "PYTHON ?= python3", "PYTHON ?= python3.11"
        ),
    )
    result = invoke("update", "--project", str(root))
    assert result.exit_code == 0, result.output
    assert (root / "Makefile").read_text().startswith("PYTHON ?= python3.11\n")


def _type_conflict(project: Path, invoke, monkeypatch, tmp_path) -> TemplatePack:  # type: ignore[no-untyped-def]
    """Your directory where the template's changed .dockerignore file is: a type conflict."""
    (project / ".dockerignore").unlink()
    (project / ".dockerignore").mkdir()
    (project / ".dockerignore" / "keep").write_text("mine\n")
    commit(project)
    pack = upgrade(
        monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n")
    )
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 1, result.output
    assert "the template's version is in .mlops/update/theirs/" in result.output
    assert "--keep-mine PATH" in result.output
    return pack


def test_continue_waits_for_a_type_conflict_taken_from_the_templates_copy(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    pack = _type_conflict(project, invoke, monkeypatch, tmp_path)
    theirs = project / ".mlops" / "update" / "theirs" / ".dockerignore"
    assert theirs.read_text().endswith("*.parquet\n")
    refused = invoke("update", "--continue", "--project", str(project))
    assert refused.exit_code == 2, refused.output
    assert (
        ".dockerignore: still a directory; the template's file is"
        " .mlops/update/theirs/.dockerignore" in refused.output
    )
    assert record(project)["template_version"] == BUNDLED.version
    assert (project / ".dockerignore" / "keep").read_text() == "mine\n"
    # Take the template's side: yours moved aside, its copy put in place.
    (project / ".dockerignore").rename(project / "dockerignore.mine")
    shutil.copy(theirs, project / ".dockerignore")
    done = invoke("update", "--continue", "--project", str(project))
    assert done.exit_code == 0, done.output
    assert record(project)["template_version"] == "9.0.0"
    assert not (project / ".mlops" / "update").exists()
    assert (project / "dockerignore.mine" / "keep").read_text() == "mine\n"
    commit(project)
    # The next update sees the template's file as there, not as deleted by you.
    upgrade(
        monkeypatch,
        tmp_path,
        lambda f: append(f / SHARED / "dockerignore", "*.csv\n"),
        "9.1.0",
        pack,
    )
    later = invoke("update", "--project", str(project))
    assert later.exit_code == 0, later.output
    assert "~ .dockerignore: updated" in later.output
    assert (project / ".dockerignore").read_text().endswith("*.parquet\n*.csv\n")


def test_keep_mine_resolves_a_type_conflict_explicitly_and_only_a_listed_one(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    _type_conflict(project, invoke, monkeypatch, tmp_path)
    alone = invoke("update", "--keep-mine", ".dockerignore", "--project", str(project))
    assert alone.exit_code == 2 and "--keep-mine goes with --continue" in alone.output
    wrong = invoke("update", "--continue", "--keep-mine", "Makefile", "--project", str(project))
    assert wrong.exit_code == 2 and "--keep-mine Makefile: not a type conflict" in wrong.output
    assert record(project)["template_version"] == BUNDLED.version
    done = invoke(
        "update", "--continue", "--keep-mine", "./.dockerignore/", "--project", str(project)
    )
    assert done.exit_code == 0, done.output
    assert (project / ".dockerignore" / "keep").read_text() == "mine\n"
    assert record(project)["template_version"] == "9.0.0"
    assert not (project / ".mlops" / "update").exists()


def test_a_leftover_template_copy_is_never_overwritten(
    project, invoke, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    (project / ".dockerignore").unlink()
    (project / ".dockerignore").mkdir()
    (project / ".dockerignore" / "keep").write_text("mine\n")
    commit(project)
    leftover = project / ".mlops" / "update" / "theirs" / ".dockerignore"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("my notes\n")
    upgrade(monkeypatch, tmp_path, lambda f: append(f / SHARED / "dockerignore", "*.parquet\n"))
    result = invoke("update", "--project", str(project))
    assert result.exit_code == 2 and "left from an earlier update" in result.output
    assert leftover.read_text() == "my notes\n"
    assert record(project)["template_version"] == BUNDLED.version
    assert not (project / ".mlops" / "update.yml").exists()
