"""The hardened ffmpeg/ffprobe layer: flags, hostile inputs, timeouts and probing of the real test media.

Hostile inputs are checked with a tripwire: the file they reference is a named pipe, and opening a
named pipe for reading blocks until a writer appears, so a watcher thread that keeps trying a
non-blocking open for writing sees every attempt to read it. A control test shows plain ffprobe
(without our flags) does trip it, so the wire is live.
"""

import ast
import errno
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cloud.media import audio, video
from cloud.media import ffmpeg as ff
from cloud.media.ffmpeg import MediaError, MediaRejected, MediaTimeout, Probe

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
MEDIA_FILES = sorted(
    p for folder in ("video", "audio") if (TESTDATA / folder).is_dir() for p in (TESTDATA / folder).iterdir()
)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SECRET = b"KEPU-TRIPWIRE-SECRET-4f1c"
# Demuxers that name or synthesize other inputs: none may ever be on the allow-list.
FORBIDDEN_DEMUXERS = {
    "hls",
    "dash",
    "concat",
    "image2",
    "image2pipe",
    "tty",
    "xbin",
    "bin",
    "adf",
    "idf",
    "sbg",
    "sdp",
    "rtsp",
    "rtp",
    "lavfi",
    "webm_dash_manifest",
    "ffmetadata",
    "mpjpeg",
}

pytestmark = [
    pytest.mark.once,  # the database does not matter here: SQLite pass only
    pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="no ffmpeg"),
]


@pytest.fixture(scope="module")
def bins():
    return ff.find_binaries()


