"""Finding, counting and ranking documents on whole arrays (see ``search_index.postings``).

Semantics (the same the Whoosh queries of this package had; tests/unit/test_search_quality.py
checks them against a brute-force scan):

* every query word must occur in the text; a word of several terms (a CJK word's bigrams, a word
  mixing scripts, a quoted phrase) as consecutive positions; a single CJK character anywhere;
* relevance is BM25 (Whoosh's BM25F constants) summed over the terms of the words, plus
  PHRASE_BOOST times that sum for the terms of the whole query where they stand together as one
  phrase; a lone character adds a constant 1. Equal scores keep document order;
* "newest" and "downloads" orders are computed once per index version, and a page of them is a
  partial sort of the matches' ranks.

Every count is exact: all matches are found before a page is cut from them.
"""

import math
import threading

import numpy as np

from search_index import postings
from search_index.analysis import is_single_char, query_terms

TEXT = "text"
K1, B = 1.2, 0.75
# Weight of the whole query found as one contiguous phrase. Large, so that titles with the exact
# phrase rank above titles with the words apart (tests/unit/test_search_quality.py checks it).
PHRASE_BOOST = 8.0
SECONDS_PER_DAY = 86_400
CHINA_OFFSET = 8 * 3600  # date filters work on calendar days in China Standard Time


