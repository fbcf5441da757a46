"""Validate custom resources against their operators' own published models, offline.

kubernetes-validate knows the built-in kinds only. The custom resources mlops-stack declares are
checked here against the models their projects publish as packages (installed, pinned, in the
tool venv ``.ci/crmodels`` by ``scripts/test.sh``; their pins are not ours, so this script runs
there and imports nothing of mlops):

- ``PyTorchJob``: the Kubeflow Training Operator's SDK (``kubeflow-training``),
- ``InferenceService``: KServe's SDK (``kserve``),
- ``ServiceMonitor`` and ``PrometheusRule``: the Prometheus Operator's models
  (``cloudcoil-models-prometheus-operator``, generated from the operator's CRDs),
- ``WorkflowTemplate``, ``CronWorkflow`` and ``Workflow``: Argo Workflows' own models
  (``argo-workflows``, generated from Argo's OpenAPI spec).

The two SDKs are OpenAPI-generated: every model names its fields' JSON keys and types, and nested
Kubernetes types come from the ``kubernetes`` client's models. A field the model does not name,
a value of the wrong type, a value outside an enum, or a missing required field is a finding.
Argo's models are of the newer generator: each names its fields' JSON keys (``attribute_map``),
their types as classes (``openapi_types``), its required fields (the constructor's positional
parameters) and its enums (``allowed_values``); the same findings come from them. Argo's
int-or-string fields (``activeDeadlineSeconds`` of a template, ``retryStrategy.limit``) are typed
as strings there, so an integer in one is a finding the API server would not make: the workflow
writes them as strings, which both accept.
The Prometheus models are pydantic: a document is validated, dumped back, and anything that did
not survive the round trip (an unknown field, a coerced value) is a finding.

Usage: ``python validate_custom_resources.py FILE.yaml ...``. Prints a JSON object
``{"checked": {kind: count}, "findings": ["file: path: message", ...]}``; exits 1 on findings,
2 on an unreadable file.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

# kind -> (apiVersion, models module, model class)
OPENAPI_KINDS = {
    "PyTorchJob": ("kubeflow.org/v1", "kubeflow.training.models", "KubeflowOrgV1PyTorchJob"),
    "InferenceService": ("serving.kserve.io/v1beta1", "kserve.models", "V1beta1InferenceService"),
}
PYDANTIC_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
ARGO_KINDS = {
    "WorkflowTemplate": "io_argoproj_workflow_v1alpha1_workflow_template",
    "CronWorkflow": "io_argoproj_workflow_v1alpha1_cron_workflow",
    "Workflow": "io_argoproj_workflow_v1alpha1_workflow",
}
ARGO_API = "argoproj.io/v1alpha1"
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}


def _resolve(name: str, module: Any) -> Any:
    """A model class by name: the operator's own first, then the Kubernetes client's."""
    import kubernetes.client.models as core

    for source in (module, core):
        if hasattr(source, name):
            return getattr(source, name)
    raise LookupError(f"no model {name} in {module.__name__} or kubernetes.client.models")


def check_openapi(value: Any, typ: str, path: str, module: Any, findings: list[str]) -> None:
    """Check ``value`` against the OpenAPI-generated type ``typ``, appending findings."""
    if typ == "object":
        return  # free-form (IntOrString, raw extension)
    if typ.startswith(("list[", "dict(")):
        _check_collection(value, typ, path, module, findings)
    elif typ in PRIMITIVES:
        wanted = PRIMITIVES[typ]
        # bool is an int in Python, never in the API.
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            findings.append(f"{path}: expected {typ}, got {value!r}")
    elif not isinstance(value, dict):
        findings.append(f"{path}: expected a {typ} object, got {type(value).__name__}")
    else:
        _check_model(value, typ, path, module, findings)


def _check_collection(value: Any, typ: str, path: str, module: Any, findings: list[str]) -> None:
    if typ.startswith("list["):
        if not isinstance(value, list):
            findings.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_openapi(item, typ[5:-1], f"{path}[{i}]", module, findings)
        return
    match = re.fullmatch(r"dict\(([^,]*), (.*)\)", typ)
    assert match is not None, typ
    if not isinstance(value, dict):
        findings.append(f"{path}: expected a mapping, got {type(value).__name__}")
        return
    for key, item in value.items():
        check_openapi(item, match.group(2), f"{path}.{key}", module, findings)


def _check_model(
    value: dict[str, Any], typ: str, path: str, module: Any, findings: list[str]
) -> None:
    klass = _resolve(typ, module)
    by_json = {key: attr for attr, key in klass.attribute_map.items()}
    present: dict[str, Any] = {}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            findings.append(f"{path}.{key}: not a field of {typ}")
            continue
        present[attr] = item
        check_openapi(item, klass.openapi_types[attr], f"{path}.{key}", module, findings)
    try:  # the model's own setters: required fields and enums
        klass(**present)
    except (ValueError, TypeError) as exc:
        findings.append(f"{path}: {typ}: {exc}")


def _roundtrip_diff(sent: Any, back: Any, path: str, findings: list[str]) -> None:
    if isinstance(sent, dict) and isinstance(back, dict):
        for key, item in sent.items():
            if key not in back:
                findings.append(f"{path}.{key}: not a field of the model")
            else:
                _roundtrip_diff(item, back[key], f"{path}.{key}", findings)
    elif isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        for i, (a, b) in enumerate(zip(sent, back, strict=True)):
            _roundtrip_diff(a, b, f"{path}[{i}]", findings)
    elif sent != back or type(sent) is not type(back):
        findings.append(f"{path}: {sent!r} does not survive the model (read as {back!r})")


def _argo_model(kind: str) -> Any:
    module = importlib.import_module(f"argo_workflows.model.{ARGO_KINDS[kind]}")
    return getattr(module, "IoArgoprojWorkflowV1alpha1" + kind)


def check_argo(value: Any, types: tuple[Any, ...], path: str, findings: list[str]) -> None:
    """Check ``value`` against an Argo model's field types (a tuple of classes), appending."""
    from argo_workflows.model_utils import ModelSimple, OpenApiModel

    if len(types) > 1:
        return  # free-form (any JSON value)
    (typ,) = types
    if isinstance(typ, list | dict):
        _check_argo_collection(value, typ, path, findings)
    elif isinstance(typ, type) and issubclass(typ, ModelSimple):  # a named value (a list)
        check_argo(value, typ.openapi_types["value"], path, findings)
    elif isinstance(typ, type) and issubclass(typ, OpenApiModel):
        if not isinstance(value, dict):
            findings.append(f"{path}: expected a {typ.__name__} object, got {value!r}")
        else:
            _check_argo_model(value, typ, path, findings)
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            findings.append(f"{path}: expected float, got {value!r}")
    elif isinstance(typ, type) and (
        not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool)
    ):
        findings.append(f"{path}: expected {typ.__name__}, got {value!r}")


