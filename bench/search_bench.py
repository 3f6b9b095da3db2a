"""Search benchmark: build rate and latency of the bare Whoosh searcher on a 100,000-resource index.

    .venv/bin/python bench/search_bench.py [--docs 100000] [--threads 8] [--rounds 3] [--procs 2]
        [--limitmb 1024] [--keep DIR [--reuse]] [--http]

The documents are made from the 2,010 real TNEWS titles (their keywords and categories) in
``../shared/testdata``: each title is a real title, sometimes with a second real title's first
clause or a keyword appended; the summary strings together two or three other real titles and
the keywords. Kinds, channels, institutions, dates and download counts are drawn from a seeded
generator, so every run indexes the same documents.

It prints:

* the index build rate (``search_index.rebuild``: analysis, Whoosh writing, one commit), and
* p50/p95 latency of ``SearchIndex.search`` (the bare searcher: query building, matching,
  counting, highlighting; no Flask) with 8 threads issuing a fixed list of real queries, and once
  with a single client (the service time; with 8 threads in one process the GIL queues them),
  first with empty caches (cold: each term's postings are read on first use) and then warm.

The HTTP half (the search page and the API under the same load, and the overhead ratio against the
bare figures) plugs in at ``bench_http`` below, with ``--http``.
"""

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TNEWS = ROOT.parent / "shared" / "testdata" / "zh_text" / "fewclue_tnews_test_public.json"
LABELS = ROOT.parent / "shared" / "testdata" / "zh_text" / "fewclue_tnews_label_index2en2zh.json"
KINDS = ("article", "image", "video", "wallchart", "audio")
SEED = 20240501

# Real queries: words from the titles, 1-4 words, mixed scripts, a word inside longer words, a single
# character, a quoted phrase, one with a filter; some match many documents, some few.
QUERIES = [
    ("中国", {}),
    ("美国", {}),
    ("国人", {}),
    ("手机", {}),
    ("5G", {}),
    ("iPhone", {}),
    ("NBA", {}),
    ("2018", {}),
    ("A股", {}),
    ("5G手机", {}),
    ("房价", {}),
    ("农村 土地", {}),
    ("中国 美国", {}),
    ("王者荣耀", {}),
    ("汽车 SUV", {}),
    ("世界杯 冠军", {}),
    ("中国 经济 发展", {}),
    ("人工智能", {}),
    ('"中国人"', {}),
    ("猫", {}),
    ("为什么 中国 美国 日本", {}),
    ("学生", {"kind": "video"}),
    ("游戏", {"sort": "newest"}),
    ("股票", {"sort": "downloads"}),
]


def load_titles():
    """The TNEWS rows and the Chinese category names."""
    with open(TNEWS, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    with open(LABELS, encoding="utf-8") as fh:
        labels = {row["label_desc"]: row["label_zh"] for row in map(json.loads, fh)}
    return rows, labels


def _first_clause(title):
    for mark in "，,：:？?！!":
        if mark in title:
            return title.split(mark, 1)[0]
    return title


def make_docs(count, seed=SEED):
    """``count`` deterministic resource dicts built from the real titles (see module docstring)."""
    rows, labels = load_titles()
    rng = random.Random(seed)
    institutions = [
        (i, f"{rng.choice(['北京', '上海', '四川', '广东', '福建', '甘肃'])}科普机构{i}")
        for i in range(1, 61)
    ]
    start = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    for number in range(1, count + 1):
        row = rows[(number - 1) % len(rows)]
        keywords = [k for k in row["keywords"].split(",") if k]
        title = row["sentence"]
        roll = rng.random()
        if roll < 0.3:
            title = f"{title} {_first_clause(rng.choice(rows)['sentence'])}"
        elif roll < 0.5 and keywords:
            title = f"{title}｜{rng.choice(keywords)}"
        others = [rng.choice(rows)["sentence"] for _ in range(rng.randint(2, 3))]
        summary = "。".join(others) + "。关键词：" + "、".join(keywords)
        institution_id, institution = rng.choice(institutions)
        yield {
            "id": number,
            "title": title,
            "summary": summary,
            "tags": keywords,
            "institution": institution,
            "institution_id": institution_id,
            "kind": rng.choice(KINDS),
            "channel": labels.get(row["label_desc"], "其他"),
            "region_code": f"{110000 + institution_id * 100}",
            "published_at": start + dt.timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)),
            "downloads": int(rng.paretovariate(1.2)) - 1,
        }


