"""Where a photo was taken, removed from the original without touching a pixel.

Phones write the place into EXIF (the GPS IFD) and XMP (``exif:GPSLatitude`` …, the IPTC location
fields). Previews are re-encoded without any metadata; the original offered to stations is the
uploader's file, so its location is removed here, losslessly:

- the GPS IFD of every EXIF block is emptied in place (its entries and their values overwritten with
  zeros, the entry count set to 0): the block keeps its size, so every other offset in it (maker
  notes, the thumbnail) and in the file stays right;
- location properties in XMP packets are overwritten with spaces of the same length (still
  well-formed XML, same size);
- JPEG: every ``APP1`` Exif/XMP segment in the file, also those of the secondary pictures of an MPF
  file (depth maps, HDR gain maps) that follow the first picture; PNG: ``eXIf`` and XMP ``iTXt``
  chunks (CRC recomputed; compressed XMP and ImageMagick's "Raw profile" text chunks are dropped);
  WebP: the ``EXIF`` and ``XMP `` chunks; PSD/PSB: the EXIF (1058) and XMP (1060) image resources.

The compressed picture data is never read or written: the cleaned file decodes to the same pixels.
Plain library code: local paths in, a local file out, nothing held in memory but one metadata block
at a time (the copy is patched through ``mmap``). Nothing here imports Flask.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

from cloud.media.sniff import sniff

GPS_IFD_TAG = 0x8825
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")

# XMP properties that say where: the EXIF GPS set in any namespace prefix, and the IPTC/Photoshop
# place fields (city, state, country, the structured LocationCreated/LocationShown).
_PLACE = (
    rb"[\w.-]+:(?:GPS\w*|City|State|Country|CountryCode|Location|LocationCreated|LocationShown|Sublocation)"
)
_XMP_LOCATION = re.compile(
    rb"\s" + _PLACE + rb"\s*=\s*(?:\"[^\"]*\"|'[^']*')"  # attribute form
    rb"|<(" + _PLACE + rb")\b[^>]*/>"  # empty element
    rb"|<(" + _PLACE + rb")\b[^>]*>.*?</\2\s*>",  # element with content (structures too)
    re.DOTALL,
)


def blank_tiff_gps(buf, start: int, end: int) -> bool:
    """Empty the GPS IFD of the TIFF structure at ``buf[start:end]`` in place; True if it had one.

    Malformed structures are left as they are (nothing found, nothing written outside the block).
    """
    if end - start < 8:
        return False
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[start : start + 2]))
    if order is None:
        return False

    def u16(at):
        return struct.unpack_from(order + "H", buf, start + at)[0]

    def u32(at):
        return struct.unpack_from(order + "I", buf, start + at)[0]

    size = end - start
    ifd0 = u32(4)
    if ifd0 + 2 > size:
        return False
    gps = None
    for number in range(u16(ifd0)):
        entry = ifd0 + 2 + 12 * number
        if entry + 12 > size:
            return False
        if u16(entry) == GPS_IFD_TAG:
            gps = u32(entry + 8)
    if gps is None or gps + 2 > size:
        return False
    count = u16(gps)
    if count == 0 or gps + 2 + 12 * count > size:
        return False
    for number in range(count):
        entry = gps + 2 + 12 * number
        kind, items = u16(entry + 2), u32(entry + 4)
        length = _TIFF_TYPE_SIZES.get(kind, 1) * items
        if length > 4:
            value = u32(entry + 8)
            if value + length <= size:
                buf[start + value : start + value + length] = bytes(length)
        buf[start + entry : start + entry + 12] = bytes(12)
    struct.pack_into(order + "H", buf, start + gps, 0)
    return True


def redact_xmp(buf, start: int, end: int) -> bool:
    """Overwrite location properties in the XMP text at ``buf[start:end]`` with spaces; True if any."""
    found = False
    for match in _XMP_LOCATION.finditer(bytes(buf[start:end])):
        a, b = match.span()
        buf[start + a : start + b] = b" " * (b - a)
        found = True
    return found


def strip_location(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """Write ``src`` without its location metadata to ``dst``; False (nothing written) if it had none.

    JPEG, PNG, WebP and PSD/PSB are cleaned; any other content is left alone (False). Only
    metadata bytes change. I/O errors propagate; a malformed block is left as it is.
    """
    kind = sniff(src).kind
    cleaner = {"jpeg": _jpeg, "webp": _webp, "psd": _psd, "psb": _psd}.get(kind)
    dst = Path(dst)
    if kind == "png":
        changed = _png(src, dst)
    elif cleaner is None:
        return False
    else:
        shutil.copyfile(src, dst)
        with open(dst, "r+b") as fh, mmap.mmap(fh.fileno(), 0) as buf:
            changed = cleaner(buf)
            buf.flush()
    if not changed:
        dst.unlink(missing_ok=True)
    return changed


def _jpeg(buf) -> bool:
    # FF E1 cannot occur inside entropy-coded data (an FF there is followed by 00 or a restart
    # marker), so every APP1 of the file is found, the secondary pictures' ones included.
    changed = False
    at = buf.find(b"\xff\xe1")
    while at >= 0 and at + 4 <= len(buf):
        length = struct.unpack_from(">H", buf, at + 2)[0]
        body, end = at + 4, min(at + 2 + length, len(buf))
        if buf[body : body + 6] == _EXIF_HEADER:
            changed |= blank_tiff_gps(buf, body + 6, end)
        else:
            for header in _XMP_HEADERS:
                if buf[body : body + len(header)] == header:
                    changed |= redact_xmp(buf, body + len(header), end)
        at = buf.find(b"\xff\xe1", at + 2)
    return changed


def _webp(buf) -> bool:
    changed = False
    at = 12
    while at + 8 <= len(buf):
        kind = bytes(buf[at : at + 4])
        length = struct.unpack_from("<I", buf, at + 4)[0]
        body, end = at + 8, min(at + 8 + length, len(buf))
        if kind == b"EXIF":
            skip = 6 if buf[body : body + 6] == _EXIF_HEADER else 0
            changed |= blank_tiff_gps(buf, body + skip, end)
        elif kind == b"XMP ":
            changed |= redact_xmp(buf, body, end)
        at = body + length + (length & 1)
    return changed


def _psd(buf) -> bool:
    changed = False
    try:
        colour_data = struct.unpack_from(">I", buf, 26)[0]
        section_start = 26 + 4 + colour_data
        section_end = section_start + 4 + struct.unpack_from(">I", buf, section_start)[0]
    except struct.error:
        return False
    at = section_start + 4
    while at + 12 <= min(section_end, len(buf)):
        resource_id = struct.unpack_from(">H", buf, at + 4)[0]
        name_length = buf[at + 6]
        size_at = at + 6 + name_length + 1 + (name_length + 1) % 2
        if size_at + 4 > len(buf):
            break
        length = struct.unpack_from(">I", buf, size_at)[0]
        body, end = size_at + 4, min(size_at + 4 + length, section_end, len(buf))
        if resource_id == 0x0422:  # EXIF data 1
            changed |= blank_tiff_gps(buf, body, end)
        elif resource_id == 0x0424:  # XMP metadata
            changed |= redact_xmp(buf, body, end)
        at = body + length + (length & 1)
    return changed


_RAW_PROFILES = (b"raw profile type exif", b"raw profile type xmp", b"raw profile type app1")


def _png(src, dst: Path) -> bool:
    """PNG chunks carry CRCs: the file is rewritten chunk by chunk (picture data copied in pieces)."""
    changed = False
    with open(src, "rb") as fin, open(dst, "wb") as out:
        out.write(fin.read(8))
        while header := fin.read(8):
            if len(header) < 8:
                out.write(header)
                break
            length, kind = struct.unpack(">I4s", header)
            if kind in (b"eXIf", b"iTXt", b"tEXt", b"zTXt") and length <= 16 * 1024 * 1024:
                data = bytearray(fin.read(length))
                crc = fin.read(4)
                keep, patched = _png_text_chunk(kind, data)
                changed |= patched or not keep
                if keep:
                    new_crc = struct.pack(">I", zlib.crc32(kind + data)) if patched else crc
                    out.write(header + bytes(data) + new_crc)
                continue
            out.write(header)
            _copy(fin, out, length + 4)
            if kind == b"IEND":
                shutil.copyfileobj(fin, out)  # whatever trails the file stays as it was
                break
    return changed


def _png_text_chunk(kind: bytes, data: bytearray) -> tuple[bool, bool]:
    """(keep the chunk, it was patched) for an eXIf or text chunk."""
    if kind == b"eXIf":
        return True, blank_tiff_gps(data, 0, len(data))
    keyword = bytes(data[: data.find(b"\x00")]) if b"\x00" in data else b""
    if kind == b"iTXt" and keyword == b"XML:com.adobe.xmp":
        # keyword \0 compression-flag compression-method language \0 translated \0 text
        try:
            if data[len(keyword) + 1] != 0:
                return False, False  # compressed XMP: dropped rather than inflated
            text_at = len(keyword) + 3
            for _ in range(2):
                text_at = data.index(b"\x00", text_at) + 1
        except (IndexError, ValueError):
            return False, False  # a malformed XMP chunk: nothing reads it, nothing keeps it
        return True, redact_xmp(data, text_at, len(data))
    if keyword.lower().startswith(
        (b"raw profile type exif", b"raw profile type xmp", b"raw profile type app1")
    ):
        return False, False  # ImageMagick's hex-encoded EXIF/XMP: nothing needs it
    return True, False


def _copy(fin, out, length: int) -> None:
    while length > 0:
        piece = fin.read(min(length, 1 << 20))
        if not piece:
            return
        out.write(piece)
        length -= len(piece)
