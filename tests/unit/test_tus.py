"""Resumable uploads (tus 1.0) through the test client, on local storage."""

import base64
import hashlib
import io
import itertools
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage
from cloud.models_base import utcnow
from cloud.uploads import service
from cloud.uploads.models import Upload
from cloud.uploads.service import PART_SIZE
from storage import StorageError
from tests.conftest import csrf_token

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = "application/offset+octet-stream"


def source(size, seed=7):
    return random.Random(seed).randbytes(size)


def metadata(filename="科普视频 第1集.mp4", resource_type="video", filetype="video/mp4"):
    values = {"filename": filename, "resource_type": resource_type, "filetype": filetype}
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items() if v is not None
    )


def create(client, headers, length, **meta):
    return client.post(
        "/api/v1/uploads/",
        headers={**TUS, **headers, "Upload-Length": str(length), "Upload-Metadata": metadata(**meta)},
    )


def patch(client, url, headers, offset, data=b"", **kwargs):
    return client.patch(
        url,
        data=data,
        content_type=CHUNK,
        headers={**TUS, **headers, "Upload-Offset": str(offset), **kwargs.pop("extra", {})},
        **kwargs,
    )


def offset_of(client, url, headers):
    response = client.head(url, headers={**TUS, **headers})
    assert response.status_code == 200, response.status
    return int(response.headers["Upload-Offset"])


def checksum(name, data):
    return f"{name} {base64.b64encode(hashlib.new(name, data).digest()).decode()}"


def upload_row(app, url):
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[-1])
        if row is not None:
            db.session.expunge(row)
        return row


def stored_bytes(app, key):
    with app.app_context():
        return b"".join(get_storage().open(key))


def keys_under(app, prefix):
    with app.app_context():
        return list(get_storage().iter_keys(prefix))


def open_multiparts(app):
    """Unfinished multipart uploads of the local backend (one directory each)."""
    root = get_storage_root(app)
    directory = root / ".multipart"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def get_storage_root(app):
    from pathlib import Path

    return Path(app.config["KEPU_STORAGE_DIR"])


def finished_file(app, url):
    row = upload_row(app, url)
    assert row.completed_at is not None and row.offset == row.length
    with app.app_context():
        stored = db.session.get(StoredFile, row.stored_file_id)
        db.session.expunge(stored)
    return stored


class Body(io.BytesIO):
    """A request body that can stop at a position: wait for a barrier there, or fail there."""

    def __init__(self, data, *, stop_at=None, barrier=None, error=None):
        super().__init__(data)
        self.stop_at, self.barrier, self.error = stop_at, barrier, error

    def readinto(self, buffer):
        position = self.tell()
        if self.stop_at is not None:
            if position == self.stop_at:
                if self.error is not None:
                    raise self.error
                if self.barrier is not None:
                    self.barrier.wait(timeout=30)
                    self.stop_at = None
            elif position < self.stop_at:
                buffer = memoryview(buffer)[: self.stop_at - position]
        return super().readinto(buffer)

    def read(self, size=-1):
        buffer = bytearray(size if size >= 0 else len(self.getbuffer()) - self.tell())
        return bytes(buffer[: self.readinto(buffer)])


@pytest.fixture
def uploader(auth):
    auth.create_uploader()
    return auth.token()


@pytest.fixture
def new_upload(client, uploader):
    def make(length, **meta):
        response = create(client, uploader, length, **meta)
        assert response.status_code == 201, response.get_json()
        return response.headers["Location"]

    return make


# -- discovery and creation --------------------------------------------------------------------


def test_options_describes_the_server(client):
    response = client.options("/api/v1/uploads/")
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,termination,checksum"
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5"}
    assert int(response.headers["Tus-Max-Size"]) == 4 * 1024**3