class Tripwire:
    """A named pipe standing in for a secret file; counts every attempt to open it for reading."""

    def __init__(self, path: Path):
        self.path = path
        self.opened = 0
        os.mkfifo(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _watch(self):
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody is reading, the normal case
                    return
                time.sleep(0.005)
                continue
            self.opened += 1
            try:
                os.write(fd, SECRET)  # let the reader go on instead of hanging until the timeout
            except OSError:
                pass
            finally:
                os.close(fd)


# --------------------------------------------------------------------------- hostile files


# A real, valid MP4 to stand beside the secret in concat lists.
CLIP = TESTDATA / "video" / "moviepy_fire2.mp4"


def hls_named_mp4(tmp_path, secret):
    path = tmp_path / "lecture.mp4"
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{secret}\n#EXT-X-ENDLIST\n")
    return str(path)


def hls_playlist(tmp_path, secret):
    path = tmp_path / "index.m3u8"
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{secret.name}\n#EXT-X-ENDLIST\n")
    return str(path)


def ffconcat_script(tmp_path, secret):
    path = tmp_path / "course.mp4"
    shutil.copy(CLIP, tmp_path / "part1.mp4")
    path.write_text(f"ffconcat version 1.0\nfile {secret.name}\nfile part1.mp4\n")
    return str(path)


def concat_protocol(tmp_path, secret):
    return f"concat:{CLIP}|{secret}"


def _riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _riff_list(kind: bytes, data: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data


def xbin_avi(tmp_path, secret):
    """The 2017 attack's carrier: an AVI whose 'txts' stream packet is a GAB2 blob holding an HLS playlist."""
    avih = struct.pack("<14I", 40000, 0, 0, 0x10, 125, 0, 1, 0, 224, 160, 0, 0, 0, 0)
    strh = (
        b"txts"
        + b"\0" * 4
        + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0, 125, 902, 10000, 0, 0, 0, 224, 160)
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, 224, 160, 1, 24, b"XVID", 224 * 160 * 3, 0, 0, 0, 0)
    hdrl = _riff_list(
        b"hdrl",
        _riff_chunk(b"avih", avih)
        + _riff_list(b"strl", _riff_chunk(b"strh", strh) + _riff_chunk(b"strf", strf)),
    )
    playlist = (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n#EXT-X-BYTERANGE: 0\n/etc/passwd\n"
        f"#EXTINF:1.0,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    ).encode()
    gab2 = b"GAB2\0\x02\0" + b"\0" * 10 + playlist
    movi = _riff_list(b"movi", _riff_chunk(b"00tx", gab2) + _riff_chunk(b"00dc", b"\0" * 200) * 20)
    body = b"AVI " + hdrl + movi
    path = tmp_path / "video.avi"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return str(path)


HOSTILE = {
    "hls_named_mp4": hls_named_mp4,
    "hls_playlist": hls_playlist,
    "ffconcat_script": ffconcat_script,
    "concat_protocol": concat_protocol,
    "xbin_avi": xbin_avi,
}


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_input_fails_without_reading_the_reference(tmp_path, bins, make):
    secret = tmp_path / "secret.ts"
    with Tripwire(secret) as wire:
        path = make(tmp_path, secret)
        with pytest.raises(MediaError) as caught:
            video.inspect_video(path, binaries=bins)
        assert CHINESE.search(caught.value.message)
        # The transcoder side too: decode every stream with the guarded input options.
        argv = [*ff.ffmpeg_head(bins.ffmpeg), *ff.input_args(path), "-map", "0", "-f", "null", "-"]
        try:
            result = ff.run(argv, timeout=20)
        except MediaTimeout:
            pytest.fail("ffmpeg hung: it probably opened the tripwire")
        except MediaError as exc:
            assert SECRET.decode() not in exc.detail
        else:
            assert SECRET not in result.stdout
    assert wire.opened == 0


@pytest.mark.parametrize("name", ["hls_named_mp4", "hls_playlist", "ffconcat_script", "concat_protocol"])
def test_tripwire_is_live_without_the_guards(tmp_path, bins, name):
    """Control: plain ffprobe follows the reference, so the test above can fail."""
    secret = tmp_path / "secret.ts"
    with Tripwire(secret) as wire:
        path = HOSTILE[name](tmp_path, secret)
        subprocess.run(
            [bins.ffprobe, "-v", "quiet", path],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            check=False,
        )
    assert wire.opened >= 1


def test_protocol_whitelist_alone_blocks_concat_protocol(tmp_path, bins):
    """Even with the ``file:`` prefix gone, ``-protocol_whitelist file`` refuses the concat protocol."""
    secret = tmp_path / "secret.ts"
    with Tripwire(secret) as wire:
        argv = ff.probe_argv(bins.ffprobe, tmp_path / "x.mp4")
        argv[-1] = concat_protocol(tmp_path, secret)
        with pytest.raises(MediaError, match=r"whitelist|not found|Invalid"):
            ff.run(argv, timeout=20)
    assert wire.opened == 0


def test_format_whitelist_alone_blocks_playlists(tmp_path, bins):
    secret = tmp_path / "secret.ts"
    with Tripwire(secret) as wire, pytest.raises(MediaError, match="not on whitelist"):
        ff.run(ff.probe_argv(bins.ffprobe, hls_playlist(tmp_path, secret)), timeout=20)
    assert wire.opened == 0


# --------------------------------------------------------------------------- argv regression


def outputs(argv):
    """The outputs of an ffmpeg argv after its one input: (the options before it, the file: URL)."""
    rest = argv[argv.index("-i") + 2 :]
    found, start = [], 0
    for n, word in enumerate(rest):
        if word.startswith("file:") and rest[n - 1] not in {"-i", "-passlogfile"}:
            found.append((rest[start:n], word))
            start = n + 1
    assert start == len(rest), f"options after the last output: {rest[start:]}"
    return found


def assert_hardened(argv):
    """Every command: a list, guarded input options before ``-i file:/abs``, allow-lists intact."""
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    program = os.path.basename(argv[0])
    assert os.path.isabs(argv[0]) and program in {"ffmpeg", "ffprobe"}
    assert "-hide_banner" in argv
    if program == "ffmpeg":
        assert "-nostdin" in argv
        # Each output is a file: URL and its own -f names one of our muxers.
        for options, target in outputs(argv):
            assert target.startswith("file:/") and options[options.index("-f") + 1] in {"mp4", "mp3", "mjpeg"}
        if "-filter_complex" in argv:
            graph = argv[argv.index("-filter_complex") + 1]
            # No graph filter that opens files or devices of its own (movie, amovie) or runs code.
            assert not re.search(r"(^|[;,\]])\s*a?movie\b|\bzmq|\bsendcmd", graph), graph
    assert argv.count("-i") == 1
    i = argv.index("-i")
    assert argv[i + 1].startswith("file:/") and os.path.isabs(argv[i + 1][len("file:") :])
    pw = argv.index("-protocol_whitelist")
    assert pw < i and argv[pw + 1] == "file"
    fw = argv.index("-format_whitelist")
    names = set(argv[fw + 1].split(","))
    assert fw < i and {"mov", "matroska", "mp3"} <= names
    assert not names & FORBIDDEN_DEMUXERS
    assert "-f" not in argv[:i]  # no forced input format (lavfi, concat, …)


SOURCE_PROBE = {
    "format": {
        "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
        "duration": "10.0",
        "size": "1000",
        "bit_rate": "800",
    },
    "streams": [
        {
            "index": 0,
            "codec_type": "video",
            "codec_name": "h264",
            "width": 1280,
            "height": 720,
            "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -180}],
        },
        {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000"},
    ],
}
SD_PROBE = {
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "10.0"},
    "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 854, "height": 480},
        {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000"},
    ],
}
MP3_PROBE = {
    "format": {"format_name": "mp3", "duration": "10.0"},
    "streams": [
        {"index": 0, "codec_type": "audio", "codec_name": "mp3", "channels": 2, "sample_rate": "48000"}
    ],
}


def test_every_built_command_is_hardened_and_timed(tmp_path, monkeypatch):
    """Record every run() call of a whole pipeline: each argv hardened, each timeout finite."""
    calls = []
    outputs_by_kind = {".mp4": SD_PROBE, ".mp3": MP3_PROBE}

    def fake_run(argv, timeout, **kwargs):
        calls.append((list(argv), timeout))
        assert_hardened(list(argv))
        assert isinstance(timeout, int | float) and math.isfinite(timeout) and 0 < timeout < 24 * 3600
        target = argv[argv.index("-i") + 1][len("file:") :]
        if os.path.basename(argv[0]) == "ffprobe":
            # An output "written" below holds its own probe; the source gets the canned one.
            body = (
                Path(target).read_bytes() if target.endswith(".part") else json.dumps(SOURCE_PROBE).encode()
            )
            return ff.RunResult(tuple(argv), 0, body, "", 0.0)
        for options, target in outputs(list(argv)):
            kind = {"mp4": ".mp4", "mp3": ".mp3"}.get(options[options.index("-f") + 1])
            out = Path(target[len("file:") :])
            out.write_bytes(json.dumps(outputs_by_kind[kind]).encode() if kind else b"\xff\xd8jpeg")
        return ff.RunResult(tuple(argv), 0, b"", "", 0.0)

    monkeypatch.setattr(ff, "run", fake_run)
    bins = ff.Binaries("/fake/bin/ffmpeg", "/fake/bin/ffprobe")  # recorded, never executed
    src = tmp_path / "upload.mp4"
    src.write_bytes(b"\0" * 16)

    probe = video.inspect_video(src, binaries=bins)
    made = video.make_renditions(
        src, tmp_path / "sd.mp4", tmp_path / "poster.jpg", tmp_path / "thumb.jpg", probe, binaries=bins
    )
    audio.make_listening_copy(src, tmp_path / "listen.mp3", probe, binaries=bins, tags={"title": "科普"})

    def kinds(argv):
        if argv[0].endswith("ffprobe"):
            return "ffprobe:json"
        return "ffmpeg:" + "+".join(opts[opts.index("-f") + 1] for opts, _ in outputs(argv))

    assert [kinds(a) for a, _ in calls] == [
        "ffprobe:json",  # inspect
        "ffmpeg:mp4+mjpeg+mjpeg",  # SD, poster and thumbnail from one decode
        "ffprobe:json",  # SD output check
        "ffmpeg:mp3",  # listening copy
        "ffprobe:json",  # its output check
    ]
    one = calls[1][0]
    assert one.count("-i") == 1  # one input, decoded once
    # The graph: one split of the picture into the SD chain and the still chain, whose one frame
    # (the first at 10 % of the 10 s clip) is split again into the poster and the thumbnail.
    assert one[one.index("-filter_complex") + 1] == (
        "[0:v:0]split=2[s0][s1];[s0]scale=854:480:flags=bicubic[s2];[s2]setsar=1[s3];"
        "[s1]trim=start=1.0[s4];[s4]trim=end_frame=1[s5];[s5]setpts=PTS-STARTPTS[s6];"
        "[s6]split=2[s7][s8];[s7]scale=720:404:flags=bicubic[s9];[s9]setsar=1[s10];"
        "[s8]scale=320:180:flags=bicubic[s11];[s11]setsar=1[s12]"
    )
    (sd_options, _), (poster_options, _), (thumb_options, _) = outputs(one)
    sd_argv = video.sd_argv("/fake/bin/ffmpeg", src, tmp_path / "bare.mp4", probe)  # the bench's reference
    for argv, maps in ((sd_options, ["[s3]", "0:a:0?"]), (sd_argv, ["0:v:0", "0:a:0?"])):
        options = dict(itertools.pairwise(argv))  # each flag → the word after it (for flags used once)
        for flag, value in [
            ("-c:v", "libx264"),
            ("-preset", "veryfast"),
            ("-crf", "23"),
            ("-maxrate", "1200k"),
            ("-pix_fmt", "yuv420p"),
            ("-map_metadata", "-1"),
            ("-map_chapters", "-1"),
            ("-movflags", "+faststart"),
            ("-b:a", "128k"),
            ("-fpsmax", "30"),
            ("-f", "mp4"),
        ]:
            assert options[flag] == value, flag
        assert [argv[i + 1] for i, word in enumerate(argv) if word == "-map"] == maps
    assert dict(itertools.pairwise(sd_argv))["-vf"] == "scale=854:480:flags=bicubic,setsar=1"
    for options, label in ((poster_options, "[s10]"), (thumb_options, "[s12]")):
        assert options == [
            "-map", label, "-f", "mjpeg", "-frames:v", "1", "-map_metadata", "-1",
            "-pix_fmt", "yuvj420p", "-q:v", "3",
        ]  # fmt: skip
    assert calls[1][1] == pytest.approx(60 + 4 * 10 + 30)  # SD budget (scales with duration) + poster's
    assert (made.poster, made.thumbnail) == ((720, 404), (320, 180))
    listen = calls[3][0]
    assert "-vn" in listen and listen[listen.index("-c:a") + 1] == "libmp3lame"
    assert "title=科普" in listen and listen[listen.index("-map_metadata") + 1] == "-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "listen.mp3",
        "poster.jpg",
        "sd.mp4",
        "thumb.jpg",
        "upload.mp4",
    ]


def test_the_single_steps_are_hardened_too(tmp_path, monkeypatch):
    """make_sd, make_poster and make_thumbnail (the poster's fallback) keep their guarded argv."""
    calls = []

    def fake_run(argv, timeout, **kwargs):
        calls.append(list(argv))
        assert_hardened(list(argv))
        if os.path.basename(argv[0]) == "ffprobe":
            target = argv[argv.index("-i") + 1][len("file:") :]
            body = (
                Path(target).read_bytes() if target.endswith(".part") else json.dumps(SOURCE_PROBE).encode()
            )
            return ff.RunResult(tuple(argv), 0, body, "", 0.0)
        Path(argv[-1][len("file:") :]).write_bytes(
            json.dumps(SD_PROBE).encode() if argv[-2] == "mp4" else b"\xff\xd8"
        )
        return ff.RunResult(tuple(argv), 0, b"", "", 0.0)

    monkeypatch.setattr(ff, "run", fake_run)
    bins = ff.Binaries("/fake/bin/ffmpeg", "/fake/bin/ffprobe")
    src = tmp_path / "upload.mp4"
    src.write_bytes(b"\0" * 16)
    probe = video.inspect_video(src, binaries=bins)
    video.make_sd(src, tmp_path / "sd.mp4", probe, binaries=bins)
    assert video.make_poster(src, tmp_path / "poster.jpg", probe, binaries=bins) == (720, 404)
    assert video.make_thumbnail(src, tmp_path / "thumb.jpg", probe, binaries=bins) == (320, 180)
    assert [a[-2] for a in calls if a[0].endswith("ffmpeg")] == ["mp4", "mjpeg", "mjpeg"]
    poster = calls[3]
    assert poster[poster.index("-ss") + 1] == "1.000" and poster.index("-ss") < poster.index("-i")


def test_probe_argv_exact_flags():
    argv = ff.probe_argv("/fake/bin/ffprobe", "rel/clip.mp4")
    assert argv[:8] == [
        "/fake/bin/ffprobe",
        "-hide_banner",
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    assert_hardened(argv)
    assert argv[-1] == "file:" + os.path.abspath("rel/clip.mp4")


def test_file_url_neutralises_protocol_names():
    for name in ["concat:a.mp4|b.mp4", "http://example.com/x.m3u8", "-i", "subfile,,start,0,end,0,,:x"]:
        url = ff.file_url(name)
        assert url == "file:" + os.path.abspath(name) and url.startswith("file:" + os.getcwd() + os.sep)


def test_whitelist_names_are_real_demuxers(bins):
    listing = subprocess.run(
        [bins.ffmpeg, "-hide_banner", "-demuxers"], capture_output=True, text=True, timeout=20, check=True
    ).stdout
    known = set()
    for line in listing.splitlines():
        match = re.match(r"\s*D\S*\s+(\S+)\s", line)
        if match:
            known.update(match.group(1).split(","))
    assert set(ff.FORMAT_WHITELIST) <= known
    assert not set(ff.FORMAT_WHITELIST) & FORBIDDEN_DEMUXERS
    assert FORBIDDEN_DEMUXERS & known >= {"hls", "dash", "concat", "image2", "tty", "xbin"}


def test_run_spawns_a_list_in_its_own_session(monkeypatch, bins):
    seen = {}
    real_popen = subprocess.Popen

    def spy(argv, **kwargs):
        seen.update(kwargs, argv=argv)
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    result = ff.run([bins.ffprobe, "-hide_banner", "-version"], timeout=10)
    assert result.returncode == 0 and b"ffprobe" in result.stdout
    assert isinstance(seen["argv"], list)
    assert not seen.get("shell") and seen["start_new_session"] is True
    assert seen["stdin"] is subprocess.DEVNULL


def test_media_package_has_no_shell_and_no_flask():
    for name in ("__init__.py", "ffmpeg.py", "video.py", "audio.py"):
        source = ROOT / "cloud" / "media" / name
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] == "flask" for n in names), source
                assert not any(n.startswith("cloud.") and not n.startswith("cloud.media") for n in names), (
                    source
                )
            if isinstance(node, ast.keyword) and node.arg == "shell":
                pytest.fail(f"shell= in {source.name}")
            if isinstance(node, ast.Attribute) and node.attr in {"system", "popen"}:
                pytest.fail(f"os.{node.attr} in {source.name}")


