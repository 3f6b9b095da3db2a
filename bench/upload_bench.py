"""Resumable-upload benchmark: a 1 GiB tus upload through gunicorn, cut off half-way and resumed.

    .venv/bin/python bench/upload_bench.py [--size-mib 1024] [--patch-mib 32] [--s3] [--threads 4]

Starts the app under gunicorn (one worker, as scripts/serve.sh runs it) on a free loopback port,
with SQLite and local storage in a temporary directory (or, with ``--s3``, a SeaweedFS server
started by tests/support/seaweedfs.py), creates a verified institution user through the ``flask``
CLI, then uploads a generated stream with a plain http.client tus client. One PATCH in the middle
is cut off after half of its body; the client asks HEAD where to continue and resumes from there.

It prints the total time, the throughput, whether the stored SHA-256 matches what was sent, and
the peak RSS of the gunicorn worker (psutil, every 50 ms) next to its RSS while idle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import free_port  # noqa: E402

MiB = 1024 * 1024
HOST = "127.0.0.1"
PHONE = "13800138000"
PASSWORD = "Bench123"
CREDIT_CODE = "91350100M000100Y43"
POOL_BLOCKS = 64
RSS_TARGET_MB = 150


class Source:
    """A reproducible byte stream of any length, generated on the fly, never held whole.

    Byte ``i`` belongs to block ``i // 1 MiB``, which is one of 64 blocks made once from a seeded
    PRNG and picked by a second seeded sequence, so a resumed upload can regenerate any range.
    """

    def __init__(self, size, seed=2026):
        self.size = size
        rng = random.Random(seed)
        self.pool = [rng.randbytes(MiB) for _ in range(POOL_BLOCKS)]
        self.order = [rng.randrange(POOL_BLOCKS) for _ in range((size + MiB - 1) // MiB)]
        self.digest = hashlib.sha256()
        self.hashed = 0  # the expected SHA-256 covers [0, hashed); resent bytes are not hashed twice

    def chunks(self, start, end):
        """Yield the bytes ``[start, end)`` in pieces of at most 1 MiB."""
        position = start
        while position < end:
            block, inner = divmod(position, MiB)
            piece = self.pool[self.order[block]][inner : inner + min(MiB - inner, end - position)]
            if position <= self.hashed < position + len(piece):
                fresh = piece[self.hashed - position :]
                self.digest.update(fresh)
                self.hashed += len(fresh)
            yield piece
            position += len(piece)

    def sha256(self):
        assert self.hashed == self.size
        return self.digest.hexdigest()


class RssSampler:
    """The largest RSS any gunicorn worker reaches, sampled every 50 ms in a thread."""

    def __init__(self, master_pid, interval=0.05):
        self.master = psutil.Process(master_pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def workers(self):
        return self.master.children(recursive=True)

    def sample(self):
        for process in self.workers():
            with suppress(psutil.NoSuchProcess):  # a worker being replaced
                self.peak = max(self.peak, process.memory_info().rss)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def run(argv, env, **kwargs):
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[:5])}… failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def flask(env, *args):
    return run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env)


def request(port, method, path, headers=None, body=None):
    """One HTTP request on a fresh connection; returns (status, headers, body bytes)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def patch(port, path, headers, source, offset, length, cut_after=None):
    """PATCH ``length`` bytes at ``offset``, streamed; with ``cut_after``, hang up after that many."""
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    try:
        connection.putrequest("PATCH", path)
        sent_headers = {
            **headers,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(length),
        }
        for name, value in sent_headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        end = offset + (length if cut_after is None else cut_after)
        for piece in source.chunks(offset, end):
            connection.send(piece)
        if cut_after is not None:
            connection.sock.shutdown(socket.SHUT_RDWR)
            return None, None
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Upload-Offset")
    finally:
        connection.close()


def settled_offset(port, path, headers):
    """HEAD until the offset stops moving: the server may still be saving a cut-off PATCH."""
    previous = None
    while True:
        status, response_headers, _ = request(port, "HEAD", path, headers)
        if status != 200:
            sys.exit(f"HEAD failed: {status}")
        offset = int(response_headers["Upload-Offset"])
        if offset == previous:
            return offset
        previous = offset
        time.sleep(0.2)


