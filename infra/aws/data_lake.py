"""``mlops:aws:DataLake``: the S3 data lake every other component reads and writes.

Four zones (raw, curated, features, artifacts) plus an access-log bucket. Each zone bucket is
encrypted with a rotating customer-managed KMS key, versioned, private (all four public-access
flags, BucketOwnerEnforced), TLS-only, logged, and has lifecycle rules that abort stale
multipart uploads and tier old versions. The curated zone is registered in a Glue database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops.core.layout import ZONES
from mlops.infra.aws.arns import Arns
from mlops.infra.aws.catalog import service_principal

LifecycleRule = aws.s3.BucketLifecycleConfigurationRuleArgsDict
SseDefault = (
    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgsDict
)
LOG_ZONE = "logs"


@dataclass(frozen=True)
class DataLakeArgs:
    """Inputs of :class:`DataLake`.

    Attributes:
        tags: tags for every taggable resource (project, environment, owner, cost-center,
            managed-by).
        account_id: the AWS account, for the key policy.
        region: the AWS region, for the key policy's service principals.
        partition: AWS partition for ARNs (``aws``, ``aws-cn``, ``aws-us-gov``).
        protect: keep buckets and the key on ``pulumi destroy`` (``protect`` and
            ``retain_on_delete``); set for prod.
        force_destroy: let ``pulumi destroy`` empty the buckets; every stack but prod.
        tls_only: deny requests without TLS. Off only for local stacks, whose endpoint is plain
            HTTP on loopback (an endpoint like moto enforces the policy and would refuse them).
        abort_multipart_days: days before an incomplete multipart upload is aborted.
        noncurrent_ia_days: days before a noncurrent version moves to STANDARD_IA.
        noncurrent_glacier_days: days before a noncurrent version moves to GLACIER_IR.
        noncurrent_expire_days: days before a noncurrent version is deleted.
        access_log_retention_days: days the S3 access logs are kept (CloudWatch Logs' retention
            is another setting: the monitoring section's ``log_retention_days``).
        key_deletion_window_days: KMS deletion window (7 to 30).
    """

    tags: Mapping[str, str]
    account_id: pulumi.Input[str]
    region: str
    partition: str = "aws"
    protect: bool = False
    force_destroy: bool = False
    tls_only: bool = True
    abort_multipart_days: int = 7
    noncurrent_ia_days: int = 30
    noncurrent_glacier_days: int = 90
    noncurrent_expire_days: int = 365
    access_log_retention_days: int = 365
    key_deletion_window_days: int = 30


# Exported for testing: the decisions below are pure and checked without the engine.


def key_policy(partition: str, region: str, account_id: str) -> str:
    """The lake key's policy.

    The account administers the key through IAM. CloudWatch Logs may use it only for this
    account's log groups in this region (log groups encrypted with it fail to create otherwise),
    and CloudWatch alarms and EventBridge may use it to publish to encrypted SNS topics.
    """
    arns = Arns(partition, region, account_id)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": arns.account_root()},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsForThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": service_principal("logs", partition, region)},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": arns.log_group("*")}
                    },
                },
                {
                    "Sid": "AlarmsAndEventsPublishToEncryptedTopics",
                    "Effect": "Allow",
                    "Principal": {
                        "Service": [
                            service_principal("cloudwatch", partition),
                            service_principal("events", partition),
                            service_principal("budgets", partition),
                        ]
                    },
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


def tls_only_statements(bucket_arn: str) -> list[dict[str, Any]]:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            # Same meaning as "*"; moto's log-delivery check crashes on a bare "*" principal.
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def bucket_policy(bucket_arn: str, tls_only: bool = True) -> str | None:
    """A lake bucket's policy: TLS only (``None`` when there is nothing to enforce)."""
    if not tls_only:
        return None
    return json.dumps({"Version": "2012-10-17", "Statement": tls_only_statements(bucket_arn)})


def log_bucket_policy(
    log_bucket_arn: str, source_bucket_arns: list[str], tls_only: bool = True
) -> str:
    """The log bucket's policy: TLS only, and S3 log delivery from the lake's buckets alone.

    BucketOwnerEnforced disables ACLs, so delivery must be granted by policy, scoped to the
    source buckets so no other bucket can write into our logs.
    """
    statements = tls_only_statements(log_bucket_arn) if tls_only else []
    statements.append(
        {
            "Sid": "AllowLakeAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/*",
            "Condition": {"ArnLike": {"aws:SourceArn": source_bucket_arns}},
        }
    )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def lifecycle_rules(args: DataLakeArgs) -> list[LifecycleRule]:
    """Lifecycle rules for a zone bucket."""
    return [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": args.abort_multipart_days
            },
        },
        {
            "id": "tier-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_transitions": [
                {"noncurrent_days": args.noncurrent_ia_days, "storage_class": "STANDARD_IA"},
                {"noncurrent_days": args.noncurrent_glacier_days, "storage_class": "GLACIER_IR"},
            ],
            "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_expire_days},
        },
    ]


