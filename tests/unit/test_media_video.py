"""Video policy and renditions on the real test clips: sizes, rotation, metadata, faststart, failures."""

import dataclasses
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from cloud.media import ffmpeg as ff
from cloud.media import video
from cloud.media.ffmpeg import MediaError, MediaRejected, MediaTimeout, Probe, Stream
from cloud.media.video import VideoPolicy
from tests.support import media_fixtures

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
VIDEO_FILES = sorted((TESTDATA / "video").iterdir()) if (TESTDATA / "video").is_dir() else []
SMPTE = TESTDATA / "video" / "moviepy_smpte-2997.mp4"
FIRE = TESTDATA / "video" / "moviepy_fire2.mp4"
CHINESE = re.compile(r"[\u4e00-\u9fff]")

# The SD size each clip must get (see the sizing rule in cloud/media/video.py), or None: rejected.
EXPECTED_SD = {
    "moviepy_fire2.mp4": (854, 480),  # 1280x720 turned 180°: 853.3 rounds to the even 854
    "mediabunny_rotate-buck-bunny.mp4": (270, 480),  # 1920x1080 turned -90°: portrait
    "moviepy_smpte-2997.mp4": (854, 480),
    "moviepy_big_buck_bunny_432_433.webm": (854, 480),
    "filetype_fixture-mjpeg.mov": (640, 480),  # already SD: never upscaled
    "filetype_fixture-corrupt.mkv": None,
}

pytestmark = [
    pytest.mark.once,  # the database does not matter here: SQLite pass only
    pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="no ffmpeg"),
]


@pytest.fixture(scope="module")
def bins():
    return ff.find_binaries()


