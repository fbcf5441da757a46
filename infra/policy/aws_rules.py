"""The pack's AWS rules, and what AWS itself would reject at ``pulumi up`` time.

S3, KMS, IAM, SageMaker, CloudWatch and ECR rules, then the platform's own.

Properties are Pulumi's wire names (camelCase), as the mock runtime captures them and as
CrossGuard passes them. Since pulumi-aws 7 a bucket's settings are resources of their own
(versioning, encryption, ...), joined to the bucket by its ``bucket`` property; the S3 rules
therefore look at the whole stack, not one resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mlops.infra.aws.catalog import instance_catalogue
from mlops.infra.policy.model import Finding, Resource, Rule, Stack, as_list, statements

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ECR = "aws:ecr/repository:Repository"
# Types that take tags in the programs this pack checks.
TAGGABLE = (
    BUCKET,
    KMS_KEY,
    ROLE,
    POLICY,
    ENDPOINT_CONFIG,
    MODEL,
    PIPELINE,
    LOG_GROUP,
    ALARM,
    ECR,
    "aws:sagemaker/endpoint:Endpoint",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
    "aws:sns/topic:Topic",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:budgets/budget:Budget",
)
REQUIRED_TAGS = ("project", "environment", "owner", "cost-center", "managed-by")
# A moderate default GPU allowlist; platform teams set their own in the pack's config.
GPU_ALLOWLIST = (
    "ml.g4dn.xlarge",
    "ml.g4dn.2xlarge",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
    "ml.g5.4xlarge",
    "ml.g5.12xlarge",
    "ml.p3.2xlarge",
)
ADMIN_POLICY = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(AdministratorAccess|PowerUserAccess|IAMFullAccess|.*FullAccess)$"
)

RULES: list[Rule] = []
Check = Callable[[Stack, Mapping[str, Any]], Iterable[Finding]]


def rule(
    rule_id: str,
    title: str,
    fix: str,
    refs: tuple[str, ...] = (),
    settings: Mapping[str, Any] | None = None,
) -> Callable[[Check], Check]:
    """Register an AWS rule."""

    def register(check: Check) -> Check:
        RULES.append(Rule(rule_id, title, fix, "aws", check, refs, dict(settings or {})))
        return check

    return register


# -- helpers ---------------------------------------------------------------------------------


def buckets(stack: Stack) -> Iterator[tuple[Resource, str]]:
    """Every bucket with its name."""
    for bucket in stack.of(BUCKET):
        yield bucket, str(bucket.props.get("bucket") or bucket.name)


def _log_targets(stack: Stack) -> set[str]:
    """Buckets that receive server access logs (AWS delivers those with SSE-S3 only)."""
    return {str(r.props.get("targetBucket")) for r in stack.of(LOGGING)}


def _aws_managed_key(key: str) -> bool:
    """Whether a key id names an AWS-managed key (``alias/aws/s3``), not the stack's own."""
    return key.startswith("alias/aws/") or ":alias/aws/" in key


def _kms_algorithm(encryption: Resource | None) -> tuple[str, str]:
    rules = as_list(encryption.props.get("rules")) if encryption else []
    for entry in rules:
        default = (entry or {}).get("applyServerSideEncryptionByDefault") or {}
        return str(default.get("sseAlgorithm", "")), str(default.get("kmsMasterKeyId") or "")
    return "", ""


def _principal_is_anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return False


def _policy_documents(stack: Stack) -> Iterator[tuple[Resource, Any]]:
    """Every identity policy document of the stack, with the resource that holds it."""
    for resource in stack.of(ROLE_POLICY, POLICY):
        yield resource, resource.props.get("policy")
    for role in stack.of(ROLE):
        for inline in as_list(role.props.get("inlinePolicies")):
            yield role, (inline or {}).get("policy")


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def variants(config: Resource) -> list[dict[str, Any]]:
    """An endpoint configuration's production and shadow variants."""
    found = as_list(config.props.get("productionVariants"))
    found += as_list(config.props.get("shadowProductionVariants"))
    return [dict(v) for v in found if isinstance(v, Mapping)]


