"""The ``Content-Disposition`` header for downloads, shared by the S3 backend and the app."""

from __future__ import annotations

import re
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
# What Windows refuses in a name (and ``/`` everywhere, ``:`` on macOS): a name is never a path.
# The UTF-8 name gets the full-width look-alikes Chinese text uses anyway (标题“A/B” is saved as
# “A／B”); the ASCII fallback gets ``_``.
_ILLEGAL = '/\\:*?"<>|'
_FULL_WIDTH = str.maketrans({ch: chr(ord(ch) + 0xFEE0) for ch in _ILLEGAL})
_UNDERSCORE = str.maketrans(dict.fromkeys(_ILLEGAL.replace('"', ""), "_"))  # '"' is dropped
_EXTENSION = re.compile(rf"\.[^\W_]{{1,{MAX_EXTENSION_CHARS}}}")
# Device names Windows will not create a file as, whatever the extension ("CON.mp4", "nul.txt").
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")}
)


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """Return a header value like ``attachment; filename="x.mp4"; filename*=UTF-8''%E8…``.

    ``filename*`` (RFC 6266 / RFC 8187) carries the real name, Chinese included, to every current
    browser; ``filename`` is a plain-ASCII fallback for old clients. Both are names a browser or
    ``curl -OJ`` can save as given on Windows, macOS and Linux: no control characters (CR/LF
    included) or Unicode direction overrides; ``/ \\ : * ? " < > |`` replaced (a title "A/B" is
    one name, not a folder); no leading or trailing dots and spaces; no Windows device names
    (``CON``, ``NUL``, ``COM1``…); truncated keeping the extension. A name with nothing
    recognisable left becomes ``download`` (keeping its extension).

    Raises ValueError when ``disposition`` is not ``attachment`` or ``inline``.
    """
    if disposition not in ("attachment", "inline"):
        raise ValueError(f"disposition must be 'attachment' or 'inline', not {disposition!r}")
    name = display_name(filename)
    fallback = ascii_fallback(name)
    encoded = quote(name, safe="", encoding="utf-8")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def display_name(filename: str) -> str:
    """The user's file name made safe to send and to save: one name, no controls, bounded."""
    name = unicodedata.normalize("NFC", str(filename))
    name = "".join(ch for ch in name if not _is_unsafe(ch))
    name = name.translate(_FULL_WIDTH)
    name = " ".join(name.split())  # tabs, runs of spaces, odd Unicode spaces
    return _finish(name, lambda text: len(text.encode("utf-8")), MAX_NAME_BYTES)


def ascii_fallback(name: str) -> str:
    """An ASCII-only version of a display name, for the plain ``filename=`` parameter."""
    stem, ext = _split_extension(name)
    stem, ext = _ascii_only(stem), _ascii_only(ext)
    if not any(ch.isalnum() for ch in stem):
        # "课程视频.mp4" keeps only ".mp4", "：.jpg" only "_.jpg": call them download.mp4/.jpg.
        stem = DEFAULT_NAME
    if not _EXTENSION.fullmatch(ext):
        ext = ""
    return _finish(stem + ext, len, MAX_FALLBACK_CHARS)


def _ascii_only(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).translate(_UNDERSCORE)  # "café" -> "cafe" + accent
    kept = "".join(ch for ch in decomposed if 0x20 <= ord(ch) < 0x7F and ch not in _FALLBACK_DROP)
    return " ".join(kept.split())


def _finish(name: str, measure, limit: int) -> str:
    """Strip dots and spaces at both ends, avoid device names, truncate (keeping the extension)."""
    stem, ext = _split_extension(name.strip(" "))
    name = (stem.strip(". ") or DEFAULT_NAME) + ext  # a title "..." still downloads as download.jpg
    device, dot, rest = name.partition(".")  # Windows reads "CON.tar.gz" as the device CON
    if device.rstrip(" ").upper() in _RESERVED:
        name = f"{device}_{dot}{rest}"
    return _truncate(name, measure, limit)


def _is_unsafe(ch: str) -> bool:
    # Cc: controls (CR, LF, NUL…); Cf: format characters such as U+202E RIGHT-TO-LEFT OVERRIDE,
    # which makes "gpj.exe" display as "exe.jpg"; Cs: lone surrogates, which cannot be encoded;
    # Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _split_extension(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or not _EXTENSION.fullmatch(name[dot:]):
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
