"""Location metadata removed from originals: GPS gone, every pixel and every packet unchanged."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from cloud.media import audio, location, video
from cloud.media import ffmpeg as ff
from cloud.media.ffmpeg import MediaRejected
from tests.support import media_fixtures

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
FIRE = TESTDATA / "video" / "moviepy_fire2.mp4"  # a real phone clip: GPS tag, rotated 180°
COORDINATES = (b"39,54.45N", b"116,23.48E", b"Beijing")

needs_ffmpeg = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="no ffmpeg")


def pixels(path):
    with Image.open(path) as image:
        return image.mode, image.size, image.tobytes()


def streamhashes(path):
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v?", "-map", "0:a?",
         "-c", "copy", "-f", "streamhash", "-hash", "sha256", "-"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.decode().split()


def tags(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    return data["format"].get("tags", {}), data["streams"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_gps_is_removed_from_photos_and_the_pixels_stay(fmt, tmp_path):
    src = media_fixtures.gps_photo(tmp_path / f"phone.{fmt.lower()}", fmt)
    with Image.open(src) as before:  # control: the fixture does carry the location
        assert before.getexif().get_ifd(0x8825)[2] == (39.0, 54.0, 27.0)
    assert all(c in src.read_bytes() for c in COORDINATES)
    dst = tmp_path / "clean"
    assert location.strip_location(src, dst) is True
    with Image.open(dst) as after:
        exif = after.getexif()
        assert exif.get_ifd(0x8825) == {}
        assert exif[0x0112] == 6 and exif[0x010F] == "Phone maker"  # the rest of EXIF is kept
        assert after.format == fmt
    data = dst.read_bytes()
    assert not any(c in data for c in COORDINATES)
    assert b'xmp:Rating="5"' in data  # XMP that is not about the place stays
    assert pixels(dst) == pixels(src)
    if fmt != "PNG":
        assert len(data) == src.stat().st_size  # patched in place: every offset still right
    # Cleaning a clean file changes nothing and writes nothing.
    assert location.strip_location(dst, tmp_path / "again") is False
    assert not (tmp_path / "again").exists()


def test_the_gps_of_a_secondary_picture_goes_too(tmp_path):
    # MPF files (depth maps, gain maps) carry more pictures, with their own EXIF, after the first.
    first = media_fixtures.gps_photo(tmp_path / "a.jpg").read_bytes()
    second = media_fixtures.gps_photo(tmp_path / "b.jpg", size=(16, 16)).read_bytes()
    (tmp_path / "mpf.jpg").write_bytes(first + second)
    assert location.strip_location(tmp_path / "mpf.jpg", tmp_path / "clean.jpg")
    data = (tmp_path / "clean.jpg").read_bytes()
    assert not any(c in data for c in COORDINATES)
    assert len(data) == len(first) + len(second)
    assert pixels(tmp_path / "clean.jpg") == pixels(tmp_path / "a.jpg")


def test_photos_without_location_and_other_files_are_left_alone(tmp_path):
    flower = TESTDATA / "images" / "pillow_flower.jpg"  # camera EXIF, no GPS
    assert location.strip_location(flower, tmp_path / "x") is False
    (tmp_path / "t.txt").write_bytes(b"hello")
    assert location.strip_location(tmp_path / "t.txt", tmp_path / "y") is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_malformed_exif_is_left_as_it_is():
    broken = bytearray(b"II*\x00" + (10**6).to_bytes(4, "little") + bytes(20))
    assert location.blank_tiff_gps(broken, 0, len(broken)) is False
    assert broken == bytearray(b"II*\x00" + (10**6).to_bytes(4, "little") + bytes(20))


@needs_ffmpeg
@pytest.mark.parametrize("make", ["fixture", "fire2"])
def test_the_location_tag_is_removed_from_videos_with_the_streams_unchanged(make, tmp_path):
    src = media_fixtures.located_mp4(tmp_path / "clip.mp4") if make == "fixture" else FIRE
    before_tags, before_streams = tags(src)
    assert "location" in before_tags  # control
    probe = video.inspect_video(src)
    dst = tmp_path / "clean.mp4"
    assert video.strip_location(src, dst, probe) is True
    after_tags, after_streams = tags(dst)
    assert not [k for k in after_tags if "location" in k]
    assert b"+39.9" not in dst.read_bytes() and b"+54.18" not in dst.read_bytes()
    assert streamhashes(dst) == streamhashes(src)  # bit-identical pictures and sound
    assert ff.probe(dst).video.rotation == probe.video.rotation
    languages = [s.get("tags", {}).get("language") for s in before_streams]
    assert [s.get("tags", {}).get("language") for s in after_streams] == languages


@needs_ffmpeg
def test_videos_without_location_are_not_remuxed(tmp_path):
    src = TESTDATA / "video" / "moviepy_smpte-2997.mp4"
    assert video.strip_location(src, tmp_path / "x.mp4", video.inspect_video(src)) is False
    assert not (tmp_path / "x.mp4").exists()


@needs_ffmpeg
def test_a_voice_memo_with_location_is_cleaned_too(tmp_path):
    src = tmp_path / "memo.m4a"
    subprocess.run(
        [*media_fixtures.FFMPEG, "-f", "lavfi", "-i", media_fixtures.TINY_AUDIO, "-c:a", "aac",
         "-metadata", f"location={media_fixtures.LOCATION}", str(src)],
        check=True, timeout=60,
    )  # fmt: skip
    probe = audio.inspect_audio(src)
    assert audio.strip_location(src, tmp_path / "clean.m4a", probe) is True
    assert not [k for k in tags(tmp_path / "clean.m4a")[0] if "location" in k]
    assert streamhashes(tmp_path / "clean.m4a") == streamhashes(src)


def test_remux_command_is_guarded_and_copies():
    probe = ff.Probe("mov", 1.0, 1, 1, (ff.Stream(0, "video", "h264"),), {"location": "+1+2/"})
    argv = ff.remux_argv("/usr/bin/ffmpeg", "concat:x", "/tmp/out", probe, "mp4")
    i = argv.index("-i")
    assert argv[i + 1].startswith("file:/") and argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv[argv.index("-c") + 1] == "copy" and argv[argv.index("-map_metadata") + 1] == "-1"
    assert argv[-1] == "file:/tmp/out"
    with pytest.raises(MediaRejected):
        ff.strip_location("/nonexistent", "/tmp/out", probe, "unknown-kind", 10)
