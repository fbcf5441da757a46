"""Move datasets in and out of the lake. The S3 client is injected, never created here."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def dataset_key(path: Path, prefix: str = "datasets") -> str:
    """The content-addressed key of a dataset file: the same bytes always get the same key."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{prefix}/sha256={digest}/{path.name}"


def upload_dataset(s3: Any, bucket: str, path: Path, prefix: str = "datasets") -> str:
    """Upload ``path`` under its content address unless it is already there; return the key."""
    key = dataset_key(path, prefix)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return key  # same bytes already stored: a dataset version is never rewritten
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.upload_file(str(path), bucket, key)
    return key


def download(s3: Any, bucket: str, key: str, dest: Path) -> Path:
    """Download one object to ``dest`` and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(dest))
    return dest
