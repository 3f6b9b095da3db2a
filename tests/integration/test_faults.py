"""Faults survived on purpose in the production profile (issue 13, item 4).

PostgreSQL (the suite's), Redis, a SeaweedFS S3 server, gunicorn with two web processes and two
task workers run as separate processes (tests/support/restartable_profile.py); each test breaks one of
them while work is under way and checks that nothing was lost and nothing done twice.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from urllib.parse import urlsplit

import boto3
import psutil
import pytest
from botocore.config import Config
from sqlalchemy import func, select, text

from cloud.accounts.models import Role, UserRole
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.resources.models import JobStatus, ProcessingJob, Resource, ResourceFile
from cloud.uploads.models import Upload
from tests.conftest import TESTDATA
from tests.support.restartable_profile import RestartableProfile

pytestmark = pytest.mark.production

OWNER, REVIEWER, STATION = "13800138000", "13700137000", "13600136000"
MiB = 1024 * 1024
VIDEO = f"{TESTDATA}/video/moviepy_smpte-2997.mp4"
IMAGE = f"{TESTDATA}/images/pillow_flower.jpg"
OTHER_IMAGE = f"{TESTDATA}/images/pillow_iptc.jpg"


# -- the profile ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profile(_schema, database_url):
    settings = {
        # Lost work is looked for after this long (the default is 120 s).
        "KEPU_RECOVERY_GRACE_SECONDS": 2,
    }
    # Its own directory, kept when KEPU_KEEP_PROFILE is set (the nodes' logs are in logs/).
    workdir = tempfile.mkdtemp(prefix="kepu-faults-")
    try:
        with RestartableProfile(
            database_url, workdir, bucket=f"kepu-faults-{uuid.uuid4().hex[:8]}", settings=settings
        ) as running:
            yield running
    finally:
        if not os.environ.get("KEPU_KEEP_PROFILE"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def app_settings(profile):
    """The test's own app (for looking into the database and storage) sees the same services."""
    return {
        **profile.storage_settings(),
        "KEPU_INDEX_DIR": profile.env["KEPU_INDEX_DIR"],
        "KEPU_RECOVERY_GRACE_SECONDS": 2,
    }


@pytest.fixture
def s3(profile):
    client = boto3.client(
        "s3",
        endpoint_url=profile.s3.endpoint,
        aws_access_key_id=profile.s3.access_key,
        aws_secret_access_key=profile.s3.secret_key,
        region_name=profile.s3.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    yield client
    client.close()


@pytest.fixture
def nodes_running(profile):
    """Whatever a test stopped is running again for the next one."""
    yield
    if profile.s3._process is None:
        profile.start_s3()
    while len(profile.workers) < profile.worker_count:
        profile.start_worker()


class Http:
    """A plain HTTP client for the profile's web processes (no redirects followed)."""

    def __init__(self, base):
        self.base = urlsplit(base)

    def __call__(self, method, path, headers=None, body=None, timeout=60):
        connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method, path, headers=None, payload=None):
        body = json.dumps(payload).encode() if payload is not None else None
        status, _, answer = self(method, path, {**(headers or {}), "Content-Type": "application/json"}, body)
        return status, (json.loads(answer) if answer else None)

    def token(self, phone):
        status, answer = self.json(
            "POST", "/api/v1/auth/token", payload={"login": phone, "password": "Secret123"}
        )
        assert status == 201, answer
        return {"Authorization": f"Bearer {answer['token']}"}

    def post_file(self, headers, kind, title, path, **fields):
        boundary = uuid.uuid4().hex
        with open(path, "rb") as fh:
            content = fh.read()
        parts = []
        for name, value in {"kind": kind, "title": title, **fields}.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.rsplit("/", 1)[-1]}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, _, answer = self(
            "POST",
            "/api/v1/resources",
            {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            b"".join(parts),
        )
        return status, json.loads(answer)


@pytest.fixture
def web(profile):
    return Http(profile.url)


@pytest.fixture
def people(auth, app, web):
    """An uploader, a reviewer and a station, with bearer tokens issued by the web processes."""
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION)
    return {"owner": web.token(OWNER), "reviewer": web.token(REVIEWER), "station": web.token(STATION)}


