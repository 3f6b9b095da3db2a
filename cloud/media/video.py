"""Video policy and renditions: the SD MP4 stations stream, a poster frame and a thumbnail.

Sizing rule (all renditions): work on the DISPLAY size, i.e. the coded size with the sample aspect
ratio applied and width/height swapped for a ±90° rotation; fit it inside the target box keeping the
display aspect, round each side to the nearest even number, never above the source. ffmpeg autorotates
while decoding, so the pictures come out upright and the outputs carry no rotation; ``setsar=1`` makes
the pixels square. Example: 1280x720 rotated 180° → 854x480; 1920x1080 rotated -90° → 270x480.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import ffmpeg as ffmpeg_graph  # ffmpeg-python: builds the one-decode filter graph, never runs it

from cloud.media import ffmpeg as ff
from cloud.media.ffmpeg import MediaError, MediaRejected, Probe, Stream
from cloud.media.sniff import sniff

SD_VIDEO_BITRATE_MAX = "1200k"
SD_VIDEO_BUFSIZE = "2400k"
SD_AUDIO_BITRATE = "128k"


@dataclass(frozen=True)
class VideoPolicy:
    """Limits for accepting a video and budgets for processing it (seconds, pixels)."""

    max_duration: float = 3 * 3600
    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = 8192 * 4320  # 8K UHD; a 8192x8192 frame is rejected
    max_streams: int = 16
    sd_max_width: int = 854
    sd_max_height: int = 480
    sd_max_fps: int = 30
    poster_width: int = 720
    thumbnail_width: int = 320
    probe_timeout: float = ff.PROBE_TIMEOUT
    # Reading every packet of a file whose header states no duration (stream copy, no decoding:
    # disk speed, ~1 GB/s; a 4 GiB upload needs seconds).
    duration_scan_timeout: float = 120.0
    sd_timeout_base: float = 60.0
    sd_timeout_per_second: float = 4.0  # veryfast 1080p→480p runs ~3x real time on one core
    poster_timeout: float = 30.0
    threads: int = 2
    memory_limit: int = ff.DEFAULT_MEMORY_LIMIT

    def sd_timeout(self, duration: float | None) -> float:
        """Time budget for the SD transcode of a clip of ``duration`` seconds."""
        return self.sd_timeout_base + self.sd_timeout_per_second * (duration or 0.0)


DEFAULT_POLICY = VideoPolicy()


def inspect_video(
    src: str | os.PathLike[str], policy: VideoPolicy | None = None, *, binaries: ff.Binaries | None = None
) -> Probe:
    """Probe an uploaded video and apply the policy. Raises MediaRejected, MediaTimeout or MediaError."""
    policy = policy or DEFAULT_POLICY
    try:
        result = ff.probe(src, policy.probe_timeout, what="视频", binaries=binaries)
    except ff.FrameTooLarge as exc:
        raise MediaRejected(exc.detail, _too_large(exc.width, exc.height, policy)) from exc
    if result.duration is None:
        # WebM from a browser's MediaRecorder or a screen recorder: written to a pipe, the header
        # never got its duration. The packets have their timestamps all the same.
        measured = ff.scan_duration(
            src,
            policy.duration_scan_timeout,
            max_seconds=policy.max_duration + 1,
            what="视频",
            binaries=binaries,
        )
        result = dataclasses.replace(result, duration=measured)
    check_policy(result, policy)
    return result


def check_policy(probe: Probe, policy: VideoPolicy | None = None) -> None:
    """Raise MediaRejected, with the reason in Chinese, if ``probe`` breaks a limit of ``policy``."""
    policy = policy or DEFAULT_POLICY
    if len(probe.streams) > policy.max_streams:
        raise MediaRejected(
            f"{len(probe.streams)} streams > {policy.max_streams}",
            f"文件包含的音视频轨道过多（{len(probe.streams)} 条，最多 {policy.max_streams} 条）",
        )
    video = probe.video
    if video is None:
        raise MediaRejected("no video stream", "文件中没有视频画面")
    if not video.codec_name:
        raise MediaRejected("video codec unknown to ffmpeg", "不支持的视频编码格式")
    if probe.duration is None or probe.duration <= 0:
        raise MediaRejected("duration unknown", "无法读取视频时长，文件可能已损坏")
    if probe.duration > policy.max_duration:
        raise MediaRejected(
            f"duration {probe.duration:.0f}s > {policy.max_duration:.0f}s",
            f"视频时长超过限制（最长 {_hours(policy.max_duration)}）",
        )
    for stream in probe.video_streams:
        _check_size(stream, policy)


def _check_size(stream: Stream, policy: VideoPolicy) -> None:
    width, height = stream.width, stream.height
    if not width or not height:
        raise MediaRejected(
            f"stream {stream.index} has no frame size", "无法读取视频画面尺寸，文件可能已损坏"
        )
    if width > policy.max_width or height > policy.max_height or width * height > policy.max_pixels:
        raise MediaRejected(
            f"frame {width}x{height} over {policy.max_width}x{policy.max_height} / {policy.max_pixels} px",
            _too_large(width, height, policy),
        )


def _too_large(width: int, height: int, policy: VideoPolicy) -> str:
    return (
        f"视频分辨率过大（{width}×{height}，宽高最多 {policy.max_width} 像素，"
        f"总计最多 {policy.max_pixels // 10000} 万像素）"
    )


def _hours(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} 小时"
    return f"{int(seconds // 60)} 分钟"


def fit_dimensions(
    display_width: int, display_height: int, max_width: int, max_height: int | None = None
) -> tuple[int, int]:
    """Fit a display size inside ``max_width`` x ``max_height`` keeping its aspect; even sides, no upscale."""
    scale = min(1.0, max_width / display_width)
    if max_height:
        scale = min(scale, max_height / display_height)

    def even(value: float, limit: int) -> int:
        # Nearest even number, but never beyond the source or the box (x264 needs even 4:2:0 sizes).
        ceiling = max(2, limit // 2 * 2)
        return min(max(2, round(value / 2) * 2), ceiling)

    width = even(display_width * scale, min(display_width, max_width))
    height = even(display_height * scale, min(display_height, max_height or display_height))
    return width, height


def sd_dimensions(probe: Probe, policy: VideoPolicy | None = None) -> tuple[int, int]:
    """Output size of the SD rendition (see the module docstring). Raises MediaRejected without video."""
    policy = policy or DEFAULT_POLICY
    video = _main_video(probe)
    return fit_dimensions(
        video.display_width, video.display_height, policy.sd_max_width, policy.sd_max_height
    )


def _main_video(probe: Probe) -> Stream:
    video = probe.video
    if video is None or not video.display_width or not video.display_height:
        raise MediaRejected("no video stream with a frame size", "文件中没有视频画面")
    return video


def sd_argv(
    ffmpeg: str,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
) -> list[str]:
    """The ffmpeg argv for the SD rendition of ``src`` written to ``dst`` (H.264/AAC MP4, faststart)."""
    policy = policy or DEFAULT_POLICY
    width, height = sd_dimensions(probe, policy)
    argv = [
        *ff.ffmpeg_head(ffmpeg),
        *ff.input_args(src),
        "-map", probe.video_map(),
        "-map", "0:a:0?",
        # Autorotation runs before this chain, so these are the upright (display) sides.
        "-vf", f"scale={width}:{height}:flags=bicubic,setsar=1",
    ]  # fmt: skip
    for name, value in sd_output_options(probe, policy).items():
        argv += [f"-{name}", value]
    return [*argv, "-f", "mp4", ff.file_url(dst)]


def make_sd(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
    *,
    binaries: ff.Binaries | None = None,
) -> Probe:
    """Write the SD rendition of ``src`` to ``dst`` (temp file, then rename) and return its probe.

    Re-checks the policy first (the timeout is derived from the probed duration). Raises
    MediaRejected (policy, corrupt data), MediaTimeout (killed after ``policy.sd_timeout``) or
    MediaError (transient: disk, memory, missing ffmpeg). ``dst`` never holds a partial file.
    """
    policy = policy or DEFAULT_POLICY
    check_policy(probe, policy)
    bins = binaries or ff.find_binaries()
    expected = sd_dimensions(probe, policy)
    with ff.atomic_output(dst) as tmp:
        argv = sd_argv(bins.ffmpeg, src, tmp, probe, policy)
        try:
            ff.run(argv, policy.sd_timeout(probe.duration), memory_limit=policy.memory_limit)
        except MediaError as exc:
            raise ff.transcode_failure(exc, "视频转码失败，文件可能已损坏") from exc
        result = _checked_sd(tmp, probe, expected, policy, bins)
    return result


def _checked_sd(tmp: Path, probe: Probe, expected: tuple[int, int], policy: VideoPolicy, bins) -> Probe:
    """Probe a written SD rendition and check it: not empty, the expected upright size, complete."""
    ff.check_written(tmp, "SD video")
    result = ff.probe(tmp, policy.probe_timeout, what="视频", binaries=bins)
    out = result.video
    if out is None or (out.display_width, out.display_height) != expected or out.rotation:
        # Deterministic (an unusual display matrix?): retrying would only fail again.
        raise MediaRejected(
            f"SD output {out} does not match the expected {expected[0]}x{expected[1]}",
            "视频转码失败，请联系管理员",
        )
    ff.check_complete(probe, result, "视频")
    return result


def poster_time(duration: float | None) -> float:
    """Where the poster frame is taken: 10% into the clip (past fade-ins), the first frame if under 1 s."""
    if not duration or duration < 1:
        return 0.0
    return round(duration * 0.1, 3)


def still_argv(
    ffmpeg: str,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    width: int,
    at: float = 0.0,
) -> list[str]:
    """The ffmpeg argv for one upright JPEG frame of ``src`` at ``at`` seconds, at most ``width`` wide."""
    video = _main_video(probe)
    out_width, out_height = fit_dimensions(video.display_width, video.display_height, width)
    return [
        *ff.ffmpeg_head(ffmpeg),
        *ff.input_args(src, seek=at),
        "-map", probe.video_map(),
        "-frames:v", "1",
        "-an", "-sn", "-dn",
        "-map_metadata", "-1",
        "-vf", f"scale={out_width}:{out_height}:flags=bicubic,setsar=1",
        # yuvj420p: the mjpeg encoder wants full-range input; the raw mjpeg muxer writes a bare JPEG.
        "-pix_fmt", "yuvj420p",
        "-q:v", "3",
        "-f", "mjpeg",
        ff.file_url(dst),
    ]  # fmt: skip


def make_poster(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
    *,
    width: int | None = None,
    binaries: ff.Binaries | None = None,
) -> tuple[int, int]:
    """Write a JPEG poster (≤ ``policy.poster_width`` wide, upright) to ``dst``; return its size.

    Raises MediaRejected (no decodable frame, policy), MediaTimeout or MediaError.
    """
    policy = policy or DEFAULT_POLICY
    check_policy(probe, policy)
    width = width or policy.poster_width
    bins = binaries or ff.find_binaries()
    video = _main_video(probe)
    size = fit_dimensions(video.display_width, video.display_height, width)
    at = poster_time(probe.duration)
    with ff.atomic_output(dst) as tmp:
        try:
            _still(bins.ffmpeg, src, tmp, probe, width, at, policy)
            if at and tmp.stat().st_size == 0:
                # Durations in headers lie; a seek past the last frame yields nothing. Fall back to the start.
                _still(bins.ffmpeg, src, tmp, probe, width, 0.0, policy)
        except MediaError as exc:
            raise ff.transcode_failure(exc, "无法从视频中截取封面，文件可能已损坏") from exc
        ff.check_written(tmp, "poster")
    return size


def make_thumbnail(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
    *,
    binaries: ff.Binaries | None = None,
) -> tuple[int, int]:
    """Like :func:`make_poster` at ``policy.thumbnail_width`` (320 px). Raises the same errors."""
    policy = policy or DEFAULT_POLICY
    return make_poster(src, dst, probe, policy, width=policy.thumbnail_width, binaries=binaries)


def _still(ffmpeg: str, src, tmp: Path, probe: Probe, width: int, at: float, policy: VideoPolicy) -> None:
    ff.run(
        still_argv(ffmpeg, src, tmp, probe, width, at),
        policy.poster_timeout,
        memory_limit=policy.memory_limit,
    )


# --------------------------------------------------------------------------- one decode, three outputs


@dataclass(frozen=True)
class Renditions:
    """What :func:`make_renditions` wrote: the SD rendition's probe, the poster's and thumbnail's sizes."""

    sd: Probe
    poster: tuple[int, int]
    thumbnail: tuple[int, int]


