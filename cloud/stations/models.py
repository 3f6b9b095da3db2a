"""科普中国e站: the station record, its audit trail, on-site checks, photos, activities, staff scopes."""

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow
from cloud.stations.states import RECOGNISED_STATES, State

#: 依托场所: the host facilities the rules name (第八条 and the provincial notice).
FACILITY_TYPES = (
    "新时代文明实践中心",
    "党群(政务)服务中心",
    "社区综合性文化服务中心",
    "学校",
    "医院",
    "农村专业技术协会",
    "科普教育(示范)基地",
    "公共交通场站",
    "其他",
)

#: 五有: key -> (the condition, what the applicant is asked to describe).
CONDITIONS = {
    "network": ("有网络", "网络接入方式与带宽，例如：光纤宽带 100M、无线全覆盖"),
    "staff": ("有人员", "负责人员与信息员情况，例如：专职管理员 1 名、信息员 5 名"),
    "venue": ("有场所", "活动场所面积与位置，例如：一楼科普活动室 60 平方米"),
    "activity": ("有活动", "开展科普活动的计划或情况，例如：每月一次科普讲座"),
    "terminal": ("有终端", "可使用的终端设备，例如：电子屏 1 块、电脑 2 台"),
}

#: StationPhoto.purpose of photos that are not 五有 evidence.
FIELD_CHECK_PHOTO, ACTIVITY_PHOTO = "field_check", "activity_photo"

#: 终端: what a station can show the cloud's resources on.
TERMINALS = {
    "phone": "手机",
    "desktop": "台式电脑",
    "laptop": "笔记本电脑",
    "screen": "电子屏",
    "tv": "电视",
    "projector": "投影仪",
    "kiosk": "科普触摸屏/一体机",
}

#: 活动类型.
ACTIVITY_KINDS = ("全国科普日", "科技活动周", "日常科普", "培训", "展览", "竞赛", "其他")


class Station(db.Model):
    __tablename__ = "station"
    __table_args__ = (Index("ix_station_region_state", "region_code", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Given once, when the city recognises the station: county code + sequence, never reused.
    number: Mapped[str | None] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    facility_type: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))  # a county (县级)
    address: Mapped[str] = mapped_column(String(200))
    manager_name: Mapped[str] = mapped_column(String(50))
    manager_phone: Mapped[str] = mapped_column(String(11), index=True)
    network: Mapped[str] = mapped_column(Text, default="")
    staff: Mapped[str] = mapped_column(Text, default="")
    venue: Mapped[str] = mapped_column(Text, default="")
    activity: Mapped[str] = mapped_column(Text, default="")
    terminal: Mapped[str] = mapped_column(Text, default="")
    terminals: Mapped[str] = mapped_column(String(200), default="")  # comma-separated TERMINALS keys
    state: Mapped[str] = mapped_column(String(20), default=State.APPLIED)
    # The account that applied and manages the station (None for stations imported in bulk).
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", use_alter=True))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[object | None] = mapped_column(UTCDateTime)
    recognised_at: Mapped[object | None] = mapped_column(UTCDateTime)
    recognised_by_code: Mapped[str | None] = mapped_column(String(12))  # the recognising city
    rectify_reason: Mapped[str] = mapped_column(String(1000), default="")
    rectify_deadline: Mapped[object | None] = mapped_column(Date)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)

    region = relationship("Region", lazy="joined")
    manager = relationship("User", foreign_keys=[manager_id])
    events: Mapped[list["StationEvent"]] = relationship(
        back_populates="station", order_by="StationEvent.id", cascade="all, delete-orphan"
    )
    photos: Mapped[list["StationPhoto"]] = relationship(
        back_populates="station", order_by="StationPhoto.id", cascade="all, delete-orphan"
    )

    @property
    def is_recognised(self):
        return State(self.state) in RECOGNISED_STATES

    @property
    def state_label(self):
        return State(self.state).label

    @property
    def terminal_list(self):
        return [t for t in (self.terminals or "").split(",") if t in TERMINALS]

    @property
    def terminal_labels(self):
        return "、".join(TERMINALS[t] for t in self.terminal_list)

    def condition_photos(self, key):
        """The 五有 evidence for condition ``key`` (not the photos of checks or activities)."""
        return [
            p for p in self.photos if p.purpose == key and p.activity_id is None and p.field_check_id is None
        ]

    def __repr__(self):
        return f"<Station {self.id} {self.number or '-'} {self.state}>"


