"""Image previews: every real test image ends in facts or a clean rejection; previews carry nothing along.

Every file in ../shared/testdata/images is a case (the folder is listed at collection time, so new
files are covered). Crafted files check what the testdata does not: GPS EXIF/XMP/ICC/comments,
polyglots, orientation, transparency, other formats renamed .jpg, and the pixel limit.
"""

import hashlib
import io
import json
import random
import re
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from cloud.media import images
from cloud.media.ffmpeg import MediaError
from cloud.media.images import (
    IMAGE_MAX_PIXELS,
    ImageRejected,
    inspect_image,
    make_preview,
    make_thumbnail,
    open_image,
)
from tests.support.bounded import CASE_SECONDS, run_bounded

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT.parent / "shared" / "testdata" / "images"
IMAGE_FILES = sorted(path for path in IMAGES.iterdir() if path.is_file())
CJK = re.compile(r"[\u4e00-\u9fff]")

EXPECTED_FACTS = {
    "sharp_2569067123_aca715a2ee_o.jpg": {"width": 2725, "height": 2225, "format": "JPEG", "mode": "RGB"},
    "pillow_flower.jpg": {"width": 480, "height": 360, "format": "JPEG", "has_exif": True},
    "pillow_iptc.jpg": {"width": 640, "height": 480, "format": "JPEG"},
    "pillow_pil_sample_cmyk.jpg": {"width": 100, "height": 100, "mode": "CMYK"},
    "sharp_Channel_digital_image_CMYK_color.jpg": {"mode": "CMYK"},
}
REJECTED = {
    "sharp_truncated.jpg",
    "pillow_truncated_image.png",
    "sharp_corrupt-header.jpg",
    "sharp_65536-uint32-limit.png",
    "pillow_decompression_bomb.gif",
}


def outcome(function, *args):
    """("ok", result) or ("rejected", exc) for a media error; any other exception fails the test."""
    try:
        return "ok", run_bounded(function, *args)
    except MediaError as exc:
        return "rejected", exc


def assert_clean_rejection(exc):
    assert type(exc) is ImageRejected, f"{type(exc).__name__}: {exc}"
    assert exc.message and CJK.search(exc.message), exc.message
    assert exc.detail


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the image data."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: metadata is all before it
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments


def assert_bare_preview(path: Path, max_side: int):
    data = path.read_bytes()
    markers = jpeg_segments(data)
    assert all(marker != 0xE1 for marker, _ in markers), "APP1 (EXIF/XMP) in preview"
    assert not any(marker == 0xE2 and payload.startswith(b"ICC_PROFILE") for marker, payload in markers)
    assert all(marker != 0xFE for marker, _ in markers), "COM comment in preview"
    assert all(marker != 0xED for marker, _ in markers), "APP13 (IPTC/Photoshop) in preview"
    with Image.open(path) as preview:
        assert preview.format == "JPEG"
        assert preview.mode == "RGB"
        assert max(preview.size) <= max_side
        for key in ("exif", "xmp", "icc_profile", "comment", "photoshop"):
            assert key not in preview.info
        assert not preview.getexif()
        preview.load()
    assert b"<script" not in data.lower()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", IMAGE_FILES, ids=lambda path: path.name)
def test_every_testdata_image_ends_in_facts_or_clean_rejection(path, tmp_path):
    before = sha256(path)
    dst = tmp_path / "preview.jpg"
    started = time.monotonic()
    status, result = outcome(lambda: (inspect_image(path), make_preview(path, dst)))
    assert time.monotonic() - started < CASE_SECONDS
    assert sha256(path) == before

    if path.name in REJECTED:
        assert status == "rejected", f"{path.name} was accepted"
    if status == "rejected":
        assert_clean_rejection(result)
        assert list(tmp_path.iterdir()) == [], "a rejected image left output behind"
        return
    facts, size = result
    for name, value in EXPECTED_FACTS.get(path.name, {}).items():
        assert getattr(facts, name) == value, name
    assert_bare_preview(dst, 1280)
    assert max(size) == min(1280, max(facts.width, facts.height))
    assert [p.name for p in tmp_path.iterdir()] == ["preview.jpg"], "temp file left behind"


def test_the_known_fixtures_are_present():
    # A renamed or missing fixture would silently shrink the parametrized test above.
    names = {path.name for path in IMAGE_FILES}
    assert set(EXPECTED_FACTS) | REJECTED <= names


def test_thumbnail_is_small_and_bare(tmp_path):
    dst = tmp_path / "thumb.jpg"
    assert make_thumbnail(IMAGES / "sharp_2569067123_aca715a2ee_o.jpg", dst) == (320, 261)
    assert_bare_preview(dst, 320)


