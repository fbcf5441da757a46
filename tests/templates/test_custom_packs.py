"""Custom template packs: from a directory and from a git URL at a tag, extending the bundled
aws pack, with organisation rules, their own code only with --trust, and updates between tags."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops.templates.custom import new_pack


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # clones, the recent list
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "dev")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "dev@example.com")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    root = tmp_path / "acme-pack"
    new_pack(root, "acme")
    return root


def test_a_directory_pack_extends_the_bundled_one_with_the_organisations_rules(
    pack: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    # Its own file, an override of a bundled file, and the bundled pack's everything else.
    (pack / "files" / "Makefile.jinja").write_text("# {{ team }}'s Makefile\ntest:\n\tpytest\n")
    dest = tmp_path / "churn"
    result = invoke(
        "init",
        "churn",
        "--template",
        str(pack),
        "--no-input",
        "--no-git",
        "--dest",
        str(dest),
        "--team",
        "fraud",
    )
    assert result.exit_code == 0, result.output
    assert "from template acme 0.1.0" in result.output
    assert (dest / "TEAM.md").read_text().startswith("# churn\n\nOwned by fraud (template acme)")
    assert (dest / "Makefile").read_text().startswith("# fraud's Makefile")
    assert (dest / "infra" / "__main__.py").exists() and (dest / "policy" / "config.json").exists()
    record = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())
    assert (record["template"], record["template_source"]) == ("acme", str(pack))
    assert record["answers"]["owner"] == "ml-platform"  # the organisation's default
    assert record["answers"]["region"] == "eu-west-1"  # locked
    assert 'aws:region: "eu-west-1"' in (dest / "Pulumi.prod.yaml").read_text()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--region", "us-east-1", "region is locked to 'eu-west-1' by the pack 'acme'"),
        ("--training-instance-type", "ml.p3.2xlarge", "is not allowed by the pack 'acme'"),
        ("--team", "Fraud Team", "team: 'Fraud Team': lowercase letters, digits and '-'"),
    ],
)
def test_the_packs_rules_refuse_bad_answers_and_write_nothing(
    pack: Path, tmp_path: Path, invoke, flag: str, value: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "churn"
    result = invoke(
        "init", "churn", "--template", str(pack), "--no-input", "--dest", str(dest), flag, value
    )
    assert result.exit_code == 2 and message in result.output
    assert not dest.exists()


def test_pack_code_runs_only_with_trust(pack: Path, tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    (pack / "pack.py").write_text(
        "def context(answers, context):\n    return {**context, 'team': context['team'].upper()}\n"
    )
    dest = tmp_path / "churn"
    refused = invoke(
        "init", "churn", "--template", str(pack), "--no-input", "--no-git", "--dest", str(dest)
    )
    assert refused.exit_code == 2 and "pass --trust if you trust its source" in refused.output
    assert not dest.exists()
    trusted = invoke(
        "init",
        "churn",
        "--template",
        str(pack),
        "--no-input",
        "--no-git",
        "--dest",
        str(dest),
        "--trust",
    )
    assert trusted.exit_code == 0, trusted.output
    assert "Owned by ML-PLATFORM" in (dest / "TEAM.md").read_text()


def test_a_git_pack_at_a_tag_and_an_update_to_the_next_tag(
    pack: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    git(pack, "init", "-q", "-b", "main")
    git(pack, "add", "-A")
    git(pack, "commit", "-q", "-m", "0.1.0")
    git(pack, "tag", "v0.1.0")
    url = f"file://{pack}"
    dest = tmp_path / "churn"
    result = invoke(
        "init", "churn", "--template", f"{url}@v0.1.0", "--no-input", "--dest", str(dest)
    )
    assert result.exit_code == 0, result.output
    # The project's own edit, then a new release of the pack touching another line.
    team = dest / "TEAM.md"
    team.write_text(team.read_text() + "\nOn call: #fraud-oncall\n")
    git(dest, "commit", "-q", "-am", "on call")
    manifest = pack / "template.yml"
    manifest.write_text(manifest.read_text().replace("version: 0.1.0", "version: 0.2.0"))
    owned = pack / "files" / "TEAM.md.jinja"
    owned.write_text("Team page.\n" + owned.read_text())
    git(pack, "commit", "-q", "-am", "0.2.0")
    git(pack, "tag", "v0.2.0")

    check = invoke("check-update", "--project", str(dest))
    assert check.exit_code == 1 and "0.1.0 -> v0.2.0 is available" in check.output
    update = invoke("update", "--to", "v0.2.0", "--project", str(dest))
    assert update.exit_code == 0, update.output
    text = team.read_text()
    assert text.startswith("Team page.\n# churn") and "On call: #fraud-oncall" in text
    record = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())
    assert record["template_version"] == "0.2.0"
    listed = invoke("templates", "list")
    assert f"acme         0.1.0    recent     {url}@v0.1.0" in listed.output


def test_templates_new_writes_a_pack_whose_own_tests_pass(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "starter"
    result = invoke("templates", "new", str(dest))
    assert result.exit_code == 0 and "wrote 4 files" in result.output
    again = invoke("templates", "new", str(dest))
    assert again.exit_code == 2 and "is not empty" in again.output
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout[-2000:]


def release(pack: Path, version: str) -> None:
    manifest = pack / "template.yml"
    text = manifest.read_text()
    manifest.write_text(text.replace(text.split("version: ", 1)[1].split("\n", 1)[0], version, 1))
    git(pack, "add", "-A")
    git(pack, "commit", "-q", "-m", version)
    git(pack, "tag", f"v{version}")


def git_project(pack: Path, tmp_path: Path, invoke, tag: str) -> Path:  # type: ignore[no-untyped-def]
    dest = tmp_path / "churn"
    result = invoke(
        "init", "churn", "--template", f"file://{pack}@{tag}", "--no-input", "--dest", str(dest)
    )
    assert result.exit_code == 0, result.output
    return dest


def test_type_conflicts_hold_continue_until_each_is_resolved_and_nothing_is_lost(
    pack: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    files = pack / "files"
    (files / "thing").write_text("thing v1\n")
    (files / "flip").mkdir()
    (files / "flip" / "a.txt").write_text("a\n")
    git(pack, "init", "-q", "-b", "main")
    release(pack, "0.2.0")
    dest = git_project(pack, tmp_path, invoke, "v0.2.0")
    (dest / "thing").write_text("thing v1\nmine\n")
    (dest / "flip" / "a.txt").write_text("a\nmine\n")
    team = dest / "TEAM.md"
    team.write_text(team.read_text().replace("Owned by", "Run by"))
    git(dest, "commit", "-q", "-am", "my edits")
    # 0.3.0: thing becomes a directory, flip a file, and TEAM.md's line changes too.
    (files / "thing").unlink()
    (files / "thing").mkdir()
    (files / "thing" / "x.txt").write_text("x\n")
    (files / "flip" / "a.txt").unlink()
    (files / "flip").rmdir()
    (files / "flip").write_text("flip is a file now\n")
    owned = files / "TEAM.md.jinja"
    owned.write_text(owned.read_text().replace("Owned by", "Maintained by"))
    release(pack, "0.3.0")

    update = invoke("update", "--to", "v0.3.0", "--project", str(dest))
    assert update.exit_code == 1, update.output
    assert "! flip: conflict (you have a directory here, the template a file)" in update.output
    assert "! thing/x.txt: conflict (you have a file where the template has a directory" in (
        update.output
    )
    assert "the template's version is in .mlops/update/theirs/" in update.output
    theirs = dest / ".mlops" / "update" / "theirs"
    assert (theirs / "flip").read_text() == "flip is a file now\n"
    assert (theirs / "thing" / "x.txt").read_text() == "x\n"
    assert (dest / "thing").read_text() == "thing v1\nmine\n"
    assert (dest / "flip" / "a.txt").read_text() == "a\nmine\n"
    text = team.read_text()
    start, end = text.index("<<<<<<< yours\n"), text.index(">>>>>>> template 0.3.0\n")
    team.write_text(text[:start] + text[start:end].splitlines()[1] + "\n" + text[end + 23 :])

    refused = invoke("update", "--continue", "--project", str(dest))
    assert refused.exit_code == 2, refused.output
    lines = refused.output.splitlines()
    assert any(line.strip().startswith("flip: still a directory") for line in lines)
    assert any(line.strip().startswith("thing/x.txt: a file stands") for line in lines)
    record = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())
    assert record["template_version"] == "0.2.0"

    # flip: the template's side (yours moved aside); thing: yours, explicitly.
    (dest / "flip").rename(dest / "flip.mine")
    (dest / "flip").write_bytes((theirs / "flip").read_bytes())
    done = invoke("update", "--continue", "--keep-mine", "thing", "--project", str(dest))
    assert done.exit_code == 0, done.output
    record = yaml.safe_load((dest / ".mlops" / "answers.yml").read_text())
    assert record["template_version"] == "0.3.0"
    assert (dest / "thing").read_text() == "thing v1\nmine\n"
    assert (dest / "flip.mine" / "a.txt").read_text() == "a\nmine\n"
    assert not theirs.exists()
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "0.3.0")

    # The next release changes flip: the project takes it (it is not "deleted by you").
    (files / "flip").write_text("flip is a file now\nand changed\n")
    release(pack, "0.4.0")
    later = invoke("update", "--to", "v0.4.0", "--project", str(dest))
    assert later.exit_code == 0, later.output
    assert "~ flip: updated" in later.output
    assert (dest / "flip").read_text() == "flip is a file now\nand changed\n"
    assert (dest / "thing").read_text() == "thing v1\nmine\n"


def test_check_update_on_a_git_pack_advises_the_command_that_works(
    pack: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    git(pack, "init", "-q", "-b", "main")
    release(pack, "0.1.0")
    dest = git_project(pack, tmp_path, invoke, "v0.1.0")
    release(pack, "0.2.0")
    check = invoke("check-update", "--project", str(dest))
    assert check.exit_code == 1, check.output
    command = check.output.split("run `", 1)[1].split("`", 1)[0]
    assert command.startswith("mlops update --to v0.2.0")
    advised = invoke(*shlex.split(command)[1:])
    assert advised.exit_code == 0, advised.output
    assert "updated acme 0.1.0 -> 0.2.0" in advised.output
    assert invoke("check-update", "--project", str(dest)).exit_code == 0


def test_check_update_fails_when_the_source_cannot_be_reached(
    pack: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    git(pack, "init", "-q", "-b", "main")
    release(pack, "0.1.0")
    dest = git_project(pack, tmp_path, invoke, "v0.1.0")
    path = dest / ".mlops" / "answers.yml"
    lines = [
        "template_source: 'file:///nonexistent/repo'"
        if line.startswith("template_source:")
        else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    check = invoke("check-update", "--project", str(dest))
    assert check.exit_code == 2, check.output
    assert "up to date" not in check.output
    assert "file:///nonexistent/repo could not be reached" in check.output
    assert "does not appear to be a git repository" in check.output
    assert len(check.output.strip().splitlines()) == 1
