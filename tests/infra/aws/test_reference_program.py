"""The repo-root Pulumi program (the reference platform) runs under mocks."""

from __future__ import annotations

import runpy

import yaml
from conftest import REPO

from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program

ROOT = REPO


def test_reference_dev_stack() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    program_dir = ROOT / project["main"]
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]

    def program() -> None:
        runpy.run_path(str(program_dir / "__main__.py"))

    result = run_program(
        program, project=project["name"], stack="dev", config=config, invokes=CALLER_IDENTITY
    )
    assert [r.name for r in result.of_type("mlops:aws:MLPlatform")] == ["mlops-stack-dev"]
    assert [r.name for r in result.of_type("mlops:aws:DataLake")] == ["mlops-stack-dev-lake"]
    assert len(result.of_type("aws:sagemaker/pipeline:Pipeline")) == 1
    assert result.of_type("aws:sagemaker/endpoint:Endpoint") == []  # no approved model yet
