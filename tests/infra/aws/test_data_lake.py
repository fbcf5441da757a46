"""DataLake under the Pulumi mock runtime, for dev, prod and local, plus its pure decisions."""

from __future__ import annotations

import importlib
import inspect
import json
from functools import cache

import pytest

from mlops.infra.aws import DataLake
from mlops.infra.aws.data_lake import ZONES, bucket_policy, log_bucket_policy
from mlops.infra.aws.platform import lake_args
from mlops.infra.config import StackConfig
from mlops.infra.mock_runtime import MOCK_ACCOUNT, MockedProgram, UnknownInvokeError, run_program

PROJECT = "churn-model"
TAGS = {"project", "environment", "owner", "cost-center", "managed-by"}
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def lake_program(stack: str, **config: object) -> MockedProgram:
    values = {"aws:region": "us-east-1", f"{PROJECT}:owner": "data-team", **config}

    def program() -> dict[str, object]:
        cfg = StackConfig.load()
        lake = DataLake(cfg.name_prefix, lake_args(cfg, MOCK_ACCOUNT))
        return {"names": lake.bucket_names, "key": lake.key_arn, "db": lake.glue_database}

    return run_program(program, project=PROJECT, stack=stack, config=values)


@cache
def taggable(type_token: str) -> bool:
    """Whether the pulumi_aws class behind a type token accepts ``tags``."""
    _, module_path, cls = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters


@pytest.fixture(scope="module", params=["dev", "prod", "local"])
def lake(request: pytest.FixtureRequest) -> tuple[str, MockedProgram]:
    return request.param, lake_program(request.param)


