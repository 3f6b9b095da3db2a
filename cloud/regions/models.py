"""Administrative divisions: province (2-digit code), city (4), county (6), township (9)."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.extensions import db

LEVELS = {1: "省", 2: "市", 3: "县", 4: "乡"}


class Region(db.Model):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[int]
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)

    def __repr__(self):
        return f"<Region {self.code} {self.name}>"
