"""Resources, their stored files and renditions, processing jobs and the audit trail."""

import enum

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow
from cloud.resources.kinds import KIND_LABELS, Kind  # noqa: F401  (the kinds live in kinds.py)
from cloud.resources.lifecycle import State

CHANNELS = ("科技", "健康", "军事", "校园", "社区", "乡村", "应急", "其他")


def split_tags(tags):
    """The tags of a resource, kept comma-separated in one column."""
    return [t for t in (tags or "").split(",") if t]


class Role(enum.StrEnum):
    """What a stored file is to its resource."""

    SOURCE = "source"
    SD = "sd"
    PREVIEW = "preview"
    THUMBNAIL = "thumbnail"
    POSTER = "poster"
    LISTENING = "listening"
    INLINE_IMAGE = "inline-image"  # an article's picture, re-encoded for readers
    INLINE_SOURCE = "inline-source"  # the picture as the author uploaded it
    PRINT = "print"  # a wall chart as a PDF at its physical size, for stations without Photoshop

    @property
    def label(self):
        return ROLE_LABELS[self]


#: What each file is called on the pages (the review page, the owner's page, the API's role_label).
ROLE_LABELS = {
    Role.SOURCE: "源文件",
    Role.SD: "标清版本",
    Role.PREVIEW: "预览图",
    Role.THUMBNAIL: "缩略图",
    Role.POSTER: "封面",
    Role.LISTENING: "试听版",
    Role.INLINE_IMAGE: "插图",
    Role.INLINE_SOURCE: "插图原图",
    Role.PRINT: "打印版",
}


# Files the author provided; everything else is made by processing and replaced by each run.
AUTHORED_ROLES = (Role.SOURCE, Role.INLINE_SOURCE)


class Resource(db.Model):
    __tablename__ = "resource"
    __table_args__ = (Index("ix_resource_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(8), default="其他")
    tags: Mapped[str] = mapped_column(String(500), default="")  # comma-separated, normalised
    body_html: Mapped[str] = mapped_column(Text, default="")  # articles: sanitized HTML
    body_text: Mapped[str] = mapped_column(Text, default="")  # articles: plain text for search
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=State.DRAFT)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[object | None] = mapped_column(UTCDateTime)
    published_at: Mapped[object | None] = mapped_column(UTCDateTime, index=True)
    download_count: Mapped[int] = mapped_column(default=0)
    # The download count the search index last took in (下载最多): downloads only change the
    # count above, and a periodic batch folds the changed ones into the index (catalog.tasks).
    indexed_download_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # A reviewer's claim: while it lasts, nobody else decides on this resource.
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    claim_expires_at: Mapped[object | None] = mapped_column(UTCDateTime)

    institution = relationship("Institution", lazy="joined")
    uploader = relationship("User", lazy="joined", foreign_keys=[uploader_id])
    claimed_by = relationship("User", foreign_keys=[claimed_by_id])
    files: Mapped[list["ResourceFile"]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", order_by="ResourceFile.id"
    )
    events: Mapped[list["ResourceEvent"]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", order_by="ResourceEvent.id"
    )
    jobs: Mapped[list["ProcessingJob"]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", order_by="ProcessingJob.id"
    )

    @property
    def kind_label(self):
        return Kind(self.kind).label

    @property
    def state_label(self):
        return State(self.state).label

    @property
    def tag_list(self):
        return split_tags(self.tags)

    @property
    def institution_name(self):
        return self.institution.name

    def file(self, role):
        return next((f for f in self.files if f.role == role), None)

    @property
    def rejection_reason(self):
        """Why the reviewer said 未通过 (the comment of the last move to rejected), while it stands."""
        if self.state != State.REJECTED:
            return None
        last = next((e for e in reversed(self.events) if e.to_state == State.REJECTED), None)
        return last.comment if last is not None else ""

    @property
    def latest_job(self):
        return self.jobs[-1] if self.jobs else None

    def __repr__(self):
        return f"<Resource {self.id} {self.kind} {self.state}>"


class ResourceFile(db.Model):
    """One stored object of a resource: the source or a rendition, with its media facts."""

    # Facts with a column of their own; any other fact is kept in the JSON ``facts``.
    FACT_COLUMNS = (
        "width",
        "height",
        "duration",
        "bitrate",
        "video_codec",
        "audio_codec",
        "dpi",
        "colour_mode",
    )

    __tablename__ = "resource_file"
    __table_args__ = (Index("ix_resource_file_resource_role", "resource_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"), unique=True)
    mime_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration: Mapped[float | None] = mapped_column(Float)
    bitrate: Mapped[int | None] = mapped_column(BigInteger)
    video_codec: Mapped[str | None] = mapped_column(String(32))
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    dpi: Mapped[float | None] = mapped_column(Float)
    colour_mode: Mapped[str | None] = mapped_column(String(16))
    facts: Mapped[dict] = mapped_column(JSON, default=dict)  # rotation, paper size, warnings, tags…
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    resource: Mapped[Resource] = relationship(back_populates="files")
    stored_file = relationship("StoredFile", lazy="joined")

    @property
    def size(self):
        return self.stored_file.size

    @property
    def role_label(self):
        return Role(self.role).label

    def __repr__(self):
        return f"<ResourceFile {self.id} {self.role} of {self.resource_id}>"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class ProcessingJob(db.Model):
    """One run of the media pipeline for a resource; the row the uploader watches."""

    __tablename__ = "processing_job"
    __table_args__ = (Index("ix_processing_job_status_lease", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    step: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[int] = mapped_column(default=0)  # percent
    error: Mapped[str] = mapped_column(String(500), default="")  # Chinese, for the uploader
    detail: Mapped[str] = mapped_column(Text, default="")  # English, for operators
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[object | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[object | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[object | None] = mapped_column(UTCDateTime)
    # When the task was last handed to the queue (None: never, e.g. the enqueue after the commit
    # failed). Queued jobs not enqueued, or enqueued long ago, are enqueued again by the sweep.
    enqueued_at: Mapped[object | None] = mapped_column(UTCDateTime)
    worker: Mapped[str] = mapped_column(String(128), default="")  # "host:pid" running it

    resource: Mapped[Resource] = relationship(back_populates="jobs")

    def __repr__(self):
        return f"<ProcessingJob {self.id} {self.status} resource={self.resource_id}>"


class ResourceEvent(db.Model):
    """The audit trail: one row per lifecycle transition."""

    __tablename__ = "resource_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    resource: Mapped[Resource] = relationship(back_populates="events")
    actor = relationship("User", lazy="joined")

    def __repr__(self):
        return f"<ResourceEvent {self.resource_id} {self.from_state}->{self.to_state}>"
