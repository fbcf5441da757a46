"""The data lake as the runtime sees it: named places, and objects that are never overwritten."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.core.contracts import bucket_env
from mlops.core.errors import AwsCallFailed, MlopsError
from mlops.core.layout import LAYOUT, ZONES, lake_uri, split_uri
from mlops.pipelines.aws import call


class ImmutableObjectError(MlopsError):
    """Something tried to overwrite an object whose content is different."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} already exists with other content; lake versions are immutable")


@dataclass(frozen=True)
class Lake:
    """The lake's object store on S3 (AWS, MinIO, moto): an S3 client and a bucket per zone.

    The :class:`~mlops.pipelines.ports.ObjectStore` adapter of every platform.

    Attributes:
        s3: a boto3 S3 client (real AWS, LocalStack or moto).
        buckets: zone -> bucket name, e.g. from the stack output ``platform.buckets``.
    """

    s3: Any
    buckets: Mapping[str, str]

    def locate(self, place: str, key: str) -> tuple[str, str]:
        """Bucket and full key of ``key`` under a named place."""
        zone, prefix = LAYOUT[place]
        return self.buckets[zone], f"{prefix}{key}"

    def uri(self, place: str, key: str = "") -> str:
        """``s3://`` URI of a place (or a key under it)."""
        return lake_uri(self.buckets, place, key)

    def read_uri(self, uri: str) -> bytes:
        """The bytes of an ``s3://bucket/key`` object (an artifact a record points at)."""
        bucket, key = split_uri(uri)
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def write_uri(self, uri: str, body: bytes) -> None:
        """Write ``body`` to an ``s3://bucket/key`` object."""
        bucket, key = split_uri(uri)
        call("s3.PutObject", self.s3.put_object, Bucket=bucket, Key=key, Body=body)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Lake | None:
        """The lake the ``MLOPS_BUCKET_<ZONE>`` variables name, or None when none is set.

        The S3 endpoint is boto3's own setting (``AWS_ENDPOINT_URL_S3``: MinIO in kind).
        """
        names = {z: bucket_env(z) for z in ZONES}
        buckets = {z: environ[v] for z, v in names.items() if v in environ}
        if not buckets:
            return None
        import boto3

        region = environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return cls(boto3.client("s3", region_name=region), buckets)

    def ensure_buckets(self, attempts: int = 8, base_delay: float = 0.5) -> list[str]:
        """Create the lake's buckets that do not exist yet; return the ones made.

        For a store that starts empty (MinIO in kind); on AWS the platform creates the buckets.
        The store may still be starting, so an unreachable endpoint is retried with backoff
        (about a minute with the defaults) before it fails.

        Raises:
            AwsCallFailed: the endpoint stayed unreachable, or refused.
        """
        made = []
        for bucket in sorted(set(self.buckets.values())):
            try:
                call(
                    "s3.HeadBucket",
                    self.s3.head_bucket,
                    Bucket=bucket,
                    attempts=attempts,
                    base_delay=base_delay,
                )
                continue
            except AwsCallFailed as exc:
                if exc.code not in ("404", "NoSuchBucket", "NotFound"):
                    raise
            call("s3.CreateBucket", self.s3.create_bucket, Bucket=bucket)
            made.append(bucket)
        return made

    def exists(self, place: str, key: str) -> bool:
        """Whether the object exists."""
        bucket, full = self.locate(place, key)
        try:
            call("s3.HeadObject", self.s3.head_object, Bucket=bucket, Key=full)
        except AwsCallFailed as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put_once(self, place: str, key: str, body: bytes, content_type: str = "") -> bool:
        """Write ``body`` unless the object exists; return whether it was written.

        Raises:
            ImmutableObjectError: the object exists with different bytes.
        """
        bucket, full = self.locate(place, key)
        if self.exists(place, key):
            if self.get(place, key) != body:
                raise ImmutableObjectError(self.uri(place, key))
            return False
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        call("s3.PutObject", self.s3.put_object, Bucket=bucket, Key=full, Body=body, **extra)
        return True

    def put(self, place: str, key: str, body: bytes) -> None:
        """Write a mutable object (run records, reports)."""
        bucket, full = self.locate(place, key)
        call("s3.PutObject", self.s3.put_object, Bucket=bucket, Key=full, Body=body)

    def get(self, place: str, key: str) -> bytes:
        """Read an object."""
        bucket, full = self.locate(place, key)
        body: bytes = call("s3.GetObject", self.s3.get_object, Bucket=bucket, Key=full)[
            "Body"
        ].read()
        return body

    def get_json(self, place: str, key: str) -> Any:
        """Read and parse a JSON object."""
        return json.loads(self.get(place, key))

    def keys(self, place: str, prefix: str = "") -> Iterator[str]:
        """Keys under a place (relative to it), in S3 order."""
        bucket, full = self.locate(place, prefix)
        base = LAYOUT[place][1]
        token: dict[str, Any] = {}
        while True:
            page = call(
                "s3.ListObjectsV2", self.s3.list_objects_v2, Bucket=bucket, Prefix=full, **token
            )
            for item in page.get("Contents", []):
                yield item["Key"][len(base) :]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}
