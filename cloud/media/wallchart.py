"""Wall charts (挂图): print facts from the header, previews of JPG and PSD/PSB files.

A wall chart is an image meant for printing on a station's wall, so what matters besides the picture is
its pixel size, resolution (DPI), colour mode and the paper it fits. Everything here reads the header
first and refuses over-large files before a single pixel is decoded. The original file is only ever
read. Failures because of the file's content raise :class:`~cloud.media.images.ImageRejected`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageChops, ImageCms, ImageOps
from psd_tools import PSDImage
from psd_tools.compression import PSDDecompressionWarning
from psd_tools.constants import Resource

from cloud.media.images import (
    DECODE_ERRORS,
    ImageRejected,
    inspect_image,
    open_image,
    pixels_zh,
    render_preview,
    save_jpeg,
    to_preview_image,
)

log = logging.getLogger(__name__)

#: A0 at 300 dpi is 9933x14043 ≈ 139.5 Mpx, the biggest chart we expect to be printed well. 200 Mpx
#: leaves room for 3 mm bleed, ~360 dpi A0 or a 全开 sheet at 400 dpi, and refuses the 900 Mpx a PSD
#: header may declare (30000x30000) or the 90 Gpx of a PSB. At 8-bit CMYK that is 800 MB decoded.
WALLCHART_MAX_PIXELS = 200_000_000

#: Budget handed to psd-tools for any single allocation while decoding (its default is 4 GiB).
#: A 200 Mpx 8-bit RGB merged image peaks near 2.4 GB in psd-tools; more means a hostile header.
PSD_MAX_ALLOC_BYTES = 3 * 1024**3

PREVIEW_MAX_SIDE = 2048
PRINT_JPEG_QUALITY = 95
THUMBNAIL_MAX_SIDE = 320

#: Below this effective resolution at the nominal paper size a print looks visibly soft.
MIN_PRINT_DPI = 150
#: A print size within ±10% of a paper's short and long side counts as that paper.
PAPER_TOLERANCE = 0.10
MM_PER_INCH = 25.4

#: Paper sizes in mm, (short, long). 全开/对开/4开 use the common 787x1092 mm 正度 sheet (the 889x1194
#: 大度 sheet is ~10% bigger and would overlap A0 entirely); 对开 and 4开 are its halves, as printers
#: in China quote them.
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "A0": (841, 1189),
    "A1": (594, 841),
    "A2": (420, 594),
    "A3": (297, 420),
    "A4": (210, 297),
    "全开": (787, 1092),
    "对开": (546, 787),
    "4开": (393, 546),
}

PSD_COLOUR_MODES = {
    0: "Bitmap",
    1: "Grayscale",
    2: "Indexed",
    3: "RGB",
    4: "CMYK",
    7: "Multichannel",
    # Duotone pixels are stored as greyscale plus ink curves; we show them as greyscale.
    8: "Grayscale",
    9: "Lab",
}
PIL_COLOUR_MODES = {
    "RGB": "RGB",
    "YCbCr": "RGB",
    "CMYK": "CMYK",
    "L": "Grayscale",
    "1": "Bitmap",
    "P": "Indexed",
    "LAB": "Lab",
}

_PSD_HEADER = struct.Struct(">4sH6sHIIHH")
_RESOLUTION_INFO = struct.Struct(">IHHIHH")
_PSD_MAX_SIDE = {1: 30_000, 2: 300_000}
_PSD_DEPTHS = (1, 8, 16, 32)
_RESOURCE_SIGNATURES = (b"8BIM", b"MeSa", b"AgHg", b"PHUT", b"DCSR", b"8B64")
# Real files hold a few dozen image resources; the cap keeps a crafted section from spinning us.
_MAX_RESOURCE_BLOCKS = 4096
# 4-byte version + 13 bytes for each of at most 56 channels.
_DISPLAY_INFO_MAX = 4 + 56 * 13
# Colour channels per PSD colour mode; channels after them are alpha or spot channels.
_BASE_CHANNELS = {0: 1, 1: 1, 2: 1, 3: 3, 4: 4, 7: 0, 8: 1, 9: 3}
# Values outside this range are writer bugs or placeholders (JFIF's "1:1 aspect only"), not a DPI.
_PLAUSIBLE_DPI = (10.0, 10_000.0)

MSG_NOT_WALLCHART = "挂图仅支持 JPG 或 PSD/PSB 文件"
MSG_PSD_HEADER = "{fmt} 文件头无效，文件可能已损坏"
MSG_PSD_TRUNCATED = "{fmt} 文件不完整（合成图像数据被截断），请重新上传完整文件"
MSG_PSD_CORRUPT = "{fmt} 文件已损坏或结构异常，无法生成预览"
MSG_TOO_LARGE = "挂图尺寸过大：{width}×{height} 像素，超过上限 {limit}像素"
WARN_NO_DPI = "文件未记录分辨率（DPI），无法计算印刷尺寸，请在保存时设置分辨率"
WARN_LOW_DPI = "分辨率偏低：按 {paper} 尺寸印刷仅约 {dpi} dpi，建议不低于 {minimum} dpi"
WARN_LOW_DPI_NO_PAPER = "分辨率偏低：按文件标注的尺寸印刷仅约 {dpi} dpi，建议不低于 {minimum} dpi"
WARN_NO_COMPOSITE = "{fmt} 未保存合成图像（未勾选“最大兼容”），预览由图层重新合成，可能与原稿略有差异"
WARN_SPOT = "文件包含 {count} 个专色通道，预览中按近似颜色叠加显示，印刷前请与印厂确认专色"
WARN_DUOTONE = "双色调（Duotone）文件按灰度显示预览"


@dataclass(frozen=True)
class PrintFacts:
    """Physical size at the file's DPI, the nearest paper and resolution warnings."""

    width_mm: float | None
    height_mm: float | None
    paper: str | None
    orientation: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WallchartFacts:
    """Facts of a wall chart. ``orientation`` is "portrait", "landscape" or "square"."""

    width: int
    height: int
    dpi_x: float | None
    dpi_y: float | None
    colour_mode: str
    bit_depth: int
    channels: int
    width_mm: float | None
    height_mm: float | None
    paper: str | None
    orientation: str
    warnings: list[str]
    format: str = ""


