"""Text people type: one cleaning rule for every title, tag, summary, name, reason and message.

What is stored is what every reader sees, so invisible characters are removed on arrival:

* bidi controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) — ``科普\\u202egpj.exe``
  shows as ``科普exe.jpg``;
* zero-width characters (U+200B–U+200D, U+2060, U+FEFF) — two titles that look the same are
  different strings, and a word with one inside is not found by search;
* control characters (C0, DEL, C1): a single-line field turns line breaks and tabs into a space,
  a multi-line field keeps them (``\\r\\n`` becomes ``\\n``);

and the rest is NFC-normalised, so the same text typed on two keyboards is the same string.
Upload file names have their own, stricter rule (``cloud.media.sniff.display_name``).
"""

import re
import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_INVISIBLE = {ord(ch): None for ch in BIDI_CONTROLS | ZERO_WIDTH}
# Every C0 control except tab and line feed, DEL and the C1 controls: never meant in typed text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]")


def clean_text(value, *, multiline=False):
    """``value`` as it should be stored: invisible and control characters removed, NFC, stripped.

    ``None`` becomes ``""``; anything else that is not a string is turned into one. Single-line
    fields (``multiline=False``: titles, tags, names) get a space for each line break or tab;
    multi-line fields (summaries, reasons, message bodies) keep ``\\n`` and tabs. Never raises.
    """
    if value is None:
        return ""
    text = str(value).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if multiline:
        text = text.replace("\x85", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    else:
        text = _LINE_BREAKS.sub(" ", text)
    text = _CONTROLS.sub("", text)
    # NFC last: removing a character can bring a base and its combining mark together.
    return unicodedata.normalize("NFC", text).strip()