def plain_probe(path) -> dict:
    """ffprobe without our layer, for checking outputs (the test's own argv)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


def top_level_boxes(path: Path) -> list[str]:
    """The ISO-BMFF top-level box types in file order."""
    boxes = []
    with open(path, "rb") as fh:
        while header := fh.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            if size < 8:
                break
            fh.seek(size - 8, os.SEEK_CUR)
    return boxes


class Renditions:
    """Makes each clip's renditions once per module (one decode: ``video.make_renditions``, as the
    pipeline does); smpte is the slow one (~3-4 s).

    The kill test runs first and uses smpte's directory, so its re-run is the module's smpte rendition.
    """

    def __init__(self, root: Path, bins):
        self.root, self.bins, self.cache = root, bins, {}

    def folder(self, src: Path) -> Path:
        out = self.root / src.stem
        out.mkdir(exist_ok=True)
        return out

    def get(self, src: Path):
        if src.name not in self.cache:
            out = self.folder(src)
            try:
                probe = video.inspect_video(src, binaries=self.bins)
                started = time.monotonic()
                made = video.make_renditions(
                    src, out / "sd.mp4", out / "poster.jpg", out / "thumb.jpg", probe, binaries=self.bins
                )
                elapsed = time.monotonic() - started
                sd, poster, thumb = made.sd, made.poster, made.thumbnail
                self.cache[src.name] = (probe, sd, poster, thumb, out, elapsed)
            except MediaError as exc:
                self.cache[src.name] = exc
        return self.cache[src.name]


@pytest.fixture(scope="module")
def renditions(tmp_path_factory, bins):
    return Renditions(tmp_path_factory.mktemp("renditions"), bins)


# --------------------------------------------------------------------------- policy


def synthetic(duration=60.0, width=1920, height=1080, streams=2, **video_fields) -> Probe:
    fields = dict(codec_name="h264", width=width, height=height, display_width=width, display_height=height)
    v = Stream(index=0, codec_type="video", **{**fields, **video_fields})
    extra = tuple(
        Stream(index=i, codec_type="audio", codec_name="aac", channels=2) for i in range(1, streams)
    )
    return Probe(
        format_name="mov,mp4,m4a,3gp,3g2,mj2", duration=duration, size=1, bit_rate=1, streams=(v, *extra)
    )


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (synthetic(duration=10 * 3600), "视频时长超过限制（最长 3 小时）"),
        (synthetic(width=16384, height=16384), "视频分辨率过大"),
        (synthetic(width=8192, height=8192), "视频分辨率过大"),  # each side allowed, the area is not
        (synthetic(width=9000, height=100), "视频分辨率过大"),
        (synthetic(streams=100), "轨道过多（100 条，最多 16 条）"),
        (synthetic(duration=None), "无法读取视频时长"),
        (synthetic(width=None, height=None), "无法读取视频画面尺寸"),
        (synthetic(codec_name=None), "不支持的视频编码"),
        (synthetic(is_attached_pic=True), "没有视频画面"),
    ],
    ids=[
        "10h",
        "16k",
        "8k-square",
        "too-wide",
        "100-streams",
        "no-duration",
        "no-size",
        "no-codec",
        "cover-only",
    ],
)
def test_policy_rejects(probe, reason):
    with pytest.raises(MediaRejected) as caught:
        video.check_policy(probe)
    assert reason in caught.value.message


def test_policy_accepts_ordinary_and_limit_values():
    video.check_policy(synthetic())
    video.check_policy(synthetic(duration=3 * 3600, width=7680, height=4320, streams=16))
    strict = VideoPolicy(max_duration=30, max_streams=1)
    with pytest.raises(MediaRejected, match="duration"):
        video.check_policy(synthetic(streams=1), strict)


def test_policy_on_a_real_tiny_clip(tmp_path, bins):
    """A 1 s clip the test makes itself (lavfi only in the test's argv), then inflated claims."""
    clip = tmp_path / "tiny.mp4"
    subprocess.run(
        [
            *(
                "ffmpeg",
                "-v",
                "error",
                "-nostdin",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=10:duration=1",
            ),
            *(
                "-f",
                "lavfi",
                "-i",
                "sine=duration=1",
                "-c:v",
                "libx264",
                "-c:a",
                "aac",
                "-shortest",
                str(clip),
            ),
        ],
        check=True,
        timeout=30,
    )
    probe = video.inspect_video(clip, binaries=bins)
    assert (probe.video.width, probe.video.height) == (64, 48) and probe.duration == pytest.approx(1, abs=0.1)
    many = probe.streams + tuple(dataclasses.replace(probe.audio, index=i) for i in range(2, 100))
    for fake, reason in [
        (dataclasses.replace(probe, duration=36000.0), "时长"),
        (dataclasses.replace(probe, streams=many), "轨道过多"),
        (
            dataclasses.replace(
                probe, streams=(dataclasses.replace(probe.video, width=16384, height=16384),)
            ),
            "分辨率",
        ),
    ]:
        with pytest.raises(MediaRejected) as caught:
            video.check_policy(fake)
        assert reason in caught.value.message
    # make_sd re-checks: a forged probe never reaches ffmpeg.
    with pytest.raises(MediaRejected):
        video.make_sd(clip, tmp_path / "sd.mp4", dataclasses.replace(probe, duration=36000.0), binaries=bins)
    assert not (tmp_path / "sd.mp4").exists()


def test_timeouts_scale_with_duration():
    policy = VideoPolicy()
    assert policy.sd_timeout(0) == 60 and policy.sd_timeout(10) == 100 and policy.sd_timeout(None) == 60
    assert policy.poster_timeout == 30


# --------------------------------------------------------------------------- sizing


@pytest.mark.parametrize(
    ("display", "box", "expected"),
    [
        ((1280, 720), (854, 480), (854, 480)),
        ((1920, 1080), (854, 480), (854, 480)),
        ((1080, 1920), (854, 480), (270, 480)),
        ((640, 480), (854, 480), (640, 480)),
        ((320, 240), (854, 480), (320, 240)),  # never upscaled
        ((641, 481), (854, 480), (640, 480)),  # odd sides rounded down to even, not up past the source
        ((768, 576), (854, 480), (640, 480)),  # PAL 720x576 with SAR 16:15 after applying the SAR
        ((2560, 1080), (854, 480), (854, 360)),  # ultra-wide: the width limit binds
        ((1, 1), (854, 480), (2, 2)),
        ((1920, 1080), (720, None), (720, 404)),  # poster: 405 is a tie, round() picks the even half (404)
        ((1080, 1920), (320, None), (320, 568)),  # portrait thumbnail
    ],
)
def test_fit_dimensions(display, box, expected):
    assert video.fit_dimensions(*display, *box) == expected


def test_poster_time():
    assert [video.poster_time(d) for d in (None, 0.5, 2.0, 10.048, 3600)] == [0.0, 0.0, 0.2, 1.005, 360.0]


# --------------------------------------------------------------------------- real clips


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text.encode() in cmdline and state not in {"Z", "X"}:
                found.append(int(entry.name))
    return found


CHILD = """
import os
import sys
sys.path.insert(0, sys.argv[1])
from cloud.media import video
probe = video.inspect_video(sys.argv[2])
out = os.path.dirname(sys.argv[3])
video.make_renditions(sys.argv[2], sys.argv[3], out + "/poster.jpg", out + "/thumb.jpg", probe)
"""


def test_worker_killed_mid_transcode_then_rerun(renditions, tmp_path, bins):
    """SECURITY.md item 25: no file under the final name, ffmpeg dies with the worker, a re-run makes one.

    In file order the re-run is the module's smpte rendition, so smpte is transcoded fully only once.
    """
    shared = SMPTE.name not in renditions.cache
    out = renditions.folder(SMPTE) if shared else tmp_path
    dst = out / "sd.mp4"
    transcoder = str(out / ff.part_prefix(dst))  # only ffmpeg's argv names the temp file
    worker = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(SMPTE), str(dst)])
    try:
        deadline = time.monotonic() + 30
        while not _processes_mentioning(transcoder):
            assert worker.poll() is None, "the worker ended before ffmpeg started"
            assert time.monotonic() < deadline, "the transcode never started"
            time.sleep(0.02)
        time.sleep(0.5)  # mid-transcode: smpte takes ~3 s or more
        assert worker.poll() is None and _processes_mentioning(transcoder), (
            "finished before it could be killed"
        )
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(10)
    assert not dst.exists()
    # Within a second, not "eventually": an orphaned ffmpeg would finish smpte on its own in ~2 s more.
    deadline = time.monotonic() + 1
    while _processes_mentioning(transcoder) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _processes_mentioning(transcoder) == [], "ffmpeg outlived the worker"
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")], "the killed run left its temp file"

    if shared:
        _, sd, *_ = renditions.get(SMPTE)  # the re-run, plus poster and thumbnail
        assert sorted(p.name for p in out.iterdir()) == ["poster.jpg", "sd.mp4", "thumb.jpg"]  # .part swept
    else:
        probe = video.inspect_video(SMPTE, binaries=bins)
        sd = video.make_renditions(SMPTE, dst, out / "poster.jpg", out / "thumb.jpg", probe, binaries=bins).sd
        assert sorted(p.name for p in out.iterdir()) == ["poster.jpg", "sd.mp4", "thumb.jpg"]  # .part swept
    assert sd.duration == pytest.approx(10.05, abs=0.1)


