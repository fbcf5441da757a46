"""The MLflow tracking server a k8s stack deploys: restricted, fenced, its backend URI from a
Secret (SQLite on a volume in kind and dev, a database in prod), artifacts in the lake, and
the workloads wired to it (the registry, tracking, the model server's @champion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from checkov_run import CHECKOV, checkov
from kubernetes_validate import validate

from mlops.core.errors import ConfigError
from mlops.infra.k8s.config import K8sConfig

IMAGE = "registry.example.com/churn@sha256:" + "a" * 64
MINIO = {"minioImage": "registry.example.com/minio@sha256:" + "d" * 64}
S3 = {"irsaRoleArn": "arn:aws:iam::123456789012:role/churn-lake"}
DATABASE = {"mlflowBackend": "database", "mlflowBackendSecret": "churn-mlflow-db"}
MLFLOW_DIGEST = "ghcr.io/mlflow/mlflow@sha256:" + "e" * 64


def manifests(stack: str, **extra: Any) -> list[dict[str, Any]]:
    from mlops.infra.k8s import K8sPlatform, K8sPlatformArgs
    from mlops.infra.k8s.render import manifests as rendered
    from mlops.infra.mock_runtime import run_program

    values = {"churn:image": IMAGE, **{f"churn:{k}": v for k, v in extra.items()}}
    config = K8sConfig.from_values("churn", stack, values)
    args = K8sPlatformArgs.from_config(config, {"MLOPS_TRAIN_MODULE": "churn.pipelines.train"})
    program = run_program(lambda: K8sPlatform("churn", args) and None, project="churn", stack=stack)
    objects = rendered(program)
    for obj in objects:
        # Custom resources: their operators' models (test_render_manifests checks them).
        if obj["apiVersion"].split("/")[0] not in {
            "monitoring.coreos.com",
            "kubeflow.org",
            "argoproj.io",
        }:
            validate(obj, "1.31.0", strict=True)
    return objects


def tracking(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The MLflow server's objects, by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        if obj["metadata"].get("labels", {}).get("mlops/role") == "tracking":
            found.setdefault(obj["kind"], []).append(obj)
    return found


def env_of(workload: dict[str, Any]) -> dict[str, str]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return {e["name"]: e.get("value", "") for e in spec["template"]["spec"]["containers"][0]["env"]}


def test_no_mlflow_unless_asked() -> None:
    objects = manifests("dev", **MINIO)
    assert not tracking(objects)
    server = next(
        o for o in objects if o["kind"] == "Deployment" and "server" in o["metadata"]["name"]
    )
    assert "MLFLOW_TRACKING_URI" not in env_of(server)


def test_kind_and_dev_run_mlflow_on_sqlite_with_artifacts_in_the_lake() -> None:
    objects = manifests("local", mlflow=True, **MINIO)
    mine = tracking(objects)
    (deployment,) = mine["Deployment"]
    (claim,) = mine["PersistentVolumeClaim"]
    (service,) = mine["Service"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 5000, "targetPort": 5000}]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 5000}
    script = container["command"][2]
    assert "MLFLOW_BACKEND_STORE_URI=sqlite:////mlflow/mlflow.db" in script
    assert "--artifacts-destination s3://churn-local-lake-artifacts/mlflow" in script
    assert "churn-local-mlflow.churn-local.svc:5000" in script  # --allowed-hosts
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes[mounts["/mlflow"]]["persistentVolumeClaim"]["claimName"]
        == claim["metadata"]["name"]
    )
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://churn-local-lake.churn-local.svc:9000"
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith("/var/run/secrets/mlops/")  # a file
    # A pinned version tag (no digest offline): checkov's digest check is waived on this
    # object alone, saying so; a digest needs no waiver.
    annotations = deployment["metadata"]["annotations"]
    assert annotations["checkov.io/skip1"].startswith("CKV_K8S_43=pinned by version tag")
    assert container["image"] == "ghcr.io/mlflow/mlflow:v3.17.2-full"
    pinned = tracking(manifests("local", mlflow=True, mlflowImage=MLFLOW_DIGEST, **MINIO))
    assert "checkov.io/skip1" not in pinned["Deployment"][0]["metadata"].get("annotations", {})


def test_a_port_forward_reaches_the_server_and_other_hosts_do_not() -> None:
    # `mlops approve --stack` and the UI go through `kubectl port-forward`: the client sends a
    # loopback Host header, which MLflow answers with 403 unless --allowed-hosts names it.
    import fnmatch
    import shlex

    (deployment,) = tracking(manifests("local", mlflow=True, **MINIO))["Deployment"]
    script = deployment["spec"]["template"]["spec"]["containers"][0]["command"][2]
    words = shlex.split(script)  # as sh reads it: the patterns reach mlflow unglobbed
    allowed = words[words.index("--allowed-hosts") + 1].split(",")

    def accepted(host: str) -> bool:  # MLflow's rule (security_utils.is_allowed_host_header)
        return any(fnmatch.fnmatch(host, a) if "*" in a else host == a for a in allowed)

    for host in ("127.0.0.1:5000", "localhost:15000", "churn-local-mlflow.churn-local.svc:5000"):
        assert accepted(host), host
    for host in ("evil.example:5000", "10.0.0.7:5000", "127.0.0.1.evil.example"):
        assert not accepted(host), host


def test_prod_reads_its_database_uri_from_a_secret_file() -> None:
    objects = manifests("prod", mlflow=True, **S3, **DATABASE)
    mine = tracking(objects)
    assert "PersistentVolumeClaim" not in mine
    (deployment,) = mine["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    uri_file = "/var/run/secrets/mlops/churn-mlflow-db/uri"
    assert f'MLFLOW_BACKEND_STORE_URI="$(cat {uri_file})"' in container["command"][2]
    secret = next(v for v in pod["volumes"] if "secret" in v)["secret"]
    assert secret["secretName"] == "churn-mlflow-db" and secret["defaultMode"] == 0o440
    assert not [o for o in objects if o["kind"] == "Secret"]  # no credential in the program
    assert "MLFLOW_S3_ENDPOINT_URL" not in {e["name"] for e in container["env"]}  # S3 itself
    (account,) = mine["ServiceAccount"]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": S3["irsaRoleArn"]}
    policies = {p["metadata"]["name"]: p["spec"] for p in mine["NetworkPolicy"]}
    assert policies["churn-prod-mlflow-allow-in"]["ingress"] == [
        {"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 5000}]}
    ]
    assert policies["churn-prod-mlflow-allow-out"]["podSelector"] == {}
    assert policies["churn-prod-mlflow-allow-database"]["egress"] == [
        {"ports": [{"protocol": "TCP", "port": 5432}]}
    ]


def test_the_workloads_track_register_and_serve_through_mlflow() -> None:
    objects = manifests("dev", mlflow=True, registeredModel="churn", **MINIO)
    url = "http://churn-dev-mlflow.churn-dev.svc:5000"
    workloads = [o for o in objects if o["kind"] in ("Job", "CronJob", "Deployment")]
    # The lifecycle's own (the lake's MinIO and its bucket Job need none of it).
    roles = {"training", "serving", "monitoring"}
    workloads = [
        w
        for w in workloads
        if w["metadata"]["labels"].get("mlops/role") in roles
        or w["metadata"]["name"].endswith("-drift")
    ]
    # Training is the lifecycle WorkflowTemplate's steps; the drift job runs with @champion.
    assert sorted(w["kind"] for w in workloads) == ["CronJob", "Deployment"]
    (template,) = [o for o in objects if o["kind"] == "WorkflowTemplate"]
    steps = {t["name"]: t["container"] for t in template["spec"]["templates"] if "container" in t}
    assert set(steps) == {"validate", "train", "evaluate", "gate", "register"}
    envs = [env_of(w) for w in workloads]
    envs += [{e["name"]: e.get("value", "") for e in c["env"]} for c in steps.values()]
    for env in envs:
        assert env["MLFLOW_TRACKING_URI"] == url and env["MLOPS_REGISTRY"] == "mlflow"
        assert env["MLOPS_REGISTERED_MODEL"] == "churn" and env["MLOPS_CODE_VERSION"] == IMAGE
    # The champion is read from, and the candidate registered to, the model MLflow serves.
    for step in ("evaluate", "register"):
        args = steps[step]["args"]
        assert args[args.index("--model-package-group") + 1] == "churn"
    for workload in workloads:
        assert env_of(workload)["MLOPS_MODEL_URI"] == "models:/churn@champion"
    # A model named by hand is served as named.
    fixed = manifests("dev", mlflow=True, modelUri="s3://b/m.tar.gz", **MINIO)
    server = next(
        o
        for o in fixed
        if o["kind"] == "Deployment" and o["metadata"]["labels"]["mlops/role"] == "serving"
    )
    assert env_of(server)["MLOPS_MODEL_URI"] == "s3://b/m.tar.gz"


@pytest.mark.parametrize(
    ("stack", "values", "message"),
    [
        ("dev", {"mlflow": True}, "MLflow keeps its artifacts in the lake"),
        ("prod", {"mlflow": True, **S3}, "prod keeps MLflow in a database"),
        ("dev", {"mlflow": True, "mlflowBackend": "database", **S3}, "reads its URI from a Secret"),
        (
            "dev",
            {"mlflow": True, "mlflowImage": "ghcr.io/mlflow/mlflow:latest", **S3},
            "version tag",
        ),
        ("dev", {"mlflow": True, "mlflowImage": "ghcr.io/mlflow/mlflow", **S3}, "version tag"),
        ("dev", {"mlflow": True, "mlflowBackendSecret": "x", **S3}, "only the database backend"),
    ],
)
def test_bad_mlflow_settings_are_refused(stack: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        K8sConfig.from_values(
            "churn", stack, {"churn:image": IMAGE, **{f"churn:{k}": v for k, v in values.items()}}
        )


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov: scripts/test.sh installs it in .ci/")
@pytest.mark.parametrize(
    ("stack", "extra"),
    [("local", MINIO), ("dev", MINIO), ("prod", {**S3, **DATABASE, "mlflowImage": MLFLOW_DIGEST})],
)
def test_checkov_finds_nothing_with_mlflow(
    stack: str, extra: dict[str, Any], tmp_path: Path
) -> None:
    objects = manifests(stack, mlflow=True, **extra)
    summary, failed = checkov(objects, tmp_path)
    assert summary["passed"] > 100
    assert summary["failed"] == 0, [(f["check_id"], f["resource"]) for f in failed]
    # The waivers: CKV_K8S_43 on the MLflow Deployment while its image is a version tag, and
    # CKV_K8S_38 on the drift CronJob (it runs with MLflow's @champion; its token submits the
    # retraining Workflow).
    tagged = 0 if extra.get("mlflowImage") == MLFLOW_DIGEST else 1
    assert summary["skipped"] == 1 + tagged
    (drift,) = [o for o in objects if o["kind"] == "CronJob"]
    assert drift["metadata"]["annotations"]["checkov.io/skip1"].startswith("CKV_K8S_38=")
