"""Where things live in the data lake: the one layout every component and step reads.

Each named place is a zone (bucket) and a key prefix. The DataLake component, the training
role's S3 permissions, the endpoint's data capture and the runtime's steps all derive their
paths from here instead of spelling them out.
"""

from __future__ import annotations

from collections.abc import Mapping

# The lake's zones, one bucket each, on every platform.
ZONES = ("raw", "curated", "features", "artifacts")

LAYOUT: dict[str, tuple[str, str]] = {
    "datasets": ("raw", "datasets/"),
    "capture": ("raw", "capture/"),
    "validation": ("artifacts", "validation/"),
    "models": ("artifacts", "models/"),
    "checkpoints": ("artifacts", "checkpoints/"),
    "evaluation": ("artifacts", "evaluation/"),
    "monitoring": ("artifacts", "monitoring/"),
    "runs": ("artifacts", "runs/"),
}

# What SageMaker jobs write (the execution role may write only these artifact prefixes).
JOB_OUTPUTS = ("validation", "models", "checkpoints", "evaluation", "monitoring")


# Added for issue 20 (ports): every lake URI is built and read here, on every platform.
def lake_uri(buckets: Mapping[str, str], place: str, key: str = "") -> str:
    """``s3://`` URI of a named place (or a key under it) in the lake with these buckets."""
    zone, prefix = LAYOUT[place]
    return f"s3://{buckets[zone]}/{prefix}{key}"


def split_uri(uri: str) -> tuple[str, str]:
    """Bucket and key (or prefix) of an ``s3://bucket/key`` URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
