"""Run ffmpeg/ffprobe on untrusted files without letting them reach anything but the file itself.

Every command built here carries the same input guards (SECURITY.md items 7-10):

- ``-protocol_whitelist file``: no network, no ``concat:``/``subfile:``/``data:`` protocols, also for
  anything a demuxer tries to open on its own behalf (the whitelist is inherited by nested opens);
- ``-format_whitelist`` with a deliberate list of container demuxers: playlists and scripts (HLS, DASH,
  ffconcat), image sequences and text-art formats (``image2``, ``tty``, ``xbin``) are refused even when
  ffmpeg's content probe recognises them, whatever the file is called;
- the input given as ``file:`` + absolute path, so a name like ``concat:a|b`` or ``http://…`` is only
  ever a (missing) local file name;
- an argv list, never a shell; stdin is /dev/null; a finite timeout after which the whole process
  group is killed.

The binaries are found once per call with :func:`find_binaries`; nothing here imports Flask.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import math
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

# Demuxers we accept, by the names `ffmpeg -demuxers` prints (5.1). libavformat matches this list
# against every alias of the probed demuxer, so "mov" admits "mov,mp4,m4a,3gp,3g2,mj2".
# Deliberately absent: hls, dash, concat, image2/image2pipe, tty, bin/xbin/adf/idf (text art that
# renders whatever bytes a playlist feeds it: the 2017 "xbin" attack), sdp/rtp/rtsp, lavfi, and
# every other format that can name further files.
FORMAT_WHITELIST: tuple[str, ...] = (
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "asf",
    "ogg",
    "mp3",
    "wav",
    "flac",
    "aac",
    "amr",
    "aiff",
)
PROTOCOL_WHITELIST = "file"

# Per-frame decode limit (pixels). It bounds what a header can make a decoder allocate, including
# during ffprobe's stream analysis and for cover art, before any policy check has run.
MAX_DECODE_PIXELS = 8192 * 8192

# Address-space limit for every child: a hostile file can make a demuxer or decoder allocate far more
# than a real video needs; 4 GiB leaves room for 8K decoding with x264 lookahead.
DEFAULT_MEMORY_LIMIT = 4 * 1024**3

PROBE_TIMEOUT = 30.0
MAX_STDOUT_BYTES = 8 * 1024 * 1024  # ffprobe JSON for 16 streams is a few KB
STDERR_TAIL_BYTES = 4096

_PR_SET_PDEATHSIG = 1


class MediaError(Exception):
    """A media step failed. ``message`` is Chinese for the uploader, ``detail`` English for the logs.

    Plain ``MediaError`` may be transient (disk full, killed by the system): the job may be retried.
    """

    default_message = "媒体文件处理失败，请稍后重试"

    def __init__(self, detail: str, message: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.message = message or self.default_message

    def __str__(self) -> str:
        return self.detail


class MediaRejected(MediaError):
    """The file itself is the problem (corrupt, unsupported, over a policy limit): do not retry."""

    default_message = "文件已损坏或格式不受支持"


class FrameTooLarge(MediaRejected):
    """A frame bigger than :data:`MAX_DECODE_PIXELS`: ffprobe could not even open its decoder."""

    def __init__(self, detail: str, width: int, height: int, what: str = "媒体"):
        super().__init__(
            detail,
            f"{what}画面尺寸过大（{width}×{height} 像素），超过上限 {MAX_DECODE_PIXELS // 10000} 万像素",
        )
        self.width, self.height = width, height


class MediaTimeout(MediaError):
    """ffmpeg/ffprobe ran longer than its time limit and was killed."""

    default_message = "处理超时"


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the two programs."""

    ffmpeg: str
    ffprobe: str


