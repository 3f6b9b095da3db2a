"""What stations do in the resource center: downloads and searches."""

import enum

from sqlalchemy import ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class DownloadEvent(db.Model):
    """One download: who (and their station's region), what, which rendition, when.

    Every request for a download link leaves an event (for audit and statistics), but only the
    first by a user for a resource and rendition within ``KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES`` is
    ``is_counted``: repeats (a reload, a resumed download, a cross-site ``<img>``) do not raise
    the resource's download count. Statistics count the counted events.
    """

    __tablename__ = "download_event"
    __table_args__ = (
        Index("ix_download_event_resource_created", "resource_id", "created_at"),
        Index("ix_download_event_user_resource", "user_id", "resource_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"))
    resource_file_id: Mapped[int | None] = mapped_column(ForeignKey("resource_file.id", ondelete="SET NULL"))
    rendition: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)
    is_counted: Mapped[bool] = mapped_column(default=True, server_default=true())

    def __repr__(self):
        return f"<DownloadEvent {self.resource_id}/{self.rendition} by {self.user_id}>"


class SearchLog(db.Model):
    """A search as typed, and how many results it found (热门搜索 / 无结果搜索)."""

    __tablename__ = "search_log"
    __table_args__ = (Index("ix_search_log_query_created", "query", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(String(100))
    result_count: Mapped[int]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self):
        return f"<SearchLog {self.query!r} {self.result_count}>"


class SearchTermStatus(enum.StrEnum):
    """What admins decided about a query typed into 资源中心 (no row: nothing decided)."""

    HIDDEN = "hidden"  # never suggested; still counted in the admins' lists
    BLOCKED = "blocked"  # never suggested and left out of the admins' 热门 lists too

    @property
    def label(self):
        return {"hidden": "不推荐", "blocked": "已屏蔽"}[self.value]


class SearchTerm(db.Model):
    """An admin's decision about one query as typed (大家都在搜 / 热门搜索 curation)."""

    __tablename__ = "search_term"

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<SearchTerm {self.query!r} {self.status}>"


class PendingIndexUpdate(db.Model):
    """A change to a resource that the search index has not taken in yet (an outbox row).

    Written in the same transaction as the change; the index task deletes it once the index has
    the change. Rows that outlive a short grace period mean the task was lost (the enqueue after
    the commit failed, or its worker died): the recovery sweep enqueues it again.
    """

    __tablename__ = "pending_index_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a row must outlive its resource so the index forgets the resource too.
    resource_id: Mapped[int] = mapped_column(index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self):
        return f"<PendingIndexUpdate {self.resource_id}>"


class CatalogVersion(db.Model):
    """One row (id 1) whose ``version`` goes up with every change of what the resource center
    lists: in the transaction that publishes, withdraws or re-indexes a resource, and in the
    worker's once the index has taken a change in (``pagecache.bump``). Pages cached for
    anonymous visitors are kept only while it stays the same."""

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)

    def __repr__(self):
        return f"<CatalogVersion {self.version}>"
