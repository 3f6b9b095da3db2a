"""Row: the search API at 100,000 resources under 8 clients, against the bare searcher.

    .venv/bin/python -m bench.run search          # KEPU_BENCH_QUICK=1: 10,000 resources, 1 round

Reuses ``bench/search_bench.py`` (the 100,000 documents made from the real TNEWS titles, the 24
queries, the 8-thread load) and ``bench/search_http.py`` (the database holding exactly the indexed
documents, the app under gunicorn as ``scripts/serve.sh`` runs it). In one run: the index is
built, the bare searcher (``SearchIndex.search``, no Flask) is timed from 8 client threads, then
``GET /api/v1/search`` with the same queries from 8 client threads (a connection per request).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench import search_bench, search_http
from bench.table import QUICK, Row

RATIO_TARGET = 1.5
P95_TARGET_MS = 50.0
THREADS = 8


def measure(docs_count, rounds):
    workdir = Path(tempfile.mkdtemp(prefix="kepu-bench-search-"))
    try:
        path = str(workdir / "index")
        docs = list(search_bench.make_docs(docs_count))
        seconds = search_bench.build(path, docs, procs=2, limitmb=512)
        print(f"  index build: {docs_count} docs in {seconds:.0f} s", flush=True)
        bare = search_bench.bench_bare(path, THREADS, rounds)
        print(
            f"  bare searcher, {THREADS} clients: p50 {bare['p50']:.1f} / p95 {bare['p95']:.1f} ms",
            flush=True,
        )
        with search_http.serve_app(path, docs) as port:

            def search_once(text, options):
                search_http.get(port, search_http.search_url("/api/v1/search", text, options))

            for text, options in search_bench.QUERIES:  # warm up both processes' searchers
                search_once(text, options)
                search_once(text, options)
            api = search_bench.summarize(search_bench.run_load(search_once, THREADS, rounds))
        print(f"  API, {THREADS} clients: p50 {api['p50']:.1f} / p95 {api['p95']:.1f} ms", flush=True)
        return bare, api
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rows() -> list[Row]:
    docs_count, rounds = (10_000, 1) if QUICK else (100_000, 3)
    bare, api = measure(docs_count, rounds)
    ratio = api["p95"] / bare["p95"]
    return [
        Row(
            path=f"search API at {docs_count // 1000}k resources, {THREADS} clients",
            ours=api["p95"],
            unit="ms",
            limit_label="bare searcher, same queries (p95)",
            limit=bare["p95"],
            target=f"≤ {RATIO_TARGET}×, p95 ≤ {P95_TARGET_MS:.0f} ms",
            met=ratio <= RATIO_TARGET and api["p95"] <= P95_TARGET_MS,
            note=f"p95; p50 {api['p50']:.1f} vs {bare['p50']:.1f} ms, {api['n']} requests",
        )
    ]
