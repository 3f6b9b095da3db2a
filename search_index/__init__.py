"""Whoosh search over published resources: Chinese analysis, one writer, atomic rebuilds.

A plain library (no Flask): the app names an index directory and passes plain dicts. Only what it
passes is indexed, so it passes published resources only::

    index = SearchIndex(path)
    index.upsert({"id": 7, "title": "5G手机的辐射", "kind": "article", "published_at": when})
    index.delete(7)
    rebuild(rows_as_dicts, path)               # fresh directory, swapped in atomically
    results = index.search("5G 手机", kind="video", sort="newest", page=2)
    results.total, results.pages, [(h.id, h.title_html) for h in results.hits]

Why this analysis (``search_index.analysis``): CJK text as overlapping character bigrams, queried
as phrases, finds every text that contains the query. Measured on the 2,010 TNEWS titles with the
50 queries of tests/unit/test_search_quality.py, against a brute-force scan:

* jieba word segmentation alone (``jieba.analyse.ChineseAnalyzer`` with Whoosh's QueryParser):
  15 of 50 queries wrong, recall 0.956 and 32 false positives. It misses words inside longer
  words (国人: 6 of 13 titles, 本人: 3 of 3), single characters, full-width Latin, mixed words
  (传祺GS8), and it adds a dictionary load of ~1 s and ~100 MB per process.
* bigrams with phrase matching (this package): 50 of 50 exact; titles with the exact phrase
  always rank above titles with the words apart.

Jieba was not added as a second, ranking-only field: the phrase bonus already ranks contiguous
matches first, and on the benchmark documents such a field would add 64 postings to our 103 per
document and 1.1 ms of segmentation to our ~1.7 ms (over 60% more indexing time). Single
characters are indexed only where a run starts or ends (a third fewer postings than indexing
every character: 103 instead of 152 per benchmark document); a one-character query reads all the
terms starting with it instead (``matching``).

How a search runs: the index is Whoosh's (analysis, segments, term dictionary, the one writer,
deletions), but queries are not evaluated by Whoosh's matchers, which step through postings one
at a time in Python (70 ms for a word in 19,000 of 100,000 documents, and eight such searches
queue on the GIL). ``postings`` reads a term's document numbers, weights and positions from a
segment once, as numpy arrays kept per segment (segments never change, so the arrays stay right
across commits); ``matching`` intersects them, checks phrases by shifting and intersecting
position arrays, scores with BM25 and sorts, all on whole arrays: about 1 ms a search once the
terms are read. Counts stay exact. tests/unit/test_search_segments.py checks it on several
segments with deletions against a brute-force scan.
"""

from search_index.index import (
    Hit,
    IndexBusyError,
    IndexMissingError,
    IndexWriter,
    Results,
    SearchIndex,
    SearchIndexError,
    rebuild,
)

__all__ = [
    "Hit",
    "IndexBusyError",
    "IndexMissingError",
    "IndexWriter",
    "Results",
    "SearchIndex",
    "SearchIndexError",
    "rebuild",
]
