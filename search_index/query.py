"""From the text a user typed to a Whoosh query, and highlighted snippets of the hits."""

import html
import re
import unicodedata

from whoosh import query as wq
from whoosh.matching import IntersectionMatcher, ListMatcher, NullMatcher, WrappingMatcher

from search_index.analysis import is_single_char, match_pattern, normalize, query_terms

MAX_QUERY_CHARS = 200  # longer input is cut: every word costs a phrase match per page view
MAX_WORDS = 10
# Weight of the whole query found as one contiguous phrase. Large, so that titles with the exact
# phrase rank above titles with the words apart (tests/unit/test_search_quality.py checks it).
PHRASE_BOOST = 8.0
SNIPPET_CHARS = 120
MARK_OPEN, MARK_CLOSE = "<em>", "</em>"

# "quoted phrase", “中文引号”, or a run of non-space characters.
_WORD_RE = re.compile(r'"([^"]*)"|“([^”]*)”|(\S+)')


def split_words(text):
    """The words of a query: whitespace separates words, quotes keep a phrase with spaces together.

    Words without a letter, digit or CJK character are dropped; input beyond MAX_QUERY_CHARS and
    words beyond MAX_WORDS are ignored.
    """
    text = normalize(text or "")[:MAX_QUERY_CHARS]
    words = []
    for match in _WORD_RE.finditer(text):
        word = next(g for g in match.groups() if g is not None).strip()
        if query_terms(word):
            words.append(word)
    return words[:MAX_WORDS]


class Words(wq.Query):
    """Documents whose ``fieldname`` has every one of ``words``, a word being a list of terms at
    consecutive positions (a term list of one is a plain term).

    Whoosh's Phrase is exact but slow for our bigram phrases: each phrase scans its own candidates
    and builds span objects for every one (70 µs a document on 100,000 resources). Here all the
    terms of all the words are intersected first (rarest first, so skipping does the work), and
    only documents that have every term get their positions compared, with set arithmetic.
    The score is the sum of the terms' scores (BM25F), times ``boost``.
    """

    def __init__(self, fieldname, words, boost=1.0):
        self.fieldname = fieldname
        self.words = tuple(tuple(word) for word in words)
        self.boost = boost

    def __repr__(self):
        return f"Words({self.fieldname!r}, {self.words!r}, boost={self.boost})"

    def __eq__(self, other):
        return isinstance(other, Words) and (self.fieldname, self.words, self.boost) == (
            other.fieldname,
            other.words,
            other.boost,
        )

    def __hash__(self):
        return hash((Words, self.fieldname, self.words, self.boost))

    def field(self):
        return self.fieldname

    def _terms(self):
        return list(dict.fromkeys(term for word in self.words for term in word))

    def terms(self, phrases=False):
        for term in self._terms():
            yield self.fieldname, term

    def estimate_size(self, ixreader):
        return min(ixreader.doc_frequency(self.fieldname, term) for term in self._terms())

    def estimate_min_size(self, ixreader):
        return 0

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        field = searcher.schema[self.fieldname]
        terms = self._terms()
        if any((self.fieldname, field.to_bytes(term)) not in reader for term in terms):
            return NullMatcher()
        leaves = {term: wq.Term(self.fieldname, term).matcher(searcher, context) for term in terms}
        # A chain led by the rarest term: each step skips the commoner lists to its candidates
        # (a balanced tree would first intersect two common terms with each other, doc by doc).
        rarest_first = sorted(terms, key=lambda term: reader.doc_frequency(self.fieldname, term))
        matcher = leaves[rarest_first[0]]
        for term in rarest_first[1:]:
            matcher = IntersectionMatcher(matcher, leaves[term])
        phrases = [word for word in self.words if len(word) > 1]
        if phrases:
            matcher = _AdjacentMatcher(matcher, leaves, phrases)
        return WrappingMatcher(matcher, boost=self.boost) if self.boost != 1.0 else matcher


class _AdjacentMatcher(WrappingMatcher):
    """Filters an intersection of term matchers down to the documents where each phrase's terms
    stand at consecutive positions."""

    def __init__(self, child, leaves, phrases):
        super().__init__(child)
        self._leaves = leaves
        self._phrases = phrases
        self._find_next()

    def _phrases_hold(self):
        positions = {}
        for phrase in self._phrases:
            starts = None
            for offset, term in enumerate(phrase):
                if term not in positions:
                    positions[term] = self._leaves[term].value_as("positions")
                shifted = {p - offset for p in positions[term]}
                starts = shifted if starts is None else starts & shifted
                if not starts:
                    return False
        return True

    def _find_next(self):
        child = self.child
        while child.is_active() and not self._phrases_hold():
            child.next()

    def next(self):
        self.child.next()
        self._find_next()

    def skip_to(self, id):
        self.child.skip_to(id)
        self._find_next()

    def all_ids(self):
        while self.is_active():
            yield self.id()
            self.next()

    def replace(self, minquality=0):
        # Never swapped for a "more efficient" child: the leaves must stay the ones we read.
        return self if self.is_active() else NullMatcher()

    def supports_block_quality(self):
        return False  # skipping by quality would land on documents not checked

    def copy(self):
        raise NotImplementedError("an adjacency matcher cannot be copied")


