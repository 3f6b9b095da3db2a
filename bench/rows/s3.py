"""Rows for ``make bench``: the S3 paths, each beside its limit measured in the same run.

* upload (tus, through the app) into S3, MB/s, against a boto3 multipart upload (its default
  TransferConfig: 8 MiB parts, 10 threads) of the same bytes to the same SeaweedFS server;
* download (presigned redirect: the app's 302, then the object from S3), MB/s, against a
  presigned GET of the same object without the app;
* the gunicorn worker's peak RSS during that upload and download, against its idle RSS.

The app runs as bench/upload_bench.py runs it (gunicorn, 1 worker × 4 threads, SQLite, SeaweedFS
from tests/support/seaweedfs.py); the tus client sends 32 MiB PATCHes of a generated stream
(``KEPU_BENCH_S3_MIB``, default 1024 MiB) that starts with a real MP4, so the finished upload can
become a resource. Each side runs twice (downloads three times), alternating, and the best run
counts (the machine is shared). The resource is published by setting its row (no worker runs
here): the download path is what is measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

from bench.table import Row
from bench.upload_bench import (
    MiB,
    RssSampler,
    Source,
    create_upload,
    login,
    patch,
    prepare,
    request,
    start_gunicorn,
)
from storage.s3 import client_config

ROOT = Path(__file__).resolve().parents[2]
HEAD_FILE = ROOT.parent / "shared" / "testdata" / "video" / "moviepy_smpte-2997.mp4"
PATCH_BYTES = 32 * MiB
ROUNDS = 2  # uploads per side
DOWNLOAD_ROUNDS = 3
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Data:
    """``size`` reproducible bytes: a real MP4 followed by seeded random 1 MiB blocks."""

    def __init__(self, size, seed=2026):
        rng = random.Random(seed)
        self.size = size
        self.head = HEAD_FILE.read_bytes()
        self.pool = [rng.randbytes(MiB) for _ in range(16)]
        self.order = [rng.randrange(16) for _ in range(size // MiB + 2)]
        digest = hashlib.sha256()
        for piece in self.chunks(0, size):
            digest.update(piece)
        self.sha256 = digest.hexdigest()

    def chunks(self, start, end):
        position = start
        while position < end:
            if position < len(self.head):
                piece = self.head[position : min(end, len(self.head))]
            else:
                block, inner = divmod(position - len(self.head), MiB)
                piece = self.pool[self.order[block]][inner : inner + min(MiB - inner, end - position)]
            yield piece
            position += len(piece)


class Reader:
    """A file object over ``Data`` for boto3's upload_fileobj (read-only, forward)."""

    def __init__(self, data):
        self.iterator = data.chunks(0, data.size)
        self.pending = b""

    def read(self, size=-1):
        out = [self.pending]
        have = len(self.pending)
        while size < 0 or have < size:
            piece = next(self.iterator, None)
            if piece is None:
                break
            out.append(piece)
            have += len(piece)
        joined = b"".join(out)
        if size < 0:
            self.pending = b""
            return joined
        self.pending = joined[size:]
        return joined[:size]


class _SourceShim:
    """What bench.upload_bench.patch() reads from: ``chunks(start, end)``."""

    def __init__(self, data):
        self.data = data

    def chunks(self, start, end):
        return self.data.chunks(start, end)


def tus_upload(port, auth, data):
    started = time.monotonic()
    path = create_upload(port, auth, data.size, "基准测试视频.mp4")
    offset = 0
    shim = _SourceShim(data)
    while offset < data.size:
        length = min(PATCH_BYTES, data.size - offset)
        status, new_offset = patch(port, path, auth, shim, offset, length)
        if status != 204:
            raise RuntimeError(f"PATCH at {offset}: {status}")
        offset = int(new_offset)
    return path.rsplit("/", 1)[-1], time.monotonic() - started


def read_url(url):
    started = time.monotonic()
    size = 0
    with _DIRECT.open(url, timeout=300) as response:
        while chunk := response.read(MiB):
            size += len(chunk)
    return size, time.monotonic() - started


def publish(workdir, port, auth, upload_id):
    """Make a resource of the upload and publish it by its row (no worker runs in this bench)."""
    body = json.dumps({"kind": "video", "title": "基准测试视频", "channel": "科技", "upload_id": upload_id})
    status, _, answer = request(
        port, "POST", "/api/v1/resources", {**auth, "Content-Type": "application/json"}, body
    )
    if status != 201:
        raise RuntimeError(f"resource: {status} {answer[:300]!r}")
    rid = json.loads(answer)["id"]
    connection = sqlite3.connect(workdir / "kepu.db")
    try:
        now = datetime.now(UTC).isoformat(sep=" ")
        connection.execute(
            "UPDATE resource SET state = 'approved', published_at = ? WHERE id = ?", (now, rid)
        )
        connection.commit()
        key = connection.execute(
            "SELECT f.key FROM resource_file rf JOIN stored_file f ON f.id = rf.stored_file_id "
            "WHERE rf.resource_id = ? AND rf.role = 'source'",
            (rid,),
        ).fetchone()[0]
    finally:
        connection.close()
    return rid, key


