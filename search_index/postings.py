"""Whoosh's postings as numpy arrays, kept in memory per segment.

Whoosh matches and scores one posting at a time in Python: 70 ms for a word found in 19,000 of
the 100,000 benchmark resources, and several of those queue behind each other on the GIL. The
same work on whole arrays takes well under a millisecond. So the index stays Whoosh's (its
analysis, segments, term dictionary, writer and deletions), and ``search_index.matching``
evaluates queries on arrays read from it here.

A Whoosh segment never changes once written: a commit adds a segment, a merge replaces some, and
deletions are kept beside them. What is read from a segment (a term's document numbers and
weights, a column, the field lengths) is therefore cached under the segment's id for as long as
the process lives, across commits, in one least-recently-used cache bounded by CACHE_BYTES.
Deletions are applied afterwards by ``Snapshot`` (one per index version).

Positions are read only for the terms of phrases (a CJK word of two or more bigrams, a mixed or
quoted word), a whole term at a time, and checked on the documents that have all the terms.

The fast readers use private parts of the pinned Whoosh-Reloaded 2.7.5 (a posting block's ids,
weights and values; a numeric column's bytes). tests/unit/test_search_segments.py compares each
with Whoosh's public matchers and column readers, so an upgrade that changes them fails there.
"""

import threading
from collections import OrderedDict
from itertools import chain
from pickle import loads

import numpy as np
from whoosh import columns, formats
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

CACHE_BYTES = 96 * 1024 * 1024  # per process (the app sets KEPU_SEARCH_CACHE_MB); a term in every
# one of 100,000 documents takes 0.8 MB, the benchmark's 24 queries 6 MB
EMPTY_IDS = np.zeros(0, dtype=np.int32)
EMPTY_WEIGHTS = np.zeros(0, dtype=np.float32)
EMPTY_KEYS = np.zeros(0, dtype=np.int64)
POSITION_BITS = 32  # a document's positions stay below 2**32, its number below 2**31
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)


class _Cache:
    """A thread-safe LRU mapping bounded by the bytes of the numpy arrays it holds."""

    def __init__(self, limit):
        self.limit = limit
        self._items = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        size = _nbytes(value)
        with self._lock:
            if key in self._items:
                return self._items[key]  # another thread read it meanwhile: keep one copy
            self._items[key] = value
            self._bytes += size
            self._evict(keep=1)
            return value

    def _evict(self, keep=0):
        while self._bytes > self.limit and len(self._items) > keep:
            _key, old = self._items.popitem(last=False)
            self._bytes -= _nbytes(old)

    def resize(self, limit):
        """Keep at most ``limit`` bytes from now on (evicting the least recently used)."""
        with self._lock:
            self.limit = limit
            self._evict()

    def clear(self):
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self):
        return self._bytes


def _nbytes(value):
    if isinstance(value, tuple):
        return sum(part.nbytes for part in value)
    return value.nbytes


CACHE = _Cache(CACHE_BYTES)


def segment_key(index_dir, segment_reader):
    """The cache key of one segment: the index directory (a rebuild makes a new one) and the
    segment's id, which Whoosh makes random per segment."""
    return (index_dir, segment_reader.segment().segment_id())


def _cached(cache_key, read):
    found = CACHE.get(cache_key)
    if found is None:
        found = CACHE.put(cache_key, read())
    return found


def _raw_matcher(segment_reader, fieldname, text):
    """Whoosh's matcher of a term with the deleted documents left in (we apply deletions
    ourselves, per index version), or None for a term not in the segment."""
    if (fieldname, text) not in segment_reader:
        return None
    matcher = segment_reader.postings(fieldname, text)
    return matcher.child if isinstance(matcher, FilterMatcher) else matcher


def term_postings(key, segment_reader, fieldname, text):
    """``(ids, weights)``: the segment's document numbers having ``text`` in ``fieldname``
    (ascending, int32, deleted ones included) and the term's weight in each (float32: its
    occurrences, a title's counted TITLE_WEIGHT times). Empty arrays for a term not in it."""
    return _cached(
        (key, "term", fieldname, text), lambda: _read_postings(_raw_matcher(segment_reader, fieldname, text))
    )


def _read_postings(matcher):
    if matcher is None:
        return EMPTY_IDS, EMPTY_WEIGHTS
    if not isinstance(matcher, W3LeafMatcher):
        return read_postings_slowly(matcher)
    # A block (up to 128 postings) at a time: Whoosh keeps each block as one pickle, and its
    # matcher would otherwise be stepped through posting by posting.
    ids, weights = [], []
    while matcher.is_active():
        matcher._read_ids()
        matcher._read_weights()
        ids.append(np.asarray(matcher._ids, dtype=np.int32))
        weights.append(np.asarray(matcher._weights, dtype=np.float32))
        matcher._next_block()
    if not ids:
        return EMPTY_IDS, EMPTY_WEIGHTS
    return np.concatenate(ids), np.concatenate(weights)


