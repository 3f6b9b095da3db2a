"""The media pipeline: one driver and a per-type table of steps.

Each type's function takes the local copy of the source and a scratch directory and returns the
facts of the source and the renditions it made. The driver (``run``) fetches the source, calls the
type's function and reports progress; storing the results is the job's business (tasks.py).
Every function here raises MediaRejected (the file is the problem: never retried), MediaError
(possibly transient) or StorageError.
"""

import os
from dataclasses import dataclass, field

from cloud.files.service import get_storage
from cloud.media import audio, location, printpdf, video, wallchart
from cloud.media import images as image_tools
from cloud.media.ffmpeg import MediaRejected
from cloud.media.sniff import sniff
from cloud.resources.models import Kind, Role


@dataclass
class Output:
    role: Role
    path: str
    mime: str
    name: str
    facts: dict = field(default_factory=dict)


@dataclass
class Result:
    source_facts: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    body_text: str | None = None
    # The source without its location metadata, when it had any: it replaces the stored source.
    clean_source: str | None = None


def _stream_facts(probe):
    v, a = probe.video, probe.audio
    facts = {"duration": probe.duration, "bitrate": probe.bit_rate}
    if v is not None:
        facts.update(
            width=v.display_width,
            height=v.display_height,
            video_codec=v.codec_name,
            rotation=v.rotation,
            fps=round(v.fps, 3) if v.fps else None,
        )
    if a is not None:
        facts.update(audio_codec=a.codec_name, channels=a.channels, sample_rate=a.sample_rate)
    return facts


def process_video(source, workdir, progress, title):
    probe = video.inspect_video(source)
    clean = os.path.join(workdir, "source-clean")
    if video.strip_location(source, clean, probe):
        source = clean
    else:
        clean = None
    progress("转码标清版本", 10)
    sd_path = os.path.join(workdir, "sd.mp4")
    poster_path = os.path.join(workdir, "poster.jpg")
    thumb_path = os.path.join(workdir, "thumbnail.jpg")
    # One decode feeds all three (one ffmpeg run with a split filter graph).
    made = video.make_renditions(source, sd_path, poster_path, thumb_path, probe)
    sd, poster_size, thumb_size = made.sd, made.poster, made.thumbnail
    return Result(
        source_facts=_stream_facts(probe),
        outputs=[
            Output(Role.SD, sd_path, "video/mp4", f"{title}（标清）.mp4", _stream_facts(sd)),
            Output(Role.POSTER, poster_path, "image/jpeg", f"{title}.jpg", _size(poster_size)),
            Output(Role.THUMBNAIL, thumb_path, "image/jpeg", f"{title}.jpg", _size(thumb_size)),
        ],
        clean_source=clean,
    )


def process_audio(source, workdir, progress, title):
    probe = audio.inspect_audio(source)
    tags = audio.read_tags(source, probe)
    clean = os.path.join(workdir, "source-clean")
    if audio.strip_location(source, clean, probe):
        source = clean
    else:
        clean = None
    progress("转码试听版本", 20)
    mp3_path = os.path.join(workdir, "listening.mp3")
    mp3 = audio.make_listening_copy(source, mp3_path, probe, tags=tags)
    facts = _stream_facts(probe)
    facts.update({f"tag_{k}": v for k, v in tags.items() if v})
    return Result(
        source_facts=facts,
        outputs=[Output(Role.LISTENING, mp3_path, "audio/mpeg", f"{title}.mp3", _stream_facts(mp3))],
        clean_source=clean,
    )


def _without_location(source, workdir):
    """The path of a location-free copy of an image or wall chart, or None when it had no location."""
    clean = os.path.join(workdir, "source-clean")
    return clean if location.strip_location(source, clean) else None


def process_image(source, workdir, progress, title):
    facts = image_tools.inspect_image(source)
    clean = _without_location(source, workdir)
    source = clean or source
    progress("生成预览图", 30)
    preview_path = os.path.join(workdir, "preview.jpg")
    preview = image_tools.make_preview(source, preview_path)
    thumb_path = os.path.join(workdir, "thumbnail.jpg")
    thumb = image_tools.make_thumbnail(source, thumb_path)
    width, height = facts.width, facts.height
    if facts.orientation in (5, 6, 7, 8):  # EXIF says the picture is shown turned a quarter
        width, height = height, width
    return Result(
        source_facts={
            "width": width,
            "height": height,
            "dpi": facts.dpi[0] if facts.dpi else None,
            "colour_mode": facts.mode,
            "format": facts.format,
        },
        outputs=[
            Output(Role.PREVIEW, preview_path, "image/jpeg", f"{title}.jpg", _size(preview)),
            Output(Role.THUMBNAIL, thumb_path, "image/jpeg", f"{title}.jpg", _size(thumb)),
        ],
        clean_source=clean,
    )