@dataclass(frozen=True)
class PsdHeader:
    """The fixed 26-byte PSD/PSB header plus what we read from the image resources."""

    version: int
    channels: int
    height: int
    width: int
    depth: int
    colour_mode: int
    dpi: tuple[float, float] | None = None
    has_composite: bool = True
    #: (channel index, sRGB ink colour) of each spot-colour channel, from DisplayInfo (0x0435).
    spot_inks: tuple[tuple[int, tuple[int, int, int]], ...] = ()


def _orientation(width: float, height: float) -> str:
    if width == height:
        return "square"
    return "portrait" if height > width else "landscape"


def nearest_paper(width_mm: float, height_mm: float, tolerance: float = PAPER_TOLERANCE) -> str | None:
    """The paper whose (short, long) sides are nearest to the print's, or None if none is within tolerance.

    Orientation does not matter: sides are compared sorted. The distance is the larger of the two
    relative side errors, so a paper matches only if both sides are within ``tolerance``.
    """
    short, long = sorted((width_mm, height_mm))
    best, best_error = None, tolerance
    for name, (paper_short, paper_long) in PAPER_SIZES_MM.items():
        error = max(abs(short - paper_short) / paper_short, abs(long - paper_long) / paper_long)
        if error <= best_error:
            best, best_error = name, error
    return best


