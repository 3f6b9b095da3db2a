"""The recognised e站's sign (标识 / 匾牌) as a print-ready PDF: vector layout, embedded Chinese font.

Plain library code, fed plain values, no Flask. The page is the plaque's real size (600×400 mm by
default) so a print shop prints it at 100 %. Text is drawn with ``drawString`` — never parsed as
markup — so whatever a station is called appears as typed and cannot inject anything; the font is
embedded (as a subset) so the PDF looks the same on a machine without Chinese fonts.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

from reportlab.lib.colors import Color, white
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

#: Fonts tried in order; Debian's fonts-wqy-microhei is what scripts/install-system.sh installs.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
FONT_NAME = "KepuPlaqueCJK"

#: 科普中国 blue, and a lighter band.
BLUE = Color(0 / 255, 84 / 255, 166 / 255)
LIGHT = Color(230 / 255, 240 / 255, 250 / 255)


class PlaqueFontMissing(RuntimeError):
    """No Chinese font is installed: the operator must install one (fonts-wqy-microhei)."""


@dataclass(frozen=True)
class PlaqueText:
    station_name: str
    station_number: str
    association: str  # the recognising city association, e.g. 郑州市科学技术协会
    recognised_on: str  # e.g. 2026年11月30日
    title: str = "科普中国e站"


def _font(path=None):
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    for candidate in (path, *FONT_CANDIDATES):
        if candidate and os.path.exists(candidate):
            options = {"subfontIndex": 0} if candidate.endswith(".ttc") else {}
            pdfmetrics.registerFont(TTFont(FONT_NAME, candidate, **options))
            return FONT_NAME
    raise PlaqueFontMissing("no CJK font found; install fonts-wqy-microhei")


def _fit(text, font, size, width):
    """The largest font size ≤ ``size`` at which ``text`` fits in ``width`` points."""
    measured = pdfmetrics.stringWidth(text, font, size)
    return size if measured <= width else max(size * width / measured, 6)


def render_plaque(text: PlaqueText, *, width_mm=600, height_mm=400, font_path=None) -> bytes:
    """The plaque as PDF bytes, one page of ``width_mm``×``height_mm``. Raises PlaqueFontMissing."""
    font = _font(font_path)
    width, height = width_mm * mm, height_mm * mm
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(f"{text.title} {text.station_number}")
    pdf.setAuthor(text.association)
    pdf.setSubject(text.station_name)
    pdf.setCreator("科普资源云")

    margin = width * 0.04
    pdf.setFillColor(white)
    pdf.rect(0, 0, width, height, stroke=0, fill=1)
    pdf.setStrokeColor(BLUE)
    pdf.setLineWidth(4 * mm)
    pdf.rect(margin, margin, width - 2 * margin, height - 2 * margin, stroke=1, fill=0)

    band = height * 0.3
    pdf.setFillColor(BLUE)
    pdf.rect(margin, height - margin - band, width - 2 * margin, band, stroke=0, fill=1)
    inner = width - 4 * margin
    pdf.setFillColor(white)
    size = _fit(text.title, font, band * 0.55, inner)
    pdf.setFont(font, size)
    pdf.drawCentredString(width / 2, height - margin - band / 2 - size * 0.35, text.title)

    pdf.setFillColor(BLUE)
    size = _fit(text.station_name, font, height * 0.1, inner)
    pdf.setFont(font, size)
    pdf.drawCentredString(width / 2, height * 0.43, text.station_name)

    pdf.setFillColor(LIGHT)
    pdf.rect(margin * 2, height * 0.26, width - 4 * margin, height * 0.09, stroke=0, fill=1)
    pdf.setFillColor(BLUE)
    number = f"站点编号：{text.station_number}"
    size = _fit(number, font, height * 0.05, inner)
    pdf.setFont(font, size)
    pdf.drawCentredString(width / 2, height * 0.29, number)

    footer = f"{text.association}  认定    {text.recognised_on}"
    size = _fit(footer, font, height * 0.04, inner)
    pdf.setFont(font, size)
    pdf.drawCentredString(width / 2, margin + height * 0.08, footer)

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
