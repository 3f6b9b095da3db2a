"""Fixtures for the storage integration tests: a real SeaweedFS S3 server and both backends.

Self-contained: nothing here needs the application fixtures of tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from storage import Storage, create_storage
from tests.support.seaweedfs import SeaweedFS, SeaweedFSError

# SeaweedFS's filer waits 15 s for its own gRPC streams to end on SIGTERM; the server's data is
# thrown away after the session, so it is killed after a short grace period instead.
STOP_TIMEOUT = 3


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One SeaweedFS server (master, volume, filer, S3) for the whole test session."""
    server = SeaweedFS(stop_timeout=STOP_TIMEOUT)
    try:
        server.start()
    except SeaweedFSError as exc:
        pytest.fail(f"could not start SeaweedFS for the S3 tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_admin(seaweedfs: SeaweedFS):
    """A plain boto3 client for the test server, to inspect and clean up behind the backend."""
    client = boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        region_name=seaweedfs.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    yield client
    client.close()


@pytest.fixture
def s3_config(seaweedfs: SeaweedFS, s3_admin) -> Iterator[Callable[..., dict]]:
    """Make app-style settings for a fresh bucket on the test server; the buckets are removed.

    Call it with overrides, e.g. ``s3_config(KEPU_S3_SECRET_KEY="wrong")``.
    """
    buckets = []

    def make(**overrides: str) -> dict:
        bucket = f"kepu-test-{uuid.uuid4().hex[:16]}"
        buckets.append(bucket)
        config = {
            "KEPU_STORAGE": "s3",
            "KEPU_S3_ENDPOINT": seaweedfs.endpoint,
            "KEPU_S3_BUCKET": bucket,
            "KEPU_S3_ACCESS_KEY": seaweedfs.access_key,
            "KEPU_S3_SECRET_KEY": seaweedfs.secret_key,
            "KEPU_S3_REGION": seaweedfs.region,
        }
        config.update(overrides)
        return config

    yield make
    for bucket in buckets:
        # SeaweedFS deletes non-empty buckets (-s3.allowDeleteBucketNotEmpty, on by default),
        # and with them the volume it grew for the bucket.
        try:
            s3_admin.delete_bucket(Bucket=bucket)
        except s3_admin.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in {"NoSuchBucket", "404"}:
                raise


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest, tmp_path) -> Iterator[Storage]:
    """Each backend in turn: local in a temp dir, S3 in a fresh bucket on SeaweedFS."""
    if request.param == "local":
        config = {"KEPU_STORAGE": "local", "KEPU_STORAGE_DIR": str(tmp_path / "objects")}
    else:
        config = request.getfixturevalue("s3_config")()
    backend = create_storage(config)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def s3_storage(s3_config) -> Iterator[Storage]:
    """The S3 backend alone, for tests of S3-only behaviour."""
    backend = create_storage(s3_config())
    try:
        yield backend
    finally:
        backend.close()
