"""The unmodified tuspy client against a live server whose storage is a real S3 server (SeaweedFS)."""

import hashlib
import http.client
import random
import threading
import time
from io import BytesIO
from urllib.parse import urlsplit

import pytest
from minio import Minio
from tusclient import client as tus
from werkzeug.serving import make_server

from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.uploads.models import Upload

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
METADATA = {"filename": "科普视频 第1集.mp4", "filetype": "video/mp4", "resource_type": "video"}


@pytest.fixture
def app_settings(s3_config):
    return s3_config()


@pytest.fixture
def live_url(app):
    """The app served by Werkzeug's threaded server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def bearer(auth):
    auth.create_uploader()
    return auth.token()


@pytest.fixture
def minio_client(seaweedfs):
    return Minio(
        urlsplit(seaweedfs.endpoint).netloc,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        region=seaweedfs.region,
        secure=False,
    )


def source(size, seed):
    return random.Random(seed).randbytes(size)


def read_back(app, minio_client, upload_url):
    """The finished upload's StoredFile, and its object's bytes as read through the minio SDK."""
    with app.app_context():
        upload = db.session.get(Upload, upload_url.rsplit("/", 1)[-1])
        assert upload is not None and upload.completed_at is not None
        stored = db.session.get(StoredFile, upload.stored_file_id)
        key, size, sha256 = stored.key, stored.size, stored.sha256
    response = minio_client.get_object(app.config["KEPU_S3_BUCKET"], key)
    try:
        data = response.read()
    finally:
        response.close()
        response.release_conn()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    return data


def leftovers(app, s3_admin):
    bucket = app.config["KEPU_S3_BUCKET"]
    keys = [o["Key"] for o in s3_admin.list_objects_v2(Bucket=bucket, Prefix="uploads/").get("Contents", [])]
    multiparts = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return keys, multiparts


def test_tuspy_uploads_in_uneven_chunks_byte_for_byte(app, live_url, bearer, minio_client, s3_admin):
    data = source(20 * MiB + 12345, seed=1)
    client = tus.TusClient(f"{live_url}/api/v1/uploads/", headers=bearer)
    uploader = client.uploader(file_stream=BytesIO(data), chunk_size=6 * MiB, metadata=METADATA)
    uploader.upload_chunk()
    uploader.chunk_size = 3 * MiB // 2  # the next PATCH ends inside a part, leaving a tail
    uploader.upload_chunk()
    assert uploader.get_offset() == 6 * MiB + 3 * MiB // 2
    uploader.chunk_size = 6 * MiB
    uploader.upload()
    assert uploader.offset == len(data)
    assert read_back(app, minio_client, uploader.url) == data
    assert leftovers(app, s3_admin) == ([], [])


def test_tuspy_resumes_an_interrupted_upload_with_checksums(app, live_url, bearer, minio_client, s3_admin):
    data = source(21 * MiB + 7, seed=2)
    client = tus.TusClient(f"{live_url}/api/v1/uploads/", headers=bearer)
    first = client.uploader(
        file_stream=BytesIO(data), chunk_size=6 * MiB, metadata=METADATA, upload_checksum=True
    )
    first.upload(stop_at=12 * MiB)  # two chunks, then the "browser tab" is closed
    assert first.get_offset() == 12 * MiB

    # A third PATCH dies half-way: the socket closes after 5 of its 8 MiB.
    url = urlsplit(first.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.putrequest("PATCH", url.path)
        for name, value in {
            **bearer,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(12 * MiB),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(8 * MiB),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(data[12 * MiB : 17 * MiB])
    finally:
        connection.close()
    # The server keeps what arrived once it notices the connection is gone.
    deadline = time.monotonic() + 30
    while first.get_offset() != 17 * MiB and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.get_offset() == 17 * MiB

    resumed = client.uploader(
        file_stream=BytesIO(data), url=first.url, chunk_size=6 * MiB, upload_checksum=True
    )
    assert resumed.offset == 17 * MiB
    resumed.upload()
    stored = read_back(app, minio_client, first.url)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert leftovers(app, s3_admin) == ([], [])
