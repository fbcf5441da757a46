"""Lean provider packages: pulumi_aws's service packages load only the resource modules used.

Each check runs in a fresh interpreter: this one may have imported pulumi_aws already, and a
lean package is made only before it loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers


def python(code: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


PUBLIC = """
import importlib, json, sys, types
def public(package):
    return {
        name: f"{value.__module__}.{value.__qualname__}"
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "").startswith(package.__name__ + ".")
    }
"""


def test_a_lean_package_exports_what_the_package_does_and_loads_only_what_is_used() -> None:
    lean = python(
        PUBLIC
        + """
import mlops.infra.aws  # makes the service packages lean, before pulumi_aws loads
import pulumi_aws, pulumi.runtime.rpc as rpc
sm = pulumi_aws.sagemaker
pipeline = sm.Pipeline
loaded = sorted(m for m in sys.modules if m.startswith("pulumi_aws.sagemaker."))
registered = "aws:sagemaker/pipeline" in rpc._RESOURCE_MODULES
own_init_ran = vars(sm).get("_utilities") is pulumi_aws._utilities
everything = {n: f"{getattr(sm, n).__module__}.{getattr(sm, n).__qualname__}"
              for n in sm.__all__ if not isinstance(getattr(sm, n), types.ModuleType)}
print(json.dumps({"class": f"{pipeline.__module__}.{pipeline.__qualname__}", "loaded": loaded,
                  "registered": registered, "init": own_init_ran, "everything": everything,
                  "lean": type(sm).__name__}))
"""
    )
    full = python(
        PUBLIC
        + """
import pulumi_aws  # first: nothing is made lean
import mlops.infra.aws
sm = pulumi_aws.sagemaker
print(json.dumps({"lean": type(sm).__name__, "public": public(sm)}))
"""
    )
    got, expected = json.loads(lean), json.loads(full)
    assert got["lean"] == "LeanPackage" and expected["lean"] != "LeanPackage"
    assert got["class"] == "pulumi_aws.sagemaker.pipeline.Pipeline"
    # Only the pipeline's module and what it imports itself (the shared input/output types).
    assert got["loaded"] == [
        "pulumi_aws.sagemaker._inputs",
        "pulumi_aws.sagemaker.outputs",
        "pulumi_aws.sagemaker.pipeline",
    ]
    assert got["init"]  # the rest of the package's own __init__ ran
    assert got["registered"]  # and its resource types are known to the runtime (pulumi_aws's)
    # Every name the package exports resolves to the very same object's definition.
    public = {k: v for k, v in got["everything"].items() if k in expected["public"]}
    assert public == expected["public"]


@pytest.mark.slow
def test_a_program_declares_the_same_resources_with_lean_packages(tmp_path: Path) -> None:
    project = tmp_path / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), project, git=False).run()
    run = (
        "import sys\n{first}\nfrom mlops.cli.main import run\n"
        "sys.argv = ['mlops', 'preview', '--stack', 'prod', '--json']\n"
        "try:\n    run()\nexcept SystemExit as exit:\n    assert exit.code in (0, None)\n"
    )
    lean = json.loads(python(run.format(first="import mlops.infra.aws"), project))
    full = json.loads(python(run.format(first="import pulumi_aws"), project))

    def resources(report: dict) -> list[str]:  # type: ignore[type-arg]
        (stack,) = report["stacks"]
        return sorted(json.dumps(r, sort_keys=True) for r in stack["resources"])

    assert resources(lean) == resources(full) and len(resources(lean)) > 40
