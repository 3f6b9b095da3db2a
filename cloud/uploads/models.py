"""A resumable (tus) upload in progress: how far it got and where its bytes are so far."""

import json
import secrets

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.extensions import db
from cloud.models_base import UTCDateTime, utcnow


def new_upload_id():
    return secrets.token_hex(16)


class Upload(db.Model):
    """One tus upload. Its bytes live in storage, never on a web node, so any node can continue it.

    Bytes ``[0, offset)`` are stored as the multipart parts listed in ``parts`` (each exactly
    ``PART_SIZE`` bytes) followed by the object ``tail_key`` of ``tail_size`` bytes.
    """

    __tablename__ = "upload"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_upload_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    # The uploader's own name, Chinese and all: metadata only, never part of a storage key.
    filename: Mapped[str] = mapped_column(String(255), default="")
    # The client's claim (Upload-Metadata filetype); the media pipeline decides from the content.
    declared_type: Mapped[str] = mapped_column(String(100), default="")
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # S3 upload ids are opaque and can be long; started with the first full part.
    multipart_id: Mapped[str | None] = mapped_column(String(1024))
    parts: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [[part number, token], ...]
    tail_key: Mapped[str | None] = mapped_column(String(255))
    tail_size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)
    completed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    stored_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    user = relationship("User")
    stored_file = relationship("StoredFile")

    @property
    def part_list(self):
        """The stored parts as ``[(number, token), ...]``."""
        return [(int(number), str(token)) for number, token in json.loads(self.parts or "[]")]

    @property
    def is_complete(self):
        return self.completed_at is not None

    def __repr__(self):
        return f"<Upload {self.id} {self.offset}/{self.length}>"
