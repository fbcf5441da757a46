"""Untrusted input can't run code, leak files or redirect git (issue 18).

Each attack is reproduced with a canary: a hook or command that would touch a marker file, a
secret outside the pack that must not reach the project. Bad input ends in one line, a non-zero
exit, nothing written at the destination.
"""

from __future__ import annotations

import dataclasses
import os
import random
import resource
import shutil
import stat
import subprocess
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from conftest import build_file_tree, snapshot

from mlops.core import git as gitcmd
from mlops.core.errors import MlopsError
from mlops.templates import render
from mlops.templates.custom import Source, load_custom
from mlops.templates.pack import FileSpec, TemplatePack

MINIMAL = "name: tiny\nversion: 1.0.0\ndescription: a tiny pack\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "dev")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "dev@example.com")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def make_pack(root: Path, files: dict[str, str | bytes], manifest: str = MINIMAL) -> Path:
    build_file_tree(
        root,
        {
            "template.yml": manifest,
            "files/README.md.jinja": "# {{ name }}\n",
            "files/Pulumi.yaml.jinja": "name: {{ name }}\n",
        },
    )
    build_file_tree(root / "files", files)
    return root


def hook(marker: Path) -> str:
    return f"#!/bin/sh\ntouch '{marker}'\n"


def init(invoke, pack: Path | str, dest: Path, *extra: str):  # type: ignore[no-untyped-def]
    return invoke(
        "init", "demo", "--template", str(pack), "--no-input", "--dest", str(dest),
        "--mlops-source", "index", *extra,
    )  # fmt: skip


