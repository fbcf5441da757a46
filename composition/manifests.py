"""``mlops render-manifests``: the Kubernetes objects a stack declares, as YAML files.

For GitOps (Argo CD, Flux) and linters: one file per object, numbered in the order the program
declares them, and a ``kustomization.yaml`` listing them, so ``kubectl apply -k DIR`` works.
The folder is written whole into a temporary sibling, then moved into place; a folder the tool
did not write is never replaced.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import yaml

from mlops.core.errors import UserError

MARKER = ".mlops-manifests"


def _file_name(index: int, obj: dict[str, object]) -> str:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", "unnamed")) if isinstance(meta, dict) else "unnamed"
    slug = re.sub(r"[^a-z0-9-]+", "-", f"{obj['kind']}-{name}".lower()).strip("-")
    return f"{index:03d}-{slug}.yaml"


def render_manifests(project: Path, stack: str, dest: Path) -> list[Path]:
    """Write ``stack``'s Kubernetes objects under ``dest``; return the files written.

    Raises:
        UserError: the stack declares no Kubernetes objects, or ``dest`` exists and was not
            written by this command.
    """
    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture

    if dest.exists() and any(dest.iterdir()) and not (dest / MARKER).exists():
        raise UserError(
            f"{dest} exists and was not written by `mlops render-manifests`: choose an empty"
            " or new folder (nothing in it is replaced)"
        )
    objects = manifests(capture(project, stack))
    if not objects:
        raise UserError(
            f"stack '{stack}' declares no Kubernetes objects (an aws project's stacks provision"
            " AWS resources): nothing to render"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        names = [_file_name(i + 1, obj) for i, obj in enumerate(objects)]
        for name, obj in zip(names, objects, strict=True):
            (staging / name).write_text(yaml.safe_dump(obj, sort_keys=False))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": names,
        }
        (staging / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
        (staging / MARKER).write_text(f"rendered from stack {stack}\n")
        if dest.exists():
            shutil.rmtree(dest)  # ours (it holds the marker) or empty
        staging.replace(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [dest / n for n in names]
