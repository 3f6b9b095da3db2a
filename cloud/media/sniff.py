"""File type from content, and the upload gate that checks name, extension and content together.

The type is decided from the first bytes of the file (magic numbers), never from the name or the
browser's Content-Type. :func:`check_upload` then applies, in this order: the name rules (decoded,
NFC, no control characters, no trailing dots/spaces, no executable inner extension), the extension
allow-list and the content allow-list of the upload's :class:`FileRules` (each resource kind's are
in ``cloud.resources.kinds``), and agreement between content and extension.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from cloud.media.ffmpeg import MediaRejected

#: Bytes read from the start of a file; every signature below lies within them.
SNIFF_BYTES = 4096

DISPLAY_NAME_MAX = 200
UNNAMED = "未命名文件"

MSG_UNKNOWN = "无法识别的文件格式"
MSG_WRONG_TYPE = "文件内容是{label}，不能作为{type_label}上传"
MSG_MISMATCH = "文件内容与扩展名不符：扩展名为 .{ext}，实际内容是 {label}"
MSG_EXT_NOT_ALLOWED = "不支持的文件扩展名，{type_label}仅支持 {exts}"
MSG_NO_EXT = "文件名缺少扩展名，{type_label}仅支持 {exts}"
MSG_NAME_EMPTY = "文件名为空"
MSG_NAME_CONTROL = "文件名包含不可见的控制字符（如空字符、换行），请重命名后再上传"
MSG_NAME_TRAILING = "文件名不能以空格或点结尾，请重命名后再上传"
MSG_NAME_ENCODING = "文件名编码无效，请重命名后再上传"
MSG_NAME_DOUBLE_EXT = "文件名包含可执行文件的扩展名（.{inner}），请重命名后再上传"
MSG_EMPTY_FILE = "文件为空"


class UploadRejected(MediaRejected):
    """An upload refused by name or content: ``UploadRejected(detail, message)``, message in Chinese."""

    default_message = MSG_UNKNOWN


@dataclass(frozen=True)
class Sniffed:
    """What the content is: ``kind`` (our short name), its MIME type and canonical extension (no dot)."""

    kind: str
    mime: str
    ext: str

    @property
    def label(self) -> str:
        """Human label for messages (format names are the same in Chinese UIs)."""
        return _LABELS.get(self.kind, self.kind.upper())


@dataclass(frozen=True)
class AcceptedUpload:
    """The result of :func:`check_upload`: the content type, the decoded name's extension, a display name."""

    sniffed: Sniffed
    ext: str
    display_name: str


UNKNOWN = Sniffed("unknown", "application/octet-stream", "")

_KINDS: dict[str, tuple[str, str]] = {
    "jpeg": ("image/jpeg", "jpg"),
    "png": ("image/png", "png"),
    "gif": ("image/gif", "gif"),
    "webp": ("image/webp", "webp"),
    "bmp": ("image/bmp", "bmp"),
    "tiff": ("image/tiff", "tif"),
    "heic": ("image/heic", "heic"),
    "avif": ("image/avif", "avif"),
    "psd": ("image/vnd.adobe.photoshop", "psd"),
    "psb": ("image/vnd.adobe.photoshop", "psb"),
    "pdf": ("application/pdf", "pdf"),
    "eps": ("application/postscript", "eps"),
    "fits": ("image/fits", "fits"),
    "svg": ("image/svg+xml", "svg"),
    "html": ("text/html", "html"),
    "script": ("text/plain", "txt"),
    "zip": ("application/zip", "zip"),
    "executable": ("application/octet-stream", "bin"),
    "mp4": ("video/mp4", "mp4"),
    "mov": ("video/quicktime", "mov"),
    "3gp": ("video/3gpp", "3gp"),
    "m4a": ("audio/mp4", "m4a"),
    "webm": ("video/webm", "webm"),
    "mkv": ("video/x-matroska", "mkv"),
    "avi": ("video/x-msvideo", "avi"),
    "wav": ("audio/wav", "wav"),
    "ogg": ("audio/ogg", "ogg"),
    "opus": ("audio/ogg; codecs=opus", "opus"),
    "ogv": ("video/ogg", "ogv"),
    "flac": ("audio/flac", "flac"),
    "mp3": ("audio/mpeg", "mp3"),
}

