"""The Kubernetes manifests a program declares, as plain data and YAML.

Under the mock runtime a ``kubernetes:*`` resource's inputs are its manifest (``apiVersion``,
``kind``, ``metadata``, ``spec``), keys already in Kubernetes' camelCase. Pulumi's wire format
carries every number as a float, so whole numbers are turned back into integers, as the API
expects them. What this returns is what validators check and what GitOps tools would apply.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlops.infra.mock_runtime import MockedProgram


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def manifests(program: MockedProgram) -> list[dict[str, Any]]:
    """Every Kubernetes object of the program, in registration order."""
    return [
        _ints(dict(r.inputs))
        for r in program.resources
        if r.custom and r.type.startswith("kubernetes:")
    ]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """One YAML stream, a document per object."""
    return yaml.safe_dump_all(objects, sort_keys=False)