def test_creation_keeps_the_chinese_file_name_as_metadata(app, client, uploader):
    response = create(client, uploader, 1000, filename="课程视频 第1集.mp4")
    assert response.status_code == 201
    assert response.headers["Tus-Resumable"] == "1.0.0"
    url = response.headers["Location"]
    assert url.startswith("/api/v1/uploads/") and len(url.rsplit("/", 1)[-1]) == 32
    head = client.head(url, headers={**TUS, **uploader})
    assert head.status_code == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", "1000")
    assert head.headers["Cache-Control"] == "no-store"
    echoed = dict(pair.split(" ") for pair in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(echoed["filename"]).decode() == "课程视频 第1集.mp4"
    row = upload_row(app, url)
    assert (row.filename, row.resource_type, row.declared_type) == (
        "课程视频 第1集.mp4",
        "video",
        "video/mp4",
    )
    assert "课程" not in row.key and row.key.startswith("f/")


def test_a_declared_size_over_the_type_limit_is_413_before_anything_is_stored(app, client, uploader):
    response = create(client, uploader, 50 * MiB + 1, filename="大图.png", resource_type="article_image")
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"] == "文章配图文件不能超过 50 MB"
    assert create(client, uploader, 4 * 1024**3 + 1).status_code == 413
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 0
    assert keys_under(app, "") == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Length": "12abc"}, 400),
        ({"Upload-Length": None, "Upload-Defer-Length": "1"}, 400),
        ({"Upload-Metadata": "filename %%%"}, 400),
        ({"Upload-Metadata": "resource_type dmlkZW8="}, 422),  # no file name
        ({"Upload-Metadata": metadata(resource_type="movie")}, 422),
        ({"Upload-Metadata": metadata(filename="shell.php.mp4")}, 422),
        ({"Upload-Metadata": metadata(filename="a.php%00.mp4")}, 422),
        ({"Upload-Metadata": metadata(filename="图.png", resource_type="video")}, 422),
    ],
)
def test_bad_creation_requests_are_refused(client, uploader, headers, status):
    sent = {**TUS, **uploader, "Upload-Length": "10", "Upload-Metadata": metadata()}
    sent.update(headers)
    response = client.post("/api/v1/uploads/", headers={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["message"]
    assert response.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("科" * 300 + ".mp4", "科" * 251 + ".mp4"),
        ("C:\\Users\\张三\\实验.mp4", "实验.mp4"),
    ],
)
def test_names_are_metadata_and_never_a_path(app, client, uploader, sent, kept):
    response = create(client, uploader, 10, filename=sent)
    assert response.status_code == 201
    row = upload_row(app, response.headers["Location"])
    assert row.filename == kept
    assert len(row.filename) <= 255 and row.key.startswith("f/") and "." not in row.key


def test_a_zero_byte_upload_is_finished_at_creation(app, client, new_upload):
    url = new_upload(0, filename="空.mp3", resource_type="audio")
    stored = finished_file(app, url)
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())


# -- PATCH ------------------------------------------------------------------------------------


def test_odd_pieces_interleave_parts_and_tails_into_the_exact_file(app, client, uploader, new_upload):
    data = source(3 * PART_SIZE + 12345)
    url = new_upload(len(data))
    offset = 0
    for size in (3 * MiB, 7 * MiB, 1, 5 * MiB, 2 * MiB + 7, len(data)):
        piece = data[offset : offset + size]
        response = patch(client, url, uploader, offset, piece)
        assert response.status_code == 204, response.get_json()
        offset += len(piece)
        assert response.headers["Upload-Offset"] == str(offset)
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert offset_of(client, url, uploader) == offset
        row = upload_row(app, url)
        assert row.tail_size == offset % PART_SIZE or row.completed_at is not None
        assert len(keys_under(app, f"uploads/{row.id}/")) == (1 if row.tail_size else 0)
        if offset == len(data):
            break
    stored = finished_file(app, url)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.original_name == "科普视频 第1集.mp4"
    assert stored_bytes(app, stored.key) == data
    assert keys_under(app, "uploads/") == []
    assert open_multiparts(app) == []


def test_a_small_upload_needs_no_multipart(app, client, uploader, new_upload):
    data = source(3 * MiB + 5)
    url = new_upload(len(data), filename="photo.jpg", resource_type="image")
    assert patch(client, url, uploader, 0, data[: 2 * MiB]).status_code == 204
    assert open_multiparts(app) == []
    assert patch(client, url, uploader, 2 * MiB, data[2 * MiB :]).status_code == 204
    assert stored_bytes(app, finished_file(app, url).key) == data


def test_a_wrong_offset_is_409_and_changes_nothing(client, uploader, new_upload):
    url = new_upload(100)
    assert patch(client, url, uploader, 0, b"a" * 10).status_code == 204
    for wrong in (0, 5, 11):
        response = patch(client, url, uploader, wrong, b"b" * 10)
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "offset_mismatch"
    assert patch(client, url, uploader, 0, b"", extra={"Upload-Offset": "x"}).status_code == 400
    assert offset_of(client, url, uploader) == 10


