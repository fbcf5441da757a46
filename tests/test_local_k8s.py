"""`mlops local up|down --k8s`: a kind cluster and the local stack's manifests.

No docker or kind can run here: the orchestration is tested with stand-in `docker`, `kind`
and `kubectl` scripts that record how they were called; the real round trip is the `kind`
marked test, which runs where both are installed (and is skipped here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def project(tmp_path: Path, invoke) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn-k8s"
    result = invoke(
        "init", "churn-k8s", "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)
    )
    assert result.exit_code == 0, result.output
    return root


def test_without_the_tools_it_says_what_to_install_and_creates_nothing(
    project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = invoke("local", "up", "--k8s", "--project", str(project))
    assert result.exit_code == 2
    assert "needs docker, kind, kubectl on PATH" in result.output
    assert "https://kind.sigs.k8s.io" in result.output and "without --k8s" in result.output
    assert not (project / ".mlops" / "kind.yaml").exists()
    assert not (project / ".mlops" / "k8s-local").exists()


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
if [ "$(basename "$0") $1 $2" = "kind get clusters" ]; then cat "{clusters}" 2>/dev/null; fi
exit 0
"""


def test_up_creates_the_cluster_and_applies_the_stack_down_deletes_it(
    project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    bin_dir, log, clusters = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "clusters"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl"):
        script = bin_dir / tool
        script.write_text(STUB.format(log=log, clusters=clusters))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = invoke("local", "up", "--k8s", "--project", str(project))
    assert result.exit_code == 0, result.output
    calls = log.read_text().splitlines()
    config = project / ".mlops" / "kind.yaml"
    assert f"kind create cluster --name mlops-churn-k8s --config {config}" in calls
    manifests = project / ".mlops" / "k8s-local"
    assert f"kubectl --context kind-mlops-churn-k8s apply -k {manifests}" in calls
    nodes = yaml.safe_load(config.read_text())["nodes"]
    assert nodes[1] == {"role": "worker", "labels": {"mlops/gpu-standin": "true"}}
    assert nodes[0]["extraPortMappings"][0]["listenAddress"] == "127.0.0.1"
    assert (manifests / "kustomization.yaml").exists()

    clusters.write_text("mlops-churn-k8s\n")  # now kind knows it
    again = invoke("local", "up", "--k8s", "--project", str(project))
    assert again.exit_code == 0 and "already there" in again.output
    assert sum(c.startswith("kind create") for c in log.read_text().splitlines()) == 1
    down = invoke("local", "down", "--k8s", "--project", str(project))
    assert down.exit_code == 0 and "deleted kind cluster mlops-churn-k8s" in down.output
    assert "kind delete cluster --name mlops-churn-k8s" in log.read_text()


@pytest.mark.kind
@pytest.mark.skipif(
    shutil.which("kind") is None
    or shutil.which("docker") is None
    or shutil.which("kubectl") is None,
    reason="needs docker, kind and kubectl",
)
def test_the_local_stack_on_a_real_kind_cluster(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    try:
        result = invoke("local", "up", "--k8s", "--project", str(project))
        assert result.exit_code == 0, result.output
    finally:
        assert invoke("local", "down", "--k8s", "--project", str(project)).exit_code == 0
