"""Audio policy, tag repair (GBK declared as Latin-1) and the MP3 listening copy on the real test files."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mutagen.id3 import ID3, TALB, TIT2, TPE1, Encoding

from cloud.media import audio
from cloud.media import ffmpeg as ff
from cloud.media.audio import AudioPolicy
from cloud.media.ffmpeg import MediaError, MediaRejected, Probe, Stream
from tests.support import media_fixtures

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
AUDIO_FILES = sorted((TESTDATA / "audio").iterdir()) if (TESTDATA / "audio").is_dir() else []
MALFORMED = TESTDATA / "audio" / "mediabunny_malformed-join.mp3"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
EXPECTED_REJECTED = {"jsonize_broken-wav.wav"}

pytestmark = [
    pytest.mark.once,  # the database does not matter here: SQLite pass only
    pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="no ffmpeg"),
]


@pytest.fixture(scope="module")
def bins():
    return ff.find_binaries()


def mojibake(text: str) -> str:
    """What a GBK-era tagger stored: GBK bytes in a frame declared Latin-1."""
    return text.encode("gbk").decode("latin-1")


@pytest.fixture(scope="module")
def gbk_mp3(tmp_path_factory):
    """A 1 s MP3 (made here with lavfi in the test's own argv) tagged the GBK-era way."""
    path = tmp_path_factory.mktemp("gbk") / "lecture.mp3"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=440:duration=1"),
            *("-c:a", "libmp3lame", "-b:a", "64k", "-write_id3v1", "0", str(path)),
        ],
        check=True,
        timeout=30,
    )
    tags = ID3()
    tags.add(TIT2(encoding=Encoding.LATIN1, text=mojibake("科普中国")))
    tags.add(TPE1(encoding=Encoding.LATIN1, text="Café Scientifique"))
    tags.add(TALB(encoding=Encoding.LATIN1, text=mojibake("天文：探索宇宙")))
    tags.save(path, v2_version=3)
    return path


# --------------------------------------------------------------------------- policy


def synthetic(duration=60.0, streams=1, kind="audio") -> Probe:
    items = tuple(
        Stream(index=i, codec_type=kind, codec_name="mp3", channels=2, sample_rate=44100)
        for i in range(streams)
    )
    return Probe(format_name="mp3", duration=duration, size=1, bit_rate=1, streams=items)


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (synthetic(duration=7 * 3600), "音频时长超过限制（最长 6 小时）"),
        (synthetic(streams=100), "轨道过多（100 条，最多 16 条）"),
        (synthetic(kind="video"), "没有音频"),
        (synthetic(duration=None), "无法读取音频时长"),
    ],
    ids=["7h", "100-streams", "no-audio", "no-duration"],
)
def test_policy_rejects(probe, reason):
    with pytest.raises(MediaRejected) as caught:
        audio.check_policy(probe)
    assert reason in caught.value.message


def test_policy_accepts_and_budgets():
    audio.check_policy(synthetic(duration=6 * 3600, streams=16))
    assert AudioPolicy().timeout(600) == 60 + 300 and AudioPolicy().timeout(None) == 60


# --------------------------------------------------------------------------- tag repair


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (mojibake("科普中国"), "科普中国"),
        (mojibake("天文：探索宇宙"), "天文：探索宇宙"),  # full-width punctuation
        (mojibake("第3讲 黑洞与引力波"), "第3讲 黑洞与引力波"),  # ASCII digits and spaces in between
        (mojibake("“科学”·Vol.2"), "“科学”·Vol.2"),
        ("Café", "Café"),  # é alone is half a GBK character
        ("Crème brûlée", "Crème brûlée"),  # èm would decode, but it swallows the ASCII "m"
        ("naïve résumé", "naïve résumé"),
        ("Ã©tÃ©", "été"),  # UTF-8 bytes declared Latin-1; as GBK they would read 茅t茅
        (mojibake("科普") + " é", mojibake("科普") + " é"),  # the lone é is no GBK: left alone
        ("plain ASCII", "plain ASCII"),
        ("科普中国", "科普中国"),  # already Unicode: not Latin-1 encodable, untouched
        ("ÇáÜÌÜÈÜÇÍÜí ÝÜæä.AL-goobahy fu", "ÇáÜÌÜÈÜÇÍÜí ÝÜæä.AL-goobahy fu"),  # Windows-1256 Arabic
    ],
)
def test_repair_latin1(stored, expected):
    assert audio.repair_latin1(stored) == expected


def test_read_tags_repairs_gbk_and_keeps_latin1(gbk_mp3):
    frames = ID3(gbk_mp3)
    assert (
        frames["TIT2"].encoding == Encoding.LATIN1 and frames["TIT2"].text[0] != "科普中国"
    )  # really mojibake
    tags = audio.read_tags(gbk_mp3)
    assert tags == {"title": "科普中国", "artist": "Café Scientifique", "album": "天文：探索宇宙"}


def test_read_tags_leaves_windows_1256_alone(bins):
    probe = ff.probe(MALFORMED, binaries=bins)
    tags = audio.read_tags(MALFORMED, probe)
    assert tags["title"] == "$ AL-GOOBAHY FUN $"
    assert tags["artist"] == "ÇáÜÌÜÈÜÇÍÜí ÝÜæä.AL-goobahy fu"  # as declared; no invented hanzi
    assert not CHINESE.search("".join(v for v in tags.values() if v))