def wait_for(condition, timeout=90, what="condition", profile=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{profile.logs() if profile else ''}")


def jobs(app, rid=None):
    with app.app_context():
        query = select(ProcessingJob).order_by(ProcessingJob.id)
        if rid is not None:
            query = query.where(ProcessingJob.resource_id == rid)
        rows = db.session.scalars(query).all()
        return [(j.resource_id, j.status, j.step, j.attempts, j.worker) for j in rows]


def settled(app, rids):
    """True once every resource in ``rids`` left 处理中."""
    with app.app_context():
        states = db.session.scalars(select(Resource.state).where(Resource.id.in_(rids))).all()
        return len(states) == len(rids) and all(s != "processing" for s in states)


def renditions(app, rid):
    with app.app_context():
        return dict(
            db.session.execute(
                select(ResourceFile.role, func.count())
                .where(ResourceFile.resource_id == rid)
                .group_by(ResourceFile.role)
            ).all()
        )


def state(app, rid):
    with app.app_context():
        return db.session.get(Resource, rid).state


def tus_metadata(filename, resource_type="video"):
    values = {"filename": filename, "filetype": "video/mp4", "resource_type": resource_type}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def patch(web, headers, location, offset, data):
    return web(
        "PATCH",
        location,
        {
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        data,
        timeout=120,
    )


def head_offset(web, headers, location):
    status, answer, _ = web("HEAD", location, {**headers, "Tus-Resumable": "1.0.0"})
    assert status == 200
    return int(answer["Upload-Offset"])


def assert_chinese_json_error(status, body, code):
    answer = json.loads(body)
    assert set(answer) == {"error"} and {"code", "message"} <= set(answer["error"]) <= {
        "code",
        "message",
        "details",
    }
    assert answer["error"]["code"] == code, answer
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer["error"]["message"]), answer
    assert status == 503


def leftover_upload_objects(s3, profile, upload_id):
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=profile.bucket, Prefix=f"uploads/{upload_id}/").get("Contents", [])
    ]
    multiparts = s3.list_multipart_uploads(Bucket=profile.bucket).get("Uploads", [])
    return keys, multiparts


def publish(web, people, app, kind, title, path, profile):
    status, answer = web.post_file(people["owner"], kind, title, path, channel="科技")
    assert status == 201, answer
    rid = answer["id"]
    wait_for(lambda: settled(app, [rid]), what=f"processing of {title}", profile=profile)
    assert state(app, rid) == "processed", jobs(app, rid)
    assert web.json("POST", f"/api/v1/resources/{rid}/submit", people["owner"])[0] == 200
    assert web.json("POST", f"/api/v1/review/{rid}/claim", people["reviewer"])[0] == 200
    assert web.json("POST", f"/api/v1/review/{rid}/approve", people["reviewer"])[0] == 200
    return rid


# -- S3 ---------------------------------------------------------------------------------------


