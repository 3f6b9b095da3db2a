"""Row: a download from the local storage backend (the signed link, streamed with Range) in MB/s,
against reading the same file from disk.

    .venv/bin/python -m bench.run local_download    # KEPU_BENCH_QUICK=1: 64 MiB instead of 512 MiB

A published resource whose source is a 512 MiB stored object (random bytes, local storage); the
app under gunicorn as ``scripts/serve.sh`` runs it. One client fetches the signed download link
``/files/<token>`` (what ``/api/v1/resources/<id>/download`` redirects to) in 64 MiB Range
requests, as a resuming download manager does, reading 1 MiB at a time; the reference reads the
stored object file with 1 MiB reads. Both from the page cache (the file is read once first),
alternating for three rounds; medians. Every byte downloaded is checked by SHA-256.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import search_http
from bench.table import QUICK, Row

TARGET = 0.5
CHUNK = 1 << 20
RANGE = 64 << 20


def make_object(path, size):
    digest = hashlib.sha256()
    block = os.urandom(CHUNK)
    with open(path, "wb") as out:
        for n in range(size // CHUNK):
            piece = block[n % 251 :] + block[: n % 251]  # no two MiB alike
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def publish(app_dir, source, size):
    """Store ``source`` and make a published resource of it; returns (token path, object path, sha256)."""
    from sqlalchemy import insert

    from cloud import create_app
    from cloud.catalog import downloads
    from cloud.extensions import db
    from cloud.files.service import get_storage, store_file
    from cloud.resources.models import ResourceFile
    from config import Config

    os.environ["KEPU_QUEUE_FILE"] = str(app_dir / "queue.sqlite3")
    settings = Config.load()
    settings.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{app_dir / 'kepu.db'}",
        KEPU_STORAGE_DIR=str(app_dir / "objects"),
        KEPU_INDEX_DIR=str(app_dir.parent / "index"),
        SECRET_KEY="search-bench",
    )
    app = create_app(settings)
    with app.app_context(), app.test_request_context():
        with open(source, "rb") as fh:
            stored = store_file(fh, original_name="科普视频.mp4", content_type="video/mp4")
        db.session.commit()
        db.session.execute(
            insert(ResourceFile.__table__),
            [{"resource_id": 1, "role": "source", "stored_file_id": stored.id, "mime_type": "video/mp4"}],
        )
        db.session.commit()
        token = downloads._serializer().dumps({"r": 1, "f": 1, "n": "source"})
        return f"/files/{token}", get_storage()._path(stored.key), stored.sha256


def download(port, path, size):
    digest = hashlib.sha256()
    started = time.perf_counter()
    for start in range(0, size, RANGE):
        end = min(size, start + RANGE) - 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("GET", path, headers={"Range": f"bytes={start}-{end}"})
            response = conn.getresponse()
            if response.status != 206:
                raise RuntimeError(f"GET {path} with Range answered {response.status}")
            while piece := response.read(CHUNK):
                digest.update(piece)
        finally:
            conn.close()
    return size / (time.perf_counter() - started) / 1e6, digest.hexdigest()


def read_disk(path):
    digest = hashlib.sha256()
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while piece := fh.read(CHUNK):
            digest.update(piece)
    return os.path.getsize(path) / (time.perf_counter() - started) / 1e6, digest.hexdigest()


def measure(size, rounds):
    workdir = Path(tempfile.mkdtemp(prefix="kepu-bench-download-"))
    try:
        index = workdir / "index"
        doc = {"id": 1, "kind": "video", "title": "下载基准", "summary": "", "channel": "科技",
               "published_at": search_http.dt.datetime.now(search_http.dt.UTC), "downloads": 0}  # fmt: skip
        source = workdir / "source.bin"
        sha = make_object(source, size)
        with search_http.serve_app(index, [doc]) as port:
            # serve_app made the database (migrated, the resource in it); the object goes next to it.
            app_dir = index.parent / "app"
            path, stored, stored_sha = publish(app_dir, source, size)
            source.unlink()
            assert stored_sha == sha
            read_disk(stored)  # into the page cache
            ours, disk = [], []
            for _ in range(rounds):
                speed, got = download(port, path, size)
                assert got == sha, "the download is not the stored file"
                ours.append(speed)
                speed, got = read_disk(stored)
                assert got == sha
                disk.append(speed)
                print(f"  download {ours[-1]:.0f} MB/s, disk {disk[-1]:.0f} MB/s", flush=True)
        return statistics.median(ours), statistics.median(disk)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rows() -> list[Row]:
    size, rounds = ((64 << 20), 1) if QUICK else ((512 << 20), 3)
    ours, disk = measure(size, rounds)
    return [
        Row(
            path="download (local backend, Range streaming)",
            ours=ours,
            unit="MB/s",
            limit_label="reading the same file from disk",
            limit=disk,
            target=f"≥ {TARGET}×",
            met=ours / disk >= TARGET,
            note=f"{size >> 20} MiB in {RANGE >> 20} MiB ranges, SHA-256 checked, median of {rounds}",
        )
    ]
