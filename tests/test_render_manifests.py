"""`mlops render-manifests`: a k8s stack's objects as YAML files, written whole, never over
a folder the tool did not write."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes_validate import validate

IMAGE = "registry.example.com/churn@sha256:" + "c" * 64
PROGRAM = '''"""A Kubernetes flavour program: one platform per stack."""
import pulumi
from mlops.infra.k8s import K8sPlatform, K8sPlatformArgs
from mlops.infra.k8s.config import K8sConfig

config = K8sConfig.load()
platform = K8sPlatform(config.namespace, K8sPlatformArgs.from_config(config))
pulumi.export("namespace", config.namespace)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "churn"
    (root / "infra").mkdir(parents=True)
    (root / ".mlops").mkdir()
    (root / "Pulumi.yaml").write_text("name: churn\nruntime: python\nmain: infra/\n")
    (root / "infra" / "__main__.py").write_text(PROGRAM)
    for stack in ("dev", "prod"):
        (root / f"Pulumi.{stack}.yaml").write_text(f"config:\n  churn:image: {IMAGE}\n")
    return root


def test_a_stack_renders_one_valid_file_per_object(project: Path, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "gitops" / "prod"
    result = invoke("render-manifests", str(dest), "--stack", "prod", "--project", str(project))
    assert result.exit_code == 0, result.output
    kustomization = yaml.safe_load((dest / "kustomization.yaml").read_text())
    files = kustomization["resources"]
    assert len(files) >= 15 and f"{len(files)} manifests of stack 'prod'" in result.output
    assert files == sorted(files) and files[0].startswith("001-namespace-")
    kinds = set()
    for name in files:
        obj = yaml.safe_load((dest / name).read_text())
        kinds.add(obj["kind"])
        if obj["apiVersion"].split("/")[0] not in {"kubeflow.org", "monitoring.coreos.com"}:
            validate(obj, "1.31.0", strict=True)
    assert {"Deployment", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"} <= kinds
    # Again: the folder is the tool's (its marker is there), so it is replaced whole.
    again = invoke("render-manifests", str(dest), "--stack", "dev", "--project", str(project))
    assert again.exit_code == 0
    deployment = next(dest.glob("*-deployment-*.yaml"))
    assert yaml.safe_load(deployment.read_text())["spec"]["replicas"] == 1  # dev's default


def test_what_it_will_not_do(project: Path, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = invoke("render-manifests", str(mine), "--stack", "prod", "--project", str(project))
    assert refused.exit_code == 2 and "was not written by" in refused.output
    assert (mine / "notes.txt").read_text() == "keep me"
    unknown = invoke(
        "render-manifests", str(tmp_path / "x"), "--stack", "prd", "--project", str(project)
    )
    assert unknown.exit_code == 2 and "did you mean 'prod'" in unknown.output
    assert not (tmp_path / "x").exists()
    (project / "Pulumi.prod.yaml").write_text("config:\n  churn:image: churn:latest\n")
    bad = invoke(
        "render-manifests", str(tmp_path / "y"), "--stack", "prod", "--project", str(project)
    )
    assert (
        bad.exit_code == 2
        and "not pinned by digest" in bad.output
        and "Traceback" not in bad.output
    )
    assert not (tmp_path / "y").exists()


def test_an_aws_project_has_nothing_to_render(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    from mlops.templates.answers import validate_answers
    from mlops.templates.engine import Scaffold

    dest = tmp_path / "churn-on-aws"
    Scaffold(
        validate_answers({"name": "churn-on-aws", "environments": "dev", "ci": "none"}),
        dest,
        git=False,
    ).run()
    result = invoke(
        "render-manifests", str(tmp_path / "out"), "--stack", "dev", "--project", str(dest)
    )
    assert result.exit_code == 2 and "declares no Kubernetes objects" in result.output


def test_running_a_program_leaves_no_event_loop_open(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unclosed loop is collected at exit and can print a traceback after a command succeeded.
    import asyncio

    from mlops.infra.program import capture

    made: list[asyncio.AbstractEventLoop] = []
    original = asyncio.BaseEventLoop.__init__

    def recording(self: asyncio.BaseEventLoop) -> None:
        made.append(self)
        original(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", recording)
    assert capture(project, "prod").resources
    assert made and all(loop.is_closed() for loop in made)
