"""File type from content and the upload gate: hostile names, renamed formats, display names.

Every file in ../shared/testdata/{images,psd,video,audio} is sniffed and passed through the gate for
its natural resource type (listed at collection time, so new files are covered).
"""

import re
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from cloud.media.ffmpeg import MediaError
from cloud.media.sniff import (
    DISPLAY_NAME_MAX,
    UploadRejected,
    check_name,
    check_upload,
    display_name,
    sniff,
    sniff_bytes,
)
from cloud.resources.kinds import FILE_KINDS, file_rules

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
#: Each file kind's rules, from the kinds table.
RULES = {kind.value: file_rules(kind) for kind in FILE_KINDS}
FOLDER_TYPES = {"images": "image", "psd": "wallchart", "video": "video", "audio": "audio"}
MEDIA_FILES = sorted(
    path for folder in FOLDER_TYPES for path in (TESTDATA / folder).iterdir() if path.is_file()
)

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only
CJK = re.compile(r"[\u4e00-\u9fff]")

JPEG = TESTDATA / "images" / "pillow_flower.jpg"
PNG = TESTDATA / "images" / "pillow_truncated_image.png"
MP4 = TESTDATA / "video" / "moviepy_smpte-2997.mp4"
M4A = TESTDATA / "audio" / "filetype_fixture.m4a"

#: What each extension's real content sniffs as; exceptions listed by file name.
KIND_BY_SUFFIX = {
    ".jpg": "jpeg",
    ".png": "png",
    ".gif": "gif",
    ".psd": "psd",
    ".psb": "psb",
    ".mp4": "mp4",
    ".mov": "mov",
    ".webm": "webm",
    ".mkv": "mkv",
    ".mp3": "mp3",
    ".m4a": "m4a",
    ".ogg": "ogg",
    ".wav": "wav",
    ".flac": "flac",
}
KIND_BY_NAME = {"jsonize_broken-wav.wav": "unknown"}  # "RIFF" + garbage: not a WAVE form


def rejected(function, *args) -> UploadRejected:
    with pytest.raises(MediaError) as caught:
        function(*args)
    exc = caught.value
    assert type(exc) is UploadRejected, f"{type(exc).__name__}: {exc}"
    assert exc.message and CJK.search(exc.message), exc.message
    return exc


@pytest.mark.parametrize("path", MEDIA_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_testdata_file_sniffs_by_content_and_passes_the_gate_for_its_type(path):
    found = sniff(path)
    expected = KIND_BY_NAME.get(path.name, KIND_BY_SUFFIX.get(path.suffix.lower()))
    if expected is None:
        pytest.skip(f"no expectation for {path.suffix} yet")
    assert found.kind == expected
    resource_type = FOLDER_TYPES[path.parent.name]
    if found.kind == "unknown":
        rejected(check_upload, RULES[resource_type], path.name, path)
        return
    accepted = check_upload(RULES[resource_type], path.name, path)
    assert accepted.sniffed == found
    assert accepted.display_name == path.name


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n", "eps"),
        (b"\xc5\xd0\xd3\xc6" + b"\0" * 28, "eps"),  # DOS EPS binary header
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"SIMPLE  =                    T / conforms to FITS", "fits"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "svg"),
        (b"  <svg onload=alert(1)>", "svg"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html></html>", "html"),
        (b"<script>alert(1)</script>", "html"),
        (b"<?php system($_GET['c']); ?>", "script"),
        (b"%PDF-1.7\n", "pdf"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (b"MZ\x90\x00\x03\x00", "executable"),
        (b"\x7fELF\x02\x01\x01", "executable"),
        (b"BM" + b"\0" * 12 + b"\x28\0\0\0", "bmp"),
        (b"BMP is a format", "unknown"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avif", "avif"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42", "m4a"),
        (b"\x00\x00\x00\x14ftyp3gp5\x00\x00\x00\x00", "3gp"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "mov"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", "mov"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00XXXX", "unknown"),
        (b"OggS\x00\x02" + b"\0" * 22 + b"\x13OpusHead\x01\x02", "opus"),
        (b"OggS\x00\x02" + b"\0" * 22 + b"\x80theora", "ogv"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00", "mp3"),  # MPEG-1 layer III frame header
        (b"\xff\xf1\x50\x80\x00", "unknown"),  # AAC ADTS has layer bits 00: not MP3
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "mkv"),
        (b"8BPS\x00\x01", "psd"),
        (b"8BPS\x00\x02", "psb"),
        (b"8BPS\x00\x07", "unknown"),
        (b"GIF89a\x01\x00", "gif"),
        (b"", "unknown"),
        (b"plain text", "unknown"),
    ],
)
def test_sniff_bytes(head, kind):
    assert sniff_bytes(head).kind == kind


