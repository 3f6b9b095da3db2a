"""The storage contract, checked on both backends (local directory and SeaweedFS S3).

Tests that only make sense for S3 (independent clients, presigned URLs, bad credentials, an
unreachable server) are at the end, marked ``s3``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from minio import Minio

from storage import (
    InvalidKey,
    InvalidRange,
    LocalStorage,
    ObjectNotFound,
    ObjectTooLarge,
    SavedObject,
    Storage,
    StorageError,
    StorageUnavailable,
    content_disposition,
    create_storage,
)
from tests.support import free_port

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

MiB = 1024 * 1024
CHINESE_NAME = "课程视频.mp4"


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_bytes(storage: Storage, key: str, data: bytes, **kwargs) -> SavedObject:
    return storage.save(key, io.BytesIO(data), **kwargs)


def read(storage: Storage, key: str, start: int | None = None, end: int | None = None) -> bytes:
    with storage.open(key, start, end) as chunks:
        return b"".join(chunks)


class TrickleStream(io.RawIOBase):
    """Serves ``data`` a few bytes per read, like a socket, and can fail part-way.

    ``fail_after``: raise RuntimeError once that many bytes were served. ``when_at``: call
    ``callback`` once that many bytes were served.
    """

    def __init__(
        self,
        data: bytes,
        per_read: int = 65_537,
        fail_after: int | None = None,
        when_at: tuple[int, object] | None = None,
    ):
        self._data = memoryview(data)
        self._pos = 0
        self._per_read = per_read
        self._fail_after = fail_after
        self._when_at = when_at

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._fail_after is not None and self._pos >= self._fail_after:
            raise RuntimeError("client went away")
        if self._when_at is not None and self._pos >= self._when_at[0]:
            callback, self._when_at = self._when_at[1], None
            callback()
        if size < 0:
            size = len(self._data)
        n = min(size, self._per_read, len(self._data) - self._pos)
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk


@pytest.fixture
def leftovers(storage: Storage, request: pytest.FixtureRequest):
    """Return a function listing everything the backend holds: objects, temp files, uploads."""

    def list_everything() -> list[str]:
        if isinstance(storage, LocalStorage):
            found = []
            for directory, _dirs, files in os.walk(storage.root):
                found += [os.path.relpath(os.path.join(directory, f), storage.root) for f in files]
            return sorted(found)
        admin = request.getfixturevalue("s3_admin")
        try:
            objects = admin.list_objects_v2(Bucket=storage.bucket).get("Contents", [])
            uploads = admin.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
        except admin.exceptions.NoSuchBucket:
            return []  # the backend creates its bucket on the first write
        return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])

    return list_everything


# -- objects ----------------------------------------------------------------------------------


def test_round_trip_reports_size_and_sha256(storage: Storage):
    data = random_bytes(3 * MiB + 17)

    saved = save_bytes(storage, "ab/round-trip", data, content_type="video/mp4")

    assert saved == SavedObject(key="ab/round-trip", size=len(data), sha256=sha256(data))
    assert read(storage, "ab/round-trip") == data
    assert storage.exists("ab/round-trip")
    assert storage.size("ab/round-trip") == len(data)
    assert storage.hash_object("ab/round-trip") == saved


def test_open_yields_bounded_chunks(storage: Storage):
    save_bytes(storage, "ab/chunks", random_bytes(3 * MiB))

    with storage.open("ab/chunks") as chunks:
        sizes = [len(chunk) for chunk in chunks]

    assert sum(sizes) == 3 * MiB
    assert max(sizes) <= MiB


def test_empty_object(storage: Storage):
    saved = save_bytes(storage, "ab/empty", b"")

    assert saved == SavedObject(key="ab/empty", size=0, sha256=sha256(b""))
    assert storage.exists("ab/empty")
    assert storage.size("ab/empty") == 0
    assert list(storage.open("ab/empty")) == []
    assert storage.hash_object("ab/empty") == saved
    with pytest.raises(InvalidRange):
        storage.open("ab/empty", 0, None)


TEN = b"0123456789"


@pytest.mark.parametrize(
    ("start", "end", "expected_slice"),
    [
        pytest.param(0, 0, slice(0, 1), id="first-byte"),
        pytest.param(3, 5, slice(3, 6), id="middle"),
        pytest.param(9, 9, slice(9, 10), id="last-byte"),
        pytest.param(None, 3, slice(7, 10), id="suffix"),
        pytest.param(None, 20, slice(0, 10), id="suffix-longer-than-object"),
        pytest.param(5, None, slice(5, 10), id="open-ended"),
        pytest.param(5, 100, slice(5, 10), id="end-clamped"),
        pytest.param(None, None, slice(0, 10), id="whole"),
    ],
)
def test_ranges(storage: Storage, start, end, expected_slice):
    save_bytes(storage, "ab/ten", TEN)
    expected = TEN[expected_slice]

    with storage.open("ab/ten", start, end) as stream:
        assert (stream.start, stream.length, stream.total) == (
            expected_slice.start,
            len(expected),
            10,
        )
        assert b"".join(stream) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [(10, None), (10, 12), (None, 0), (7, 3), (-1, 2), (0, -1)],
    ids=["start-at-end", "past-end", "empty-suffix", "reversed", "negative-start", "negative-end"],
)
def test_unsatisfiable_ranges(storage: Storage, start, end):
    save_bytes(storage, "ab/ten", TEN)

    with pytest.raises(InvalidRange) as info:
        storage.open("ab/ten", start, end)

    assert isinstance(info.value, StorageError)


def test_range_across_chunk_boundaries(storage: Storage):
    data = random_bytes(3 * MiB, seed=3)
    save_bytes(storage, "ab/big", data)

    assert read(storage, "ab/big", MiB - 10, 2 * MiB + 10) == data[MiB - 10 : 2 * MiB + 11]


def test_missing_key(storage: Storage):
    save_bytes(storage, "ab/present", b"x")  # a missing bucket is a configuration error instead

    assert not storage.exists("ab/missing")
    with pytest.raises(ObjectNotFound):
        storage.open("ab/missing")
    with pytest.raises(ObjectNotFound):
        storage.open("ab/missing", 0, 10)
    with pytest.raises(ObjectNotFound):
        storage.size("ab/missing")
    with pytest.raises(ObjectNotFound):
        storage.hash_object("ab/missing")


def test_modified_at_is_when_the_object_was_written(storage: Storage):
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(seconds=5)
    storage.save("ab/when", io.BytesIO(b"x"))
    written = storage.modified_at("ab/when")
    assert before <= written <= datetime.now(UTC) + timedelta(seconds=5)
    with pytest.raises(ObjectNotFound):
        storage.modified_at("ab/never")


def test_delete_is_idempotent(storage: Storage, leftovers):
    save_bytes(storage, "ab/doomed", b"bye")

    storage.delete("ab/doomed")
    storage.delete("ab/doomed")
    storage.delete("cd/never-existed")

    assert not storage.exists("ab/doomed")
    with pytest.raises(ObjectNotFound):
        storage.open("ab/doomed")
    assert leftovers() == []


def test_iter_keys_with_prefix(storage: Storage):
    keys = ["ab/2", "ab/1", "ac/1", "b/x/y", "ab.c", "abc/d"]
    for key in keys:
        save_bytes(storage, key, key.encode())

    # The order is the backend's: SeaweedFS lists directory by directory, AWS in byte order.
    assert sorted(storage.iter_keys()) == sorted(keys)
    assert sorted(storage.iter_keys("ab/")) == ["ab/1", "ab/2"]
    assert sorted(storage.iter_keys("ab")) == ["ab.c", "ab/1", "ab/2", "abc/d"]
    assert list(storage.iter_keys("b/x/")) == ["b/x/y"]
    assert list(storage.iter_keys("zz")) == []


def test_iter_keys_refuses_bad_prefix(storage: Storage):
    for prefix in ("../", "/ab", "a\\b", "a\x00"):
        with pytest.raises(InvalidKey):
            storage.iter_keys(prefix)


def test_overwrite_replaces_the_object(storage: Storage):
    save_bytes(storage, "ab/k", b"first version, rather long")

    saved = save_bytes(storage, "ab/k", b"second")

    assert saved.size == 6
    assert read(storage, "ab/k") == b"second"
    assert storage.size("ab/k") == 6
    assert list(storage.iter_keys()) == ["ab/k"]


@pytest.mark.parametrize(
    ("size", "max_size"),
    [(11, 10), (12 * MiB, 9 * MiB)],
    ids=["small", "multipart"],
)
def test_max_size_exceeded_leaves_nothing(storage: Storage, leftovers, size, max_size):
    with pytest.raises(ObjectTooLarge) as info:
        save_bytes(storage, "ab/too-big", random_bytes(size), max_size=max_size)

    assert isinstance(info.value, StorageError)
    assert not storage.exists("ab/too-big")
    assert leftovers() == []


def test_max_size_exceeded_keeps_the_previous_object(storage: Storage):
    save_bytes(storage, "ab/k", b"old")

    with pytest.raises(ObjectTooLarge):
        save_bytes(storage, "ab/k", random_bytes(9 * MiB), max_size=8 * MiB)

    assert read(storage, "ab/k") == b"old"


def test_max_size_reached_exactly_is_fine(storage: Storage):
    saved = save_bytes(storage, "ab/exact", b"x" * 10, max_size=10)

    assert saved.size == 10


def test_stream_error_propagates_and_leaves_nothing(storage: Storage, leftovers):
    broken = TrickleStream(random_bytes(20 * MiB), fail_after=10 * MiB)

    with pytest.raises(RuntimeError, match="client went away"):
        storage.save("ab/broken", broken)

    assert not storage.exists("ab/broken")
    assert leftovers() == []


BAD_KEYS = [
    pytest.param("../x", id="parent"),
    pytest.param("ab/../../x", id="parent-inside"),
    pytest.param("/abs", id="absolute"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("", id="empty"),
    pytest.param("..", id="dotdot"),
    pytest.param("ab/.hidden", id="dot-segment"),
    pytest.param("x" * 1025, id="too-long"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(storage: Storage, tmp_path, leftovers, key):
    operations = [
        lambda: save_bytes(storage, key, b"payload"),
        lambda: storage.open(key),
        lambda: storage.size(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.hash_object(key),
        lambda: storage.start_multipart(key),
        lambda: storage.presigned_url(key, filename="x.txt"),
    ]
    for operation in operations:
        with pytest.raises(StorageError):
            operation()

    assert leftovers() == []
    # Nothing may appear next to (or above) the local root either.
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["objects"])
    assert not (tmp_path / "x").exists()


def test_save_refuses_bad_key_with_invalid_key(storage: Storage):
    with pytest.raises(InvalidKey):
        save_bytes(storage, "../escape", b"x")


# -- multipart --------------------------------------------------------------------------------


def test_multipart_primitives_assemble_parts(storage: Storage, leftovers):
    parts_data = [random_bytes(5 * MiB, 1), random_bytes(5 * MiB, 2), b"!"]
    upload_id = storage.start_multipart("ab/assembled", content_type="video/mp4")

    # Out of order, as parallel or resumed uploads deliver them.
    tokens = {}
    for number in (3, 1, 2):
        stream = io.BytesIO(parts_data[number - 1])
        tokens[number] = storage.upload_part("ab/assembled", upload_id, number, stream)
    assert not storage.exists("ab/assembled")
    storage.complete_multipart("ab/assembled", upload_id, [(n, tokens[n]) for n in (1, 2, 3)])

    expected = b"".join(parts_data)
    assert read(storage, "ab/assembled") == expected
    expected_saved = SavedObject("ab/assembled", len(expected), sha256(expected))
    assert storage.hash_object("ab/assembled") == expected_saved
    assert leftovers() == ["ab/assembled"]


def test_multipart_reuploaded_part_replaces_the_first(storage: Storage):
    upload_id = storage.start_multipart("ab/redo")
    storage.upload_part("ab/redo", upload_id, 1, io.BytesIO(b"a" * (5 * MiB)))
    first = storage.upload_part("ab/redo", upload_id, 1, io.BytesIO(b"b" * (5 * MiB)))
    last = storage.upload_part("ab/redo", upload_id, 2, io.BytesIO(b"end"))

    storage.complete_multipart("ab/redo", upload_id, [(1, first), (2, last)])

    assert read(storage, "ab/redo") == b"b" * (5 * MiB) + b"end"


def test_multipart_abort_leaves_nothing(storage: Storage, leftovers):
    upload_id = storage.start_multipart("ab/aborted")
    storage.upload_part("ab/aborted", upload_id, 1, io.BytesIO(random_bytes(5 * MiB)))

    storage.abort_multipart("ab/aborted", upload_id)
    storage.abort_multipart("ab/aborted", upload_id)  # idempotent

    assert not storage.exists("ab/aborted")
    assert leftovers() == []
    with pytest.raises(StorageError):
        storage.upload_part("ab/aborted", upload_id, 2, io.BytesIO(b"late"))


def test_multipart_refuses_small_parts_before_the_last(storage: Storage, leftovers):
    upload_id = storage.start_multipart("ab/small")
    one = storage.upload_part("ab/small", upload_id, 1, io.BytesIO(b"tiny"))
    two = storage.upload_part("ab/small", upload_id, 2, io.BytesIO(b"tiny"))

    with pytest.raises(StorageError):
        storage.complete_multipart("ab/small", upload_id, [(1, one), (2, two)])

    assert not storage.exists("ab/small")
    storage.abort_multipart("ab/small", upload_id)
    assert leftovers() == []


def test_multipart_single_small_part_is_fine(storage: Storage):
    upload_id = storage.start_multipart("ab/single")
    token = storage.upload_part("ab/single", upload_id, 1, io.BytesIO(b"short"))

    storage.complete_multipart("ab/single", upload_id, [(1, token)])

    assert read(storage, "ab/single") == b"short"


def test_multipart_refuses_wrong_tokens_and_bad_part_lists(storage: Storage):
    upload_id = storage.start_multipart("ab/wrong")
    token = storage.upload_part("ab/wrong", upload_id, 1, io.BytesIO(b"data"))

    for parts in ([(1, "0" * 32)], [], [(2, token)], [(1, token), (1, token)]):
        with pytest.raises(StorageError):
            storage.complete_multipart("ab/wrong", upload_id, parts)
    for number in (0, 10_001):
        with pytest.raises(StorageError):
            storage.upload_part("ab/wrong", upload_id, number, io.BytesIO(b"x"))
    with pytest.raises(StorageError):
        storage.upload_part("ab/wrong", "no-such-upload", 1, io.BytesIO(b"x"))
    with pytest.raises(StorageError):
        storage.complete_multipart("ab/other-key", upload_id, [(1, token)])

    storage.complete_multipart("ab/wrong", upload_id, [(1, token)])  # still usable
    assert read(storage, "ab/wrong") == b"data"


def test_large_save_goes_through_in_parts(storage: Storage, request: pytest.FixtureRequest):
    data = random_bytes(20 * MiB, seed=20)

    saved = storage.save("ab/twenty", TrickleStream(data), content_type="video/mp4")

    assert saved == SavedObject("ab/twenty", len(data), sha256(data))
    assert storage.hash_object("ab/twenty") == saved
    assert read(storage, "ab/twenty", 8 * MiB - 1, 8 * MiB) == data[8 * MiB - 1 : 8 * MiB + 1]
    if not isinstance(storage, LocalStorage):
        admin = request.getfixturevalue("s3_admin")
        head = admin.head_object(Bucket=storage.bucket, Key="ab/twenty")
        assert head["ETag"].strip('"').endswith("-3")  # 8 + 8 + 4 MiB
        assert head["ContentType"] == "video/mp4"


def test_presigned_urls_match_the_capability(storage: Storage):
    save_bytes(storage, "ab/link", b"x")

    if storage.supports_presigned_urls:
        assert storage.presigned_url("ab/link", filename="x.txt").startswith("http")
    else:
        with pytest.raises(StorageError):
            storage.presigned_url("ab/link", filename="x.txt")


def test_abandoned_stream_is_closed(storage: Storage):
    save_bytes(storage, "ab/partial", random_bytes(3 * MiB))

    stream = storage.open("ab/partial")
    assert len(next(stream)) > 0
    stream.close()
    assert list(stream) == []
    del stream
    # Dropping an unread stream must not leak its file or connection (ResourceWarning = error).
    storage.open("ab/partial")


# -- create_storage ---------------------------------------------------------------------------


def test_create_storage_refuses_incomplete_settings():
    with pytest.raises(StorageError):
        create_storage({"KEPU_STORAGE": "floppy"})
    with pytest.raises(StorageError):
        create_storage({"KEPU_STORAGE": "local"})
    with pytest.raises(StorageError):
        create_storage({"KEPU_STORAGE": "s3", "KEPU_S3_BUCKET": ""})


# -- content_disposition ----------------------------------------------------------------------


DISPOSITION = re.compile(r"(attachment|inline); filename=\"([^\"]*)\"; filename\*=UTF-8''(\S+)")


def parse_disposition(value: str) -> tuple[str, str, str]:
    match = DISPOSITION.fullmatch(value)
    assert match, value
    kind, fallback, encoded = match.groups()
    return kind, fallback, urllib.parse.unquote(encoded, encoding="utf-8", errors="strict")


def test_content_disposition_keeps_chinese_names():
    kind, fallback, name = parse_disposition(content_disposition(CHINESE_NAME))

    assert (kind, fallback, name) == ("attachment", "download.mp4", CHINESE_NAME)


@pytest.mark.parametrize(
    ("filename", "expected_name", "expected_fallback"),
    [
        # A name is never a path: separators become full-width look-alikes (and "_" in ASCII).
        ("../../etc/passwd", "／..／etc／passwd", "_.._etc_passwd"),
        ("C:\\Users\\x\\report.pdf", "C：＼Users＼x＼report.pdf", "C__Users_x_report.pdf"),
        ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie： x=1.txt", "aSet-Cookie_ x=1.txt"),
        ('say "hi".txt', "say ＂hi＂.txt", "say hi.txt"),
        ("50%.txt", "50%.txt", "50.txt"),
        ("café.mp4", "café.mp4", "cafe.mp4"),
        ("\u202egpj.exe", "gpj.exe", "gpj.exe"),
        (".bashrc", "bashrc", "bashrc"),
        ("..", "download", "download"),
        ("", "download", "download"),
    ],
)
def test_content_disposition_sanitises(filename, expected_name, expected_fallback):
    value = content_disposition(filename)

    assert "\r" not in value and "\n" not in value
    assert value.isascii()
    _kind, fallback, name = parse_disposition(value)
    assert (name, fallback) == (expected_name, expected_fallback)


def test_content_disposition_truncates_long_names_keeping_the_extension():
    _kind, fallback, name = parse_disposition(content_disposition("长" * 300 + ".pdf"))

    assert name.endswith(".pdf") and name.startswith("长")
    assert len(name.encode("utf-8")) <= 255
    assert fallback == "download.pdf"

    _kind, fallback, name = parse_disposition(content_disposition("a" * 300 + ".mp4"))
    assert len(name) <= 255 and name.endswith(".mp4")
    assert len(fallback) <= 150 and fallback.endswith(".mp4")


def test_content_disposition_inline_and_nothing_else():
    assert content_disposition("a.png", "inline").startswith("inline; ")
    with pytest.raises(ValueError):
        content_disposition("a.png", 'attachment; filename="evil"')


# -- S3 only ----------------------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("size", [1234, 9 * MiB + 5], ids=["single-request", "multipart"])
def test_minio_reads_back_what_we_wrote(s3_storage, seaweedfs, size):
    data = random_bytes(size, seed=size)
    s3_storage.save("ab/by-boto", io.BytesIO(data), content_type="application/pdf")

    client = Minio(
        seaweedfs.endpoint.removeprefix("http://"),
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        secure=False,
        region=seaweedfs.region,
    )
    response = client.get_object(s3_storage.bucket, "ab/by-boto")
    try:
        got = response.read()
    finally:
        response.close()
        response.release_conn()
    stat = client.stat_object(s3_storage.bucket, "ab/by-boto")

    assert got == data
    assert stat.size == size
    assert stat.content_type == "application/pdf"


# Presigned URLs point at loopback: go there directly, whatever http_proxy says.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, dict, bytes]:
    """GET ``url``; return status, headers and body, for error statuses too."""
    try:
        with DIRECT.open(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.mark.s3
def test_presigned_url_downloads_as_attachment_with_chinese_name(s3_storage):
    data = random_bytes(4096)
    s3_storage.save("ab/video", io.BytesIO(data))

    url = s3_storage.presigned_url("ab/video", filename=CHINESE_NAME, content_type="video/mp4")
    status, headers, body = fetch(url)

    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "video/mp4"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition
    assert parse_disposition(disposition)[2] == CHINESE_NAME


@pytest.mark.s3
def test_presigned_url_expires(s3_storage):
    s3_storage.save("ab/short-lived", io.BytesIO(b"soon gone"))
    url = s3_storage.presigned_url("ab/short-lived", filename="a.txt", expires=1)

    time.sleep(2)
    status, _headers, body = fetch(url)

    assert status == 403
    assert b"AccessDenied" in body


@pytest.mark.s3
def test_presigned_url_with_tampered_signature_is_refused(s3_storage):
    s3_storage.save("ab/signed", io.BytesIO(b"secret"))
    url = s3_storage.presigned_url("ab/signed", filename="a.txt", expires=60)
    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", url).group(1)
    flipped = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]

    status, _headers, body = fetch(url.replace(signature, flipped))

    assert status == 403
    assert b"secret" not in body
    assert fetch(url)[0] == 200  # the untouched URL still works


@pytest.mark.s3
def test_presigned_url_lifetime_is_checked(s3_storage):
    for expires in (0, -5, 604801):
        with pytest.raises(StorageError):
            s3_storage.presigned_url("ab/x", filename="a.txt", expires=expires)


@pytest.mark.s3
def test_bucket_is_created_on_first_write(s3_config, s3_admin):
    config = s3_config()
    with create_storage(config) as backend:
        assert not backend.exists("ab/first")  # reading a missing bucket creates nothing
        with pytest.raises(s3_admin.exceptions.ClientError):
            s3_admin.head_bucket(Bucket=config["KEPU_S3_BUCKET"])

        backend.save("ab/first", io.BytesIO(b"1"))

        s3_admin.head_bucket(Bucket=config["KEPU_S3_BUCKET"])
        assert read(backend, "ab/first") == b"1"


@pytest.mark.s3
def test_wrong_secret_key_is_a_storage_error(s3_storage, s3_config):
    s3_storage.save("ab/there", io.BytesIO(b"x"))  # creates the bucket with good keys
    config = s3_config(KEPU_S3_BUCKET=s3_storage.bucket, KEPU_S3_SECRET_KEY="not-the-secret")

    with create_storage(config) as wrong:
        for operation in (
            lambda: wrong.save("ab/new", io.BytesIO(b"x")),
            lambda: wrong.open("ab/there"),
            lambda: wrong.exists("ab/there"),  # not False: the answer is unknown
            lambda: wrong.delete("ab/there"),
            lambda: list(wrong.iter_keys()),
        ):
            with pytest.raises(StorageError) as info:
                operation()
            assert not isinstance(info.value, ObjectNotFound)
            assert type(info.value).__module__ == "storage.base"

    assert read(s3_storage, "ab/there") == b"x"


@pytest.mark.s3
def test_unreachable_server_is_a_storage_error():
    config = {
        "KEPU_STORAGE": "s3",
        "KEPU_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "KEPU_S3_BUCKET": "kepu-nowhere",
        "KEPU_S3_ACCESS_KEY": "key",
        "KEPU_S3_SECRET_KEY": "secret",
    }
    with create_storage(config) as backend:
        with pytest.raises(StorageUnavailable) as info:
            backend.save("ab/lost", io.BytesIO(b"x"))
        assert type(info.value).__module__ == "storage.base"
        with pytest.raises(StorageUnavailable):
            backend.exists("ab/lost")


class CuttableProxy:
    """A loopback TCP proxy in front of the S3 server, to cut and restore like an outage."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: same port again
        self._spawn(self._accept, listener)
        with self._lock:
            self._sockets.append(listener)

    def cut(self) -> None:
        """Drop the listener and every open connection, as a crashed server would."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            threads, self._threads = self._threads, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes threads blocked in accept() or recv()
            sock.close()
        for thread in threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.mark.s3
def test_s3_outage_during_upload_fails_cleanly_and_a_retry_works(seaweedfs, s3_config, s3_admin):
    proxy = CuttableProxy(seaweedfs.ports["s3"])
    proxy.start()
    try:
        config = s3_config(KEPU_S3_ENDPOINT=proxy.endpoint)
        data = random_bytes(20 * MiB, seed=28)
        with create_storage(config) as backend:
            backend.save("ab/warm-up", io.BytesIO(b"x"))

            # The server goes away after the first part went up, mid-upload.
            interrupted = TrickleStream(data, when_at=(10 * MiB, proxy.cut))
            with pytest.raises(StorageUnavailable) as info:
                backend.save("ab/video", interrupted)
            assert type(info.value).__module__ == "storage.base"
            with pytest.raises(s3_admin.exceptions.ClientError):
                s3_admin.head_object(Bucket=config["KEPU_S3_BUCKET"], Key="ab/video")

            proxy.start()  # back again: the same upload simply succeeds
            saved = backend.save("ab/video", io.BytesIO(data))
            assert saved == SavedObject("ab/video", len(data), sha256(data))
            assert read(backend, "ab/video") == data
    finally:
        proxy.cut()
