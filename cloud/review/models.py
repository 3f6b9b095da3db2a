"""Expert review decisions (专家审核)."""

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class ReviewDecision(db.Model):
    __tablename__ = "review_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # "approved" or "rejected"
    reason: Mapped[str] = mapped_column(Text, default="")
    field_notes: Mapped[dict] = mapped_column(JSON, default=dict)  # {"title": "…", "summary": "…"}
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    resource = relationship("Resource")
    reviewer = relationship("User")

    def __repr__(self):
        return f"<ReviewDecision {self.resource_id} {self.decision} by {self.reviewer_id}>"