def sd_output_options(probe: Probe, policy: VideoPolicy | None = None) -> dict[str, str]:
    """The SD encoder and muxer options, by name: the same as :func:`sd_argv` writes after ``-vf``."""
    policy = policy or DEFAULT_POLICY
    audio = probe.audio
    channels = min(audio.channels or 2, 2) if audio else 2
    return {
        # No global, stream or chapter metadata: phone videos carry GPS 'location' tags.
        "map_metadata": "-1",
        "map_chapters": "-1",
        "fpsmax": str(policy.sd_max_fps),
        "c:v": "libx264",
        "preset": "veryfast",
        "crf": "23",
        "maxrate": SD_VIDEO_BITRATE_MAX,
        "bufsize": SD_VIDEO_BUFSIZE,
        "pix_fmt": "yuv420p",
        "threads": str(policy.threads),
        "c:a": "aac",
        "b:a": SD_AUDIO_BITRATE,
        "ac": str(channels),
        "ar": str(ff.pick_sample_rate(audio.sample_rate if audio else None)),
        "movflags": "+faststart",
    }


STILL_OUTPUT_OPTIONS = {
    "frames:v": "1",
    "map_metadata": "-1",
    # yuvj420p: the mjpeg encoder wants full-range input; the raw mjpeg muxer writes a bare JPEG.
    "pix_fmt": "yuvj420p",
    "q:v": "3",
}