def _check_argo_collection(value: Any, typ: Any, path: str, findings: list[str]) -> None:
    """``[X]``: a list of X; ``{str: (X,)}``: a mapping to X."""
    if isinstance(typ, list):
        if not isinstance(value, list):
            findings.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_argo(item, tuple(typ), f"{path}[{i}]", findings)
        return
    if not isinstance(value, dict):
        findings.append(f"{path}: expected a mapping, got {type(value).__name__}")
        return
    (inner,) = typ.values()
    for key, item in value.items():
        check_argo(item, inner, f"{path}.{key}", findings)


def _check_argo_model(value: dict[str, Any], klass: Any, path: str, findings: list[str]) -> None:
    import inspect

    by_json = {key: attr for attr, key in klass.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            findings.append(f"{path}.{key}: not a field of {klass.__name__}")
            continue
        check_argo(item, klass.openapi_types[attr], f"{path}.{key}", findings)
        allowed = klass.allowed_values.get((attr,), {})
        if allowed and item not in allowed.values():
            findings.append(f"{path}.{key}: {item!r} is not one of {sorted(allowed.values())}")
    required = [
        name
        for name, param in inspect.signature(klass._from_openapi_data).parameters.items()
        if param.kind is param.POSITIONAL_OR_KEYWORD and name not in ("self", "cls")
    ]
    for attr in required:
        if klass.attribute_map[attr] not in value:
            findings.append(f"{path}: {klass.__name__}: `{klass.attribute_map[attr]}` is required")


def check_document(doc: dict[str, Any]) -> list[str] | None:
    """Findings for one object, or None when its kind is not one this script knows."""
    kind, api = doc.get("kind"), doc.get("apiVersion")
    findings: list[str] = []
    if kind in OPENAPI_KINDS:
        version, module_name, model = OPENAPI_KINDS[kind]
        if api != version:
            return [f"apiVersion: {api!r}, the model is {version}"]
        check_openapi(doc, model, "", importlib.import_module(module_name), findings)
        return findings
    if kind in ARGO_KINDS:
        if api != ARGO_API:
            return [f"apiVersion: {api!r}, the model is {ARGO_API}"]
        _check_argo_model(doc, _argo_model(str(kind)), "", findings)
        return findings
    if kind in PYDANTIC_KINDS:
        if api != PYDANTIC_KINDS[kind]:
            return [f"apiVersion: {api!r}, the model is {PYDANTIC_KINDS[kind]}"]
        from cloudcoil.models.prometheus_operator import v1
        from pydantic import ValidationError

        try:
            parsed = getattr(v1, kind).model_validate(doc)
        except ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        back = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
        _roundtrip_diff(doc, back, "", findings)
        return findings
    return None


def main(argv: list[str]) -> int:
    """Check every file named; print the report."""
    checked: Counter[str] = Counter()
    findings: list[str] = []
    for name in argv:
        try:
            docs = [d for d in yaml.safe_load_all(Path(name).read_text()) if d]
        except (OSError, yaml.YAMLError) as exc:
            print(f"cannot read {name}: {exc}", file=sys.stderr)
            return 2
        for doc in docs:
            found = check_document(doc)
            if found is not None:
                checked[str(doc["kind"])] += 1
                findings += [f"{name}: {f}" for f in found]
    print(json.dumps({"checked": dict(checked), "findings": findings}, indent=1))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
