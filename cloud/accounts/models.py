"""Users, their roles, login sessions (web and API), captchas and SMS codes."""

import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class Role(enum.StrEnum):
    STATION = "station"
    INFORMANT = "informant"
    INSTITUTION = "institution"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    STATION_MANAGER = "station_manager"
    STAFF = "staff"

    @property
    def label(self):
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.STATION: "科普中国e站",
    Role.INFORMANT: "科普中国信息员",
    Role.INSTITUTION: "机构用户",
    Role.REVIEWER: "审核专家",
    Role.ADMIN: "管理员",
    Role.STATION_MANAGER: "e站管理员",
    Role.STAFF: "科协工作人员",
}


class InformantType(enum.StrEnum):
    """The level an informant account belongs to in the 科普中国 APP."""

    CAST = "中国科协"
    PROVINCE = "省级"
    CITY = "市级"
    COUNTY = "区县级"
    TOWNSHIP = "乡镇街道"
    PERSONAL = "个人用户"


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    informant_type: Mapped[str | None] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    is_institution_manager: Mapped[bool] = mapped_column(default=False)
    # The e站 whose people this account belongs to: its manager, its own logins, its 信息员.
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("station.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime)

    role_rows: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    region = relationship("Region", lazy="joined")
    institution = relationship(
        "Institution", back_populates="members", lazy="joined", foreign_keys=[institution_id]
    )
    station = relationship("Station", foreign_keys=[station_id])
    staff_assignment = relationship(
        "StaffAssignment",
        uselist=False,
        lazy="selectin",
        foreign_keys="StaffAssignment.user_id",
        back_populates="user",
    )

    @property
    def roles(self):
        return {Role(row.role) for row in self.role_rows}

    def has_role(self, *roles):
        return bool(self.roles.intersection(roles))

    @property
    def can_upload(self):
        """Only members of a verified institution upload resources."""
        return (
            self.is_active
            and self.has_role(Role.INSTITUTION)
            and self.institution is not None
            and self.institution.is_verified
        )

    @property
    def display_name(self):
        return self.name or self.username or mask_phone(self.phone) or f"用户{self.id}"

    @property
    def role_labels(self):
        return "、".join(Role(r).label for r in sorted(self.roles))

    def get_id(self):
        # Flask-Login keeps this in the session cookie; it is the login session, not the user,
        # so a logout or password change can end it on the server.
        raise RuntimeError("log users in through cloud.accounts.sessions, never by user id")

    def __repr__(self):
        return f"<User {self.id} {self.username or self.phone}>"


class UserRole(db.Model):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")

    def __repr__(self):
        return f"<UserRole {self.user_id} {self.role}>"


class AuthSession(db.Model):
    """A login: a browser session or an API bearer token. Only the token's SHA-256 is stored."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self):
        return f"<AuthSession {self.id} {self.kind} user={self.user_id}>"


class Captcha(db.Model):
    """An image captcha challenge; the answer never leaves the server."""

    __tablename__ = "captcha"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    answer: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Drawn once: a second drawing of the same answer would hand an OCR attacker a new sample.
    rendered_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # The spoken alternative (语音验证码) is also given once, for the same reason.
    audio_rendered_at: Mapped[object | None] = mapped_column(UTCDateTime)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<Captcha {self.id}>"


class SmsMessage(db.Model):
    """Every SMS asked for (codes and notices), so limits can be counted in the shared database.

    A request that sends nothing (a password reset for a phone without an account) is recorded
    too, with ``is_sent`` false: it must meet the same cool-down and caps as one that sends, or
    the limits would tell which phones have accounts.
    """

    __tablename__ = "sms_message"
    __table_args__ = (
        Index("ix_sms_message_phone_created", "phone", "created_at"),
        Index("ix_sms_message_ip_created", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str | None] = mapped_column(String(64))  # None for notices without a code
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)
    is_sent: Mapped[bool] = mapped_column(default=True)

    def __repr__(self):
        return f"<SmsMessage {self.id} {mask_phone(self.phone)} {self.purpose}>"


class RateLimitHit(db.Model):
    """One counted event (a login attempt, a captcha drawn) against one limit's bucket.

    Counted in the shared database so a limit holds across every web process; ``key`` is a keyed
    hash of what is limited (an IP address, a login name), never the value itself.
    """

    __tablename__ = "rate_limit_hit"
    __table_args__ = (Index("ix_rate_limit_hit_bucket_key_created", "bucket", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime, index=True)

    def __repr__(self):
        return f"<RateLimitHit {self.id} {self.bucket}>"


def mask_phone(phone):
    if not phone:
        return None
    return f"{phone[:3]}****{phone[-4:]}"