def find_binaries(ffmpeg: str | None = None, ffprobe: str | None = None) -> Binaries:
    """Locate ffmpeg and ffprobe: explicit argument, else $KEPU_FFMPEG/$KEPU_FFPROBE, else $PATH.

    Raises MediaError if either cannot be found or is not executable.
    """
    return Binaries(
        ffmpeg=_find_one("ffmpeg", ffmpeg, "KEPU_FFMPEG"),
        ffprobe=_find_one("ffprobe", ffprobe, "KEPU_FFPROBE"),
    )


def _find_one(name: str, explicit: str | None, env_var: str) -> str:
    candidate = explicit or os.environ.get(env_var) or name
    found = shutil.which(candidate)
    if not found:
        raise MediaError(f"{name} not found (tried {candidate!r}; set {env_var})", "服务器未安装媒体处理组件")
    return os.path.abspath(found)


# --------------------------------------------------------------------------- command building


def input_options(*, seek: float | None = None) -> dict[str, str]:
    """The guarded input options for one untrusted file, by name (without the dash).

    :func:`input_args` writes them before ``-i``; a graph built with ffmpeg-python passes them as
    keyword arguments of ``ffmpeg.input(file_url(path), **input_options())``, which also writes them
    before ``-i`` (its ``global_args`` would come after the outputs and guard nothing).
    """
    options = {"max_pixels": str(MAX_DECODE_PIXELS)}
    if seek:
        # Input seeking: jumps by the container index instead of decoding up to the position.
        options["ss"] = f"{seek:.3f}"
    options["protocol_whitelist"] = PROTOCOL_WHITELIST
    options["format_whitelist"] = ",".join(FORMAT_WHITELIST)
    return options


def input_args(path: str | os.PathLike[str], *, seek: float | None = None) -> list[str]:
    """The guarded input options for one untrusted file, ending with ``-i file:/abs/path``.

    These are input options, so they must come before ``-i``; ffprobe and ffmpeg both honour them there.
    """
    args = []
    for name, value in input_options(seek=seek).items():
        args += [f"-{name}", value]
    return [*args, "-i", file_url(path)]


def file_url(path: str | os.PathLike[str]) -> str:
    """``file:`` + absolute path: the only way a path reaches ffmpeg, so no protocol prefix is parsed."""
    return "file:" + os.path.abspath(os.fspath(path))


def ffmpeg_head(ffmpeg: str) -> list[str]:
    """Global ffmpeg options every transcode starts with (no stdin, quiet, overwrite our own temp file)."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]


def probe_argv(ffprobe: str, path: str | os.PathLike[str]) -> list[str]:
    """The ffprobe argv for ``path``. ffprobe has no ``-nostdin``: :func:`run` gives it /dev/null."""
    return [
        ffprobe,
        "-hide_banner",
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        *input_args(path),
    ]


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunResult:
    """What a finished command left: its stdout (bounded) and the tail of its stderr."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr_tail: str
    elapsed: float


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved in the parent: the child between fork and exec must not load libraries.
_prctl = _load_prctl()


def _child_setup(parent_pid: int, memory_limit: int | None) -> None:
    # Runs in the child between fork and exec. If the worker dies (SIGKILL, OOM), the kernel kills
    # ffmpeg too instead of leaving an orphan that keeps burning CPU and writing a temp file.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(127)
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))


def _memory_limit(requested: int | None) -> int | None:
    if not requested:
        return None
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        return min(requested, hard)
    return requested