def test_s3_down_during_a_tus_upload(profile, nodes_running, app, web, people, s3):
    """The uploader gets a Chinese 503 while S3 is down; afterwards the upload resumes from HEAD's
    offset and completes, byte for byte; no resource or file is registered half-way."""
    with open(VIDEO, "rb") as fh:
        data = fh.read()
    owner = people["owner"]
    headers = {**owner, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": tus_metadata("断点视频.mp4")}  # fmt: skip
    status, answer, _ = web("POST", "/api/v1/uploads/", headers)
    assert status == 201
    location = answer["Location"]
    upload_id = location.rsplit("/", 1)[-1]
    third = len(data) // 3
    assert patch(web, owner, location, 0, data[:third])[0] == 204  # kept as the tail object in S3

    profile.stop_s3()
    # The next PATCH needs the tail back from S3: refused in Chinese, JSON, nothing counted.
    status, _, body = patch(web, owner, location, third, data[third : 2 * third])
    assert_chinese_json_error(status, body, "storage_unavailable")
    assert head_offset(web, owner, location) == third
    # A resource made of the unfinished upload is refused too (it is not finished).
    status, answer = web.json(
        "POST", "/api/v1/resources", owner, {"kind": "video", "title": "断点视频", "upload_id": upload_id}
    )
    assert status == 422, answer

    profile.start_s3()
    offset = head_offset(web, owner, location)
    assert offset == third
    status, answer, _ = patch(web, owner, location, offset, data[offset:])
    assert status == 204 and int(answer["Upload-Offset"]) == len(data)

    # S3 goes away again before the resource is created from the finished upload.
    profile.stop_s3()
    payload = {"kind": "video", "title": "断点视频", "channel": "科技", "upload_id": upload_id}
    status, _, body = web("POST", "/api/v1/resources", {**owner, "Content-Type": "application/json"},
                          json.dumps(payload).encode())  # fmt: skip
    assert_chinese_json_error(status, body, "storage_unavailable")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Resource)) == 0
        assert db.session.get(Upload, upload_id) is not None  # still there to be used

    profile.start_s3()
    status, answer = web.json("POST", "/api/v1/resources", owner, payload)
    assert status == 201, answer
    rid = answer["id"]
    wait_for(lambda: settled(app, [rid]), what="processing", profile=profile)
    assert state(app, rid) == "processed", jobs(app, rid)
    assert renditions(app, rid) == {"source": 1, "sd": 1, "poster": 1, "thumbnail": 1}
    with app.app_context():
        source = db.session.get(Resource, rid).file("source").stored_file
        assert (source.size, source.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert db.session.get(Upload, upload_id) is None  # used up
        assert db.session.scalar(select(func.count()).select_from(Resource)) == 1
        key = source.key
    stored = s3.get_object(Bucket=profile.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert leftover_upload_objects(s3, profile, upload_id) == ([], [])
    assert [(s, a) for _, s, _, a, _ in jobs(app, rid)] == [(JobStatus.SUCCEEDED, 1)]


# -- workers, Redis, the database -------------------------------------------------------------


def _kepu_job_processes(profile):
    """ffmpeg (or anything) still running in this profile's scratch directory."""
    scratch = profile.env["KEPU_WORK_DIR"]
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if scratch in cmdline:
            found.append(cmdline[:200])
    return found


def test_worker_killed_mid_transcode(profile, nodes_running, app, web, people):
    status, answer = web.post_file(people["owner"], "video", "被打断的视频", VIDEO, channel="科技")
    assert status == 201, answer
    rid = answer["id"]
    running = wait_for(
        lambda: [j for j in jobs(app, rid) if j[1] == JobStatus.RUNNING and j[2] == "转码标清版本"],
        what="the transcode to start",
        profile=profile,
    )
    pid = int(running[0][4].rsplit(":", 1)[1])
    index = next(i for i, w in enumerate(profile.workers) if w.pid == pid)
    profile.kill_worker(index)
    assert [(s, a) for _, s, _, a, _ in jobs(app, rid)] == [(JobStatus.RUNNING, 1)]

    profile.start_worker()  # what systemd does; its start (or any worker's sweep) requeues the job
    wait_for(lambda: settled(app, [rid]), what="the job", profile=profile)
    assert state(app, rid) == "processed", jobs(app, rid)
    assert [(s, a) for _, s, _, a, _ in jobs(app, rid)] == [(JobStatus.SUCCEEDED, 2)]
    assert renditions(app, rid) == {"source": 1, "sd": 1, "poster": 1, "thumbnail": 1}
    wait_for(lambda: not _kepu_job_processes(profile), timeout=30, what="the killed job's ffmpeg to end")


def test_redis_restarted_with_jobs_queued(profile, nodes_running, app, web, people):
    """Jobs waiting in Redis when it restarts empty are found lost and run, each exactly once."""
    for worker in list(profile.workers):  # nobody takes the tasks: they wait in Redis
        worker.stop(signal.SIGINT)
    profile.workers.clear()
    rids = []
    for n in range(3):
        status, answer = web.post_file(people["owner"], "image", f"排队的图片{n}", IMAGE)
        assert status == 201, answer
        rids.append(answer["id"])
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(ProcessingJob).where(ProcessingJob.enqueued_at.is_not(None))
        ) == 3  # fmt: skip

    profile.restart_redis()  # the three tasks are gone
    # The web processes reconnect by themselves: the next upload is enqueued in the new Redis.
    status, answer = web.post_file(people["owner"], "image", "重启后的图片", IMAGE)
    assert status == 201, answer
    rids.append(answer["id"])

    time.sleep(2.5)  # KEPU_RECOVERY_GRACE_SECONDS
    result = profile.flask("resources", "recover")  # what every worker's sweep runs each minute
    assert "3 lost queued job(s)" in result.stdout, result.stdout
    for _ in range(profile.worker_count):
        profile.start_worker()
    wait_for(lambda: settled(app, rids), what="the jobs", profile=profile)
    for rid in rids:
        assert state(app, rid) == "processed", jobs(app)
        assert [(s, a) for _, s, _, a, _ in jobs(app, rid)] == [(JobStatus.SUCCEEDED, 1)], jobs(app)
        assert renditions(app, rid) == {"source": 1, "preview": 1, "thumbnail": 1}, renditions(app, rid)


def terminate_backends(app, application_name, in_transaction=False):
    """Cut the database connections of ``application_name`` (only those inside an open
    transaction with ``in_transaction``: the request that is reading its body, not idle ones)."""
    state = " AND state = 'idle in transaction'" if in_transaction else ""
    with app.app_context():
        killed = db.session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()" + state
            ),
            {"name": application_name},
        ).all()
        db.session.commit()
    return len(killed)


