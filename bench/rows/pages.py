"""Row: the resource-center page (资源中心) in requests per second, against a minimal Flask
endpoint on the same gunicorn.

    .venv/bin/python -m bench.run pages          # KEPU_BENCH_QUICK=1: fewer requests

The database and index hold 2,000 published resources made as ``bench/search_bench.py`` makes
them; gunicorn runs as ``scripts/serve.sh`` runs it and serves ``bench/pages_wsgi.py``: the app,
and beside it in the same processes a bare Flask app at ``/__minimal/``. 8 client threads
(a connection per request) send a fixed number of requests to one, then the other, alternating
for three rounds; the medians of requests / wall time are compared.

The page requests walk a mix of ``URLS`` (each client from its own offset), not one URL: the
plain listing and its pages 2-5, each kind, the three sort orders, a channel, queries and a kind
with a query; anonymous visitors without a cookie, as a crawler or a first visit comes, so the
pages kept per process (``cloud/catalog/pagecache.py``) serve what was rendered before — each URL
is rendered once per process and then again whenever the 30 s limit runs out.
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
_KINDS = ("article", "image", "video", "wallchart", "audio")
URLS = [
    "/resources",
    *(f"/resources?page={n}" for n in range(2, 6)),
    *(f"/resources?type={kind}" for kind in _KINDS),
    "/resources?sort=newest",
    "/resources?sort=downloads",
    "/resources?type=video&sort=downloads",
    "/resources?channel=%E7%A7%91%E6%8A%80",  # 科技
    *(search_http.search_url("/resources", text, options) for text, options in search_bench.QUERIES[:8]),
    search_http.search_url("/resources", "中国", {"kind": "article"}),
]


def rate(port, paths, requests):
    """Requests per second of ``requests`` GETs of ``paths`` (a list, walked in turn) from
    THREADS threads at once."""
    errors = []
    barrier = threading.Barrier(THREADS + 1)
    share = requests // THREADS

    def client(offset):
        barrier.wait()
        try:
            for number in range(share):
                search_http.get(port, paths[(offset + number) % len(paths)])
        except Exception as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(n * 5,)) for n in range(THREADS)]
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
                search_http.get(port, "/resources?q=warm")
                search_http.get(port, "/__minimal/")
            page, minimal = [], []
            for _ in range(rounds):
                minimal.append(rate(port, ["/__minimal/"], requests * 4))
                page.append(rate(port, URLS, requests))
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
            note=f"{DOCS} published resources, {len(URLS)} URLs, {THREADS} clients, median of {rounds}",
        )
    ]