def run(
    argv: Sequence[str],
    timeout: float,
    *,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    max_stdout: int = MAX_STDOUT_BYTES,
) -> RunResult:
    """Run ``argv`` (a list, no shell) in its own process group with a hard time limit.

    stdout/stderr go to anonymous temp files, so neither pipe can fill up and deadlock, and no media
    bytes pass through Python. Raises ValueError for a non-finite or non-positive timeout,
    MediaTimeout when the limit passes (the whole process group is SIGKILLed first), MediaError when
    the program cannot start, exits non-zero (stderr tail in ``detail``) or prints more than
    ``max_stdout`` bytes.
    """
    if isinstance(argv, str | bytes) or not argv:
        raise ValueError("argv must be a non-empty list of arguments, never a command string")
    argv = [os.fspath(a) for a in argv]
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"run() needs a finite positive timeout, got {timeout!r}")
    program = os.path.basename(argv[0])
    env = dict(os.environ, AV_LOG_FORCE_NOCOLOR="1")
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                env=env,
                preexec_fn=functools.partial(_child_setup, os.getpid(), _memory_limit(memory_limit)),
            )
        except OSError as exc:
            raise MediaError(f"cannot start {program}: {exc}") from exc
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise MediaTimeout(f"{program} killed after {timeout:.1f}s: {_tail(err)}") from None
        except BaseException:
            # KeyboardInterrupt or a worker shutdown: never leave ffmpeg running behind us.
            _kill_group(proc)
            raise
        elapsed = time.monotonic() - started
        stderr_tail = _tail(err)
        if returncode != 0:
            how = f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
            raise MediaError(f"{program} exited with {how}: {stderr_tail}")
        out.seek(0)
        stdout = out.read(max_stdout + 1)
        if len(stdout) > max_stdout:
            raise MediaError(f"{program} printed more than {max_stdout} bytes")
    return RunResult(tuple(argv), returncode, stdout, stderr_tail, elapsed)


def _kill_group(proc: subprocess.Popen) -> None:
    # The child is not reaped yet, so its pid (== the group id, thanks to setsid) cannot have been
    # reused: killing the group cannot hit an unrelated process.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(fileobj) -> str:
    fileobj.flush()
    size = fileobj.seek(0, os.SEEK_END)
    fileobj.seek(max(0, size - STDERR_TAIL_BYTES))
    return fileobj.read().decode("utf-8", "replace").strip()


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class Stream:
    """One stream as ffprobe saw it; dimensions are coded sizes, ``display_*`` what a viewer sees."""

    index: int
    codec_type: str
    codec_name: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    rotation: int = 0  # counter-clockwise degrees in (-180, 180], from the display matrix
    sample_aspect_ratio: Fraction | None = None
    display_width: int | None = None
    display_height: int | None = None
    fps: float | None = None
    channels: int | None = None
    sample_rate: int | None = None
    duration: float | None = None
    is_attached_pic: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def is_video(self) -> bool:
        """A real picture stream (cover art in MP3/M4A is a one-frame "attached picture")."""
        return self.codec_type == "video" and not self.is_attached_pic

    @property
    def is_audio(self) -> bool:
        return self.codec_type == "audio"