def test_a_patch_beyond_the_declared_length_is_refused(app, client, uploader, new_upload):
    url = new_upload(PART_SIZE + 10)
    response = patch(client, url, uploader, 0, source(PART_SIZE + 11))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert offset_of(client, url, uploader) == 0
    assert open_multiparts(app) == []  # the part it had begun is gone with it
    assert patch(client, url, uploader, 0, b"x" * 10).status_code == 204
    assert patch(client, url, uploader, 10, b"y" * (PART_SIZE + 1)).status_code == 413
    assert offset_of(client, url, uploader) == 10


def test_the_body_must_be_an_offset_octet_stream(client, uploader, new_upload):
    url = new_upload(10)
    response = client.patch(
        url,
        data=b"x" * 10,
        content_type="application/json",
        headers={**TUS, **uploader, "Upload-Offset": "0"},
    )
    assert response.status_code == 415


def test_a_big_patch_is_not_held_to_the_form_size_limit(app, client, uploader, new_upload):
    data = source(app.config["MAX_CONTENT_LENGTH"] + 3 * MiB)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data).status_code == 204
    assert finished_file(app, url).sha256 == hashlib.sha256(data).hexdigest()


# -- checksum extension -----------------------------------------------------------------------


def test_a_checksum_mismatch_is_460_keeps_nothing_and_the_right_chunk_then_succeeds(
    app, client, uploader, new_upload
):
    data = source(2 * PART_SIZE + 100)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[:MiB]).status_code == 204
    chunk = data[MiB : MiB + PART_SIZE + 5]  # crosses a part boundary and leaves a new tail
    bad = patch(client, url, uploader, MiB, chunk, extra={"Upload-Checksum": checksum("sha256", b"other")})
    assert bad.status_code == 460
    assert bad.status == "460 Checksum Mismatch"
    assert bad.get_json()["error"]["code"] == "checksum_mismatch"
    assert offset_of(client, url, uploader) == MiB
    assert len(keys_under(app, "uploads/")) == 1  # only the tail from before
    good = patch(client, url, uploader, MiB, chunk, extra={"Upload-Checksum": checksum("sha256", chunk)})
    assert good.status_code == 204
    rest = data[MiB + len(chunk) :]
    assert patch(client, url, uploader, MiB + len(chunk), rest).status_code == 204
    assert stored_bytes(app, finished_file(app, url).key) == data


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_every_advertised_checksum_algorithm_is_accepted(client, uploader, new_upload, algorithm):
    url = new_upload(20)
    ok = patch(
        client, url, uploader, 0, b"0123456789", extra={"Upload-Checksum": checksum(algorithm, b"0123456789")}
    )
    assert ok.status_code == 204
    wrong = patch(
        client, url, uploader, 10, b"abcdefghij", extra={"Upload-Checksum": checksum(algorithm, b"x")}
    )
    assert wrong.status_code == 460
    assert offset_of(client, url, uploader) == 10


@pytest.mark.parametrize("header", ["crc32 AAAAAA==", "sha256 not-base64!", "sha1 AAAA", "sha256"])
def test_an_unsupported_or_malformed_checksum_is_400(client, uploader, new_upload, header):
    url = new_upload(10)
    response = patch(client, url, uploader, 0, b"x" * 10, extra={"Upload-Checksum": header})
    assert response.status_code == 400
    assert offset_of(client, url, uploader) == 0


# -- interrupted and concurrent PATCHes -------------------------------------------------------


@pytest.mark.parametrize("how", ["ends early", "connection reset"])
def test_a_patch_cut_short_keeps_what_arrived_and_resumes_to_the_right_file(
    app, client, uploader, new_upload, how
):
    data = source(3 * PART_SIZE + 777)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[: 2 * MiB]).status_code == 204
    cut = PART_SIZE + 3 * MiB  # one part is filled, then some of the next
    if how == "ends early":
        body = data[2 * MiB : cut]
        response = patch(
            client, url, uploader, 2 * MiB, body, environ_overrides={"CONTENT_LENGTH": str(20 * MiB)}
        )
    else:
        body = Body(
            data[2 * MiB : 22 * MiB], stop_at=cut - 2 * MiB, error=ConnectionResetError("reset by peer")
        )
        response = patch(client, url, uploader, 2 * MiB, input_stream=body)
    assert response.status_code == 204
    assert offset_of(client, url, uploader) == cut
    row = upload_row(app, url)
    assert (len(row.part_list), row.tail_size) == (1, cut - PART_SIZE)
    assert patch(client, url, uploader, cut, data[cut:]).status_code == 204
    assert finished_file(app, url).sha256 == hashlib.sha256(data).hexdigest()


