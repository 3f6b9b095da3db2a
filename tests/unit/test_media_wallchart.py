"""Wall charts: facts and previews of every real PSD/PSB and JPG, print-size maths, header-first limits.

Every file in ../shared/testdata/psd and every JPG in ../shared/testdata/images is a case (listed at
collection time). Crafted PSD headers exercise sizes no fixture has (A0 at 300 dpi, 900 Mpx, PSB
300000 px) without writing hundreds of megabytes: only the header is ever read for them.
"""

import hashlib
import json
import random
import re
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image
from psd_tools import PSDImage

from cloud.media import wallchart
from cloud.media.ffmpeg import MediaError
from cloud.media.images import ImageRejected
from cloud.media.wallchart import (
    WALLCHART_MAX_PIXELS,
    describe_print,
    inspect_wallchart,
    make_wallchart_preview,
    make_wallchart_thumbnail,
    nearest_paper,
    read_psd_header,
)
from tests.support import media_fixtures
from tests.support.bounded import CASE_SECONDS, run_bounded

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
PSD_FILES = sorted(path for path in (TESTDATA / "psd").iterdir() if path.is_file())
JPG_FILES = sorted(
    path for path in (TESTDATA / "images").iterdir() if path.suffix.lower() in (".jpg", ".jpeg")
)
NON_JPG_IMAGES = sorted(
    path for path in (TESTDATA / "images").iterdir() if path.suffix.lower() in (".png", ".gif")
)

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only
CJK = re.compile(r"[\u4e00-\u9fff]")

EXPECTED = {
    "psdtools_300dpi.psb": {
        "format": "PSB",
        "width": 100,
        "height": 150,
        "dpi_x": 300,
        "dpi_y": 300,
        "bit_depth": 32,
        "colour_mode": "RGB",
    },
    "psdtools_16bit5x5.psd": {"width": 5, "height": 5, "bit_depth": 16, "colour_mode": "RGB"},
    "psdtools_cmyk-spot.psd": {
        "width": 640,
        "height": 637,
        "colour_mode": "CMYK",
        "channels": 7,
        "bit_depth": 8,
    },
    "psdtools_gray1.psd": {
        "width": 1800,
        "height": 1200,
        "colour_mode": "Grayscale",
        "orientation": "landscape",
    },
    "psdtools_4x4_1bit_bitmap.psd": {"colour_mode": "Bitmap", "bit_depth": 1},
    "psdtools_4x4_8bit_index_color.psd": {"colour_mode": "Indexed"},
    "psdtools_2layers.psd": {"width": 101, "height": 55, "colour_mode": "RGB", "format": "PSD"},
    "pillow_hopper.psd": {"width": 128, "height": 128, "orientation": "square"},
    "agpsd_key-origin-shape-bbox.psd": {"width": 800, "height": 800},
    "psdtools_unicode_pathname.psd": {"width": 1024, "height": 1352, "orientation": "portrait"},
    "sharp_2569067123_aca715a2ee_o.jpg": {"width": 2725, "height": 2225, "format": "JPEG", "dpi_x": None},
    "pillow_pil_sample_cmyk.jpg": {"colour_mode": "CMYK", "channels": 4},
    "sharp_Channel_digital_image_CMYK_color.jpg": {"colour_mode": "CMYK"},
    "pillow_flower.jpg": {"width": 480, "height": 360, "colour_mode": "RGB"},
}
#: Files whose preview must be refused (inspect may still read their valid header).
REJECTED = {
    "pillow_psd-oob-write.psd",  # psd-tools refuses the invalid layer records
    "pillow_combined_larger_than_size.psd",  # layer section longer than the file
    "sharp_truncated.jpg",
    "sharp_corrupt-header.jpg",
}


def outcome(function, *args):
    try:
        return "ok", run_bounded(function, *args)
    except MediaError as exc:
        return "rejected", exc


def assert_clean_rejection(exc):
    assert type(exc) is ImageRejected, f"{type(exc).__name__}: {exc}"
    assert exc.message and CJK.search(exc.message), exc.message


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_bare_jpeg(path: Path, max_side: int):
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8"
    assert b"Exif\x00\x00" not in data and b"ICC_PROFILE" not in data and b"8BIM" not in data
    with Image.open(path) as preview:
        assert preview.format == "JPEG" and preview.mode == "RGB"
        assert max(preview.size) <= max_side
        assert "exif" not in preview.info and "icc_profile" not in preview.info
        preview.load()