def refused(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    """One line, a non-zero exit, no traceback, and the line says what was refused."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1, result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]


# A pack runs code without --trust -----------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    [
        ".git/hooks/pre-commit",
        ".GIT/hooks/pre-commit",
        ".Git/hooks/pre-commit",
        "sub/.git/hooks/pre-commit",
        ".git./hooks/pre-commit",
        ".git/hooks/pre-commit.jinja",
    ],
)
def test_a_packs_git_hook_is_refused_and_never_runs(tmp_path: Path, invoke, rel: str) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "HOOK-RAN"
    pack = make_pack(tmp_path / "pack", {rel: hook(marker)})
    (pack / "files" / rel).chmod(0o755)
    dest = tmp_path / "demo"
    result = init(invoke, pack, dest)
    assert not marker.exists()  # the canary first: the hook never ran
    refused(result, "git", rel.split("/")[0])
    assert not dest.exists()


def test_a_packs_git_config_with_fsmonitor_is_refused(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "FSMONITOR-RAN"
    monitor = tmp_path / "monitor.sh"
    monitor.write_text(hook(marker))
    monitor.chmod(0o755)
    pack = make_pack(tmp_path / "pack", {".git/config": f"[core]\n\tfsmonitor = {monitor}\n"})
    dest = tmp_path / "demo"
    result = init(invoke, pack, dest)
    assert not marker.exists()
    refused(result, ".git")
    assert not dest.exists()


@pytest.mark.parametrize(
    ("rel", "content", "word"),
    [
        (".git.jinja", "gitdir: /tmp/elsewhere\n", ".git"),  # a gitfile pointing elsewhere
        (".gitmodules", '[submodule "x"]\n\tpath = x\n\turl = ../x\n\tupdate = !touch M\n', "sub"),
        (".gitattributes", "* filter=evil\n", "filter=evil"),
        ("sub/.GitAttributes.jinja", "*.py diff=evil\n", "diff=evil"),
        (".gitattributes", "[attr]evil merge=run\n", "merge=run"),
    ],
)
def test_git_metadata_that_configures_commands_is_refused(
    tmp_path: Path, invoke, rel: str, content: str, word: str
) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {rel: content})
    dest = tmp_path / "demo"
    refused(init(invoke, pack, dest), word)
    assert not dest.exists()


def test_plain_gitattributes_and_gitignore_still_render(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    attributes = "*.sh text eol=lf\n*.png binary -diff\n*.py diff=python\n*.lock merge=union\n"
    pack = make_pack(tmp_path / "pack", {".gitattributes": attributes, ".gitignore": "*.pyc\n"})
    dest = tmp_path / "demo"
    result = init(invoke, pack, dest)
    assert result.exit_code == 0, result.output
    assert (dest / ".gitattributes").read_text() == attributes
    assert "git: initialized" in result.output


def test_git_never_runs_a_repositorys_hooks_or_fsmonitor(tmp_path: Path) -> None:
    # The wrapper itself: a repository whose own config and hooks would run commands.
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    marker, monitored = tmp_path / "HOOK-RAN", tmp_path / "FSMONITOR-RAN"
    for name, target in (("pre-commit", marker), ("post-commit", marker)):
        (repo / ".git" / "hooks" / name).write_text(hook(target))
        (repo / ".git" / "hooks" / name).chmod(0o755)
    monitor = tmp_path / "monitor.sh"
    monitor.write_text(hook(monitored))
    monitor.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(monitor))
    (repo / "a.txt").write_text("a\n")
    gitcmd.run("add", "-A", cwd=repo)
    gitcmd.run("status", "--porcelain", cwd=repo)
    gitcmd.run("commit", "-q", "-m", "x", cwd=repo)
    assert not marker.exists() and not monitored.exists()


# A pack reads files outside itself ----------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    outside = tmp_path / "home" / ".ssh"
    build_file_tree(outside, {"id_rsa": "PRIVATE KEY\n"})
    return outside


@pytest.mark.parametrize("link", ["files", "files/keys", "files/id_rsa"])
def test_a_directory_packs_symlink_to_outside_is_refused(
    tmp_path: Path, invoke, secret: Path, link: str
) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {})
    if link == "files":
        shutil.rmtree(pack / "files")
    (pack / link).symlink_to(secret / "id_rsa" if link.endswith("id_rsa") else secret)
    dest = tmp_path / "demo"
    refused(init(invoke, pack, dest), "symlink")
    assert not dest.exists()


@pytest.mark.parametrize("link", ["files", "files/keys"])
def test_a_git_packs_symlink_resolved_in_the_cache_is_refused(
    tmp_path: Path, invoke, secret: Path, link: str
) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {})
    if link == "files":
        shutil.rmtree(pack / "files")
    (pack / link).symlink_to(secret)
    git(pack, "init", "-q", "-b", "main")
    git(pack, "add", "-A")
    git(pack, "commit", "-q", "-m", "1.0.0")
    dest = tmp_path / "demo"
    refused(init(invoke, f"file://{pack}", dest), "symlink")
    assert not dest.exists()


def test_a_fifo_in_a_pack_is_refused_without_hanging(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {})
    os.mkfifo(pack / "files" / "pipe")
    dest = tmp_path / "demo"
    refused(init(invoke, pack, dest), "not a regular file")
    assert not dest.exists()


# Option injection ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, invoke) -> Path:  # type: ignore[no-untyped-def]
    """A project from a tiny git pack, whose own repository has an `origin`."""
    pack = make_pack(tmp_path / "pack", {})
    git(pack, "init", "-q", "-b", "main")
    git(pack, "add", "-A")
    git(pack, "commit", "-q", "-m", "1.0.0")
    git(pack, "tag", "v1.0.0")
    dest = tmp_path / "demo"
    result = init(invoke, f"file://{pack}@v1.0.0", dest)
    assert result.exit_code == 0, result.output
    git(dest, "remote", "add", "origin", f"file://{pack}")
    return dest


def record_source(project: Path, source: str) -> None:
    path = project / ".mlops" / "answers.yml"
    lines = [
        f"template_source: '{source}'" if line.startswith("template_source:") else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    git(project, "commit", "-q", "-am", "tampered")


@pytest.mark.parametrize("command", ["check-update", "update"])
def test_a_recorded_source_that_is_an_option_runs_nothing(
    project: Path, tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "UPLOAD-PACK-RAN"
    record_source(project, f"--upload-pack=touch {marker}; git-upload-pack #://x")
    monkeypatch.chdir(project)  # where the user runs it: git would fall back to `origin`
    result = invoke(command, "--project", str(project))
    assert not marker.exists()
    refused(result, "starts with '-'")


@pytest.mark.parametrize(
    "location", ["ext::sh -c touch% /tmp/x", "fd::7", "-x", "a\nb", "--template=/tmp/x"]
)
def test_the_git_wrapper_refuses_locations_that_are_options_or_commands(
    tmp_path: Path, location: str
) -> None:
    with pytest.raises(gitcmd.GitLocationError):
        gitcmd.clone(location, tmp_path / "clone")
    with pytest.raises(gitcmd.GitLocationError):
        gitcmd.remote_tags(location)
    assert not (tmp_path / "clone").exists()


def test_the_ext_transport_is_refused_by_git_too(tmp_path: Path) -> None:
    # Even past check_location (a URL git rewrites via insteadOf), ext:: never runs.
    marker = tmp_path / "EXT-RAN"
    proc = gitcmd.call("ls-remote", "--", f"ext::sh -c touch% {marker}")
    assert proc.returncode != 0 and not marker.exists()


# Denial of service --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "word"),
    [
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "s"),
        (
            "{% set r = range(100000)|list %}"
            "{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}",
            "s",
        ),
        ("{{ 'A' * 4000000000 }}", "limit"),
        ("{{ 4000000000 * 'A' }}", "limit"),
        ("{{ 10 ** 100000000 }}", "limit"),
        ("{{ (10 ** 1000) ** 100000 }}", "limit"),
        ("{{ 'x'.ljust(4000000000) }}", "limit"),
        ("{{ 'x'|center(4000000000) }}", "limit"),
        ("{{ '%4000000000d'|format(1) }}", "limit"),
        ("{{ '%4000000000d' % 1 }}", "limit"),
        ("{{ '{:>4000000000}'.format(1) }}", "limit"),
        (
            "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('A', 40) }}",
            "limit",
        ),
        ("{% for i in range(20) %}{{ 'A' * 9000000 }}{% endfor %}", "MiB"),
        ("{% for i in range(3) %}{{ 'A' * 9000000 }}{% endfor %}", "over the limit of 10 MiB"),
        ("{{ lipsum(100000000) }}", "lipsum"),
    ],
)
def test_a_template_that_would_run_or_grow_for_ever_is_stopped(
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, template: str, word: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(render, "RENDER_DEADLINE_S", 0.5)
    pack = make_pack(tmp_path / "pack", {"big.txt.jinja": template})
    dest = tmp_path / "demo"
    result = init(invoke, pack, dest, "--no-git")
    refused(result, "big.txt.jinja", word)
    assert not dest.exists()


def test_the_render_deadline_stops_a_loop_that_calls_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setattr(render, "RENDER_DEADLINE_S", 0.3)
    body = (
        "{% set r = range(100000)|list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}"
    )
    pack = _pack(tmp_path, {"loop.jinja": body}, [FileSpec("loop.jinja", "loop")])
    started = time.monotonic()
    with pytest.raises(MlopsError, match="loop.jinja: rendering took over 0.3 s"):
        render.render_files(pack, pack.manifest(None), {})
    assert time.monotonic() - started < 6  # the deadline, not the 10^10 iterations


def test_the_output_limits_are_per_file_and_in_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(render, "MAX_TOTAL_BYTES", 2500)
    files: dict[str, str | bytes] = {f"f{i}": "x" * 900 for i in range(3)}
    files["big"] = "x" * 1001
    specs = [FileSpec(f"f{i}", f"f{i}") for i in range(2)]
    pack = _pack(tmp_path, files, specs)
    assert len(render.render_files(pack, specs, {})) == 2
    with pytest.raises(MlopsError, match="f2: refused: the render's files together"):
        render.render_files(pack, [*specs, FileSpec("f2", "f2")], {})
    with pytest.raises(MlopsError, match="big: refused: it is over the limit"):
        render.render_files(pack, [FileSpec("big", "big")], {})


BILLION_LAUGHS = MINIMAL + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10) if i else 'lol'}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("manifest", "word"),
    [
        (BILLION_LAUGHS, "refused"),
        ("- name: tiny\n- version: 1\n", "found a list"),
        ("", "found nothing"),
        ("# only a comment\n", "found nothing"),
        ("name: [unclosed\n", "line"),
        (MINIMAL + "questions: 7\n", "'questions' must be a list"),
        (MINIMAL + "questions: [7]\n", "each question must be a mapping"),
        (MINIMAL + "defaults: [a, b]\n", "'defaults' must be a mapping"),
        (MINIMAL + "allowed: {owner: 7}\n", "'allowed' entry must be a list"),
    ],
)
def test_a_bad_template_yml_is_one_clear_line(
    tmp_path: Path, invoke, manifest: str, word: str
) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {}, manifest=manifest)
    dest = tmp_path / "demo"
    refused(init(invoke, pack, dest), word)
    assert not dest.exists()


# Nothing leaves the destination: random pack trees ------------------------------------------

NAMES = [
    "a", "b.txt", "c.jinja", ".git", ".GIT", ".Git", ".git.", "GIT~1", "..", ".gitmodules",
    ".gitattributes", ".gitattributes.jinja", "hooks", "pre-commit", "config", "dir",
]  # fmt: skip
CONTENTS = ["plain\n", "{{ name }}\n", "* filter=evil\n", "*.x diff=evil\n", "*.y text\n"]


def _random_tree(rng: random.Random, pack: Path, outside: Path, marker: Path) -> None:
    files = pack / "files"
    for _ in range(rng.randint(1, 6)):
        parts = [rng.choice(NAMES) for _ in range(rng.randint(1, 4))]
        if ".." in parts:
            continue  # a file system has no such entry; manifests test `..` below
        path = files.joinpath(*parts)
        if any(p.exists() and not p.is_dir() for p in [path, *path.parents] if p != files):
            continue
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = rng.random()
        if kind < 0.2:
            path.symlink_to(outside if rng.random() < 0.5 else outside / "secret")
        elif kind < 0.4:
            path.write_text(hook(marker))
            path.chmod(0o755)
        else:
            path.write_text(rng.choice(CONTENTS))


@pytest.mark.parametrize("seed", range(40))
def test_random_pack_trees_write_nothing_outside_and_run_no_hook(tmp_path: Path, seed: int) -> None:
    from mlops.templates.answers import validate_with
    from mlops.templates.engine import Scaffold

    rng = random.Random(seed)
    outside = tmp_path / "outside"
    build_file_tree(outside, {"secret": "SECRET\n"})
    marker = tmp_path / "HOOK-RAN"
    pack = make_pack(tmp_path / "pack", {})
    _random_tree(rng, pack, outside, marker)
    before = snapshot(outside), snapshot(pack)
    dest = tmp_path / "work" / "demo"
    dest.parent.mkdir()
    try:
        loaded = load_custom(Source(str(pack)))
        answers = validate_with(loaded.answers_model, {"name": "demo", "mlops_source": "index"})
        Scaffold(answers, dest, template=str(pack), pack=loaded).run()
    except MlopsError:
        assert not dest.exists()
    else:
        written = snapshot(dest)
        for rel, (kind, content, _) in written.items():
            parts = PurePosixPath(rel).parts
            assert kind != "link" and b"SECRET" not in content, rel
            if parts[0] != ".git":
                assert not any(render.is_git_name(p) for p in parts), rel
                assert ".gitmodules" not in parts, rel
                if parts[-1].casefold() == ".gitattributes":
                    assert b"=evil" not in content, rel
        assert not (dest / ".git" / "hooks" / "pre-commit").exists()
    assert not marker.exists()
    assert (snapshot(outside), snapshot(pack)) == before
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) in ([], ["demo"])


DESTS = ["a", "../a", "/abs", "a/../../b", ".git/config", ".GIT/hooks/x", "x/.Git/y", "GIT~1/x",
         ".git ./x", ".gitmodules", "a\\b", "", ".", "a//b", "ok/file"]  # fmt: skip


def _pack(root: Path, files: dict[str, str | bytes], specs: list[FileSpec]) -> TemplatePack:
    from mlops.templates.answers import BaseAnswers

    build_file_tree(root / "files", files)

    def context(answers: Any) -> dict[str, Any]:
        return {}

    return TemplatePack("tiny", "0.0.1", "t", root / "files", BaseAnswers, lambda _: specs, context)


@pytest.mark.parametrize("seed", range(40))
def test_random_manifest_destinations_never_leave_the_destination(
    tmp_path: Path, seed: int
) -> None:
    from mlops.templates.write import preflight, write_files

    rng = random.Random(seed)
    specs = [FileSpec("src.txt", rng.choice(DESTS)) for _ in range(rng.randint(1, 4))]
    pack = _pack(tmp_path / "pack", {"src.txt": "x\n"}, specs)
    dest = tmp_path / "work" / "demo"
    dest.parent.mkdir()
    try:
        planned = render.render_files(pack, specs, {})
        write_files(preflight(dest, planned, force=False), planned)
    except MlopsError:
        assert not dest.exists()
    else:
        for rel in snapshot(dest):
            parts = PurePosixPath(rel).parts
            assert not any(render.is_git_name(p) or p == ".gitmodules" for p in parts), rel
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) in ([], ["demo"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "work"]


def test_update_refuses_a_packs_git_config(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    # Through `mlops update`, a new pack version with .git/config would have been merged into the
    # project's own repository config, conflict markers and all.
    pack = make_pack(tmp_path / "pack", {})
    dest = tmp_path / "demo"
    assert init(invoke, pack, dest).exit_code == 0
    config = (dest / ".git" / "config").read_bytes()
    manifest = pack / "template.yml"
    manifest.write_text(manifest.read_text().replace("1.0.0", "1.1.0"))
    build_file_tree(pack / "files", {".git/config": "[core]\n\tbare = true\n"})
    result = invoke("update", "--project", str(dest))
    refused(result, ".git")
    assert (dest / ".git" / "config").read_bytes() == config
    assert git(dest, "status", "--porcelain") == ""


def test_update_never_writes_through_a_symlink_in_the_project(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {"docs/guide.md": "v1\n"})
    dest = tmp_path / "demo"
    assert init(invoke, pack, dest).exit_code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(dest / "docs")
    (dest / "docs").symlink_to(outside)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "docs elsewhere")
    manifest = pack / "template.yml"
    manifest.write_text(manifest.read_text().replace("1.0.0", "1.1.0"))
    (pack / "files" / "docs" / "guide.md").write_text("v2\n")
    (pack / "files" / "docs" / "new.md").write_text("new\n")
    result = invoke("update", "--project", str(dest))
    assert result.exit_code == 1, result.output
    assert "docs/new.md: conflict (a symlink is on the way" in result.output
    assert list(outside.iterdir()) == []
    assert stat.S_ISLNK((dest / "docs").lstat().st_mode)


# An untrusted render runs in a child the OS bounds (memory, CPU, wall clock) ----------------

REVIEW = [
    "{% set x = 'x' * 10000000 %}{% set y = x~x~x~x~x~x~x~x~x~x %}"
    "{% set z = " + "~".join(["y"] * 30) + " %}{{ z[:3] }}",
    "{{ (['x' * 10000000] * 300)|join|length }}",
    "{{ ('%*d' % (3000000000, 1))|length }}",
    "{{ '{:>{}}'.format('a', 3000000000)|length }}",
    "{{ ('x' * 10000000)|replace('x', 'y' * 300) }}",
    "{{ ('a' * 10000000).join(['b'] * 300) }}",
    "{{ ([range(100000)|list] * 5000)|tojson }}",
    "{% set ns = namespace(x=7 ** 20000, p=1) %}{% for i in range(8) %}{% set ns.p = ns.x %}"
    "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ (ns.x // ns.p) > 0 }}",
]
DEADLINE_S = 2.0


def _refused_in_bounds(tmp_path: Path, invoke, template: str, *words: str) -> str:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {"big.txt.jinja": template})
    dest = tmp_path / "demo"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    result = init(invoke, pack, dest, "--no-git")
    took = time.monotonic() - started
    refused(result, "big.txt.jinja", *words)
    assert not dest.exists()
    assert took < DEADLINE_S + render.RENDER_GRACE_S + 3, took
    # The child's gigabytes never reach this process, and the child stays within its budget.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 300 * 1024
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert child_kib * 1024 < render.RENDER_MEMORY_BYTES + rss * 1024 + (256 << 20), child_kib
    return str(result.output)


@pytest.mark.parametrize("template", REVIEW)
def test_the_sandbox_refuses_each_template_before_it_builds_the_value(
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(render, "RENDER_DEADLINE_S", DEADLINE_S)
    started = time.monotonic()
    _refused_in_bounds(tmp_path, invoke, template, "refused", "limit")
    assert time.monotonic() - started < DEADLINE_S  # the estimate, not a limit, stopped it


@pytest.fixture
def no_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's size checks switched off: the child process alone must bound the render."""
    for name in ("_check_binop", "_check_filter", "_check_method", "_check_format_args"):
        monkeypatch.setattr(render, name, lambda *args: None)
    monkeypatch.setattr(render, "_printed_size", lambda *args: 0)
    monkeypatch.setattr(render, "RENDER_DEADLINE_S", DEADLINE_S)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the child process needs os.fork")
@pytest.mark.parametrize("template", [*REVIEW, "{{ 'A' * 3000000000 }}"])
def test_the_child_process_bounds_what_the_sandbox_lets_through(
    tmp_path: Path, invoke, no_estimates: None, template: str
) -> None:  # type: ignore[no-untyped-def]
    output = _refused_in_bounds(tmp_path, invoke, template)
    assert "used over 1 GiB of memory" in output or f"took over {DEADLINE_S:g} s" in output


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the child process needs os.fork")
def test_one_long_c_level_operation_is_stopped_near_the_deadline(
    tmp_path: Path, invoke, no_estimates: None
) -> None:  # type: ignore[no-untyped-def]
    # One bigint division of minutes: no clock check in the sandbox can run during it.
    long_op = "{% set a = 7 ** 2000000 %}{% set b = 7 ** 1000000 %}{{ (a // b) > 0 }}"
    output = _refused_in_bounds(tmp_path, invoke, long_op)
    assert f"big.txt.jinja: rendering took over {DEADLINE_S:g} s" in output


def test_the_child_renders_exactly_what_this_process_would(tmp_path: Path) -> None:
    from mlops.templates.answers import validate_with
    from mlops.templates.custom import new_pack

    new_pack(tmp_path / "pack", "acme")
    build_file_tree(tmp_path / "pack" / "files", {"bin/run.sh": "#!/bin/sh\n", "e": ""})
    (tmp_path / "pack" / "files" / "bin" / "run.sh").chmod(0o755)
    pack = load_custom(Source(str(tmp_path / "pack")))
    assert not pack.trusted
    answers = validate_with(pack.answers_model, {"name": "demo"})
    specs, context = pack.manifest(answers), pack.build_context(answers)
    child = render.render_files(pack, specs, context)
    here = render.render_files(dataclasses.replace(pack, trusted=True), specs, context)
    assert child == here and any(f.executable for f in child) and len(child) > 10


def test_a_failing_template_names_its_file_from_the_child(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    pack = make_pack(tmp_path / "pack", {"ok.jinja": "{{ name }}", "bad.jinja": "{{ nope }}"})
    refused(init(invoke, pack, tmp_path / "demo", "--no-git"), "bad.jinja", "nope")


# A pack plants a bare git repository --------------------------------------------------------


def _bare_repo(marker: Path, prefix: str = "evil/") -> dict[str, str | bytes]:
    return {
        f"{prefix}HEAD": "ref: refs/heads/main\n",
        f"{prefix}config": f'[core]\n\tfsmonitor = "touch {marker}"\n\tbare = false\n'
        "\tworktree = .\n",
        f"{prefix}objects/info/.keep": "",
        f"{prefix}refs/heads/.keep": "",
    }


@pytest.mark.parametrize("prefix", ["evil/", "a/b/", ""])
def test_a_pack_that_plants_a_bare_repository_is_refused(
    tmp_path: Path, invoke, prefix: str
) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "FSMONITOR-RAN"
    pack = make_pack(tmp_path / "pack", _bare_repo(marker, prefix))
    dest = tmp_path / "demo"
    refused(init(invoke, pack, dest, "--no-git"), prefix.rstrip("/") or "root", "git repository")
    assert not dest.exists()
    inside = dest / prefix
    inside.mkdir(parents=True)
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    subprocess.run(["git", "status"], cwd=inside, capture_output=True, env=env, check=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("paths", "problem"),
    [
        (["x/HEAD", "x/config"], True),
        (["x/head", "x/Refs/heads/main"], True),
        (["x/HEAD", "x/objects/ab/cd"], True),
        (["x/HEAD", "x/commondir"], True),
        (["x/HEAD.", "x/gitdir"], True),
        (["HEAD", "config"], True),
        (["x/HEAD", "y/config", "x/docs/objects"], False),
        (["docs/HEAD.md", "docs/config", "docs/refs/a"], False),
        (["x/HEAD"], False),
    ],
)
def test_git_directory_problem(paths: list[str], problem: bool) -> None:
    found = render.git_directory_problem(PurePosixPath(p) for p in paths)
    assert (found is not None) == problem, found