def test_a_cut_short_patch_with_a_checksum_keeps_nothing(client, uploader, new_upload):
    data = source(PART_SIZE * 2)
    url = new_upload(len(data))
    body = data[: PART_SIZE + 10]
    response = patch(
        client,
        url,
        uploader,
        0,
        body,
        extra={"Upload-Checksum": checksum("sha1", data)},
        environ_overrides={"CONTENT_LENGTH": str(len(data))},
    )
    assert response.status_code == 400
    assert offset_of(client, url, uploader) == 0


def race(app, url, headers, offset, chunk):
    """Send ``chunk`` at ``offset`` twice at once; both are half-way through when either finishes."""
    barrier = threading.Barrier(2)
    statuses = []

    def send():
        body = Body(chunk, stop_at=len(chunk) // 2, barrier=barrier)
        with app.test_client() as own_client:
            statuses.append(patch(own_client, url, headers, offset, input_stream=body).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(statuses)


def test_two_patches_at_the_same_offset_exactly_one_wins(app, client, uploader, new_upload):
    data = source(3 * PART_SIZE + 99)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[:MiB]).status_code == 204
    chunk = data[MiB : MiB + PART_SIZE + 2 * MiB]
    assert race(app, url, uploader, MiB, chunk) == [204, 409]
    offset = MiB + len(chunk)
    assert offset_of(client, url, uploader) == offset
    assert len(keys_under(app, "uploads/")) == 1  # the loser's tail is gone
    assert patch(client, url, uploader, offset, data[offset:]).status_code == 204
    stored = finished_file(app, url)
    assert stored_bytes(app, stored.key) == data
    assert open_multiparts(app) == []


def test_two_final_patches_at_once_record_the_file_once(app, client, uploader, new_upload):
    data = source(2 * PART_SIZE + 99)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[: 3 * MiB]).status_code == 204
    assert race(app, url, uploader, 3 * MiB, data[3 * MiB :]) == [204, 409]
    stored = finished_file(app, url)
    assert stored_bytes(app, stored.key) == data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 1
    assert keys_under(app, "uploads/") == []
    assert open_multiparts(app) == []


@pytest.mark.parametrize("with_checksum", [False, True])
def test_a_final_patch_whose_commit_failed_can_be_sent_again(
    app, client, uploader, new_upload, monkeypatch, with_checksum
):
    data = source(3 * PART_SIZE + 99)
    url = new_upload(len(data))
    done = PART_SIZE + 3 * MiB  # one part and a tail: the upload has its multipart upload
    assert patch(client, url, uploader, 0, data[:done]).status_code == 204
    final = data[done:]
    extra = {"Upload-Checksum": checksum("sha1", final)} if with_checksum else {}

    def database_gone(*args, **kwargs):
        raise RuntimeError("the database went away")

    # The object is assembled, then recording it fails: the row still says `done`.
    with monkeypatch.context() as patched:
        patched.setattr("cloud.uploads.service.record_file", database_gone)
        assert patch(client, url, uploader, done, final, extra=extra).status_code == 500
    assert offset_of(client, url, uploader) == done
    assert open_multiparts(app) == []  # completed into the object, so the retry's parts are refused
    if with_checksum:  # the stored bytes are checked against the checksum of the bytes sent again
        other = {"Upload-Checksum": checksum("sha1", b"other")}
        assert patch(client, url, uploader, done, final, extra=other).status_code == 503
        assert offset_of(client, url, uploader) == done
    retry = patch(client, url, uploader, done, final, extra=extra)
    assert retry.status_code == 204
    assert stored_bytes(app, finished_file(app, url).key) == data
    assert keys_under(app, "uploads/") == []