@pytest.mark.parametrize("src", VIDEO_FILES, ids=[p.name for p in VIDEO_FILES])
def test_every_test_video(src, renditions):
    """Each clip either yields correct renditions or fails with a MediaError carrying Chinese text."""
    result = renditions.get(src)
    expected = EXPECTED_SD.get(src.name, "unknown")
    if isinstance(result, MediaError):
        assert CHINESE.search(result.message), result.message
        assert expected in (None, "unknown"), f"{src.name} unexpectedly failed: {result.detail}"
        return
    assert expected is not None, f"{src.name} should have been rejected"
    probe, sd, poster, thumb, out, _ = result
    facts = plain_probe(out / "sd.mp4")
    v = next(s for s in facts["streams"] if s["codec_type"] == "video")
    size = (v["width"], v["height"])
    if expected != "unknown":
        assert size == expected
    assert v["height"] <= 480 and v["width"] % 2 == 0 and v["height"] % 2 == 0
    assert (sd.video.width, sd.video.height) == size and sd.video.rotation == 0
    assert (
        v["codec_name"] == "h264"
        and v["pix_fmt"] == "yuv420p"
        and v.get("sample_aspect_ratio", "1:1") == "1:1"
    )
    assert not v.get("side_data_list"), "a display matrix survived"
    assert "rotate" not in v.get("tags", {})
    # Upright + SAR applied: the output keeps the source's display aspect.
    src_aspect = probe.video.display_width / probe.video.display_height
    assert size[0] / size[1] == pytest.approx(src_aspect, rel=0.02)
    audio = [s for s in facts["streams"] if s["codec_type"] == "audio"]
    if probe.audio:
        assert len(audio) == 1 and audio[0]["codec_name"] == "aac" and audio[0]["channels"] <= 2
    assert float(facts["format"]["duration"]) == pytest.approx(probe.duration, abs=0.1)
    assert len(facts["streams"]) == (2 if probe.audio else 1)
    tags = {k.lower() for k in facts["format"].get("tags", {})}
    assert not tags & {"location", "location-eng", "creation_time", "title", "comment"}
    assert top_level_boxes(out / "sd.mp4").index("moov") < top_level_boxes(out / "sd.mp4").index("mdat")
    # Poster and thumbnail: JPEG, upright, the promised width.
    for name, limit, got in (("poster.jpg", 720, poster), ("thumb.jpg", 320, thumb)):
        data = (out / name).read_bytes()
        assert data[:2] == b"\xff\xd8" and b"Exif" not in data[:64]
        img = plain_probe(out / name)["streams"][0]
        assert (img["width"], img["height"]) == got and img["width"] <= limit
        assert img["width"] / img["height"] == pytest.approx(src_aspect, rel=0.02)
    assert sorted(p.name for p in out.iterdir()) == ["poster.jpg", "sd.mp4", "thumb.jpg"]  # no temp files


