"""`mlops init --template k8s`: a project on Kubernetes from shared lifecycle files and its own
program; answers validated like the aws pack's, and the generated tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def test_init_renders_a_k8s_project(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "init",
        "churn-k8s",
        "--template",
        "k8s",
        "--no-input",
        "--no-git",
        "--dest",
        str(tmp_path / "churn-k8s"),
        "--framework",
        "pytorch",
        "--node-selector",
        "gpu=a10g",
        "--environments",
        "dev,prod",
        "--kserve",
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "churn-k8s"
    record = yaml.safe_load((root / ".mlops" / "answers.yml").read_text())
    assert record["template"] == "k8s"
    stacks = sorted(p.name for p in root.glob("Pulumi.*.yaml"))
    assert stacks == ["Pulumi.dev.yaml", "Pulumi.local.yaml", "Pulumi.prod.yaml"]
    prod = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())["config"]
    assert prod["churn-k8s:trainingGpus"] == 1  # pytorch trains on a GPU
    assert prod["churn-k8s:nodeSelector"] == {"gpu": "a10g"}
    assert prod["churn-k8s:kserve"] is True
    assert prod["churn-k8s:image"].endswith("@sha256:" + "0" * 64)
    local = yaml.safe_load((root / "Pulumi.local.yaml").read_text())["config"]
    assert "churn-k8s:trainingGpus" not in local  # kind: CPU training
    assert "churn-k8s:kserve" not in local  # kind serves with plain Deployments
    # MLflow where the stack has a lake (local's MinIO); its release named, its digest unresolved.
    from mlops.infra.k8s.settings import MLFLOW_IMAGE

    assert local["churn-k8s:mlflow"] is True
    assert local["churn-k8s:mlflowImage"] == f"{MLFLOW_IMAGE}@sha256:" + "0" * 64
    assert not any(key.startswith("churn-k8s:mlflow") for key in prod)  # no lake: no MLflow
    assert "K8sPlatform" in (root / "infra" / "__main__.py").read_text()
    # The project's own parts are the common base's (the aws pack's too), byte for byte.
    common = REPO / "templates" / "common" / "files"
    assert (root / "data" / "contract.yaml").read_bytes() == (
        common / "data" / "contract.yaml"
    ).read_bytes()
    train = (common / "package" / "pipelines" / "train_pytorch.py").read_bytes()
    assert (root / "churn_k8s" / "pipelines" / "train.py").read_bytes() == train


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--gpu-resource", "gpu", "not an extended resource name"),
        ("--node-selector", "gpu:a10g", "write key=value"),
        ("--owner", "-ml team", "not a valid Kubernetes label value"),
        ("--registry", "GHCR.io/Acme", "not a registry path"),
    ],
)
def test_bad_answers_write_nothing(
    tmp_path: Path, invoke, option: str, value: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "churn-k8s"
    result = invoke(
        "init", "churn-k8s", "--template", "k8s", "--no-input", "--dest", str(dest), option, value
    )
    assert result.exit_code == 2 and message in result.output
    assert not dest.exists()


def test_a_name_too_long_for_a_namespace_is_refused(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    name = "c" + "x" * 60
    result = invoke("init", name, "--template", "k8s", "--no-input", "--dest", str(tmp_path / "p"))
    assert result.exit_code == 2 and "55" in result.output


def test_the_generated_project_passes_its_own_tests(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn-k8s"
    assert (
        invoke(
            "init", "churn-k8s", "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)
        ).exit_code
        == 0
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


POLICY = "--policy-pack policy --policy-pack-config policy/config.json"


def _init_ci(tmp_path: Path, invoke, ci: str) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / f"churn-{ci}"
    args = ["--template", "k8s", "--ci", ci, "--environments", "dev,staging,prod"]
    result = invoke("init", "churn", *args, "--no-input", "--no-git", "--dest", str(root))
    assert result.exit_code == 0, result.output
    return root


def test_github_ci_previews_every_stack_and_deploys_in_order_behind_environments(
    tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    workflows = _init_ci(tmp_path, invoke, "github") / ".github" / "workflows"
    preview = yaml.safe_load((workflows / "preview.yml").read_text())
    jobs = preview["jobs"]
    assert sorted(jobs) == ["preview-dev", "preview-prod", "preview-staging"]
    for stack, job in ((j.removeprefix("preview-"), jobs[j]) for j in jobs):
        steps = job["steps"]
        pulumi = next(s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@"))
        assert pulumi["with"]["command"] == "preview" and pulumi["with"]["stack-name"] == stack
        # Read-only credentials of that stack's cluster, passed through env, never inlined.
        secret = next(s for s in steps if s.get("name") == "kubeconfig")
        expected = "${{ secrets.KUBECONFIG_PREVIEW_" + stack.upper() + " }}"
        assert secret["env"]["KUBECONFIG_DATA"] == expected
        assert "secrets." not in secret["run"]
        assert any("render-manifests" in s.get("run", "") and stack in s["run"] for s in steps)
    deploy = yaml.safe_load((workflows / "deploy.yml").read_text())["jobs"]
    order = ["dev", "staging", "prod"]
    assert [deploy[f"deploy-{e}"]["environment"] for e in order] == order
    needs = [deploy[f"deploy-{e}"].get("needs") for e in order]
    assert needs == ["ci", "deploy-dev", "deploy-staging"]  # ci: tests and image, same run
    for env in order:
        steps = deploy[f"deploy-{env}"]["steps"]
        up = next(s for s in steps if "pulumi/actions@" in str(s.get("uses")))
        assert (up["with"]["command"], up["with"]["stack-name"]) == ("up", env)


def test_gitlab_ci_previews_on_merge_requests_and_gates_later_deploys(
    tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    config = yaml.safe_load((_init_ci(tmp_path, invoke, "gitlab") / ".gitlab-ci.yml").read_text())
    order = ["dev", "staging", "prod"]
    for env in order:
        preview = config[f"preview-{env}"]
        assert preview["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
        assert f"pulumi preview --stack {env} --non-interactive {POLICY}" in preview["script"]
        assert preview["environment"] == {"name": f"preview-{env}", "action": "verify"}
    deploys = [config[f"deploy-{env}"] for env in order]
    assert [d["environment"]["name"] for d in deploys] == order
    assert [d.get("needs") for d in deploys] == [
        ["test", "image"],
        ["image", "deploy-dev"],
        ["image", "deploy-staging"],
    ]
    assert [d["rules"][0]["when"] for d in deploys] == ["on_success", "manual", "manual"]
    assert [d["script"][-1] for d in deploys] == [
        f"pulumi up --stack {env} --yes --non-interactive {POLICY}" for env in order
    ]