_LABELS = {
    "jpeg": "JPEG 图片",
    "png": "PNG 图片",
    "gif": "GIF 图片",
    "webp": "WebP 图片",
    "bmp": "BMP 图片",
    "tiff": "TIFF 图片",
    "heic": "HEIC 图片",
    "avif": "AVIF 图片",
    "psd": "PSD 文件",
    "psb": "PSB 文件",
    "pdf": "PDF 文档",
    "eps": "EPS 文件",
    "fits": "FITS 文件",
    "svg": "SVG 文件",
    "html": "HTML 网页",
    "script": "脚本文件",
    "zip": "压缩包",
    "executable": "可执行程序",
    "mp4": "MP4 视频",
    "mov": "MOV 视频",
    "3gp": "3GP 视频",
    "m4a": "M4A 音频",
    "webm": "WebM 视频",
    "mkv": "MKV 视频",
    "avi": "AVI 视频",
    "wav": "WAV 音频",
    "ogg": "OGG 音频",
    "opus": "Opus 音频",
    "ogv": "OGG 视频",
    "flac": "FLAC 音频",
    "mp3": "MP3 音频",
    "unknown": "未知格式",
}


@dataclass(frozen=True)
class FileRules:
    """What one kind of upload accepts: its Chinese name for messages, the extensions a name may
    end with, and the content kinds (as :func:`sniff` names them) the file may hold.

    The kinds' own table (``cloud.resources.kinds``) holds one per kind; this module knows formats.
    """

    label: str
    extensions: tuple[str, ...]
    contents: frozenset[str]


#: Which content kinds agree with an extension. Containers of one family share names in real life
#: (an iPhone .mov with an MP4 brand, a WebM saved as .mkv), so agreement is by family, not exact kind.
_ISO_VIDEO = frozenset({"mp4", "mov", "3gp"})
_MATROSKA = frozenset({"mkv", "webm"})
_OGG_AUDIO = frozenset({"ogg", "opus"})
EXT_FAMILY: dict[str, frozenset[str]] = {
    "jpg": frozenset({"jpeg"}),
    "jpeg": frozenset({"jpeg"}),
    "png": frozenset({"png"}),
    "gif": frozenset({"gif"}),
    "webp": frozenset({"webp"}),
    "psd": frozenset({"psd", "psb"}),
    "psb": frozenset({"psd", "psb"}),
    "mp4": _ISO_VIDEO,
    "m4v": _ISO_VIDEO,
    "mov": _ISO_VIDEO,
    "3gp": _ISO_VIDEO,
    "webm": _MATROSKA,
    "mkv": _MATROSKA,
    "avi": frozenset({"avi"}),
    "mp3": frozenset({"mp3"}),
    "m4a": frozenset({"m4a", "mp4"}),
    "wav": frozenset({"wav"}),
    "ogg": _OGG_AUDIO,
    "oga": _OGG_AUDIO,
    "opus": _OGG_AUDIO,
    "flac": frozenset({"flac"}),
}

#: Inner extensions that make a double extension dangerous (``shell.php.jpg``): a misconfigured web
#: server or a Windows user double-clicking may act on the inner one.
EXECUTABLE_EXTENSIONS = frozenset(
    {
        "php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phar", "phps", "inc",
        "asp", "aspx", "ascx", "ashx", "asmx", "asa", "cer", "cdx", "axd", "config",
        "jsp", "jspx", "jsw", "jsv", "jspf", "do", "action",
        "cgi", "pl", "pm", "py", "pyc", "rb", "sh", "bash", "zsh", "ksh", "csh",
        "exe", "dll", "com", "bat", "cmd", "scr", "msi", "msp", "pif", "cpl", "sys", "drv",
        "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "wsc", "ps1", "psm1", "psd1", "hta",
        "html", "htm", "xhtml", "shtml", "shtm", "stm", "svg", "svgz", "xml", "xsl", "swf",
        "jar", "war", "ear", "class", "lnk", "reg", "inf", "htaccess", "elf", "so", "apk", "app",
    }
)  # fmt: skip

_FTYP_BRANDS: dict[bytes, str] = {
    b"qt  ": "mov",
    b"M4A ": "m4a",
    b"M4B ": "m4a",
    b"M4P ": "m4a",
    b"F4A ": "m4a",
    b"heic": "heic",
    b"heix": "heic",
    b"hevc": "heic",
    b"heim": "heic",
    b"heis": "heic",
    b"avif": "avif",
    b"avis": "avif",
}
# "BM" alone is too common a start for text; the DIB header size that follows makes it a bitmap.
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_HTML_STARTS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<title",
    b"<meta",
    b"<a ",
    b"<div",
    b"<p>",
    b"<img",
    b"<style",
    b"<table",
    b"<h1",
    b"<br",
    b"<b>",
    b"<!--",
)


def _sniffed(kind: str) -> Sniffed:
    mime, ext = _KINDS[kind]
    return Sniffed(kind, mime, ext)


