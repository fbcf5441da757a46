"""Every rule of the policy pack against a violating and a compliant fixture.

Each fixture is the smallest stack that shows the rule's point: the compliant one is what the
platform's components declare, the violating one differs in the one thing the rule guards. A
rule without fixtures fails ``test_every_rule_has_fixtures``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlops.infra.policy import RULES, PackConfig, Resource, Rule, Stack, aws, evaluate
from mlops.infra.policy.aws import house
from mlops.infra.policy.aws import readers as a

KEY = "arn:aws:kms:us-east-1:123456789012:key/lake"
TAGS = {t: "x" for t in house.REQUIRED_TAGS}
TRAIN_ROLE = "arn:aws:iam::123456789012:role/training"
SERVE_ROLE = "arn:aws:iam::123456789012:role/serving"
DIGEST = "registry.example.com/churn@sha256:" + "a" * 64


def res(type_: str, name: str, **props: Any) -> Resource:
    return Resource(type_, name, props)


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": "*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def bucket(name: str = "lake-raw", **off: bool) -> list[Resource]:
    """A lake bucket as mlops:aws:DataLake declares it; ``off`` drops one of its settings."""
    parts = [res(a.BUCKET, name, bucket=name, tags=TAGS)]
    if not off.get("pab"):
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        parts.append(
            res(a.PUBLIC_ACCESS_BLOCK, f"{name}-pab", bucket=name, **dict.fromkeys(flags, True))
        )
    if not off.get("owner"):
        parts.append(
            res(
                a.OWNERSHIP,
                f"{name}-own",
                bucket=name,
                rule={"objectOwnership": "BucketOwnerEnforced"},
            )
        )
    algorithm = (
        {"sseAlgorithm": "AES256"}
        if off.get("sse")
        else {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    )
    parts.append(
        res(
            a.ENCRYPTION,
            f"{name}-sse",
            bucket=name,
            rules=[{"applyServerSideEncryptionByDefault": algorithm}],
        )
    )
    if not off.get("versioning"):
        parts.append(
            res(
                a.VERSIONING,
                f"{name}-ver",
                bucket=name,
                versioningConfiguration={"status": "Enabled"},
            )
        )
    statements = [] if off.get("tls") else [TLS]
    if off.get("public"):
        statements.append(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
        )
    parts.append(res(a.BUCKET_POLICY, f"{name}-policy", bucket=name, policy=policy(*statements)))
    if not off.get("logging"):
        parts.append(res(a.LOGGING, f"{name}-log", bucket=name, targetBucket="lake-logs"))
    abort = (
        []
        if off.get("abort")
        else [{"status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]
    )
    parts.append(
        res(
            a.LIFECYCLE,
            f"{name}-life",
            bucket=name,
            rules=[{"status": "Enabled", "id": "tier"}, *abort],
        )
    )
    return parts


def log_bucket(kms: bool = False) -> list[Resource]:
    """The log bucket: a logging target, SSE-S3, no logging of its own."""
    parts = [r for r in bucket("lake-logs", logging=True) if r.type != a.ENCRYPTION]
    algorithm = (
        {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY} if kms else {"sseAlgorithm": "AES256"}
    )
    parts.append(
        res(
            a.ENCRYPTION,
            "lake-logs-sse",
            bucket="lake-logs",
            rules=[{"applyServerSideEncryptionByDefault": algorithm}],
        )
    )
    return parts


def lake(**off: bool) -> list[Resource]:
    return [*bucket(**off), *log_bucket()]


def key(**props: Any) -> list[Resource]:
    base = {
        "enableKeyRotation": True,
        "tags": TAGS,
        "policy": policy(
            {
                "Sid": "Account",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    }
    return [res(a.KMS_KEY, "lake-key", **{**base, **props})]


def role_policy(*statements: dict[str, Any]) -> list[Resource]:
    return [res(a.ROLE_POLICY, "training-policy", role="training", policy=policy(*statements))]


READ_LAKE = {
    "Sid": "Read",
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": ["arn:aws:s3:::lake-raw/*"],
}


def trust(condition: bool = True, principal: Any = None) -> list[Resource]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal or {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    return [res(a.ROLE, "training-role", assumeRolePolicy=policy(statement), tags=TAGS)]


def realtime(
    instance: str = "ml.m5.large", count: int = 2, env: str = "prod", **props: Any
) -> list[Resource]:
    config = {
        "productionVariants": [
            {
                "variantName": "primary",
                "modelName": "model-primary",
                "instanceType": instance,
                "initialInstanceCount": count,
            }
        ],
        "kmsKeyArn": KEY,
        "dataCaptureConfig": {"enableCapture": True, "kmsKeyId": KEY},
        "tags": {**TAGS, "environment": env},
    }
    config.update(props)
    config = {k: v for k, v in config.items() if v is not None}
    model = res(
        a.MODEL,
        "model-primary",
        enableNetworkIsolation=True,
        executionRoleArn=SERVE_ROLE,
        tags=TAGS,
    )
    return [res(a.ENDPOINT_CONFIG, "endpoint-config", **config), model]


def serverless(isolated: bool = False, **props: Any) -> list[Resource]:
    config = {
        "productionVariants": [
            {
                "variantName": "primary",
                "modelName": "model-primary",
                "serverlessConfig": {"memorySizeInMb": 2048},
            }
        ],
        "tags": {**TAGS, "environment": "dev"},
        **props,
    }
    model = res(
        a.MODEL,
        "model-primary",
        enableNetworkIsolation=isolated,
        executionRoleArn=SERVE_ROLE,
        tags=TAGS,
    )
    return [res(a.ENDPOINT_CONFIG, "endpoint-config", **config), model]


def pipeline(
    instance: str = "ml.m5.xlarge", count: int = 1, role: str = TRAIN_ROLE, **step: Any
) -> list[Resource]:
    training = {
        "ResourceConfig": {
            "InstanceType": {"Get": "Parameters.TrainingInstanceType"},
            "InstanceCount": count,
            "VolumeKmsKeyId": KEY,
        },
        "OutputDataConfig": {"KmsKeyId": KEY},
        "RoleArn": role,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    for name, value in step.items():
        if value is None:
            training.pop(name, None)
            training["ResourceConfig"].pop(name, None)
        elif name in ("VolumeKmsKeyId",):
            training["ResourceConfig"][name] = value
        else:
            training[name] = value
    definition = {
        "Parameters": [
            {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": instance}
        ],
        "Steps": [{"Name": "TrainModel", "Type": "Training", "Arguments": training}],
    }
    return [
        res(
            a.PIPELINE,
            "training-pipeline",
            pipelineDefinition=json.dumps(definition),
            roleArn=role,
            tags=TAGS,
        )
    ]


def alarm(**props: Any) -> list[Resource]:
    base = {
        "actionsEnabled": True,
        "alarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
        "tags": TAGS,
    }
    return [res(a.ALARM, "latency-alarm", **{**base, **props})]


def repo(**props: Any) -> list[Resource]:
    base = {
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE",
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY}],
        "tags": TAGS,
    }
    return [res(a.ECR, "images", **{**base, **props})]


def log_group(**props: Any) -> list[Resource]:
    return [
        res(
            a.LOG_GROUP,
            "endpoint-logs",
            **{**{"retentionInDays": 30, "kmsKeyId": KEY, "tags": TAGS}, **props},
        )
    ]


def k8s(
    kind: str = "Deployment", namespace: str = "churn-prod", quota: bool = True, **container: Any
) -> list[Resource]:
    security = {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
    }
    spec = {
        "name": "server",
        "image": DIGEST,
        "securityContext": security,
        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
    }
    for name, value in container.items():
        if name in security:
            security[name] = value
        else:
            spec[name] = value
    pod = {"securityContext": {"runAsNonRoot": True}, "containers": [spec]}
    body = (
        {"template": {"spec": pod}}
        if kind != "CronJob"
        else {"jobTemplate": {"spec": {"template": {"spec": pod}}}}
    )
    objects = [
        res(
            f"kubernetes:apps/v1:{kind}",
            "server",
            kind=kind,
            metadata={"namespace": namespace},
            spec=body,
        )
    ]
    if quota:
        objects.append(
            res(
                "kubernetes:core/v1:ResourceQuota",
                "quota",
                kind="ResourceQuota",
                metadata={"namespace": namespace},
                spec={"hard": {"requests.nvidia.com/gpu": "4"}},
            )
        )
    return objects


GPU_LIMITS = {"limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}}
Fixture = Callable[[], list[Resource]]
# rule id -> (violating, compliant): each a function building the stack's resources.
FIXTURES: dict[str, tuple[Fixture, Fixture]] = {
    "CKV2_AWS_6": (lambda: lake(pab=True), lake),
    "CKV2_AWS_65": (lambda: lake(owner=True), lake),
    "CKV_AWS_145": (lambda: lake(sse=True), lake),
    "CKV_AWS_21": (lambda: lake(versioning=True), lake),
    "s3-bucket-ssl-requests-only": (lambda: lake(tls=True), lake),
    "CKV_AWS_70": (lambda: lake(public=True), lake),
    "CKV_AWS_18": (lambda: lake(logging=True), lake),
    "CKV_AWS_300": (lambda: lake(abort=True), lake),
    "CKV_AWS_7": (lambda: key(enableKeyRotation=False), key),
    "CKV_AWS_33": (
        lambda: key(
            policy=policy(
                {
                    "Sid": "Open",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            )
        ),
        key,
    ),
    "CKV_AWS_63": (
        lambda: role_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        lambda: role_policy(READ_LAKE),
    ),
    "CKV_AWS_355": (
        lambda: role_policy({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}),
        lambda: role_policy(
            READ_LAKE, {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
        ),
    ),
    "CKV_AWS_274": (
        lambda: [
            *trust(),
            res(
                a.ROLE_POLICY_ATTACHMENT,
                "attach",
                role="training-role",
                policyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
            ),
        ],
        lambda: [
            *trust(),
            res(
                a.ROLE_POLICY_ATTACHMENT,
                "attach",
                role="training-role",
                policyArn="arn:aws:iam::123456789012:policy/lake-read",
            ),
        ],
    ),
    "mlops-iam-trust-conditions": (lambda: trust(condition=False), trust),
    "CKV_AWS_98": (lambda: realtime(kmsKeyArn=None), realtime),
    "mlops-sagemaker-data-capture": (
        lambda: realtime(dataCaptureConfig={"enableCapture": False}),
        realtime,
    ),
    "sagemaker-endpoint-config-prod-instance-count": (lambda: realtime(count=1), realtime),
    "sagemaker-model-isolation-enabled": (
        lambda: [
            realtime()[0],
            res(
                a.MODEL,
                "model-primary",
                enableNetworkIsolation=False,
                executionRoleArn=SERVE_ROLE,
                tags=TAGS,
            ),
        ],
        serverless,  # serverless models cannot be isolated: not a finding
    ),
    "mlops-sagemaker-job-isolation": (lambda: pipeline(EnableNetworkIsolation=False), pipeline),
    "mlops-sagemaker-job-traffic-encryption": (
        lambda: pipeline(EnableInterContainerTrafficEncryption=False),
        pipeline,
    ),
    "mlops-sagemaker-job-kms": (
        lambda: pipeline(VolumeKmsKeyId=None),
        lambda: pipeline("ml.g5.2xlarge", VolumeKmsKeyId=None),  # NVMe: AWS encrypts it itself
    ),
    "mlops-log-retention": (lambda: log_group(retentionInDays=None), log_group),
    "CKV_AWS_158": (lambda: log_group(kmsKeyId=None), log_group),
    "cloudwatch-alarm-action-enabled-check": (lambda: alarm(actionsEnabled=False), alarm),
    "CKV_AWS_163": (lambda: repo(imageScanningConfiguration={"scanOnPush": False}), repo),
    "CKV_AWS_51": (lambda: repo(imageTagMutability="MUTABLE"), repo),
    "CKV_AWS_136": (lambda: repo(encryptionConfigurations=[{"encryptionType": "AES256"}]), repo),
    "required-tags": (lambda: repo(tags={"project": "churn"}), repo),
    "mlops-gpu-allowlist": (
        lambda: pipeline("ml.p4d.24xlarge", VolumeKmsKeyId=None),
        lambda: pipeline("ml.g5.2xlarge", count=2, VolumeKmsKeyId=None),
    ),
    "mlops-no-idle-gpu-outside-prod": (
        lambda: realtime("ml.g4dn.xlarge", env="dev", kmsKeyArn=None),
        lambda: realtime("ml.g4dn.xlarge", env="prod", kmsKeyArn=None),
    ),
    "mlops-separate-execution-roles": (
        lambda: [*pipeline(role=SERVE_ROLE), *realtime()],
        lambda: [*pipeline(), *realtime()],
    ),
    "mlops-aws-rejects-kms-on-nvme": (
        lambda: realtime("ml.g5.2xlarge"),
        lambda: realtime("ml.g5.2xlarge", kmsKeyArn=None),
    ),
    "mlops-aws-rejects-serverless-options": (
        lambda: serverless(dataCaptureConfig={"enableCapture": True}),
        serverless,
    ),
    "mlops-aws-rejects-kms-log-target": (lambda: [*bucket(), *log_bucket(kms=True)], lake),
    "CKV_K8S_16": (lambda: k8s(privileged=True), k8s),
    "CKV_K8S_20": (lambda: k8s(allowPrivilegeEscalation=True), k8s),
    "CKV_K8S_23": (lambda: k8s(runAsNonRoot=False), k8s),
    "CKV_K8S_22": (lambda: k8s(readOnlyRootFilesystem=False), k8s),
    "CKV_K8S_13": (lambda: k8s(resources={"limits": {"cpu": "1"}}), k8s),
    "CKV_K8S_43": (lambda: k8s(image="registry.example.com/churn:latest"), k8s),
    "mlops-k8s-gpu-quota": (
        lambda: k8s("CronJob", quota=False, resources=GPU_LIMITS),
        lambda: k8s("CronJob", resources=GPU_LIMITS),
    ),
}
BY_ID = {r.id: r for r in RULES}


def findings(rule_id: str, resources: list[Resource], environment: str = "prod") -> list[str]:
    found = evaluate(Stack(tuple(resources), environment), [BY_ID[rule_id]])
    return [f"{v.resource}: {v.message}" for v in found]


def test_every_rule_has_fixtures_and_the_pack_is_large_enough() -> None:
    assert set(FIXTURES) == set(BY_ID), set(BY_ID) ^ set(FIXTURES)
    assert len(RULES) >= 25 and len(BY_ID) == len(RULES)  # ids are unique
    assert {r.flavour for r in RULES} == {"aws", "k8s"}


def test_every_aws_rule_a_service_module_defines_is_in_the_pack_once() -> None:
    import importlib
    import pkgutil

    defined = []
    for module in pkgutil.iter_modules(aws.__path__):
        found = vars(importlib.import_module(f"{aws.__name__}.{module.name}")).values()
        defined += [value for value in found if isinstance(value, Rule)]
    listed = [r for r in aws.RULES]
    assert sorted(r.id for r in defined) == sorted(r.id for r in listed)
    assert all(r.flavour == "aws" for r in listed)


@pytest.mark.parametrize("rule_id", sorted(FIXTURES))
def test_the_rule_finds_the_violation_and_passes_the_compliant_stack(rule_id: str) -> None:
    violating, compliant = FIXTURES[rule_id]
    assert findings(rule_id, violating()), f"{rule_id} missed its violating fixture"
    assert findings(rule_id, compliant()) == []


@pytest.mark.parametrize("rule_id", sorted(FIXTURES))
def test_no_other_rule_objects_to_a_compliant_fixture_of_its_flavour(rule_id: str) -> None:
    # The compliant fixtures are the platform's own shapes: every rule of the flavour agrees.
    flavour = BY_ID[rule_id].flavour
    stack = Stack(tuple(FIXTURES[rule_id][1]()), "prod")
    others = evaluate(stack, [r for r in RULES if r.flavour == flavour])
    assert [(v.rule.id, v.message) for v in others] == []


def test_levels_and_settings_come_from_the_packs_config() -> None:
    from mlops.core.errors import PolicyConfigError

    rules = [BY_ID["CKV_AWS_21"], BY_ID["mlops-gpu-allowlist"]]
    stack = Stack(
        tuple([*lake(versioning=True), *pipeline("ml.p4d.24xlarge", VolumeKmsKeyId=None)]), "prod"
    )
    assert {v.level for v in evaluate(stack, rules)} == {"mandatory"}
    config = PackConfig.from_mapping(
        {
            "CKV_AWS_21": "advisory",
            "mlops-gpu-allowlist": {"allowed": ["ml.p4d.24xlarge"], "maxCount": 1},
        },
        RULES,
    )
    assert [(v.rule.id, v.level) for v in evaluate(stack, rules, config)] == [
        ("CKV_AWS_21", "advisory")
    ]
    off = PackConfig.from_mapping({"all": "disabled"}, RULES)
    assert evaluate(stack, rules, off) == []
    with pytest.raises(
        PolicyConfigError, match=r"no rule 'CKV_AWS_22' \(did you mean 'CKV_AWS_21'\?\)"
    ):
        PackConfig.from_mapping({"CKV_AWS_22": "advisory"}, RULES)
    with pytest.raises(
        PolicyConfigError, match="level 'warn' is not one of mandatory, advisory, disabled"
    ):
        PackConfig.from_mapping({"CKV_AWS_21": "warn"}, RULES)
    with pytest.raises(PolicyConfigError, match="unknown setting 'max'.*allowed, maxCount"):
        PackConfig.from_mapping({"mlops-gpu-allowlist": {"max": 2}}, RULES)


def _policy_resources(resources: list[Resource]) -> list[Any]:
    from pulumi_policy import PolicyResource

    return [
        PolicyResource(
            r.type,
            dict(r.props),
            f"urn:pulumi:prod::churn::{r.type}::{r.name}",
            r.name,
            None,
            None,
            None,
            [],
            {},
        )  # type: ignore[arg-type]
        for r in resources
    ]


def test_crossguard_runs_the_same_rules_and_reports_on_the_resources_urn() -> None:
    from pulumi_policy import StackValidationArgs

    from mlops.infra.policy.crossguard import policies

    aws, k8s = policies("aws"), policies("k8s")
    assert [p.name for p in [*aws, *k8s]] == [r.id for r in RULES]  # one definition each
    reported: list[tuple[str, str | None]] = []
    versioning = next(p for p in aws if p.name == "CKV_AWS_21")
    args = StackValidationArgs(_policy_resources(lake(versioning=True)), {})
    versioning.validate(args, lambda message, urn=None: reported.append((message, urn)))
    assert reported == [
        (
            "bucket lake-raw is not versioned. Fix: add BucketVersioning with status Enabled",
            "urn:pulumi:prod::churn::aws:s3/bucket:Bucket::lake-raw",
        )
    ]
    # A rule's settings are its policy's config there, as in policy/config.json here.
    allowlist = next(p for p in aws if p.name == "mlops-gpu-allowlist")
    stack = _policy_resources(pipeline("ml.p4d.24xlarge", VolumeKmsKeyId=None))
    reported.clear()
    allowlist.validate(
        StackValidationArgs(stack, {}), lambda m, urn=None: reported.append((m, urn))
    )
    assert len(reported) == 1 and "ml.p4d.24xlarge is not an allowed GPU type" in reported[0][0]
    reported.clear()
    wider = {"allowed": ["ml.p4d.24xlarge"], "maxCount": 8}
    allowlist.validate(
        StackValidationArgs(stack, wider), lambda m, urn=None: reported.append((m, urn))
    )
    assert reported == []


# -- boundaries: each rule at the edge of what it allows --------------------------------------

PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def with_props(resources: list[Resource], name: str, **props: Any) -> list[Resource]:
    """``resources`` with the one called ``name`` given ``props`` (``None`` drops a prop)."""
    changed = []
    for r in resources:
        if r.name == name:
            merged = {**r.props, **props}
            r = Resource(r.type, r.name, {k: v for k, v in merged.items() if v is not None})
        changed.append(r)
    return changed


@pytest.mark.parametrize(
    ("days", "kept_forever"),
    [
        (None, True),
        (0, True),
        (0.0, True),
        ("0", True),
        (-1, True),
        ("never", True),
        (True, True),
        (1, False),
        ("1", False),
        (3653, False),
    ],
)
def test_log_retention_at_its_boundary(days: Any, kept_forever: bool) -> None:
    # CloudWatch reads retentionInDays 0 (or none) as "never expire"; 1 day is the least.
    found = findings("mlops-log-retention", log_group(retentionInDays=days))
    assert bool(found) is kept_forever, found


@pytest.mark.parametrize("flag", PAB_FLAGS)
@pytest.mark.parametrize("value", [False, None, "true", 1])
def test_each_public_access_flag_alone_not_true_fails(flag: str, value: Any) -> None:
    found = findings("CKV2_AWS_6", with_props(lake(), "lake-raw-pab", **{flag: value}))
    assert found == [f"lake-raw: bucket lake-raw allows public access ({flag} off)"]


def test_a_second_weaker_public_access_block_is_not_hidden_by_the_first() -> None:
    weaker = res(
        a.PUBLIC_ACCESS_BLOCK,
        "lake-raw-pab-2",
        bucket="lake-raw",
        **{**dict.fromkeys(PAB_FLAGS, True), "blockPublicPolicy": False},
    )
    first, second = [*lake(), weaker], [weaker, *lake()]
    for resources in (first, second):
        assert findings("CKV2_AWS_6", resources), [r.name for r in resources]


@pytest.mark.parametrize(
    ("statement", "rules"),
    [
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, {"CKV_AWS_63", "CKV_AWS_355"}),
        (
            {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["*"]},
            {"CKV_AWS_63", "CKV_AWS_355"},
        ),
        (
            {"Effect": "Allow", "Action": "*:*", "Resource": "arn:aws:s3:::lake-raw/*"},
            {"CKV_AWS_63"},
        ),
        ({"Effect": "Allow", "Action": "S3:GetObject", "Resource": "*"}, {"CKV_AWS_355"}),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"},
            {"CKV_AWS_355"},
        ),
        ({"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}, set()),  # a Deny grants nothing
        (READ_LAKE, set()),
    ],
)
def test_iam_wildcards_in_every_spelling(statement: dict[str, Any], rules: set[str]) -> None:
    fired = {r for r in ("CKV_AWS_63", "CKV_AWS_355") if findings(r, role_policy(statement))}
    assert fired == rules


def sse(key: str | None) -> list[Resource]:
    default = {"sseAlgorithm": "aws:kms", **({"kmsMasterKeyId": key} if key is not None else {})}
    return with_props(
        lake(), "lake-raw-sse", rules=[{"applyServerSideEncryptionByDefault": default}]
    )


@pytest.mark.parametrize(
    ("key", "fails"),
    [
        (None, True),  # aws:kms with no key: S3 uses the AWS-managed aws/s3 key
        ("", True),
        ("alias/aws/s3", True),
        ("arn:aws:kms:us-east-1:123456789012:alias/aws/s3", True),
        (KEY, False),
        ("alias/churn-prod-lake", False),
    ],
)
def test_sse_kms_needs_a_customer_managed_key(key: str | None, fails: bool) -> None:
    assert bool(findings("CKV_AWS_145", sse(key))) is fails


def test_a_secret_wrapped_input_is_judged_by_its_value() -> None:
    # Output.secret(...) reaches the mock runtime wrapped; CrossGuard hands a policy the value.
    from mlops.infra.policy import SECRET_SIG, SECRET_VALUE, stack_of

    class Captured:
        def __init__(self, resources: list[Resource]) -> None:
            self.resources = [
                type("R", (), {"type": r.type, "name": r.name, "inputs": r.props, "custom": True})
                for r in resources
            ]

    def secret(value: Any) -> dict[str, Any]:
        return {SECRET_SIG: SECRET_VALUE, "value": value}

    def check(rule_id: str, resources: list[Resource]) -> list[Any]:
        return evaluate(stack_of(Captured(resources), "prod"), [BY_ID[rule_id]])

    assert check("mlops-log-retention", log_group(retentionInDays=secret(0)))
    assert not check("mlops-log-retention", log_group(retentionInDays=secret(30)))
    managed = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": secret("alias/aws/s3")}
    hidden = with_props(
        lake(), "lake-raw-sse", rules=[{"applyServerSideEncryptionByDefault": managed}]
    )
    assert check("CKV_AWS_145", hidden)
