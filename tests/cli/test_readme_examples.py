"""The project README's examples print what the README says they print.

Each ``$ mlops init ...`` line of a ``console`` block that is followed by output lines is run in
an empty directory (offline, with git when present) and its output compared with the README's,
whitespace-insensitively (the README wraps long lines). Commands that need local mode, AWS or a
cluster are not run here; test_readme_claims.py checks that every command the README names exists.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from mlops.cli.main import app

README = REPO / "README.md"


def examples(markdown: str) -> list[tuple[list[str], str]]:
    """(argv after `mlops`, the output the README shows) for each init example with output."""
    found = []
    for block in re.findall(r"^```console\n(.*?)^```", markdown, flags=re.S | re.M):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("$ mlops init "):
                continue
            output = []
            for after in lines[index + 1 :]:
                if after.startswith("$") or not after.strip():
                    break
                output.append(after)
            if output:
                command = line[2:].split("  #")[0].split("&&")[0]
                found.append((shlex.split(command)[1:], "\n".join(output)))
    return found


def words(text: str) -> list[str]:
    return text.split()


CASES = examples(README.read_text(encoding="utf-8"))


def test_the_readme_has_init_examples_with_output() -> None:
    assert len(CASES) >= 2, "the README's init examples (with their output) are gone"


@pytest.mark.parametrize(("argv", "shown"), CASES, ids=[" ".join(a[:2]) for a, _ in CASES])
def test_an_init_example_prints_what_the_readme_shows(
    argv: list[str], shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    assert words(result.output) == words(shown), result.output
