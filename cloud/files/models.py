"""Every object the service has put in storage, with the size and SHA-256 it must still have."""

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class StoredFile(db.Model):
    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # Indexed: an upload is compared with its institution's earlier files (duplicates).
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    # The uploader's own file name, Chinese and all; only ever sent back through filename*.
    original_name: Mapped[str] = mapped_column(String(255), default="")
    # The institution whose storage quota the object counts against (None: the service's own,
    # e.g. an institution's licence before it exists). use_alter: institution refers back here.
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id", use_alter=True), index=True
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Set by `flask storage verify` (or a download that found the object gone) when the object is
    # missing or its bytes changed; such a file is never handed out, and its resource cannot be
    # approved until it is uploaded again. ``damage`` says which: "missing" or "changed".
    damaged_at: Mapped[object | None] = mapped_column(UTCDateTime)
    damage: Mapped[str | None] = mapped_column(String(16))

    @property
    def is_damaged(self):
        return self.damaged_at is not None

    def __repr__(self):
        return f"<StoredFile {self.id} {self.key}>"