def read_postings_slowly(matcher):
    """The same through Whoosh's public matcher interface (inlined and other posting lists; and
    the reference the block reader is tested against)."""
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return np.array(ids, dtype=np.int32), np.array(weights, dtype=np.float32)


def prefix_docs(key, segment_reader, fieldname, prefix):
    """The segment's document numbers (ascending, int32) with any term starting with ``prefix``:
    for a single CJK character, every text containing it (see ``query.is_single_char``). The
    union is cached, not the thousands of terms it is made of."""

    def read():
        parts = [
            _read_postings(_raw_matcher(segment_reader, fieldname, text))[0]
            for text in segment_reader.expand_prefix(fieldname, prefix)
        ]
        return np.unique(np.concatenate(parts)).astype(np.int32) if parts else EMPTY_IDS

    return _cached((key, "prefix", fieldname, prefix), read)


def field_lengths(key, segment_reader, fieldname):
    """Every document's length of ``fieldname`` in tokens (float32; Whoosh stores it as one byte,
    exact up to 8 and approximate above, as BM25 needs it)."""

    def read():
        column = segment_reader._perdoc.column_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is None:
            return np.zeros(segment_reader.doc_count_all(), dtype=np.float32)
        return _LENGTH_OF_BYTE[_numbers(column)]

    return _cached((key, "lengths", fieldname), read)


def number_column(key, segment_reader, fieldname):
    """A numeric column's value for every document of the segment (int64)."""
    return _cached(
        (key, "column", fieldname),
        lambda: _numbers(segment_reader.column_reader(fieldname, translate=False)).astype(np.int64),
    )


def _numbers(column):
    """A numeric column's values for every document. Whoosh stores them big-endian, one after the
    other, up to the last document that has one (the rest take the default): read in one go
    rather than unpacked one by one."""
    if type(column) is not columns.NumericColumn.Reader:
        return np.asarray(column.load())
    raw = column._dbfile.get(column._basepos, column._count * column._fixedlen)
    stored = np.frombuffer(raw, dtype=np.dtype(column._typecode).newbyteorder(">"))
    values = np.full(column._doccount, column._default, dtype=stored.dtype.newbyteorder("="))
    values[: len(stored)] = stored
    return values


def bytes_column(key, segment_reader, fieldname):
    """A sortable ID column's UTF-8 bytes for every document of the segment (a numpy bytes array,
    which sorts like the text)."""
    return _cached(
        (key, "column", fieldname),
        lambda: np.array(segment_reader.column_reader(fieldname, translate=False).load(), dtype=np.bytes_),
    )


def term_positions(key, segment_reader, fieldname, text):
    """Every occurrence of the term in the segment as one sorted int64 array of
    ``doc << POSITION_BITS | position`` (deleted documents included): a phrase then holds where
    its terms' arrays, shifted by their offsets in it, intersect. Empty for a term not in it."""

    def read():
        matcher = _raw_matcher(segment_reader, fieldname, text)
        return EMPTY_KEYS if matcher is None else _read_positions(matcher, segment_reader.schema[fieldname])

    return _cached((key, "positions", fieldname, text), read)


def _read_positions(matcher, field):
    docs, lists = [], []
    if isinstance(matcher, W3LeafMatcher) and type(field.format) is formats.Positions:
        # Each posting's value is its count (4 bytes), then a pickle of the position deltas that
        # Whoosh may store without the final STOP; its decode_positions adds them up in Python.
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_values()
            docs.extend(matcher._ids)
            lists.extend(loads(v[4:] if v.endswith(b".") else v[4:] + b".") for v in matcher._values)
            matcher._next_block()
        return _keys(docs, lists, deltas=True)
    while matcher.is_active():
        docs.append(matcher.id())
        lists.append(matcher.value_as("positions"))
        matcher.next()
    return _keys(docs, lists, deltas=False)


def _keys(docs, lists, *, deltas):
    """``doc << POSITION_BITS | position`` for each document's list of positions (or of
    differences between successive positions, with ``deltas``)."""
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    if deltas and len(flat):
        running = np.cumsum(flat)
        ends = np.cumsum(counts)  # every posting has at least one position
        flat = running - np.repeat(np.concatenate(([0], running[ends[:-1] - 1])), counts)
    return np.repeat(np.asarray(docs, dtype=np.int64) << POSITION_BITS, counts) + flat