def test_storage_down_mid_patch_is_503_and_the_patch_can_be_retried(
    app, client, uploader, new_upload, monkeypatch
):
    data = source(2 * PART_SIZE + 1)
    url = new_upload(len(data))
    with app.app_context():
        storage = get_storage()
    real_upload_part = storage.upload_part
    calls = []

    def flaky_upload_part(*args):
        calls.append(args[2])
        if len(calls) == 2:
            raise StorageError("S3 is unreachable")
        return real_upload_part(*args)

    monkeypatch.setattr(storage, "upload_part", flaky_upload_part)
    response = patch(client, url, uploader, 0, data)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert offset_of(client, url, uploader) == 0
    assert upload_row(app, url).multipart_id is None
    assert open_multiparts(app) == []
    assert patch(client, url, uploader, 0, data).status_code == 204
    assert stored_bytes(app, finished_file(app, url).key) == data


# -- who may do what --------------------------------------------------------------------------


def test_another_users_upload_is_404_whatever_the_method(auth, client, uploader, new_upload):
    url = new_upload(10)
    auth.create_uploader(phone="13900139000", institution="另一机构", credit_code="91440300708461136T")
    other = auth.token("13900139000")
    assert client.head(url, headers={**TUS, **other}).status_code == 404
    assert patch(client, url, other, 0, b"x" * 10).status_code == 404
    assert client.delete(url, headers={**TUS, **other}).status_code == 404
    assert client.head("/api/v1/uploads/" + "0" * 32, headers={**TUS, **uploader}).status_code == 404
    assert client.head("/api/v1/uploads/nonsense", headers={**TUS, **uploader}).status_code == 404
    assert offset_of(client, url, uploader) == 0


def test_anonymous_callers_get_401(client, new_upload):
    assert create(client, {}, 10).status_code == 401
    url = new_upload(10)
    assert client.head(url, headers=TUS).status_code == 401
    response = patch(client, url, {}, 0, b"x")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_user_outside_a_verified_institution_gets_403_in_chinese(app, auth, client):
    auth.create(phone="13900139000")
    response = create(client, auth.token("13900139000"), 10)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["message"] == "只有通过机构认证的机构用户才能上传资源，请先完成机构认证"
    assert error["details"]["link"] == "/institution"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 0


def test_cookie_callers_need_the_csrf_header(auth, client):
    auth.create_uploader()
    auth.login()
    token = csrf_token(client, "/")
    created = create(client, {"X-CSRFToken": token}, 17 * MiB)
    assert created.status_code == 201
    url = created.headers["Location"]
    refused = patch(client, url, {}, 0, b"x" * 10)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert create(client, {}, 10).status_code == 400
    # A browser's PATCH is bigger than the form limit too.
    assert patch(client, url, {"X-CSRFToken": token}, 0, source(17 * MiB)).status_code == 204


def test_a_different_protocol_version_is_412(client, uploader, new_upload):
    url = new_upload(10)
    for headers in ({"Tus-Resumable": "0.2.2"}, {}):
        response = client.head(url, headers={**uploader, **headers})
        assert response.status_code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.headers["Tus-Resumable"] == "1.0.0"
    response = client.post("/api/v1/uploads/", headers={**uploader, "Tus-Resumable": "2.0.0"})
    assert response.status_code == 412
    assert response.get_json()["error"]["code"] == "unsupported_version"


def test_patch_and_delete_can_come_as_post_with_a_method_override(app, client, uploader, new_upload):
    url = new_upload(20)
    override = {**TUS, **uploader, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"}
    response = client.post(url, data=b"a" * 20, content_type=CHUNK, headers=override)
    assert response.status_code == 204
    assert response.headers["Upload-Offset"] == "20"
    other = new_upload(20)
    assert (
        client.post(other, headers={**TUS, **uploader, "X-HTTP-Method-Override": "DELETE"}).status_code == 204
    )
    assert client.head(other, headers={**TUS, **uploader}).status_code == 404
    assert client.post(url, headers={**TUS, **uploader}).status_code == 405
    not_allowed = client.get(url, headers={**TUS, **uploader})
    assert not_allowed.status_code == 405
    assert not_allowed.headers["Tus-Resumable"] == "1.0.0"


# -- termination and the sweep ----------------------------------------------------------------


def test_termination_removes_the_upload_and_everything_it_stored(app, client, uploader, new_upload):
    data = source(2 * PART_SIZE)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[: PART_SIZE + 5]).status_code == 204
    assert open_multiparts(app) and keys_under(app, "uploads/")
    response = client.delete(url, headers={**TUS, **uploader})
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert client.head(url, headers={**TUS, **uploader}).status_code == 404
    assert patch(client, url, uploader, PART_SIZE + 5, data[PART_SIZE + 5 :]).status_code == 404
    assert open_multiparts(app) == []
    assert keys_under(app, "") == []