def wait_for_server(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with status {process.returncode}")
        try:
            status, _, _ = request(port, "OPTIONS", "/api/v1/uploads/")
            if status == 204:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("gunicorn did not answer in time")


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def metadata_header(filename):
    values = {"filename": filename, "filetype": "video/mp4", "resource_type": "video"}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def prepare(workdir, s3, stack):
    """Settings for a fresh instance in ``workdir``, its schema, and an uploader account."""
    env = {
        **os.environ,
        "KEPU_INSTANCE_DIR": str(workdir),
        "KEPU_DATABASE_URL": f"sqlite:///{workdir / 'kepu.db'}",
        "KEPU_STORAGE": "local",
        "KEPU_STORAGE_DIR": str(workdir / "objects"),
        "KEPU_QUEUE_FILE": str(workdir / "queue.sqlite3"),
        "KEPU_SECRET_KEY": secrets.token_hex(32),
        "KEPU_SMS_BACKEND": "outbox",
        "KEPU_SMS_OUTBOX": str(workdir / "sms.jsonl"),
    }
    label = f"local directory {workdir / 'objects'}"
    if s3:
        from tests.support.seaweedfs import SeaweedFS

        seaweed = stack.enter_context(SeaweedFS(stop_timeout=3))
        env.update(
            KEPU_STORAGE="s3",
            KEPU_S3_ENDPOINT=seaweed.endpoint,
            KEPU_S3_BUCKET="kepu-bench",
            KEPU_S3_ACCESS_KEY=seaweed.access_key,
            KEPU_S3_SECRET_KEY=seaweed.secret_key,
            KEPU_S3_REGION=seaweed.region,
        )
        label = f"SeaweedFS S3 at {seaweed.endpoint}"
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "--role", "institution", "--phone", PHONE, "--password", PASSWORD)
    flask(env, "institutions", "create", "--name", "基准测试机构", "--credit-code", CREDIT_CODE,
          "--verified", "--manager", PHONE)  # fmt: skip
    return env, label