class Char(wq.Query):
    """Documents with one CJK character anywhere in ``fieldname``: the union of every term starting
    with it (its bigrams, and itself where it starts or ends a run), gathered as plain sets of
    document numbers. Constant score: a lone character says little about relevance.

    Whoosh's Prefix query unites the thousands of matchers in a tree of union matchers: 2.4 s for
    国 on the 100,000 benchmark resources; this takes 0.25 s.
    """

    def __init__(self, fieldname, char, boost=1.0):
        self.fieldname = fieldname
        self.char = char
        self.boost = boost

    def __repr__(self):
        return f"Char({self.fieldname!r}, {self.char!r}, boost={self.boost})"

    def __eq__(self, other):
        return isinstance(other, Char) and (self.fieldname, self.char, self.boost) == (
            other.fieldname,
            other.char,
            other.boost,
        )

    def __hash__(self):
        return hash((Char, self.fieldname, self.char, self.boost))

    def field(self):
        return self.fieldname

    def estimate_size(self, ixreader):
        terms = ixreader.expand_prefix(self.fieldname, self.char)
        return sum(ixreader.doc_frequency(self.fieldname, term) for term in terms)

    def estimate_min_size(self, ixreader):
        return 0

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        docs = set()
        for term in reader.expand_prefix(self.fieldname, self.char):
            docs.update(reader.postings(self.fieldname, term).all_ids())  # deleted ones left out
        if not docs:
            return NullMatcher()
        return ListMatcher(sorted(docs), all_weights=self.boost)


def _word_queries(per_word):
    """The queries matching every word: one Words query, and a Char query per one-character word."""
    singles = [terms[0] for terms in per_word if is_single_char(terms)]
    others = [terms for terms in per_word if not is_single_char(terms)]
    queries = [Char("text", char) for char in singles]
    if others:
        queries.insert(0, Words("text", others))
    return queries


def build_query(words, *, scored=True):
    """The Whoosh query for ``words`` (from split_words): every word, as a phrase of its terms,
    must occur in the text field (AND). When ``scored`` and there are several words, an optional
    clause adds score for the whole query found as one phrase (title words weigh more, see
    ``analysis.TITLE_WEIGHT``). Returns None when there is nothing to search for."""
    per_word = [terms for terms in map(query_terms, words) if terms]
    if not per_word:
        return None
    queries = _word_queries(per_word)
    required = queries[0] if len(queries) == 1 else wq.And(queries)
    if not scored or len(per_word) == 1:
        return required
    # The words typed apart, as one phrase: query_terms joins Chinese runs across the spaces
    # (人工 智能 -> 人工智能) and keeps Latin words apart (iphone x).
    phrase = Words("text", [query_terms(" ".join(words))], boost=PHRASE_BOOST)
    return wq.AndMaybe(required, phrase)


def _normalized_with_offsets(text):
    """Normalize char by char, remembering which original character each normalized one came from
    (NFKC may turn one character into several: ㎡ -> m2)."""
    if unicodedata.is_normalized("NFKC", text):
        folded = text.lower()  # lower() only ever lengthens: same length, same offsets
        if len(folded) == len(text):
            return folded, range(len(text) + 1)
    out, origin = [], []
    for index, char in enumerate(text):
        folded = normalize(char)
        out.append(folded)
        origin.extend([index] * len(folded))
    origin.append(len(text))
    return "".join(out), origin


def _spans(text, patterns):
    """Merged ``(start, end)`` spans of the original text where any pattern matches."""
    folded, origin = _normalized_with_offsets(text)
    found = []
    for pattern in patterns:
        for match in pattern.finditer(folded):
            if match.end() > match.start():
                found.append((origin[match.start()], origin[match.end() - 1] + 1))
    merged = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _marked(text, spans):
    parts, last = [], 0
    for start, end in spans:
        parts.append(html.escape(text[last:start]))
        parts.append(MARK_OPEN + html.escape(text[start:end]) + MARK_CLOSE)
        last = end
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def patterns_for(words):
    """Compiled highlight patterns for the query words."""
    return [p for p in (match_pattern(word) for word in words) if p is not None]


def highlight(text, patterns, max_chars=None):
    """``text`` as HTML: escaped, with every match of ``patterns`` wrapped in <em>…</em>.

    With ``max_chars``, a longer text is cut to a window of that many characters that starts a
    little before the first match (or at the start when nothing matches), with "…" where cut.
    """
    text = text or ""
    if max_chars is not None and len(text) > max_chars:
        spans = _spans(text, patterns)
        start = max(0, spans[0][0] - max_chars // 5) if spans else 0
        start = min(start, len(text) - max_chars)
        end = start + max_chars
        window = text[start:end]
        body = _marked(window, _spans(window, patterns))
        return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")
    return _marked(text, _spans(text, patterns))