def test_sniff_reads_only_the_first_bytes(tmp_path):
    path = tmp_path / "big"
    with path.open("wb") as fp:
        fp.write(JPEG.read_bytes()[:64])
        fp.seek(50 * 1024 * 1024)
        fp.write(b"\0")
    assert sniff(path).kind == "jpeg"


@pytest.mark.parametrize(
    "name",
    [
        "shell.php.jpg",
        "shell.PHP.jpg",
        "shell.php5.jpg",
        "shell.phtml.jpeg",
        "shell.asp.jpg",
        "shell.jsp.png",
        "shell.php;.jpg",
        "shell.php .jpg",
        "shell．ｐｈｐ.jpg",  # full-width dot and letters
        "x.exe.jpg",
        "a.html.jpg",
        "a.svg.png",
        "a.php%00.jpg",
        "a.php\x00.jpg",
        "a.php%2500.jpg",  # %00 encoded twice
        "x.jpg ",
        "x.jpg.",
        "x.jpg..",
        "x.jpg%20",
        "x.jpg\u3000",  # ideographic space
        "a\r\nb.jpg",
        "a\nb.jpg",
        "a%0d%0ab.jpg",
        "a\tb.jpg",
        "\u202egpj.exe",  # right-to-left override: displays as "exe.jpg"
        "evil\u202e.jpg",
        "%E8%AF%B",  # broken UTF-8 escape
        "%ff.jpg",
        ".jpg",
        "noextension",
        "photo.bmp",
        "photo.tiff",
        "photo.svg",
        "photo.heic",
        "",
        "   ",
        "../",
    ],
)
def test_hostile_names_are_refused(name):
    exc = rejected(check_upload, RULES["image"], name, JPEG)
    assert exc.detail


def test_percent_decoding_and_nfc_happen_before_the_checks():
    assert check_name(RULES["image"], "%E8%AF%BE%E7%A8%8B.jpg") == ("课程.jpg", "jpg")
    decomposed = "cafe\u0301.JPG"
    name, ext = check_name(RULES["image"], decomposed)
    assert name == unicodedata.normalize("NFC", decomposed) == "café.JPG"
    assert ext == "jpg"
    # Windows browsers used to send the full path.
    assert check_name(RULES["image"], "C:\\Users\\张三\\照片.jpg")[0] == "照片.jpg"
    # Dots inside a name are fine when no part is executable.
    assert check_name(RULES["video"], "第1集.2024.最终版.mp4")[1] == "mp4"


def test_chinese_video_name_with_real_mp4_is_accepted_and_kept():
    accepted = check_upload(RULES["video"], "课程视频.mp4", MP4)
    assert (accepted.sniffed.kind, accepted.ext, accepted.display_name) == ("mp4", "mp4", "课程视频.mp4")
    assert accepted.sniffed.mime == "video/mp4"


def test_png_bytes_named_mp4_are_refused():
    exc = rejected(check_upload, RULES["video"], "movie.mp4", PNG)
    assert exc.message.startswith("文件内容与扩展名不符")


@pytest.mark.parametrize("name", ["clip.png", "clip.jpg", "clip.mp4"])
def test_mp4_bytes_are_not_an_image(name):
    rejected(check_upload, RULES["image"], name, MP4)


def test_audio_only_m4a_is_audio_not_video():
    assert check_upload(RULES["audio"], "歌曲.m4a", M4A).sniffed.kind == "m4a"
    exc = rejected(check_upload, RULES["video"], "歌曲.mp4", M4A)
    assert "M4A" in exc.message