def test_database_connections_dropped_mid_request(profile, nodes_running, app, web, people):
    """A PATCH whose database connection is cut while its body arrives answers a Chinese 503 and
    keeps nothing; the upload resumes from HEAD; the next requests work; a worker whose
    connections are cut mid-transcode still finishes the job once."""
    with open(VIDEO, "rb") as fh:
        data = fh.read()
    owner = people["owner"]
    headers = {**owner, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": tus_metadata("断线视频.mp4")}  # fmt: skip
    status, answer, _ = web("POST", "/api/v1/uploads/", headers)
    assert status == 201
    location = answer["Location"]
    half = len(data) // 2

    # The PATCH has read its upload row (a connection is checked out, a transaction open) and is
    # waiting for the rest of its body when the database drops every web connection.
    connection = http.client.HTTPConnection("127.0.0.1", profile.port, timeout=60)
    try:
        connection.putrequest("PATCH", location)
        for name, value in {**owner, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                            "Content-Type": "application/offset+octet-stream",
                            "Content-Length": str(half)}.items():  # fmt: skip
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(data[: half // 2])
        wait_for(
            lambda: terminate_backends(app, "kepu-web", in_transaction=True) > 0,
            what="the PATCH's connection (in its transaction) to cut",
        )
        connection.send(data[half // 2 : half])
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert_chinese_json_error(status, body, "database_unavailable")

    # Nothing of that PATCH counts; the client asks where to go on and finishes.
    offset = head_offset(web, owner, location)
    assert offset == 0
    status, answer, _ = patch(web, owner, location, 0, data)
    assert status == 204 and int(answer["Upload-Offset"]) == len(data)
    upload_id = location.rsplit("/", 1)[-1]
    payload = {"kind": "video", "title": "断线视频", "channel": "科技", "upload_id": upload_id}
    status, answer = web.json("POST", "/api/v1/resources", owner, payload)
    assert status == 201, answer
    rid = answer["id"]

    # The worker's connections are cut while it transcodes.
    wait_for(
        lambda: [j for j in jobs(app, rid) if j[1] == JobStatus.RUNNING and j[2] == "转码标清版本"],
        what="the transcode to start",
        profile=profile,
    )
    assert terminate_backends(app, "kepu-worker") > 0
    wait_for(lambda: settled(app, [rid]), what="the job", profile=profile)
    assert state(app, rid) == "processed", jobs(app, rid)
    assert renditions(app, rid) == {"source": 1, "sd": 1, "poster": 1, "thumbnail": 1}
    assert [s for _, s, _, _, _ in jobs(app, rid)] == [JobStatus.SUCCEEDED]

    # Every web process answers again (pool_pre_ping replaces dead pooled connections).
    terminate_backends(app, "kepu-web")
    for _ in range(8):
        status, answer = web.json("GET", "/api/v1/resources/mine", owner)
        assert status == 200, answer


# -- storage consistency ----------------------------------------------------------------------


def test_object_written_then_commit_fails_is_swept(app, client, auth, monkeypatch, s3, profile):
    """The file is in S3, the commit that would have recorded it fails: a Chinese 503, no rows,
    and ``flask storage sweep`` removes the object (and nothing that is recorded)."""
    from tests.conftest import post_multipart

    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    with open(IMAGE, "rb") as fh:
        original = fh.read()
    form = {"kind": "image", "title": "留下的图", "file": (io.BytesIO(original), "a.jpg")}
    kept = post_multipart(client, "/api/v1/resources", form, owner)
    assert kept.status_code == 201
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=profile.bucket).get("Contents", [])}

    from sqlalchemy.exc import OperationalError

    real_commit = db.session.commit

    def failing_commit():
        db.session.rollback()
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with open(OTHER_IMAGE, "rb") as fh:
        form = {"kind": "image", "title": "丢了的图", "file": (io.BytesIO(fh.read()), "b.jpg")}
    lost = post_multipart(client, "/api/v1/resources", form, owner)
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert_chinese_json_error(lost.status_code, lost.data, "database_unavailable")

    after = {o["Key"] for o in s3.list_objects_v2(Bucket=profile.bucket).get("Contents", [])}
    orphans = after - before
    assert len(orphans) == 1  # written before the commit failed
    with app.app_context():
        recorded = set(db.session.scalars(select(StoredFile.key)))
        assert db.session.scalar(select(func.count()).select_from(Resource)) == 1
    assert not orphans & recorded

    result = app.test_cli_runner().invoke(args=["storage", "sweep", "--orphans-older-than", "0"])
    assert result.exit_code == 0, result.output
    now = {o["Key"] for o in s3.list_objects_v2(Bucket=profile.bucket).get("Contents", [])}
    assert not now & orphans
    assert recorded <= now  # every recorded file is still there


def test_object_altered_behind_the_service_is_reported(profile, nodes_running, app, web, people, s3):
    rid = publish(web, people, app, "image", "被改动的图", IMAGE, profile)
    with app.app_context():
        source = db.session.get(Resource, rid).file("source").stored_file
        key, size = source.key, source.size
    with open(IMAGE, "rb") as fh:
        original = fh.read()
    s3.put_object(Bucket=profile.bucket, Key=key, Body=original[::-1])  # same size, other bytes
    assert len(original) == size

    result = profile.flask("storage", "verify", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    bad = [line for line in result.stdout.splitlines() if line.startswith("BAD ")]
    assert len(bad) == 1 and key in bad[0], result.stdout
    status, answer = web.json("GET", f"/api/v1/resources/{rid}/download?rendition=source", people["station"])
    assert status == 410 and answer["error"]["code"] == "file_unavailable", answer


# -- the search index -------------------------------------------------------------------------


QUERIES = ["科普", "火箭", "花", "海洋 生物", ""]


def search_ids(web, q, sort="relevance"):
    from urllib.parse import quote

    status, answer = web.json("GET", f"/api/v1/search?q={quote(q)}&sort={sort}")
    assert status == 200, answer
    return answer["total"], [item["id"] for item in answer["items"]]


def test_search_index_lost_while_serving(profile, nodes_running, app, web, people):
    titles = ["科普火箭发射", "海洋生物科普", "春天的花", "火箭与花"]
    rids = [publish(web, people, app, "image", title, IMAGE, profile) for title in titles]
    index_dir = profile.env["KEPU_INDEX_DIR"]
    wait_for(lambda: search_ids(web, "")[0] == len(rids), what="all indexed", profile=profile)
    expected = {q: search_ids(web, q) for q in QUERIES}
    assert sorted(expected[""][1]) == sorted(rids)
    assert all(expected[q][0] for q in QUERIES), expected

    shutil.rmtree(index_dir)  # the shared volume lost the index
    for _ in range(4):  # both web processes
        for q in QUERIES:
            total, ids = search_ids(web, q)
            assert (total, sorted(ids)) == (expected[q][0], sorted(expected[q][1])), q

    result = profile.flask("search", "reindex")
    assert result.returncode == 0
    for _ in range(4):
        for q in QUERIES:
            assert search_ids(web, q) == expected[q], q