def is_serverless(variant: Mapping[str, Any]) -> bool:
    """Whether a variant is serverless (no instances)."""
    return bool(variant.get("serverlessConfig"))


def instance(name: Any) -> Any:
    """The catalogue's instance type of that name, or None."""
    return instance_catalogue().types.get(str(name))


def _nvme(instance_type: Any) -> bool:
    known = instance(instance_type)
    return bool(known and known.local_nvme)


def _gpu(instance_type: Any) -> bool:
    known = instance(instance_type)
    return bool(known and known.has_gpu)


def pipeline_jobs(pipeline: Resource) -> Iterator[dict[str, Any]]:
    """The pipeline's training and processing steps, with parameters resolved to defaults.

    Each item: ``name``, ``kind`` (Training or Processing), ``instance_type``, ``count``,
    ``isolation``, ``encryption`` (inter-container), ``volume_key``, ``output_key``, ``role``,
    ``spot``.
    """
    try:
        definition = json.loads(str(pipeline.props.get("pipelineDefinition") or "{}"))
    except json.JSONDecodeError:
        return
    defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters", [])}

    def value(raw: Any) -> Any:
        if isinstance(raw, Mapping) and str(raw.get("Get", "")).startswith("Parameters."):
            return defaults.get(str(raw["Get"]).removeprefix("Parameters."))
        return raw

    for step in definition.get("Steps", []):
        args = step.get("Arguments") or {}
        if step.get("Type") == "Training":
            resources = args.get("ResourceConfig") or {}
            yield {
                "name": step.get("Name"),
                "kind": "Training",
                "instance_type": value(resources.get("InstanceType")),
                "count": value(resources.get("InstanceCount")) or 1,
                "isolation": args.get("EnableNetworkIsolation") is True,
                "encryption": args.get("EnableInterContainerTrafficEncryption") is True,
                "volume_key": resources.get("VolumeKmsKeyId"),
                "output_key": (args.get("OutputDataConfig") or {}).get("KmsKeyId"),
                "role": args.get("RoleArn"),
                "spot": args.get("EnableManagedSpotTraining") is True,
            }
        elif step.get("Type") == "Processing":
            cluster = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
            network = args.get("NetworkConfig") or {}
            yield {
                "name": step.get("Name"),
                "kind": "Processing",
                "instance_type": value(cluster.get("InstanceType")),
                "count": value(cluster.get("InstanceCount")) or 1,
                "isolation": network.get("EnableNetworkIsolation") is True,
                "encryption": network.get("EnableInterContainerTrafficEncryption") is True,
                "volume_key": cluster.get("VolumeKmsKeyId"),
                "output_key": (args.get("ProcessingOutputConfig") or {}).get("KmsKeyId", "n/a"),
                "role": args.get("RoleArn"),
                "spot": False,
            }


# -- S3 --------------------------------------------------------------------------------------