def test_the_sweep_removes_only_old_unfinished_uploads(app, client, runner, uploader, new_upload):
    data = source(PART_SIZE + 10)
    old, fresh, finished = new_upload(len(data)), new_upload(len(data)), new_upload(10)
    for url in (old, fresh):
        assert patch(client, url, uploader, 0, data[: PART_SIZE + 5]).status_code == 204
    assert patch(client, finished, uploader, 0, b"x" * 10).status_code == 204
    old_id, finished_id = old.rsplit("/", 1)[-1], finished.rsplit("/", 1)[-1]
    with app.app_context():
        long_ago = utcnow() - timedelta(hours=25)
        db.session.execute(
            update(Upload).where(Upload.id.in_([old_id, finished_id])).values(updated_at=long_ago)
        )
        db.session.commit()
    result = runner.invoke(args=["uploads", "sweep"])
    assert result.exit_code == 0, result.output
    assert "removed 1 abandoned uploads" in result.output
    assert upload_row(app, old) is None
    assert keys_under(app, f"uploads/{old_id}/") == []
    assert len(open_multiparts(app)) == 1  # the fresh upload's
    assert offset_of(client, fresh, uploader) == PART_SIZE + 5
    assert finished_file(app, finished).size == 10
    assert "removed 0" in runner.invoke(args=["uploads", "sweep", "--older-than", "48"]).output
    assert "removed 1" in runner.invoke(args=["uploads", "sweep", "--older-than", "0"]).output


def test_every_route_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/uploads/"]) == {"post"}
    assert set(paths["/uploads/{upload_id}"]) == {"patch", "delete", "post"}
    assert paths["/uploads/"]["post"]["tags"] == ["uploads"]


def test_the_final_patch_records_the_sha256_of_the_bytes_received_without_reading_them_back(
    app, client, uploader, new_upload, monkeypatch
):
    data = source(3 * PART_SIZE + 99)
    url = new_upload(len(data))
    with app.app_context():
        storage = get_storage()

    def no_read_back(key):
        raise AssertionError(f"{key} was read back to hash it")

    monkeypatch.setattr(storage, "hash_object", no_read_back)
    cuts = [0, PART_SIZE + 5, 2 * PART_SIZE, len(data)]  # a tail, then whole parts, then the rest
    for start, end in itertools.pairwise(cuts):
        assert patch(client, url, uploader, start, data[start:end]).status_code == 204
    stored = finished_file(app, url)
    assert (stored.sha256, stored.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert stored_bytes(app, stored.key) == data


def test_an_upload_this_process_has_no_hash_for_is_read_back(app, client, uploader, new_upload):
    # As when the PATCHes before the last one went to another web process.
    data = source(2 * PART_SIZE + 7)
    url = new_upload(len(data))
    assert patch(client, url, uploader, 0, data[:PART_SIZE]).status_code == 204
    service._running.forget(url.rsplit("/", 1)[-1])
    assert patch(client, url, uploader, PART_SIZE, data[PART_SIZE:]).status_code == 204
    assert finished_file(app, url).sha256 == hashlib.sha256(data).hexdigest()


def test_a_patch_whose_commit_failed_leaves_no_hash_to_continue_from(
    app, client, uploader, new_upload, monkeypatch
):
    data = source(3 * PART_SIZE)
    url = new_upload(len(data))
    upload_id = url.rsplit("/", 1)[-1]
    assert patch(client, url, uploader, 0, data[:PART_SIZE]).status_code == 204

    def database_gone():
        raise RuntimeError("the database went away")

    # Other bytes for the next part, and the commit fails: the row stays at PART_SIZE.
    with monkeypatch.context() as patched:
        patched.setattr(db.session, "commit", database_gone)
        wrong = source(PART_SIZE, seed=8)
        assert patch(client, url, uploader, PART_SIZE, wrong).status_code == 500
    assert offset_of(client, url, uploader) == PART_SIZE
    # A state for 2 × PART_SIZE would cover bytes the row never took.
    assert service._running.start(upload_id, 2 * PART_SIZE) is None
    assert patch(client, url, uploader, PART_SIZE, data[PART_SIZE:]).status_code == 204
    assert finished_file(app, url).sha256 == hashlib.sha256(data).hexdigest()