def describe_print(width: int, height: int, dpi_x: float | None, dpi_y: float | None) -> PrintFacts:
    """Print size in mm at the file's DPI, nearest paper, and Chinese warnings about resolution.

    The effective resolution is what the pixels give when printed at the nominal paper size (or at the
    file's own size when no paper is near), in the weaker direction. Never raises.
    """
    orientation = _orientation(width, height)
    if not dpi_x or not dpi_y:
        return PrintFacts(None, None, None, orientation, [WARN_NO_DPI])
    width_mm = width / dpi_x * MM_PER_INCH
    height_mm = height / dpi_y * MM_PER_INCH
    paper = nearest_paper(width_mm, height_mm)
    warnings_: list[str] = []
    if paper:
        short_px, long_px = sorted((width, height))
        paper_short, paper_long = PAPER_SIZES_MM[paper]
        effective = min(short_px / (paper_short / MM_PER_INCH), long_px / (paper_long / MM_PER_INCH))
        if effective < MIN_PRINT_DPI:
            warnings_.append(WARN_LOW_DPI.format(paper=paper, dpi=round(effective), minimum=MIN_PRINT_DPI))
    else:
        effective = min(dpi_x, dpi_y)
        if effective < MIN_PRINT_DPI:
            warnings_.append(WARN_LOW_DPI_NO_PAPER.format(dpi=round(effective), minimum=MIN_PRINT_DPI))
    return PrintFacts(round(width_mm, 1), round(height_mm, 1), paper, orientation, warnings_)


def _plausible_dpi(dpi: tuple[float, float] | None) -> tuple[float, float] | None:
    if dpi is None:
        return None
    low, high = _PLAUSIBLE_DPI
    if not all(low <= value <= high for value in dpi):
        return None
    return round(dpi[0], 2), round(dpi[1], 2)


def format_label(version: int) -> str:
    """What the uploader calls the file: PSB is version 2 of the format."""
    return "PSB" if version == 2 else "PSD"


def _read_exact(fp: BinaryIO, size: int, what: str, label: str = "PSD") -> bytes:
    data = fp.read(size)
    if len(data) != size:
        raise ImageRejected(
            f"short read in {what}: {len(data)} of {size} bytes", MSG_PSD_HEADER.format(fmt=label)
        )
    return data


@dataclass
class _Resources:
    dpi: tuple[float, float] | None = None
    has_composite: bool = True
    display_info: bytes = b""


def _read_resources(fp: BinaryIO, file_size: int, label: str) -> _Resources:
    """Walk the image resource blocks for ResolutionInfo, VersionInfo and DisplayInfo."""
    colour_data_length = int.from_bytes(_read_exact(fp, 4, "colour mode data length", label), "big")
    if fp.tell() + colour_data_length + 4 > file_size:
        raise ImageRejected(
            f"colour mode data of {colour_data_length} bytes past end of file",
            MSG_PSD_HEADER.format(fmt=label),
        )
    fp.seek(colour_data_length, os.SEEK_CUR)
    section_length = int.from_bytes(_read_exact(fp, 4, "image resources length", label), "big")
    end = fp.tell() + section_length
    if end > file_size:
        raise ImageRejected(
            f"image resources of {section_length} bytes past end of file", MSG_PSD_HEADER.format(fmt=label)
        )
    found = _Resources()
    for _ in range(_MAX_RESOURCE_BLOCKS):
        if fp.tell() + 12 > end:
            break
        signature = fp.read(4)
        if signature not in _RESOURCE_SIGNATURES:
            log.info("stopping at unknown image resource signature %r", signature)
            break
        resource_id = int.from_bytes(_read_exact(fp, 2, "resource id", label), "big")
        name_length = _read_exact(fp, 1, "resource name", label)[0]
        # The Pascal name, length byte included, is padded to an even size.
        fp.seek(name_length + (name_length + 1) % 2, os.SEEK_CUR)
        data_length = int.from_bytes(_read_exact(fp, 4, "resource size", label), "big")
        data_start = fp.tell()
        if data_start + data_length > end:
            raise ImageRejected(
                f"resource 0x{resource_id:04x} runs past its section", MSG_PSD_HEADER.format(fmt=label)
            )
        if resource_id == Resource.RESOLUTION_INFO and data_length >= _RESOLUTION_INFO.size:
            h_res, _h_unit, _w_unit, v_res, _v_unit, _h_unit2 = _RESOLUTION_INFO.unpack(
                _read_exact(fp, _RESOLUTION_INFO.size, "ResolutionInfo", label)
            )
            # Fixed 16.16, always pixels per inch; the unit fields only say how Photoshop displays it.
            found.dpi = (round(h_res / 65536, 2), round(v_res / 65536, 2))
        elif resource_id == Resource.VERSION_INFO and data_length >= 5:
            found.has_composite = bool(_read_exact(fp, 5, "VersionInfo", label)[4])
        elif resource_id == Resource.DISPLAY_INFO and data_length <= _DISPLAY_INFO_MAX:
            found.display_info = _read_exact(fp, data_length, "DisplayInfo", label)
        fp.seek(data_start + data_length + data_length % 2)
    fp.seek(end)
    return found


