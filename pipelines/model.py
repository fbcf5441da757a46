"""The model adapter: the project's own training module, loaded by name.

A generated project's ``<package>.pipelines.train`` module is the one piece of training code it
owns. The container entry points (:mod:`mlops.pipelines.container`) import it by name on
SageMaker, and the local executor imports the very same module, so local and cloud train with
the same code. It must provide ``train(x, y, params)``, ``predict_proba(model, x)``,
``save(model, dir)`` and ``load(dir)``; ``FRAMEWORK``, the distribution it trains with (e.g.
``scikit-learn``), goes into the run's identity with its installed version.

What ``x`` is: a module that sets ``INPUT = "columns"`` gets named columns, a dict of feature
name to NumPy array in contract order (:func:`mlops.pipelines.data.feature_columns`: numbers
and booleans as floats, categories as text), and its own features transform
(``<package>/pipelines/features.py``) turns them into the framework's matrix; the model it
returns carries that fitted transform, so serving applies the very same one. A module without
``INPUT`` gets the older positional float matrix in contract order.

Every artifact also carries the data contract it was trained on (:data:`CONTRACT_FILE`): the
server checks requests against the model's own contract, so any registered version can be
served (or rolled back to) whatever the project's contract says today.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import json
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from mlops.core.errors import UserError
from mlops.pipelines.data import DataContract

REQUIRED = ("train", "predict_proba", "save", "load")
CONTRACT_FILE = "contract.json"  # the data contract a model was trained on, in its artifact


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


def _installed(top_level: str) -> bool:
    try:
        return importlib.util.find_spec(top_level) is not None
    except (ImportError, ValueError):
        return False


# Import names whose distribution is called something else.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml"}


def import_trainer(module_name: str, where: str = "") -> Trainer:
    """Import a training module by its dotted name and check its interface.

    Raises:
        UserError: the module is missing or lacks part of the interface.
    """
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        absent = (exc.name or "").split(".")[0]
        if absent and absent != module_name.split(".")[0] and not _installed(absent):
            # The module is there; a framework it imports is not (an xgboost project in a venv
            # made for sklearn): name the distribution and how to install it.
            dist = _DISTRIBUTIONS.get(absent, absent)
            raise UserError(
                f"cannot import {module_name}{where}: it needs {dist}, which is not installed"
                f" in this environment: `pip install {dist}`, or `make install` in the project"
            ) from None
        raise UserError(f"cannot import {module_name}{where}: {exc}") from None
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


def takes_columns(trainer: Trainer) -> bool:
    """Whether the module's ``train``/``predict_proba`` take named columns (``INPUT``)."""
    return getattr(trainer, "INPUT", "matrix") == "columns"


@dataclass(frozen=True)
class ModelContract:
    """What an artifact says about its model's input.

    Attributes:
        contract: the data contract the model was trained on.
        columns: whether its ``predict_proba`` takes named columns (else a float matrix).
    """

    contract: DataContract
    columns: bool

    def to_json(self) -> bytes:
        """The artifact's ``contract.json``."""
        body = {"input": "columns" if self.columns else "matrix", **_plain(self.contract)}
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, body: bytes, source: str) -> ModelContract:
        """Read an artifact's ``contract.json``.

        Raises:
            UserError: it is not JSON, or not a contract.
        """
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise UserError(f"{source} is not a valid data contract: {exc}") from None
        columns = data.pop("input", "matrix") == "columns"
        return cls(DataContract.from_json(json.dumps(data).encode(), source), columns)

    @classmethod
    def of(cls, trainer: Trainer, contract: DataContract) -> ModelContract:
        """The contract a model of ``trainer`` trained under ``contract`` carries."""
        return cls(contract, takes_columns(trainer))


def _plain(contract: DataContract) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(contract.to_json())
    return data


def read_model_contract(directory: Path) -> ModelContract | None:
    """The contract in an unpacked model directory, or None for an artifact made without one.

    Raises:
        UserError: the stored contract is unreadable.
    """
    path = directory / CONTRACT_FILE
    if not path.is_file():
        return None
    return ModelContract.from_json(path.read_bytes(), f"{CONTRACT_FILE} in the model artifact")


def write_model_contract(directory: Path, contract: ModelContract) -> Path:
    """Put the model's contract beside its files (the container's train step)."""
    path = directory / CONTRACT_FILE
    path.write_bytes(contract.to_json())
    return path


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
    # The same model packs to the same bytes: no file times, owners, nor the gzip header's own
    # time (two identical runs a second apart would otherwise write two different artifacts,
    # and the lake refuses to overwrite an artifact with other bytes).
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        for path in sorted(directory.iterdir()):
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def unpack(trainer: Trainer, artifact: bytes) -> Any:
    """Load a model from ``model.tar.gz`` bytes."""
    return unpack_with_contract(trainer, artifact)[0]


def unpack_with_contract(trainer: Trainer, artifact: bytes) -> tuple[Any, ModelContract | None]:
    """Load a model and the contract it carries (None: an artifact made without one).

    Raises:
        UserError: the archive is unsafe, or its contract unreadable.
    """
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
            safe_extract(tar, Path(tmp))
        return trainer.load(Path(tmp)), read_model_contract(Path(tmp))


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
    tar.extractall(root)  # every member was checked above
