"""The bounded YAML reader every untrusted file goes through (packs, stack files, records)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from mlops.core import yamlfile
from mlops.core.errors import UserError
from mlops.core.yamlfile import YamlFileError


def _laughs(levels: int, width: int = 10) -> str:
    """The "billion laughs" document: each level lists the previous one ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_before_they_expand() -> None:
    # 10^9 values once walked; PyYAML alone parses this in microseconds and a validator or a
    # dump then runs until it is killed. The peak memory must not move while it is refused.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(YamlFileError, match=r"bomb\.yml: refused: it expands to over 200,000"):
        yamlfile.loads(_laughs(9), "bomb.yml")
    assert time.perf_counter() - started < 5  # generous: it takes well under a millisecond
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_the_expansion_limit_is_exact() -> None:
    # A list of n scalars is n + 1 values, and the mapping around it with its key two more.
    text = "k: [" + ", ".join(["1"] * 97) + "]"
    assert yamlfile.loads(text, "f", max_nodes=100)["k"] == [1] * 97
    with pytest.raises(YamlFileError, match="over 99 values"):
        yamlfile.loads(text, "f", max_nodes=99)


def test_aliases_used_a_few_times_still_load() -> None:
    text = "base: &b {cpu: 2, tags: [a, b]}\ndev: *b\nprod: {<<: *b, cpu: 4}\n"
    data = yamlfile.loads(text, "stack.yml")
    assert data["dev"] == {"cpu": 2, "tags": ["a", "b"]}
    assert data["prod"] == {"cpu": 4, "tags": ["a", "b"]}


def test_a_value_that_contains_itself_is_refused() -> None:
    with pytest.raises(YamlFileError, match="contains itself"):
        yamlfile.loads("a: &a [1, *a]\n", "loop.yml")


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  a: 1\n  b: c: 2\n")
    with pytest.raises(YamlFileError) as info:
        yamlfile.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3, column 7: mapping values are not allowed")
    assert "\n" not in message and "<unicode string>" not in message
    assert isinstance(info.value, UserError)  # the CLI's exit 2 and one red line


def test_the_file_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_bytes(b"a: " + b"x" * 2048 + b"\n")
    assert yamlfile.load(path, max_bytes=2052)["a"] == "x" * 2048
    with pytest.raises(YamlFileError, match="larger than 2 KiB"):
        yamlfile.load(path, max_bytes=2051)


def test_binary_and_missing_files_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "b.yml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(YamlFileError, match="not UTF-8"):
        yamlfile.load(binary)
    with pytest.raises(YamlFileError, match="cannot be read"):
        yamlfile.load(tmp_path / "missing.yml")


@pytest.mark.parametrize(
    ("text", "found"), [("- a\n- b\n", "a list"), ("just words\n", "a str"), ("", "nothing")]
)
def test_a_mapping_file_of_another_shape_says_what_it_found(
    tmp_path: Path, text: str, found: str
) -> None:
    path = tmp_path / "template.yml"
    path.write_text(text)
    with pytest.raises(YamlFileError, match=f"must hold a mapping .*found {found}"):
        yamlfile.load_mapping(path, empty_ok=False, what="the pack's manifest")


def test_an_empty_mapping_file_reads_as_empty_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yml"
    path.write_text("# nothing yet\n")
    assert yamlfile.load_mapping(path) == {}


def test_a_renames_file_is_data_never_a_format_string(tmp_path: Path) -> None:
    from mlops.infra import aliases

    (tmp_path / ".mlops").mkdir()
    record = tmp_path / aliases.ALIASES_FILE
    record.write_text(
        "aliases:\n"
        "- {type: 'aws:s3/bucketV2:BucketV2', new: '{prefix}-raw', old: '{prefix}-lake-raw'}\n"
        "- {type: t, new: '{prefix.__class__.__mro__}', old: '{0}'}\n"
    )
    found = aliases.load(tmp_path, "churn-dev")
    assert found[("aws:s3/bucketV2:BucketV2", "churn-dev-raw")] == ["churn-dev-lake-raw"]
    assert found[("t", "{prefix.__class__.__mro__}")] == ["{0}"]  # kept as written


@pytest.mark.parametrize("text", ["aliases: 3\n", "aliases:\n- {type: t}\n", "- a\n"])
def test_a_broken_renames_file_is_named(tmp_path: Path, text: str) -> None:
    from mlops.infra import aliases

    (tmp_path / ".mlops").mkdir()
    (tmp_path / aliases.ALIASES_FILE).write_text(text)
    with pytest.raises(YamlFileError, match=r"aliases\.yml: "):
        aliases.load(tmp_path, "p")


def test_every_key_and_item_has_its_line_and_a_path_finds_the_nearest() -> None:
    text = "# head\nlabel: y\ncolumns:\n  a: {type: int}\n  b:\n    type: float\n"
    text += "list:\n  - x\n  - k: 1\n"
    data, lines = yamlfile.loads_with_lines(text, "f.yaml")
    assert data["columns"]["b"] == {"type": "float"}
    assert lines[("label",)] == 2 and lines[("columns", "a")] == 4
    assert lines[("columns", "a", "type")] == 4 and lines[("columns", "b", "type")] == 6
    assert lines[("list", 1)] == 9 and lines[("list", 1, "k")] == 9
    # A key that is not written (a default, or a rule about the whole value): its parent's line.
    assert yamlfile.line_of(lines, ("columns", "b", "max")) == 5
    assert yamlfile.line_of(lines, ()) is None and yamlfile.line_of(lines, ("nope",)) is None
    assert yamlfile.loads_with_lines("", "f.yaml") == (None, {})


def test_lines_walk_an_alias_once() -> None:
    data, lines = yamlfile.loads_with_lines("a: &x {k: 1}\nb: *x\n", "f.yaml")
    assert data == {"a": {"k": 1}, "b": {"k": 1}}
    assert lines[("a", "k")] == 1 and lines[("b",)] == 2 and ("b", "k") not in lines
