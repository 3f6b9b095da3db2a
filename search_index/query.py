"""From the text a user typed to query words, and highlighted snippets of the hits."""

import functools
import html
import re
import unicodedata

from search_index.analysis import match_pattern, normalize, query_terms

MAX_QUERY_CHARS = 200  # longer input is cut: every word costs a phrase match per page view
MAX_WORDS = 10
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


_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@functools.lru_cache(maxsize=16384)
def _fold_char(char):
    return normalize(char)


def _normalized_with_offsets(text):
    """Normalize char by char, remembering which original character each normalized one came from
    (NFKC may turn one character into several: ㎡ -> m2)."""
    # Full-width ASCII (，？５Ｇ) and the ideographic space are what Chinese text mostly has that
    # NFKC changes, each into one character: swap them in C, and most texts take the fast path.
    text_1to1 = text.translate(_FULL_WIDTH)
    if unicodedata.is_normalized("NFKC", text_1to1):
        folded = text_1to1.lower()  # lower() only ever lengthens: same length, same offsets
        if len(folded) == len(text):
            return folded, range(len(text) + 1)
    pieces = list(map(_fold_char, text))
    folded = "".join(pieces)
    if len(folded) == len(text) and all(pieces):  # one character for one (full-width ，→ ,)
        return folded, range(len(text) + 1)
    origin = [index for index, piece in enumerate(pieces) for _ in piece]
    origin.append(len(text))
    return folded, origin


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


def query_is_cut(text):
    """True when :func:`split_words` leaves part of ``text`` out (past MAX_QUERY_CHARS or MAX_WORDS),
    so the caller can tell the user what was searched for."""
    text = normalize(text or "")
    if text[MAX_QUERY_CHARS:].strip():
        return True
    words = 0
    for match in _WORD_RE.finditer(text):
        words += bool(query_terms(next(g for g in match.groups() if g is not None).strip()))
        if words > MAX_WORDS:
            return True
    return False
