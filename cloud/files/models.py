"""Every object the service has put in storage, with the size and SHA-256 it must still have."""

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


class StoredFile(db.Model):
    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    # The uploader's own file name, Chinese and all; only ever sent back through filename*.
    original_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Set by `flask storage verify` when the object is missing or its bytes changed; such a
    # file's resource cannot be approved until it is uploaded again.
    damaged_at: Mapped[object | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<StoredFile {self.id} {self.key}>"