def build(path, docs, procs, limitmb):
    """Rebuild the index at ``path`` from ``docs``; returns the seconds taken."""
    from search_index import rebuild

    started = time.perf_counter()
    rebuild(docs, path, procs=procs, limitmb=limitmb)
    return time.perf_counter() - started


def run_load(search_once, threads, rounds):
    """Call ``search_once(query, options)`` for every query ``rounds`` times from ``threads`` threads
    at once (each thread walks the list from a different offset). Returns latencies in ms."""
    latencies, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def client(offset):
        mine = []
        barrier.wait()
        try:
            for i in range(rounds * len(QUERIES)):
                text, options = QUERIES[(offset + i) % len(QUERIES)]
                started = time.perf_counter()
                search_once(text, options)
                mine.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # reported after the run: the benchmark must not hide failures
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client, args=(n * 3,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return latencies


def bench_bare(path, threads, rounds, *, cold=False):
    """p50/p95 (ms) of SearchIndex.search under ``threads`` concurrent callers; with ``cold``, the
    process's caches are emptied first and there is no warm-up pass (what the first searches
    after a restart or a rebuild cost: reading the terms' postings, the sort orders)."""
    from search_index import SearchIndex, postings

    index = SearchIndex(path)
    if cold:
        index.close()
        postings.CACHE.clear()

    def search_once(text, options):
        index.search(text, **options)

    for text, options in [] if cold else QUERIES:  # warm up: searchers, postings, sort orders
        search_once(text, options)
    latencies = run_load(search_once, threads, rounds)
    index.close()
    return summarize(latencies) | {"cache_mb": postings.CACHE.nbytes / 1e6}


def bench_http(path, docs, threads, rounds):
    """The HTTP half (the search page and ``GET /api/v1/search`` served by the app on the index at
    ``path``, under the same load and queries): ``bench/search_http.py``, being written with the
    resource-center pages, run with ``--http``. Returns ``{"page": summarize(...), "api": ...}``,
    which ``main`` prints under the bare row with the p95 ratio.
    """
    import search_http  # bench/ is on sys.path when this file runs as a script

    return search_http.bench_http(path, docs, threads, rounds, QUERIES, run_load, summarize)


def summarize(latencies):
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the query list per thread")
    parser.add_argument("--procs", type=int, default=2, help="indexing processes (Whoosh MpWriter)")
    parser.add_argument("--limitmb", type=int, default=1024, help="indexing memory per process")
    parser.add_argument("--keep", help="build the index in this directory and keep it")
    parser.add_argument("--reuse", action="store_true", help="search the index kept by --keep, no build")
    parser.add_argument("--http", action="store_true", help="also time the app's page and API")
    args = parser.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix="kepu-search-bench-")
    path = os.path.join(workdir, "index")
    # Generated up front: the build rate measures indexing, not the generator.
    docs = list(make_docs(args.docs))
    try:
        if not (args.reuse and args.keep):
            seconds = build(path, docs, args.procs, args.limitmb)
            print(
                f"index build: {args.docs} docs in {seconds:.1f} s = {args.docs / seconds:,.0f} docs/s"
                f" ({args.procs} processes, limitmb={args.limitmb})"
            )
        cold = bench_bare(path, 1, 1, cold=True)
        alone = bench_bare(path, 1, 1)  # service time without queueing behind other threads
        bare = bench_bare(path, args.threads, args.rounds)
        http = bench_http(path, docs, args.threads, args.rounds) if args.http else {}
        print(f"search latency, {len(QUERIES)} queries, {args.threads} concurrent clients:")
        print(f"  {'':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p95 / bare':>12}")
        print(f"  {'(bare, 1 client, cold)':<22}{cold['n']:>6}{cold['p50']:>10.1f}{cold['p95']:>10.1f}")
        print(f"  {'(bare, 1 client)':<22}{alone['n']:>6}{alone['p50']:>10.1f}{alone['p95']:>10.1f}")
        rows = [("bare searcher", bare), *((f"HTTP {name}", row) for name, row in http.items())]
        for name, row in rows:
            ratio = row["p95"] / bare["p95"]
            print(f"  {name:<22}{row['n']:>6}{row['p50']:>10.1f}{row['p95']:>10.1f}{ratio:>12.2f}")
        print(f"  (postings cached after the queries: {bare['cache_mb']:.1f} MB per process)")
        if not args.http:
            print("  (HTTP rows: run with --http, see bench_http())")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
