"""Text analysis for Chinese (and mixed Chinese/Latin/digit) search.

The scheme (measurements against word segmentation and full unigrams: ``search_index`` docstring):

* Text is NFKC-normalized (full-width ``５Ｇ`` becomes ``5g``) and lower-cased.
* A run of CJK characters is indexed as overlapping character bigrams, each at the position of its
  first character, plus the run's first and last characters: ``中国人`` gives 中国@0, 国人@1, 中@0,
  人@2. A query word becomes the phrase of its bigrams, so 国人 finds 中国人 (word segmentation
  does not), and the bigram bridging two characters exists only where they are adjacent, so
  人工智能 does not match 人工，智能. The edge characters serve words that mix scripts (A股: the
  股 after a Latin word starts a run); a one-character query expands to every term starting with
  that character (its bigrams, and the character itself where it ends a run).
* Latin letters and digits are cut where letters meet digits, each piece one token at its own
  position: "iPhone7" -> iphone@0, 7@1 (like "iPhone 7"), "8A型" -> 8, a, 型, "2018" -> 2018. A
  query word is cut the same way and its pieces searched as a phrase, so iPhone7 finds "iPhone 7"
  and iphone7, iPhone finds iPhone6s, A型 finds 8A型; a piece is still whole ("5g" is not in
  "15g", "phone" not in "iphone"). An index written before this rule still opens (the pickled
  analyzer is this class), but its documents keep their old tokens: ``flask search reindex``.
* Punctuation and spaces take no position, so "5G手机" matches "5G 手机"; a line break takes one,
  so a phrase never joins two lines (two fields of the combined text).
* Text between TITLE_START and TITLE_END (control characters the schema puts around the title)
  is weighted TITLE_WEIGHT: a title word counts as that many occurrences in the BM25 score. This
  boosts title matches without indexing the title a second time in a field of its own, which
  cost a quarter more postings and three quarters more terms to write (25% slower builds).

Whoosh pickles the analyzer into the index, so everything here lives at module level of an importable
module (``open_dir`` in another process imports ``search_index.analysis``).
"""

import re
import unicodedata

from whoosh.analysis import Token, Tokenizer

# Han (with extensions and compatibility ideographs), kana and Hangul: scripts written without
# spaces between words, so they are cut into characters and bigrams.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
TITLE_START, TITLE_END = "\x02", "\x03"  # never typed; the schema removes them from user text
TITLE_WEIGHT = 3.0
_LETTER = rf"[^\W\d_{CJK_RANGES}]"  # a letter (or a non-decimal numeral) of a script written with spaces
_DIGIT = r"\d"
_TOKEN_RE = re.compile(
    rf"(?P<cjk>[{CJK_RANGES}]+)|(?P<word>{_LETTER}+|{_DIGIT}+)|(?P<brk>\n)"
    rf"|(?P<mark>[{TITLE_START}{TITLE_END}])"
)
_CJK_CHAR = re.compile(rf"[{CJK_RANGES}]")