def test_mp4_branded_audio_is_accepted_as_m4a_only():
    # Some encoders write a generic ISO brand into .m4a files.
    assert check_upload(RULES["audio"], "a.m4a", MP4).sniffed.kind == "mp4"
    rejected(check_upload, RULES["audio"], "a.mp3", MP4)


def test_wallchart_accepts_jpg_and_psd_only():
    assert (
        check_upload(RULES["wallchart"], "挂图.psd", TESTDATA / "psd" / "pillow_hopper.psd").sniffed.kind
        == "psd"
    )
    assert (
        check_upload(RULES["wallchart"], "挂图.psb", TESTDATA / "psd" / "psdtools_300dpi.psb").sniffed.kind
        == "psb"
    )
    assert check_upload(RULES["wallchart"], "挂图.jpg", JPEG).sniffed.kind == "jpeg"
    rejected(check_upload, RULES["wallchart"], "挂图.png", PNG)


def _crafted(tmp_path: Path) -> dict[str, Path]:
    contents = {
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "fits": b"SIMPLE  =                    T" + b" " * 50,
        "tiff_header": b"II*\x00\x08\x00\x00\x00" + b"\0" * 32,
        "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "html": b"<html><body><script>alert(1)</script></body></html>",
        "php": b"<?php echo 1; ?>",
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    paths["tiff"] = tmp_path / "tiff"
    Image.new("RGB", (4, 4)).save(paths["tiff"], "TIFF")
    return paths


@pytest.mark.parametrize("renamed_to", ["photo.jpg", "photo.png", "photo.gif", "photo.webp"])
def test_other_formats_renamed_as_images_are_refused(renamed_to, tmp_path):
    for kind, path in _crafted(tmp_path).items():
        exc = rejected(check_upload, RULES["image"], renamed_to, path)
        assert "扩展名不符" in exc.message, (kind, exc.message)


def test_svg_renamed_png_is_refused(tmp_path):
    path = _crafted(tmp_path)["svg"]
    exc = rejected(check_upload, RULES["image"], "logo.png", path)
    assert "SVG" in exc.message


def test_empty_and_unrecognised_files_are_refused(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "noise").write_bytes(b"\x00\x01\x02 not a known format" * 10)
    rejected(check_upload, RULES["image"], "a.jpg", tmp_path / "empty")
    exc = rejected(check_upload, RULES["video"], "a.mp4", tmp_path / "noise")
    assert exc.message == "无法识别的文件格式"


# --- display names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("课程视频.mp4", "课程视频.mp4"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/图.jpg", "图.jpg"),
        ("a\r\nb.jpg", "ab.jpg"),
        ("a\x00b.jpg", "ab.jpg"),
        ("\u202egpj.exe", "gpj.exe"),
        ("%E8%AF%BE%E7%A8%8B.mp4", "课程.mp4"),
        ('a<b>:"c"|d?*.jpg', "a_b___c__d__.jpg"),
        ("  .hidden.jpg. ", "hidden.jpg"),
        ("多   空格\t名.jpg", "多 空格名.jpg"),
        ("", "未命名文件"),
        ("../", "未命名文件"),
        ("😀 表情.png", "😀 表情.png"),
        ("cafe\u0301.jpg", "café.jpg"),
    ],
)
def test_display_name(raw, shown):
    assert display_name(raw) == shown


def test_long_chinese_name_is_shortened_keeping_the_extension():
    raw = "科" * 300 + ".jpg"
    shown = display_name(raw)
    assert len(shown) == DISPLAY_NAME_MAX
    assert shown.endswith(".jpg") and shown.startswith("科科科")
    # The whole path: a 300-character name is accepted and its display name is the short one.
    assert check_upload(RULES["image"], raw, JPEG).display_name == shown


def test_display_name_never_has_path_separators_or_controls():
    for raw in [
        "../../etc/passwd",
        "a/b\\c.jpg",
        "x\x1b[31m.jpg",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%5cboot.ini",
    ]:
        shown = display_name(raw)
        assert "/" not in shown and "\\" not in shown
        assert not any(unicodedata.category(char) in ("Cc", "Cf") for char in shown)