@rule(
    "CKV2_AWS_6",
    "S3 buckets block all public access",
    "give the bucket a BucketPublicAccessBlock with all four settings true",
    ("AWS Config s3-bucket-level-public-access-prohibited",),
)
def _public_access(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    blocks: dict[str, list[Resource]] = {}
    for block in stack.of(PUBLIC_ACCESS_BLOCK):
        blocks.setdefault(str(block.props.get("bucket")), []).append(block)
    for bucket, name in buckets(stack):
        found = blocks.get(name, [])
        # Every block of the bucket counts: a second, weaker one would win the last write.
        off = [f for f in flags if not found or any(b.props.get(f) is not True for b in found)]
        if off:
            yield Finding(bucket.name, f"bucket {name} allows public access ({', '.join(off)} off)")


@rule(
    "CKV2_AWS_65",
    "S3 buckets disable ACLs (BucketOwnerEnforced)",
    "add BucketOwnershipControls with object_ownership BucketOwnerEnforced",
    ("AWS Config s3-bucket-acl-prohibited",),
)
def _owner_enforced(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    controls = stack.by_prop(OWNERSHIP, "bucket")
    for bucket, name in buckets(stack):
        rule_ = (controls[name].props.get("rule") or {}) if name in controls else {}
        if rule_.get("objectOwnership") != "BucketOwnerEnforced":
            yield Finding(bucket.name, f"bucket {name} still honours ACLs")


@rule(
    "CKV_AWS_145",
    "S3 buckets encrypt with a customer-managed KMS key (log buckets: SSE-S3, as AWS requires)",
    "add BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and the lake key",
    ("AWS Config s3-default-encryption-kms",),
)
def _sse_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    encryption = stack.by_prop(ENCRYPTION, "bucket")
    targets = _log_targets(stack)
    for bucket, name in buckets(stack):
        algorithm, key = _kms_algorithm(encryption.get(name))
        if name in targets:
            if not algorithm:
                yield Finding(bucket.name, f"log bucket {name} has no default encryption")
        elif not algorithm.startswith("aws:kms") or not key:
            yield Finding(bucket.name, f"bucket {name} is not encrypted with a KMS key")
        elif _aws_managed_key(key):
            yield Finding(bucket.name, f"bucket {name} uses the AWS-managed key {key}")


@rule(
    "CKV_AWS_21",
    "S3 buckets keep versions",
    "add BucketVersioning with status Enabled",
    ("AWS Config s3-bucket-versioning-enabled",),
)
def _versioning(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    versioning = stack.by_prop(VERSIONING, "bucket")
    for bucket, name in buckets(stack):
        config = (
            (versioning[name].props.get("versioningConfiguration") or {})
            if name in versioning
            else {}
        )
        if config.get("status") != "Enabled":
            yield Finding(bucket.name, f"bucket {name} is not versioned")


@rule(
    "s3-bucket-ssl-requests-only",
    "S3 buckets refuse requests without TLS (local: the embedded endpoint is plain HTTP)",
    "add a bucket policy statement denying s3:* when aws:SecureTransport is false",
    ("AWS Config s3-bucket-ssl-requests-only",),
)
def _tls_only(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    policies = stack.by_prop(BUCKET_POLICY, "bucket")
    for bucket, name in buckets(stack):
        if stack.environment_of(bucket) == "local":
            continue  # loopback only; a TLS-only policy would refuse every local request
        document = policies[name].props.get("policy") if name in policies else None
        if not any(
            s.get("Effect") == "Deny"
            and str((s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")).lower()
            == "false"
            for s in statements(document)
        ):
            yield Finding(bucket.name, f"bucket {name} accepts plain-HTTP requests")


@rule(
    "CKV_AWS_70",
    "S3 bucket policies allow no action to any principal",
    "name the principals (roles, services) instead of *",
    ("AWS Config s3-bucket-policy-grantee-check",),
)
def _no_public_principal(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for policy in stack.of(BUCKET_POLICY):
        for s in statements(policy.props.get("policy")):
            if _allows(s) and _principal_is_anyone(s.get("Principal")):
                yield Finding(policy.name, f"{policy.props.get('bucket')}: Allow to principal *")


@rule(
    "CKV_AWS_18",
    "S3 buckets log access (except the log bucket itself)",
    "add BucketLogging pointing at the lake's log bucket",
    ("AWS Config s3-bucket-logging-enabled",),
)
def _access_logging(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    logged = set(stack.by_prop(LOGGING, "bucket"))
    targets = _log_targets(stack)
    for bucket, name in buckets(stack):
        if name not in logged and name not in targets:
            yield Finding(bucket.name, f"bucket {name} has no access logging")


@rule(
    "CKV_AWS_300",
    "S3 lifecycles abort incomplete multipart uploads",
    "add a lifecycle rule with abort_incomplete_multipart_upload (days_after_initiation 7)",
)
def _abort_multipart(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    lifecycles = stack.by_prop(LIFECYCLE, "bucket")
    for bucket, name in buckets(stack):
        rules = as_list(lifecycles[name].props.get("rules")) if name in lifecycles else []
        if not any(
            (r or {}).get("status") == "Enabled" and (r or {}).get("abortIncompleteMultipartUpload")
            for r in rules
        ):
            yield Finding(bucket.name, f"bucket {name} keeps incomplete multipart uploads")


# -- KMS and IAM -----------------------------------------------------------------------------


@rule(
    "CKV_AWS_7",
    "KMS keys rotate",
    "set enable_key_rotation=True",
    ("AWS Config cmk-backing-key-rotation-enabled",),
)
def _rotation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for key in stack.of(KMS_KEY):
        if key.props.get("enableKeyRotation") is not True:
            yield Finding(key.name, "key rotation is off")


@rule(
    "CKV_AWS_33",
    "KMS key policies grant nothing to a wildcard principal without a condition",
    "name the account, role or service, or add a condition on it",
)
def _key_policy(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for key in stack.of(KMS_KEY):
        for s in statements(key.props.get("policy")):
            if _allows(s) and _principal_is_anyone(s.get("Principal")) and not s.get("Condition"):
                yield Finding(key.name, f"statement {s.get('Sid', '?')} allows principal *")


def _every_action(action: Any) -> bool:
    """``*``, ``*:*`` or ``*:Get*``: an action pattern that matches every service."""
    text = str(action).strip()
    return bool(text) and text.split(":", 1)[0].strip("*") == ""


@rule(
    "CKV_AWS_63",
    "IAM policies allow no * action",
    "list the actions the job needs",
    ("AWS Config iam-policy-no-statements-with-admin-access",),
)
def _no_star_action(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for holder, document in _policy_documents(stack):
        for s in statements(document):
            if not _allows(s):
                continue
            # NotAction allows everything it does not name: every action, for this rule.
            if s.get("NotAction") or any(_every_action(a) for a in as_list(s.get("Action"))):
                yield Finding(holder.name, f"statement {s.get('Sid', '?')} allows every action")


@rule(
    "CKV_AWS_355",
    "IAM policies give S3 and KMS actions on named resources, not *",
    "scope the statement to the lake's buckets and key ARNs",
)
def _no_star_resource(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for holder, document in _policy_documents(stack):
        for s in statements(document):
            if not _allows(s):
                continue
            # NotResource: every resource but those; "*" (or "arn:*"): every resource.
            everywhere = bool(s.get("NotResource")) or any(
                str(r).strip() in ("*", "arn:*") for r in as_list(s.get("Resource"))
            )
            if not everywhere:
                continue
            actions = [str(a) for a in as_list(s.get("Action"))]
            # IAM matches service prefixes without regard to case (S3:GetObject is s3:GetObject).
            scoped = [
                a for a in actions if a.lower().startswith(("s3:", "kms:")) or _every_action(a)
            ]
            if s.get("NotAction"):
                excluded = {str(a).lower() for a in as_list(s.get("NotAction"))}
                scoped += [f"s3:* and kms:* (NotAction {', '.join(sorted(excluded))})"]
            if scoped:
                yield Finding(holder.name, f"{', '.join(scoped)} on every resource (*)")


@rule(
    "CKV_AWS_274",
    "No role carries an administrator or *FullAccess managed policy",
    "write a policy of the actions the job needs instead",
    ("AWS Config iam-policy-blacklisted-check",),
)
def _no_admin_policies(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    attached = [(r, r.props.get("policyArn")) for r in stack.of(ROLE_POLICY_ATTACHMENT)]
    for role in stack.of(ROLE):
        attached += [(role, arn) for arn in as_list(role.props.get("managedPolicyArns"))]
    for holder, arn in attached:
        if arn and ADMIN_POLICY.match(str(arn)):
            yield Finding(holder.name, f"attaches {arn}")


@rule(
    "mlops-iam-trust-conditions",
    "Roles trust services only for this account (aws:SourceAccount or aws:SourceArn)",
    "add a StringEquals aws:SourceAccount (or ArnLike aws:SourceArn) condition to the trust",
    ("AWS IAM confused-deputy guidance",),
)
def _trust_conditions(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for role in stack.of(ROLE):
        for s in statements(role.props.get("assumeRolePolicy")):
            if not _allows(s):
                continue
            principal = s.get("Principal") or {}
            if _principal_is_anyone(principal):
                yield Finding(role.name, "anyone may assume the role")
                continue
            services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
            keys = {k for op in (s.get("Condition") or {}).values() for k in (op or {})}
            if services and not keys & {"aws:SourceAccount", "aws:SourceArn"}:
                yield Finding(role.name, f"{', '.join(map(str, services))} trusted unconditionally")


# -- SageMaker -------------------------------------------------------------------------------


@rule(
    "CKV_AWS_98",
    "Endpoint configurations encrypt their instances' storage with a KMS key",
    "set kms_key_arn (not for serverless or local-NVMe types, which AWS refuses)",
    ("AWS Config sagemaker-endpoint-configuration-kms-key-configured",),
)
def _endpoint_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for config in stack.of(ENDPOINT_CONFIG):
        needs = [
            v for v in variants(config) if not is_serverless(v) and not _nvme(v.get("instanceType"))
        ]
        if needs and not config.props.get("kmsKeyArn"):
            yield Finding(config.name, f"variant {needs[0].get('variantName')} has no KMS key")


@rule(
    "mlops-sagemaker-data-capture",
    "Realtime endpoint configurations capture traffic (monitoring reads it)",
    "set data_capture_config with enable_capture and a KMS key",
)
def _data_capture(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for config in stack.of(ENDPOINT_CONFIG):
        realtime = [v for v in variants(config) if not is_serverless(v)]
        capture = config.props.get("dataCaptureConfig") or {}
        if realtime and not (capture.get("enableCapture") and capture.get("kmsKeyId")):
            yield Finding(config.name, "traffic is not captured (or not with a KMS key)")


@rule(
    "sagemaker-endpoint-config-prod-instance-count",
    "Prod realtime variants run at least 2 instances (one per Availability Zone)",
    "set endpointInstanceCount to 2 or more in Pulumi.prod.yaml",
)
def _prod_instances(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for config in stack.of(ENDPOINT_CONFIG):
        if stack.environment_of(config) != "prod":
            continue
        for v in variants(config):
            if not is_serverless(v) and float(v.get("initialInstanceCount") or 0) < 2:
                yield Finding(
                    config.name,
                    f"prod variant {v.get('variantName')} runs"
                    f" {int(float(v.get('initialInstanceCount') or 0))} instance",
                )


@rule(
    "sagemaker-model-isolation-enabled",
    "Models run network-isolated (except on serverless, which AWS refuses it on)",
    "set enable_network_isolation=True",
)
def _model_isolation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    serverless_models = {
        v.get("modelName")
        for c in stack.of(ENDPOINT_CONFIG)
        for v in variants(c)
        if is_serverless(v)
    }
    for model in stack.of(MODEL):
        if model.props.get("enableNetworkIsolation") is True:
            continue
        # Before deployment a generated model name may be unknown: then any serverless
        # variant in the stack may be this model's.
        if model.name in serverless_models or (serverless_models and None in serverless_models):
            continue
        yield Finding(model.name, "the model container can reach the network")


def _jobs(stack: Stack) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for pipeline in stack.of(PIPELINE):
        for job in pipeline_jobs(pipeline):
            yield pipeline, job


@rule(
    "mlops-sagemaker-job-isolation",
    "Training and processing jobs run network-isolated",
    "set EnableNetworkIsolation (NetworkConfig for processing) in the pipeline step",
    ("AWS Config sagemaker-training-job-network-isolation-enabled",),
)
def _job_isolation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for pipeline, job in _jobs(stack):
        if not job["isolation"]:
            yield Finding(pipeline.name, f"step {job['name']} is not network-isolated")


@rule(
    "mlops-sagemaker-job-traffic-encryption",
    "Training and processing jobs encrypt traffic between their instances",
    "set EnableInterContainerTrafficEncryption in the pipeline step",
)
def _job_encryption(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for pipeline, job in _jobs(stack):
        if not job["encryption"]:
            yield Finding(pipeline.name, f"step {job['name']} sends unencrypted traffic")


@rule(
    "mlops-sagemaker-job-kms",
    "Training and processing jobs encrypt volumes and outputs with the lake key",
    "set VolumeKmsKeyId (not on local-NVMe types) and the output KmsKeyId",
)
def _job_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for pipeline, job in _jobs(stack):
        if not job["output_key"]:
            yield Finding(pipeline.name, f"step {job['name']} writes output without a KMS key")
        if not job["volume_key"] and not _nvme(job["instance_type"]):
            yield Finding(pipeline.name, f"step {job['name']} has an unencrypted volume")


# -- CloudWatch and ECR ----------------------------------------------------------------------


@rule(
    "mlops-log-retention",
    "Log groups expire their logs",
    "set retention_in_days (logRetentionDays in the stack config)",
    ("AWS Config cw-loggroup-retention-period-check",),
)
def _log_retention(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for group in stack.of(LOG_GROUP):
        days = _days(group.props.get("retentionInDays"))
        if days is None or days < 1:  # CloudWatch reads 0 (or none) as "never expire"
            yield Finding(group.name, "logs are kept forever")


def _days(value: Any) -> float | None:
    """A retention in days as a number (Pulumi may pass a string), or None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@rule(
    "CKV_AWS_158",
    "Log groups are encrypted with a KMS key",
    "set kms_key_id to the lake key (its policy lets CloudWatch Logs use it)",
)
def _log_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for group in stack.of(LOG_GROUP):
        if not group.props.get("kmsKeyId"):
            yield Finding(group.name, "log group is not encrypted with a KMS key")


@rule(
    "cloudwatch-alarm-action-enabled-check",
    "Alarms have actions, and their actions are enabled",
    "set alarm_actions to the alerts topic and leave actions_enabled on",
)
def _alarm_actions(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for alarm in stack.of(ALARM):
        if alarm.props.get("actionsEnabled") is False or not alarm.props.get("alarmActions"):
            yield Finding(alarm.name, "the alarm notifies no one")


@rule(
    "CKV_AWS_163",
    "ECR repositories scan images on push",
    "set image_scanning_configuration scan_on_push=True",
    ("AWS Config ecr-private-image-scanning-enabled",),
)
def _ecr_scan(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for repo in stack.of(ECR):
        if (repo.props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
            yield Finding(repo.name, "images are not scanned on push")


@rule(
    "CKV_AWS_51",
    "ECR tags are immutable",
    "set image_tag_mutability IMMUTABLE",
    ("AWS Config ecr-private-tag-immutability-enabled",),
)
def _ecr_immutable(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for repo in stack.of(ECR):
        if repo.props.get("imageTagMutability") != "IMMUTABLE":
            yield Finding(repo.name, "a tag can be moved to another image")


@rule(
    "CKV_AWS_136",
    "ECR repositories are encrypted with a KMS key",
    "set encryption_configurations encryption_type KMS with the lake key",
)
def _ecr_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for repo in stack.of(ECR):
        kinds = [
            (e or {}).get("encryptionType")
            for e in as_list(repo.props.get("encryptionConfigurations"))
        ]
        if "KMS" not in kinds:
            yield Finding(repo.name, "images are not encrypted with a KMS key")


# -- the platform's own rules ----------------------------------------------------------------


@rule(
    "required-tags",
    "Every taggable resource carries the platform's tags",
    "pass the stack's tags (StackConfig.tags) to the resource",
    ("AWS Config required-tags",),
    settings={"tags": list(REQUIRED_TAGS)},
)
def _required_tags(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    required = [str(t) for t in settings["tags"]]
    for resource in stack.of(*TAGGABLE):
        missing = [t for t in required if not resource.tags.get(t)]
        if missing:
            yield Finding(resource.name, f"missing tags: {', '.join(missing)}")


def _compute(stack: Stack) -> Iterator[tuple[Resource, str, Any, float, bool]]:
    """(resource, what, instance type, count, always on) for every instance-backed workload."""
    for config in stack.of(ENDPOINT_CONFIG):
        for v in variants(config):
            if not is_serverless(v):
                count = float(v.get("initialInstanceCount") or 1)
                yield config, f"variant {v.get('variantName')}", v.get("instanceType"), count, True
    for pipeline, job in _jobs(stack):
        yield pipeline, f"step {job['name']}", job["instance_type"], float(job["count"]), False


@rule(
    "mlops-gpu-allowlist",
    "GPU instances are of an allowed type, at most maxCount per workload",
    "use an allowed type, or have the platform team extend the pack's allowlist",
    settings={"allowed": list(GPU_ALLOWLIST), "maxCount": 4},
)
def _gpu_allowlist(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    allowed, most = set(settings["allowed"]), float(settings["maxCount"])
    for resource, what, itype, count, _ in _compute(stack):
        if not _gpu(itype):
            continue
        if itype not in allowed:
            yield Finding(resource.name, f"{what}: {itype} is not an allowed GPU type")
        elif count > most:
            yield Finding(resource.name, f"{what}: {int(count)} x {itype}, above {int(most)}")


@rule(
    "mlops-no-idle-gpu-outside-prod",
    "No always-on GPU endpoint outside prod",
    "serve dev and staging on CPU or serverless; GPUs for endpoints are prod's",
)
def _no_idle_gpu(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, what, itype, _count, always_on in _compute(stack):
        env = stack.environment_of(resource)
        if always_on and _gpu(itype) and env != "prod":
            yield Finding(resource.name, f"{what}: {itype} runs around the clock in {env}")


@rule(
    "mlops-separate-execution-roles",
    "Serving and training never share an execution role",
    "give the endpoint's models their own role (mlops:aws:Endpoint does)",
)
def _separate_roles(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    training = {job["role"] for _, job in _jobs(stack) if job["role"]}
    training |= {p.props.get("roleArn") for p in stack.of(PIPELINE) if p.props.get("roleArn")}
    for model in stack.of(MODEL):
        role = model.props.get("executionRoleArn")
        if role and role in training:
            yield Finding(model.name, f"serves with the training role {role}")


# -- what AWS itself would reject ------------------------------------------------------------


@rule(
    "mlops-aws-rejects-kms-on-nvme",
    "No KMS key on instance types with local NVMe storage (AWS refuses the request)",
    "drop kms_key_arn / VolumeKmsKeyId for g4dn, g5, p4d and other NVMe types",
)
def _kms_on_nvme(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for config in stack.of(ENDPOINT_CONFIG):
        nvme = [v for v in variants(config) if _nvme(v.get("instanceType"))]
        if nvme and config.props.get("kmsKeyArn"):
            yield Finding(config.name, f"kms_key_arn with {nvme[0].get('instanceType')}")
    for pipeline, job in _jobs(stack):
        if job["volume_key"] and _nvme(job["instance_type"]):
            yield Finding(
                pipeline.name, f"step {job['name']}: VolumeKmsKeyId with {job['instance_type']}"
            )


@rule(
    "mlops-aws-rejects-serverless-options",
    "Serverless endpoints take no data capture, KMS key, network isolation or second variant",
    "drop those options from serverless endpoint configurations (AWS refuses them)",
)
def _serverless_options(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    isolated = {m.name for m in stack.of(MODEL) if m.props.get("enableNetworkIsolation") is True}
    for config in stack.of(ENDPOINT_CONFIG):
        every = variants(config)
        serverless = [v for v in every if is_serverless(v)]
        if not serverless:
            continue
        problems = []
        if (config.props.get("dataCaptureConfig") or {}).get("enableCapture"):
            problems.append("data capture")
        if config.props.get("kmsKeyArn"):
            problems.append("a KMS key")
        if len(every) > 1:
            problems.append(f"{len(every)} variants")
        if any(v.get("modelName") in isolated for v in serverless):
            problems.append("a network-isolated model")
        if problems:
            yield Finding(config.name, f"serverless with {', '.join(problems)}")


@rule(
    "mlops-aws-rejects-kms-log-target",
    "Buckets receiving S3 access logs use SSE-S3 (AWS cannot deliver logs to SSE-KMS)",
    "encrypt the log bucket with AES256",
)
def _kms_log_target(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    encryption = stack.by_prop(ENCRYPTION, "bucket")
    targets = _log_targets(stack)
    for bucket, name in buckets(stack):
        if name in targets and _kms_algorithm(encryption.get(name))[0].startswith("aws:kms"):
            yield Finding(bucket.name, f"log bucket {name} uses SSE-KMS: logs would be dropped")
