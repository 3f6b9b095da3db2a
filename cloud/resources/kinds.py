"""The resource kinds and every fact about each, in one table.

What a kind is called in Chinese, which files it takes (name extensions and the content those
must hold), the setting with its size limit, what processing makes of it and the hint the upload
page shows: the upload page, the API (``/api/v1/resource-kinds`` and the OpenAPI enums), intake,
the tus uploads and the pipeline all read them from here, so a changed ``KEPU_MAX_*`` setting or
a new format shows everywhere at once.

``cloud.media.sniff`` is the gate that enforces a kind's :class:`~cloud.media.sniff.FileRules`; it
knows file formats, not kinds.
"""

import enum
from dataclasses import dataclass

from flask import current_app

from cloud.media.sniff import FileRules
from cloud.units import human_size


class Kind(enum.StrEnum):
    ARTICLE = "article"
    IMAGE = "image"
    VIDEO = "video"
    WALLCHART = "wallchart"
    AUDIO = "audio"

    @property
    def label(self):
        return KINDS[self].label

    @property
    def facts(self):
        return KINDS[self]


@dataclass(frozen=True)
class KindFacts:
    """One kind of upload: a resource kind, or an article's inline picture (``article_image``)."""

    key: str
    label: str
    #: What the uploader may send; None for an article (its body is written on the page).
    files: FileRules | None
    #: The ``KEPU_MAX_*`` setting with the largest file allowed.
    limit_setting: str
    #: What processing makes of it, for the upload page.
    makes: str
    #: The pictures inside it (an article's), under their own rules and the same limit.
    inline_files: FileRules | None = None

    @property
    def extensions(self):
        return self.files.extensions if self.files else ()

    @property
    def formats(self):
        """The accepted extensions as the page lists them: ``jpg、png、gif、webp``."""
        return _listed(self.extensions)

    def limit(self):
        """The largest file allowed, in bytes (read from the app's settings)."""
        return current_app.config[self.limit_setting]

    def hint(self):
        """The upload page's line for this kind, with the configured limit."""
        size = human_size(self.limit())
        if self.files is None:
            formats = _listed(self.inline_files.extensions)
            return f"{self.makes}插图支持 {formats} 格式，每张最大 {size}。"
        return f"支持 {self.formats} 格式，单个文件最大 {size}。{self.makes}"

    def as_json(self):
        return {
            "kind": self.key,
            "label": self.label,
            "extensions": list(self.extensions),
            "max_bytes": self.limit(),
            "max_size": human_size(self.limit()),
            "hint": self.hint(),
        }


# Second spellings of an extension, accepted but not listed in hints (jpeg next to jpg).
_SPELLINGS = frozenset({"jpeg", "m4v", "oga"})


def _listed(extensions):
    return "、".join(ext for ext in extensions if ext not in _SPELLINGS)


IMAGE_FILES = FileRules(
    label="图片",
    extensions=("jpg", "jpeg", "png", "gif", "webp"),
    contents=frozenset({"jpeg", "png", "gif", "webp"}),
)

KINDS = {
    Kind.ARTICLE: KindFacts(
        key="article",
        label="图文",
        files=None,
        limit_setting="KEPU_MAX_IMAGE_BYTES",  # each inline picture
        makes="在线编写，可插入图片，系统用第一张图片生成封面。",
        inline_files=IMAGE_FILES,
    ),
    Kind.IMAGE: KindFacts(
        key="image",
        label="图片",
        files=IMAGE_FILES,
        limit_setting="KEPU_MAX_IMAGE_BYTES",
        makes="系统会生成预览图，并去除照片中的拍摄位置信息。",
    ),
    Kind.VIDEO: KindFacts(
        key="video",
        label="视频",
        files=FileRules(
            label="视频",
            extensions=("mp4", "m4v", "mov", "webm", "mkv", "avi", "3gp"),
            contents=frozenset({"mp4", "mov", "3gp", "webm", "mkv", "avi"}),
        ),
        limit_setting="KEPU_MAX_VIDEO_BYTES",
        makes="系统会自动生成标清版本和封面。",
    ),
    Kind.WALLCHART: KindFacts(
        key="wallchart",
        label="挂图",
        files=FileRules(
            label="挂图",
            extensions=("jpg", "jpeg", "psd", "psb"),
            contents=frozenset({"jpeg", "psd", "psb"}),
        ),
        limit_setting="KEPU_MAX_WALLCHART_BYTES",
        makes="原文件将原样提供给e站打印，系统另生成预览图和打印版 PDF。",
    ),
    Kind.AUDIO: KindFacts(
        key="audio",
        label="音频",
        files=FileRules(
            label="音频",
            extensions=("mp3", "m4a", "wav", "ogg", "oga", "opus", "flac"),
            # An .m4a written with a generic ISO brand sniffs as mp4 (sniff.EXT_FAMILY lets that
            # through for .m4a only).
            contents=frozenset({"mp3", "m4a", "mp4", "wav", "ogg", "opus", "flac"}),
        ),
        limit_setting="KEPU_MAX_AUDIO_BYTES",
        makes="系统会生成 MP3 收听版。",
    ),
}

#: An article's inline picture: uploaded through tus like a file resource, under the image rules.
ARTICLE_IMAGE = KindFacts(
    key="article_image",
    label="文章配图",
    files=IMAGE_FILES,
    limit_setting="KEPU_MAX_IMAGE_BYTES",
    makes="",
)

KIND_LABELS = {kind: facts.label for kind, facts in KINDS.items()}

#: The kinds a file is uploaded for, in the order the upload page offers them.
FILE_KINDS = tuple(kind for kind in KINDS if KINDS[kind].files is not None)

#: What a tus upload's ``resource_type`` may be.
UPLOAD_TYPES = {facts.key: facts for facts in (*(KINDS[k] for k in FILE_KINDS), ARTICLE_IMAGE)}


def file_rules(kind):
    """The FileRules of a file kind (``"image"``, ``"video"``, …). Raises KeyError for others."""
    rules = KINDS[Kind(kind)].files
    if rules is None:
        raise KeyError(kind)
    return rules