def _mp3_frame_header(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0x03
    layer = (head[1] >> 1) & 0x03
    bitrate = head[2] >> 4
    sample_rate = (head[2] >> 2) & 0x03
    # Version 01 and layer 00 are reserved (layer 00 is also how AAC ADTS starts).
    return version != 1 and layer != 0 and bitrate not in (0, 15) and sample_rate != 3


def _ebml_doctype(head: bytes) -> bytes | None:
    index = head.find(b"\x42\x82", 4, 64)
    if index < 0 or index + 3 > len(head):
        return None
    size_byte = head[index + 2]
    if not size_byte & 0x80:
        return None
    size = size_byte & 0x7F
    return head[index + 3 : index + 3 + size].rstrip(b"\x00")


def _sniff_ftyp(head: bytes) -> Sniffed:
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    if major in _FTYP_BRANDS:
        return _sniffed(_FTYP_BRANDS[major])
    if major.startswith((b"3gp", b"3g2")):
        return _sniffed("3gp")
    end = min(box_size, len(head)) if box_size >= 16 else min(64, len(head))
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    # The generic HEIF brands (mif1, msf1) say "some HEIF image"; the compatible list says which.
    if major in (b"mif1", b"msf1") or compatible & {b"heic", b"heix", b"mif1", b"msf1", b"avif"}:
        return _sniffed("avif" if compatible & {b"avif", b"avis"} else "heic")
    return _sniffed("mp4")


def _sniff_text(head: bytes) -> Sniffed | None:
    text = head.lstrip(b"\xef\xbb\xbf\x00 \t\r\n").lower()
    if text.startswith((b"<?php", b"#!")):
        return _sniffed("script")
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in text):
        return _sniffed("svg")
    if text.startswith(_HTML_STARTS) or (text.startswith(b"<?xml") and b"<html" in text):
        return _sniffed("html")
    return None


def sniff_bytes(head: bytes) -> Sniffed:
    """Type of content whose first bytes are ``head`` (pass at least the first 4 KB when there are)."""
    if head.startswith(b"\xff\xd8\xff"):
        return _sniffed("jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _sniffed("png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _sniffed("gif")
    if head[:4] in (b"RIFF", b"RF64"):
        form = head[8:12]
        if form == b"WEBP":
            return _sniffed("webp")
        if form == b"WAVE":
            return _sniffed("wav")
        if form in (b"AVI ", b"AVIX"):
            return _sniffed("avi")
        return UNKNOWN
    if head.startswith(b"8BPS"):
        version = int.from_bytes(head[4:6], "big")
        return _sniffed({1: "psd", 2: "psb"}[version]) if version in (1, 2) else UNKNOWN
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return _sniffed("tiff")
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return _sniffed("bmp")
    if head.startswith(b"%PDF-"):
        return _sniffed("pdf")
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return _sniffed("eps")
    if head.startswith(b"SIMPLE  ="):
        return _sniffed("fits")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype = _ebml_doctype(head)
        if doctype == b"webm":
            return _sniffed("webm")
        if doctype == b"matroska":
            return _sniffed("mkv")
        return UNKNOWN
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        # Old QuickTime files start straight with an atom; size 0 means "to end of file", 1 "64-bit size".
        atom_size = int.from_bytes(head[0:4], "big")
        if atom_size in (0, 1) or atom_size >= 8:
            return _sniffed("mov")
    if head.startswith(b"OggS"):
        first_page = head[:512]
        if b"OpusHead" in first_page:
            return _sniffed("opus")
        if b"\x80theora" in first_page:
            return _sniffed("ogv")
        return _sniffed("ogg")
    if head.startswith(b"fLaC"):
        return _sniffed("flac")
    if head.startswith(b"ID3") or _mp3_frame_header(head):
        return _sniffed("mp3")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf")):
        return _sniffed("zip")
    if head.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")):
        return _sniffed("executable")
    return _sniff_text(head) or UNKNOWN


def sniff(path: str | os.PathLike[str]) -> Sniffed:
    """Decide the type of the file at ``path`` from its first bytes (kind ``unknown`` when unsure)."""
    with open(path, "rb") as fp:
        return sniff_bytes(fp.read(SNIFF_BYTES))


_CONTROL_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _has_control(name: str) -> bool:
    # Cf covers the bidi overrides (U+202E turns "gpj.exe" into what looks like "exe.jpg").
    return any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in name)


def _decode_name(raw: str) -> str:
    """Percent-decode once and NFC-normalise; refuse names that still hold escapes (double encoding)."""
    try:
        decoded = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise UploadRejected(f"name {raw!r}: {exc}", MSG_NAME_ENCODING) from exc
    if _PERCENT_ESCAPE.search(decoded):
        raise UploadRejected(f"name {raw!r} is percent-encoded twice", MSG_NAME_ENCODING)
    return unicodedata.normalize("NFC", decoded)


