"""Each institution's storage quota (``KEPU_INSTITUTION_QUOTA_BYTES``).

What an institution uses: every stored file counted against it (its resources' sources and
renditions, finished uploads not yet used, article pictures) plus the declared length of its
members' unfinished uploads, which are reserved from the moment they are created so that several
4 GiB uploads started at once cannot together overrun the quota. Renditions made by processing
count too, but never stop processing: the quota is checked when an upload is created and when
its bytes arrive.
"""

from flask import current_app
from sqlalchemy import func, select

from cloud.accounts.models import User
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.uploads.models import Upload


class QuotaExceeded(DomainError):
    status = 413
    code = "quota_exceeded"
    message = "机构存储空间已用完，请联系管理员"


def quota_bytes():
    """The quota of every institution, in bytes; 0 means none."""
    return current_app.config["KEPU_INSTITUTION_QUOTA_BYTES"]


def stored_bytes(institution_id):
    """Bytes of the stored files counted against the institution.

    ``int()``: PostgreSQL sums a BIGINT column as NUMERIC, which would reach the JSON as a string.
    """
    total = func.coalesce(func.sum(StoredFile.size), 0)
    return int(db.session.scalar(select(total).where(StoredFile.institution_id == institution_id)))


def _unfinished(institution_id):
    """(created_at, id, length) of the institution's members' unfinished uploads."""
    return db.session.execute(
        select(Upload.created_at, Upload.id, Upload.length)
        .join(User, Upload.user_id == User.id)
        .where(User.institution_id == institution_id, Upload.completed_at.is_(None))
    ).all()


def used_bytes(institution_id):
    """What the institution uses: its stored files and the reservations of unfinished uploads."""
    return stored_bytes(institution_id) + sum(row.length for row in _unfinished(institution_id))


def check_new(institution_id, length):
    """Refuse an upload of ``length`` bytes that does not fit. Raises QuotaExceeded."""
    _check(used_bytes(institution_id), length)


def check_upload(upload, institution_id):
    """Before bytes of ``upload`` are stored: does it still fit? Raises QuotaExceeded.

    Only uploads created before it are counted ahead of it, so when uploads created at the same
    moment overrun the quota the earliest goes on and the later ones are refused.
    """
    ahead = sum(
        row.length
        for row in _unfinished(institution_id)
        if row.id != upload.id and (row.created_at, row.id) < (upload.created_at, upload.id)
    )
    _check(stored_bytes(institution_id) + ahead, upload.length)


def check_stored(institution_id, stored_file):
    """After a file sent in one form POST is stored (and flushed): is the institution over its
    quota now? Raises QuotaExceeded; the caller removes the object."""
    _check(used_bytes(institution_id) - stored_file.size, stored_file.size)


def _check(used, adding):
    quota = quota_bytes()
    if not quota or used + adding <= quota:
        return
    left = max(quota - used, 0)
    raise QuotaExceeded(
        f"机构存储空间已用完：已用 {human_size(used)}，上限 {human_size(quota)}，剩余 {human_size(left)}，"
        f"不够存放本次上传的 {human_size(adding)}。请联系管理员扩大存储空间。",
        details={"used": used, "quota": quota, "available": left, "requested": adding},
    )


def human_size(size):
    """``size`` bytes as people read it: 1.5 GB, 20 MB, 512 KB, 10 字节."""
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{size} 字节"