def process_wallchart(source, workdir, progress, title):
    facts = wallchart.inspect_wallchart(source)
    clean = _without_location(source, workdir)
    source = clean or source
    progress("生成预览图", 20)
    preview_path = os.path.join(workdir, "preview.jpg")
    preview = wallchart.make_wallchart_preview(source, preview_path)
    thumb_path = os.path.join(workdir, "thumbnail.jpg")
    thumb = image_tools.make_thumbnail(preview_path, thumb_path)
    outputs = [
        Output(Role.PREVIEW, preview_path, "image/jpeg", f"{title}.jpg", _size(preview)),
        Output(Role.THUMBNAIL, thumb_path, "image/jpeg", f"{title}.jpg", _size(thumb)),
    ]
    progress("生成打印版PDF", 60)
    outputs.append(make_print_pdf(source, workdir, facts, title))
    return Result(
        source_facts={
            "width": facts.width,
            "height": facts.height,
            "dpi": facts.dpi_x,
            "dpi_y": facts.dpi_y,
            "colour_mode": facts.colour_mode,
            "bit_depth": facts.bit_depth,
            "channels": facts.channels,
            "width_mm": facts.width_mm,
            "height_mm": facts.height_mm,
            "paper": facts.paper,
            "orientation": facts.orientation,
            "warnings": list(facts.warnings),
            "format": facts.format,
        },
        outputs=outputs,
        clean_source=clean,
    )


PRINT_DEFAULT_DPI = 300  # when a PSD states none, print it as designed for 300 dpi


def make_print_pdf(source, workdir, facts, title):
    """A PDF of a wall chart at its physical size, for stations without Photoshop.

    A JPEG chart goes into the PDF as it is (no re-encoding); a PSD/PSB is composited at full size
    first (header checked, pixel limit). CMYK stays CMYK, so a print shop gets the inks of the
    original; other colour modes print as sRGB. The page is pixels / DPI inches.
    """
    if facts.format == "JPEG":
        jpeg = source
    else:
        jpeg = os.path.join(workdir, "print.jpg")
        wallchart.make_print_jpeg(source, jpeg)
    dpi = facts.dpi_x or PRINT_DEFAULT_DPI
    pdf_path = os.path.join(workdir, "print.pdf")
    written = printpdf.write_jpeg_pdf(
        jpeg, pdf_path, dpi=dpi, title=title, max_pixels=wallchart.WALLCHART_MAX_PIXELS
    )
    if jpeg != source:
        os.unlink(jpeg)
    facts_out = {
        "width": written.width,
        "height": written.height,
        "dpi": dpi,
        "colour_mode": written.colour_mode,
        "width_mm": written.width_mm,
        "height_mm": written.height_mm,
    }
    return Output(Role.PRINT, pdf_path, "application/pdf", f"{title}（打印版）.pdf", facts_out)


def process_article(resource, workdir, progress, title):
    """Re-encode every inline picture for readers; the first one also makes the cover thumbnail."""
    from cloud.resources.articles import inline_sources

    outputs = []
    sources = inline_sources(resource)
    for number, inline in enumerate(sources, 1):
        progress("处理插图", 5 + 85 * number // (len(sources) + 1))
        original = fetch(inline.stored_file, workdir, f"inline-{number}")
        require_content(Kind.ARTICLE.facts.inline_files, original)
        image_tools.inspect_image(original)
        path = os.path.join(workdir, f"inline-{number}.jpg")
        size = image_tools.make_preview(original, path)
        facts = {**_size(size), "source_file_id": inline.stored_file_id}
        outputs.append(Output(Role.INLINE_IMAGE, path, "image/jpeg", f"{title}-{number}.jpg", facts))
        if number == 1:
            thumb_path = os.path.join(workdir, "thumbnail.jpg")
            thumb = image_tools.make_thumbnail(path, thumb_path)
            outputs.append(Output(Role.THUMBNAIL, thumb_path, "image/jpeg", f"{title}.jpg", _size(thumb)))
    return Result(outputs=outputs, body_text=resource.body_text)


STEPS = {
    Kind.VIDEO: process_video,
    Kind.AUDIO: process_audio,
    Kind.IMAGE: process_image,
    Kind.WALLCHART: process_wallchart,
}


def run(resource, workdir, progress):
    """Process ``resource`` in ``workdir`` and return a Result.

    Raises MediaRejected, MediaError or StorageError.
    """
    title = resource.title
    progress("读取源文件", 2)
    if resource.kind == Kind.ARTICLE:
        return process_article(resource, workdir, progress, title)
    source_file = resource.file(Role.SOURCE)
    if source_file is None:
        raise MediaRejected("resource has no source file", "资源缺少源文件，请重新上传")
    source = fetch(source_file.stored_file, workdir, "source")
    require_content(Kind(resource.kind).facts.files, source)
    return STEPS[Kind(resource.kind)](source, workdir, progress, title)


def require_content(rules, path):
    """Refuse a file whose content its kind does not take (the kinds table, cloud.resources.kinds).

    Intake checked it on arrival; this holds for files stored before a format left the table and
    for every re-run. Raises MediaRejected.
    """
    found = sniff(path)
    if found.kind not in rules.contents:
        raise MediaRejected(
            f"content {found.kind} is not a {rules.label} format",
            f"文件内容是{found.label}，不能作为{rules.label}处理",
        )


def fetch(stored_file, workdir, name):
    """Stream a stored object into the scratch directory and return the local path."""
    path = os.path.join(workdir, name)
    with open(path, "wb") as out:
        for chunk in get_storage().open(stored_file.key):
            out.write(chunk)
    return path


def _size(size):
    width, height = size
    return {"width": width, "height": height}
