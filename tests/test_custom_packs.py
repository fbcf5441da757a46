"""Custom template packs: from a directory and from a git URL at a tag, extending the bundled
aws pack, with organisation rules, their own code only with --trust, and updates between tags."""

from __future__ import annotations

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