def log_lifecycle_rules(args: DataLakeArgs) -> list[LifecycleRule]:
    """Lifecycle rules for the access-log bucket: abort stale uploads, expire old logs."""
    return [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": args.abort_multipart_days
            },
        },
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": {},
            "expiration": {"days": args.access_log_retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": args.abort_multipart_days},
        },
    ]


def glue_database_name(name: str) -> str:
    """Glue names allow lowercase letters, digits and underscores only."""
    return f"{name.replace('-', '_').lower()}_curated"


class DataLake(pulumi.ComponentResource):
    """An encrypted, versioned, private, logged S3 data lake with a Glue catalog.

    Outputs:
        bucket_names: zone -> bucket name (``raw``, ``curated``, ``features``, ``artifacts``).
        bucket_arns: zone -> bucket ARN.
        log_bucket_name: the access-log bucket's name.
        key_arn: ARN of the customer-managed KMS key.
        glue_database: the Glue database over the curated zone.
    """

    bucket_names: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    log_bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    glue_database: pulumi.Output[str]

    def __init__(
        self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:DataLake", name, None, opts)
        self._name = name
        self._args = args
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        # Buckets and the key hold the data; protect them in prod, leave local stacks free.
        keep = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Data lake key for {name}",
            enable_key_rotation=True,
            deletion_window_in_days=args.key_deletion_window_days,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: key_policy(args.partition, args.region, account)
            ),
            tags=tags,
            opts=keep,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{name}",  # the component is named for the lake already
            target_key_id=self.key.key_id,
            opts=child,
        )

        self.log_bucket = self._bucket(LOG_ZONE, keep)
        # S3 server access logs can only be delivered to SSE-S3 buckets, never SSE-KMS.
        self._encrypt(LOG_ZONE, self.log_bucket, kms=False)
        self._lifecycle(LOG_ZONE, self.log_bucket, log_lifecycle_rules(args))

        self.buckets: dict[str, aws.s3.Bucket] = {}
        for zone in ZONES:
            bucket = self._bucket(zone, keep)
            self._encrypt(zone, bucket, kms=True)
            self._lifecycle(zone, bucket, lifecycle_rules(args))
            self.buckets[zone] = bucket

        source_arns = pulumi.Output.all(*[b.arn for b in self.buckets.values()])
        log_policy = self._policy(
            LOG_ZONE,
            self.log_bucket,
            pulumi.Output.all(self.log_bucket.arn, source_arns).apply(
                lambda v: log_bucket_policy(v[0], list(v[1]), args.tls_only)
            ),
        )
        for zone, bucket in self.buckets.items():
            if args.tls_only:
                self._policy(zone, bucket, bucket.arn.apply(lambda arn: str(bucket_policy(arn))))
            aws.s3.BucketLogging(
                f"{name}-{zone}-logging",
                bucket=bucket.id,
                target_bucket=self.log_bucket.id,
                target_prefix=f"{zone}/",
                # S3 refuses to log into a bucket whose policy does not yet grant delivery.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
            )

        curated = self.buckets["curated"]
        self.database = aws.glue.CatalogDatabase(
            f"{name}-catalog",
            name=glue_database_name(name),
            description=f"Curated zone of the {name} data lake",
            location_uri=curated.bucket.apply(lambda b: f"s3://{b}/"),
            tags=tags,
            opts=child,
        )

        self.bucket_names = pulumi.Output.all(
            **{zone: b.bucket for zone, b in self.buckets.items()}
        )
        self.bucket_arns = pulumi.Output.all(**{zone: b.arn for zone, b in self.buckets.items()})
        self.log_bucket_name = self.log_bucket.bucket
        self.key_arn = self.key.arn
        self.glue_database = self.database.name
        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "bucket_arns": self.bucket_arns,
                "log_bucket_name": self.log_bucket_name,
                "key_arn": self.key_arn,
                "glue_database": self.glue_database,
            }
        )

    def _bucket(self, zone: str, opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
        name = f"{self._name}-{zone}"
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            name,
            force_destroy=self._args.force_destroy,
            tags={**self._args.tags, "lake-zone": zone},
            opts=opts,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        return bucket

    def _encrypt(self, zone: str, bucket: aws.s3.Bucket, *, kms: bool) -> None:
        default: SseDefault = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key.arn}
            if kms
            else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-{zone}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,
                    # S3 Bucket Keys cut KMS request costs by ~99% for busy buckets.
                    "bucket_key_enabled": kms,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _lifecycle(self, zone: str, bucket: aws.s3.Bucket, rules: list[LifecycleRule]) -> None:
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-{zone}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _policy(
        self, zone: str, bucket: aws.s3.Bucket, policy: pulumi.Input[str]
    ) -> aws.s3.BucketPolicy:
        return aws.s3.BucketPolicy(
            f"{self._name}-{zone}-policy",
            bucket=bucket.id,
            policy=policy,
            # S3 rejects concurrent config changes on one bucket; apply the policy last.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket]),
        )
