"""Chinese mainland mobile numbers: one canonical spelling, 11 ASCII digits starting with 1."""

import re

# Separators people type between digit groups; anything else (newlines, letters, full-width or
# other non-ASCII digits) makes the number invalid rather than silently cleaned.
_SEPARATORS = re.compile(r"[ \-()]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def normalize_phone(raw):
    """Return the 11-digit number for ``raw``, or None if it is not a CN mobile number.

    Accepts ``13800138000``, ``138 0013 8000``, ``138-0013-8000``, ``+86 138…``, ``0086138…``.
    """
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    text = raw.strip(" ")
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    text = _SEPARATORS.sub("", text)
    # fullmatch with an ASCII-only class: "\n", "١٣٨…" and full-width digits never pass.
    if _MOBILE.fullmatch(text) and text.isascii():
        return text
    return None


def looks_like_phone(raw):
    return normalize_phone(raw) is not None
