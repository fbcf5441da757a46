"""The data lake as the runtime sees it: named places, and objects that are never overwritten."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.core.errors import AwsCallFailed, MlopsError
from mlops.core.layout import LAYOUT
from mlops.pipelines.aws import call


class ImmutableObjectError(MlopsError):
    """Something tried to overwrite an object whose content is different."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} already exists with other content; lake versions are immutable")


@dataclass(frozen=True)
class Lake:
    """An S3 client and the lake's bucket per zone.

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
        bucket, full = self.locate(place, key)
        return f"s3://{bucket}/{full}"

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
                raise ImmutableObjectError(f"s3://{bucket}/{full}")
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
