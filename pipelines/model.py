"""The model adapter: the project's own training module, loaded by name.

A generated project's ``<package>.pipelines.train`` module is what its SageMaker container runs;
the local executor imports the very same module, so local and cloud train with the same code.
It must provide ``train(x, y, params)``, ``predict_proba(model, x)``, ``save(model, dir)`` and
``load(dir)``.
"""

from __future__ import annotations

import importlib
import io
import sys
import tarfile
import tempfile
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


def load_trainer(project: Path, package: str) -> Trainer:
    """Import ``<package>.pipelines.train`` from a project directory.

    Raises:
        UserError: the module is missing or lacks part of the interface.
    """
    root = str(project.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        module: ModuleType = importlib.import_module(f"{package}.pipelines.train")
    except ImportError as exc:
        raise UserError(f"cannot import {package}.pipelines.train from {project}: {exc}") from None
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise UserError(f"{module.__name__} lacks {', '.join(missing)}")
    return cast(Trainer, module)


def pack(trainer: Trainer, model: Any) -> bytes:
    """The model as ``model.tar.gz`` bytes, the artifact format SageMaker uses."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer.save(model, Path(tmp))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(Path(tmp).iterdir()):
                info = tar.gettarinfo(str(path), arcname=path.name)
                info.mtime = 0  # the same model packs to the same bytes
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        return buffer.getvalue()


def unpack(trainer: Trainer, artifact: bytes) -> Any:
    """Load a model from ``model.tar.gz`` bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
            tar.extractall(tmp, filter="data")
        return trainer.load(Path(tmp))
