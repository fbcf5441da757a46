"""`mlops render-manifests`: a k8s stack's objects as YAML files, written whole, never over
a folder the tool did not write."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO
from kubernetes_validate import validate

IMAGE = "registry.example.com/churn@sha256:" + "c" * 64
CUSTOM = {"kubeflow.org", "monitoring.coreos.com", "argoproj.io"}  # their operators' models
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
        if obj["apiVersion"].split("/")[0] not in CUSTOM:
            validate(obj, "1.31.0", strict=True)
    assert {
        "Deployment",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "WorkflowTemplate",
    } <= kinds
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
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

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


ROOT = REPO
CRMODELS = ROOT / ".ci" / "crmodels" / "bin" / "python"
needs_crmodels = pytest.mark.skipif(
    not CRMODELS.exists(), reason="the operators' models: scripts/test.sh installs them in .ci/"
)


def validate_custom_resources(files: list[Path]) -> tuple[int, dict]:  # type: ignore[type-arg]
    import json
    import subprocess

    script = ROOT / "scripts" / "validate_custom_resources.py"
    proc = subprocess.run(
        [str(CRMODELS), str(script), *map(str, files)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


@needs_crmodels
@pytest.mark.slow
def test_custom_resources_validate_against_their_operators_models(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn"
    init = ["init", "churn", "--template", "k8s", "--kserve", "--no-input", "--no-git"]
    assert invoke(*init, "--node-selector", "gpu_type=a10g", "--dest", str(root)).exit_code == 0
    with (root / "Pulumi.prod.yaml").open("a") as stack:
        stack.write("  churn:trainingNodes: 4\n")  # a PyTorchJob, the workflow's train step
    with (root / "Pulumi.staging.yaml").open("a") as stack:
        stack.write('  churn:retrainSchedule: "0 3 * * 1"\n')  # a CronWorkflow
    with (root / "Pulumi.local.yaml").open("a") as stack:
        stack.write("  churn:mlflow: true\n")  # the steps' registry is MLflow's
    files: list[Path] = []
    for name in ("dev", "staging", "prod", "local"):
        dest = tmp_path / "out" / name
        result = invoke("render-manifests", str(dest), "--stack", name, "--project", str(root))
        assert result.exit_code == 0, result.output
        files += sorted(dest.glob("0*.yaml"))
    code, report = validate_custom_resources(files)  # one run: the models take seconds to import
    assert (code, report["findings"]) == (0, []), report["findings"][:20]
    # Every stack monitors and runs the lifecycle workflow; kserve serves dev, staging and prod;
    # prod trains on four nodes (the PyTorchJob is inside its workflow's train step, checked
    # below); staging retrains on a schedule.
    assert report["checked"] == {
        "ServiceMonitor": 4,
        "PrometheusRule": 4,
        "InferenceService": 3,
        "WorkflowTemplate": 4,
        "CronWorkflow": 1,
    }
    import yaml

    (prod,) = [f for f in files if "/prod/" in str(f) and "workflowtemplate" in f.name]
    template = yaml.safe_load(prod.read_text())
    (train,) = [t for t in template["spec"]["templates"] if t["name"] == "train"]
    pytorch = tmp_path / "pytorchjob.yaml"
    pytorch.write_text(train["resource"]["manifest"])
    code, report = validate_custom_resources([pytorch])
    assert (code, report) == (0, {"checked": {"PyTorchJob": 1}, "findings": []})


BROKEN_CRS = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: x}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: "1"
      template:
        spec:
          restart_policy: Never
          containers: [{image: "x@sha256:1"}]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: x}
spec:
  predictor: {canaryTrafficPercent: 10, minReplicas: 1, shards: 2}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  selector: {}
  endpoints: [{port: http, scrapeEvery: 30s}]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups: [{name: g, rules: [{alert: A, expr: up == 0, for: 5}]}]
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: x}
spec:
  entrypoint: main
  serviceAccount: training
  templates:
  - name: main
    steps: [[{name: a, template: a}]]
  - name: a
    container: {args: [validate]}
    retryStrategy: {limit: "1", backoff: 5}
---
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: x}
spec:
  schedules: "@daily"
  concurrencyPolicy: Forbid
"""


@needs_crmodels
def test_the_custom_resource_check_finds_what_the_operators_would_refuse(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_CRS)
    code, report = validate_custom_resources([broken])
    assert code == 1
    assert report["checked"] == {
        "PyTorchJob": 1,
        "InferenceService": 1,
        "ServiceMonitor": 1,
        "PrometheusRule": 1,
        "WorkflowTemplate": 1,
        "CronWorkflow": 1,
    }
    findings = "\n".join(report["findings"])
    assert "Master.replicas: expected int, got '1'" in findings
    assert "template.spec.restart_policy: not a field of V1PodSpec" in findings
    assert "containers[0]: V1Container" in findings and "`name`" in findings  # required
    assert "predictor.shards: not a field of V1beta1PredictorSpec" in findings
    assert "endpoints[0].scrapeEvery: not a field" in findings
    assert "rules.0.for: Input should be a valid string" in findings  # a duration
    assert "KubeflowOrgV1PyTorchJobSpec: Invalid value for `run_policy`" in findings  # required
    # Argo's own models: an unknown field, a required one missing, a wrong type.
    assert "spec.serviceAccount: not a field of IoArgoprojWorkflowV1alpha1WorkflowSpec" in findings
    assert "container: Container: `image` is required" in findings
    assert "retryStrategy.backoff: expected a IoArgoprojWorkflowV1alpha1Backoff object" in findings
    assert "schedules: expected a list, got str" in findings
    assert "CronWorkflowSpec: `workflowSpec` is required" in findings
    assert len(report["findings"]) == 12, findings


def test_running_a_program_leaves_the_collector_as_it_found_it(project: Path) -> None:
    # The run collects rarely and freezes long-lived objects; the process gets both back.
    import gc

    from mlops.infra.program import capture

    before = gc.get_threshold()
    assert capture(project, "dev").resources
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
