"""Usage statistics: the raw usage events (kept for audit), the daily and monthly roll-ups that
dashboards and reports read, and the 传播量 share links."""

import enum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow

#: ``station_id`` of use by someone whose station is not recognised (or who has none), and
#: ``region_code`` of use by someone without a region: roll-up keys are never NULL, because a
#: UNIQUE constraint (and so ON CONFLICT) treats NULLs as distinct on SQLite and PostgreSQL.
NO_STATION, NO_REGION = 0, ""


class EventKind(enum.StrEnum):
    DOWNLOAD = "download"
    VIEW = "view"
    SHARE_VISIT = "share_visit"

    @property
    def label(self):
        return EVENT_LABELS[self]


EVENT_LABELS = {EventKind.DOWNLOAD: "下载", EventKind.VIEW: "浏览", EventKind.SHARE_VISIT: "传播"}


class ShareLink(db.Model):
    """One sharer's link to one resource: an unguessable token, given once and kept."""

    __tablename__ = "share_link"
    __table_args__ = (UniqueConstraint("user_id", "resource_id", name="uq_share_link_user_resource"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User")
    resource = relationship("Resource")

    def __repr__(self):
        return f"<ShareLink {self.id} user={self.user_id} resource={self.resource_id}>"


class UsageEvent(db.Model):
    """One use, as it happened: a download, a detail-page view, a share-link visit.

    ``user_id`` is who the use counts toward: the downloader, the viewer, or, for a share visit,
    the sharer (the visitor is never identified: ``visitor_hash`` is a keyed hash of their
    address and browser with a key that changes every day, only to count them once that day).
    ``station_id`` and ``region_code`` are that user's at the time: their station when it was
    recognised then (and its county), else ``NO_STATION`` and the user's own region. ``day`` is
    the Beijing-time day. Only ``is_counted`` events are rolled up.
    """

    __tablename__ = "usage_event"
    __table_args__ = (
        Index("ix_usage_event_day_kind", "day", "kind"),
        Index("ix_usage_event_user_resource_day", "user_id", "resource_id", "day"),
        Index("ix_usage_event_share_day", "share_link_id", "day", "visitor_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    day: Mapped[object] = mapped_column(Date)
    occurred_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"))
    resource_kind: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[int] = mapped_column(default=NO_STATION)
    region_code: Mapped[str] = mapped_column(String(12), default=NO_REGION)
    is_counted: Mapped[bool] = mapped_column(default=True, server_default=true())
    download_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("download_event.id", ondelete="SET NULL")
    )
    share_link_id: Mapped[int | None] = mapped_column(ForeignKey("share_link.id", ondelete="SET NULL"))
    visitor_hash: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self):
        return f"<UsageEvent {self.id} {self.kind} {self.resource_id} {self.day}>"


class UsageDaily(db.Model):
    """Counted events per Beijing day × station × region × resource × type × kind of event."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "station_id",
            "region_code",
            "resource_id",
            "resource_kind",
            "event_kind",
            name="uq_usage_daily_key",
        ),
        Index("ix_usage_daily_region_day", "region_code", "day"),
        Index("ix_usage_daily_station_day", "station_id", "day"),
    )
    KEY = ("day", "station_id", "region_code", "resource_id", "resource_kind", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[object] = mapped_column(Date)
    station_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    resource_id: Mapped[int]
    resource_kind: Mapped[str] = mapped_column(String(16))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)

    def __repr__(self):
        return f"<UsageDaily {self.day} {self.station_id} {self.resource_id} {self.event_kind} {self.count}>"


class UserUsageDaily(db.Model):
    """The same counts per user as well (who they count toward: informants' 传播量, active users)."""

    __tablename__ = "user_usage_daily"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "user_id",
            "station_id",
            "region_code",
            "resource_id",
            "resource_kind",
            "event_kind",
            name="uq_user_usage_daily_key",
        ),
        Index("ix_user_usage_daily_user_day", "user_id", "day"),
        Index("ix_user_usage_daily_region_day", "region_code", "day"),
    )
    KEY = ("day", "user_id", "station_id", "region_code", "resource_id", "resource_kind", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[object] = mapped_column(Date)
    user_id: Mapped[int]
    station_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    resource_id: Mapped[int]
    resource_kind: Mapped[str] = mapped_column(String(16))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)

    def __repr__(self):
        return f"<UserUsageDaily {self.day} {self.user_id} {self.resource_id} {self.event_kind} {self.count}>"


# The coarser roll-ups, each the GROUP BY of the counted raw events at its own grain, kept beside
# the daily ones so that a province's month is read from a few thousand rows instead of a million
# (bench/rows/stats.py). ``month`` is the first day of the Beijing month.


class UsageMonthly(db.Model):
    """Counted events per month × station × region × kind: the dashboards' station rankings and
    lower regions; the report's per-station table."""

    __tablename__ = "usage_monthly"
    __table_args__ = (
        UniqueConstraint("month", "station_id", "region_code", "event_kind", name="uq_usage_monthly_key"),
        Index("ix_usage_monthly_region_month", "region_code", "month"),
    )
    KEY = ("month", "station_id", "region_code", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    station_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)


class KindMonthly(db.Model):
    """Counted events per month × region × resource type × kind: use by type."""

    __tablename__ = "kind_monthly"
    __table_args__ = (
        UniqueConstraint("month", "region_code", "resource_kind", "event_kind", name="uq_kind_monthly_key"),
        Index("ix_kind_monthly_region_month", "region_code", "month"),
    )
    KEY = ("month", "region_code", "resource_kind", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    region_code: Mapped[str] = mapped_column(String(12))
    resource_kind: Mapped[str] = mapped_column(String(16))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)


class ResourceMonthly(db.Model):
    """Counted events per month × region × resource × kind: the most used resources."""

    __tablename__ = "resource_monthly"
    __table_args__ = (
        UniqueConstraint("month", "region_code", "resource_id", "event_kind", name="uq_resource_monthly_key"),
        Index("ix_resource_monthly_region_month", "region_code", "month"),
        # The top resources of a month: read from the index alone, in resource order.
        Index(
            "ix_resource_monthly_month_resource", "month", "resource_id", "region_code", "event_kind", "count"
        ),
    )
    KEY = ("month", "region_code", "resource_id", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    region_code: Mapped[str] = mapped_column(String(12))
    resource_id: Mapped[int]
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)


class UserUsageMonthly(db.Model):
    """Counted events per month × user × region × kind: informants' 传播量 and who was active."""

    __tablename__ = "user_usage_monthly"
    __table_args__ = (
        UniqueConstraint("month", "user_id", "region_code", "event_kind", name="uq_user_usage_monthly_key"),
        Index("ix_user_usage_monthly_region_month", "region_code", "month"),
        # The informants' 传播量 ranking reads a month's share visits from the index alone, in user
        # order (the GROUP BY needs no sort).
        Index("ix_user_usage_monthly_kind_month", "event_kind", "month", "user_id", "region_code", "count"),
    )
    KEY = ("month", "user_id", "region_code", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    user_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)


class StationMonthly(db.Model):
    """Counted events per month × station × region, all kinds together: ranking a province's
    stations reads one row per station, not one per kind of event."""

    __tablename__ = "station_monthly"
    __table_args__ = (UniqueConstraint("month", "station_id", "region_code", name="uq_station_monthly_key"),)
    KEY = ("month", "station_id", "region_code")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    station_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(default=0)


class UserMonthly(db.Model):
    """Counted events per month × user × region, all kinds together: who was active where."""

    __tablename__ = "user_monthly"
    __table_args__ = (UniqueConstraint("month", "user_id", "region_code", name="uq_user_monthly_key"),)
    KEY = ("month", "user_id", "region_code")

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[object] = mapped_column(Date)
    user_id: Mapped[int]
    region_code: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(default=0)


class RegionDaily(db.Model):
    """Counted events per day × region × kind: the dashboards' day-by-day chart."""

    __tablename__ = "region_daily"
    __table_args__ = (
        UniqueConstraint("day", "region_code", "event_kind", name="uq_region_daily_key"),
        Index("ix_region_daily_region_day", "region_code", "day"),
    )
    KEY = ("day", "region_code", "event_kind")

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[object] = mapped_column(Date)
    region_code: Mapped[str] = mapped_column(String(12))
    event_kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)


class MonthlyReport(db.Model):
    """A region's monthly report, generated once and kept for download (one per region and month).

    ``region_code`` is the short code (41, 4101, 410102); ``month`` is ``YYYY-MM``. The stored file
    is the XLSX or CSV the report was generated as. ``submitted_at`` is the city's 报送 to the
    province, with its note and the highlight activities it chose.
    """

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("region_code", "month", name="uq_monthly_report_region_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    month: Mapped[str] = mapped_column(String(7))
    format: Mapped[str] = mapped_column(String(8))
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    submitted_at: Mapped[object | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    submission_note: Mapped[str] = mapped_column(Text, default="")
    highlight_ids: Mapped[str] = mapped_column(String(1000), default="")  # comma-separated activity ids

    stored_file = relationship("StoredFile", lazy="joined")
    region = relationship("Region", lazy="joined")

    def __repr__(self):
        return f"<MonthlyReport {self.id} {self.region_code} {self.month}>"
