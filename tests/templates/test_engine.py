"""The render engine on tiny inline packs: what is rendered, copied, refused and written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import build_file_tree, snapshot

from mlops.core.errors import DestinationError, TemplateError
from mlops.templates.answers import BaseAnswers
from mlops.templates.pack import FileSpec, TemplatePack, validate_answers
from mlops.templates.render import render_files
from mlops.templates.write import TEMP_PREFIX, preflight, write_files

ANSWERS = validate_answers({"name": "churn-model"})


def make_pack(root: Path, files: dict[str, str | bytes], specs: list[FileSpec]) -> TemplatePack:
    build_file_tree(root, files)

    def context(answers: BaseAnswers) -> dict[str, Any]:
        return {"name": answers.name}

    return TemplatePack("tiny", "0.0.1", "test", root, type(ANSWERS), lambda _: specs, context)


def render(pack: TemplatePack, extra: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return render_files(
        pack, pack.manifest(ANSWERS), {**pack.build_context(ANSWERS), **(extra or {})}
    )


def test_only_jinja_files_are_rendered_and_others_copied_byte_for_byte(tmp_path: Path) -> None:
    workflow = "run: echo ${{ github.sha }} {{ name }}\n"
    binary = bytes(range(256))
    pack = make_pack(
        tmp_path,
        {"a.txt.jinja": "hello {{ name }}\n", "ci.yml": workflow, "blob.bin": binary},
        [FileSpec("a.txt.jinja", "a.txt"), FileSpec("ci.yml", "ci.yml"), FileSpec("blob.bin", "b")],
    )
    files = {str(f.path): f.content for f in render(pack)}
    assert files == {
        "a.txt": b"hello churn-model\n",
        "ci.yml": workflow.encode(),
        "b": binary,
    }


def test_missing_variable_is_an_error_not_a_blank(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, {"a.jinja": "{{ nope }}"}, [FileSpec("a.jinja", "a")])
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        render(pack)


def test_sandbox_blocks_unsafe_attribute_access(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path, {"a.jinja": "{{ name.__class__.__mro__ }}"}, [FileSpec("a.jinja", "a")]
    )
    with pytest.raises(TemplateError, match="unsafe"):
        render(pack)


@pytest.mark.parametrize("dest", ["../escape", "/etc/passwd", "a/../../b", "", "a\\b"])
def test_manifest_paths_cannot_leave_the_destination(tmp_path: Path, dest: str) -> None:
    pack = make_pack(tmp_path, {"a": "x"}, [FileSpec("a", dest)])
    with pytest.raises(TemplateError, match="must be relative"):
        render(pack)


def test_symlink_in_pack_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("outside")
    pack = make_pack(tmp_path / "pack", {"other": "x"}, [FileSpec("link", "link")])
    (tmp_path / "pack" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(TemplateError, match="not a regular file"):
        render(pack)


def test_duplicate_destination_is_refused(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, {"a": "1", "b": "2"}, [FileSpec("a", "x"), FileSpec("b", "x")])
    with pytest.raises(TemplateError, match="two manifest entries write 'x'"):
        render(pack)


def test_missing_source_is_a_pack_bug(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, {}, [FileSpec("ghost.jinja", "ghost")])
    with pytest.raises(TemplateError, match="missing file 'ghost.jinja'"):
        render(pack)


def test_per_file_extra_context(tmp_path: Path) -> None:
    pack = make_pack(
        tmp_path,
        {"s.jinja": "{{ stack }}"},
        [
            FileSpec("s.jinja", "dev", {"stack": "dev"}),
            FileSpec("s.jinja", "prod", {"stack": "prod"}),
        ],
    )
    assert [f.content for f in render(pack)] == [b"dev", b"prod"]


def test_executable_bit_is_kept(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "p", {"run.sh": "#!/bin/sh\n"}, [FileSpec("run.sh", "run.sh")])
    (tmp_path / "p" / "run.sh").chmod(0o755)
    files = render(pack)
    dest = tmp_path / "out"
    write_files(preflight(dest, files, force=False), files)
    assert os.access(dest / "run.sh", os.X_OK)


def _tiny_files(tmp_path: Path):  # type: ignore[no-untyped-def]
    pack = make_pack(
        tmp_path / "pack",
        {"a.jinja": "A {{ name }}", "sub/b": "B"},
        [FileSpec("a.jinja", "a"), FileSpec("sub/b", "sub/b")],
    )
    return render(pack)


def test_new_destination_appears_whole_with_no_temp_left(tmp_path: Path) -> None:
    files = _tiny_files(tmp_path)
    dest = tmp_path / "out"
    write_files(preflight(dest, files, force=False), files)
    assert (dest / "a").read_text() == "A churn-model"
    assert (dest / "sub" / "b").read_text() == "B"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_force_overwrites_only_template_files_and_deletes_nothing(tmp_path: Path) -> None:
    files = _tiny_files(tmp_path)
    dest = build_file_tree(tmp_path / "out", {"a": "old", "mine.txt": "keep", "sub/own": "keep"})
    changes = preflight(dest, files, force=True)
    assert [str(p) for p in changes.overwritten] == ["a"]
    assert [str(p) for p in changes.created] == ["sub/b"]
    write_files(changes, files)
    assert (dest / "a").read_text() == "A churn-model"
    assert (dest / "mine.txt").read_text() == "keep"
    assert (dest / "sub" / "own").read_text() == "keep"
    assert sorted(p.name for p in dest.iterdir()) == ["a", "mine.txt", "sub"]


def test_non_empty_destination_without_force_is_refused(tmp_path: Path) -> None:
    files = _tiny_files(tmp_path)
    dest = build_file_tree(tmp_path / "out", {"mine.txt": "keep"})
    before = snapshot(dest)
    with pytest.raises(DestinationError, match="not empty"):
        preflight(dest, files, force=False)
    assert snapshot(dest) == before


def test_file_directory_clash_is_refused_before_writing(tmp_path: Path) -> None:
    files = _tiny_files(tmp_path)
    dest = build_file_tree(tmp_path / "out", {"sub": "a file where a dir must go"})
    before = snapshot(dest)
    with pytest.raises(DestinationError, match="is a file"):
        preflight(dest, files, force=True)
    assert snapshot(dest) == before


def test_symlinked_directory_inside_destination_is_refused(tmp_path: Path) -> None:
    files = _tiny_files(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = build_file_tree(tmp_path / "out", {"mine.txt": "x"})
    (dest / "sub").symlink_to(outside)
    with pytest.raises(DestinationError, match="symlink"):
        preflight(dest, files, force=True)
    assert list(outside.iterdir()) == []


def _three_files(tmp_path: Path):  # type: ignore[no-untyped-def]
    pack = make_pack(
        tmp_path / "pack",
        {"a": "A", "new/b": "B", "z": "Z"},
        [FileSpec("a", "a"), FileSpec("new/b", "new/deeper/b"), FileSpec("z", "z")],
    )
    return render(pack)


def test_a_clash_at_the_last_target_is_refused_before_the_first_write(tmp_path: Path) -> None:
    files = _three_files(tmp_path)
    dest = build_file_tree(tmp_path / "out", {"a": "mine", "z/inside": "a dir where z goes"})
    before = snapshot(dest)
    with pytest.raises(DestinationError, match="is a directory, but the template writes a file"):
        write_files(preflight(dest, files, force=True), files)
    assert snapshot(dest) == before


def test_a_write_failing_half_way_leaves_the_tree_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _three_files(tmp_path)
    dest = build_file_tree(tmp_path / "out", {"a": "mine", "z": "mine too", "own.txt": "keep"})
    before = snapshot(dest)
    changes = preflight(dest, files, force=True)
    real_replace = Path.replace

    def flaky(self: Path, target: Path) -> Path:  # type: ignore[override]
        if Path(target) == dest.resolve() / "z" and self.name == "z":
            raise OSError(28, "No space left on device")  # the third file's move fails
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", flaky)
    with pytest.raises(DestinationError, match="nothing was changed"):
        write_files(changes, files)
    monkeypatch.undo()
    assert snapshot(dest) == before  # "a" restored, "new/deeper" removed, nothing left over