def _basename(name: str) -> str:
    # Browsers on Windows used to send the full path ("C:\\Users\\...\\a.jpg"): keep the last part.
    return re.split(r"[/\\]", name)[-1]


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip(". "):
        return name, ""
    return stem, ext


def check_name(rules: FileRules, filename: str) -> tuple[str, str]:
    """Check an uploaded file's name against ``rules``; returns (decoded name, lower-case extension).

    Raises UploadRejected for a name with NUL/CR/LF/other control characters
    (also when percent-encoded), trailing spaces or dots, an executable inner extension
    (``shell.php.jpg``), or an extension outside the type's allow-list.
    """
    type_label = rules.label
    exts = "、".join(rules.extensions)
    name = _decode_name(filename)
    if _has_control(name):
        raise UploadRejected(f"control character in {filename!r}", MSG_NAME_CONTROL)
    name = _basename(name)
    if not name.strip():
        raise UploadRejected(f"empty name {filename!r}", MSG_NAME_EMPTY)
    # Windows drops trailing dots and spaces when saving, so "x.php." becomes "x.php" on disk.
    if name[-1] == "." or name[-1].isspace():
        raise UploadRejected(f"trailing dot/space in {filename!r}", MSG_NAME_TRAILING)
    stem, ext = _split_ext(name)
    if not ext:
        raise UploadRejected(
            f"no extension: {filename!r}", MSG_NO_EXT.format(type_label=type_label, exts=exts)
        )
    # NFKC folds full-width letters and dots ("shell．ｐｈｐ.jpg"); ;: split the IIS "x.php;.jpg" trick.
    for part in re.split(r"[.;:\s]+", unicodedata.normalize("NFKC", stem))[1:]:
        if part.lower() in EXECUTABLE_EXTENSIONS:
            raise UploadRejected(
                f"double extension {filename!r}", MSG_NAME_DOUBLE_EXT.format(inner=part.lower())
            )
    ext = ext.lower()
    if ext not in rules.extensions:
        raise UploadRejected(
            f"extension {ext!r} not allowed for {rules.label}",
            MSG_EXT_NOT_ALLOWED.format(type_label=type_label, exts=exts),
        )
    return name, ext


def check_upload(rules: FileRules, filename: str, path: str | os.PathLike[str]) -> AcceptedUpload:
    """Accept or refuse an uploaded file under ``rules`` (a kind's, see ``cloud.resources.kinds``).

    The name rules of :func:`check_name` apply first; then the content, sniffed from the file's
    first bytes, must be a kind allowed for the type and agree with the extension.
    Raises UploadRejected with a Chinese ``message``.
    """
    name, ext = check_name(rules, filename)
    type_label = rules.label
    if os.path.getsize(path) == 0:
        raise UploadRejected(f"empty file {filename!r}", MSG_EMPTY_FILE)
    found = sniff(path)
    if found.kind == "unknown":
        raise UploadRejected(f"unrecognised content for {filename!r}", MSG_UNKNOWN)
    if found.kind not in EXT_FAMILY.get(ext, ()):
        raise UploadRejected(
            f"content {found.kind} named .{ext} ({filename!r})",
            MSG_MISMATCH.format(ext=ext, label=found.label),
        )
    # Implied by the two checks above for today's tables; kept so a new extension cannot widen a type.
    if found.kind not in rules.contents:
        raise UploadRejected(
            f"content {found.kind} not allowed for {rules.label} ({filename!r})",
            MSG_WRONG_TYPE.format(label=found.label, type_label=type_label),
        )
    return AcceptedUpload(found, ext, display_name(name))


_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')


def display_name(filename: str) -> str:
    """A name safe to show and to send back in ``filename*=UTF-8''…``: Chinese kept, no path, no controls.

    Percent-decodes once (undecodable names are kept as given), NFC-normalises, keeps only the last
    path part, drops control and invisible formatting characters, replaces characters Windows cannot
    store, strips leading/trailing dots and spaces, and shortens to 200 characters keeping the
    extension. Never raises; an empty result becomes "未命名文件".
    """
    name = unquote(filename, errors="replace")
    name = unicodedata.normalize("NFC", name)
    name = "".join(char for char in name if unicodedata.category(char) not in _CONTROL_CATEGORIES)
    name = _basename(name)
    name = _WINDOWS_RESERVED.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return UNNAMED
    if len(name) > DISPLAY_NAME_MAX:
        stem, ext = _split_ext(name)
        suffix = f".{ext}" if ext and len(ext) <= 16 else ""
        name = stem[: DISPLAY_NAME_MAX - len(suffix)].rstrip(" .") + suffix
    return name
