"""Row: the resource-center page (资源中心) in requests per second, against a minimal Flask
endpoint on the same gunicorn.

    .venv/bin/python -m bench.run pages          # KEPU_BENCH_QUICK=1: fewer requests

The database and index hold 2,000 published resources made as ``bench/search_bench.py`` makes
them; gunicorn runs as ``scripts/serve.sh`` runs it and serves ``bench/pages_wsgi.py``: the app,
and beside it in the same processes a bare Flask app at ``/__minimal/``. 8 client threads
(a connection per request) send a fixed number of requests to one, then the other, alternating
for three rounds; the medians of requests / wall time are compared.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import search_bench, search_http
from bench.table import QUICK, Row

TARGET = 0.3
THREADS = 8
DOCS = 2_000


def rate(port, path, requests):
    """Requests per second of ``requests`` GETs of ``path`` from THREADS threads at once."""
    errors = []
    barrier = threading.Barrier(THREADS + 1)
    share = requests // THREADS

    def client():
        barrier.wait()
        try:
            for _ in range(share):
                search_http.get(port, path)
        except Exception as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=client) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return share * THREADS / elapsed


def measure(requests, rounds):
    workdir = Path(tempfile.mkdtemp(prefix="kepu-bench-pages-"))
    try:
        path = str(workdir / "index")
        docs = list(search_bench.make_docs(DOCS))
        search_bench.build(path, docs, procs=1, limitmb=256)
        with search_http.serve_app(path, docs, "bench.pages_wsgi:app") as port:
            for _ in range(2 * THREADS):  # warm up both processes
                search_http.get(port, "/resources")
                search_http.get(port, "/__minimal/")
            page, minimal = [], []
            for _ in range(rounds):
                minimal.append(rate(port, "/__minimal/", requests * 4))
                page.append(rate(port, "/resources", requests))
                print(f"  page {page[-1]:.0f} req/s, minimal {minimal[-1]:.0f} req/s", flush=True)
        return statistics.median(page), statistics.median(minimal)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rows() -> list[Row]:
    requests, rounds = (160, 1) if QUICK else (800, 3)
    page, minimal = measure(requests, rounds)
    return [
        Row(
            path="resource-center page (/resources)",
            ours=page,
            unit="req/s",
            limit_label="a minimal Flask endpoint on the same gunicorn",
            limit=minimal,
            target=f"≥ {TARGET}×",
            met=page / minimal >= TARGET,
            note=f"{DOCS} published resources, {THREADS} clients, median of {rounds}",
        )
    ]