def app_download(port, auth, rid):
    started = time.monotonic()
    status, headers, _ = request(port, "GET", f"/api/v1/resources/{rid}/download?rendition=source", auth)
    if status != 302:
        raise RuntimeError(f"download link: {status}")
    size, _ = read_url(headers["Location"])
    return size, time.monotonic() - started


def measure(size_mib):
    data = Data(size_mib * MiB)
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kepu-bench-s3-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        env, _ = prepare(workdir, True, stack)
        server, port = start_gunicorn(env, 4, stack)
        auth = login(port)
        s3 = boto3.client(
            "s3",
            endpoint_url=env["KEPU_S3_ENDPOINT"],
            aws_access_key_id=env["KEPU_S3_ACCESS_KEY"],
            aws_secret_access_key=env["KEPU_S3_SECRET_KEY"],
            region_name=env["KEPU_S3_REGION"],
            config=client_config(),
        )
        bucket = env["KEPU_S3_BUCKET"]
        # As upload_bench does: the idle RSS is taken after a tiny upload has loaded the backend.
        warm = Source(1000, seed=1)
        if patch(port, create_upload(port, auth, 1000, "warm-up.mp4"), auth, warm, 0, 1000)[0] != 204:
            raise RuntimeError("warm-up upload failed")
        sampler = RssSampler(server.pid)
        time.sleep(1)
        for _ in range(20):
            sampler.sample()
            time.sleep(0.05)
        idle, sampler.peak = sampler.peak, 0

        # The worker's RSS is sampled throughout; the boto3 runs do not touch it.
        stack.enter_context(sampler)
        ours_up, ref_up, uploads = [], [], []
        for _ in range(ROUNDS):
            started = time.monotonic()
            s3.upload_fileobj(Reader(data), bucket, "bench/reference", Config=TransferConfig())
            ref_up.append(data.size / 1e6 / (time.monotonic() - started))
            s3.delete_object(Bucket=bucket, Key="bench/reference")
            upload_id, seconds = tus_upload(port, auth, data)
            ours_up.append(data.size / 1e6 / seconds)
            uploads.append(upload_id)
        rid, key = publish(workdir, port, auth, uploads[-1])
        recorded = (
            sqlite3.connect(workdir / "kepu.db")
            .execute("SELECT sha256, size FROM stored_file WHERE key = ?", (key,))
            .fetchone()
        )
        if tuple(recorded) != (data.sha256, data.size):
            raise RuntimeError(f"the stored file's SHA-256/size {recorded} differ from what was sent")

        ours_down, ref_down = [], []
        for _ in range(DOWNLOAD_ROUNDS):
            url = s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
            )
            size, seconds = read_url(url)
            assert size == data.size
            ref_down.append(size / 1e6 / seconds)
            size, seconds = app_download(port, auth, rid)
            assert size == data.size
            ours_down.append(size / 1e6 / seconds)
        s3.close()
        return {
            "ours_up": max(ours_up),
            "ref_up": max(ref_up),
            "ours_down": max(ours_down),
            "ref_down": max(ref_down),
            "idle": idle / 1e6,
            "peak": sampler.peak / 1e6,
            "runs": (ours_up, ref_up, ours_down, ref_down),
        }


def rows() -> list[Row]:
    size_mib = int(os.environ.get("KEPU_BENCH_S3_MIB", "1024"))
    m = measure(size_mib)
    up, ref_up, down, ref_down = m["runs"]
    runs = lambda values: "/".join(f"{v:.0f}" for v in values)  # noqa: E731
    return [
        Row(
            path=f"upload (tus, through the app) into S3, {size_mib} MiB in 32 MiB PATCHes",
            ours=m["ours_up"],
            unit="MB/s",
            limit_label="boto3 multipart upload of the same bytes to the same server",
            limit=m["ref_up"],
            target="≥ 0.8×",
            met=m["ours_up"] >= 0.8 * m["ref_up"],
            note=f"runs ours {runs(up)}, boto3 {runs(ref_up)} MB/s",
        ),
        Row(
            path="download (presigned redirect)",
            ours=m["ours_down"],
            unit="MB/s",
            limit_label="presigned GET of the same object, no app",
            limit=m["ref_down"],
            target="≥ 0.95×",
            met=m["ours_down"] >= 0.95 * m["ref_down"],
            note=f"runs ours {runs(down)}, direct {runs(ref_down)} MB/s",
        ),
        Row(
            path=f"web process memory during a {size_mib} MiB upload and download (S3)",
            ours=m["peak"],
            unit="MB",
            limit_label=f"idle RSS {m['idle']:.0f} MB",
            limit=None,
            target="≤ 150 MB",
            met=m["peak"] <= 150,
            note=f"{m['peak'] / m['idle']:.2f}× idle",
        ),
    ]


if __name__ == "__main__":
    from bench.table import format_table

    print(format_table(rows()))