def test_flower_exif_is_gone_from_the_preview(tmp_path):
    source = IMAGES / "pillow_flower.jpg"
    assert inspect_image(source).has_exif
    assert any(marker == 0xE1 for marker, _ in jpeg_segments(source.read_bytes()))
    make_preview(source, tmp_path / "p.jpg")
    assert_bare_preview(tmp_path / "p.jpg", 1280)


@pytest.mark.parametrize("name", ["pillow_pil_sample_cmyk.jpg", "sharp_Channel_digital_image_CMYK_color.jpg"])
def test_cmyk_becomes_rgb(name, tmp_path):
    assert inspect_image(IMAGES / name).mode == "CMYK"
    make_preview(IMAGES / name, tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as preview:
        assert preview.mode == "RGB"


def test_cmyk_with_embedded_profile_is_converted_through_it(tmp_path):
    source = IMAGES / "sharp_Channel_digital_image_CMYK_color.jpg"
    make_preview(source, tmp_path / "p.jpg")
    with Image.open(source) as original, Image.open(tmp_path / "p.jpg") as preview:
        assert "icc_profile" in original.info
        naive = original.convert("RGB").resize(preview.size)
        profiled = preview.convert("RGB")
        # SWOP -> sRGB shifts colours measurably compared with Pillow's plain formula.
        diff = sum(abs(a - b) for a, b in zip(naive.tobytes(), profiled.tobytes(), strict=True))
        assert diff / len(naive.tobytes()) > 3


def _sample_jpeg(path: Path, size=(64, 32), **save_options):
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    image.save(path, "JPEG", **save_options)
    return path


def test_gps_exif_xmp_icc_and_comments_are_stripped(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>39,54N</exif:GPSLatitude></x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = _sample_jpeg(
        tmp_path / "gps.jpg", exif=exif.tobytes(), xmp=xmp, icc_profile=srgb, comment=b"secret location"
    )
    raw = source.read_bytes()
    assert b"GPSLatitude" in raw and b"secret location" in raw and b"ICC_PROFILE" in raw
    with Image.open(source) as check:
        assert check.getexif().get_ifd(0x8825)

    make_preview(source, tmp_path / "p.jpg")

    out = (tmp_path / "p.jpg").read_bytes()
    assert_bare_preview(tmp_path / "p.jpg", 1280)
    for leak in (b"Exif", b"GPSLatitude", b"secret location", b"Canon", b"ICC_PROFILE", b"xmpmeta"):
        assert leak not in out


def test_png_text_and_exif_are_not_carried_over(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    Image.new("RGB", (40, 40), "green").save(tmp_path / "a.png", pnginfo=info, exif=exif.tobytes())
    make_preview(tmp_path / "a.png", tmp_path / "p.jpg")
    assert_bare_preview(tmp_path / "p.jpg", 1280)
    assert b"Canon" not in (tmp_path / "p.jpg").read_bytes()


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display = rotate 90 degrees clockwise
    source = _sample_jpeg(tmp_path / "o.jpg", size=(64, 32), exif=exif.tobytes(), quality=95)
    assert inspect_image(source).orientation == 6
    assert make_preview(source, tmp_path / "p.jpg") == (32, 64)
    with Image.open(tmp_path / "p.jpg") as preview:
        # The left (red) half of the stored picture is at the top once upright.
        top, bottom = preview.getpixel((16, 5)), preview.getpixel((16, 58))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


@pytest.mark.parametrize("kind", ["rgba_png", "palette_gif", "la_png", "webp_alpha"])
def test_transparency_is_flattened_onto_white(kind, tmp_path):
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((0, 128, 0, 255), (0, 0, 20, 40))
    source = tmp_path / "t"
    if kind == "rgba_png":
        image.save(source, "PNG")
    elif kind == "palette_gif":
        # Index 0 (magenta) is the transparent background, index 1 the green half.
        palette = Image.new("P", (40, 40), 0)
        palette.putpalette([255, 0, 255, 0, 128, 0] + [0] * 762)
        palette.paste(1, (0, 0, 20, 40))
        palette.save(source, "GIF", transparency=0)
    elif kind == "la_png":
        image.convert("LA").save(source, "PNG")
    else:
        image.save(source, "WEBP", lossless=True)
    make_preview(source, tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as preview:
        assert preview.mode == "RGB"
        assert all(channel > 245 for channel in preview.getpixel((35, 20))), "transparent area is not white"
        assert preview.getpixel((5, 20))[0] < 100


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    Image.new("I;16", (20, 20), 32768).save(tmp_path / "g16.png")
    make_preview(tmp_path / "g16.png", tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as preview:
        value = preview.getpixel((10, 10))
    assert all(120 <= channel <= 136 for channel in value), value


def test_polyglot_jpeg_with_html_is_reencoded(tmp_path):
    source = _sample_jpeg(tmp_path / "poly.jpg", comment=b"<script>alert(1)</script>")
    with source.open("ab") as fp:
        fp.write(b"<html><script>alert(document.cookie)</script></html>")
    assert source.read_bytes().count(b"<script") == 2
    make_preview(source, tmp_path / "p.jpg")
    assert b"<script" not in (tmp_path / "p.jpg").read_bytes()
    assert_bare_preview(tmp_path / "p.jpg", 1280)


def test_polyglot_gif_with_html_comment_is_reencoded(tmp_path):
    source = tmp_path / "poly.gif"
    Image.new("P", (30, 30), 1).save(source, "GIF", comment=b"<html><script>alert(1)</script>")
    assert b"<script" in source.read_bytes()
    make_preview(source, tmp_path / "p.jpg")
    assert b"<script" not in (tmp_path / "p.jpg").read_bytes()
    assert_bare_preview(tmp_path / "p.jpg", 1280)


def _other_formats(tmp_path: Path) -> dict[str, Path]:
    files = {
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "fits": b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =                    8",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9"/></svg>',
        "html": b"<!DOCTYPE html><html><script>alert(1)</script></html>",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.jpg"
        paths[name].write_bytes(data)
    for name, pil_format in (("tiff", "TIFF"), ("bmp", "BMP"), ("pcx", "PCX"), ("ico", "ICO")):
        paths[name] = tmp_path / f"{name}.jpg"
        Image.new("RGB", (16, 16), "red").save(paths[name], pil_format)
    return paths


def test_other_formats_renamed_jpg_are_rejected(tmp_path):
    for name, path in _other_formats(tmp_path).items():
        status, exc = outcome(make_preview, path, tmp_path / f"{name}-preview.jpg")
        assert status == "rejected", name
        assert_clean_rejection(exc)
        assert exc.message == images.MSG_UNRECOGNISED
        assert not (tmp_path / f"{name}-preview.jpg").exists()


def test_control_pillow_alone_would_open_the_renamed_rasters(tmp_path):
    # Shows that the explicit format list, not luck, is what refuses them above.
    paths = _other_formats(tmp_path)
    for name in ("tiff", "bmp", "pcx", "ico"):
        with Image.open(paths[name]) as image:
            assert image.format == name.upper().replace("TIFF", "TIFF")


def test_open_image_honours_a_narrower_format_list(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with open_image(tmp_path / "a.png") as image:
        assert image.format == "PNG"
    with pytest.raises(ImageRejected), open_image(tmp_path / "a.png", formats=("JPEG",)):
        pass


def _png_header_only(path: Path, width: int, height: int):
    """A PNG whose IHDR declares ``width`` x ``height`` with one tiny (wrong) IDAT chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )
    return path


def test_pixel_limit_is_checked_from_the_header(tmp_path):
    # 8000 x 10000 is exactly the limit: the header is accepted (decoding it would fail, it is fake).
    at_limit = _png_header_only(tmp_path / "at.png", 8000, IMAGE_MAX_PIXELS // 8000)
    assert inspect_image(at_limit).width == 8000
    over = _png_header_only(tmp_path / "over.png", 8000, IMAGE_MAX_PIXELS // 8000 + 1)
    with pytest.raises(ImageRejected) as caught:
        inspect_image(over)
    assert caught.value.message == "图片尺寸过大：8000×10001 像素，超过上限 8000 万像素"


def test_pillow_bomb_warning_is_a_refusal_whatever_the_warning_filters(tmp_path):
    # Between the limit and twice the limit Pillow only warns; under "ignore" that would pass silently.
    over = _png_header_only(tmp_path / "over.png", 9000, 9000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageRejected):
            inspect_image(over)
        with pytest.raises(ImageRejected):
            make_preview(over, tmp_path / "p.jpg")
    assert not (tmp_path / "p.jpg").exists()


def test_global_pillow_settings_are_left_alone(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    for name in REJECTED:
        with pytest.raises(ImageRejected):
            make_preview(IMAGES / name, tmp_path / "p.jpg")
    assert limit == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_rejected_image_leaves_the_previous_preview_untouched(tmp_path):
    dst = tmp_path / "p.jpg"
    make_preview(IMAGES / "pillow_flower.jpg", dst)
    before = sha256(dst)
    with pytest.raises(ImageRejected):
        make_preview(IMAGES / "sharp_truncated.jpg", dst)
    assert sha256(dst) == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.jpg"]


def test_bombs_are_refused_with_bounded_memory():
    """Peak RSS in a fresh interpreter barely moves while refusing the bombs; a control shows it would."""
    script = textwrap.dedent(
        """
        import json, sys, tempfile
        from PIL import Image
        from cloud.media.images import ImageRejected, make_preview
        out = tempfile.mkdtemp()
        Image.new("RGB", (64, 64)).save(out + "/warm.png")
        make_preview(out + "/warm.png", out + "/warm.jpg")  # load codecs before measuring
        # VmHWM is this process's own peak; ru_maxrss would include the forking pytest process's.
        def peak():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        before = peak()
        refused = 0
        for path in sys.argv[1:]:
            try:
                make_preview(path, out + "/p.jpg")
            except ImageRejected:
                refused += 1
        after_bombs = peak()
        control = Image.new("RGB", (6000, 6000), (1, 2, 3))  # 108 MB, the growth a decode would cause
        after_control = peak()
        print(json.dumps({"refused": refused, "bombs_kb": after_bombs - before,
                          "control_kb": after_control - after_bombs}))
        """
    )
    bombs = [str(IMAGES / "sharp_65536-uint32-limit.png"), str(IMAGES / "pillow_decompression_bomb.gif")]
    result = subprocess.run(
        [sys.executable, "-c", script, *bombs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["refused"] == 2
    assert measured["bombs_kb"] < 20_000, measured
    assert measured["control_kb"] > 50_000, measured


def _variants(data: bytes, seed: int):
    rng = random.Random(seed)
    for fraction in (0.05, 0.3, 0.6, 0.95):
        yield f"cut{fraction}", data[: int(len(data) * fraction)]
    for number in range(4):
        mutated = bytearray(data)
        for _ in range(8):
            mutated[rng.randrange(20, len(mutated))] = rng.randrange(256)
        yield f"flip{number}", bytes(mutated)


@pytest.mark.parametrize("name", ["pillow_flower.jpg", "pillow_iptc.jpg"])
def test_damaged_copies_end_in_a_preview_or_a_clean_rejection(name, tmp_path):
    for label, data in _variants((IMAGES / name).read_bytes(), seed=len(name)):
        source = tmp_path / f"{label}.jpg"
        source.write_bytes(data)
        started = time.monotonic()
        status, result = outcome(make_preview, source, tmp_path / f"{label}-p.jpg")
        assert time.monotonic() - started < CASE_SECONDS
        if status == "rejected":
            assert_clean_rejection(result)
            assert not (tmp_path / f"{label}-p.jpg").exists()
        else:
            assert_bare_preview(tmp_path / f"{label}-p.jpg", 1280)


def test_damaged_png_copies_end_cleanly(tmp_path):
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").save(buffer, "PNG")
    for label, data in _variants(buffer.getvalue(), seed=7):
        source = tmp_path / f"{label}.png"
        source.write_bytes(data)
        status, result = outcome(make_preview, source, tmp_path / f"{label}-p.jpg")
        if status == "rejected":
            assert_clean_rejection(result)


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        # Pillow refuses these inside Image.open (DecompressionBombError): no size in its message.
        ("sharp_65536-uint32-limit.png", "65536×65536"),
        ("pillow_decompression_bomb.gif", "65535×66601"),
        # Between the limit and twice the limit: our own check after the header.
        (None, "9000×9000"),
    ],
)
def test_the_too_large_message_says_the_declared_size_and_the_limit(name, declared, tmp_path):
    path = IMAGES / name if name else _png_header_only(tmp_path / "o.png", 9000, 9000)
    for function, args in ((inspect_image, (path,)), (make_preview, (path, tmp_path / "p.jpg"))):
        status, exc = outcome(function, *args)
        assert status == "rejected"
        assert exc.message == f"图片尺寸过大：{declared} 像素，超过上限 8000 万像素"


def _broken_pngs(tmp_path: Path) -> dict[str, Path]:
    whole = _png_header_only(tmp_path / "whole.png", 16, 16).read_bytes()
    bad_crc = bytearray(whole)
    bad_crc[29] ^= 0xFF  # a byte of IHDR's CRC
    cut = (IMAGES / "pillow_truncated_image.png").read_bytes()[:40]
    contents = {"bad IHDR CRC": bytes(bad_crc), "cut in the second chunk": cut, "signature only": whole[:8]}
    paths = {}
    for number, (name, data) in enumerate(contents.items()):
        paths[name] = tmp_path / f"broken-{number}.png"
        paths[name].write_bytes(data)
    return paths


def test_a_broken_png_is_called_damaged_not_an_unknown_format(tmp_path):
    for name, path in _broken_pngs(tmp_path).items():
        # Control: Pillow itself cannot tell these from another format.
        with pytest.raises(UnidentifiedImageError):
            Image.open(path, formats=["PNG"])
        for function, args in ((inspect_image, (path,)), (make_preview, (path, tmp_path / "p.jpg"))):
            status, exc = outcome(function, *args)
            assert status == "rejected", name
            assert exc.message == images.MSG_CORRUPT, (name, exc.message)
            assert "损坏" in exc.message