# --------------------------------------------------------------------------- run(): timeouts and errors


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}  # a zombie is dead; only its parent may reap it


def test_timeout_kills_the_whole_process_group(tmp_path):
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(MediaTimeout) as caught:
        ff.run([sys.executable, "-c", script], timeout=1.5)
    assert time.monotonic() - started < 10
    assert caught.value.message == "处理超时"
    parent, grandchild = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5
    while not (_gone(parent) and _gone(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(parent) and _gone(grandchild)


def test_timeout_kills_an_endless_ffmpeg(bins):
    argv = [
        bins.ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48",
        "-f",
        "null",
        "-",
    ]
    started = time.monotonic()
    with pytest.raises(MediaTimeout):
        ff.run(argv, timeout=1)
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("timeout", [None, math.inf, math.nan, 0, -1, "10", True])
def test_run_needs_a_finite_timeout(timeout):
    with pytest.raises(ValueError):
        ff.run([sys.executable, "-c", "pass"], timeout=timeout)


def test_run_refuses_a_command_string():
    with pytest.raises(ValueError):
        ff.run("ffprobe -version", timeout=5)


def test_nonzero_exit_carries_the_stderr_tail(bins, tmp_path):
    with pytest.raises(MediaError) as caught:
        ff.run(ff.probe_argv(bins.ffprobe, tmp_path / "missing.mp4"), timeout=20)
    assert "No such file" in caught.value.detail and "status 1" in caught.value.detail
    assert not isinstance(caught.value, MediaTimeout)


def test_stdout_is_bounded():
    with pytest.raises(MediaError, match="more than 1000 bytes"):
        ff.run([sys.executable, "-c", "print('x' * 5000)"], timeout=10, max_stdout=1000)


def test_memory_limit_applies_to_the_child():
    hog = "bytearray(400 * 1024 * 1024)"
    with pytest.raises(MediaError, match="MemoryError"):
        ff.run([sys.executable, "-c", hog], timeout=20, memory_limit=256 * 1024 * 1024)
    ff.run([sys.executable, "-c", "bytearray(10 * 1024 * 1024)"], timeout=20, memory_limit=256 * 1024 * 1024)


# --------------------------------------------------------------------------- binaries


def test_find_binaries_order(monkeypatch, tmp_path):
    monkeypatch.delenv("KEPU_FFMPEG", raising=False)
    monkeypatch.delenv("KEPU_FFPROBE", raising=False)
    found = ff.find_binaries()
    assert os.path.basename(found.ffmpeg) == "ffmpeg" and os.path.isabs(found.ffprobe)
    fake = tmp_path / "my-ffprobe"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KEPU_FFPROBE", str(fake))
    assert ff.find_binaries().ffprobe == str(fake)
    assert ff.find_binaries(ffprobe=shutil.which("ffprobe")).ffprobe == os.path.abspath(
        shutil.which("ffprobe")
    )
    monkeypatch.setenv("KEPU_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(MediaError) as caught:
        ff.find_binaries()
    assert "KEPU_FFMPEG" in caught.value.detail and CHINESE.search(caught.value.message)


# --------------------------------------------------------------------------- probing real files

EXPECTED_REJECTED = {"filetype_fixture-corrupt.mkv", "jsonize_broken-wav.wav"}


@pytest.mark.parametrize("path", MEDIA_FILES, ids=[p.name for p in MEDIA_FILES])
def test_probe_every_test_file(path, bins):
    try:
        result = ff.probe(path, binaries=bins)
    except MediaRejected as exc:
        assert CHINESE.search(exc.message), exc.message
        assert path.name in EXPECTED_REJECTED
        return
    assert path.name not in EXPECTED_REJECTED
    assert isinstance(result, Probe) and result.streams and result.duration > 0
    assert result.size == path.stat().st_size


def test_probe_facts(bins):
    fire = ff.probe(TESTDATA / "video" / "moviepy_fire2.mp4", binaries=bins)
    assert (fire.video.width, fire.video.height, fire.video.rotation) == (1280, 720, 180)
    assert (fire.video.display_width, fire.video.display_height) == (1280, 720)
    assert fire.tags.get("location", "").startswith("+54.1843")  # the GPS tag the SD copy must drop
    assert fire.audio.channels == 1 and fire.audio.sample_rate == 48000

    bunny = ff.probe(TESTDATA / "video" / "mediabunny_rotate-buck-bunny.mp4", binaries=bins)
    assert bunny.video.rotation == -90 and (bunny.video.display_width, bunny.video.display_height) == (
        1080,
        1920,
    )
    assert bunny.audio.channels == 6

    smpte = ff.probe(TESTDATA / "video" / "moviepy_smpte-2997.mp4", binaries=bins)
    assert (smpte.video.width, smpte.video.height) == (1920, 1080)
    assert smpte.duration == pytest.approx(10.05, abs=0.01)
    assert smpte.video.fps == pytest.approx(25) and smpte.video.sample_aspect_ratio == 1

    mjpeg = ff.probe(TESTDATA / "video" / "filetype_fixture-mjpeg.mov", binaries=bins)
    assert mjpeg.video.codec_name == "mjpeg" and mjpeg.audio.codec_name == "pcm_u8"

    cover = ff.probe(TESTDATA / "audio" / "moviepy_with-attached-pic.mp3", binaries=bins)
    assert cover.video is None and cover.streams[1].is_attached_pic
    with pytest.raises(MediaRejected):
        cover.video_map()


@pytest.mark.parametrize(
    "content",
    [b"\0", os.urandom(4096), b"RIFF\x10\0\0\0WAVEfmt ", b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64],
    ids=["one-byte", "random", "riff-header", "ftyp-only"],
)
def test_probe_garbage_is_rejected(tmp_path, bins, content):
    path = tmp_path / "upload.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaRejected) as caught:
        ff.probe(path, what="视频", binaries=bins)
    assert caught.value.message.startswith("视频文件")


def test_probe_truncated_inside_the_index_is_rejected(tmp_path, bins):
    """fire2's moov box starts at byte 24: cut at 40 there is no index left to probe.

    (Cut later, ffprobe still reads the stream headers; test_media_video covers what happens then.)
    """
    path = tmp_path / "cut.mp4"
    path.write_bytes(CLIP.read_bytes()[:40])
    with pytest.raises(MediaRejected):
        ff.probe(path, binaries=bins)


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "fifo"])
def test_probe_refuses_non_regular_files_at_once(tmp_path, bins, kind):
    path = tmp_path / "upload.mp4"
    if kind == "empty":
        path.touch()
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # ffprobe would block on it forever
    started = time.monotonic()
    with pytest.raises(MediaRejected):
        ff.probe(path, binaries=bins)
    assert time.monotonic() - started < 2


def test_parse_probe_display_size_rotation_and_bad_numbers():
    parsed = ff.parse_probe(
        {
            "format": {"format_name": "mpeg", "duration": "N/A", "size": "-5", "bit_rate": "nan"},
            "streams": [
                {
                    "index": 0,
                    "codec_type": "video",
                    "codec_name": "mpeg2video",
                    "width": 720,
                    "height": 576,
                    "sample_aspect_ratio": "16:15",
                    "r_frame_rate": "25/1",
                    "avg_frame_rate": "0/0",
                    "duration": "12.5",
                    "tags": {"rotate": "90"},
                },
                {"index": 1, "codec_type": "audio", "sample_rate": "garbage", "channels": None},
            ],
        }
    )
    v = parsed.video
    assert parsed.duration == 12.5 and parsed.size is None and parsed.bit_rate is None
    assert v.rotation == -90  # the legacy tag is clockwise
    assert (v.display_width, v.display_height) == (576, 768)  # SAR first, then the quarter turn
    assert v.fps == 25 and parsed.audio.sample_rate is None and parsed.audio.codec_name is None
    assert [ff.normalize_rotation(d) for d in (-180, 270, -270, 360, 90.4)] == [180, -90, 90, 0, 90]
    odd = ff.parse_probe(
        {
            "format": {"format_name": "mov"},
            "streams": [
                {"index": 0, "codec_type": "video", "width": 640, "height": 480, "tags": {"rotate": "45"}}
            ],
        }
    )
    assert odd.video.rotation == -45 and (odd.video.display_width, odd.video.display_height) == (640, 480)


def test_error_messages():
    exc = MediaRejected("ffprobe exited with status 1: moov atom not found", "视频文件已损坏或格式不受支持")
    assert str(exc) == exc.detail and exc.message == "视频文件已损坏或格式不受支持"
    assert isinstance(exc, MediaError) and issubclass(MediaTimeout, MediaError)
    assert CHINESE.search(MediaError("x").message) and MediaTimeout("x").message == "处理超时"
    assert ff.transcode_failure(MediaError("ffmpeg exited with status 1: Invalid data"), "坏").message == "坏"
    assert type(ff.transcode_failure(MediaError("…No space left on device"), "坏")) is MediaError


def test_pick_sample_rate():
    assert [ff.pick_sample_rate(r) for r in (None, 8000, 11025, 22050, 44100, 48000, 88200, 96000)] == [
        44100,
        48000,
        44100,
        44100,
        44100,
        48000,
        44100,
        48000,
    ]