@pytest.mark.parametrize("path", PSD_FILES + JPG_FILES, ids=lambda path: path.name)
def test_every_wallchart_fixture_ends_in_facts_or_clean_rejection(path, tmp_path):
    before = sha256(path)
    dst = tmp_path / "preview.jpg"
    started = time.monotonic()
    status, facts = outcome(inspect_wallchart, path)
    preview_status, preview = outcome(make_wallchart_preview, path, dst)
    assert time.monotonic() - started < CASE_SECONDS
    assert sha256(path) == before, "the original was modified"

    if status == "rejected":
        assert_clean_rejection(facts)
        assert preview_status == "rejected", "a file refused by inspect must not get a preview"
    if path.name in REJECTED:
        assert preview_status == "rejected", f"{path.name} got a preview"
    if preview_status == "rejected":
        assert_clean_rejection(preview)
        assert list(tmp_path.iterdir()) == [], "a rejected wall chart left output behind"
        return

    for name, value in EXPECTED.get(path.name, {}).items():
        assert getattr(facts, name) == value, name
    assert facts.width * facts.height <= WALLCHART_MAX_PIXELS
    assert all(CJK.search(warning) for warning in facts.warnings)
    assert_bare_jpeg(dst, 2048)
    assert max(preview) == min(2048, max(facts.width, facts.height))
    assert [p.name for p in tmp_path.iterdir()] == ["preview.jpg"]


def test_the_known_fixtures_are_present():
    names = {path.name for path in PSD_FILES + JPG_FILES}
    assert set(EXPECTED) | REJECTED <= names


@pytest.mark.parametrize("path", NON_JPG_IMAGES, ids=lambda path: path.name)
def test_png_and_gif_are_not_wall_charts(path, tmp_path):
    for function, args in (
        (inspect_wallchart, (path,)),
        (make_wallchart_preview, (path, tmp_path / "p.jpg")),
    ):
        status, exc = outcome(function, *args)
        assert status == "rejected"
        assert_clean_rejection(exc)
        assert exc.message == wallchart.MSG_NOT_WALLCHART


def test_psb_and_16_bit_documents_that_pillow_cannot_open_get_previews(tmp_path):
    for name in ("psdtools_300dpi.psb", "psdtools_16bit5x5.psd"):
        with pytest.raises(OSError), Image.open(TESTDATA / "psd" / name):
            pass  # control: Pillow alone cannot read these
        make_wallchart_thumbnail(TESTDATA / "psd" / name, tmp_path / f"{name}.jpg")
        assert_bare_jpeg(tmp_path / f"{name}.jpg", 320)


def test_spot_colour_channels_show_in_the_preview(tmp_path):
    # cmyk-spot.psd keeps all its artwork in three spot channels over an empty (white) CMYK composite.
    path = TESTDATA / "psd" / "psdtools_cmyk-spot.psd"
    header = read_psd_header(path)
    assert [index for index, _ink in header.spot_inks] == [4, 5, 6]
    facts = inspect_wallchart(path)
    assert any("专色" in warning for warning in facts.warnings)
    make_wallchart_preview(path, tmp_path / "p.jpg", 200)
    with Image.open(tmp_path / "p.jpg") as preview:
        colours = preview.convert("RGB").getcolors(maxcolors=200 * 200)
    coloured = sum(count for count, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 60)
    assert coloured > 200 * 200 * 0.3, "the preview is (nearly) blank"