class StationEvent(db.Model):
    """The audit trail: every step of the workflow, who took it, when, and why."""

    __tablename__ = "station_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    station: Mapped[Station] = relationship(back_populates="events")
    actor = relationship("User", lazy="joined")

    def __repr__(self):
        return f"<StationEvent {self.id} {self.station_id} {self.from_state}->{self.to_state}>"


class FieldCheck(db.Model):
    """实地核查: the county association's on-site check of an application."""

    __tablename__ = "station_field_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), index=True)
    checked_on: Mapped[object] = mapped_column(Date)
    checkers: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    photos = relationship("StationPhoto", order_by="StationPhoto.id", viewonly=True)

    def __repr__(self):
        return f"<FieldCheck {self.id} station={self.station_id} {self.checked_on}>"


class StationActivity(db.Model):
    """有活动: a science activity a recognised station held."""

    __tablename__ = "station_activity"
    __table_args__ = (Index("ix_station_activity_station_held", "station_id", "held_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"))
    held_on: Mapped[object] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    place: Mapped[str] = mapped_column(String(200), default="")
    participants: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # 亮点活动 / 优秀案例, marked by the county association; the monthly report lists them.
    highlighted_at: Mapped[object | None] = mapped_column(UTCDateTime)
    highlighted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    station = relationship(Station, lazy="joined")
    photos = relationship("StationPhoto", order_by="StationPhoto.id", viewonly=True)
    resource_links: Mapped[list["ActivityResource"]] = relationship(cascade="all, delete-orphan")

    @property
    def is_highlight(self):
        return self.highlighted_at is not None

    def __repr__(self):
        return f"<StationActivity {self.id} station={self.station_id} {self.held_on}>"


class ActivityResource(db.Model):
    """A cloud resource an activity used."""

    __tablename__ = "station_activity_resource"

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("station_activity.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), primary_key=True)

    resource = relationship("Resource", lazy="joined")

    def __repr__(self):
        return f"<ActivityResource {self.activity_id} {self.resource_id}>"


class StationPhoto(db.Model):
    """A re-encoded photo (no EXIF): 五有 evidence, an on-site check, or an activity."""

    __tablename__ = "station_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), index=True)
    # A CONDITIONS key, FIELD_CHECK_PHOTO or ACTIVITY_PHOTO.
    purpose: Mapped[str] = mapped_column(String(16))
    field_check_id: Mapped[int | None] = mapped_column(
        ForeignKey("station_field_check.id", ondelete="CASCADE")
    )
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("station_activity.id", ondelete="CASCADE"))
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    station: Mapped[Station] = relationship(back_populates="photos")
    stored_file = relationship("StoredFile", lazy="joined")

    def __repr__(self):
        return f"<StationPhoto {self.id} station={self.station_id} {self.purpose}>"


class StaffAssignment(db.Model):
    """Binds a 科协 staff account to the one region its association serves (its whole scope).

    Kept apart from ``User.region_code``, which every user may change on their profile: a scope
    is granted by the level above, never chosen.
    """

    __tablename__ = "staff_assignment"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", foreign_keys=[user_id], back_populates="staff_assignment")
    region = relationship("Region", lazy="joined")

    def __repr__(self):
        return f"<StaffAssignment {self.user_id} {self.region_code}>"


class StationCounter(db.Model):
    """The last sequence number given in a county; station numbers are never reused."""

    __tablename__ = "station_counter"

    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)

    def __repr__(self):
        return f"<StationCounter {self.region_code} {self.last}>"
