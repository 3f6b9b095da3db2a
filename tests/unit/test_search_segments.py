"""The array engine (``search_index.postings`` and ``matching``) on a live index: several segments,
deleted and replaced documents, commits after the caches were filled, and a cache too small to
hold anything. Every answer is checked against a brute-force scan of the documents as they are."""

import contextlib
import datetime as dt
import json

import numpy as np
import pytest
from whoosh import index as windex

from search_index import SearchIndex, postings, rebuild
from tests.support.search_oracle import TNEWS, brute_force, query_words

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

QUERIES = ["中国", "国人", "手机", "5G", "A股", "猫", "人", "中国 美国", "为什么 现在", '"中国人"']
QUERIES += ["2018年 5月", "x21", "S7", "GS 8", "iPhone8"]  # letters and digits glued or apart
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def load_titles():
    with open(TNEWS, encoding="utf-8") as fh:
        return {row["id"]: row["sentence"] for row in map(json.loads, fh)}


def doc(doc_id, title):
    return {
        "id": doc_id,
        "title": title,
        "kind": "video" if doc_id % 3 == 0 else "article",
        "published_at": START + dt.timedelta(hours=doc_id % 977),
        "downloads": doc_id % 13,
    }


@pytest.fixture(scope="module")
def corpus():
    return load_titles()


@pytest.fixture
def live(tmp_path, corpus):
    """An index of the first 1,200 titles in two segments (two indexing processes); ``docs`` is
    what should be found in it, kept in step by the test."""
    ids = sorted(corpus)
    docs = {i: doc(i, corpus[i]) for i in ids[:1200]}
    rebuild(docs.values(), tmp_path / "index", procs=2)
    index = SearchIndex(tmp_path / "index")
    yield index, docs, ids
    index.close()


def everything(index, query, **options):
    first = index.search(query, per_page=100, **options)
    hits = list(first.hits)
    for page in range(2, first.pages + 1):
        hits.extend(index.search(query, per_page=100, page=page, **options).hits)
    assert len(hits) == first.total
    return [hit.id for hit in hits]


def check(index, docs, query, **options):
    titles = {i: d["title"] for i, d in docs.items() if options.get("kind") in (None, d["kind"])}
    found = everything(index, query, **options)
    assert len(found) == len(set(found))
    assert set(found) == brute_force(titles, query_words(query)), query
    return found


@contextlib.contextmanager
def opened_leaves(index):
    """The live index's segment readers, each with its cache key."""
    ix = windex.open_dir(index._live_dir())
    try:
        with ix.reader() as reader:
            yield [(postings.segment_key(index._live_dir(), leaf), leaf) for leaf, _ in reader.leaf_readers()]
    finally:
        ix.close()


def segments(index):
    with opened_leaves(index) as leaves:
        return [(leaf.doc_count_all(), leaf.has_deletions()) for _key, leaf in leaves]


def test_segments_deletions_and_later_commits(live, corpus):
    index, docs, ids = live
    assert len(segments(index)) == 2
    for query in QUERIES:  # fills the caches from the first two segments
        check(index, docs, query)

    with index.writer() as w:
        for doc_id in ids[:1200:7]:  # deleted from the old segments
            w.delete(doc_id)
            del docs[doc_id]
        for doc_id in ids[3:1200:11]:  # replaced: the old copy is deleted, the new one elsewhere
            if doc_id in docs:
                docs[doc_id] = doc(doc_id, "中国人的手机 " + corpus[doc_id])
                w.upsert(docs[doc_id])
        for doc_id in ids[1200:1700]:  # new documents
            docs[doc_id] = doc(doc_id, corpus[doc_id])
            w.upsert(docs[doc_id])
    assert any(deleted for _count, deleted in segments(index))

    for query in QUERIES:
        check(index, docs, query)
    check(index, docs, "手机", kind="video")
    newest = check(index, docs, "中国", sort="newest")
    order = sorted(newest, key=lambda i: (-docs[i]["published_at"].timestamp(), str(i)))
    assert newest == order
    downloads = check(index, docs, "国人", sort="downloads")
    key = {i: (-docs[i]["downloads"], -docs[i]["published_at"].timestamp(), str(i)) for i in downloads}
    assert downloads == sorted(downloads, key=key.__getitem__)
    assert index.search("").total == len(docs)


def test_a_cache_too_small_to_keep_anything_gives_the_same_answers(live, monkeypatch):
    index, _docs, _ids = live
    before = {q: everything(index, q) for q in QUERIES}
    tiny = postings._Cache(limit=1)
    monkeypatch.setattr(postings, "CACHE", tiny)
    assert {q: everything(index, q) for q in QUERIES} == before
    assert len(tiny._items) <= 1  # everything read was evicted again


def test_the_block_reader_reads_what_whoosh_matchers_read(live):
    index, _docs, _ids = live
    with opened_leaves(index) as leaves:
        for key, leaf in leaves:
            for term in ["中国", "国人", "5g", "a", "股", "猫", "手机"]:
                ids, weights = postings.term_postings(key, leaf, "text", term)
                if ("text", term) not in leaf:
                    assert len(ids) == len(postings.term_positions(key, leaf, "text", term)) == 0
                    continue
                slow_ids, slow_weights = postings.read_postings_slowly(leaf.postings("text", term))
                assert np.array_equal(ids, slow_ids) and np.array_equal(weights, slow_weights)
                matcher, expected = leaf.postings("text", term), []
                while matcher.is_active():
                    shifted = matcher.id() << postings.POSITION_BITS
                    expected += [shifted + p for p in matcher.value_as("positions")]
                    matcher.next()
                assert postings.term_positions(key, leaf, "text", term).tolist() == expected
            assert len(postings.term_postings(key, leaf, "text", "没有这个词")[0]) == 0


def test_the_cache_is_bounded_by_bytes_and_keeps_recent_entries():
    cache = postings._Cache(limit=3000)
    arrays = {n: np.zeros(250, dtype=np.int32) for n in range(5)}  # 1,000 bytes each
    for n in range(3):
        cache.put(n, arrays[n])
    assert cache.get(0) is arrays[0]  # 0 is now the most recent
    cache.put(3, arrays[3])
    assert cache.get(1) is None and cache.get(0) is arrays[0] and cache.nbytes == 3000
    assert cache.put(3, np.ones(250, dtype=np.int32)) is arrays[3]  # first copy kept
    cache.resize(1500)
    assert cache.nbytes == 1000 and cache.get(0) is arrays[0]  # the most recently used


def test_the_app_sizes_the_cache(app):
    assert postings.CACHE.limit == app.config["KEPU_SEARCH_CACHE_MB"] * 1024 * 1024


def test_columns_read_in_one_go_match_whoosh(live):
    index, _docs, _ids = live
    with opened_leaves(index) as leaves:
        for key, leaf in leaves:
            for name in ("published_at", "downloads"):
                expected = list(leaf.column_reader(name, translate=False))
                assert postings.number_column(key, leaf, name).tolist() == expected
            lengths = [leaf.doc_field_length(doc, "text") for doc in range(leaf.doc_count_all())]
            assert postings.field_lengths(key, leaf, "text").tolist() == lengths
