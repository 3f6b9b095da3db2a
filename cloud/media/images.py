"""Images: open with an explicit format list and a pixel limit; make re-encoded, metadata-free previews.

Plain library code for the worker: local paths in, local files out, no Flask. Everything that can go
wrong because of the file's content ends as :class:`ImageRejected`, whose ``message`` is shown to the
uploader (Chinese) and whose ``detail`` goes to the logs (English). I/O failures on our own side
(missing source, full disk) are not the uploader's fault and propagate unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, UnidentifiedImageError

from cloud.media.ffmpeg import MediaRejected
from cloud.media.sniff import SNIFF_BYTES, sniff_bytes

log = logging.getLogger(__name__)

#: The only decoders an uploaded image may reach. Pillow would otherwise try every plugin it has
#: (EPS runs Ghostscript, FITS, TIFF, ...), so a file renamed ``.jpg`` could pick its own parser.
IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP")

#: 80 Mpx covers every camera and phone photo we expect (a 61 Mpx full-frame sensor is 9504x6336) and
#: stays under Pillow's own 89 Mpx warning threshold; decoded as RGBA it is 320 MB, the most one image
#: job may hold. Wall charts are legitimately bigger and pass their own limit (see wallchart.py).
IMAGE_MAX_PIXELS = 80_000_000

PREVIEW_MAX_SIDE = 1280
THUMBNAIL_MAX_SIDE = 320
JPEG_QUALITY = 85

MSG_UNRECOGNISED = "无法识别的图片格式，仅支持 JPG、PNG、GIF、WebP 图片"
MSG_CORRUPT = "图片文件已损坏或不完整，无法读取"
MSG_TOO_LARGE = "图片尺寸过大：{width}×{height} 像素，超过上限 {limit}像素"
MSG_TOO_LARGE_UNSIZED = "图片尺寸过大，超过上限 {limit}像素"
MSG_EMPTY = "图片尺寸无效（宽或高为 0）"
MSG_MODE = "不支持的图片颜色模式：{mode}"

#: What Pillow (and psd-tools) raise when the *content* is malformed. They are not consistent about
#: it: truncation is OSError, bad headers SyntaxError/ValueError, short reads struct.error or
#: EOFError, broken tables IndexError/KeyError/TypeError. All of them mean "this file is bad".
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    AssertionError,
    ZeroDivisionError,
    struct.error,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

#: Problems on our side, not in the file: never reported to the uploader as "corrupt".
_LOCAL_IO_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, IsADirectoryError, PermissionError)

# EXIF orientation -> the transpose that shows the picture upright (same table as ImageOps).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_EXIF_ORIENTATION_TAG = 0x0112

# Pillow's bomb check reads the module global Image.MAX_IMAGE_PIXELS when a file is opened, and there
# is no per-call argument. We set it only around Image.open and serialise those few milliseconds so
# two callers with different limits (images, wall charts) cannot see each other's value; the warning
# filter we install there is process-global too, which is why it sits inside the same lock.
_PIL_LIMIT_LOCK = threading.Lock()

_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(MediaRejected):
    """The file cannot be used as an image or wall chart; do not retry.

    Same shape as every media error: ``ImageRejected(detail, message)`` with ``message`` shown to the
    uploader (Simplified Chinese) and ``detail`` for the logs (English).
    """

    default_message = MSG_CORRUPT


@dataclass(frozen=True)
class ImageFacts:
    """What the header says. ``width``/``height`` are the stored pixels, before EXIF orientation."""

    width: int
    height: int
    format: str
    mode: str
    dpi: tuple[float, float] | None
    has_exif: bool
    orientation: int = 1


@contextlib.contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        # Pillow only *warns* between max and 2*max pixels; a warning is not a refusal, so make it one.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def pixels_zh(pixels: int) -> str:
    """A pixel count the way Chinese users read it: "8000 万" or "2 亿"."""
    if pixels >= 100_000_000:
        return f"{pixels / 100_000_000:g} 亿"
    return f"{pixels / 10_000:g} 万"


@contextlib.contextmanager
def open_image(
    path: str | os.PathLike[str],
    formats: Sequence[str] = IMAGE_FORMATS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> Iterator[Image.Image]:
    """Open ``path`` with only the Pillow decoders in ``formats``; a context manager yielding the image.

    Only the header is read: the pixel limit is checked from the declared size before any pixel is
    decoded. The caller decodes (``load()``) inside the ``with`` block; the file is closed on exit.

    Raises ImageRejected for an unrecognised format, a declared size over ``max_pixels`` (or zero),
    or a malformed header. FileNotFoundError and other local I/O errors propagate.
    """
    # We open the file ourselves: when Pillow refuses a bomb inside Image.open it leaves its own file
    # handle for the garbage collector to close.
    with open(path, "rb") as fp:
        try:
            with _pillow_pixel_limit(max_pixels):
                image = Image.open(fp, formats=list(formats))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"pixel limit: {exc}", _too_large(exc, max_pixels)) from exc
        except UnidentifiedImageError as exc:
            # Pillow says "cannot identify" both for another format and for a broken file of a
            # format it knows (a PNG whose header chunk is cut off or fails its CRC): the magic
            # bytes tell the two apart.
            announced = _magic_format(fp)
            if announced in formats:
                raise ImageRejected(f"{announced} header unreadable: {exc}", MSG_CORRUPT) from exc
            raise ImageRejected(f"not one of {list(formats)}: {exc}", MSG_UNRECOGNISED) from exc
        except _LOCAL_IO_ERRORS:
            raise
        except DECODE_ERRORS as exc:
            raise ImageRejected(f"header: {type(exc).__name__}: {exc}", MSG_CORRUPT) from exc
        with image:
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageRejected(f"declared size {width}x{height}", MSG_EMPTY)
            if width * height > max_pixels:
                raise ImageRejected(
                    f"declared size {width}x{height} over {max_pixels} pixels",
                    MSG_TOO_LARGE.format(width=width, height=height, limit=pixels_zh(max_pixels)),
                )
            yield image


def _too_large(exc: BaseException, max_pixels: int) -> str:
    """The message for a header Pillow refused as a bomb, with the size the header declares.

    Pillow's message only has the pixel count, and opening the file again without the limit is
    not harmless (a GIF frame descriptor makes Pillow allocate the whole canvas). The size is the
    argument of Pillow's own check, read from the traceback; without it the message has no size.
    """
    tb = exc.__traceback__
    size = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_decompression_bomb_check":
            size = tb.tb_frame.f_locals.get("size")
        tb = tb.tb_next
    if isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return MSG_TOO_LARGE.format(width=size[0], height=size[1], limit=pixels_zh(max_pixels))
    return MSG_TOO_LARGE_UNSIZED.format(limit=pixels_zh(max_pixels))


_MAGIC_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}


def _magic_format(fp) -> str | None:
    """The Pillow format name the file's first bytes announce, or None."""
    fp.seek(0)
    return _MAGIC_FORMATS.get(sniff_bytes(fp.read(SNIFF_BYTES)).kind)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except DECODE_ERRORS as exc:
        # A broken EXIF block only costs us the rotation; the pixels are still good.
        log.info("ignoring unreadable EXIF: %s", exc)
        return 1
    return value if value in _ORIENTATION_TRANSPOSE else 1


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
        return None
    return x, y


