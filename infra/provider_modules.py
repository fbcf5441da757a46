"""Provider packages that load only the resource modules a program uses.

A service package of ``pulumi_aws`` (``pulumi_aws.sagemaker``, ``pulumi_aws.s3``, ...) imports
every resource module it has in its ``__init__`` (``from .algorithm import *``, forty or more of
them), although a program uses a few: most of a cold ``mlops preview`` was spent defining
classes nothing touches. :func:`lean` puts a package in ``sys.modules`` that runs the rest of
its ``__init__`` and imports a resource module when one of its names is first asked for, as the
package would have exported it (each generated module names its exports in ``__all__``). The
provider's resource types stay registered with the Pulumi runtime: ``pulumi_aws`` registers
them all in its own ``__init__``, and its lookups go through ``sys.modules``, so through here.
A star-imported module that declares no ``__all__`` is imported as the ``__init__`` says. The
objects are the package's own; only when they load changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STAR = re.compile(r"^from \.(\w+) import \*[ \t]*$", re.MULTILINE)
_ALL = re.compile(r"^__all__ = \[([^\]]*)\]", re.MULTILINE)
_NAME = re.compile(r"""['"](\w+)['"]""")


class LeanPackage(types.ModuleType):
    """A provider package whose resource modules load on first use of one of their names.

    Nothing of it is read until an attribute is first asked for: then its ``__init__`` is read,
    each star-imported module's ``__all__`` indexed, and the rest of the ``__init__`` run.
    """

    def _lean_init(self) -> None:
        init = self.__dict__.pop("_lean_pending", None)
        if init is None:
            return
        source = init.read_text(encoding="utf-8")
        index: dict[str, str] = {}
        kept: set[str] = set()  # star imports of modules without __all__: run as written
        for sub in _STAR.findall(source):
            names = _exports(init.parent / f"{sub}.py")
            if names is None:
                kept.add(sub)
            for export in names or ():
                index.setdefault(export, sub)
        rest = _STAR.sub(lambda m: m.group(0) if m.group(1) in kept else "", source)
        self.__dict__["_lean_index"] = index
        self.__dict__.setdefault("__all__", sorted(index))  # `import *` gets every name
        exec(compile(rest, str(init), "exec"), self.__dict__)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name != "__all__":
            raise AttributeError(name)
        self._lean_init()
        if name in self.__dict__:
            return self.__dict__[name]
        module = self.__dict__.get("_lean_index", {}).get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{self.__name__}.{module}"), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        self._lean_init()
        return sorted({*self.__dict__, *self.__dict__.get("_lean_index", {})})


def _exports(path: Path, chunk: int = 8192) -> list[str] | None:
    """A generated module's ``__all__``, read from its text; None when it declares none.

    Generated modules declare it after their imports: the file is read up to the list's end,
    not whole (``_inputs.py`` runs to megabytes).
    """
    text = ""
    try:
        with path.open(encoding="utf-8") as handle:
            while block := handle.read(chunk):
                text += block
                found = _ALL.search(text)
                if found:
                    return _NAME.findall(found.group(1))
    except (OSError, UnicodeDecodeError):
        return None
    return None


def lean(package: str, services: Iterable[str]) -> list[str]:
    """Make ``package.<service>`` lean for each of ``services``, unless ``package`` is imported.

    Nothing is imported or read here: a lean package reads and runs its ``__init__`` on first
    attribute use. Returns the packages made lean.
    """
    root = importlib.util.find_spec(package) if package not in sys.modules else None
    if root is None or root.origin is None:
        return []  # imported already: its services may be loaded, leave them as they are
    made = []
    for service in services:
        name = f"{package}.{service}"
        init = Path(root.origin).parent / service / "__init__.py"
        if name in sys.modules or not init.is_file():
            continue
        module = LeanPackage(name)
        module.__spec__ = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(init.parent)]
        )
        module.__file__ = str(init)
        module.__path__ = [str(init.parent)]
        module.__package__ = name
        module.__dict__["_lean_pending"] = init
        sys.modules[name] = module
        made.append(name)
    return made
