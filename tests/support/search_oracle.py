"""The brute-force answer to a search, for tests to check the index against.

Written independently of ``search_index.analysis``: a text matches when it contains every query
word (full-width forms folded, Latin case-insensitive). A word is read as pieces: runs of Chinese
characters, of Latin letters and of digits ("iPhone7" is iphone + 7, "8A型" is 8 + a + 型). In the
text, Chinese characters must be contiguous; a run of letters must not continue with more letters
on either side, nor a run of digits with more digits ("5g" is not in "15g", "phone" is not in
"iphone", but "iphone" is in "iPhone6s" and "a型" in "8A型"); and two pieces, except two Chinese
ones, may be separated by spaces or punctuation ("5G 手机" contains 5G手机, "iPhone 7" iphone7).
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
    runs = re.findall(rf"[{HAN}]+|[a-z]+|[0-9]+", fold(word))
    parts, previous_han = [], False
    for run in runs:
        is_han = bool(re.match(f"[{HAN}]", run))
        if is_han and previous_han:
            parts[-1] += re.escape(run)  # Chinese split by punctuation in a word is still one run
        elif is_han:
            parts.append(re.escape(run))
        else:
            same = "0-9" if run[0].isdigit() else "a-z"
            parts.append(rf"(?<![{same}]){re.escape(run)}(?![{same}])")
        previous_han = is_han
    return re.compile(rf"[^a-z0-9{HAN}\n]*".join(parts))


def query_words(query):
    """Words of a query: quoted parts are one word, otherwise split on spaces."""
    return [next(g for g in m.groups() if g) for m in re.finditer(r'"([^"]+)"|“([^”]+)”|(\S+)', query)]


def brute_force(titles, words):
    patterns = [word_regex(w) for w in words]
    return {doc_id for doc_id, title in titles.items() if all(p.search(fold(title)) for p in patterns)}
