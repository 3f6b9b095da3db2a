"""The print PDF: the JPEG's own bytes on a page of its physical size, CMYK kept, read back with pypdf."""

import pytest
from PIL import Image
from pypdf import PdfReader

from cloud.media import printpdf, wallchart
from cloud.media.images import ImageRejected
from tests.support import media_fixtures

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only


def image_of(pdf_path):
    page = PdfReader(pdf_path).pages[0]
    return page, page["/Resources"]["/XObject"]["/Im0"]


def test_a_cmyk_jpeg_goes_into_the_pdf_as_it_is(tmp_path):
    jpeg = media_fixtures.cmyk_jpeg(tmp_path / "chart.jpg", size=(300, 200), dpi=150)
    written = printpdf.write_jpeg_pdf(
        jpeg, tmp_path / "p.pdf", dpi=150, title="挂图 <测试>", max_pixels=10**8
    )
    assert (written.colour_space, written.width_mm, written.height_mm) == ("DeviceCMYK", 50.8, 33.9)
    page, image = image_of(tmp_path / "p.pdf")
    assert image["/ColorSpace"] == "/DeviceCMYK" and image["/Filter"] == "/DCTDecode"
    assert image.get_data() == jpeg.read_bytes()  # not re-encoded
    assert [float(v) for v in page.mediabox] == [0, 0, 144, 96]  # 2 x 1⅓ inches at 72 points each
    assert PdfReader(tmp_path / "p.pdf").metadata.title == "挂图 <测试>"
    decoded = page.images[0].image
    assert decoded.mode == "CMYK"
    assert all(
        abs(a - b) <= 3 for a, b in zip(decoded.getpixel((10, 10)), media_fixtures.CMYK_INK, strict=True)
    )


def test_rgb_and_grey_jpegs_keep_their_colour_space(tmp_path):
    for mode, space in (("RGB", "/DeviceRGB"), ("L", "/DeviceGray")):
        Image.new(mode, (40, 30)).save(tmp_path / f"{mode}.jpg")
        printpdf.write_jpeg_pdf(tmp_path / f"{mode}.jpg", tmp_path / f"{mode}.pdf", dpi=300, max_pixels=10**8)
        _page, image = image_of(tmp_path / f"{mode}.pdf")
        assert image["/ColorSpace"] == space
        assert "/Decode" not in image


def test_a_cmyk_psd_composite_stays_cmyk(tmp_path):
    psd = media_fixtures.cmyk_psd(tmp_path / "chart.psd")
    assert wallchart.inspect_wallchart(psd).colour_mode == "CMYK"
    assert wallchart.make_print_jpeg(psd, tmp_path / "print.jpg") == (300, 200)
    with Image.open(tmp_path / "print.jpg") as full:
        assert full.mode == "CMYK"
        assert all(
            abs(a - b) <= 3 for a, b in zip(full.getpixel((5, 5)), media_fixtures.CMYK_INK, strict=True)
        )
    # The preview of the same file is still sRGB for screens.
    wallchart.make_wallchart_preview(psd, tmp_path / "preview.jpg")
    with Image.open(tmp_path / "preview.jpg") as preview:
        assert preview.mode == "RGB"


def test_not_a_jpeg_is_refused_and_nothing_is_left(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ImageRejected):
        printpdf.write_jpeg_pdf(tmp_path / "x.jpg", tmp_path / "x.pdf", dpi=300, max_pixels=10**8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg"]