def test_children_are_named_and_parented(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    component = program.of_type("mlops:aws:DataLake")
    assert [c.name for c in component] == [f"{PROJECT}-{stack}"]
    children = [r for r in program.resources if r.custom]
    assert children and all(
        r.parent.endswith(f"mlops:aws:DataLake::{PROJECT}-{stack}") for r in children
    )
    assert all(r.name.startswith(f"{PROJECT}-{stack}-") for r in children)


def test_zone_buckets_use_the_rotating_customer_key(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    key = program.named(f"{PROJECT}-{stack}-key")
    assert key.inputs["enableKeyRotation"] is True
    by_bucket = {}
    for sse in program.of_type(SSE):
        rule = sse.inputs["rules"][0]
        by_bucket[sse.inputs["bucket"]] = (
            rule["applyServerSideEncryptionByDefault"],
            rule["bucketKeyEnabled"],
        )
    for zone in ZONES:
        default, bucket_key = by_bucket[f"{PROJECT}-{stack}-{zone}"]
        assert default["sseAlgorithm"] == "aws:kms"
        assert default["kmsMasterKeyId"].endswith(f"{PROJECT}-{stack}-key")
        assert bucket_key is True
    # S3 cannot deliver access logs into an SSE-KMS bucket.
    assert by_bucket[f"{PROJECT}-{stack}-logs"][0] == {"sseAlgorithm": "AES256"}


def test_every_bucket_is_versioned_private_and_owner_enforced(
    lake: tuple[str, MockedProgram],
) -> None:
    _, program = lake
    buckets = {b.name for b in program.of_type("aws:s3/bucket:Bucket")}
    assert len(buckets) == 5
    versioned = {
        r.inputs["bucket"]
        for r in program.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if r.inputs["versioningConfiguration"]["status"] == "Enabled"
    }
    private = {
        r.inputs["bucket"]
        for r in program.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if all(
            r.inputs[k] is True
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
    }
    owner = {
        r.inputs["bucket"]
        for r in program.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        if r.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    }
    assert versioned == private == owner == buckets


def test_every_bucket_is_tls_only(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    policies = program.of_type("aws:s3/bucketPolicy:BucketPolicy")
    if stack == "local":
        # The local endpoint is plain HTTP on loopback: only the log-delivery grant remains.
        assert len(policies) == 1
        statements = json.loads(policies[0].inputs["policy"])["Statement"]
        assert [s["Sid"] for s in statements] == ["AllowLakeAccessLogDelivery"]
        return
    assert len(policies) == 5
    for policy in policies:
        statements = json.loads(policy.inputs["policy"])["Statement"]
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Action"] == "s3:*"


def test_zones_are_logged_to_the_log_bucket_under_their_prefix(
    lake: tuple[str, MockedProgram],
) -> None:
    stack, program = lake
    logging = {
        r.inputs["bucket"]: r.inputs for r in program.of_type("aws:s3/bucketLogging:BucketLogging")
    }
    assert set(logging) == {f"{PROJECT}-{stack}-{z}" for z in ZONES}
    for zone in ZONES:
        entry = logging[f"{PROJECT}-{stack}-{zone}"]
        assert entry["targetBucket"] == f"{PROJECT}-{stack}-logs"
        assert entry["targetPrefix"] == f"{zone}/"


def test_lifecycle_aborts_uploads_and_tiers_noncurrent_versions(
    lake: tuple[str, MockedProgram],
) -> None:
    stack, program = lake
    rules = {
        r.inputs["bucket"]: {rule["id"]: rule for rule in r.inputs["rules"]}
        for r in program.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    }
    for zone in ZONES:
        zone_rules = rules[f"{PROJECT}-{stack}-{zone}"]
        abort = zone_rules["abort-incomplete-multipart-uploads"]
        assert abort["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
        tiering = zone_rules["tier-noncurrent-versions"]
        tiers = tiering["noncurrentVersionTransitions"]
        assert [(t["storageClass"], t["noncurrentDays"]) for t in tiers] == [
            ("STANDARD_IA", 30),  # S3 refuses STANDARD_IA before 30 days
            ("GLACIER_IR", 90),
        ]
        # Old versions go last, after their last tier; current data never expires.
        assert tiering["noncurrentVersionExpiration"] == {"noncurrentDays": 365}
        assert "expiration" not in tiering
    logs = rules[f"{PROJECT}-{stack}-logs"]["expire-access-logs"]
    assert logs["expiration"] == {"days": 365} and logs["noncurrentVersionExpiration"] == {
        "noncurrentDays": 7
    }


def test_every_taggable_resource_is_tagged(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    tagged = [r for r in program.resources if r.custom and taggable(r.type)]
    assert {r.type for r in tagged} == {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:glue/catalogDatabase:CatalogDatabase",
    }
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert TAGS <= set(tags), resource.name
        assert tags["environment"] == stack
        assert tags["owner"] == "data-team"
        assert tags["managed-by"] == "mlops-stack"


def test_protection_only_in_prod(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    held = [r for r in program.resources if r.type in ("aws:s3/bucket:Bucket", "aws:kms/key:Key")]
    assert len(held) == 6
    for resource in held:
        assert resource.protect is (stack == "prod"), resource.name
        assert resource.retain_on_delete is (stack == "prod"), resource.name
    for bucket in program.of_type("aws:s3/bucket:Bucket"):
        # Outside prod `pulumi destroy` must succeed although logs keep arriving; prod keeps all.
        assert bucket.inputs["forceDestroy"] is (stack != "prod"), bucket.name
    key = program.named(f"{PROJECT}-{stack}-key")
    assert key.inputs["deletionWindowInDays"] == (30 if stack == "prod" else 7)


def test_glue_catalog_points_at_the_curated_zone(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    db = program.of_type("aws:glue/catalogDatabase:CatalogDatabase")[0]
    assert db.inputs["name"] == f"churn_model_{stack}_curated"
    assert db.inputs["locationUri"] == f"s3://{PROJECT}-{stack}-curated/"


def test_outputs(lake: tuple[str, MockedProgram]) -> None:
    stack, program = lake
    assert program.result["names"] == {z: f"{PROJECT}-{stack}-{z}" for z in ZONES}
    assert program.result["key"].endswith(f":key/{PROJECT}-{stack}-key")
    assert program.result["db"] == f"churn_model_{stack}_curated"


def test_log_delivery_is_scoped_to_the_lake_buckets() -> None:
    policy = json.loads(log_bucket_policy("arn:aws:s3:::logs", ["arn:aws:s3:::raw"]))
    allow = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AllowLakeAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/*",
            "Condition": {"ArnLike": {"aws:SourceArn": ["arn:aws:s3:::raw"]}},
        }
    ]
    assert json.loads(bucket_policy("arn:aws:s3:::b"))["Statement"][0]["Resource"] == [
        "arn:aws:s3:::b",
        "arn:aws:s3:::b/*",
    ]


def test_longest_allowed_name_fits_s3_and_glue_limits() -> None:
    from mlops.infra.aws import MLPlatform
    from mlops.infra.aws.naming import MAX_NAME_LENGTH
    from mlops.infra.mock_runtime import CALLER_IDENTITY

    project = "a" * MAX_NAME_LENGTH

    def program() -> None:
        MLPlatform(f"{project}-staging", StackConfig.load())

    result = run_program(
        program,
        project=project,
        stack="staging",
        config={"aws:region": "us-east-1"},
        invokes=CALLER_IDENTITY,
    )
    buckets = result.of_type("aws:s3/bucket:Bucket")
    # Pulumi auto-names buckets "<logical name>-<7 hex characters>".
    assert max(len(b.name) + 8 for b in buckets) == 63
    assert all(
        len(r.inputs.get("name", "")) <= 63
        for r in result.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    )
    for db in result.of_type("aws:glue/catalogDatabase:CatalogDatabase"):
        assert db.inputs["name"].isidentifier()


def test_unknown_invoke_fails_loudly() -> None:
    import pulumi_aws as aws

    def program() -> None:
        aws.get_caller_identity()

    with pytest.raises(Exception) as info:
        run_program(program, project=PROJECT, stack="dev", config={"aws:region": "us-east-1"})
    assert "unexpected invoke 'aws:index/getCallerIdentity:getCallerIdentity'" in str(info.value)
    assert issubclass(UnknownInvokeError, AssertionError)


def test_key_policy_lets_logs_and_alarms_use_the_key_only_for_this_account() -> None:
    from mlops.infra.aws.data_lake import key_policy

    policy = json.loads(key_policy("aws-cn", "cn-north-1", "111122223333"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["AccountAdministersThroughIam"]["Principal"] == {
        "AWS": "arn:aws-cn:iam::111122223333:root"
    }
    logs = by_sid["CloudWatchLogsForThisAccount"]
    assert logs["Principal"] == {"Service": "logs.cn-north-1.amazonaws.com.cn"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws-cn:logs:cn-north-1:111122223333:log-group:*"
    )
    publish = by_sid["AlarmsAndEventsPublishToEncryptedTopics"]
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    assert "kms:*" not in publish["Action"]


def test_logging_is_enabled_only_after_the_log_bucket_grants_delivery() -> None:
    # S3 rejects PutBucketLogging (InvalidTargetBucketForLogging) before the grant exists;
    # registration order is the order the bootstrap applies, and depends_on orders `pulumi up`.
    program = lake_program("dev")
    order = [r.name for r in program.resources]
    log_policy = order.index(f"{PROJECT}-dev-logs-policy")
    assert all(order.index(f"{PROJECT}-dev-{z}-logging") > log_policy for z in ZONES)


def test_tls_deny_applies_to_every_principal() -> None:
    statement = json.loads(bucket_policy("arn:aws:s3:::b"))["Statement"][0]
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
