"""Institutions (机构) and their verification (机构认证)."""

import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class VerificationStatus(enum.StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"

    @property
    def label(self):
        return {"unverified": "未认证", "pending": "审核中", "verified": "已认证", "rejected": "未通过"}[self]


INSTITUTION_TYPES = ("科协", "学会", "高校", "科研院所", "医院", "学校", "企业", "媒体", "社会组织", "其他")


class Institution(db.Model):
    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="其他")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(16), default=VerificationStatus.UNVERIFIED)
    # The business licence or authorisation letter: stored privately, shown to admins only.
    licence_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", use_alter=True))
    reject_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[object | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[object | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", use_alter=True))

    members = relationship("User", back_populates="institution", foreign_keys="User.institution_id")
    licence_file = relationship("StoredFile", foreign_keys=[licence_file_id])
    applicant = relationship("User", foreign_keys=[applicant_id])

    @property
    def is_verified(self):
        return self.status == VerificationStatus.VERIFIED

    def __repr__(self):
        return f"<Institution {self.id} {self.name} {self.status}>"


class InstitutionInvite(db.Model):
    """A link a manager hands colleagues to join the institution (机构邀请).

    Only the token's SHA-256 is stored: the link is shown once, when it is made. It works until
    ``expires_at`` (``KEPU_INVITE_DAYS`` after it was made) or until a manager revokes it.
    """

    __tablename__ = "institution_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    institution = relationship("Institution", lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id])

    def is_live(self, now=None):
        return self.revoked_at is None and self.expires_at > (now or utcnow())

    def __repr__(self):
        return f"<InstitutionInvite {self.id} institution={self.institution_id}>"