class Snapshot:
    """One version of the index as searches see it: its segments, which documents are live, their
    lengths, days and sort orders. Built once per version and process from any searcher of it; it
    keeps no reader (a Whoosh reader serves one thread at a time, so each search lends its own)."""

    def __init__(self, index_dir, reader):
        self.size = reader.doc_count_all()
        leaves = reader.leaf_readers() if self.size else []
        self.keys = [postings.segment_key(index_dir, leaf) for leaf, _offset in leaves]
        self.offsets = [offset for _leaf, offset in leaves]
        self.counts = [leaf.doc_count_all() for leaf, _offset in leaves]
        self.live = np.ones(self.size, dtype=bool)
        for leaf, offset in leaves:
            if leaf.has_deletions():
                dead = np.fromiter(leaf.deleted_docs_set, dtype=np.int64)
                self.live[offset + dead] = False
        self.live_count = int(self.live.sum())
        self.lengths = self._joined(postings.field_lengths, leaves, TEXT, np.float32)
        self.avg_length = float(self.lengths[self.live].mean()) if self.live_count else 1.0
        self._lock = threading.Lock()
        self._lazy = {}

    def _joined(self, read, leaves, fieldname, dtype):
        parts = [read(key, leaf, fieldname) for key, (leaf, _offset) in zip(self.keys, leaves, strict=True)]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    def _once(self, name, make):
        with self._lock:
            value = self._lazy.get(name)
        if value is None:
            value = make()
            with self._lock:
                value = self._lazy.setdefault(name, value)
        return value

    def days(self, reader):
        """China Standard Time day number of each document's publication; -1 where it has none."""

        def make():
            stamps = self._joined(postings.number_column, reader.leaf_readers(), "published_at", np.int64)
            return np.where(stamps != 0, (stamps + CHINA_OFFSET) // SECONDS_PER_DAY, -1)

        return self._once("days", make)

    def order(self, reader, sort):
        """``(order, rank)``: the live documents in ``sort`` order, and each document's rank."""
        return self._once(("order", sort), lambda: _sort_order(self, reader, sort))

    # -- reading -----------------------------------------------------------------------------

    def term(self, reader, fieldname, text):
        """Live documents (ascending, global numbers) with the term, and its weight in each."""
        ids, weights = [], []
        for key, (leaf, offset) in zip(self.keys, reader.leaf_readers(), strict=True):
            leaf_ids, leaf_weights = postings.term_postings(key, leaf, fieldname, text)
            if len(leaf_ids):
                ids.append(leaf_ids + offset if offset else leaf_ids)
                weights.append(leaf_weights)
        return self._live_only(ids, weights)

    def prefix(self, reader, fieldname, prefix):
        """Live documents (ascending) with any term starting with ``prefix``."""
        ids = []
        for key, (leaf, offset) in zip(self.keys, reader.leaf_readers(), strict=True):
            leaf_ids = postings.prefix_docs(key, leaf, fieldname, prefix)
            if len(leaf_ids):
                ids.append(leaf_ids + offset if offset else leaf_ids)
        return self._live_only(ids, None)[0]

    def _live_only(self, ids, weights):
        if not ids:
            return postings.EMPTY_IDS, postings.EMPTY_WEIGHTS
        ids = ids[0] if len(ids) == 1 else np.concatenate(ids)
        weights = None if weights is None else weights[0] if len(weights) == 1 else np.concatenate(weights)
        if self.live_count < self.size:
            keep = self.live[ids]
            ids = ids[keep]
            weights = None if weights is None else weights[keep]
        return ids, weights

    def adjacent(self, reader, docs, terms):
        """Those of ``docs`` (ascending) where ``terms`` stand at consecutive positions at least
        once: the documents' occurrences of the i-th term, moved back by i, intersected."""
        kept = []
        leaves = zip(self.keys, reader.leaf_readers(), self.counts, strict=True)
        for key, (leaf, offset), count in leaves:
            lo, hi = np.searchsorted(docs, [offset, offset + count])
            local = (docs[lo:hi] - offset).astype(np.int64)
            if not len(local):
                continue
            moved = [
                postings.term_positions(key, leaf, TEXT, term) - shift for shift, term in enumerate(terms)
            ]
            moved.sort(key=len)
            starts = moved[0]
            at = np.minimum(np.searchsorted(local, starts >> postings.POSITION_BITS), len(local) - 1)
            starts = starts[local[at] == starts >> postings.POSITION_BITS]  # the candidates' only
            for keys in moved[1:]:
                if not len(starts):
                    break
                starts = intersect(starts, keys)
            kept.append(np.unique(starts >> postings.POSITION_BITS) + offset)
        return np.concatenate(kept).astype(docs.dtype) if kept else docs[:0]


def intersect(a, b):
    """Values in both ascending unique arrays (the shorter one looked up in the longer)."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a) or not len(b):
        return a[:0]
    at = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[at] == a]


def find(snapshot, reader, words, terms_filters, day_range, sort, start, end):
    """``(total, [(docnum, score)])`` for one page: documents having every one of ``words`` (from
    ``query.split_words``; none means every document) and passing the filters (``terms_filters``:
    ``[(field, value)]``; ``day_range``: ``(first, last)`` day numbers, either None, or None for
    no date filter), ordered by ``sort`` and cut to ``[start:end]``."""
    if snapshot.live_count == 0:
        return 0, []
    allowed = None
    for fieldname, value in terms_filters:
        ids = snapshot.term(reader, fieldname, value)[0]
        allowed = ids if allowed is None else intersect(allowed, ids)
    if day_range is not None:
        days = snapshot.days(reader)
        first, last = day_range
        inside = (days >= (0 if first is None else first)) & snapshot.live
        if last is not None:
            inside &= days <= last
        ids = np.flatnonzero(inside).astype(np.int32)
        allowed = ids if allowed is None else intersect(allowed, ids)

    per_word = [terms for terms in map(query_terms, words) if terms]
    if per_word:
        matches, postings_of = _matching(snapshot, reader, per_word, allowed)
    elif allowed is not None:
        matches, postings_of = allowed, {}
    else:  # everything: the page is a slice of the order
        if sort == "relevance":
            sort = "newest"
        order = snapshot.order(reader, sort)[0]
        return snapshot.live_count, [(int(doc), 0.0) for doc in order[start:end]]

    total = len(matches)
    if total == 0:
        return 0, []
    if sort == "relevance" and per_word:
        scores = _scores(snapshot, reader, matches, per_word, words, postings_of)
        page = _top(matches, -scores, end)[start:end]
        position = np.searchsorted(matches, page)
        return total, [(int(doc), float(score)) for doc, score in zip(page, scores[position], strict=True)]
    rank = snapshot.order(reader, "newest" if sort == "relevance" else sort)[1]
    page = _top(matches, rank[matches], end)[start:end]
    return total, [(int(doc), 0.0) for doc in page]


def _matching(snapshot, reader, per_word, allowed):
    """Documents with every word (and in ``allowed``), and the postings read on the way."""
    postings_of = {}
    sets = [] if allowed is None else [allowed]
    for terms in per_word:
        if is_single_char(terms):
            sets.append(snapshot.prefix(reader, TEXT, terms[0]))
            continue
        for term in terms:
            if term not in postings_of:
                postings_of[term] = snapshot.term(reader, TEXT, term)
                sets.append(postings_of[term][0])
    sets.sort(key=len)  # the rarest first: every step is then a lookup of few values
    matches = sets[0]
    for ids in sets[1:]:
        if not len(matches):
            break
        matches = intersect(matches, ids)
    for terms in per_word:
        if len(terms) > 1 and len(matches):
            matches = snapshot.adjacent(reader, matches, terms)
    return matches, postings_of


def _scores(snapshot, reader, matches, per_word, words, postings_of):
    norm = K1 * ((1 - B) + B * snapshot.lengths[matches] / snapshot.avg_length)
    terms = [term for terms in per_word if not is_single_char(terms) for term in terms]
    scores = _bm25(snapshot, matches, dict.fromkeys(terms), postings_of, norm)
    scores += sum(1.0 for terms in per_word if is_single_char(terms))
    if len(per_word) > 1:
        # The words typed apart, as one phrase: query_terms joins Chinese runs across the spaces
        # (人工 智能 -> 人工智能) and keeps Latin words apart (iphone x).
        phrase = query_terms(" ".join(words))
        for term in phrase:
            if term not in postings_of:
                postings_of[term] = snapshot.term(reader, TEXT, term)
        holding = matches
        for term in dict.fromkeys(phrase):
            holding = intersect(holding, postings_of[term][0])
        if len(phrase) > 1 and len(holding):
            holding = snapshot.adjacent(reader, holding, phrase)
        if len(holding):
            at = np.searchsorted(matches, holding)
            bonus = _bm25(snapshot, holding, dict.fromkeys(phrase), postings_of, norm[at])
            scores[at] += PHRASE_BOOST * bonus
    return scores


def _bm25(snapshot, docs, terms, postings_of, norm):
    total = np.zeros(len(docs), dtype=np.float64)
    for term in terms:
        ids, weights = postings_of[term]
        idf = math.log(snapshot.live_count / (len(ids) + 1)) + 1
        tf = weights[np.searchsorted(ids, docs)]
        total += idf * (tf * (K1 + 1)) / (tf + norm)
    return total


def _top(docs, keys, end):
    """The first ``end`` of ``docs`` ordered by ``keys`` ascending, then by document number."""
    if len(docs) > end:
        kth = np.partition(keys, end - 1)[end - 1]
        keep = keys <= kth  # ties with the last one kept: the document number decides among them
        docs, keys = docs[keep], keys[keep]
    return docs[np.lexsort((docs, keys))][:end]


def _sort_order(snapshot, reader, sort):
    """Every live document number in ``sort`` order ("newest": published_at descending;
    "downloads": downloads, then published_at, descending; then id, so that equal keys keep one
    order across rebuilds), and each document number's rank in it (numpy arrays). The columns
    come from the per-segment cache, so a new version of the index costs one sort."""
    leaves = reader.leaf_readers()
    keys = [snapshot._joined(postings.bytes_column, leaves, "id", np.bytes_)]
    keys.append(-snapshot._joined(postings.number_column, leaves, "published_at", np.int64))
    if sort == "downloads":
        keys.append(-snapshot._joined(postings.number_column, leaves, "downloads", np.int64))
    live = np.flatnonzero(snapshot.live)
    order = live[np.lexsort([key[live] for key in keys])]  # the last key sorts first
    rank = np.zeros(snapshot.size, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return order, rank
