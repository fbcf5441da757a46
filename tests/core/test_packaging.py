"""The wheel carries every package of the source tree (an editable install would hide a gap)."""

from __future__ import annotations

import tomllib

from conftest import REPO

ROOT = REPO


def source_packages() -> set[str]:
    """Every folder with an ``__init__.py`` under a mapped part, as its ``mlops.*`` name."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for name, folder in setuptools["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            # A pack's files are the generated project's, shipped as package data.
            if "files" not in relative.parts:
                found.add(".".join((name, *relative.parts)))
    return found


def test_every_source_package_is_in_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert source_packages() - set(setuptools["packages"]) == set()
