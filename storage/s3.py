"""Objects in an S3 bucket (AWS, SeaweedFS, MinIO, Ceph…), through boto3.

This is the only module of the project that imports boto3/botocore.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from storage.base import (
    CHUNK_SIZE,
    MAX_PART_NUMBER,
    Counter,
    InvalidRange,
    MiB,
    ObjectNotFound,
    ObjectStream,
    SavedObject,
    Storage,
    StorageError,
    StorageUnavailable,
    check_expires,
    check_key,
    check_part_number,
    check_parts,
    check_prefix,
    range_header,
    read_stream,
)
from storage.disposition import content_disposition

log = logging.getLogger(__name__)

_session_lock = threading.Lock()
_shared_session: boto3.session.Session | None = None

#: Size of the parts ``save()`` uploads; one part is the most it holds in memory. 8 MiB parts
#: allow objects up to 80 GiB (10,000 parts), far beyond any upload this service takes.
PART_SIZE = 8 * MiB
#: ``upload_part()`` keeps a part up to this size in memory and spills larger ones to disk: each
#: web thread uploading to S3 would otherwise hold a whole 8 MiB part (the upload bench measured it).
SPOOL_SIZE = 1 * MiB

_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_UNAVAILABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


def client_config(*, max_attempts: int = 3, connect_timeout: float = 5, read_timeout: float = 60):
    """The botocore configuration every S3 client of the project uses."""
    return Config(
        signature_version="s3v4",
        # Path-style URLs (endpoint/bucket/key) work with any endpoint; virtual-host style needs
        # DNS for bucket.endpoint, which self-hosted servers and loopback tests do not have.
        s3={"addressing_style": "path"},
        # boto3 >= 1.36 adds CRC32 checksums to every upload by default, sent as an aws-chunked
        # body with trailing headers, and validates checksums on downloads. Several S3-compatible
        # servers reject or mishandle those trailers, so checksums are only sent where the S3 API
        # requires them. Integrity is still checked end to end: save() returns the SHA-256 of
        # what was sent and `flask storage verify` compares it with hash_object().
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # "standard" retries throttling, 5xx and dropped connections with backoff, and keeps a
        # dead server from hanging a request for long.
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


class S3Storage(Storage):
    """Stores each object as ``bucket/<key>``.

    The bucket is created on the first write if missing (see ``ensure_bucket``); creating the
    storage object makes no request, so the app starts even while S3 is down.
    """

    supports_presigned_urls = True

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        max_attempts: int = 3,
        connect_timeout: float = 5,
        read_timeout: float = 60,
        part_size: int = PART_SIZE,
    ) -> None:
        """Make the client; without keys boto3's usual sources (environment, role) are used.

        Raises StorageError when the settings are unusable (e.g. a malformed endpoint URL).
        """
        if not bucket:
            raise StorageError("an S3 bucket name is required")
        if part_size < 5 * MiB:
            raise StorageError("S3 parts must be at least 5 MiB")
        self.bucket = bucket
        self.region = region
        self.part_size = part_size
        self._bucket_ready = False
        try:
            self._client = _new_client(
                endpoint_url=endpoint_url or None,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=client_config(
                    max_attempts=max_attempts,
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                ),
            )
        except (BotoCoreError, ValueError) as exc:
            raise StorageError(f"cannot configure the S3 client: {exc}") from exc

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self._client.meta.endpoint_url!r})"

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    # -- bucket -------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist. Raises StorageError (no access, S3 down…)."""
        with self._errors("check bucket", None):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                self._bucket_ready = True
                return
            except ClientError as exc:
                if _status(exc) != 404:
                    raise
        kwargs = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # AWS refuses an explicit us-east-1 constraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with self._errors("create bucket", None):
            try:
                self._client.create_bucket(**kwargs)
            except ClientError as exc:
                if _code(exc) != "BucketAlreadyOwnedByYou":  # another process won the race
                    raise
        self._bucket_ready = True

    def _before_write(self) -> None:
        if not self._bucket_ready:
            self.ensure_bucket()

    # -- objects ------------------------------------------------------------------------------

    def save(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str | None = None,
        max_size: int | None = None,
    ) -> SavedObject:
        """Upload the stream, in one request when it fits one part, else as a multipart upload.

        A failed multipart upload is aborted, so no parts linger. Raises ObjectTooLarge,
        InvalidKey, StorageUnavailable or StorageError (see Storage.save).
        """
        check_key(key)
        counter = Counter(key, max_size)
        self._before_write()
        extra = {"ContentType": content_type} if content_type else {}
        first = read_stream(stream, self.part_size)
        counter.update(first)
        if len(first) < self.part_size:
            with self._errors("upload", key):
                self._client.put_object(Bucket=self.bucket, Key=key, Body=first, **extra)
            return counter.result()

        with self._errors("start upload of", key):
            response = self._client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
        upload_id = response["UploadId"]
        try:
            parts = []
            data, first = first, b""  # one reference, so each part is freed once uploaded
            number = 1
            while data:
                if number > MAX_PART_NUMBER:
                    raise StorageError(f"object {key!r} needs more than {MAX_PART_NUMBER} parts")
                with self._errors("upload part of", key):
                    etag = self._client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                    )["ETag"]
                parts.append((number, etag))
                del data  # free this part before the next one is read
                data = read_stream(stream, self.part_size)
                counter.update(data)
                number += 1
            self._complete(key, upload_id, parts)
        except BaseException:
            self._abort_quietly(key, upload_id)
            raise
        return counter.result()

    def open(self, key: str, start: int | None = None, end: int | None = None) -> ObjectStream:
        """Start a (ranged) GET and return its body as chunks (see Storage.open).

        Raises ObjectNotFound, InvalidRange, InvalidKey, StorageUnavailable or StorageError.
        """
        check_key(key)
        extra = {}
        header = range_header(start, end)
        if header is not None:
            extra["Range"] = header
        with self._errors("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
        body = response["Body"]
        length = response["ContentLength"]
        offset, total = 0, length
        content_range = response.get("ContentRange")  # "bytes 0-9/10"
        if header is not None:
            try:
                span, total_text = content_range.split(" ", 1)[1].split("/")
                offset = int(span.split("-")[0])
                total = int(total_text)
            except (AttributeError, IndexError, ValueError) as exc:
                body.close()
                # A server that ignored the Range header would hand out the wrong bytes.
                raise StorageError(
                    f"ranged read of {key!r} got no usable Content-Range: {content_range!r}"
                ) from exc
        return ObjectStream(
            body,
            start=offset,
            length=length,
            total=total,
            translate=lambda exc: self._translate(exc, "read", key),
            chunk_size=CHUNK_SIZE,
        )

    def size(self, key: str) -> int:
        """Return the object's size (HEAD). Raises ObjectNotFound, InvalidKey, StorageError."""
        check_key(key)
        with self._errors("inspect", key):
            return self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def modified_at(self, key: str) -> datetime:
        """Return the object's Last-Modified (HEAD). Raises ObjectNotFound, InvalidKey, StorageError."""
        check_key(key)
        with self._errors("inspect", key):
            return self._client.head_object(Bucket=self.bucket, Key=key)["LastModified"]

    def exists(self, key: str) -> bool:
        """Tell whether the object exists (HEAD). Raises InvalidKey or StorageError.

        Only a 404 means "no": a 403 (wrong keys) or an unreachable server raise.
        """
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete the object; S3 itself treats a missing key as deleted. Raises StorageError."""
        check_key(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield keys starting with ``prefix`` (ListObjectsV2, 1000 per page).

        Raises InvalidKey for a bad prefix at once, StorageError while iterating.
        """
        check_prefix(prefix)
        return self._iter_keys(prefix)

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"]

    # -- multipart ----------------------------------------------------------------------------

    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """CreateMultipartUpload. Raises InvalidKey, StorageUnavailable or StorageError."""
        check_key(key)
        self._before_write()
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors("start upload of", key):
            response = self._client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
        return response["UploadId"]

    def upload_part(self, key: str, upload_id: str, part_number: int, stream: BinaryIO) -> str:
        """UploadPart; returns the part's ETag as its token.

        boto3 needs a seekable body to sign it and to resend it on a retry: a seekable stream (a
        part the caller already holds in memory) is sent as it is, from its current position;
        any other is copied to a spooled temporary file first, as a client's part may be large.
        Raises StorageError (unknown upload, bad part number, backend failure).
        """
        check_key(key)
        check_part_number(part_number)
        if _seekable(stream):
            start = stream.tell()
            size = stream.seek(0, io.SEEK_END) - start
            stream.seek(start)
            with self._errors("upload part of", key):
                response = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part_number,
                    Body=stream,
                    ContentLength=size,
                )
            return response["ETag"]
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE) as spool:
            size = 0
            while data := stream.read(CHUNK_SIZE):
                spool.write(data)
                size += len(data)
            spool.seek(0)
            with self._errors("upload part of", key):
                response = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part_number,
                    Body=spool,
                    ContentLength=size,
                )
        return response["ETag"]

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """CompleteMultipartUpload (see Storage.complete_multipart). Raises StorageError."""
        check_key(key)
        self._complete(key, upload_id, check_parts(parts))

    def _complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        with self._errors("complete upload of", key):
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an unknown upload is ignored. Raises StorageError."""
        check_key(key)
        with self._errors("abort upload of", key):
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":
                    raise

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        # Runs while another error propagates: that error is the one the caller must see. A
        # failed abort leaves parts that a bucket lifecycle rule (AbortIncompleteMultipartUpload)
        # or SeaweedFS's own s3.clean.uploads removes later.
        try:
            self.abort_multipart(key, upload_id)
        except StorageError:
            log.warning("could not abort multipart upload %s of %r", upload_id, key, exc_info=True)

    # -- links --------------------------------------------------------------------------------

    def presigned_url(
        self,
        key: str,
        *,
        filename: str,
        content_type: str | None = None,
        expires: int = 300,
    ) -> str:
        """A presigned GET that makes S3 answer with ``Content-Disposition: attachment``.

        The URL is signed locally; nothing is sent. Raises InvalidKey or StorageError.
        """
        check_key(key)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
        }
        if content_type:
            params["ResponseContentType"] = content_type
        with self._errors("sign a link to", key):
            return self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=check_expires(expires)
            )

    # -- errors -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._translate(exc, action, key) from exc

    def _translate(self, exc: Exception, action: str, key: str | None) -> StorageError:
        what = f"{action} {key!r}" if key is not None else action
        where = f"in bucket {self.bucket!r}"
        if isinstance(exc, ClientError):
            code, status = _code(exc), _status(exc)
            message = exc.response.get("Error", {}).get("Message") or ""
            if code == "NoSuchBucket":
                return StorageError(f"cannot {what}: bucket {self.bucket!r} does not exist")
            if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchUpload"):
                return ObjectNotFound(f"no object {key!r} {where}")
            if code == "InvalidRange" or status == 416:
                return InvalidRange(f"range not satisfiable for {key!r}")
            if status is not None and status >= 500:
                return StorageUnavailable(f"cannot {what} {where}: S3 answered {code} ({status})")
            return StorageError(f"cannot {what} {where}: {code} {message}".rstrip())
        if isinstance(exc, _UNAVAILABLE):
            return StorageUnavailable(f"cannot {what}: S3 is unreachable ({exc})")
        return StorageError(f"cannot {what} {where}: {exc}")


def _seekable(stream) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _new_client(**kwargs):
    global _shared_session
    # A new session parses botocore's service models again (~150 ms); clients made from one
    # shared session reuse them. Keys are given to each client, so storages with different keys
    # never share credentials. Sessions are not thread-safe, clients are: hence the lock.
    with _session_lock:
        if _shared_session is None:
            _shared_session = boto3.session.Session()
        return _shared_session.client("s3", **kwargs)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