def _fitted(branch, size: tuple[int, int]):
    return branch.filter("scale", size[0], size[1], flags="bicubic").filter("setsar", 1)


def renditions_argv(
    ffmpeg: str,
    src: str | os.PathLike[str],
    sd_dst: str | os.PathLike[str],
    poster_dst: str | os.PathLike[str],
    thumbnail_dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
) -> list[str]:
    """One ffmpeg run that decodes ``src`` once and writes the SD MP4, the poster and the thumbnail.

    The graph (built with ffmpeg-python, compiled to an argv, run by :func:`ff.run`)::

        [0:v:N] split ─ scale, setsar ─────────────────────────────▶ SD (libx264 + the first audio)
                      └ trim from the poster time, first frame ─ split ─ scale, setsar ─▶ poster JPEG
                                                                     └ scale, setsar ─▶ thumbnail JPEG

    The still branch drops every frame before the poster time and ends after one, so it holds no
    frames while the SD branch goes on. The guarded input options (:func:`ff.input_options`) come
    before the single ``-i file:…``; the global head (:func:`ff.ffmpeg_head`) starts the argv.
    """
    policy = policy or DEFAULT_POLICY
    main = _main_video(probe)
    sd_size = sd_dimensions(probe, policy)
    poster_size = fit_dimensions(main.display_width, main.display_height, policy.poster_width)
    thumb_size = fit_dimensions(main.display_width, main.display_height, policy.thumbnail_width)
    source = ffmpeg_graph.input(ff.file_url(src), **ff.input_options())
    picture = source[probe.video_map().removeprefix("0:")].split()
    sd = ffmpeg_graph.output(
        _fitted(picture[0], sd_size),
        source["a:0?"],
        ff.file_url(sd_dst),
        format="mp4",
        **sd_output_options(probe, policy),
    )
    still = picture[1]
    at = poster_time(probe.duration)
    if at:
        still = still.trim(start=at)
    still = still.trim(end_frame=1).setpts("PTS-STARTPTS").split()
    poster = ffmpeg_graph.output(
        _fitted(still[0], poster_size), ff.file_url(poster_dst), format="mjpeg", **STILL_OUTPUT_OPTIONS
    )
    thumbnail = ffmpeg_graph.output(
        _fitted(still[1], thumb_size), ff.file_url(thumbnail_dst), format="mjpeg", **STILL_OUTPUT_OPTIONS
    )
    return [*ff.ffmpeg_head(ffmpeg), *ffmpeg_graph.merge_outputs(sd, poster, thumbnail).get_args()]