@pytest.mark.parametrize("name", ["moviepy_fire2.mp4", "mediabunny_rotate-buck-bunny.mp4"])
def test_one_decode_gives_the_stills_the_separate_runs_gave(renditions, tmp_path, bins, name):
    """The poster and thumbnail of the one-decode run are the very frames the separate seeks took."""
    probe, _, poster, thumb, out, _ = renditions.get(TESTDATA / "video" / name)
    src = TESTDATA / "video" / name
    assert video.make_poster(src, tmp_path / "poster.jpg", probe, binaries=bins) == poster
    assert video.make_thumbnail(src, tmp_path / "thumb.jpg", probe, binaries=bins) == thumb
    for still in ("poster.jpg", "thumb.jpg"):
        with Image.open(out / still) as one, Image.open(tmp_path / still) as separate:
            assert ImageChops.difference(one.convert("RGB"), separate.convert("RGB")).getbbox() is None


def test_fire2_loses_rotation_and_location(renditions):
    probe, sd, *_, out, _ = renditions.get(FIRE)
    assert probe.video.rotation == 180 and "location" in probe.tags
    data = (out / "sd.mp4").read_bytes()
    assert b"+54.1843" not in data and b"\xa9xyz" not in data  # the ISO 6709 string and its atom
    assert (sd.video.display_width, sd.video.display_height, sd.video.rotation) == (854, 480, 0)


def test_portrait_bunny(renditions):
    probe, sd, poster, thumb, *_ = renditions.get(TESTDATA / "video" / "mediabunny_rotate-buck-bunny.mp4")
    assert probe.video.rotation == -90 and probe.audio.channels == 6
    assert (sd.video.width, sd.video.height) == (270, 480) and sd.audio.channels == 2
    assert poster == (720, 1280) and thumb == (320, 568)


def test_smpte_sd(renditions):
    probe, sd, _, _, out, elapsed = renditions.get(SMPTE)
    assert (sd.video.width, sd.video.height) == (854, 480)
    assert sd.duration == pytest.approx(10.05, abs=0.1)
    boxes = top_level_boxes(out / "sd.mp4")
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")  # +faststart
    assert elapsed < video.VideoPolicy().sd_timeout(probe.duration)
    print(f"smpte SD transcode took {elapsed:.2f}s")


def test_mjpeg_pcm_u8(renditions):
    probe, sd, *_ = renditions.get(TESTDATA / "video" / "filetype_fixture-mjpeg.mov")
    assert probe.video.codec_name == "mjpeg" and probe.audio.codec_name == "pcm_u8"
    assert sd.audio.codec_name == "aac" and sd.audio.sample_rate == 48000


def test_corrupt_mkv_is_rejected(bins):
    with pytest.raises(MediaRejected) as caught:
        video.inspect_video(TESTDATA / "video" / "filetype_fixture-corrupt.mkv", binaries=bins)
    assert caught.value.message == "视频文件已损坏或格式不受支持"


