"""The brute-force answer to a search, for tests to check the index against.

Written independently of ``search_index.analysis``: a text matches when it contains every query
word (full-width forms folded, Latin case-insensitive); in a word, Chinese characters must be
contiguous, a Latin/digit run must be whole ("5g" is not in "15g"), and a Latin run and the Chinese
next to it may be separated by spaces or punctuation ("5G 手机" contains 5G手机).
"""

import os
import re
import unicodedata

from tests.conftest import TESTDATA

TNEWS = os.path.join(TESTDATA, "zh_text", "fewclue_tnews_test_public.json")
HAN = "\u4e00-\u9fff"


def fold(text):
    return unicodedata.normalize("NFKC", text).lower()


def word_regex(word):
    """The brute-force rule for one query word (see the module docstring)."""
    runs = re.findall(rf"[{HAN}]+|[a-z0-9]+", fold(word))
    parts, previous_han = [], False
    for run in runs:
        is_han = bool(re.match(f"[{HAN}]", run))
        if is_han and previous_han:
            parts[-1] += re.escape(run)  # Chinese split by punctuation in a word is still one run
        elif is_han:
            parts.append(re.escape(run))
        else:
            parts.append(rf"(?<![a-z0-9]){re.escape(run)}(?![a-z0-9])")
        previous_han = is_han
    return re.compile(rf"[^a-z0-9{HAN}\n]*".join(parts))


def query_words(query):
    """Words of a query: quoted parts are one word, otherwise split on spaces."""
    return [next(g for g in m.groups() if g) for m in re.finditer(r'"([^"]+)"|“([^”]+)”|(\S+)', query)]


def brute_force(titles, words):
    patterns = [word_regex(w) for w in words]
    return {doc_id for doc_id, title in titles.items() if all(p.search(fold(title)) for p in patterns)}