def facts_of(image: Image.Image) -> ImageFacts:
    """Facts of an image opened by :func:`open_image` (header only; nothing is decoded)."""
    return ImageFacts(
        width=image.width,
        height=image.height,
        format=image.format or "",
        mode=image.mode,
        dpi=_dpi(image),
        has_exif="exif" in image.info,
        orientation=_orientation(image),
    )


def inspect_image(
    path: str | os.PathLike[str],
    formats: Sequence[str] = IMAGE_FORMATS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> ImageFacts:
    """Read the header facts of an image (no pixel decoding).

    Raises ImageRejected like :func:`open_image`.
    """
    with open_image(path, formats, max_pixels) as image:
        return facts_of(image)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _prepare_for_resize(image: Image.Image) -> Image.Image:
    """Bring the image to a mode that resamples properly (palette and 1-bit only do nearest)."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: scale to 8 bits instead of letting convert("L") clip everything to white.
        return image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    if mode == "F":
        return image.point(lambda value: value * 255).convert("L")
    if mode in ("RGBa", "La"):
        return image.convert(mode.upper())
    if mode == "LAB":
        lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
        converted = ImageCms.profileToProfile(image, lab, _SRGB_PROFILE, outputMode="RGB")
        if converted is None:
            raise ValueError("LAB conversion returned nothing")
        return converted
    return image.convert("RGB")


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if not _has_alpha(image):
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def _profile_colour_space(icc_profile: bytes) -> tuple[ImageCms.ImageCmsProfile, str] | None:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return profile, profile.profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.info("ignoring unreadable ICC profile: %s", exc)
        return None


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert to sRGB RGB, through the embedded profile when it matches the pixels' colour space.

    Previews carry no ICC profile, so colours must already be sRGB. Without a profile CMYK goes
    through Pillow's plain formula (no ink model): duller, but the right picture.
    """
    wanted = {"CMYK": "CMYK", "RGB": "RGB"}.get(image.mode)
    if icc_profile and wanted:
        parsed = _profile_colour_space(icc_profile)
        if parsed and parsed[1] == wanted:
            try:
                converted = ImageCms.profileToProfile(image, parsed[0], _SRGB_PROFILE, outputMode="RGB")
            except (ImageCms.PyCMSError, OSError, ValueError) as exc:
                log.info("ICC conversion failed, using plain conversion: %s", exc)
            else:
                if converted is not None:
                    return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = max_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _draft_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    factor = max(width, height) / max_side
    return max(1, math.ceil(width / factor)), max(1, math.ceil(height / factor))


def save_jpeg(
    image: Image.Image, dst: str | os.PathLike[str], *, quality: int = JPEG_QUALITY, optimize: bool = True
) -> None:
    """Save ``image`` as a JPEG with no metadata at all, atomically (temp file in the same folder, rename).

    A reader sees the old file or the whole new one, never half of it. ``optimize`` (the default)
    writes a progressive JPEG with optimised Huffman tables: libjpeg then keeps the whole image's
    coefficients in memory (2 bytes a sample), harmless for a preview and ~140 MB for an A3 print
    at 300 dpi; ``optimize=False`` writes baseline in one pass, row by row. I/O errors propagate.
    """
    target = Path(dst)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    # Pillow copies some of image.info into the file (a JPEG's COM comment, for one); a preview keeps
    # none of the original's metadata, so it is saved with none (set aside, not a copy of the pixels).
    info, image.info = image.info, {}
    try:
        image.save(tmp, "JPEG", quality=quality, optimize=optimize, progressive=optimize)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        image.info = info


def to_preview_image(
    image: Image.Image,
    max_side: int,
    *,
    icc_profile: bytes | None = None,
    orientation: int = 1,
    source_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Downscale a decoded image to fit ``max_side`` and make it upright sRGB "RGB", alpha on white.

    ``source_size`` is the file's full size when the decoder already shrank the image (JPEG draft),
    so the preview keeps the original's exact proportions.
    Raises ImageRejected when the pixels cannot be converted (unsupported colour mode).
    """
    full_size = source_size or image.size
    try:
        work = _prepare_for_resize(image)
        # Resize before anything costs per pixel (alpha flattening, ICC transforms); reducing_gap
        # lets Pillow use a cheap integer reduce() for the bulk of the shrink.
        if max(full_size) > max_side and work.size != (target := _fit(full_size, max_side)):
            work = work.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        work = _flatten_on_white(work)
        if orientation in _ORIENTATION_TRANSPOSE:
            work = work.transpose(_ORIENTATION_TRANSPOSE[orientation])
        return _to_srgb(work, icc_profile)
    except DECODE_ERRORS as exc:
        raise ImageRejected(f"convert {image.mode}: {exc}", MSG_MODE.format(mode=image.mode)) from exc


def write_preview(
    image: Image.Image,
    dst: str | os.PathLike[str],
    max_side: int,
    *,
    icc_profile: bytes | None = None,
    orientation: int = 1,
    source_size: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """:func:`to_preview_image` then :func:`save_jpeg`; returns the written (width, height).

    Raises ImageRejected for unsupported colour modes; I/O errors propagate.
    """
    preview = to_preview_image(
        image, max_side, icc_profile=icc_profile, orientation=orientation, source_size=source_size
    )
    save_jpeg(preview, dst)
    return preview.size


def render_preview(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    max_side: int,
    *,
    formats: Sequence[str] = IMAGE_FORMATS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> tuple[int, int]:
    """Decode ``src`` (Pillow, explicit formats, pixel limit) and write a JPEG preview to ``dst``.

    Returns the preview's (width, height). Raises ImageRejected for anything wrong with the file;
    nothing is written then.
    """
    with open_image(src, formats, max_pixels) as image:
        source_size = image.size
        if image.format == "JPEG" and max(image.size) > max_side:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 200 Mpx wall chart never exists in
            # memory at full size.
            image.draft(image.mode, _draft_size(image.width, image.height, max_side))
        try:
            image.load()
        except _LOCAL_IO_ERRORS:
            raise
        except DECODE_ERRORS as exc:
            raise ImageRejected(f"decode: {type(exc).__name__}: {exc}", MSG_CORRUPT) from exc
        return write_preview(
            image,
            dst,
            max_side,
            icc_profile=image.info.get("icc_profile"),
            orientation=_orientation(image),
            source_size=source_size,
        )


def make_preview(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], max_side: int = PREVIEW_MAX_SIDE
) -> tuple[int, int]:
    """Write a re-encoded JPEG preview (upright, sRGB, no EXIF/XMP/ICC/comments) of an uploaded image.

    Returns the preview's (width, height). Raises ImageRejected (Chinese ``message``) for files that
    are not JPEG/PNG/GIF/WebP, too large, truncated or corrupt; ``dst`` is then left untouched.
    """
    return render_preview(src, dst, max_side)


def make_thumbnail(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], max_side: int = THUMBNAIL_MAX_SIDE
) -> tuple[int, int]:
    """Like :func:`make_preview`, smaller. Raises ImageRejected."""
    return render_preview(src, dst, max_side)