def _check_remaining_sections(fp: BinaryIO, file_size: int, version: int, header: PsdHeader) -> None:
    """The layer section must fit in the file and the merged image data must be there after it."""
    label = format_label(version)
    length_size = 4 if version == 1 else 8
    layer_length = int.from_bytes(_read_exact(fp, length_size, "layer section length", label), "big")
    image_data_start = fp.tell() + layer_length
    if image_data_start + 2 > file_size:
        raise ImageRejected(
            f"layer section of {layer_length} bytes runs past end of file", MSG_PSD_HEADER.format(fmt=label)
        )
    fp.seek(image_data_start)
    compression = int.from_bytes(_read_exact(fp, 2, "image data compression", label), "big")
    remaining = file_size - image_data_start - 2
    rows = header.channels * header.height
    if compression == 0:
        needed = rows * ((header.width * header.depth + 7) // 8)
    elif compression == 1:
        # RLE starts with a byte count per row (2 bytes each in PSD, 4 in PSB), then the rows. psd-tools
        # decodes a cut-off RLE image without complaint, so the counts are what tells us it is whole.
        count_size = 2 if version == 1 else 4
        if remaining < rows * count_size:
            needed = rows * count_size
        else:
            needed = rows * count_size + _sum_row_counts(fp, rows, count_size, label)
    elif compression in (2, 3):
        needed = 1
    else:
        raise ImageRejected(f"image data compression {compression}", MSG_PSD_HEADER.format(fmt=label))
    if remaining < needed:
        raise ImageRejected(
            f"merged image data truncated: {remaining} bytes, at least {needed} needed",
            MSG_PSD_TRUNCATED.format(fmt=label),
        )


def _sum_row_counts(fp: BinaryIO, rows: int, count_size: int, label: str) -> int:
    dtype = np.dtype(">u2" if count_size == 2 else ">u4")
    total = 0
    # Streamed in 1 MB pieces: a tall PSB can have millions of rows.
    per_chunk = (1 << 20) // count_size
    for start in range(0, rows, per_chunk):
        count = min(per_chunk, rows - start)
        total += int(
            np.frombuffer(_read_exact(fp, count * count_size, "RLE row counts", label), dtype).sum(
                dtype=np.uint64
            )
        )
    return total


def _ink_rgb(colour_space: int, components: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """sRGB of a Photoshop colour record (used only to tint a spot channel in the preview)."""
    c1, c2, c3, _c4 = components
    if colour_space == 0:
        return c1 // 257, c2 // 257, c3 // 257
    if colour_space == 2:
        # CMYK components run from 0 (100% ink) to 65535 (no ink).
        c, m, y, k = (255 - value // 257 for value in components)
        pixel = Image.new("CMYK", (1, 1), (c, m, y, k)).convert("RGB").getpixel((0, 0))
        return pixel  # type: ignore[return-value]
    if colour_space == 7:
        signed = [value - 65536 if value > 32767 else value for value in (c2, c3)]
        lab = Image.new(
            "LAB", (1, 1), (round(c1 / 10000 * 255), (signed[0] // 100) + 128, (signed[1] // 100) + 128)
        )
        rgb = ImageCms.profileToProfile(
            lab, ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
        return rgb.getpixel((0, 0)) if rgb else (128, 128, 128)  # type: ignore[return-value]
    if colour_space == 8:
        grey = 255 - round(c1 / 10000 * 255)
        return grey, grey, grey
    return 128, 128, 128


def _spot_inks(
    display_info: bytes, colour_mode: int, channels: int
) -> tuple[tuple[int, tuple[int, int, int]], ...]:
    # DisplayInfo: a 4-byte version, then one 13-byte record per channel after the colour channels:
    # colour space (2), four components (2 each), opacity (2), kind (1; 2 = spot colour).
    base = _BASE_CHANNELS.get(colour_mode, channels)
    inks = []
    records = display_info[4:]
    for number in range(min(len(records) // 13, channels - base)):
        record = records[number * 13 : number * 13 + 13]
        colour_space, *components, _opacity = struct.unpack(">HHHHHH", record[:12])
        if record[12] == 2:
            inks.append((base + number, _ink_rgb(colour_space, tuple(components))))
    return tuple(inks)


def read_psd_header(path: str | os.PathLike[str]) -> PsdHeader:
    """Read the PSD/PSB header, resolution and spot inks directly from the file's bytes (nothing decoded).

    Also checks that the file is whole: the layer section must fit and the merged image data must
    be all there (exactly for raw and RLE data, which is what Photoshop writes).
    Raises ImageRejected when the signature, version, size, depth or colour mode is invalid, when the
    declared size is over :data:`WALLCHART_MAX_PIXELS`, or when a section runs past the end of the file.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as fp:
        head = fp.read(_PSD_HEADER.size)
        if len(head) < _PSD_HEADER.size:
            raise ImageRejected(f"PSD header of {len(head)} bytes", MSG_PSD_HEADER.format(fmt="PSD"))
        signature, version, _reserved, channels, height, width, depth, mode = _PSD_HEADER.unpack(head)
        label = format_label(version)
        if signature != b"8BPS" or version not in _PSD_MAX_SIDE:
            raise ImageRejected(
                f"signature {signature!r} version {version}", MSG_PSD_HEADER.format(fmt=label)
            )
        max_side = _PSD_MAX_SIDE[version]
        if not (1 <= width <= max_side and 1 <= height <= max_side):
            raise ImageRejected(
                f"size {width}x{height} outside 1..{max_side}", MSG_PSD_HEADER.format(fmt=label)
            )
        if depth not in _PSD_DEPTHS or mode not in PSD_COLOUR_MODES or not 1 <= channels <= 56:
            raise ImageRejected(
                f"depth {depth} mode {mode} channels {channels}", MSG_PSD_HEADER.format(fmt=label)
            )
        _check_pixels(width, height)
        resources = _read_resources(fp, file_size, label)
        header = PsdHeader(
            version, channels, height, width, depth, mode, resources.dpi, resources.has_composite
        )
        _check_remaining_sections(fp, file_size, version, header)
    try:
        spot_inks = _spot_inks(resources.display_info, mode, channels)
    except (struct.error, ValueError, ImageCms.PyCMSError) as exc:
        log.info("ignoring unreadable DisplayInfo: %s", exc)
        spot_inks = ()
    return dataclasses.replace(header, spot_inks=spot_inks)


def _check_pixels(width: int, height: int) -> None:
    if width * height > WALLCHART_MAX_PIXELS:
        raise ImageRejected(
            f"wall chart {width}x{height} over {WALLCHART_MAX_PIXELS} pixels",
            MSG_TOO_LARGE.format(width=width, height=height, limit=pixels_zh(WALLCHART_MAX_PIXELS)),
        )


def _kind(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fp:
        head = fp.read(4)
    if head == b"8BPS":
        return "psd"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    raise ImageRejected(f"not a JPEG or PSD/PSB: starts with {head!r}", MSG_NOT_WALLCHART)


def _facts(
    width: int,
    height: int,
    dpi: tuple[float, float] | None,
    colour_mode: str,
    bit_depth: int,
    channels: int,
    format_: str,
    extra_warnings: list[str],
) -> WallchartFacts:
    dpi = _plausible_dpi(dpi)
    dpi_x, dpi_y = dpi if dpi else (None, None)
    printed = describe_print(width, height, dpi_x, dpi_y)
    return WallchartFacts(
        width=width,
        height=height,
        dpi_x=dpi_x,
        dpi_y=dpi_y,
        colour_mode=colour_mode,
        bit_depth=bit_depth,
        channels=channels,
        width_mm=printed.width_mm,
        height_mm=printed.height_mm,
        paper=printed.paper,
        orientation=printed.orientation,
        warnings=printed.warnings + extra_warnings,
        format=format_,
    )


def inspect_wallchart(path: str | os.PathLike[str]) -> WallchartFacts:
    """Facts of a JPG or PSD/PSB wall chart, from the header only (no pixel data is decoded).

    Raises ImageRejected (Chinese ``message``) for other formats, malformed headers and files over
    :data:`WALLCHART_MAX_PIXELS`.
    """
    if _kind(path) == "psd":
        header = read_psd_header(path)
        extra = []
        if header.colour_mode == 8:
            extra.append(WARN_DUOTONE)
        if not header.has_composite:
            extra.append(WARN_NO_COMPOSITE.format(fmt=format_label(header.version)))
        if header.spot_inks:
            extra.append(WARN_SPOT.format(count=len(header.spot_inks)))
        return _facts(
            header.width,
            header.height,
            header.dpi,
            PSD_COLOUR_MODES[header.colour_mode],
            header.depth,
            header.channels,
            format_label(header.version),
            extra,
        )
    image = inspect_image(path, formats=("JPEG",), max_pixels=WALLCHART_MAX_PIXELS)
    colour_mode = PIL_COLOUR_MODES.get(image.mode, image.mode)
    channels = {"CMYK": 4, "L": 1, "1": 1, "P": 1}.get(image.mode, 3)
    return _facts(image.width, image.height, image.dpi, colour_mode, 8, channels, "JPEG", [])


def _overlay_spot(psd: PSDImage, index: int, ink: tuple[int, int, int], preview: Image.Image) -> Image.Image:
    """Tint the preview with one spot channel's ink (multiply), the way Photoshop displays it."""
    channel = psd.topil(channel=index, apply_icc=False)
    if channel is None:
        return preview
    channel = channel.convert("L").resize(preview.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # Spot channels are stored like a mask: 0 is full ink, 255 none.
    coverage = ImageOps.invert(channel)
    tinted = ImageChops.multiply(preview, Image.new("RGB", preview.size, ink))
    return Image.composite(tinted, preview, coverage)


#: (PSD colour mode, channels) whose 8-bit merged image Pillow decodes as it is: no alpha or spot
#: channel to interpret, so its picture is exactly psd-tools' ``topil()`` of the same data.
_PILLOW_LAYOUTS = {(1, 1): "L", (3, 3): "RGB", (4, 4): "CMYK"}


def _pillow_layout(header: PsdHeader) -> str | None:
    """The Pillow mode of a document whose merged image :func:`_pillow_merged` may read, else None."""
    if header.version != 1 or header.depth != 8 or not header.has_composite or header.spot_inks:
        return None
    return _PILLOW_LAYOUTS.get((header.colour_mode, header.channels))


def _pillow_merged(src: str | os.PathLike[str], header: PsdHeader) -> Image.Image | None:
    """The merged image data decoded by Pillow straight into one image buffer, or None.

    psd-tools reads the whole file into memory, decodes each channel into bytes and then builds the
    image from them: three copies of the pixels (≈290 MB above idle for A3 at 300 dpi in CMYK).
    Pillow's decoder writes each decompressed row into the image: one copy (70 MB). Only for what
    it reads the same way (8 bits, real merged data, no alpha or spot channel); None for the rest,
    and for a file Pillow cannot read, which psd-tools then gets (and rejects if it is broken).
    """
    mode = _pillow_layout(header)
    if mode is None:
        return None
    try:
        with open_image(src, formats=("PSD",), max_pixels=WALLCHART_MAX_PIXELS) as image:
            if image.mode != mode:
                return None
            image.load()
            return image
    except (ImageRejected, *DECODE_ERRORS) as exc:
        log.info("Pillow could not read the PSD's merged image (%s), trying psd-tools", exc)
        return None


def _render_psd(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    max_side: int,
    header: PsdHeader,
    *,
    keep_cmyk: bool = False,
) -> tuple[int, int]:
    # psd-tools is a pure-Python parser of a sprawling format: on hostile input its internals also
    # fail with NotImplementedError, RecursionError or AttributeError. Any of them means "bad file".
    label = format_label(header.version)
    psd_errors = (
        *DECODE_ERRORS,
        PSDDecompressionWarning,
        NotImplementedError,
        RecursionError,
        AttributeError,
    )
    with warnings.catch_warnings():
        # psd-tools replaces a channel it cannot decompress with black and only warns: for us that
        # is a broken file, not a preview.
        warnings.simplefilter("error", PSDDecompressionWarning)
        try:
            psd = PSDImage.open(src, max_alloc_bytes=PSD_MAX_ALLOC_BYTES)
        except psd_errors as exc:
            raise ImageRejected(
                f"psd-tools open: {type(exc).__name__}: {exc}", MSG_PSD_CORRUPT.format(fmt=label)
            ) from exc
        icc_profile = None
        if Resource.ICC_PROFILE in psd.image_resources:
            icc_profile = psd.image_resources.get_data(Resource.ICC_PROFILE)
        if _pillow_layout(header):
            # psd-tools has parsed (and so checked) the layer records; its copy of the file goes
            # before Pillow decodes the merged image into one buffer.
            del psd
            image = _pillow_merged(src, header)
            if image is not None:
                if keep_cmyk and image.mode == "CMYK":
                    save_jpeg(image, dst, quality=PRINT_JPEG_QUALITY, optimize=False)
                    return image.size
                preview = to_preview_image(image, max_side, icc_profile=icc_profile)
                del image
                save_jpeg(preview, dst)
                return preview.size
            psd = PSDImage.open(src, max_alloc_bytes=PSD_MAX_ALLOC_BYTES)
        try:
            # The ICC transform is applied by to_preview_image after downscaling, where it is cheap.
            image = psd.composite(apply_icc=False)
        except psd_errors as exc:
            log.info("PSD composite failed (%s), using the merged image data", exc)
            try:
                image = psd.topil(apply_icc=False)
            except psd_errors as exc2:
                raise ImageRejected(
                    f"psd-tools composite and topil: {type(exc2).__name__}: {exc2}",
                    MSG_PSD_CORRUPT.format(fmt=label),
                ) from exc2
        if image is None:
            raise ImageRejected(
                "PSD has neither layers to composite nor merged image data", MSG_PSD_CORRUPT.format(fmt=label)
            )
        if keep_cmyk and image.mode == "CMYK":
            # For the press: the inks as the designer set them, full size, no colour conversion.
            save_jpeg(image, dst, quality=PRINT_JPEG_QUALITY, optimize=False)
            return image.size
        preview = to_preview_image(image, max_side, icc_profile=icc_profile)
        del image
        for index, ink in header.spot_inks:
            try:
                preview = _overlay_spot(psd, index, ink, preview)
            except psd_errors as exc:
                # The tint is an approximation anyway; the composite itself decoded fine.
                log.info("skipping spot channel %d in preview: %s", index, exc)
    save_jpeg(preview, dst)
    return preview.size


def make_wallchart_preview(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], max_side: int = PREVIEW_MAX_SIDE
) -> tuple[int, int]:
    """Write a JPEG preview (sRGB, no metadata) of a JPG or PSD/PSB wall chart; the original is only read.

    PSD/PSB go through psd-tools (it reads 16/32-bit and PSB, which Pillow cannot): the composite,
    or the merged image data when compositing fails. CMYK becomes sRGB through the embedded ICC
    profile when there is one, otherwise through Pillow's plain CMYK→RGB formula.
    Returns the preview's (width, height). Raises ImageRejected; nothing is written then.
    """
    if _kind(src) == "psd":
        header = read_psd_header(src)
        return _render_psd(src, dst, max_side, header)
    return render_preview(src, dst, max_side, formats=("JPEG",), max_pixels=WALLCHART_MAX_PIXELS)


def make_print_jpeg(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> tuple[int, int]:
    """Write the full-size JPEG of a PSD/PSB wall chart that its print PDF is made of.

    A CMYK document stays CMYK (quality 95, the embedded profile not applied); any other colour mode
    becomes sRGB as for previews. Returns (width, height). Raises ImageRejected (a JPEG wall chart
    needs none of this: its own bytes go into the PDF).
    """
    header = read_psd_header(src)
    return _render_psd(src, dst, max(header.width, header.height), header, keep_cmyk=True)


def make_wallchart_thumbnail(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], max_side: int = THUMBNAIL_MAX_SIDE
) -> tuple[int, int]:
    """Like :func:`make_wallchart_preview`, smaller. Raises ImageRejected."""
    return make_wallchart_preview(src, dst, max_side)
