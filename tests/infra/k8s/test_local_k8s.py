"""`mlops local up|down --k8s`: a kind cluster and the local stack's manifests.

No docker or kind can run here: the orchestration is tested with stand-in `docker`, `kind`
and `kubectl` scripts that record how they were called; the real round trip is the `kind`
marked test, which runs where both are installed (and is skipped here).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
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
# kubectl: records its calls, keeps the Secrets it is asked to create (with their files' contents
# and modes) and answers `get secret` from them.
KUBECTL = """#!{python}
import json, os, pathlib, stat, sys
args = sys.argv[1:]
pathlib.Path({log!r}).open("a").write("kubectl " + " ".join(args) + "\\n")
store = pathlib.Path({secrets!r})
made = json.loads(store.read_text()) if store.exists() else {{}}
if "get" in args and "secret" in args:
    name = args[args.index("secret") + 1]
    print(f"secret/{{name}}" if name in made else "")
if args[-2:] == ["-f", "-"]:
    pathlib.Path({log!r}).open("a").write("stdin " + sys.stdin.read() + "\\n")
if "create" in args and "secret" in args:
    name = args[args.index("generic") + 1]
    files = [a.split("=", 2)[1:] for a in args if a.startswith("--from-file=")]
    made[name] = {{k: [open(p).read(), stat.S_IMODE(os.stat(p).st_mode)] for k, p in files}}
    store.write_text(json.dumps(made))
"""


def test_up_creates_the_cluster_and_applies_the_stack_down_deletes_it(
    project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    bin_dir, log, clusters = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "clusters"
    bin_dir.mkdir()
    made = tmp_path / "secrets.json"
    for tool in ("docker", "kind", "kubectl"):
        script = bin_dir / tool
        if tool == "kubectl":
            script.write_text(
                KUBECTL.format(python=sys.executable, log=str(log), secrets=str(made))
            )
        else:
            script.write_text(STUB.format(log=log, clusters=clusters))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = invoke("local", "up", "--k8s", "--project", str(project))
    assert result.exit_code == 0, result.output
    calls = log.read_text().splitlines()
    kind_config = project / ".mlops" / "kind.yaml"
    assert f"kind create cluster --name mlops-churn-k8s --config {kind_config}" in calls
    manifests = project / ".mlops" / "k8s-local"
    assert f"kubectl --context kind-mlops-churn-k8s apply -k {manifests}" in calls
    # Argo's controller, pinned, before the stack (whose WorkflowTemplate needs its CRDs).
    from mlops.infra.kind import ARGO_MANIFEST

    argo = (
        "kubectl --context kind-mlops-churn-k8s apply -n argo --server-side -f"
        " https://github.com/argoproj/argo-workflows/releases/download/v3.7.14/install.yaml"
    )
    assert ARGO_MANIFEST.endswith("/v3.7.14/install.yaml")
    assert calls.index(argo) < calls.index(
        f"kubectl --context kind-mlops-churn-k8s apply -k {manifests}"
    )
    config = json.loads(next(c for c in calls if c.startswith("stdin "))[6:])
    assert config["metadata"] == {"name": "workflow-controller-configmap", "namespace": "argo"}
    executor = yaml.safe_load(config["data"]["executor"])["securityContext"]
    assert executor["runAsNonRoot"] and executor["capabilities"] == {"drop": ["ALL"]}
    assert yaml.safe_load(config["data"]["workflowRestrictions"]) == {
        "templateReferencing": "Strict"
    }
    assert any("rollout status -n argo deployment/workflow-controller" in c for c in calls)
    nodes = yaml.safe_load(kind_config.read_text())["nodes"]
    assert nodes[1] == {"role": "worker", "labels": {"mlops/gpu-standin": "true"}}
    assert nodes[0]["extraPortMappings"][0]["listenAddress"] == "127.0.0.1"
    assert (manifests / "kustomization.yaml").exists()
    # The lake is MinIO: its keys are made once, with a random password that never reaches
    # kubectl's arguments, in files only this user could read.
    secrets = json.loads(made.read_text())
    (config_env, config_mode), (credentials, credentials_mode) = (
        secrets["churn-k8s-local-lake-root"]["config.env"],
        secrets["churn-k8s-local-lake-root"]["credentials"],
    )
    password = config_env.split("MINIO_ROOT_PASSWORD=")[1].strip()
    assert len(password) >= 32 and config_env.startswith("MINIO_ROOT_USER=mlops\n")
    assert f"aws_secret_access_key = {password}" in credentials
    assert config_mode == credentials_mode == 0o600
    assert password not in log.read_text()
    assert "created the lake's keys" in result.output

    clusters.write_text("mlops-churn-k8s\n")  # now kind knows it
    again = invoke("local", "up", "--k8s", "--project", str(project))
    assert again.exit_code == 0 and "already there" in again.output
    assert json.loads(made.read_text()) == secrets  # kept: MinIO's data stays readable
    assert "Secret churn-k8s-local-lake-root already there, kept" in again.output
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
