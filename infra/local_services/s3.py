"""S3 in local mode: a bucket, and each of its settings as a resource of its own."""

from __future__ import annotations

from typing import Any

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    LocalService,
    Operation,
    inputs,
    tag_list,
)
from mlops.infra.mock_runtime import MockedResource


def _s3(
    op: str, r: MockedResource, wrapper: str | None = None, inner: dict[str, Any] | None = None
) -> ApiCall:
    body = inner if inner is not None else inputs(r, "bucket")
    params = {"bucket": r.inputs["bucket"], **({wrapper: body} if wrapper else body)}
    return ApiCall("s3", op, request("s3", op, params))


def _bucket(r: MockedResource, ctx: Context) -> list[ApiCall]:
    name = r.inputs.get("bucket", r.name)
    create: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":  # as AWS: us-east-1 is the one region without a constraint
        create["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    calls = [ApiCall("s3", "CreateBucket", create)]
    if r.inputs.get("tags"):
        calls.append(
            ApiCall("s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": tag_list(r)}})
        )
    return calls


def _versioning(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [_s3("PutBucketVersioning", r)]


def _encryption(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3(
            "PutBucketEncryption",
            r,
            "serverSideEncryptionConfiguration",
            {"rules": r.inputs["rules"]},
        )
    ]


def _public_access(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [_s3("PutPublicAccessBlock", r, "publicAccessBlockConfiguration")]


def _ownership(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3("PutBucketOwnershipControls", r, "ownershipControls", {"rules": [r.inputs["rule"]]})
    ]


def _policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [_s3("PutBucketPolicy", r)]


def _lifecycle(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3(
            "PutBucketLifecycleConfiguration",
            r,
            "lifecycleConfiguration",
            {"rules": r.inputs["rules"]},
        )
    ]


def _logging(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3("PutBucketLogging", r, "bucketLoggingStatus", {"loggingEnabled": inputs(r, "bucket")})
    ]


def _undo(op: str, **extra: Any) -> Operation:
    """A bucket setting undone by one call on the bucket."""
    return Operation(delete=lambda p, _: [ApiCall("s3", op, {"Bucket": p["Bucket"], **extra})])


SERVICE = LocalService(
    "s3",
    resources={
        "aws:s3/bucket:Bucket": _bucket,
        "aws:s3/bucketVersioning:BucketVersioning": _versioning,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
            _encryption
        ),
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
        "aws:s3/bucketPolicy:BucketPolicy": _policy,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
        "aws:s3/bucketLogging:BucketLogging": _logging,
    },
    operations={
        "CreateBucket": _undo("DeleteBucket"),
        "PutBucketTagging": _undo("DeleteBucketTagging"),
        "PutBucketVersioning": _undo(
            "PutBucketVersioning", VersioningConfiguration={"Status": "Suspended"}
        ),
        "PutBucketEncryption": _undo("DeleteBucketEncryption"),
        "PutPublicAccessBlock": _undo("DeletePublicAccessBlock"),
        "PutBucketOwnershipControls": _undo("DeleteBucketOwnershipControls"),
        "PutBucketPolicy": _undo("DeleteBucketPolicy"),
        "PutBucketLifecycleConfiguration": _undo("DeleteBucketLifecycle"),
        "PutBucketLogging": _undo("PutBucketLogging", BucketLoggingStatus={}),
    },
    already_there=frozenset({"BucketAlreadyOwnedByYou"}),
    gone=frozenset({"NoSuchBucket"}),
    holds_data=frozenset({"BucketNotEmpty"}),
)
