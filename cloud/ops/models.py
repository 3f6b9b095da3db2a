"""The fingerprint of each node's secret key, for ``flask doctor``."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class NodeFingerprint(db.Model):
    """One process group's (a host and instance folder's) secret-key fingerprint, last seen when."""

    node: Mapped[str] = mapped_column(String(300), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<NodeFingerprint {self.node} {self.fingerprint[:8]}>"
