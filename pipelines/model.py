"""The model adapter: the project's own training module, loaded by name.

A generated project's ``<package>.pipelines.train`` module is the one piece of training code it
owns. The container entry points (:mod:`mlops.pipelines.container`) import it by name on
SageMaker, and the local executor imports the very same module, so local and cloud train with
the same code. It must provide ``train(x, y, params)``, ``predict_proba(model, x)``,
``save(model, dir)`` and ``load(dir)``; ``FRAMEWORK``, the distribution it trains with (e.g.
``scikit-learn``), goes into the run's identity with its installed version.
"""

from __future__ import annotations

import importlib
import io
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from mlops.core.errors import UserError

REQUIRED = ("train", "predict_proba", "save", "load")


class Trainer(Protocol):
    """What a project's training module provides."""

    def train(self, x: Any, y: Any, params: dict[str, Any] | None = None) -> Any: ...  # noqa: D102
    def predict_proba(self, model: Any, x: Any) -> Any: ...  # noqa: D102
    def save(self, model: Any, directory: Path) -> Path: ...  # noqa: D102
    def load(self, directory: Path) -> Any: ...  # noqa: D102


def train_module(package: str) -> str:
    """The dotted name of a project package's training module."""
    return f"{package}.pipelines.train"


def load_trainer(project: Path, package: str) -> Trainer:
    """Import ``<package>.pipelines.train`` afresh from a project directory.

    The package is re-imported on every call, so an edit to the training code between two runs
    in one process (a notebook, a test) is what the next run trains with.

    Raises:
        UserError: the module is missing or lacks part of the interface.
    """
    root = str(project.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return import_trainer(train_module(package), where=f" from {project}")


def import_trainer(module_name: str, where: str = "") -> Trainer:
    """Import a training module by its dotted name and check its interface.

    Raises:
        UserError: the module is missing or lacks part of the interface.
    """
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import {module_name}{where}: {exc}") from None
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise UserError(f"{module.__name__} lacks {', '.join(missing)}")
    return cast(Trainer, module)


def framework_version(trainer: Trainer) -> str:
    """``<distribution>==<version>`` of the trainer's ``FRAMEWORK``, or ``unknown``."""
    from importlib import metadata

    dist = getattr(trainer, "FRAMEWORK", "")
    if not isinstance(dist, str) or not dist:
        return "unknown"
    try:
        return f"{dist}=={metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist}==not-installed"


def pack(trainer: Trainer, model: Any, extra: Mapping[str, bytes] | None = None) -> bytes:
    """The model as ``model.tar.gz`` bytes, the artifact format SageMaker uses.

    ``extra`` files (the reference sample, say) go beside the model's own.
    """
    with tempfile.TemporaryDirectory() as tmp:
        trainer.save(model, Path(tmp))
        for name, body in (extra or {}).items():
            (Path(tmp) / name).write_bytes(body)
        return pack_dir(Path(tmp))


def pack_dir(directory: Path) -> bytes:
    """``model.tar.gz`` bytes of a directory's files, as SageMaker packs ``/opt/ml/model``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.iterdir()):
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime = 0  # the same model packs to the same bytes
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def unpack(trainer: Trainer, artifact: bytes) -> Any:
    """Load a model from ``model.tar.gz`` bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
            safe_extract(tar, Path(tmp))
        return trainer.load(Path(tmp))


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract an archive's regular files and directories under ``dest``, nothing outside it.

    Python 3.11.4+ has tarfile's ``data`` filter; older 3.11 releases (Debian 12's 3.11.2, for
    one) do not, so the same checks are made here: no absolute paths, no ``..``, no links or
    devices.

    Raises:
        UserError: a member would land outside ``dest`` or is not a plain file or directory.
    """
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as exc:
            raise UserError(f"refusing to unpack a model archive: {exc}") from None
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise UserError(f"refusing to unpack a model archive: unsafe member {member.name!r}")
    tar.extractall(root)  # noqa: S202 - every member was checked above
