"""Object storage for uploaded files: a local directory or an S3 bucket behind one interface.

    storage = create_storage(app.config)
    saved = storage.save(key, request.stream, content_type="video/mp4", max_size=limit)
    for chunk in storage.open(key, start, end): ...

Everything a backend can raise is a StorageError; see ``storage.base.Storage`` for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from storage.base import (
    InvalidKey,
    InvalidRange,
    ObjectNotFound,
    ObjectStream,
    ObjectTooLarge,
    SavedObject,
    Storage,
    StorageError,
    StorageUnavailable,
)
from storage.disposition import content_disposition
from storage.local import LocalStorage

if TYPE_CHECKING:
    from storage.s3 import S3Storage

__all__ = [
    "InvalidKey",
    "InvalidRange",
    "LocalStorage",
    "ObjectNotFound",
    "ObjectStream",
    "ObjectTooLarge",
    "S3Storage",
    "SavedObject",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "content_disposition",
    "create_storage",
]

BACKENDS = ("local", "s3")


def create_storage(config: Mapping) -> Storage:
    """Build the backend the settings ask for; makes no network request.

    Reads ``KEPU_STORAGE`` ("local", the default, or "s3"); for local ``KEPU_STORAGE_DIR``; for
    s3 ``KEPU_S3_BUCKET``, ``KEPU_S3_ENDPOINT`` (empty for AWS), ``KEPU_S3_ACCESS_KEY``,
    ``KEPU_S3_SECRET_KEY`` (both empty: boto3's environment/role credentials) and
    ``KEPU_S3_REGION`` (default "us-east-1"). Raises StorageError for a missing or unknown setting.
    """
    kind = str(config.get("KEPU_STORAGE") or "local").strip().lower()
    if kind == "local":
        directory = config.get("KEPU_STORAGE_DIR")
        if not directory:
            raise StorageError("KEPU_STORAGE_DIR must name a directory for local storage")
        return LocalStorage(directory)
    if kind == "s3":
        bucket = config.get("KEPU_S3_BUCKET")
        if not bucket:
            raise StorageError("KEPU_S3_BUCKET must name a bucket for S3 storage")
        from storage.s3 import S3Storage  # boto3 is heavy: load it only when S3 is used

        return S3Storage(
            bucket,
            endpoint_url=config.get("KEPU_S3_ENDPOINT") or None,
            access_key=config.get("KEPU_S3_ACCESS_KEY") or None,
            secret_key=config.get("KEPU_S3_SECRET_KEY") or None,
            region=config.get("KEPU_S3_REGION") or "us-east-1",
        )
    raise StorageError(f"KEPU_STORAGE must be one of {', '.join(BACKENDS)}, not {kind!r}")


def __getattr__(name: str):
    if name == "S3Storage":
        from storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
