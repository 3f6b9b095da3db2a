"""The ``Content-Disposition`` header for downloads, shared by the S3 backend and the app."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

#: Longest display name sent, in UTF-8 bytes: what common file systems accept for one name.
MAX_NAME_BYTES = 255
#: Longest ASCII fallback name; old clients only need something recognisable.
MAX_FALLBACK_CHARS = 150
#: Extensions longer than this are treated as part of the name when truncating.
MAX_EXTENSION_CHARS = 16
DEFAULT_NAME = "download"

# Characters the quoted-string fallback cannot carry safely: quotes and backslashes end or escape
# the string, and some browsers percent-decode ``filename=`` although RFC 6266 says not to.
_FALLBACK_DROP = frozenset('"\\%')


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """Return a header value like ``attachment; filename="x.mp4"; filename*=UTF-8''%E8…``.

    ``filename*`` (RFC 6266 / RFC 8187) carries the real name, Chinese included, to every current
    browser; ``filename`` is a plain-ASCII fallback for old clients. Both have directory parts,
    control characters (CR/LF included) and Unicode direction overrides removed, leading dots
    stripped and are truncated (keeping the extension), so an uploader's name can neither split
    the header nor pick where the file lands. An empty result becomes ``download``.

    Raises ValueError when ``disposition`` is not ``attachment`` or ``inline``.
    """
    if disposition not in ("attachment", "inline"):
        raise ValueError(f"disposition must be 'attachment' or 'inline', not {disposition!r}")
    name = display_name(filename)
    fallback = ascii_fallback(name)
    encoded = quote(name, safe="", encoding="utf-8")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def display_name(filename: str) -> str:
    """The user's file name made safe to send: last path part, no control characters, bounded."""
    name = unicodedata.normalize("NFC", str(filename))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not _is_unsafe(ch))
    name = " ".join(name.split())  # tabs, runs of spaces, odd Unicode spaces
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return DEFAULT_NAME
    return _truncate(name, lambda text: len(text.encode("utf-8")), MAX_NAME_BYTES)


def ascii_fallback(name: str) -> str:
    """An ASCII-only version of a display name, for the plain ``filename=`` parameter."""
    stem, ext = _split_extension(name)
    stem = _ascii_only(stem).lstrip(". ").rstrip(". ")
    ext = _ascii_only(ext)
    if ext == ".":
        ext = ""
    # "课程视频.mp4" keeps only ".mp4": call it download.mp4 rather than a hidden file.
    return _truncate((stem or DEFAULT_NAME) + ext, len, MAX_FALLBACK_CHARS)


def _ascii_only(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)  # "café" -> "cafe" + combining accent
    kept = "".join(ch for ch in decomposed if 0x20 <= ord(ch) < 0x7F and ch not in _FALLBACK_DROP)
    return " ".join(kept.split())


def _is_unsafe(ch: str) -> bool:
    # Cc: controls (CR, LF, NUL…); Cf: format characters such as U+202E RIGHT-TO-LEFT OVERRIDE,
    # which makes "gpj.exe" display as "exe.jpg"; Cs: lone surrogates, which cannot be encoded;
    # Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _split_extension(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > MAX_EXTENSION_CHARS + 1:
        return name, ""
    return name[:dot], name[dot:]


def _truncate(name: str, measure, limit: int) -> str:
    if measure(name) <= limit:
        return name
    stem, ext = _split_extension(name)
    if measure(ext) >= limit:
        stem, ext = name, ""
    stem = stem[:limit]  # every character takes at least one unit: a cheap first cut
    while stem and measure(stem + ext) > limit:
        stem = stem[:-1]
    return (stem.rstrip(". ") or DEFAULT_NAME[: max(1, limit - measure(ext))]) + ext
