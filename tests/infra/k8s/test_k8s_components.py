"""The Kubernetes flavour's components under mocks, every manifest validated offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from checkov_run import CHECKOV, checkov
from kubernetes_validate import validate
from pydantic import ValidationError

from mlops.core.errors import UserError
from mlops.infra.k8s import (
    MLNamespace,
    ModelServer,
    ModelServerArgs,
    NamespaceArgs,
    TrainingJob,
    TrainingJobArgs,
)
from mlops.infra.k8s.model_server import canary_replicas
from mlops.infra.k8s.render import manifests, to_yaml
from mlops.infra.k8s.settings import LakeSettings, ServingSettings, TrainingSettings
from mlops.infra.mock_runtime import run_program

# Custom resources (Kubeflow's PyTorchJob, the Prometheus Operator's ServiceMonitor and
# PrometheusRule): the API server's schemas do not cover them; their shape is asserted instead.
CUSTOM_GROUPS = {"kubeflow.org", "monitoring.coreos.com", "serving.kserve.io", "argoproj.io"}
K8S_VERSION = "1.31.0"  # the oldest minor release still supported upstream
IMAGE = "registry.example.com/churn@sha256:" + "a" * 64
CANDIDATE = "registry.example.com/churn@sha256:" + "b" * 64


def render(build: Any) -> list[dict[str, Any]]:
    return manifests(run_program(build, project="churn", stack="dev"))


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def valid(objects: list[dict[str, Any]]) -> None:
    """Built-in kinds against the pinned API schema (strict: no unknown fields)."""
    for obj in objects:
        if obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
            continue  # a custom resource: its operator's schema, not the API server's
        validate(obj, K8S_VERSION, strict=True)


def test_the_namespace_is_fenced() -> None:
    args = NamespaceArgs(
        "churn-dev", gpus=2, object_store_port=443, workflow_template="churn-dev-lifecycle"
    )
    objects = render(lambda: MLNamespace("ml", args) and None)
    valid(objects)
    (namespace,) = by_kind(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (quota,) = by_kind(objects, "ResourceQuota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    serving = policies["allow-serving-ingress"]
    assert serving["podSelector"] == {"matchLabels": {"mlops/role": "serving"}}
    assert serving["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    accounts = {a["metadata"]["name"]: a for a in by_kind(objects, "ServiceAccount")}
    assert {n: a["automountServiceAccountToken"] for n, a in accounts.items()} == {
        "training": False,
        "serving": False,
        "monitoring": True,  # it submits the workflow
        "argo-executor": True,  # Argo's own containers in the steps' pods
    }
    roles = {r["metadata"]["name"]: r["rules"] for r in by_kind(objects, "Role")}
    assert roles == {
        # The monitor submits Workflows from the lifecycle's template, no more.
        "submit-retraining": [
            {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
            {
                "apiGroups": ["argoproj.io"],
                "resources": ["workflowtemplates"],
                "resourceNames": ["churn-dev-lifecycle"],
                "verbs": ["get"],
            },
        ],
        # Argo's documented minimum for the emissary executor.
        "argo-executor": [
            {
                "apiGroups": ["argoproj.io"],
                "resources": ["workflowtaskresults"],
                "verbs": ["create", "patch"],
            }
        ],
    }
    assert not by_kind(objects, "ClusterRole")  # nothing beyond its own namespace
    bindings = {b["roleRef"]["name"]: b["subjects"] for b in by_kind(objects, "RoleBinding")}
    assert bindings == {
        role: [{"kind": "ServiceAccount", "name": account, "namespace": "churn-dev"}]
        for role, account in (
            ("submit-retraining", "monitoring"),
            ("argo-executor", "argo-executor"),
        )
    }
    api = policies["allow-api-server"]
    assert api["podSelector"] == {"matchLabels": {"mlops/api-client": "true"}}


def test_the_model_server_is_restricted_probed_and_rolls_out_safely() -> None:
    args = ModelServerArgs(
        "churn-dev",
        IMAGE,
        serving=ServingSettings(replicas=3, max_replicas=6),
        env={"MLOPS_TRAIN_MODULE": "churn.train"},
    )
    objects = render(lambda: ModelServer("churn", args) and None)
    valid(objects)
    (deployment,) = by_kind(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == IMAGE and container["args"] == ["serve"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": 8080}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    (service,) = by_kind(objects, "Service")
    labels = spec["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_a_canary_gets_its_share_of_pods_behind_the_same_service() -> None:
    serving = ServingSettings(
        replicas=9, max_replicas=12, candidate_image=CANDIDATE, canary_percent=10
    )
    args = ModelServerArgs("churn-dev", IMAGE, serving=serving)
    objects = render(lambda: ModelServer("churn", args) and None)
    valid(objects)
    tracks = {d["metadata"]["labels"]["mlops/track"]: d for d in by_kind(objects, "Deployment")}
    assert tracks["stable"]["spec"]["replicas"] == 9 and tracks["canary"]["spec"]["replicas"] == 1
    assert tracks["canary"]["spec"]["template"]["spec"]["containers"][0]["image"] == CANDIDATE
    (service,) = by_kind(objects, "Service")
    for deployment in tracks.values():  # one selector reaches both: pods split the traffic
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
    assert (
        canary_replicas(9, 10) == 1 and canary_replicas(3, 25) == 1 and canary_replicas(4, 50) == 4
    )


def test_bad_serving_args_are_refused() -> None:
    with pytest.raises(UserError, match="not pinned by digest"):
        ModelServerArgs("ns", "registry.example.com/churn:latest")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"candidate_image": "churn:v2"}, "not pinned by digest"),
        ({"candidate_image": CANDIDATE, "canary_percent": 80}, "less than or equal to 50"),
        ({"replicas": 8}, "servingMaxReplicas: must be at least servingReplicas"),
    ],
)
def test_bad_serving_settings_are_refused(change: dict[str, Any], message: str) -> None:
    # The serving section owns these rules; the server takes it as it is.
    with pytest.raises(ValidationError, match=message):
        ServingSettings(**change)


def test_gpu_training_job_cronjob_and_pytorchjob() -> None:
    one = TrainingJobArgs(
        "churn-dev", IMAGE, training=TrainingSettings(gpus=2, node_selector={"gpu": "a10g"})
    )
    objects = render(lambda: TrainingJob("train", one) and None)
    valid(objects)
    (job,) = by_kind(objects, "Job")
    spec = job["spec"]
    assert (
        spec["backoffLimit"],
        spec["activeDeadlineSeconds"],
        spec["ttlSecondsAfterFinished"],
    ) == (
        2,
        21600,
        86400,
    )
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu" and pod["nodeSelector"] == {
        "gpu": "a10g"
    }
    assert pod["restartPolicy"] == "Never" and container["args"] == ["train"]

    nightly = TrainingJobArgs(
        "churn-dev", IMAGE, training=TrainingSettings(retrain_schedule="0 3 * * *")
    )
    (cron,) = by_kind(render(lambda: TrainingJob("retrain", nightly) and None), "CronJob")
    validate(cron, K8S_VERSION, strict=True)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["schedule"] == "0 3 * * *"

    selector = {"gpu_type": "a10g"}  # a label key with an underscore, the user's own
    wide = TrainingJobArgs(
        "churn-dev", IMAGE, training=TrainingSettings(gpus=8, nodes=4, node_selector=selector)
    )
    (pytorch,) = render(lambda: TrainingJob("big", wide) and None)
    assert (pytorch["apiVersion"], pytorch["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    replicas = pytorch["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 3)
    worker_pod = replicas["Worker"]["template"]["spec"]
    worker = worker_pod["containers"][0]
    assert worker["name"] == "pytorch" and worker["resources"]["limits"]["nvidia.com/gpu"] == "8"
    # A custom resource's spec is sent as written: Kubernetes' own field names, user keys kept.
    assert worker_pod["restartPolicy"] == "OnFailure" and worker_pod["serviceAccountName"]
    assert worker["securityContext"]["runAsNonRoot"] and worker_pod["nodeSelector"] == selector
    with pytest.raises(ValidationError, match="scheduled retraining runs on one node"):
        TrainingSettings(nodes=2, retrain_schedule="@daily")


def test_manifests_render_as_one_yaml_stream() -> None:
    import yaml

    args = NamespaceArgs("churn-dev", gpus=4, object_store_port=443, workflow_template="w")
    objects = render(lambda: MLNamespace("ml", args) and None)
    documents = list(yaml.safe_load_all(to_yaml(objects)))
    assert documents == objects and len(documents) == len(objects) >= 10


def test_alerts_and_dashboard_use_the_metrics_the_server_exposes() -> None:
    import json
    import re

    from mlops.infra.k8s import Monitoring, MonitoringArgs
    from mlops.pipelines.metrics import ServerMetrics

    objects = render(lambda: Monitoring("mon", MonitoringArgs("churn-dev", "churn")) and None)
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "churn"}
    (rule,) = by_kind(objects, "PrometheusRule")
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "ModelServerLatencyHigh",
        "ModelServerErrors",
        "ModelServerCaptureDropping",
    }
    assert alerts["ModelServerLatencyHigh"]["expr"].endswith("> 0.5")
    (config,) = by_kind(objects, "ConfigMap")
    validate(config, K8S_VERSION, strict=True)
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(config["data"]["churn.json"])
    expressions = [r["expr"] for r in alerts.values()]
    expressions += [p["targets"][0]["expr"] for p in board["panels"]]

    class Capture:
        captured = written = dropped = 0

    metrics = ServerMetrics(Capture())
    metrics.observe("/invocations", 200, 0.01)  # histograms and labelled counters show up
    metrics.batch_rows.observe(1)
    metrics.model_errors.inc()
    exposed = set(re.findall(r"^(mlops_\w+)", metrics.render().decode(), re.MULTILINE))
    used = {name for e in expressions for name in re.findall(r"mlops_\w+", e)}
    assert used and used <= exposed, used - exposed  # no alert on a metric nobody exposes


def platform_manifests(stack: str, **extra: Any) -> list[dict[str, Any]]:
    from mlops.infra.k8s import K8sPlatform, K8sPlatformArgs
    from mlops.infra.k8s.config import K8sConfig

    values = {"churn:image": IMAGE, **{f"churn:{k}": v for k, v in extra.items()}}
    config = K8sConfig.from_values("churn", stack, values)
    args = K8sPlatformArgs.from_config(config, {"MLOPS_TRAIN_MODULE": "churn.pipelines.train"})
    return render(lambda: K8sPlatform("churn", args) and None)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_every_stack_renders_valid_manifests(stack: str) -> None:
    objects = platform_manifests(stack)
    valid(objects)
    kinds = sorted({o["kind"] for o in objects})
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "WorkflowTemplate",
    } <= set(kinds)
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert namespaces == {f"churn-{stack}"}  # everything in the stack's own namespace
    (deployment,) = by_kind(objects, "Deployment")
    replicas = deployment["spec"]["replicas"]
    assert replicas >= 2 if stack == "prod" else replicas >= 1
    (template,) = by_kind(objects, "WorkflowTemplate")
    train = next(t for t in template["spec"]["templates"] if t["name"] == "train")
    limits = train["container"]["resources"]["limits"]
    assert ("nvidia.com/gpu" in limits) is (stack != "local")  # kind has no GPUs
    # The root filesystem is read-only: the steps' SageMaker-style root is on the /tmp scratch.
    for step in template["spec"]["templates"][1:]:
        env = {e["name"]: e.get("value") for e in step["container"]["env"]}
        assert env["SM_ML_ROOT"] == "/tmp/ml"
        assert "/tmp" in {m["mountPath"] for m in step["container"]["volumeMounts"]}
    for workload in by_kind(objects, "Deployment"):
        pod = workload["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert env["SM_ML_ROOT"] == "/tmp/ml" and "/tmp" in mounts


def test_stack_config_errors_name_the_key_and_the_fix() -> None:
    from mlops.core.errors import ConfigError
    from mlops.infra.k8s.config import K8sConfig

    with pytest.raises(ConfigError, match="image: 'churn:latest' is not pinned by digest"):
        K8sConfig.from_values("churn", "dev", {"churn:image": "churn:latest"})
    with pytest.raises(ConfigError, match="servingReplicas: prod needs at least 2"):
        K8sConfig.from_values("churn", "prod", {"churn:image": IMAGE, "churn:servingReplicas": 1})
    with pytest.raises(ConfigError, match="did you mean 'trainingGpus'"):
        K8sConfig.from_values("churn", "dev", {"churn:image": IMAGE, "churn:trainingGpu": 2})
    with pytest.raises(ConfigError, match="image: is required"):
        K8sConfig.from_values("churn", "dev", {})


def test_canary_and_retraining_schedule_from_config() -> None:
    objects = platform_manifests(
        "prod", candidateImage=CANDIDATE, canaryPercent=25, retrainSchedule="0 4 * * 1"
    )
    valid(objects)
    tracks = {
        d["metadata"]["labels"]["mlops/track"]: d["spec"]["replicas"]
        for d in by_kind(objects, "Deployment")
    }
    assert tracks == {"stable": 3, "canary": 1}  # 25% of the pods
    (cron,) = by_kind(objects, "CronWorkflow")  # scheduled retraining runs the whole workflow
    assert cron["spec"]["schedules"] == ["0 4 * * 1"]
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "churn-prod-lifecycle"}}
    assert not by_kind(objects, "CronJob") and not by_kind(objects, "Job")


# Findings of checkov's Kubernetes checks that are right for this platform, each with why.
CHECKOV_SKIPS: dict[str, str] = {}


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov: scripts/test.sh installs it in .ci/")
@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_checkov_finds_nothing_on_any_stack(stack: str, tmp_path: Path) -> None:
    lake = {"minioImage": IMAGE} if stack == "local" else {}  # the generated local stack's MinIO
    objects = platform_manifests(stack, candidateImage=CANDIDATE, retrainSchedule="@daily", **lake)
    summary, failed = checkov(objects, tmp_path, CHECKOV_SKIPS)
    assert summary["passed"] > 100
    assert summary["failed"] == 0, [(f["check_id"], f["resource"]) for f in failed]


def test_the_object_store_is_minio_in_kind_or_s3_through_irsa() -> None:
    from mlops.infra.k8s import ObjectStore, ObjectStoreArgs

    minio = ObjectStoreArgs(
        "churn-local", "churn-local", lake=LakeSettings(minio_image=IMAGE), setup_image=CANDIDATE
    )
    stores: list[Any] = []
    objects = render(lambda: stores.append(ObjectStore("lake", minio)) or None)
    valid(objects)
    (deployment,) = by_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # MinIO reads its root keys from a file of the Secret, not from environment values.
    assert container["env"] == [
        {"name": "MINIO_CONFIG_ENV_FILE", "value": "/var/run/secrets/mlops/lake-root/config.env"}
    ]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["secret-0"]["secret"] == {
        "secretName": "lake-root",
        "items": [{"key": "config.env", "path": "config.env"}],
        "defaultMode": 0o440,
    }
    assert not by_kind(objects, "Secret")  # no credential in the program or its state
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = stores[0].env()
    assert env["AWS_ENDPOINT_URL_S3"] == "http://lake.churn-local.svc:9000"
    assert env["MLOPS_BUCKET_RAW"] == "churn-local-lake-raw" and len(env) == 7
    assert stores[0].service_account_annotations() == {}
    # MinIO starts empty: the project image's prepare-lake makes the buckets, with MinIO's keys.
    (job,) = by_kind(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    (setup,) = pod["containers"]
    assert (setup["image"], setup["args"], pod["restartPolicy"]) == (
        CANDIDATE,
        ["prepare-lake"],
        "Never",
    )
    assert (
        setup["securityContext"]["readOnlyRootFilesystem"]
        and not pod["automountServiceAccountToken"]
    )
    variables = {e["name"]: e["value"] for e in setup["env"]}
    credentials = "/var/run/secrets/mlops/lake-root/credentials"
    assert variables["AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert {
        "name": "secret-0",
        "mountPath": "/var/run/secrets/mlops/lake-root",
        "readOnly": True,
    } in (setup["volumeMounts"])
    assert not any("valueFrom" in e or "KEY" in e["name"] for e in setup["env"])
    # Default-deny stays; MinIO's port opens to the namespace's own pods only.
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "lake"}}
    assert policy["spec"]["ingress"] == [
        {"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 9000}]}
    ]

    role = "arn:aws:iam::123456789012:role/churn-prod-jobs"
    s3_lake = LakeSettings(s3_region="eu-west-1", irsa_role_arn=role)
    s3 = ObjectStoreArgs("churn-prod", "churn-prod", lake=s3_lake)
    stores.clear()
    assert render(lambda: stores.append(ObjectStore("lake", s3)) or None) == []  # S3: nothing runs
    assert stores[0].env()["AWS_ENDPOINT_URL_S3"] == "https://s3.eu-west-1.amazonaws.com"
    assert stores[0].service_account_annotations() == {"eks.amazonaws.com/role-arn": role}
    with pytest.raises(UserError, match="give irsaRoleArn"):
        ObjectStoreArgs("ns", "p")


def test_the_drift_check_runs_in_the_cluster_and_may_only_start_jobs() -> None:
    from mlops.infra.k8s import Monitoring, MonitoringArgs

    args = MonitoringArgs(
        "churn-prod",
        "churn",
        drift_image=IMAGE,
        drift_env={"MLOPS_ENDPOINT_NAME": "churn", "MLOPS_DRIFT_THRESHOLD": "0.35"},
        retrain_workflow="churn-prod-lifecycle",
    )
    objects = render(lambda: Monitoring("mon", args) and None)
    valid(objects)
    (cron,) = by_kind(objects, "CronJob")
    assert cron["spec"]["schedule"] == "0 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "monitoring"
    (container,) = pod["containers"]
    assert container["args"] == ["monitor"] and container["image"] == IMAGE
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLOPS_RETRAIN_WORKFLOW_TEMPLATE"] == "churn-prod-lifecycle"
    assert env["MLOPS_ENDPOINT_NAME"] == "churn"
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert not by_kind(
        render(lambda: Monitoring("m", MonitoringArgs("ns", "churn")) and None), "CronJob"
    )
    with pytest.raises(UserError, match="not pinned by digest"):
        MonitoringArgs("ns", "churn", drift_image="churn:latest")


def test_with_a_model_and_a_lake_the_loop_closes_in_the_cluster() -> None:
    role = "arn:aws:iam::123456789012:role/churn-prod-jobs"
    objects = platform_manifests(
        "prod",
        modelUri="s3://churn-prod-lake-artifacts/models/run-1/model.tar.gz",
        irsaRoleArn=role,
        retrainSchedule="0 4 * * 1",
    )
    valid(objects)
    (cron,) = by_kind(objects, "CronJob")
    assert cron["metadata"]["name"] == "churn-server-drift"
    drift = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in drift["containers"][0]["env"]}
    assert env["MLOPS_RETRAIN_WORKFLOW_TEMPLATE"] == "churn-prod-lifecycle"  # what a drift submits
    assert env["MLOPS_BUCKET_RAW"] == "churn-prod-lake-raw"
    assert env["MLOPS_MODEL_URI"].endswith("run-1/model.tar.gz")
    (deployment,) = by_kind(objects, "Deployment")
    served = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert served["MLOPS_ENDPOINT_NAME"] == "churn-server"  # capture prefix = what drift reads
    assert served["AWS_ENDPOINT_URL_S3"] == "https://s3.us-east-1.amazonaws.com"
    accounts = by_kind(objects, "ServiceAccount")
    assert {a["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for a in accounts} == {role}


def test_on_kind_the_lake_is_minio_and_the_pods_find_it() -> None:
    objects = platform_manifests(
        "local", minioImage=IMAGE, modelUri="s3://churn-local-lake-artifacts/models/r/model.tar.gz"
    )
    valid(objects)
    services = {s["metadata"]["name"] for s in by_kind(objects, "Service")}
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    assert "churn-local-lake" in services and "churn-local-lake" in deployments
    server = next(d for n, d in deployments.items() if n.endswith("-stable"))
    pod = server["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["AWS_ENDPOINT_URL_S3"] == "http://churn-local-lake.churn-local.svc:9000"
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith(
        "/var/run/secrets/mlops/churn-local-lake-root/"
    )
    assert {
        "name": "secret-0",
        "secret": {
            "secretName": "churn-local-lake-root",
            "items": [{"key": "credentials", "path": "credentials"}],
            "defaultMode": 0o440,
        },
    } in pod["volumes"]
    jobs = {j["metadata"]["name"] for j in by_kind(objects, "Job")}
    assert jobs == {"churn-local-lake-buckets"}  # training is the workflow's step
    (template,) = by_kind(objects, "WorkflowTemplate")
    assert {
        "name": "secret-0",
        "secret": {
            "secretName": "churn-local-lake-root",
            "items": [{"key": "credentials", "path": "credentials"}],
            "defaultMode": 0o440,
        },
    } in template["spec"]["volumes"]  # every step reads the lake with the Secret's keys


def test_lake_settings_are_checked() -> None:
    from mlops.core.errors import ConfigError
    from mlops.infra.k8s.config import K8sConfig

    base = {"churn:image": IMAGE}
    with pytest.raises(ConfigError, match="modelUri: the server reads it from the lake"):
        K8sConfig.from_values("churn", "dev", {**base, "churn:modelUri": "s3://b/k"})
    with pytest.raises(ConfigError, match="not both"):
        K8sConfig.from_values(
            "churn", "dev", {**base, "churn:minioImage": IMAGE, "churn:irsaRoleArn": "arn:x"}
        )
    with pytest.raises(ConfigError, match="is not an s3:// URI"):
        K8sConfig.from_values(
            "churn", "dev", {**base, "churn:modelUri": "https://x", "churn:minioImage": IMAGE}
        )


def test_kserve_serves_with_its_own_canary_and_is_still_monitored() -> None:
    objects = platform_manifests("prod", kserve=True, candidateImage=CANDIDATE, canaryPercent=20)
    valid(objects)
    assert not by_kind(objects, "Deployment") and not by_kind(objects, "HorizontalPodAutoscaler")
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 20 and predictor["minReplicas"] == 3
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container" and container["image"] == CANDIDATE
    assert container["securityContext"]["readOnlyRootFilesystem"] and container["args"] == ["serve"]
    assert (
        predictor["securityContext"]["runAsNonRoot"]
        and predictor["serviceAccountName"] == "serving"
    )
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "serving.kserve.io/inferenceservice": "churn-server"
    }
    (rule,) = by_kind(objects, "PrometheusRule")
    assert 'service="churn-server-predictor"' in rule["spec"]["groups"][0]["rules"][0]["expr"]


def test_the_lifecycle_is_one_argo_workflow_of_restricted_steps() -> None:
    from mlops.infra.k8s.workflow import COMMAND, STEPS

    objects = platform_manifests("prod", retrainSchedule="0 4 * * 1", primaryMetric="f1")
    (template,) = by_kind(objects, "WorkflowTemplate")
    spec = template["spec"]
    (main, *steps) = spec["templates"]
    assert main["steps"] == [[{"name": s, "template": s}] for s in STEPS]
    assert (
        [s["name"] for s in steps]
        == list(STEPS)
        == ["validate", "train", "evaluate", "gate", "register"]
    )
    # The steps' own containers get no API token; Argo's executor has its own account.
    assert spec["serviceAccountName"] == "training"
    assert spec["automountServiceAccountToken"] is False
    assert spec["executor"] == {"serviceAccountName": "argo-executor"}
    assert (
        spec["securityContext"]["runAsNonRoot"]
        and spec["podMetadata"]["labels"]["mlops/api-client"] == "true"
    )
    by_step = {s["name"]: s for s in steps}
    for step in steps:
        container = step["container"]
        assert container["command"] == COMMAND and container["image"] == IMAGE
        assert container["args"][0] == step["name"]  # the SageMaker pipeline's entry points
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and security["capabilities"] == {"drop": ["ALL"]}
        assert not security["allowPrivilegeEscalation"]
    # One run's places in the lake, keyed by the Workflow's name as SageMaker's by execution.
    env = {s: {e["name"]: e.get("value") for e in by_step[s]["container"]["env"]} for s in STEPS}
    assert env["validate"]["MLOPS_STAGE_IN"] == (
        '{"processing/input/data": "{{workflow.parameters.dataset-uri}}"}'
    )
    assert env["validate"]["MLOPS_STAGE_OUT"] == (
        '{"processing/output": "validation/{{workflow.name}}/"}'
    )
    assert env["train"]["MLOPS_DATASET_URI"] == "validation/{{workflow.name}}/"
    assert env["train"]["MLOPS_MODEL_OUTPUT_URI"] == "models/{{workflow.name}}/model.tar.gz"
    assert "evaluation/{{workflow.name}}" in env["evaluate"]["MLOPS_STAGE_OUT"]
    assert by_step["evaluate"]["container"]["args"][:3] == ["evaluate", "--metric", "f1"]
    assert by_step["train"]["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert by_step["train"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    (cron,) = by_kind(objects, "CronWorkflow")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"

    wide = platform_manifests("prod", trainingNodes=4)
    (template,) = by_kind(wide, "WorkflowTemplate")
    train = next(t for t in template["spec"]["templates"] if t["name"] == "train")
    import yaml

    job = yaml.safe_load(train["resource"]["manifest"])  # several nodes: the PyTorchJob
    assert job["kind"] == "PyTorchJob" and train["resource"]["action"] == "create"
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    roles = {r["metadata"]["name"]: r["rules"] for r in by_kind(wide, "Role")}
    assert roles["argo-executor"][1] == {
        "apiGroups": ["kubeflow.org"],
        "resources": ["pytorchjobs"],
        "verbs": ["create", "get", "list", "watch"],
    }
