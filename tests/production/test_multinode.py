"""Two web nodes and two workers sharing only PostgreSQL, Redis, S3 and the index directory.

Each web node is a gunicorn server with an instance folder of its own; a request may land on
either. What one node did must be visible to the other through the shared services alone: a tus
upload whose PATCHes alternate between the nodes completes byte for byte (its unfinished part
lives in S3, not on a node), a resource uploaded at A and approved at B is processed by a worker,
found by A's search and downloaded through B, and the login limit counts the attempts of both.
"""

import base64
import hashlib
import http.client
import json
import random
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig
from sqlalchemy import func, select

from cloud.accounts.models import RateLimitHit
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.uploads.models import Upload
from tests.conftest import TESTDATA
from tests.production.conftest import PASSWORD, token, wait_for
from tests.support.production import host_port

pytestmark = pytest.mark.production

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
PHOTO = f"{TESTDATA}/images/sharp_2569067123_aca715a2ee_o.jpg"


def metadata(**values):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_upload(http, urls, headers, data, chunks, **meta):
    """Create the upload at the first node, then PATCH ``chunks`` (sizes) to the nodes in turn,
    asking the next node for the offset before each PATCH; return the upload's id."""
    created = http.post(
        f"{urls[0]}/api/v1/uploads/",
        headers={**TUS, **headers, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**meta)},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    path = urlsplit(created.headers["Location"]).path
    offset = 0
    for turn, size in enumerate(chunks):
        node = urls[turn % len(urls)]
        head = http.head(f"{node}{path}", headers={**TUS, **headers}, timeout=60)
        assert int(head.headers["Upload-Offset"]) == offset  # what the other node stored
        piece = data[offset : offset + size]
        answer = http.patch(
            f"{node}{path}",
            data=piece,
            headers={**TUS, **headers, "Upload-Offset": str(offset),
                     "Content-Type": "application/offset+octet-stream"},
            timeout=120,
        )  # fmt: skip
        assert answer.status_code == 204, answer.text
        offset += len(piece)
        assert int(answer.headers["Upload-Offset"]) == offset
    assert offset == len(data)
    return path.rsplit("/", 1)[-1]


def s3_client(production):
    server = production.seaweedfs
    return boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name=server.region,
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"),
    )  # fmt: skip