def start_gunicorn(env, threads, stack):
    """One gunicorn worker on a free loopback port; returns (process, port)."""
    port = free_port(HOST)
    worker = ["--threads", str(threads)] if threads > 1 else ["--worker-class", "sync"]
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn, "--workers", "1", *worker, "--timeout", "120", "--bind", f"{HOST}:{port}"]
    # scripts/serve.sh caps glibc's malloc arenas for gunicorn the same way.
    env = {"MALLOC_ARENA_MAX": "2", **env}
    process = subprocess.Popen(
        [*argv, "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env, start_new_session=True
    )
    stack.callback(stop, process)
    wait_for_server(port, process)
    return process, port


def login(port):
    body = json.dumps({"login": PHONE, "password": PASSWORD})
    status, _, answer = request(
        port, "POST", "/api/v1/auth/token", {"Content-Type": "application/json"}, body
    )
    if status != 201:
        sys.exit(f"could not get a token: {status} {answer!r}")
    return {"Authorization": f"Bearer {json.loads(answer)['token']}", "Tus-Resumable": "1.0.0"}


def create_upload(port, auth, size, filename):
    headers = {**auth, "Upload-Length": str(size), "Upload-Metadata": metadata_header(filename)}
    status, answer_headers, body = request(port, "POST", "/api/v1/uploads/", headers)
    if status != 201:
        sys.exit(f"creation failed: {status} {body!r}")
    return answer_headers["Location"]


def upload(port, auth, source, chunk):
    """Upload ``source`` in PATCHes of ``chunk`` bytes, cutting one off half-way through.

    Returns (upload path, seconds for the whole upload, seconds for the last PATCH).
    """
    started = time.monotonic()
    path = create_upload(port, auth, source.size, "基准测试视频.mp4")
    offset, cut_done, last_patch = 0, False, 0.0
    while offset < source.size:
        length = min(chunk, source.size - offset)
        if not cut_done and offset + length > source.size // 2:
            cut_done = True
            sent = length // 2 + 12345
            patch(port, path, auth, source, offset, length, cut_after=sent)
            offset = settled_offset(port, path, auth)
            print(f"cut a PATCH after {sent} of its {length} bytes; HEAD says {offset}, resuming there")
            continue
        patch_started = time.monotonic()
        status, new_offset = patch(port, path, auth, source, offset, length)
        last_patch = time.monotonic() - patch_started
        if status == 409:  # what any tus client does: ask where to continue
            offset = settled_offset(port, path, auth)
            continue
        if status != 204:
            sys.exit(f"PATCH at {offset} failed: {status}")
        offset = int(new_offset)
    return path, time.monotonic() - started, last_patch


def stored_hashes(env, workdir, upload_id):
    """The SHA-256 the server recorded for the finished upload, and its object's, read back."""
    from storage import create_storage

    connection = sqlite3.connect(workdir / "kepu.db")
    try:
        key, recorded = connection.execute(
            "SELECT f.key, f.sha256 FROM upload u JOIN stored_file f ON f.id = u.stored_file_id"
            " WHERE u.id = ?",
            (upload_id,),
        ).fetchone()
    finally:
        connection.close()
    with create_storage({k: v for k, v in env.items() if k.startswith("KEPU_")}) as storage:
        return recorded, storage.hash_object(key).sha256


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the upload (default 1024)")
    parser.add_argument("--patch-mib", type=int, default=32, help="size of each PATCH (default 32)")
    parser.add_argument("--s3", action="store_true", help="store in a SeaweedFS S3 server, not a directory")
    parser.add_argument(
        "--threads", type=int, default=4, help="gthread threads (default 4); 1: a sync worker"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="kepu-bench-"))
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        env, storage_label = prepare(workdir, args.s3, stack)
        server, port = start_gunicorn(env, args.threads, stack)
        auth = login(port)

        # Warm up with a tiny upload, so the baseline holds what any upload loads once (the
        # storage backend; boto3 alone is ~25 MB) and the peak shows what a big upload adds.
        warmup = Source(1000, seed=1)
        if patch(port, create_upload(port, auth, 1000, "warm-up.mp4"), auth, warmup, 0, 1000)[0] != 204:
            sys.exit("the warm-up upload failed")
        sampler = RssSampler(server.pid)
        time.sleep(1)
        for _ in range(20):
            sampler.sample()
            time.sleep(0.05)
        idle_rss, sampler.peak = sampler.peak, 0

        source = Source(args.size_mib * MiB)
        worker = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
        print(f"uploading {args.size_mib} MiB in {args.patch_mib} MiB PATCHes to {storage_label}")
        print(f"gunicorn: 1 worker ({worker})")
        with sampler:
            path, elapsed, last_patch = upload(port, auth, source, args.patch_mib * MiB)
        recorded, actual = stored_hashes(env, workdir, path.rsplit("/", 1)[-1])

    expected = source.sha256()
    match = recorded == expected and actual == expected
    peak = sampler.peak
    print(
        f"total time        {elapsed:8.1f} s    (the last PATCH, assembling and hashing: {last_patch:.1f} s)"
    )
    print(
        f"throughput        {source.size / 1e6 / elapsed:8.1f} MB/s ({source.size / MiB / elapsed:.1f} MiB/s)"
    )
    print(f"SHA-256 match     {'yes' if match else 'NO':>8}    ({expected[:16]}…)")
    print(f"worker RSS idle   {idle_rss / 1e6:8.1f} MB   (after a 1 kB warm-up upload)")
    print(
        f"worker RSS peak   {peak / 1e6:8.1f} MB   ({peak / idle_rss:.2f}x idle; "
        f"target < {RSS_TARGET_MB} MB: {'met' if peak < RSS_TARGET_MB * 1e6 else 'MISSED'})"
    )
    return 0 if match else 1


if __name__ == "__main__":
    sys.exit(main())
