"""A one-page print PDF around a JPEG, at the picture's physical size, without re-encoding it.

The JPEG's bytes become the page's image as they are (``/DCTDecode``): a print shop gets exactly the
pixels of the file, in its colour space — ``/DeviceCMYK`` for a CMYK chart, which is what a press
needs (a conversion to RGB and back loses the black separation and shifts the colours). Adobe
CMYK JPEGs (Photoshop, Pillow) store the inks inverted; their ``/Decode`` array says so.

Plain library code: local paths in, a local file out, the JPEG streamed through in pieces. Nothing
here imports Flask. Failures because of the JPEG raise :class:`~cloud.media.images.ImageRejected`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from cloud.media.images import ImageRejected, open_image

#: PDF colour space per Pillow mode of a JPEG.
COLOUR_SPACES = {"CMYK": ("DeviceCMYK", 4), "RGB": ("DeviceRGB", 3), "L": ("DeviceGray", 1)}
POINTS_PER_INCH = 72


@dataclass(frozen=True)
class PrintPdf:
    """What was written: pixel size, the colour space of the page's image and the page in mm."""

    width: int
    height: int
    colour_space: str
    width_mm: float
    height_mm: float

    @property
    def colour_mode(self) -> str:
        return {"DeviceCMYK": "CMYK", "DeviceRGB": "RGB", "DeviceGray": "Grayscale"}[self.colour_space]


def _pdf_string(text: str) -> bytes:
    """A PDF text string in UTF-16BE with BOM, hex-encoded: any title, nothing to escape."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode() + b">"


def write_jpeg_pdf(
    jpeg: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    dpi: float,
    title: str = "",
    max_pixels: int,
) -> PrintPdf:
    """Write ``dst``: one page of ``pixels / dpi`` inches showing the JPEG ``jpeg`` unchanged.

    Only the JPEG's header is decoded (size, mode, Adobe marker; ``max_pixels`` guards it).
    Raises ImageRejected when it is not a JPEG Pillow can read or its colour mode has no PDF
    colour space (YCCK, for one, is shown as CMYK by Pillow and stays CMYK here); I/O errors
    propagate. ``dst`` is written under a temporary name and renamed: never half a file.
    """
    with open_image(jpeg, ("JPEG",), max_pixels) as image:
        width, height, mode = image.width, image.height, image.mode
        inverted = mode == "CMYK" and "adobe" in image.info
    if mode not in COLOUR_SPACES:
        raise ImageRejected(f"JPEG mode {mode} has no PDF colour space", f"不支持的图片颜色模式：{mode}")
    colour_space, components = COLOUR_SPACES[mode]
    if not dpi or dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    page_w = width / dpi * POINTS_PER_INCH
    page_h = height / dpi * POINTS_PER_INCH
    length = os.path.getsize(jpeg)
    image_dict = (
        f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
        f"/ColorSpace /{colour_space} /BitsPerComponent 8 /Filter /DCTDecode /Length {length}"
        + (" /Decode [" + " ".join(["1 0"] * components) + "]" if inverted else "")
        + " >>"
    ).encode()
    content = f"q {page_w:.4f} 0 0 {page_h:.4f} 0 0 cm /Im0 Do Q".encode()
    tmp = f"{os.fspath(dst)}.part"
    offsets: list[int] = []
    try:
        with open(tmp, "wb") as out:
            # DCTDecode reads progressive JPEGs from PDF 1.3 on.
            out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

            def start_object() -> None:
                offsets.append(out.tell())
                out.write(f"{len(offsets)} 0 obj\n".encode())

            start_object()
            out.write(b"<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
            start_object()
            out.write(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
            start_object()
            out.write(
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w:.4f} {page_h:.4f}] "
                "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>\nendobj\n".encode()
            )
            start_object()
            out.write(image_dict + b"\nstream\n")
            with open(jpeg, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            out.write(b"\nendstream\nendobj\n")
            start_object()
            out.write(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream\nendobj\n")
            start_object()
            out.write(b"<< /Title " + _pdf_string(title) + b" /Producer (Kepu Cloud) >>\nendobj\n")
            xref = out.tell()
            out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
            for offset in offsets:
                out.write(f"{offset:010d} 00000 n \n".encode())
            out.write(
                f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R /Info {len(offsets)} 0 R >>\n"
                f"startxref\n{xref}\n%%EOF\n".encode()
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return PrintPdf(width, height, colour_space, round(width / dpi * 25.4, 1), round(height / dpi * 25.4, 1))
