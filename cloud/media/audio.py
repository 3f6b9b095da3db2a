"""Audio policy, tag reading and the MP3 listening copy.

Chinese MP3s from the GBK era often carry ID3 text frames declared as Latin-1 (encoding 0) whose
bytes are really GBK; every tag reader then shows mojibake such as "¿ÆÆÕÖÐ¹ú". :func:`read_tags`
repairs such text when the bytes decode cleanly as UTF-8, or as GB18030 into Chinese, and leaves real
Latin-1 ("Café") and other mis-declared code pages (Windows-1256 Arabic) alone.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import unicodedata
from dataclasses import dataclass

import mutagen
from mutagen.id3 import ID3, Encoding

from cloud.media import ffmpeg as ff
from cloud.media.ffmpeg import MediaError, MediaRejected, Probe
from cloud.media.sniff import sniff

log = logging.getLogger(__name__)

LISTENING_BITRATE = "128k"
MAX_TAG_LENGTH = 200
# mutagen loads a whole ID3 tag (cover art included) into memory; a bigger tag is not worth it.
MAX_ID3_BYTES = 32 * 1024 * 1024

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# What a GBK title decodes to besides ASCII: hanzi, CJK punctuation, full-width forms, kana (GBK has it).
_GBK_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef·—…“”‘’、]")


@dataclass(frozen=True)
class AudioPolicy:
    """Limits for accepting audio and budgets for processing it (seconds)."""

    max_duration: float = 6 * 3600
    max_streams: int = 16
    probe_timeout: float = ff.PROBE_TIMEOUT
    duration_scan_timeout: float = 120.0  # see VideoPolicy
    timeout_base: float = 60.0
    timeout_per_second: float = 0.5  # lame encodes 128k MP3 at ~50x real time per core
    memory_limit: int = ff.DEFAULT_MEMORY_LIMIT

    def timeout(self, duration: float | None) -> float:
        """Time budget for the listening copy of ``duration`` seconds of audio."""
        return self.timeout_base + self.timeout_per_second * (duration or 0.0)


DEFAULT_POLICY = AudioPolicy()


def inspect_audio(
    src: str | os.PathLike[str], policy: AudioPolicy | None = None, *, binaries: ff.Binaries | None = None
) -> Probe:
    """Probe an uploaded audio file and apply the policy. Raises MediaRejected, MediaTimeout or MediaError."""
    policy = policy or DEFAULT_POLICY
    result = ff.probe(src, policy.probe_timeout, what="音频", binaries=binaries)
    if result.duration is None:
        # FLAC (or Ogg, WebM) written to a pipe by a recorder: no duration in the header.
        measured = ff.scan_duration(
            src,
            policy.duration_scan_timeout,
            max_seconds=policy.max_duration + 1,
            what="音频",
            binaries=binaries,
        )
        result = dataclasses.replace(result, duration=measured)
    check_policy(result, policy)
    return result


def check_policy(probe: Probe, policy: AudioPolicy | None = None) -> None:
    """Raise MediaRejected, with the reason in Chinese, if ``probe`` breaks a limit of ``policy``."""
    policy = policy or DEFAULT_POLICY
    if len(probe.streams) > policy.max_streams:
        raise MediaRejected(
            f"{len(probe.streams)} streams > {policy.max_streams}",
            f"文件包含的轨道过多（{len(probe.streams)} 条，最多 {policy.max_streams} 条）",
        )
    audio = probe.audio
    if audio is None:
        raise MediaRejected("no audio stream", "文件中没有音频")
    if not audio.codec_name:
        raise MediaRejected("audio codec unknown to ffmpeg", "不支持的音频编码格式")
    if probe.duration is None or probe.duration <= 0:
        raise MediaRejected("duration unknown", "无法读取音频时长，文件可能已损坏")
    if probe.duration > policy.max_duration:
        hours = policy.max_duration / 3600
        raise MediaRejected(
            f"duration {probe.duration:.0f}s > {policy.max_duration:.0f}s",
            f"音频时长超过限制（最长 {hours:g} 小时）",
        )


def listening_argv(
    ffmpeg: str,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    tags: dict[str, str | None] | None = None,
) -> list[str]:
    """The ffmpeg argv for the MP3 listening copy: first audio stream only, cleaned title/artist."""
    audio = probe.audio
    if audio is None:
        raise MediaRejected("no audio stream", "文件中没有音频")
    argv = [
        *ff.ffmpeg_head(ffmpeg),
        *ff.input_args(src),
        "-map", f"0:{audio.index}",
        "-vn", "-sn", "-dn",  # cover art is an image stream: dropped, never decoded
        "-map_metadata", "-1",
        "-map_chapters", "-1",
        "-c:a", "libmp3lame",
        "-b:a", LISTENING_BITRATE,
        "-ar", str(ff.pick_sample_rate(audio.sample_rate)),
        "-ac", str(min(audio.channels or 2, 2)),
    ]  # fmt: skip
    for key in ("title", "artist"):
        value = (tags or {}).get(key)
        if value:
            argv += ["-metadata", f"{key}={value}"]
    # ID3v2.3 (UTF-16 text) is what older players and car radios read; no ID3v1 (Latin-1 only).
    argv += ["-id3v2_version", "3", "-write_id3v1", "0", "-f", "mp3", ff.file_url(dst)]
    return argv


def make_listening_copy(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: AudioPolicy | None = None,
    *,
    tags: dict[str, str | None] | None = None,
    binaries: ff.Binaries | None = None,
) -> Probe:
    """Write a 128 kbit/s MP3 of ``src`` to ``dst`` (temp file, then rename) and return its probe.

    All source metadata is dropped; title and artist from ``tags`` (default: :func:`read_tags`) are
    written back. Raises MediaRejected (policy, corrupt data), MediaTimeout or MediaError (transient).
    """
    policy = policy or DEFAULT_POLICY
    check_policy(probe, policy)
    bins = binaries or ff.find_binaries()
    if tags is None:
        tags = read_tags(src, probe)
    with ff.atomic_output(dst) as tmp:
        argv = listening_argv(bins.ffmpeg, src, tmp, probe, tags)
        try:
            ff.run(argv, policy.timeout(probe.duration), memory_limit=policy.memory_limit)
        except MediaError as exc:
            raise ff.transcode_failure(exc, "音频转码失败，文件可能已损坏") from exc
        ff.check_written(tmp, "MP3")
        result = ff.probe(tmp, policy.probe_timeout, what="音频", binaries=bins)
        if result.audio is None or result.audio.codec_name != "mp3" or result.video_streams:
            raise MediaError(f"listening copy is not a plain MP3: {result}")
        ff.check_complete(probe, result, "音频")
    return result


def strip_location(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    probe: Probe,
    policy: AudioPolicy | None = None,
    *,
    binaries: ff.Binaries | None = None,
) -> bool:
    """Like :func:`cloud.media.video.strip_location`, for a recording (a phone's voice memo)."""
    policy = policy or DEFAULT_POLICY
    return ff.strip_location(
        src, dst, probe, sniff(src).kind, policy.duration_scan_timeout, what="音频", binaries=binaries
    )


# --------------------------------------------------------------------------- tags


_ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB"}
_MP4_ATOMS = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb"}


def read_tags(path: str | os.PathLike[str], probe: Probe | None = None) -> dict[str, str | None]:
    """Return ``{title, artist, album}`` as clean Unicode (None when absent). Never raises for bad tags.

    mutagen is asked first because ID3 frames say which encoding they were written in; what it cannot
    read falls back to ffprobe's tags. Control characters are removed and values are shortened to
    ``MAX_TAG_LENGTH`` characters.
    """
    found = _mutagen_tags(os.fspath(path))
    result: dict[str, str | None] = {}
    for key in ("title", "artist", "album"):
        value = found.get(key)
        if not value and probe is not None:
            value = probe.tag(key)
        result[key] = clean_text(value) if value else None
    return result


def _mutagen_tags(path: str) -> dict[str, str]:
    if _id3_too_big(path):
        return {}
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # a third-party parser on hostile bytes: tags are optional, never fatal
        log.info("mutagen cannot read tags of %s: %r", path, exc)
        return {}
    tags = getattr(audio, "tags", None)
    if not tags:
        return {}
    if isinstance(tags, ID3):
        return _id3_values(tags)
    keys = _MP4_ATOMS if audio.__class__.__name__ == "MP4" else {k: k for k in _ID3_FRAMES}
    values = {}
    for key, tag_key in keys.items():
        try:
            raw = tags.get(tag_key)
        except (KeyError, ValueError, TypeError):
            raw = None
        text = _first_text(raw)
        if text:
            values[key] = text
    return values


def _id3_values(tags: ID3) -> dict[str, str]:
    values = {}
    for key, frame_id in _ID3_FRAMES.items():
        frame = tags.get(frame_id)
        if frame is None:
            continue
        text = " / ".join(str(t) for t in frame.text if str(t))
        if text and frame.encoding == Encoding.LATIN1:
            text = repair_latin1(text)
        if text:
            values[key] = text
    return values


def _first_text(raw) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        raw = next((item for item in raw if item), None)
    return str(raw) if raw else None


def _id3_too_big(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            header = fh.read(10)
    except OSError:
        return True
    if len(header) < 10 or header[:3] != b"ID3":
        return False
    size = 0
    for byte in header[6:10]:  # syncsafe integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    return size > MAX_ID3_BYTES


def repair_latin1(text: str) -> str:
    """Undo bytes of another encoding that were declared Latin-1; return ``text`` unchanged otherwise.

    UTF-8 first: bytes that decode strictly as UTF-8 ("Ã©tÃ©" → "été") are almost never real Latin-1.
    Then GBK, repaired only when all of these hold, so real Latin-1 and other code pages survive: the
    bytes decode strictly as GB18030; no ASCII byte was swallowed into a double-byte character (in
    "Crème" the "m" would be); every non-ASCII character of the result is Chinese text; and there is
    at least one hanzi. Short Windows-1256 or similar text whose every word happens to have an even
    number of letters can still pass; nothing short of a language model tells those apart.
    """
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return text  # already real Unicode beyond Latin-1
    if raw.isascii():
        return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        decoded = raw.decode("gb18030")
    except UnicodeDecodeError:
        return text
    ascii_in = sum(1 for b in raw if b < 0x80)
    ascii_out = sum(1 for ch in decoded if ord(ch) < 0x80)
    if ascii_in != ascii_out:
        return text
    non_ascii = [ch for ch in decoded if ord(ch) >= 0x80]
    if not all(_GBK_TEXT.match(ch) for ch in non_ascii) or not _CJK.search(decoded):
        return text
    return decoded


def clean_text(value: str) -> str:
    """Drop control and format characters (NUL, CR/LF, bidi overrides), squeeze spaces, cap the length."""
    kept = "".join(
        " " if ch.isspace() else ch for ch in value if unicodedata.category(ch)[0] != "C" or ch.isspace()
    )
    return " ".join(kept.split())[:MAX_TAG_LENGTH]