@dataclass(frozen=True)
class Probe:
    """The container facts a policy decision needs."""

    format_name: str
    duration: float | None
    size: int | None
    bit_rate: int | None
    streams: tuple[Stream, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def video_streams(self) -> list[Stream]:
        return [s for s in self.streams if s.is_video]

    @property
    def audio_streams(self) -> list[Stream]:
        return [s for s in self.streams if s.is_audio]

    @property
    def video(self) -> Stream | None:
        """The stream renditions are made from: the first real video stream."""
        videos = self.video_streams
        return videos[0] if videos else None

    @property
    def audio(self) -> Stream | None:
        audios = self.audio_streams
        return audios[0] if audios else None

    def video_map(self) -> str:
        """The ``-map`` specifier of :attr:`video`: ``0:v:N`` counting cover art, as ffmpeg does."""
        main = self.video
        if main is None:
            raise MediaRejected("no video stream", "未找到视频画面")
        all_video = [s for s in self.streams if s.codec_type == "video"]
        return f"0:v:{all_video.index(main)}"

    def tag(self, name: str) -> str | None:
        """A container tag by case-insensitive name, else the first audio stream's (Ogg keeps them there)."""
        for tags in (self.tags, self.audio.tags if self.audio else {}):
            for key, value in tags.items():
                if key.lower() == name.lower() and value:
                    return value
        return None


def probe(
    path: str | os.PathLike[str],
    timeout: float = PROBE_TIMEOUT,
    *,
    what: str = "媒体",
    binaries: Binaries | None = None,
) -> Probe:
    """Probe ``path`` with the guarded ffprobe and parse the result.

    ``what`` names the kind of file in the uploader's message ("视频", "音频"). Raises MediaRejected
    when the file is missing, not a regular file, unreadable by the allowed demuxers, garbage or
    truncated beyond use; MediaTimeout when ffprobe hangs; MediaError if ffprobe is missing.
    """
    path = _regular_file(path, what)
    bins = binaries or find_binaries()
    try:
        result = run(probe_argv(bins.ffprobe, path), timeout)
    except MediaTimeout:
        raise
    except MediaError as exc:
        _raise_if_frame_too_large(exc.detail, what)
        if "not on whitelist" in exc.detail:
            raise MediaRejected(exc.detail, f"{what}文件格式不受支持") from exc
        raise MediaRejected(exc.detail, f"{what}文件已损坏或格式不受支持") from exc
    try:
        data = json.loads(result.stdout.decode("utf-8", "replace"))
        parsed = parse_probe(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MediaRejected(
            f"unusable ffprobe output for {path}: {exc!r}", f"{what}文件已损坏或格式不受支持"
        ) from exc
    # Some decoders (VP8, MJPEG) refuse the frame size yet let ffprobe finish, reporting 0x0.
    _raise_if_frame_too_large(result.stderr_tail, what)
    if not _format_allowed(parsed.format_name):
        # Defence in depth: the whitelist is enforced by libavformat; this catches a binary that ignores it.
        raise MediaRejected(f"demuxer {parsed.format_name!r} is not allowed", f"{what}文件格式不受支持")
    if not parsed.streams:
        raise MediaRejected(f"no streams in {path}", f"{what}文件已损坏或格式不受支持")
    return parsed


_PIXEL_LIMIT_HIT = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def _raise_if_frame_too_large(stderr: str, what: str) -> None:
    found = _PIXEL_LIMIT_HIT.search(stderr)
    if found:
        width, height = int(found.group(1)), int(found.group(2))
        raise FrameTooLarge(f"frame {width}x{height} over {MAX_DECODE_PIXELS} pixels", width, height, what)


def scan_argv(ffmpeg: str, path: str | os.PathLike[str], max_seconds: float | None = None) -> list[str]:
    """The ffmpeg argv that reads every packet of ``path`` (no decoding) and reports how far it got.

    Stream copy into the null muxer: the packets' timestamps are all that is looked at. ``-t`` stops
    the scan once ``max_seconds`` are passed (the file is too long for any policy by then). The only
    output is ``-progress`` on stdout: one block at the start and the last one (``progress=end``)
    once the input is exhausted, since ``-stats_period`` is longer than any scan may take.
    """
    argv = [
        *ffmpeg_head(ffmpeg),
        *input_args(path),
        "-map", "0:v?",
        "-map", "0:a?",
        "-c", "copy",
    ]  # fmt: skip
    if max_seconds:
        argv += ["-t", f"{max_seconds:.3f}"]
    return [*argv, "-progress", "pipe:1", "-stats_period", "86400", "-f", "null", "-"]


def scan_duration(
    path: str | os.PathLike[str],
    timeout: float,
    *,
    max_seconds: float | None = None,
    what: str = "媒体",
    binaries: Binaries | None = None,
) -> float | None:
    """The duration of ``path`` measured by reading all its packets, for containers that state none.

    What a browser's MediaRecorder, a screen recorder or anything else writing WebM/Matroska (or
    FLAC) to a pipe leaves: the header could not be rewritten at the end. Returns the timestamp
    the last packet reached (None if no packet had one), at most about ``max_seconds``. Raises
    MediaTimeout after ``timeout``, MediaRejected when the packets cannot be read, MediaError
    (transient) when ffmpeg is missing or the machine is out of resources.
    """
    path = _regular_file(path, what)
    bins = binaries or find_binaries()
    try:
        result = run(scan_argv(bins.ffmpeg, path, max_seconds), timeout)
    except MediaError as exc:
        raise transcode_failure(exc, f"{what}文件已损坏，无法读取时长") from exc
    reached = None
    for line in result.stdout.decode("ascii", "replace").splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().isdigit():
            reached = int(value) / 1_000_000
    return reached if reached else None


# Tag names under which demuxers report where a recording was made: QuickTime/MP4 ©xyz
# ("location", "location-eng"), Apple's "com.apple.quicktime.location.ISO6709", GPS in others.
_LOCATION_TAG = re.compile(r"location|gps|iso6709|xyz", re.IGNORECASE)

#: The muxer that writes the same container again, by content kind (cloud.media.sniff).
REMUX_FORMATS = {
    "mp4": "mp4",
    "mov": "mov",
    "3gp": "3gp",
    "m4a": "ipod",
    "webm": "webm",
    "mkv": "matroska",
    "avi": "avi",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "opus": "ogg",
    "wav": "wav",
}


def location_tags(probe: Probe) -> list[str]:
    """The container and stream tags of ``probe`` that say where it was recorded."""
    names = list(probe.tags)
    for stream in probe.streams:
        names += stream.tags
    return [name for name in names if _LOCATION_TAG.search(name)]


def remux_argv(ffmpeg: str, src, dst, probe: Probe, muxer: str) -> list[str]:
    """Stream copy of the pictures, sound and subtitles into the same container, no metadata.

    ``-map_metadata -1`` drops every container and stream tag (the location among them); the
    display matrix (rotation) is stream side data and is copied. Stream languages are written
    back. Data streams (timecode, timed metadata) are left out.
    """
    argv = [
        *ffmpeg_head(ffmpeg),
        *input_args(src),
        "-map", "0:v?", "-map", "0:a?", "-map", "0:s?",
        "-c", "copy",
        "-map_metadata", "-1",
    ]  # fmt: skip
    kept = [s for s in probe.streams if s.codec_type in ("video", "audio", "subtitle")]
    for number, stream in enumerate(kept):
        language = stream.tags.get("language")
        if language and re.fullmatch(r"[a-z]{3}", language):
            argv += [f"-metadata:s:{number}", f"language={language}"]
    return [*argv, "-f", muxer, file_url(dst)]


def streamhash_argv(ffmpeg: str, path) -> list[str]:
    """Per-stream SHA-256 of the packets of the streams a remux keeps (no decoding)."""
    return [
        *ffmpeg_head(ffmpeg),
        *input_args(path),
        "-map", "0:v?", "-map", "0:a?", "-map", "0:s?",
        "-c", "copy",
        "-f", "streamhash", "-hash", "sha256", "pipe:1",
    ]  # fmt: skip


def strip_location(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probed: Probe,
    kind: str,
    timeout: float,
    *,
    what: str = "媒体",
    binaries: Binaries | None = None,
) -> bool:
    """Write ``src`` (probed as ``probed``) without its location tags to ``dst`` by stream copy.

    Returns False, writing nothing, when it has none. ``kind`` is the content kind
    (:data:`REMUX_FORMATS`). The packets of every kept stream are checked to be bit-identical
    before and after (``streamhash``). Raises MediaRejected when the
    file cannot be remuxed losslessly (the location could not be removed), MediaTimeout, MediaError.
    ``dst`` never holds a partial file.
    """
    if not location_tags(probed):
        return False
    muxer = REMUX_FORMATS.get(kind)
    message = f"无法删除{what}中的拍摄位置信息，请用其他软件另存后重新上传"
    if muxer is None:
        raise MediaRejected(f"location tags {location_tags(probed)} in a {kind} file", message)
    bins = binaries or find_binaries()
    with atomic_output(dst) as tmp:
        try:
            run(remux_argv(bins.ffmpeg, src, tmp, probed, muxer), timeout)
            before = run(streamhash_argv(bins.ffmpeg, src), timeout).stdout
            after = run(streamhash_argv(bins.ffmpeg, tmp), timeout).stdout
        except MediaError as exc:
            raise transcode_failure(exc, message) from exc
        if not before or before != after:
            raise MediaRejected(f"remux changed the packets: {before!r} != {after!r}", message)
        left = location_tags(probe(tmp, timeout, binaries=bins))
        if left:
            raise MediaRejected(f"location tags {left} survived the remux", message)
    return True


def _regular_file(path: str | os.PathLike[str], what: str) -> str:
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
    except OSError as exc:
        raise MediaRejected(f"cannot stat {path}: {exc}", f"{what}文件不存在") from exc
    # FIFOs and devices (/dev/zero, /dev/stdin) would make ffmpeg wait or read forever.
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        raise MediaRejected(f"{path} is not a non-empty regular file", f"{what}文件已损坏或格式不受支持")
    return path


def _format_allowed(format_name: str) -> bool:
    return any(name in FORMAT_WHITELIST for name in format_name.split(","))


def parse_probe(data: dict) -> Probe:
    """Build a Probe from ffprobe's JSON (``-show_format -show_streams``). Raises KeyError/ValueError."""
    fmt = data["format"]
    streams = tuple(_parse_stream(s) for s in data.get("streams") or [])
    duration = _float(fmt.get("duration"))
    if duration is None:
        # Some containers only know stream durations.
        durations = [s.duration for s in streams if s.duration]
        duration = max(durations) if durations else None
    return Probe(
        format_name=str(fmt["format_name"]),
        duration=duration,
        size=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        streams=streams,
        tags=_tags(fmt.get("tags")),
    )


def _parse_stream(s: dict) -> Stream:
    codec_type = str(s.get("codec_type") or "unknown")
    width, height = _int(s.get("width")), _int(s.get("height"))
    tags = _tags(s.get("tags"))
    rotation = _rotation(s, tags)
    sar = _ratio(s.get("sample_aspect_ratio"))
    display_width = display_height = None
    if width and height:
        display_width = max(1, round(width * sar)) if sar else width
        display_height = height
        if abs(rotation) == 90:
            # Only quarter turns swap the sides: ffmpeg's autorotate transposes exactly those and
            # turns any other angle inside the same frame size.
            display_width, display_height = display_height, display_width
    fps = _ratio(s.get("avg_frame_rate")) or _ratio(s.get("r_frame_rate"))
    return Stream(
        index=int(s.get("index", 0)),
        codec_type=codec_type,
        codec_name=s.get("codec_name") or None,
        pix_fmt=s.get("pix_fmt") or None,
        width=width,
        height=height,
        rotation=rotation,
        sample_aspect_ratio=sar,
        display_width=display_width,
        display_height=display_height,
        fps=float(fps) if fps else None,
        channels=_int(s.get("channels")),
        sample_rate=_int(s.get("sample_rate")),
        duration=_float(s.get("duration")),
        is_attached_pic=bool((s.get("disposition") or {}).get("attached_pic")),
        tags=tags,
    )


def _rotation(stream: dict, tags: dict[str, str]) -> int:
    """Counter-clockwise rotation in (-180, 180]; the display matrix wins over the legacy tag."""
    for side_data in stream.get("side_data_list") or []:
        if side_data.get("side_data_type") == "Display Matrix" and side_data.get("rotation") is not None:
            value = _float(side_data.get("rotation"), allow_negative=True)
            if value is not None:
                return normalize_rotation(value)
    rotate_tag = _float(tags.get("rotate"), allow_negative=True)
    if rotate_tag is not None:
        # The old "rotate" tag counts clockwise, the display matrix counter-clockwise.
        return normalize_rotation(-rotate_tag)
    return 0


def normalize_rotation(degrees: float) -> int:
    """Map any angle to (-180, 180]: -180 → 180, 270 → -90."""
    value = round(degrees) % 360
    return value - 360 if value > 180 else value


def _tags(raw) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def _int(value) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _float(value, *, allow_negative: bool = False) -> float | None:
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or (number < 0 and not allow_negative):
        return None
    return number


def _ratio(value) -> Fraction | None:
    """'30000/1001' or '16:15' → Fraction; '0/0', '0:1', 'N/A' → None."""
    if not value:
        return None
    text = str(value).replace(":", "/")
    try:
        num, _, den = text.partition("/")
        ratio = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


# --------------------------------------------------------------------------- atomic outputs


def part_prefix(dst: str | os.PathLike[str]) -> str:
    """Name prefix of the temp files an output goes through (hidden, next to the final name)."""
    return f".{Path(dst).name}."


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path in ``dst``'s directory; rename it to ``dst`` if the block succeeds.

    The final name only ever holds a complete file: a failure or a timeout removes the temp file, and a
    worker killed outright leaves only a hidden ``.name.*.part`` that the next attempt sweeps away.
    Raises MediaError if the directory is not writable.
    """
    dst = Path(dst)
    sweep_parts(dst)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=part_prefix(dst), suffix=".part", dir=dst.parent)
    except OSError as exc:
        raise MediaError(f"cannot create a temp file next to {dst}: {exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())  # the rename must not publish blocks still in the page cache
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sweep_parts(dst: str | os.PathLike[str]) -> None:
    """Remove temp files an earlier, killed attempt at ``dst`` left behind."""
    dst = Path(dst)
    prefix = part_prefix(dst)
    with contextlib.suppress(FileNotFoundError):
        for leftover in dst.parent.iterdir():
            if leftover.name.startswith(prefix) and leftover.name.endswith(".part"):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
                log.info("removed stale temp file %s", leftover)


def pick_sample_rate(rate: int | None) -> int:
    """44100 for the CD family (11025, 22050, 88200 …), else 48000: resample by a simple ratio."""
    if not rate or 44100 % rate == 0 or rate % 44100 == 0:
        return 44100
    return 48000


def transcode_failure(exc: MediaError, message: str) -> MediaError:
    """Classify a failed transcode: the file's fault (MediaRejected) or ours (MediaError, retry).

    Timeouts pass through unchanged. Running out of disk or memory, or being killed by a signal, says
    nothing about the file; any other failure of a file that probed cleanly is treated as corruption.
    """
    if isinstance(exc, MediaTimeout):
        return exc
    transient = ("No space left on device", "Cannot allocate memory", "exited with signal")
    if any(marker in exc.detail for marker in transient):
        return MediaError(exc.detail)
    return MediaRejected(exc.detail, message)


def check_complete(source: Probe, output: Probe, what: str) -> None:
    """Raise MediaRejected if the output is much shorter than the source claims to be.

    A cut-off upload whose index sits at the front still probes with its full duration, and ffmpeg
    only warns ("partial file") while it transcodes the part that is there.
    """
    if source.duration and output.duration is not None and output.duration < source.duration * 0.9 - 0.5:
        raise MediaRejected(
            f"output lasts {output.duration:.2f}s of {source.duration:.2f}s: input truncated",
            f"{what}文件不完整（可能上传中断），请重新上传",
        )


def check_written(tmp: Path, what: str) -> None:
    """Raise MediaRejected if ffmpeg exited cleanly but wrote nothing (e.g. no frame could be decoded)."""
    if tmp.stat().st_size == 0:
        raise MediaRejected(f"ffmpeg wrote an empty {what}", "未能从文件中提取到有效内容")