def make_renditions(
    src: str | os.PathLike[str],
    sd_dst: str | os.PathLike[str],
    poster_dst: str | os.PathLike[str],
    thumbnail_dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
    *,
    binaries: ff.Binaries | None = None,
) -> Renditions:
    """Write the SD rendition, the poster and the thumbnail of ``src`` from one decode.

    The same outputs as :func:`make_sd`, :func:`make_poster` and :func:`make_thumbnail` (one frame
    at :func:`poster_time`; the first frame when the header's duration lied and the poster time lies
    past the last frame), each through a temp file renamed only when all three are good. The time
    limit is the SD budget plus the poster's. Raises MediaRejected, MediaTimeout or MediaError.
    """
    policy = policy or DEFAULT_POLICY
    check_policy(probe, policy)
    bins = binaries or ff.find_binaries()
    main = _main_video(probe)
    expected = sd_dimensions(probe, policy)
    poster_size = fit_dimensions(main.display_width, main.display_height, policy.poster_width)
    thumb_size = fit_dimensions(main.display_width, main.display_height, policy.thumbnail_width)
    with (
        ff.atomic_output(sd_dst) as sd_tmp,
        ff.atomic_output(poster_dst) as poster_tmp,
        ff.atomic_output(thumbnail_dst) as thumb_tmp,
    ):
        argv = renditions_argv(bins.ffmpeg, src, sd_tmp, poster_tmp, thumb_tmp, probe, policy)
        timeout = policy.sd_timeout(probe.duration) + policy.poster_timeout
        try:
            ff.run(argv, timeout, memory_limit=policy.memory_limit)
        except MediaError as exc:
            raise ff.transcode_failure(exc, "视频转码失败，文件可能已损坏") from exc
        result = _checked_sd(sd_tmp, probe, expected, policy, bins)
        for tmp, width in ((poster_tmp, policy.poster_width), (thumb_tmp, policy.thumbnail_width)):
            if tmp.stat().st_size == 0:
                # Durations in headers lie: no frame at the poster time. Take the first one.
                try:
                    _still(bins.ffmpeg, src, tmp, probe, width, 0.0, policy)
                except MediaError as exc:
                    raise ff.transcode_failure(exc, "无法从视频中截取封面，文件可能已损坏") from exc
            ff.check_written(tmp, "poster")
    return Renditions(result, poster_size, thumb_size)


def strip_location(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: VideoPolicy | None = None,
    *,
    binaries: ff.Binaries | None = None,
) -> bool:
    """Write ``src`` without the place it was recorded (phones' GPS tags) to ``dst``, streams copied.

    False, nothing written, when it carries none. Raises MediaRejected, MediaTimeout, MediaError
    (see :func:`cloud.media.ffmpeg.strip_location`).
    """
    policy = policy or DEFAULT_POLICY
    return ff.strip_location(
        src, dst, probe, sniff(src).kind, policy.duration_scan_timeout, what="视频", binaries=binaries
    )