def test_read_tags_falls_back_to_probe_tags(bins):
    ogg = TESTDATA / "audio" / "filetype_fixture.ogg"
    fake = Probe(
        format_name="ogg",
        duration=1.0,
        size=1,
        bit_rate=1,
        streams=(Stream(index=0, codec_type="audio", codec_name="vorbis", tags={"TITLE": "星空 Stars"}),),
    )
    assert audio.read_tags(ogg, fake)["title"] == "星空 Stars"


@pytest.mark.parametrize("path", AUDIO_FILES, ids=[p.name for p in AUDIO_FILES])
def test_read_tags_never_raises(path):
    tags = audio.read_tags(path)
    assert set(tags) == {"title", "artist", "album"}
    assert all(v is None or isinstance(v, str) for v in tags.values())


def test_read_tags_on_garbage_and_huge_id3(tmp_path):
    garbage = tmp_path / "x.mp3"
    garbage.write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 100)  # claims a 256 MB tag
    assert audio.read_tags(garbage) == {"title": None, "artist": None, "album": None}
    (tmp_path / "y.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x01\x00TIT2\x00\x00\xff\xff")
    assert audio.read_tags(tmp_path / "y.mp3")["title"] is None


def test_clean_text():
    assert audio.clean_text("科普\x00中国\r\n\u202eevil\t end  ") == "科普中国 evil end"
    assert len(audio.clean_text("长" * 1000)) == audio.MAX_TAG_LENGTH


# --------------------------------------------------------------------------- listening copies


@pytest.mark.parametrize("src", AUDIO_FILES, ids=[p.name for p in AUDIO_FILES])
def test_every_test_audio(src, tmp_path, bins):
    """Each file gives an MP3 close to its duration, or a MediaError with a Chinese message."""
    dst = tmp_path / "listen.mp3"
    try:
        probe = audio.inspect_audio(src, binaries=bins)
        out = audio.make_listening_copy(src, dst, probe, binaries=bins)
    except MediaError as exc:
        assert CHINESE.search(exc.message), exc.message
        assert src.name in EXPECTED_REJECTED, f"{src.name} unexpectedly failed: {exc.detail}"
        assert list(tmp_path.iterdir()) == []
        return
    assert src.name not in EXPECTED_REJECTED
    assert out.format_name == "mp3" and len(out.streams) == 1 and out.audio.codec_name == "mp3"
    assert out.audio.sample_rate in {44100, 48000} and out.audio.channels <= 2
    assert out.duration == pytest.approx(probe.duration, abs=0.15 + 0.02 * probe.duration)
    assert out.bit_rate == pytest.approx(128_000, rel=0.2) or out.duration < 2  # short files: header overhead
    frames = ID3(dst)
    assert not frames.getall("APIC"), "cover art was copied"
    assert set(frames.keys()) <= {"TIT2", "TPE1", "TSSE"}
    source_tags = audio.read_tags(src, probe)
    assert out.tag("title") == source_tags["title"] and out.tag("artist") == source_tags["artist"]
    assert [p.name for p in tmp_path.iterdir()] == ["listen.mp3"]


def test_cover_art_is_dropped_and_tags_written_back(tmp_path, bins):
    src = TESTDATA / "audio" / "moviepy_with-attached-pic.mp3"
    probe = audio.inspect_audio(src, binaries=bins)
    assert probe.streams[1].is_attached_pic
    out = audio.make_listening_copy(src, tmp_path / "l.mp3", probe, binaries=bins)
    assert out.video_streams == [] and len(out.streams) == 1
    assert out.tag("title") == "Roulette X Roulette (Kurumi ver.)"
    assert out.tag("album") is None and out.tag("date") is None and out.tag("genre") is None
    assert (tmp_path / "l.mp3").stat().st_size < 100_000  # the 1.5 MB cover is gone


def test_gbk_title_survives_the_listening_copy(tmp_path, gbk_mp3, bins):
    probe = audio.inspect_audio(gbk_mp3, binaries=bins)
    out = audio.make_listening_copy(gbk_mp3, tmp_path / "l.mp3", probe, binaries=bins)
    frames = ID3(tmp_path / "l.mp3")
    assert frames["TIT2"].text == ["科普中国"] and frames["TIT2"].encoding != Encoding.LATIN1
    assert frames["TPE1"].text == ["Café Scientifique"]
    assert out.tag("title") == "科普中国"


def test_broken_wav_is_rejected(bins):
    with pytest.raises(MediaRejected) as caught:
        audio.inspect_audio(TESTDATA / "audio" / "jsonize_broken-wav.wav", binaries=bins)
    assert caught.value.message == "音频文件已损坏或格式不受支持"


def test_video_without_audio_is_not_audio(tmp_path, bins):
    clip = tmp_path / "silent.mp4"
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
                "testsrc=size=64x48:rate=5:duration=1",
            ),
            *("-c:v", "libx264", str(clip)),
        ],
        check=True,
        timeout=30,
    )
    with pytest.raises(MediaRejected, match="no audio") as caught:
        audio.inspect_audio(clip, binaries=bins)
    assert caught.value.message == "文件中没有音频"


def test_a_piped_flac_without_a_duration_is_measured_and_transcoded(tmp_path, bins):
    src = media_fixtures.recorder_flac(tmp_path / "recording.flac")
    plain = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", str(src)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "duration=N/A" in plain and not re.search(r"duration=\d", plain)  # control
    probe = audio.inspect_audio(src, binaries=bins)
    assert probe.duration == pytest.approx(1.5, abs=0.1)
    copy = audio.make_listening_copy(src, tmp_path / "listen.mp3", probe, binaries=bins)
    assert copy.duration == pytest.approx(1.5, abs=0.1)