@pytest.mark.parametrize("cut", [40, 2_000, 100_000])
def test_truncated_upload_fails_cleanly(tmp_path, bins, cut):
    """smpte has its index first, so a cut-off copy still probes; the SD step must notice."""
    src = tmp_path / "cut.mp4"
    src.write_bytes(SMPTE.read_bytes()[:cut])
    with pytest.raises(MediaRejected) as caught:
        probe = video.inspect_video(src, binaries=bins)
        video.make_sd(src, tmp_path / "sd.mp4", probe, binaries=bins)
    assert CHINESE.search(caught.value.message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]


def test_garbage_named_mp4_is_rejected(tmp_path, bins):
    src = tmp_path / "upload.mp4"
    src.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 40)
    with pytest.raises(MediaRejected):
        video.inspect_video(src, binaries=bins)


# --------------------------------------------------------------------------- timeouts and kills


def test_sd_timeout_kills_and_leaves_nothing(tmp_path, bins):
    probe = video.inspect_video(SMPTE, binaries=bins)
    dst = tmp_path / "sd.mp4"
    policy = VideoPolicy(sd_timeout_base=0.3, sd_timeout_per_second=0)
    started = time.monotonic()
    with pytest.raises(MediaTimeout) as caught:
        video.make_sd(SMPTE, dst, probe, policy, binaries=bins)
    assert time.monotonic() - started < 5
    assert caught.value.message == "处理超时"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- what recorders write


def test_a_recorder_webm_without_a_duration_is_measured_and_processed(tmp_path, bins):
    src = media_fixtures.recorder_webm(tmp_path / "recording.webm")
    # Control: the container states no duration anywhere (neither format nor streams).
    plain = plain_probe(src)
    assert "duration" not in plain["format"] and not [s for s in plain["streams"] if "duration" in s]
    probe = video.inspect_video(src, binaries=bins)
    assert probe.duration == pytest.approx(1.5, abs=0.1)
    sd = video.make_sd(src, tmp_path / "sd.mp4", probe, binaries=bins)
    assert sd.duration == pytest.approx(1.5, abs=0.1)
    assert video.make_poster(src, tmp_path / "poster.jpg", probe, binaries=bins) == (160, 120)


def test_the_duration_scan_is_bounded_by_the_policy(tmp_path, bins):
    src = media_fixtures.recorder_webm(tmp_path / "recording.webm")
    short = VideoPolicy(max_duration=0.5)
    with pytest.raises(MediaRejected) as caught:
        video.inspect_video(src, short, binaries=bins)
    assert "视频时长超过限制" in caught.value.message  # not "cannot read the duration"
    # -t stops the scan just past the limit: the measured time is the bound, not the whole file.
    assert ff.scan_duration(src, 30, max_seconds=0.6, binaries=bins) < 1.0


def test_the_duration_scan_carries_the_input_guards():
    argv = ff.scan_argv("/usr/bin/ffmpeg", "concat:a|b", max_seconds=10)
    i = argv.index("-i")
    assert argv[i + 1].startswith("file:/") and argv[i + 1].endswith("concat:a|b")
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert "hls" not in argv[argv.index("-format_whitelist") + 1].split(",")
    assert argv.index("-protocol_whitelist") < i and argv.index("-format_whitelist") < i
    assert argv[argv.index("-c") + 1] == "copy"  # packets are read, never decoded
    assert argv[-3:] == ["-f", "null", "-"]


def test_garbage_with_no_duration_is_still_refused(bins):
    with pytest.raises(MediaRejected) as caught:
        video.inspect_video(TESTDATA / "video" / "filetype_fixture-corrupt.mkv", binaries=bins)
    assert CHINESE.search(caught.value.message)


def test_a_frame_over_the_decode_limit_is_called_too_large(tmp_path, bins):
    src = media_fixtures.oversized_mjpeg_mkv(tmp_path / "huge.mkv")
    # Control: ffprobe with the decode limit finishes but cannot say the size (0x0).
    limited = subprocess.run(
        ["ffprobe", "-v", "error", "-max_pixels", str(ff.MAX_DECODE_PIXELS), "-print_format", "json",
         "-show_streams", str(src)],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(limited.stdout)["streams"][0]["width"] == 0
    with pytest.raises(MediaRejected) as caught:
        video.inspect_video(src, binaries=bins)
    assert caught.value.message == "视频分辨率过大（8200×8200，宽高最多 8192 像素，总计最多 3538 万像素）"