def normalize(text):
    """Fold ``text`` the way the index does: NFKC (full-width forms to ASCII), then lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def runs(text):
    """Split normalized ``text`` into ``(kind, run, start, end)`` with kind ``"cjk"``, ``"word"``,
    ``"break"`` (a line break) or ``"mark"`` (TITLE_START/END); anything else is dropped."""
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        yield ("break" if kind == "brk" else kind), match.group(), match.start(), match.end()


class CjkBigramTokenizer(Tokenizer):
    """Whoosh tokenizer implementing the scheme above (index side)."""

    def __eq__(self, other):
        return isinstance(other, CjkBigramTokenizer)

    def __hash__(self):
        return hash(type(self))

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ):
        # Whoosh's protocol: one Token object, mutated and yielded again for each token.
        # Character offsets (chars=True) refer to the normalized text, which has the same length as
        # the original for everything but compatibility characters; highlighting does not use them.
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        token.boost, token.stopped = 1.0, False
        weight = 1.0
        text = normalize(value)
        if not tokenize:
            token.original = token.text = text
            token.pos, token.startchar, token.endchar = start_pos, start_char, start_char + len(text)
            yield token
            return
        pos = start_pos
        for kind, run, start, _end in runs(text):
            if kind == "cjk":
                start += start_char
                last = len(run) - 1
                token.boost = weight
                for i in range(last + 1):
                    token.pos = pos + i
                    if i < last:
                        token.text = token.original = run[i : i + 2]
                        token.startchar, token.endchar = start + i, start + i + 2
                        yield token
                    if i == 0 or i == last:
                        token.text = token.original = run[i]
                        token.startchar, token.endchar = start + i, start + i + 1
                        yield token
                pos += len(run)
            elif kind == "word":
                token.text = token.original = run
                token.boost = weight
                token.pos = pos
                token.startchar, token.endchar = start_char + start, start_char + start + len(run)
                yield token
                pos += 1
            elif kind == "break":
                pos += 1  # phrases must not join two lines (fields of the combined text)
            else:
                weight = TITLE_WEIGHT if run == TITLE_START else 1.0


def chinese_analyzer():
    """The analyzer of the full-text field (a module-level class, so the pickle can be loaded)."""
    return CjkBigramTokenizer()


def word_runs(word):
    """The runs of a query word: ``[(kind, run)]`` with CJK runs separated only by spaces joined
    into one (Chinese is written without spaces: "人工 智能" means 人工智能). Runs separated by
    punctuation stay apart, as the index keeps them ("备份测试：春天的花" is two runs there)."""
    text = normalize(word)
    pieces = []
    previous_end = None
    for kind, run, start, end in runs(text):
        if kind == "cjk" and pieces and pieces[-1][0] == "cjk" and not text[previous_end:start].strip():
            pieces[-1] = ("cjk", pieces[-1][1] + run)
        elif kind in ("cjk", "word"):
            pieces.append((kind, run))
        previous_end = end
    return pieces


def query_terms(word):
    """The index terms a query word must match, in order, one position apart.

    Searching for the word means searching for these terms as a phrase (a single term: a term
    query; a single CJK character alone: see ``is_single_char``). A CJK
    run contributes its bigrams, or its one character; when a Latin run follows it, the run's last
    character is added too, because the Latin token sits one position after that character (not
    after the last bigram, which starts one character earlier). Returns ``[]`` for a word without
    letters, digits or CJK characters.
    """
    terms = []
    pieces = word_runs(word)
    for index, (kind, run) in enumerate(pieces):
        if kind == "word" or len(run) == 1:
            terms.append(run)
            continue
        terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        if index < len(pieces) - 1:
            terms.append(run[-1])
    return terms


def is_single_char(terms):
    """True for the terms of a one-character CJK word. The index has the character as a term only
    where it starts or ends a run, so such a word is searched as every term starting with it
    (``matching``)."""
    return len(terms) == 1 and len(terms[0]) == 1 and bool(_CJK_CHAR.match(terms[0]))


def match_pattern(word):
    """A regex finding ``word`` in normalized text with the index's semantics (used to highlight):
    CJK characters contiguous, runs of letters and of digits whole, separators allowed between a
    CJK and a Latin run or two Latin runs (iphone7 is found in "iPhone 7"). Returns None for a
    word without letters, digits or CJK characters."""
    parts = []
    for kind, run in word_runs(word):
        if kind == "word":
            same = _DIGIT if run[0].isdecimal() else _LETTER  # a piece is all letters or all digits
            parts.append(rf"(?<!{same}){re.escape(run)}(?!{same})")
        else:
            parts.append(re.escape(run))
    if not parts:
        return None
    # Between two runs: separators (anything but letters, digits and CJK; "_" is one), not a line
    # break, which ends a phrase.
    return re.compile(r"(?:[^\w\n]|_)*".join(parts))