def test_transparent_psd_is_flattened_onto_white(tmp_path):
    make_wallchart_preview(TESTDATA / "psd" / "psdtools_transparentbg-gimp.psd", tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as preview:
        assert preview.getpixel((0, 0)) >= (245, 245, 245)


# --- print size and paper ---------------------------------------------------------------------


def test_a0_at_300_dpi():
    printed = describe_print(9933, 14043, 300, 300)
    # 9933 px / 300 dpi * 25.4 = 841.0 mm; 14043 px -> 1189.0 mm
    assert printed.width_mm == pytest.approx(841.0, abs=0.1)
    assert printed.height_mm == pytest.approx(1189.0, abs=0.1)
    assert (printed.paper, printed.orientation, printed.warnings) == ("A0", "portrait", [])


def test_a2_not_4kai_when_both_are_within_tolerance():
    # 4961 x 7016 @300 = 420.0 x 594.0 mm: A2 exactly; 4开 (393 x 546) is 8.8% off, also within 10%.
    assert describe_print(4961, 7016, 300, 300).paper == "A2"
    assert nearest_paper(420, 594) == "A2"


def test_a4_pixels_at_72_dpi_print_as_a0_with_a_low_resolution_warning():
    printed = describe_print(2480, 3508, 72, 72)
    # 2480 / 72 * 25.4 = 874.9 mm, 3508 / 72 * 25.4 = 1237.6 mm: within 4.1% of A0 (841 x 1189).
    assert printed.width_mm == pytest.approx(874.9, abs=0.1)
    assert printed.height_mm == pytest.approx(1237.6, abs=0.1)
    assert printed.paper == "A0"
    # At A0 size: 2480 px over 841 mm = 74.9 dpi, 3508 px over 1189 mm = 74.9 dpi -> "约 75 dpi".
    assert printed.warnings == ["分辨率偏低：按 A0 尺寸印刷仅约 75 dpi，建议不低于 150 dpi"]


def test_the_same_pixels_at_300_dpi_are_a4_without_warning():
    printed = describe_print(2480, 3508, 300, 300)
    assert (printed.paper, printed.warnings) == ("A4", [])


def test_landscape_and_chinese_sheet_sizes():
    assert describe_print(4961, 3508, 300, 300).paper == "A3"
    assert describe_print(4961, 3508, 300, 300).orientation == "landscape"
    # 787 x 1092 mm at 150 dpi = 4648 x 6449 px; 546 x 787 mm at 300 dpi = 6449 x 9295 px.
    assert describe_print(4648, 6449, 150, 150).paper == "全开"
    assert describe_print(4648, 6449, 150, 150).warnings == []
    assert describe_print(9295, 6449, 300, 300).paper == "对开"
    assert describe_print(4642, 6449, 300, 300).paper == "4开"


def test_tolerance_edges():
    assert nearest_paper(297 * 1.09, 420 * 1.09) == "A3"
    assert nearest_paper(297 * 1.15, 420 * 1.15) is None  # 15% over A3 and 19% under A2
    assert nearest_paper(420, 297) == nearest_paper(297, 420) == "A3"


def test_a_size_far_from_every_paper():
    # 1000 x 10000 px @300 = 84.7 x 846.7 mm: a banner, no paper.
    printed = describe_print(1000, 10000, 300, 300)
    assert printed.paper is None
    assert printed.width_mm == pytest.approx(84.7, abs=0.1)
    assert printed.warnings == []


def test_low_resolution_without_a_paper_and_missing_dpi():
    assert describe_print(1000, 10000, 100, 100).warnings == [
        "分辨率偏低：按文件标注的尺寸印刷仅约 100 dpi，建议不低于 150 dpi"
    ]
    printed = describe_print(9933, 14043, None, None)
    assert (printed.width_mm, printed.paper) == (None, None)
    assert printed.warnings == [wallchart.WARN_NO_DPI]


# --- crafted headers ---------------------------------------------------------------------------


def make_psd(
    path: Path,
    width: int,
    height: int,
    *,
    dpi: float | None = 300,
    version: int = 1,
    depth: int = 8,
    mode: int = 3,
    channels: int = 3,
    compression: int = 2,
    image_data: bytes = b"\x00",
    layer_section_length: int = 0,
) -> Path:
    """A PSD/PSB with a real header and resources; the image data is a stub unless given."""
    header = struct.pack(">4sH6sHIIHH", b"8BPS", version, b"\0" * 6, channels, height, width, depth, mode)
    resources = b""
    if dpi is not None:
        fixed = round(dpi * 65536)
        resolution = struct.pack(">IHHIHH", fixed, 1, 2, fixed, 1, 2)
        resources = (
            b"8BIM" + struct.pack(">H", 0x03ED) + b"\0\0" + struct.pack(">I", len(resolution)) + resolution
        )
    length = struct.pack(">I" if version == 1 else ">Q", layer_section_length)
    body = (
        header
        + struct.pack(">I", 0)
        + struct.pack(">I", len(resources))
        + resources
        + length
        + b"\0" * min(layer_section_length, 64)
        + struct.pack(">H", compression)
        + image_data
    )
    path.write_bytes(body)
    return path


def test_psd_header_is_read_from_bytes(tmp_path):
    path = make_psd(tmp_path / "a0.psd", 9933, 14043, dpi=300, mode=4, channels=4, depth=16)
    header = read_psd_header(path)
    assert (header.width, header.height, header.depth, header.colour_mode, header.version) == (
        9933,
        14043,
        16,
        4,
        1,
    )
    facts = inspect_wallchart(path)
    assert (facts.paper, facts.orientation, facts.colour_mode, facts.bit_depth) == (
        "A0",
        "portrait",
        "CMYK",
        16,
    )
    assert (facts.dpi_x, facts.dpi_y) == (300, 300)
    assert facts.warnings == []


def test_fixed_point_dpi_and_psb_lengths(tmp_path):
    path = make_psd(tmp_path / "a.psb", 4961, 7016, dpi=299.5, version=2)
    facts = inspect_wallchart(path)
    assert facts.format == "PSB"
    assert facts.dpi_x == pytest.approx(299.5)
    assert facts.paper == "A2"


def test_psd_without_resolution_warns(tmp_path):
    facts = inspect_wallchart(make_psd(tmp_path / "n.psd", 3000, 4000, dpi=None))
    assert facts.dpi_x is None and facts.paper is None
    assert facts.warnings == [wallchart.WARN_NO_DPI]


@pytest.mark.parametrize(
    ("label", "options", "fragment"),
    [
        ("900 Mpx PSD", {"width": 30000, "height": 30000}, "超过上限 2 亿像素"),
        ("PSB 300000 px", {"width": 300000, "height": 300000, "version": 2}, "超过上限 2 亿像素"),
        ("just over the limit", {"width": 10000, "height": 20001}, "超过上限 2 亿像素"),
        ("PSD wider than its spec", {"width": 30001, "height": 10}, "文件头"),
        ("version 3", {"width": 10, "height": 10, "version": 3}, "文件头"),
        ("depth 7", {"width": 10, "height": 10, "depth": 7}, "文件头"),
        ("colour mode 5", {"width": 10, "height": 10, "mode": 5}, "文件头"),
        ("zero width", {"width": 0, "height": 10}, "文件头"),
        ("layer section past the end", {"width": 10, "height": 10, "layer_section_length": 10**6}, "文件头"),
        ("raw data missing", {"width": 100, "height": 100, "compression": 0}, "不完整"),
        (
            "RLE rows missing",
            {"width": 10, "height": 10, "compression": 1, "image_data": struct.pack(">30H", *[12] * 30)},
            "不完整",
        ),
        ("unknown compression", {"width": 10, "height": 10, "compression": 9}, "文件头"),
    ],
)
def test_bad_or_huge_psd_headers_are_refused_before_decoding(label, options, fragment, tmp_path):
    options = dict(options)
    path = make_psd(tmp_path / "x.psd", options.pop("width"), options.pop("height"), **options)
    for function, args in (
        (inspect_wallchart, (path,)),
        (make_wallchart_preview, (path, tmp_path / "p.jpg")),
    ):
        started = time.monotonic()
        status, exc = outcome(function, *args)
        assert time.monotonic() - started < 2, label
        assert status == "rejected", label
        assert_clean_rejection(exc)
        assert fragment in exc.message, (label, exc.message)
    assert not (tmp_path / "p.jpg").exists()


def test_a_cut_off_psd_is_refused_although_psd_tools_would_decode_it(tmp_path):
    data = (TESTDATA / "psd" / "psdtools_2layers.psd").read_bytes()
    cut = tmp_path / "cut.psd"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    # Control: psd-tools turns the missing RLE rows into pixels without an error or a warning.
    assert PSDImage.open(cut).topil() is not None
    status, exc = outcome(make_wallchart_preview, cut, tmp_path / "p.jpg")
    assert status == "rejected"
    assert_clean_rejection(exc)
    assert "不完整" in exc.message
    assert not (tmp_path / "p.jpg").exists()


def test_limit_is_deliberate():
    # A0 at 300 dpi must fit; a 900 Mpx PSD header must not.
    assert 9933 * 14043 < WALLCHART_MAX_PIXELS < 30000 * 30000


def _jpeg_claiming(path: Path, width: int, height: int) -> Path:
    data = bytearray((TESTDATA / "images" / "pillow_flower.jpg").read_bytes())
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    struct.pack_into(">HH", data, pos + 5, height, width)
    path.write_bytes(bytes(data))
    return path


def test_jpeg_wall_chart_over_the_limit_is_refused_from_its_header(tmp_path):
    # 15000 x 15000 = 225 Mpx: over our limit, under Pillow's hard 2x limit (only a warning there).
    for size in ((15000, 15000), (65000, 65000)):
        path = _jpeg_claiming(tmp_path / f"{size[0]}.jpg", *size)
        for function, args in (
            (inspect_wallchart, (path,)),
            (make_wallchart_preview, (path, tmp_path / "p.jpg")),
        ):
            status, exc = outcome(function, *args)
            assert status == "rejected"
            assert_clean_rejection(exc)
            assert exc.message == f"图片尺寸过大：{size[0]}×{size[1]} 像素，超过上限 2 亿像素"


def test_huge_headers_are_refused_with_bounded_memory(tmp_path):
    paths = [
        make_psd(tmp_path / "big.psd", 30000, 30000),
        make_psd(tmp_path / "big.psb", 300000, 300000, version=2),
        _jpeg_claiming(tmp_path / "big.jpg", 60000, 60000),
    ]
    script = textwrap.dedent(
        """
        import json, sys, tempfile
        from PIL import Image
        from cloud.media.images import ImageRejected
        from cloud.media.wallchart import make_wallchart_preview
        out = tempfile.mkdtemp()
        # VmHWM is this process's own peak; ru_maxrss would include the forking pytest process's.
        def peak():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        before = peak()
        refused = 0
        for path in sys.argv[1:]:
            try:
                make_wallchart_preview(path, out + "/p.jpg")
            except ImageRejected:
                refused += 1
        after = peak()
        control = Image.new("RGB", (6000, 6000), (1, 2, 3))
        print(json.dumps({"refused": refused, "grew_kb": after - before, "control_kb": peak() - after}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["refused"] == 3
    assert measured["grew_kb"] < 20_000, measured
    assert measured["control_kb"] > 50_000, measured


def _variants(data: bytes, seed: int):
    rng = random.Random(seed)
    for fraction in (0.02, 0.2, 0.5, 0.9, 0.999):
        yield f"cut{fraction}", data[: int(len(data) * fraction)]
    for number in range(5):
        mutated = bytearray(data)
        for _ in range(6):
            mutated[rng.randrange(26, len(mutated))] = rng.randrange(256)
        yield f"flip{number}", bytes(mutated)


@pytest.mark.parametrize("name", ["psdtools_2layers.psd", "pillow_hopper.psd", "psdtools_300dpi.psb"])
def test_damaged_psd_copies_end_cleanly(name, tmp_path):
    for label, data in _variants((TESTDATA / "psd" / name).read_bytes(), seed=len(name)):
        source = tmp_path / f"{label}.psd"
        source.write_bytes(data)
        started = time.monotonic()
        for function, args in (
            (inspect_wallchart, (source,)),
            (make_wallchart_preview, (source, tmp_path / f"{label}.jpg")),
        ):
            status, result = outcome(function, *args)
            if status == "rejected":
                assert_clean_rejection(result)
        assert time.monotonic() - started < CASE_SECONDS, label


def test_psd_size_over_the_limit_names_both_sides():
    with pytest.raises(ImageRejected) as caught:
        wallchart._check_pixels(10000, 20001)
    assert caught.value.message == "挂图尺寸过大：10000×20001 像素，超过上限 2 亿像素"


@pytest.mark.parametrize("version", [1, 2])
def test_psb_messages_and_warnings_say_psb(version, tmp_path):
    name = "PSB" if version == 2 else "PSD"
    other = "PSD" if version == 2 else "PSB"
    truncated = make_psd(tmp_path / "t.psd", 100, 100, compression=0, version=version)
    bad_compression = make_psd(tmp_path / "c.psd", 10, 10, compression=9, version=version)
    for path, fragment in ((truncated, "文件不完整"), (bad_compression, "文件头无效")):
        status, exc = outcome(inspect_wallchart, path)
        assert status == "rejected"
        assert exc.message.startswith(f"{name} {fragment}"), exc.message
        assert other not in exc.message
    # A file without a saved composite ("maximise compatibility" off) is described by its format.
    no_composite = make_psd(tmp_path / "n.psd", 10, 10, version=version)
    data = bytearray(no_composite.read_bytes())
    version_info = b"8BIM" + struct.pack(">H", 0x0421) + b"\0\0" + struct.pack(">I", 6) + b"\0\0\0\1\0\0"
    resources_at = 26 + 4
    length = struct.unpack(">I", data[resources_at : resources_at + 4])[0]
    data[resources_at : resources_at + 4] = struct.pack(">I", length + len(version_info))
    data[resources_at + 4 + length : resources_at + 4 + length] = version_info
    no_composite.write_bytes(bytes(data))
    facts = inspect_wallchart(no_composite)
    assert facts.format == name
    assert wallchart.WARN_NO_COMPOSITE.format(fmt=name) in facts.warnings
    assert not [w for w in facts.warnings if other in w]


def test_the_real_psb_is_described_as_psb(tmp_path):
    path = TESTDATA / "psd" / "psdtools_300dpi.psb"
    cut = tmp_path / "cut.psb"
    cut.write_bytes(path.read_bytes()[:-200])
    status, exc = outcome(make_wallchart_preview, cut, tmp_path / "p.jpg")
    assert status == "rejected"
    assert exc.message.startswith("PSB "), exc.message


# --------------------------------------------------------------------------- memory of a print chart


def _poster(tmp_path, size=(300, 424)):
    return media_fixtures.poster_psd(tmp_path / "poster.psd", size=size)


@pytest.mark.parametrize(
    "name", ["poster", "pillow_hopper.psd", "psdtools_gray1.psd", "psdtools_text.psd", "psdtools_2layers.psd"]
)
def test_pillow_reads_the_merged_image_psd_tools_reads(name, tmp_path, monkeypatch):
    """Flat 8-bit documents are decoded by Pillow into one buffer; the JPEGs are byte for byte those
    of the psd-tools path (which still reads everything else: alpha, spot inks, 16/32 bits, PSB)."""
    src = _poster(tmp_path) if name == "poster" else TESTDATA / "psd" / name
    assert wallchart._pillow_layout(read_psd_header(src)), "not a document of the Pillow path"
    outputs = {}
    for path in ("pillow", "psd-tools"):
        if path == "psd-tools":
            monkeypatch.setattr(wallchart, "_pillow_layout", lambda header: None)
        folder = tmp_path / path
        folder.mkdir()
        sizes = (
            make_wallchart_preview(src, folder / "preview.jpg"),
            make_wallchart_thumbnail(src, folder / "thumb.jpg"),
            wallchart.make_print_jpeg(src, folder / "print.jpg"),
        )
        outputs[path] = (sizes, *(sha256(folder / f) for f in ("preview.jpg", "thumb.jpg", "print.jpg")))
    assert outputs["pillow"] == outputs["psd-tools"]
    with Image.open(tmp_path / "pillow" / "print.jpg") as printed:
        assert printed.mode == ("CMYK" if name == "poster" else printed.mode)


def test_pillow_is_not_used_for_what_it_would_read_otherwise():
    for name in (
        "psdtools_cmyk-spot.psd",
        "psdtools_16bit5x5.psd",
        "psdtools_300dpi.psb",
        "psdtools_artboard.psd",
    ):
        assert wallchart._pillow_layout(read_psd_header(TESTDATA / "psd" / name)) is None, name


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    from cloud.media import wallchart
    if sys.argv[2] == "psd-tools":
        wallchart._pillow_layout = lambda header: None
    out = tempfile.mkdtemp()
    def peak():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    before = peak()
    wallchart.make_wallchart_preview(sys.argv[1], out + "/preview.jpg")
    wallchart.make_print_jpeg(sys.argv[1], out + "/print.jpg")
    print(json.dumps({"grew_kb": peak() - before}))
    """
)


def test_a_print_chart_is_decoded_once_into_one_buffer(tmp_path):
    """The preview and the print JPEG of a flat CMYK chart cost its CMYK pixels and the sRGB
    preview made from them: 2.5 decoded copies measured for this size (1980 px fits the preview,
    so it is converted at full size), where the psd-tools path costs nearly five (its copy of the
    file, the channels as bytes, then the image), which is the control that the measurement is live.
    """
    width, height = 1400, 1980
    decoded_kb = width * height * 4 // 1024  # 10.8 MB of CMYK
    src = _poster(tmp_path, (width, height))
    grew = {}
    for path in ("pillow", "psd-tools"):
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(src), path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        grew[path] = json.loads(result.stdout)["grew_kb"] / decoded_kb
    assert grew["psd-tools"] > 4, grew
    assert grew["pillow"] < 3.2, grew
