"""A run's identity: the project's code hashed by content, whole files, nothing else."""

from __future__ import annotations

from pathlib import Path

from mlops.pipelines.identity import code_files, content_hash


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def digest(root: Path) -> str:
    return content_hash(root, code_files(root))


def test_the_hash_covers_every_byte_of_every_file(tmp_path: Path) -> None:
    big = b"x = 1\n" * 200_000  # 1.2 MB: a hash of the first block only would miss the end
    base = digest(tree(tmp_path / "a", {"pkg/train.py": big, "pkg/util.py": b"y = 2\n"}))
    last_byte = digest(
        tree(tmp_path / "b", {"pkg/train.py": big[:-1] + b"\r", "pkg/util.py": b"y = 2\n"})
    )
    assert last_byte != base
    assert digest(tree(tmp_path / "c", {"pkg/train.py": big, "pkg/util.py": b"y = 2\n"})) == base


def test_names_and_boundaries_count(tmp_path: Path) -> None:
    base = digest(tree(tmp_path / "a", {"p/a.py": b"ab", "p/b.py": b"c"}))
    # The same bytes split differently between two files, or under another name, differ.
    assert digest(tree(tmp_path / "b", {"p/a.py": b"a", "p/b.py": b"bc"})) != base
    assert digest(tree(tmp_path / "c", {"p/a.py": b"ab", "p/c.py": b"c"})) != base
    assert digest(tree(tmp_path / "d", {"p/a.py": b"ab", "p/b.py": b"c", "p/new.py": b""})) != base


def test_caches_and_other_files_are_not_code(tmp_path: Path) -> None:
    root = tree(tmp_path / "a", {"p/train.py": b"x = 1\n"})
    base = digest(root)
    tree(root, {"p/__pycache__/train.cpython-311.pyc": b"\x00", "p/notes.txt": b"hi"})
    assert digest(root) == base
    assert code_files(root) == [root / "p" / "train.py"]
