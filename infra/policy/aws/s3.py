"""S3 rules: public access, ACLs, encryption, versioning, TLS, bucket policies, logs, lifecycle.

Each bucket's settings are resources of their own, joined to it by name (:mod:`.readers`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlops.infra.policy.aws.readers import (
    BUCKET_POLICY,
    ENCRYPTION,
    LIFECYCLE,
    LOGGING,
    OWNERSHIP,
    PUBLIC_ACCESS_BLOCK,
    VERSIONING,
    allows,
    aws_managed_key,
    buckets,
    kms_algorithm,
    log_targets,
    principal_is_anyone,
)
from mlops.infra.policy.model import Finding, Stack, as_list, rule, statements


@rule(
    "aws",
    "CKV2_AWS_6",
    "S3 buckets block all public access",
    "give the bucket a BucketPublicAccessBlock with all four settings true",
    ("AWS Config s3-bucket-level-public-access-prohibited",),
)
def public_access(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket has a public access block with all four settings on."""
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    blocks: dict[str, list[Any]] = {}
    for block in stack.of(PUBLIC_ACCESS_BLOCK):
        blocks.setdefault(str(block.props.get("bucket")), []).append(block)
    for bucket, name in buckets(stack):
        found = blocks.get(name, [])
        # Every block of the bucket counts: a second, weaker one would win the last write.
        off = [f for f in flags if not found or any(b.props.get(f) is not True for b in found)]
        if off:
            yield Finding(bucket.name, f"bucket {name} allows public access ({', '.join(off)} off)")


@rule(
    "aws",
    "CKV2_AWS_65",
    "S3 buckets disable ACLs (BucketOwnerEnforced)",
    "add BucketOwnershipControls with object_ownership BucketOwnerEnforced",
    ("AWS Config s3-bucket-acl-prohibited",),
)
def owner_enforced(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket's ownership controls enforce the bucket owner (ACLs off)."""
    controls = stack.by_prop(OWNERSHIP, "bucket")
    for bucket, name in buckets(stack):
        rule_ = (controls[name].props.get("rule") or {}) if name in controls else {}
        if rule_.get("objectOwnership") != "BucketOwnerEnforced":
            yield Finding(bucket.name, f"bucket {name} still honours ACLs")


@rule(
    "aws",
    "CKV_AWS_145",
    "S3 buckets encrypt with a customer-managed KMS key (log buckets: SSE-S3, as AWS requires)",
    "add BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and the lake key",
    ("AWS Config s3-default-encryption-kms",),
)
def sse_kms(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket but the log bucket encrypts with the stack's own KMS key."""
    encryption = stack.by_prop(ENCRYPTION, "bucket")
    targets = log_targets(stack)
    for bucket, name in buckets(stack):
        algorithm, key = kms_algorithm(encryption.get(name))
        if name in targets:
            if not algorithm:
                yield Finding(bucket.name, f"log bucket {name} has no default encryption")
        elif not algorithm.startswith("aws:kms") or not key:
            yield Finding(bucket.name, f"bucket {name} is not encrypted with a KMS key")
        elif aws_managed_key(key):
            yield Finding(bucket.name, f"bucket {name} uses the AWS-managed key {key}")


@rule(
    "aws",
    "CKV_AWS_21",
    "S3 buckets keep versions",
    "add BucketVersioning with status Enabled",
    ("AWS Config s3-bucket-versioning-enabled",),
)
def versioning(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket is versioned."""
    versions = stack.by_prop(VERSIONING, "bucket")
    for bucket, name in buckets(stack):
        config = (
            (versions[name].props.get("versioningConfiguration") or {}) if name in versions else {}
        )
        if config.get("status") != "Enabled":
            yield Finding(bucket.name, f"bucket {name} is not versioned")


@rule(
    "aws",
    "s3-bucket-ssl-requests-only",
    "S3 buckets refuse requests without TLS (local: the embedded endpoint is plain HTTP)",
    "add a bucket policy statement denying s3:* when aws:SecureTransport is false",
    ("AWS Config s3-bucket-ssl-requests-only",),
)
def tls_only(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket outside local mode denies requests without TLS."""
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
    "aws",
    "CKV_AWS_70",
    "S3 bucket policies allow no action to any principal",
    "name the principals (roles, services) instead of *",
    ("AWS Config s3-bucket-policy-grantee-check",),
)
def no_public_principal(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """No bucket policy allows anything to principal ``*``."""
    for policy in stack.of(BUCKET_POLICY):
        for s in statements(policy.props.get("policy")):
            if allows(s) and principal_is_anyone(s.get("Principal")):
                yield Finding(policy.name, f"{policy.props.get('bucket')}: Allow to principal *")


@rule(
    "aws",
    "CKV_AWS_18",
    "S3 buckets log access (except the log bucket itself)",
    "add BucketLogging pointing at the lake's log bucket",
    ("AWS Config s3-bucket-logging-enabled",),
)
def access_logging(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket but the log bucket logs its access."""
    logged = set(stack.by_prop(LOGGING, "bucket"))
    targets = log_targets(stack)
    for bucket, name in buckets(stack):
        if name not in logged and name not in targets:
            yield Finding(bucket.name, f"bucket {name} has no access logging")


@rule(
    "aws",
    "CKV_AWS_300",
    "S3 lifecycles abort incomplete multipart uploads",
    "add a lifecycle rule with abort_incomplete_multipart_upload (days_after_initiation 7)",
)
def abort_multipart(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """Every bucket's lifecycle aborts incomplete multipart uploads."""
    lifecycles = stack.by_prop(LIFECYCLE, "bucket")
    for bucket, name in buckets(stack):
        rules = as_list(lifecycles[name].props.get("rules")) if name in lifecycles else []
        if not any(
            (r or {}).get("status") == "Enabled" and (r or {}).get("abortIncompleteMultipartUpload")
            for r in rules
        ):
            yield Finding(bucket.name, f"bucket {name} keeps incomplete multipart uploads")


@rule(
    "aws",
    "mlops-aws-rejects-kms-log-target",
    "Buckets receiving S3 access logs use SSE-S3 (AWS cannot deliver logs to SSE-KMS)",
    "encrypt the log bucket with AES256",
)
def kms_log_target(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    """What AWS rejects: no access-log bucket is encrypted with SSE-KMS."""
    encryption = stack.by_prop(ENCRYPTION, "bucket")
    targets = log_targets(stack)
    for bucket, name in buckets(stack):
        if name in targets and kms_algorithm(encryption.get(name))[0].startswith("aws:kms"):
            yield Finding(bucket.name, f"log bucket {name} uses SSE-KMS: logs would be dropped")