def test_a_tus_upload_alternating_between_the_nodes_completes_byte_for_byte(production, production_app,
                                                                          people, http):  # fmt: skip
    a, b = production.web_urls
    headers = token(http, a, people["owner"])
    data = random.Random(13).randbytes(19 * MiB + 4321)
    # Uneven chunks: parts of 8 MiB are completed across PATCHes to different nodes, and the
    # bytes past the last whole part (the tail) are picked up by the other node each time.
    chunks = [3 * MiB, 6 * MiB + 7, 5 * MiB, MiB // 2, 10 * MiB]
    upload_id = tus_upload(http, [a, b], headers, data, chunks, filename="科普视频.mp4", filetype="video/mp4",
                           resource_type="video")  # fmt: skip
    with production_app.app_context():
        upload = db.session.get(Upload, upload_id)
        assert upload.completed_at is not None
        stored = db.session.get(StoredFile, upload.stored_file_id)
        key, size, sha256 = stored.key, stored.size, stored.sha256
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    s3 = s3_client(production)
    try:
        body = s3.get_object(Bucket=production.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha256
        leftover = s3.list_objects_v2(Bucket=production.bucket, Prefix=f"uploads/{upload_id}/")
        assert leftover.get("KeyCount", 0) == 0  # no tail object left behind
        assert s3.list_multipart_uploads(Bucket=production.bucket).get("Uploads", []) == []
    finally:
        s3.close()


def test_uploaded_at_a_approved_at_b_found_by_a_and_downloaded_through_b(production, people, http):
    a, b = production.web_urls
    owner_a, owner_b = token(http, a, people["owner"]), token(http, b, people["owner"])
    reviewer_b, station_b = token(http, b, people["reviewer"]), token(http, b, people["station"])
    with open(PHOTO, "rb") as fh:
        photo = fh.read()
    # Small chunks: every PATCH leaves a tail in S3 that the other node reads back.
    meta = {"filename": "春天的花海.jpg", "filetype": "image/jpeg", "resource_type": "image"}
    upload_id = tus_upload(http, [a, b], owner_a, photo, [200_000] * 4 + [len(photo)], **meta)
    created = http.post(f"{b}/api/v1/resources", json={"kind": "image", "title": "多节点测试花海",
                        "upload_id": upload_id, "tags": "多节点"}, headers=owner_b, timeout=60)  # fmt: skip
    assert created.status_code == 201, created.text
    rid = created.json()["id"]

    def state():
        return http.get(f"{a}/api/v1/resources/{rid}", headers=owner_a, timeout=60).json()["state"]

    assert wait_for(
        "a worker to process the image", lambda: state() in {"processed", "failed"}
    ) and state() == ("processed")
    assert http.post(f"{a}/api/v1/resources/{rid}/submit", headers=owner_a, timeout=60).status_code == 200
    assert http.post(f"{b}/api/v1/review/{rid}/claim", headers=reviewer_b, timeout=60).status_code == 200
    assert http.post(f"{b}/api/v1/review/{rid}/approve", headers=reviewer_b, timeout=60).status_code == 200

    def found_at_a():
        items = http.get(f"{a}/api/v1/search", params={"q": "多节点"}, timeout=60).json()["items"]
        return [i["id"] for i in items]

    assert wait_for("the worker to index it and node A to see it", found_at_a) == [rid]

    link = http.get(f"{b}/api/v1/resources/{rid}/download", params={"rendition": "source"},
                    headers=station_b, allow_redirects=False, timeout=60)  # fmt: skip
    assert link.status_code == 302
    assert link.headers["Location"].startswith(production.seaweedfs.endpoint)  # presigned, not via the app
    got = http.get(link.headers["Location"], timeout=60)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(photo).digest()


def _post(url, path, body, source):
    host, port = host_port(url)
    connection = http.client.HTTPConnection(host, port, timeout=60, source_address=(source, 0))
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_login_limit_counts_the_attempts_at_both_nodes(production, production_app, people):
    urls = production.web_urls
    source = "127.0.0.7"  # an address of its own: the other tests' logins stay under the limit
    statuses = [
        _post(urls[i % 2], "/api/v1/auth/token", {"login": f"guess{i}", "password": "WrongPass1"}, source)
        for i in range(26)
    ]
    # "20 per minute" per address (the default), whichever node is asked.
    assert statuses == [401] * 20 + [429] * 6
    ok = _post(urls[1], "/api/v1/auth/token", {"login": people["station"], "password": PASSWORD}, source)
    assert ok == 429  # even a right password waits out the window at either node
    with production_app.app_context():  # counted in Redis (KEPU_REDIS_URL), not in the database
        assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) == 0


def test_a_session_begun_at_one_node_is_valid_at_the_other(production, people, http):
    a, b = production.web_urls
    page = http.get(f"{a}/account/login", timeout=60)
    csrf = page.text.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    answer = http.post(f"{b}/account/login", data={"login": people["station"], "password": PASSWORD,
                       "csrf_token": csrf}, allow_redirects=False, timeout=60)  # fmt: skip
    assert answer.status_code == 302  # B accepted A's CSRF token: the same secret key
    # The session cookie B set opens a page for members only at A (anonymous: sent to log in).
    mine = http.get(f"{a}/messages/", allow_redirects=False, timeout=60)
    assert mine.status_code == 200, mine.headers.get("Location")
    http.cookies.clear()
    assert http.get(f"{a}/messages/", allow_redirects=False, timeout=60).status_code == 302
